/* realistic.c: a processor's large ruleset, and requests from its world.
 *
 * Real large rulesets are not random: a processor serving hundreds of
 * issuers has per-BIN-range rules, allow- and deny-lists of token
 * requestors, country risk rules and per-product or per-segment rules,
 * where almost every rule is ruled out by one equality, set membership or
 * prefix on one field. The world of N rules:
 *
 *   - N / 25 issuers (at least one), each with 1-3 BIN ranges (6-digit
 *     prefixes of card.bin, or whole 8-digit BINs), 2-4 token requestors
 *     of its own and 1-3 card products;
 *   - a pool of N / 20 token requestor ids (at least 8);
 *   - N / 10 deny-list rules on token_requestor.id alone (2-4 ids);
 *   - up to 24 country rules on wallet.device_country alone;
 *   - every other rule belongs to an issuer: it names one of its BIN ranges
 *     (starts_with, ==, in) or all of them (an `or`), then maybe a token
 *     requestor allow- or deny-list, a country test, a product or a
 *     segment, then 1-3 conditions on scores, capture method, reason
 *     codes, tokens...
 *
 * A request picks an issuer, one of its BIN ranges (its card number starts
 * with it), mostly one of the issuer's token requestors, a device country
 * (mostly US) and one of the issuer's products: it meets the issuer's
 * rules of that range, some list rules, and fires a few. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_RANGES 3
#define MAX_TRS 4
#define MAX_PRODUCTS 3

typedef struct issuer {
	char range[MAX_RANGES][9];    /* 6 or 8 digits */
	unsigned nranges;
	unsigned tr[MAX_TRS], ntr;    /* indices into the pool */
	unsigned product[MAX_PRODUCTS], nproducts;
} issuer;

struct world {
	unsigned nrules, nissuers, ntr;
	uint64_t seed;
	issuer *iss;
};

static const char *const w_countries[] = {
	"US", "GB", "FR", "DE", "CA", "ES", "IT", "NL", "BR", "JP",
	"MX", "IN", "CN", "RU", "NG", "AE", "TR", "PH", "VN", "ID",
};
#define N_COUNTRIES 20
static const char *const w_products[] = { "MCW", "MCS", "MPL", "VSP", "VSC", "VGD", "DEB", "BIZ" };
#define N_PRODUCTS 8
static const char *const w_segments[] = { "RETAIL", "PREMIUM", "PRIVATE", "SMALL_BUSINESS", "CORPORATE", "STUDENT" };
#define N_SEGMENTS 6

/* Token requestor i's id: 11 digits, distinct for distinct i (multiplying
 * by a number prime to 10 permutes the residues mod 10^10). */
static void tr_id(unsigned i, char out[12])
{
	unsigned long long v = ((unsigned long long)i * 2654435761ull) % 10000000000ull;
	snprintf(out, 12, "5%010llu", v);
}

world *world_new(unsigned nrules, uint64_t seed)
{
	world *w = xmalloc(sizeof(*w));
	rng g;

	rng_seed(&g, seed ^ 0x3eed5eedull ^ (uint64_t)nrules * 0x9e3779b97f4a7c15ull);
	w->nrules = nrules;
	w->seed = seed;
	w->nissuers = nrules / 25 ? nrules / 25 : 1;
	w->ntr = nrules / 20 > 8 ? nrules / 20 : 8;
	w->iss = xmalloc(w->nissuers * sizeof(*w->iss));
	for (unsigned i = 0; i < w->nissuers; i++) {
		issuer *is = &w->iss[i];
		is->nranges = 1 + rnd(&g, MAX_RANGES);
		for (unsigned k = 0; k < is->nranges; k++) {
			/* A 6-digit prefix of its own: 13 is prime to 160,000, so
			 * ranges of different issuers never share one. */
			unsigned p6 = 400000 + (unsigned)(((unsigned long long)(i * MAX_RANGES + k) * 13) % 160000);
			if (chance(&g, 40))
				snprintf(is->range[k], sizeof(is->range[k]), "%06u", p6);
			else
				snprintf(is->range[k], sizeof(is->range[k]), "%06u%02u", p6, rnd(&g, 100));
		}
		is->ntr = 2 + rnd(&g, MAX_TRS - 1);
		for (unsigned k = 0; k < is->ntr; k++)
			is->tr[k] = rnd(&g, w->ntr);
		is->nproducts = 1 + rnd(&g, MAX_PRODUCTS);
		for (unsigned k = 0; k < is->nproducts; k++)
			is->product[k] = rnd(&g, N_PRODUCTS);
	}
	return w;
}

void world_free(world *w)
{
	if (w) {
		free(w->iss);
		free(w);
	}
}

/* One of the issuer's BIN ranges as a test of card.bin. */
static void bin_test(rng *g, sbuf *b, const char *r)
{
	if (strlen(r) == 6 || chance(g, 25))
		sb_printf(b, "starts_with(card.bin, \"%s\")", r);
	else
		sb_printf(b, "card.bin == \"%s\"", r);
}

/* The rule's scope in the issuer: one range (an `in` when the issuer has
 * several whole BINs), or all its ranges. */
static void scope(rng *g, sbuf *b, const issuer *is)
{
	if (is->nranges > 1 && chance(g, 20)) {
		unsigned eight = 0;
		for (unsigned k = 0; k < is->nranges; k++)
			eight += strlen(is->range[k]) == 8;
		if (eight == is->nranges) {
			sb_cat(b, "card.bin in {");
			for (unsigned k = 0; k < is->nranges; k++)
				sb_printf(b, "%s\"%s\"", k ? ", " : "", is->range[k]);
			sb_cat(b, "}");
		} else {
			sb_cat(b, "(");
			for (unsigned k = 0; k < is->nranges; k++) {
				sb_cat(b, k ? " or " : "");
				bin_test(g, b, is->range[k]);
			}
			sb_cat(b, ")");
		}
		return;
	}
	bin_test(g, b, is->range[rnd(g, is->nranges)]);
}

/* n token requestors: the issuer's first ones, or distinct ones of the
 * pool (n is at most 4, the pool at least 8). */
static void tr_list(rng *g, sbuf *b, const world *w, const issuer *is, unsigned n)
{
	char id[12];
	unsigned pick[MAX_TRS + 1];
	sb_cat(b, "{");
	for (unsigned k = 0; k < n; k++) {
		int dup;
		do {
			pick[k] = is ? is->tr[k % is->ntr] : rnd(g, w->ntr);
			dup = 0;
			for (unsigned j = 0; !is && j < k; j++)
				dup |= pick[j] == pick[k];
		} while (dup);
		tr_id(pick[k], id);
		sb_printf(b, "%s\"%s\"", k ? ", " : "", id);
	}
	sb_cat(b, "}");
}

static void country_set(rng *g, sbuf *b, unsigned n)
{
	unsigned used = 1;  /* never US: most devices are there */
	sb_cat(b, "{");
	for (unsigned k = 0; k < n; k++) {
		unsigned c;
		do
			c = rnd(g, N_COUNTRIES);
		while (used >> c & 1);
		used |= 1u << c;
		sb_printf(b, "%s\"%s\"", k ? ", " : "", w_countries[c]);
	}
	sb_cat(b, "}");
}

/* The issuer-level second test: token requestors, country, product,
 * segment, or none. */
static void second(rng *g, sbuf *b, const world *w, const issuer *is)
{
	static const unsigned wt[] = { 30, 20, 20, 10, 20 };
	char id[12];
	switch (PICK(g, wt)) {
	case 0:
		if (chance(g, 30)) {  /* an allow-list */
			sb_cat(b, "\n   and token_requestor.id not in ");
			tr_list(g, b, w, is, is->ntr);
		} else if (chance(g, 50)) {
			tr_id(is->tr[rnd(g, is->ntr)], id);
			sb_printf(b, "\n   and token_requestor.id == \"%s\"", id);
		} else {
			sb_cat(b, "\n   and token_requestor.id in ");
			tr_list(g, b, w, is, 2);
		}
		break;
	case 1:
		if (chance(g, 50)) {
			sb_cat(b, "\n   and wallet.device_country in ");
			country_set(g, b, 2 + rnd(g, 3));
		} else {
			sb_cat(b, "\n   and wallet.device_country != \"US\"");
		}
		break;
	case 2:
		if (is->nproducts > 1 && chance(g, 50))
			sb_printf(b, "\n   and card.product in {\"%s\", \"%s\"}", w_products[is->product[0]],
			          w_products[is->product[1]]);
		else
			sb_printf(b, "\n   and card.product == \"%s\"", w_products[is->product[rnd(g, is->nproducts)]]);
		break;
	case 3:
		sb_printf(b, "\n   and customer.segment %s %s", chance(g, 70) ? "==" : "!=", w_segments[rnd(g, N_SEGMENTS)]);
		break;
	default:
		break;
	}
}

/* 1-3 conditions on scores, capture method and the like, distinct. */
static void extras(rng *g, sbuf *b, unsigned n)
{
	unsigned used = 0;
	for (unsigned k = 0; k < n; k++) {
		unsigned x;
		do
			x = rnd(g, 10);
		while (used >> x & 1);
		used |= 1u << x;
		sb_cat(b, "\n   and ");
		switch (x) {
		case 0: sb_printf(b, "wallet.device_score <= %u", 2 + rnd(g, 2)); break;
		case 1: sb_printf(b, "wallet.account_score <= %u", 2 + rnd(g, 2)); break;
		case 2: sb_cat(b, "wallet.phone_score < 3"); break;
		case 3: sb_cat(b, chance(g, 70) ? "card.capture_method in {MANUAL, CAMERA}" : "card.capture_method == ON_FILE"); break;
		case 4: sb_cat(b, "(wallet.device_score <= 2 or wallet.account_score <= 2)"); break;
		case 5: sb_cat(b, "wallet.recommended_decision != APPROVED"); break;
		case 6: sb_printf(b, "card.active_tokens >= %u", 3 + rnd(g, 6)); break;
		case 7: sb_cat(b, "wallet.reason_codes has any of {ACCOUNT_TOO_NEW, SUSPICIOUS_ACTIVITY, DEVICE_RECENTLY_LOST}"); break;
		case 8: sb_cat(b, "not end_user.app_enrolled"); break;
		default: sb_cat(b, "card.csc_result != MATCH"); break;
		}
	}
}

void world_rules(const world *w, sbuf *b)
{
	rng g;
	unsigned ntr_rules = w->nrules / 10, ncountry = w->nrules / 20 < 24 ? w->nrules / 20 : 24;

	rng_seed(&g, w->seed ^ 0x5eed0fa11ull ^ w->nrules);
	sb_printf(b, "# Generated by bench_decide (realistic): %u rules over %u issuers, seed %llu.\n",
	          w->nrules, w->nissuers, (unsigned long long)w->seed);
	sb_printf(b, "ruleset \"realistic-%u\"\n\n", w->nrules);
	sb_cat(b, "field card.product \"The card's product code at the issuer\" string\n"
	          "field customer.segment \"The customer's segment at the issuer\"\n"
	          "  enum {RETAIL, PREMIUM, PRIVATE, SMALL_BUSINESS, CORPORATE, STUDENT}\n\n"
	          "method IN_APP           when end_user.app_enrolled\n"
	          "method OTP_SMS          when end_user.phone is present and not end_user.otp_exhausted\n"
	          "method OTP_EMAIL        when end_user.email is present and not end_user.otp_exhausted\n"
	          "method CUSTOMER_SERVICE always\n\n");
	for (unsigned i = 0; i < w->nrules; i++) {
		sb_printf(b, "rule w%06u", i);
		if (i < ncountry) {
			sb_cat(b, " \"Country risk\"\n  when wallet.device_country in ");
			country_set(&g, b, 1 + rnd(&g, 3));
			extras(&g, b, 1 + rnd(&g, 2));
		} else if (i < ncountry + ntr_rules) {
			sb_cat(b, " \"Token requestor deny-list\"\n  when token_requestor.id in ");
			tr_list(&g, b, w, NULL, 2 + rnd(&g, 3));
			extras(&g, b, 1 + rnd(&g, 2));
		} else {
			unsigned k = i % w->nissuers;
			sb_printf(b, " \"Issuer %u\"\n  when ", k);
			scope(&g, b, &w->iss[k]);
			second(&g, b, w, &w->iss[k]);
			extras(&g, b, 1 + rnd(&g, 3));
		}
		static const unsigned out_w[] = { 15, 10, 45, 22, 8 };
		gen_outcome(&g, b, out_w);
	}
	sb_cat(b, "on channel ECOM_MERCHANT step_up becomes approve\n");
}

void world_request(const world *w, rng *g, sbuf *out, plain *q)
{
	const issuer *is = &w->iss[rnd(g, w->nissuers)];
	char tr[12];
	gen_over ov = { 0 };

	ov.bin = is->range[rnd(g, is->nranges)];
	tr_id(chance(g, 60) ? is->tr[rnd(g, is->ntr)] : rnd(g, w->ntr), tr);
	ov.tr = tr;
	ov.country = chance(g, 75) ? "US" : w_countries[rnd(g, N_COUNTRIES)];
	ov.product = w_products[is->product[rnd(g, is->nproducts)]];
	ov.segment = w_segments[rnd(g, N_SEGMENTS)];
	gen_request(g, out, q, &ov);
}
