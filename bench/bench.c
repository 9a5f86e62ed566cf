/* bench_decide: single-thread decision throughput of libstepup.
 *
 * Generates N varied requests (DESIGN.md §3) from a seed and measures, in
 * one run and on one thread:
 *   - the default ruleset (a) on pre-parsed requests (stepup_decide) and
 *     (b) JSON text in to JSON text out (stepup_decide_json);
 *   - the same for generated rulesets of 10, 100, 1,000 and 10,000 rules;
 *   - two baselines: the default policy hand-written in C over a plain
 *     struct (checked to agree with the engine on every request), and
 *     jansson alone parsing each request and dumping a response of the
 *     same size.
 * Targets: (a) within 5x of the C baseline; (b) at least 4x faster than
 * the jansson baseline. Only the public API (stepup.h) is used.
 *
 * See bench/README.md. */
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <stepup/stepup.h>

#include "bench.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* ---- small utilities -------------------------------------------------- */

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench_decide: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

void sb_reserve(sbuf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s)
		die("out of memory");
	b->s = s;
	b->cap = cap;
}

void sb_put(sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_cat(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vsnprintf failed");
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- deterministic PRNG (splitmix64 seeding xoshiro256**) ----------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(rng *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(rng *g)
{
	uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Uniform in [0, n). */
unsigned rnd(rng *g, unsigned n)
{
	return (unsigned)(((rng_next(g) >> 32) * (uint64_t)n) >> 32);
}

/* True with probability pct/100. */
int chance(rng *g, double pct)
{
	return (double)(rng_next(g) >> 11) * (1.0 / 9007199254740992.0) * 100.0 < pct;
}

/* Pick an index from a table of weights. */
int pick(rng *g, const unsigned *w, int n)
{
	unsigned tot = 0;
	for (int i = 0; i < n; i++)
		tot += w[i];
	unsigned x = rnd(g, tot);
	for (int i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

void rnd_digits(rng *g, char *out, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = (char)('0' + rnd(g, 10));
	out[n] = '\0';
}

/* ---- the request schema, as the benchmark sees it ------------------- */

enum { CH_WALLET, CH_MERCHANT };
enum { ST_ACTIVE, ST_INACTIVE, ST_SUSPENDED, ST_CLOSED };
enum { CAP_BANK_APP, CAP_ON_FILE, CAP_CAMERA, CAP_MANUAL, CAP_UNKNOWN };
enum { CSC_MATCH, CSC_INVALID, CSC_ABSENT, CSC_NOT_PROCESSED };
enum { REC_APPROVED, REC_RAA, REC_DECLINED };

static const char *const tsp_names[] = { "MDES", "VTS", "AMEX" };
static const char *const channel_names[] = { "XPAY_WALLET", "ECOM_MERCHANT" };
static const char *const state_names[] = { "ACTIVE", "INACTIVE", "SUSPENDED", "CLOSED" };
static const char *const capture_names[] = { "BANK_APP", "ON_FILE", "CAMERA", "MANUAL", "UNKNOWN" };
static const char *const csc_names[] = { "MATCH", "INVALID", "ABSENT", "NOT_PROCESSED" };
static const char *const rec_names[] = { "APPROVED", "REQUIRE_ADDITIONAL_AUTHENTICATION", "DECLINED" };
static const char *const tr_names[] = { "APPLE_PAY", "GOOGLE_PAY", "SAMSUNG_PAY", "FITBIT_PAY", "MERCHANT_COF" };
static const char *const languages[] = { "en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "fr-CA" };
static const char *const countries[] = { "US", "GB", "FR", "DE", "CA", "ES", "IT", "NL", "BR", "JP" };
static const char *const email_domains[] = { "example.com", "mail.example.org", "inbox.example.net", "corp.example.co.uk" };
static const char *const first_names[] = { "jane", "john", "maria", "li", "ahmed", "olga", "pierre", "sofia", "kenji", "ana" };
static const char *const last_names[] = { "doe", "smith", "garcia", "wang", "khan", "ivanova", "martin", "rossi", "tanaka", "silva" };

/* Known reason codes, in engine/reasons.def order (bit = index). */
static const char *const reason_names[] = {
	"ACCOUNT_TOO_NEW", "ACCOUNT_TOO_NEW_SINCE_LAUNCH", "ACCOUNT_CARD_TOO_NEW",
	"ACCOUNT_RECENTLY_CHANGED", "SUSPICIOUS_ACTIVITY", "INACTIVE_ACCOUNT",
	"HAS_SUSPENDED_TOKENS", "DEVICE_RECENTLY_LOST", "TOO_MANY_RECENT_ATTEMPTS",
	"TOO_MANY_RECENT_TOKENS", "TOO_MANY_DIFFERENT_CARDHOLDERS", "LOW_DEVICE_SCORE",
	"LOW_ACCOUNT_SCORE", "LOW_PHONE_NUMBER_SCORE", "OUTSIDE_HOME_TERRITORY",
	"UNABLE_TO_ASSESS", "HIGH_RISK",
};
#define N_REASONS 17
#define R_HIGH_RISK 16
/* Codes a network may add: the first ones are named (quoted) by the
 * generated rulesets, the rest by nothing. */
static const char *const new_codes[] = {
	"DEVICE_BOUND_ELSEWHERE", "NEW_CODE_1", "NEW_CODE_2", "NEW_CODE_3",
	"WALLET_VENDOR_FLAG_42", "TOKEN_REQUESTOR_HINT", "PROVISIONING_RETRY",
};
#define N_NEW_CODES_IN_RULES 4

#define SCORE_W { 3, 5, 12, 35, 45 }  /* 1..5, skewed to 4-5 */

static int gen_score(rng *g, double present_pct)
{
	static const unsigned w[] = SCORE_W;
	return chance(g, present_pct) ? 1 + PICK(g, w) : 0;
}

static int gen_tri(rng *g, double true_pct, double false_pct)
{
	unsigned x = rnd(g, 10000);
	if (x < (unsigned)(true_pct * 100))
		return 1;
	if (x < (unsigned)((true_pct + false_pct) * 100))
		return 0;
	return -1;
}

void luhn_complete(char *pan, int n)
{
	/* pan[0..n-2] are digits; set pan[n-1] to the check digit. */
	unsigned sum = 0;
	for (int k = 0; k < n - 1; k++) {
		unsigned d = (unsigned)(pan[n - 2 - k] - '0');
		if ((k & 1) == 0) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	pan[n - 1] = (char)('0' + (10 - sum % 10) % 10);
	pan[n] = '\0';
}

#define KV_STR(b, first, k, v) sb_printf((b), "%s\"%s\": \"%s\"", (first) ? "" : ", ", (k), (v))
#define KV_RAW(b, first, k, v) sb_printf((b), "%s\"%s\": %s", (first) ? "" : ", ", (k), (v))
#define KV_INT(b, first, k, v) sb_printf((b), "%s\"%s\": %d", (first) ? "" : ", ", (k), (int)(v))

void gen_request(rng *g, sbuf *out, plain *q, const gen_over *ov)
{
	char buf[64], dig[16], pan[24], phone[24], phone_text[48];
	int first;

	memset(q, 0, sizeof(*q));
	q->channel = q->state = q->capture = q->csc = q->recommended = -1;
	q->app_enrolled = q->otp_exhausted = q->device_suspicious = -1;
	q->active_tokens = q->csc_failures = -1;

	uint64_t a = rng_next(g), b2 = rng_next(g);
	sb_printf(out, "{\"request_id\": \"%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64 "-%012" PRIx64 "\"",
	          a >> 32, (a >> 16) & 0xffff, a & 0xfff, ((b2 >> 48) & 0x3fff) | 0x8000, b2 & UINT64_C(0xffffffffffff));

	if (chance(g, 75))  /* not in the schema: ignored */
		sb_printf(out, ", \"received_at\": \"2025-%02u-%02uT%02u:%02u:%02u.%03uZ\"", 1 + rnd(g, 12), 1 + rnd(g, 28),
		          rnd(g, 24), rnd(g, 60), rnd(g, 60), rnd(g, 1000));
	static const unsigned tsp_w[] = { 50, 40, 10 };
	sb_printf(out, ", \"tsp\": \"%s\"", tsp_names[PICK(g, tsp_w)]);

	static const unsigned ch_w[] = { 900, 80, 20 };  /* wallet, merchant, absent */
	int ch = PICK(g, ch_w);
	if (ch < 2) {
		q->channel = (int8_t)ch;
		sb_printf(out, ", \"channel\": \"%s\"", channel_names[ch]);
	}

	static const unsigned trn_w[] = { 45, 35, 12, 3, 5 };
	int trn = ch == CH_MERCHANT ? 4 : PICK(g, trn_w);
	rnd_digits(g, buf, 5);
	unsigned trk = rnd(g, 1000);
	if (ov && ov->tr)
		sb_printf(out, ", \"token_requestor\": {\"id\": \"%s\", \"name\": \"%s\"}", ov->tr, tr_names[trn]);
	else
		sb_printf(out, ", \"token_requestor\": {\"id\": \"501%s%03u\", \"name\": \"%s\"}", buf, trk, tr_names[trn]);

	/* card */
	if (chance(g, 98.5)) {
		sb_cat(out, ", \"card\": {");
		first = 1;
		static const char *const bins[] = { "541275", "520082", "411111", "453201", "371449" };
		int bin = (int)rnd(g, 5);
		int plen = bin == 4 ? 15 : 16;
		memcpy(pan, bins[bin], 6);
		rnd_digits(g, pan + 6, plen - 7);
		if (ov && ov->bin) {  /* a card of that BIN range */
			size_t k = strlen(ov->bin);
			plen = 16;
			memcpy(pan, ov->bin, k);
			rnd_digits(g, pan + k, plen - 1 - (int)k);
		}
		luhn_complete(pan, plen);
		if (ov && ov->product) {
			KV_STR(out, first, "product", ov->product);
			first = 0;
		}
		if (chance(g, 97)) {
			KV_STR(out, first, "pan", pan);
			first = 0;
		}
		if (chance(g, 80)) {
			KV_STR(out, first, "pan_suffix", pan + plen - 4);
			first = 0;
		}
		static const unsigned st_w[] = { 9200, 300, 250, 150, 100 };  /* last = absent */
		int st = PICK(g, st_w);
		if (st < 4) {
			q->state = (int8_t)st;
			KV_STR(out, first, "state", state_names[st]);
			first = 0;
		}
		static const unsigned cap_w[] = { 25, 20, 25, 22, 5, 3 };
		int cap = PICK(g, cap_w);
		if (cap < 5) {
			q->capture = (int8_t)cap;
			KV_STR(out, first, "capture_method", capture_names[cap]);
			first = 0;
		}
		int csc;
		if (cap == CAP_MANUAL || cap == CAP_CAMERA) {
			static const unsigned w[] = { 800, 40, 100, 30, 30 };
			csc = PICK(g, w);
		} else {
			static const unsigned w[] = { 200, 10, 40, 300, 450 };
			csc = PICK(g, w);
		}
		if (csc < 4) {
			q->csc = (int8_t)csc;
			KV_STR(out, first, "csc_result", csc_names[csc]);
			first = 0;
			if ((csc == CSC_MATCH || csc == CSC_INVALID) && chance(g, 20)) {
				rnd_digits(g, buf, bin == 4 ? 4 : 3);
				KV_STR(out, first, "csc", buf);
			}
		}
		if (chance(g, 96)) {
			static const unsigned w[] = { 30, 30, 18, 10, 6, 4, 2 };
			int v = PICK(g, w);
			q->active_tokens = v < 6 ? v : 10 + (int)rnd(g, 8);
			KV_INT(out, first, "active_tokens", q->active_tokens);
			first = 0;
		}
		if (chance(g, 94)) {
			static const unsigned w[] = { 860, 80, 35, 15, 10 };
			q->csc_failures = PICK(g, w);
			KV_INT(out, first, "csc_failures_24h", q->csc_failures);
			first = 0;
		}
		if (chance(g, 8)) {  /* unknown fields: ignored */
			KV_INT(out, first, "expiry_month", 1 + rnd(g, 12));
			first = 0;
			KV_INT(out, 0, "expiry_year", 2026 + rnd(g, 6));
		}
		sb_cat(out, "}");
	}

	/* end_user */
	if (chance(g, 97)) {
		sb_cat(out, ", \"end_user\": {");
		first = 1;
		if (chance(g, 90)) {
			int uk = chance(g, 15);
			rnd_digits(g, dig, 10);
			snprintf(phone, sizeof(phone), "%s%s", uk ? "+44" : "+1", dig);
			if (chance(g, 12))
				snprintf(phone_text, sizeof(phone_text), "%s (%.3s) %.3s-%s", uk ? "+44" : "+1", dig, dig + 3, dig + 6);
			else
				snprintf(phone_text, sizeof(phone_text), "%s", phone);
			KV_STR(out, first, "phone", phone_text);
			first = 0;
			q->phone_len = (uint8_t)strlen(phone);
			memcpy(q->phone, phone, q->phone_len + 1);
		}
		if (chance(g, 75)) {
			q->has_email = 1;
			snprintf(buf, sizeof(buf), "%s.%s%u@%s", first_names[rnd(g, 10)], last_names[rnd(g, 10)], rnd(g, 100),
			         email_domains[rnd(g, 4)]);
			KV_STR(out, first, "email", buf);
			first = 0;
		}
		q->app_enrolled = (int8_t)gen_tri(g, 55, 40);
		if (q->app_enrolled >= 0) {
			KV_RAW(out, first, "app_enrolled", q->app_enrolled ? "true" : "false");
			first = 0;
		}
		if (chance(g, 85)) {
			KV_STR(out, first, "language", languages[rnd(g, 6)]);
			first = 0;
		}
		q->otp_exhausted = (int8_t)gen_tri(g, 5, 92);
		if (q->otp_exhausted >= 0) {
			KV_RAW(out, first, "otp_exhausted", q->otp_exhausted ? "true" : "false");
			first = 0;
		}
		sb_cat(out, "}");
	}

	/* wallet */
	if (chance(g, 97)) {
		sb_cat(out, ", \"wallet\": {");
		first = 1;
		if (chance(g, 82)) {
			/* Mostly the last 4 digits of the issuer's phone: a match. */
			if (q->phone_len >= 4 && chance(g, 88))
				memcpy(q->suffix, q->phone + q->phone_len - 4, 5);
			else
				rnd_digits(g, q->suffix, 4);
			q->suffix_len = 4;
			KV_STR(out, first, "phone_suffix", q->suffix);
			first = 0;
		}
		q->device_score = (int8_t)gen_score(g, 95);
		if (q->device_score) {
			KV_INT(out, first, "device_score", q->device_score);
			first = 0;
		}
		q->account_score = (int8_t)gen_score(g, 95);
		if (q->account_score) {
			KV_INT(out, first, "account_score", q->account_score);
			first = 0;
		}
		q->phone_score = (int8_t)gen_score(g, 85);
		if (q->phone_score) {
			KV_INT(out, first, "phone_score", q->phone_score);
			first = 0;
		}
		static const unsigned rec_w[] = { 850, 110, 20, 20 };
		int rec = PICK(g, rec_w);
		if (rec < 3) {
			q->recommended = (int8_t)rec;
			KV_STR(out, first, "recommended_decision", rec_names[rec]);
			first = 0;
		}
		if (chance(g, 85)) {
			static const unsigned cnt_w[] = { 62, 24, 10, 4 };
			int cnt = PICK(g, cnt_w);
			q->has_reasons = 1;
			sb_printf(out, "%s\"reason_codes\": [", first ? "" : ", ");
			first = 0;
			for (int k = 0; k < cnt; k++) {
				const char *code;
				if (chance(g, 30)) {
					code = new_codes[rnd(g, sizeof(new_codes) / sizeof(new_codes[0]))];
				} else {
					int r = chance(g, 6) ? R_HIGH_RISK : (int)rnd(g, N_REASONS - 1);
					q->reasons |= 1u << r;
					code = reason_names[r];
				}
				sb_printf(out, "%s\"%s\"", k ? ", " : "", code);
			}
			sb_cat(out, "]");
		}
		q->device_suspicious = (int8_t)gen_tri(g, 3, 93);
		if (q->device_suspicious >= 0) {
			KV_RAW(out, first, "device_suspicious", q->device_suspicious ? "true" : "false");
			first = 0;
		}
		if (chance(g, 80)) {  /* not in the schema: ignored */
			static const char *const types[] = { "PHONE", "WATCH", "TABLET", "WEARABLE" };
			KV_STR(out, first, "device_type", types[rnd(g, 4)]);
			first = 0;
		}
		if (chance(g, 90)) {
			const char *cty = chance(g, 70) ? "US" : countries[rnd(g, 10)];
			KV_STR(out, first, "device_country", ov && ov->country ? ov->country : cty);
			first = 0;
		}
		if (chance(g, 10)) {  /* unknown fields: ignored */
			rnd_digits(g, buf, 12);
			KV_STR(out, first, "device_id", buf);
			first = 0;
			KV_RAW(out, first, "risk_details", "{\"model\": \"v7\", \"signals\": [3, 14, 15], \"stale\": false}");
		}
		sb_cat(out, "}");
	}
	if (chance(g, 12)) {  /* unknown top-level field */
		rnd_digits(g, buf, 16);
		sb_printf(out, ", \"trace\": {\"span_id\": \"%s\", \"hops\": [\"tsp\", \"gw\"], \"sampled\": true}", buf);
	}
	if (ov && ov->segment)
		sb_printf(out, ", \"customer\": {\"segment\": \"%s\"}", ov->segment);
	sb_cat(out, "}");
}

/* ---- the default policy, hand-written ---------------------------------
 * rules/default.rules in C over `plain`, with the same absent semantics:
 * a test on an absent field never fires. Rule bits are in rule-file
 * order. Keep it in step with rules/default.rules: the run compares the
 * two on every request and reports any mismatch. */
static const char *const default_rule_names[] = {
	"card_unknown", "card_not_active", "csc_invalid", "csc_failures", "too_many_tokens",
	"wallet_declines", "wallet_score_high_risk", "phone_mismatch", "missing_csc",
	"wallet_requests_idv", "wallet_score_risky", "risky_reason", "suspicious_device",
};
#define N_DEFAULT_RULES 13
#define RED_RULES 0x7fu            /* the first seven decline */
#define SUSPICIOUS_RULE (1u << 12)  /* step_up only CUSTOMER_SERVICE line FRAUD */
#define RISKY_MASK ((1u << 16) - 1) /* RISKY_REASONS: every known code but HIGH_RISK */

typedef struct plain_cfg {
	int app_id;       /* issuer app configured */
	int cs[2];        /* customer-service number per line */
} plain_cfg;

typedef struct plain_decision {
	uint8_t outcome, nmethods, line;
	uint8_t methods[STEPUP_METHOD_COUNT];
	uint32_t fired;
} plain_decision;

__attribute__((noinline)) static void plain_decide(const plain_cfg *cfg, const plain *q, plain_decision *d)
{
	uint32_t fired = 0;

	if (q->state < 0)
		fired |= 1u << 0;
	else if (q->state != ST_ACTIVE)
		fired |= 1u << 1;
	if (q->csc == CSC_INVALID)
		fired |= 1u << 2;
	if (q->csc_failures >= 3)
		fired |= 1u << 3;
	if (q->active_tokens >= 10)
		fired |= 1u << 4;
	if (q->recommended == REC_DECLINED)
		fired |= 1u << 5;
	if (q->device_score == 1 || q->account_score == 1)
		fired |= 1u << 6;
	if (q->phone_len && q->suffix_len &&
	    (q->suffix_len > q->phone_len || memcmp(q->phone + q->phone_len - q->suffix_len, q->suffix, q->suffix_len) != 0))
		fired |= 1u << 7;
	if ((q->capture == CAP_MANUAL || q->capture == CAP_CAMERA) && (q->csc < 0 || q->csc == CSC_ABSENT))
		fired |= 1u << 8;
	if (q->recommended == REC_RAA)
		fired |= 1u << 9;
	if (q->device_score == 2 || q->account_score == 2 || (q->phone_score && q->phone_score <= 2))
		fired |= 1u << 10;
	if (q->has_reasons && (q->reasons & RISKY_MASK))
		fired |= 1u << 11;
	if (q->device_suspicious == 1 || (q->has_reasons && (q->reasons & (1u << R_HIGH_RISK))))
		fired |= 1u << 12;

	d->fired = fired;
	d->nmethods = 0;
	d->line = (fired & SUSPICIOUS_RULE) ? STEPUP_LINE_FRAUD : STEPUP_LINE_STANDARD;
	if (fired & RED_RULES) {
		d->outcome = STEPUP_RED;
	} else if (!fired) {
		d->outcome = STEPUP_GREEN;
	} else if (q->channel == CH_MERCHANT) {
		d->outcome = STEPUP_GREEN;  /* on channel ECOM_MERCHANT step_up becomes approve */
	} else {
		int cs_only = (fired & SUSPICIOUS_RULE) != 0;
		int cs = cfg->cs[d->line] || cfg->cs[STEPUP_LINE_STANDARD];
		d->outcome = STEPUP_YELLOW;
		if (!cs_only) {
			if (cfg->app_id && q->app_enrolled == 1)
				d->methods[d->nmethods++] = STEPUP_IN_APP;
			/* `otp_exhausted is absent or not otp_exhausted` */
			if (q->phone_len && q->otp_exhausted != 1)
				d->methods[d->nmethods++] = STEPUP_OTP_SMS;
			if (q->has_email && q->otp_exhausted != 1)
				d->methods[d->nmethods++] = STEPUP_OTP_EMAIL;
		}
		if (cs)  /* declared `always`; also the fallback */
			d->methods[d->nmethods++] = STEPUP_CUSTOMER_SERVICE;
		if (!d->nmethods)
			d->outcome = STEPUP_RED;
		else if (d->methods[d->nmethods - 1] == STEPUP_CUSTOMER_SERVICE && !cfg->cs[d->line])
			d->line = STEPUP_LINE_STANDARD;  /* the line actually served */
	}
}

/* ---- generated rulesets -------------------------------------------- */

static const char *const cmp_ops[] = { "==", "!=", "<", "<=", ">", ">=" };

static void set_of(rng *g, sbuf *b, const char *const *names, int n, int quote)
{
	int k = 1 + (int)rnd(g, (unsigned)(n > 3 ? 3 : n - 1));
	unsigned used = 0;
	sb_cat(b, "{");
	for (int i = 0; i < k; i++) {
		int x;
		do
			x = (int)rnd(g, (unsigned)n);
		while (used >> x & 1);
		used |= 1u << x;
		sb_printf(b, quote ? "%s\"%s\"" : "%s%s", i ? ", " : "", names[x]);
	}
	sb_cat(b, "}");
}

#define N_ATOM_FIELDS 19

/* One test over field `f` (each field at most once per rule, so the
 * checker's "can never fire" analysis has nothing to refuse). */
static void gen_atom(rng *g, sbuf *b, int f)
{
	switch (f) {
	case 0: case 1: case 2: {
		static const char *const fld[] = { "wallet.device_score", "wallet.account_score", "wallet.phone_score" };
		sb_printf(b, "%s %s %u", fld[f], cmp_ops[rnd(g, 6)], 2 + rnd(g, 3));
		break;
	}
	case 3:
		sb_printf(b, "card.active_tokens %s %u", chance(g, 70) ? ">=" : "<", 1 + rnd(g, 12));
		break;
	case 4:
		if (chance(g, 30))
			sb_cat(b, "card.csc_failures_24h == 0");
		else
			sb_printf(b, "card.csc_failures_24h >= %u", 1 + rnd(g, 4));
		break;
	case 5:
		if (chance(g, 50)) {
			sb_printf(b, "card.state %s", chance(g, 70) ? "in " : "not in ");
			set_of(g, b, state_names, 4, 0);
		} else {
			sb_printf(b, "card.state %s %s", chance(g, 50) ? "==" : "!=", state_names[rnd(g, 4)]);
		}
		break;
	case 6:
		sb_printf(b, "card.capture_method %s", chance(g, 60) ? "in " : "not in ");
		set_of(g, b, capture_names, 5, 0);
		break;
	case 7:
		if (chance(g, 20))
			sb_cat(b, "card.csc_result is absent");
		else
			sb_printf(b, "card.csc_result %s %s", chance(g, 60) ? "==" : "!=", csc_names[rnd(g, 4)]);
		break;
	case 8:
		sb_printf(b, "wallet.recommended_decision %s %s", chance(g, 70) ? "==" : "!=", rec_names[rnd(g, 3)]);
		break;
	case 9:
		switch (rnd(g, 5)) {
		case 0: sb_printf(b, "wallet.reason_codes has %s", reason_names[rnd(g, N_REASONS)]); break;
		case 1: sb_cat(b, "wallet.reason_codes has any of G_RISKY"); break;
		case 2: sb_cat(b, "wallet.reason_codes has any of "); set_of(g, b, reason_names, N_REASONS, 0); break;
		case 3: sb_printf(b, "wallet.reason_codes has \"%s\"", new_codes[rnd(g, N_NEW_CODES_IN_RULES)]); break;
		default: sb_cat(b, "wallet.reason_codes has any of G_NEW_CODES"); break;
		}
		break;
	case 10:
		switch (rnd(g, 4)) {
		case 0: sb_cat(b, "not ends_with(end_user.phone, wallet.phone_suffix)"); break;
		case 1: sb_printf(b, "starts_with(end_user.phone, \"%s\")", chance(g, 50) ? "+44" : "+1"); break;
		case 2: sb_cat(b, "end_user.phone is absent"); break;
		default: sb_printf(b, "length(end_user.phone) %s %u", chance(g, 50) ? ">" : "<", 11 + rnd(g, 3)); break;
		}
		break;
	case 11:
		switch (rnd(g, 4)) {
		case 0: sb_printf(b, "end_user.email is %s", chance(g, 50) ? "present" : "absent"); break;
		case 1: sb_printf(b, "ends_with(end_user.email, \"@%s\")", email_domains[rnd(g, 4)]); break;
		case 2: sb_printf(b, "contains(end_user.email, \"%s\")", last_names[rnd(g, 10)]); break;
		default: sb_printf(b, "length(end_user.email) > %u", 20 + rnd(g, 15)); break;
		}
		break;
	case 12:
		sb_cat(b, chance(g, 50) ? "end_user.app_enrolled" : "not end_user.app_enrolled");
		break;
	case 13:
		sb_cat(b, chance(g, 50) ? "end_user.otp_exhausted" : "not end_user.otp_exhausted");
		break;
	case 14:
		sb_cat(b, chance(g, 50) ? "wallet.device_suspicious" : "not wallet.device_suspicious");
		break;
	case 15:
		switch (rnd(g, 3)) {
		case 0: sb_printf(b, "wallet.device_country %s \"%s\"", chance(g, 50) ? "==" : "!=", countries[rnd(g, 10)]); break;
		case 1: sb_cat(b, "wallet.device_country in G_COUNTRIES"); break;
		default: sb_cat(b, "wallet.device_country not in "); set_of(g, b, countries, 10, 1); break;
		}
		break;
	case 16:
		if (chance(g, 50))
			sb_printf(b, "token_requestor.name == \"%s\"", tr_names[rnd(g, 5)]);
		else {
			sb_cat(b, "token_requestor.name in ");
			set_of(g, b, tr_names, 5, 1);
		}
		break;
	case 17:
		if (chance(g, 50))
			sb_printf(b, "end_user.language == \"%s\"", languages[rnd(g, 6)]);
		else
			sb_printf(b, "starts_with(end_user.language, \"%.2s\")", languages[rnd(g, 6)]);
		break;
	default:
		sb_printf(b, "wallet.phone_suffix is %s", chance(g, 50) ? "present" : "absent");
		break;
	}
}

/* A condition body of 1-3 tests over distinct fields, combined with
 * and / or / not. Returns whether its top level is an `or`. */
static int gen_body(rng *g, sbuf *b)
{
	int f[3], m = 1 + (int)rnd(g, 3);
	for (int i = 0; i < m; i++) {
		int dup;
		do {
			f[i] = (int)rnd(g, N_ATOM_FIELDS);
			dup = 0;
			for (int j = 0; j < i; j++)
				dup |= f[j] == f[i];
		} while (dup);
	}
	if (m == 1) {
		gen_atom(g, b, f[0]);
		return 0;
	}
	unsigned shape = rnd(g, 4);
	if (m == 2) {
		switch (shape) {
		case 0: case 1:
			gen_atom(g, b, f[0]); sb_cat(b, " and "); gen_atom(g, b, f[1]);
			return 0;
		case 2:
			gen_atom(g, b, f[0]); sb_cat(b, " or "); gen_atom(g, b, f[1]);
			return 1;
		default:
			sb_cat(b, "not ("); gen_atom(g, b, f[0]); sb_cat(b, " or "); gen_atom(g, b, f[1]); sb_cat(b, ")");
			return 0;
		}
	}
	switch (shape) {
	case 0:
		gen_atom(g, b, f[0]); sb_cat(b, " and "); gen_atom(g, b, f[1]);
		sb_cat(b, "\n   and "); gen_atom(g, b, f[2]);
		return 0;
	case 1:
		sb_cat(b, "("); gen_atom(g, b, f[0]); sb_cat(b, " or "); gen_atom(g, b, f[1]);
		sb_cat(b, ")\n   and "); gen_atom(g, b, f[2]);
		return 0;
	case 2:
		gen_atom(g, b, f[0]); sb_cat(b, " and "); gen_atom(g, b, f[1]);
		sb_cat(b, "\n    or "); gen_atom(g, b, f[2]);
		return 1;
	default:
		gen_atom(g, b, f[0]); sb_cat(b, "\n   and not ("); gen_atom(g, b, f[1]);
		sb_cat(b, " and "); gen_atom(g, b, f[2]); sb_cat(b, ")");
		return 0;
	}
}

/* A guard that holds for about 10^-digits of requests, so the expected
 * number of fired rules stays small whatever the ruleset's size. */
static void gen_guard(rng *g, sbuf *b, int digits)
{
	char d[8];
	rnd_digits(g, d, digits);
	switch (rnd(g, 3)) {
	case 0: sb_printf(b, "starts_with(card.pan_suffix, \"%s\")", d); break;
	case 1: sb_printf(b, "ends_with(card.pan, \"%s\")", d); break;
	default: sb_printf(b, "ends_with(token_requestor.id, \"%s\")", d); break;
	}
}

void gen_outcome(rng *g, sbuf *b, const unsigned *w)
{
	static const char *const methods[] = { "IN_APP", "OTP_SMS", "OTP_EMAIL", "CUSTOMER_SERVICE" };
	switch (pick(g, w, 5)) {
	case 0: sb_cat(b, "\n  then decline\n\n"); break;
	case 1: sb_cat(b, "\n  then approve\n\n"); break;
	case 2: sb_cat(b, "\n  then step_up\n\n"); break;
	case 3: {
		unsigned mask = 1 + rnd(g, 15), k = 0;
		sb_cat(b, "\n  then step_up only ");
		for (unsigned m = 0; m < 4; m++)
			if (mask >> m & 1)
				sb_printf(b, "%s%s", k++ ? ", " : "", methods[m]);
		sb_cat(b, "\n\n");
		break;
	}
	default: sb_cat(b, "\n  then step_up only CUSTOMER_SERVICE line FRAUD\n\n"); break;
	}
}

static void gen_ruleset(sbuf *b, unsigned nrules, uint64_t seed)
{
	rng g;
	int digits = 1;

	rng_seed(&g, seed ^ (0x5eedULL * nrules));
	/* 10^-digits of requests pass a rule's guard: ~0.3 fired rules per
	 * request for 10 rules, ~3 from 100 rules up. */
	for (unsigned n = nrules; n >= 1000; n /= 10)
		digits++;
	sb_printf(b, "# Generated by bench_decide: %u rules, seed %" PRIu64 ".\n", nrules, seed);
	sb_printf(b, "ruleset \"generated-%u\"\n\n", nrules);
	sb_cat(b, "method IN_APP           when end_user.app_enrolled\n"
	          "method OTP_SMS          when end_user.phone is present and not end_user.otp_exhausted\n"
	          "method OTP_EMAIL        when end_user.email is present and not end_user.otp_exhausted\n"
	          "method CUSTOMER_SERVICE always\n\n"
	          "let G_RISKY     = {ACCOUNT_TOO_NEW, LOW_DEVICE_SCORE, TOO_MANY_RECENT_ATTEMPTS, SUSPICIOUS_ACTIVITY}\n"
	          "let G_NEW_CODES = {\"DEVICE_BOUND_ELSEWHERE\", \"NEW_CODE_1\", \"NEW_CODE_2\", \"NEW_CODE_3\"}\n"
	          "let G_COUNTRIES = {\"FR\", \"DE\", \"GB\", \"CA\"}\n\n");
	for (unsigned i = 0; i < nrules; i++) {
		sb_printf(b, "rule g%05u", i);
		if (chance(&g, 50))
			sb_printf(b, " \"Generated rule %u\"", i);
		sb_cat(b, "\n  when ");
		if (digits && chance(&g, 60)) {
			gen_guard(&g, b, digits);
			sb_cat(b, "\n   and ");
			size_t at = b->len;
			sb_cat(b, "(");
			if (!gen_body(&g, b))
				memmove(b->s + at, b->s + at + 1, b->len-- - at);
			else
				sb_cat(b, ")");
		} else if (digits) {
			size_t at = b->len;
			sb_cat(b, "(");
			if (!gen_body(&g, b))
				memmove(b->s + at, b->s + at + 1, b->len-- - at);
			else
				sb_cat(b, ")");
			sb_cat(b, "\n   and ");
			gen_guard(&g, b, digits);
		} else {
			gen_body(&g, b);
		}
		static const unsigned out_w[] = { 10, 15, 45, 22, 8 };
		gen_outcome(&g, b, out_w);
	}
	sb_cat(b, "on channel ECOM_MERCHANT step_up becomes approve\n");
}

/* ---- measurement ----------------------------------------------------- */

typedef struct meas {
	double ns;       /* per operation */
	double per_s;
	uint64_t ops;
} meas;

static double g_secs = 1.0;
static volatile uint64_t g_sink;
static const char *g_only;  /* --only: run just these measurements */

static int want(const char *tag)
{
	if (!g_only)
		return 1;
	size_t n = strlen(tag);
	for (const char *p = g_only; *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && memcmp(p, tag, n) == 0)
			return 1;
		p += k + (p[k] == ',');
	}
	return 0;
}

/* Run the body (which uses `i`, the request index) over the request set
 * again and again: a short warm-up, then ROUNDS rounds of g_secs/ROUNDS
 * each; the fastest round is reported (other processes on the machine only
 * ever make a round slower). The clock is read once per CHUNK operations. */
#define CHUNK 256u
#define HOT_N 512u  /* requests in the cache-resident rows */
#define ROUNDS 5
#define MEASURE(m, tag, n, ...)                                                   \
	do {                                                                       \
		size_t i = 0;                                                      \
		memset(&(m), 0, sizeof(m));                                        \
		if (!want(tag))                                                    \
			break;                                                     \
		double warm_ = g_secs / 10 < 0.2 ? g_secs / 10 : 0.2;              \
		double t0_ = now_s(), t1_ = t0_;                                   \
		for (;;) {                                                         \
			for (unsigned k_ = 0; k_ < CHUNK; k_++) {                  \
				__VA_ARGS__;                                       \
				if (++i == (n))                                    \
					i = 0;                                     \
			}                                                          \
			if (now_s() - t0_ >= warm_)                                \
				break;                                             \
		}                                                                  \
		for (int r_ = 0; r_ < ROUNDS; r_++) {                              \
			uint64_t ops_ = 0;                                         \
			t0_ = now_s();                                             \
			for (;;) {                                                 \
				for (unsigned k_ = 0; k_ < CHUNK; k_++) {          \
					__VA_ARGS__;                               \
					if (++i == (n))                            \
						i = 0;                             \
				}                                                  \
				ops_ += CHUNK;                                     \
				if ((t1_ = now_s()) - t0_ >= g_secs / ROUNDS)      \
					break;                                     \
			}                                                          \
			double ns_ = (t1_ - t0_) * 1e9 / (double)ops_;             \
			(m).ops += ops_;                                           \
			if ((m).ns == 0 || ns_ < (m).ns)                           \
				(m).ns = ns_;                                      \
		}                                                                  \
		(m).per_s = 1e9 / (m).ns;                                          \
	} while (0)

/* ---- the request set ------------------------------------------------- */

typedef struct reqset {
	size_t n;
	char *text;           /* all requests, back to back */
	size_t *off, *len;
	plain *pl;
	stepup_request **pre; /* pre-parsed, for (a) */
} reqset;

/* N requests from the seed: generic ones, or drawn from world w. */
static void gen_requests(reqset *rq, size_t n, uint64_t seed, const world *w)
{
	sbuf all = { 0 };
	rng g;

	rng_seed(&g, seed);
	rq->n = n;
	rq->off = xmalloc(n * sizeof(size_t));
	rq->len = xmalloc(n * sizeof(size_t));
	rq->pl = xmalloc(n * sizeof(plain));
	rq->pre = xmalloc(n * sizeof(stepup_request *));
	for (size_t i = 0; i < n; i++) {
		rq->off[i] = all.len;
		if (w)
			world_request(w, &g, &all, &rq->pl[i]);
		else
			gen_request(&g, &all, &rq->pl[i], NULL);
		rq->len[i] = all.len - rq->off[i];
		rq->pre[i] = stepup_request_new();
		if (!rq->pre[i])
			die("out of memory");
	}
	rq->text = all.s;
}

static void free_requests(reqset *rq)
{
	for (size_t i = 0; i < rq->n; i++)
		stepup_request_free(rq->pre[i]);
	free(rq->text);
	free(rq->off);
	free(rq->len);
	free(rq->pl);
	free(rq->pre);
}

/* Parse every request for engine e; returns the number of failures. With
 * `drop`, refused requests are reported and removed from the set. */
static size_t preparse(reqset *rq, const stepup_engine *e, int drop)
{
	size_t bad = 0, k = 0;
	char err[256];
	for (size_t i = 0; i < rq->n; i++) {
		if (stepup_request_parse(rq->pre[i], e, rq->text + rq->off[i], rq->len[i], err, sizeof(err)) == STEPUP_OK) {
			if (drop && k != i) {
				stepup_request *t = rq->pre[k];
				rq->pre[k] = rq->pre[i];
				rq->pre[i] = t;
				rq->off[k] = rq->off[i];
				rq->len[k] = rq->len[i];
				rq->pl[k] = rq->pl[i];
			}
			k++;
			continue;
		}
		if (bad++ < 3)
			printf("  ** generated request %zu refused by stepup_request_parse: %s\n     %.*s...\n", i, err,
			       (int)(rq->len[i] < 100 ? rq->len[i] : 100), rq->text + rq->off[i]);
	}
	if (drop && bad) {
		printf("  ** %zu of %zu generated requests refused (library bug?); measuring the other %zu\n", bad, rq->n, k);
		for (size_t i = k; i < rq->n; i++)
			stepup_request_free(rq->pre[i]);
		rq->n = k;
	}
	return bad;
}

typedef struct mix {
	size_t n[3], count;
	double fired, methods, outlen;
	size_t errors;
	int partial;
} mix;

/* Decide everything once (untimed) for the decision mix and sanity. */
static void decision_mix(reqset *rq, size_t n, const stepup_engine *e, stepup_decision *d, mix *m)
{
	stepup_request *r = stepup_request_new();
	size_t fired = 0, methods = 0, outlen = 0;

	memset(m, 0, sizeof(*m));
	m->count = n;
	for (size_t i = 0; i < n; i++) {
		if (stepup_decide(e, rq->pre[i], d, 0) != STEPUP_OK) {
			m->errors++;
			continue;
		}
		stepup_outcome o = stepup_decision_outcome(d);
		m->n[o]++;
		fired += stepup_decision_fired_count(d);
		methods += stepup_decision_method_count(d);
		/* (b) must agree with (a) */
		const char *out;
		size_t len;
		if (stepup_decide_json(e, r, d, rq->text + rq->off[i], rq->len[i], 0, &out, &len) != STEPUP_OK ||
		    stepup_decision_outcome(d) != o)
			m->errors++;
		outlen += len;
	}
	m->fired = (double)fired / (double)n;
	m->methods = (double)methods / (double)n;
	m->outlen = (double)outlen / (double)n;
	stepup_request_free(r);
}

static void print_mix(const char *what, const mix *m)
{
	double n = (double)m->count;
	char over[48] = "";
	if (m->count)
		snprintf(over, sizeof(over), " (first %zu requests)", m->count);
	printf("  %-22s GREEN %5.1f%%  YELLOW %5.1f%%  RED %5.1f%%   avg fired rules %.2f, avg methods %.2f, avg response %.0f B%s%s\n",
	       what, 100.0 * (double)m->n[0] / n, 100.0 * (double)m->n[1] / n, 100.0 * (double)m->n[2] / n, m->fired,
	       m->methods, m->outlen, m->partial ? over : "", m->errors ? "  ** (a) AND (b) DISAGREE OR FAIL **" : "");
}

/* Compare the engine with the hand-written policy on every request. */
static size_t check_baseline(reqset *rq, const stepup_engine *e, stepup_decision *d, const plain_cfg *cfg)
{
	size_t bad = 0;
	for (size_t i = 0; i < rq->n; i++) {
		plain_decision pd;
		uint32_t fired = 0;
		int ok = 1;

		plain_decide(cfg, &rq->pl[i], &pd);
		if (stepup_decide(e, rq->pre[i], d, 0) != STEPUP_OK)
			ok = 0;
		for (size_t k = 0; ok && k < stepup_decision_fired_count(d); k++) {
			const char *name = stepup_decision_fired_rule(d, k, NULL);
			int j = 0;
			while (j < N_DEFAULT_RULES && strcmp(default_rule_names[j], name) != 0)
				j++;
			if (j == N_DEFAULT_RULES)
				ok = 0;
			else
				fired |= 1u << j;
		}
		ok = ok && fired == pd.fired && stepup_decision_outcome(d) == (stepup_outcome)pd.outcome &&
		     stepup_decision_method_count(d) == pd.nmethods;
		for (unsigned k = 0; ok && k < pd.nmethods; k++)
			ok = stepup_decision_method(d, k) == (stepup_method)pd.methods[k];
		if (ok && pd.outcome == STEPUP_YELLOW && pd.nmethods &&
		    pd.methods[pd.nmethods - 1] == STEPUP_CUSTOMER_SERVICE)
			ok = stepup_decision_cs_line(d) == (stepup_cs_line)pd.line;
		if (!ok && bad++ < 5) {
			printf("  MISMATCH request %zu: engine %s/%zu methods/fired", i,
			       stepup_outcome_name(stepup_decision_outcome(d)), stepup_decision_method_count(d));
			for (size_t k = 0; k < stepup_decision_fired_count(d); k++)
				printf(" %s", stepup_decision_fired_rule(d, k, NULL));
			printf("; C %s/%u methods/fired", stepup_outcome_name((stepup_outcome)pd.outcome), pd.nmethods);
			for (int j = 0; j < N_DEFAULT_RULES; j++)
				if (pd.fired >> j & 1)
					printf(" %s", default_rule_names[j]);
			printf("\n    %.*s\n", (int)rq->len[i], rq->text + rq->off[i]);
		}
	}
	return bad;
}

/* ---- the jansson baseline -------------------------------------------- */

static json_t *method_obj(const char *type, const char *key, const char *value)
{
	json_t *m = json_object();
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, key, json_string(value));
	return m;
}

static json_t *reason_obj(const char *rule, const char *outcome, const char *at)
{
	json_t *o = json_object();
	json_object_set_new(o, "rule", json_string(rule));
	json_object_set_new(o, "outcome", json_string(outcome));
	json_object_set_new(o, "at", json_string(at));
	return o;
}

static const char revision[] = "sha256:9f2c1e4b7a3d5f60812e9c4b7d1a3f5e6c8b0a2d4f6e8c1a3b5d7f9e0c2a4b6d";

/* Parse the request with jansson and dump a response shaped like ours: a
 * YELLOW with 3 methods and 2 reasons. Returns the response length. */
static size_t jansson_once(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *in = json_loadb(text, len, 0, &jerr);
	if (!in)
		die("jansson cannot parse a generated request: %s", jerr.text);
	json_t *resp = json_object();
	json_object_set(resp, "request_id", json_object_get(in, "request_id"));
	json_object_set_new(resp, "decision_id", json_string("dcs_01JD3K2Q8N5V7X9Z"));
	json_object_set_new(resp, "decision", json_string("YELLOW"));
	json_object_set_new(resp, "network_decision", json_string("REQUIRE_ADDITIONAL_AUTHENTICATION"));
	json_t *methods = json_array();
	json_array_append_new(methods, method_obj("IN_APP", "app_id", "com.examplebank.mobile"));
	json_array_append_new(methods, method_obj("OTP_SMS", "value", "+1 *** *** 1234"));
	json_t *cs = method_obj("CUSTOMER_SERVICE", "value", "+1-800-555-0100");
	json_object_set_new(cs, "line", json_string("STANDARD"));
	json_array_append_new(methods, cs);
	json_object_set_new(resp, "idv_methods", methods);
	json_t *reasons = json_array();
	json_array_append_new(reasons, reason_obj("phone_mismatch", "YELLOW", "default.rules:58"));
	json_array_append_new(reasons, reason_obj("risky_reason", "YELLOW", "default.rules:73"));
	json_object_set_new(resp, "reasons", reasons);
	json_t *rs = json_object();
	json_object_set_new(rs, "name", json_string("issuer-default"));
	json_object_set_new(rs, "revision", json_string(revision));
	json_object_set_new(resp, "ruleset", rs);
	char *out = json_dumps(resp, JSON_COMPACT);
	size_t n = out ? strlen(out) : 0;
	free(out);
	json_decref(resp);
	json_decref(in);
	return n;
}

/* ---- reporting ------------------------------------------------------- */

static void row(const char *name, const meas *m, const char *ratio)
{
	if (!m->ops) {
		printf("  %-40s %12s %10s   (not measured: --only)\n", name, "-", "-");
		return;
	}
	printf("  %-40s %12.0f %10.1f   %s\n", name, m->per_s, m->ns, ratio);
}

/* ratio = x/y (as measured times), written with fmt; "-" when either is
 * missing. */
static const char *ratio_of(char *buf, size_t n, const char *fmt, const meas *x, const meas *y)
{
	if (!x->ops || !y->ops)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, fmt, x->ns / y->ns);
	return buf;
}

static void machine_info(void)
{
	char model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[512];
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "model name", 10) == 0) {
				char *c = strchr(line, ':');
				if (c) {
					c += 1 + (c[1] == ' ');
					c[strcspn(c, "\n")] = '\0';
					snprintf(model, sizeof(model), "%s", c);
				}
				break;
			}
		fclose(f);
	}
	printf("machine: %ld CPUs online (nproc), %s; compiler: gcc %s; jansson %s; libstepup %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), model, __VERSION__, jansson_version_str(), STEPUP_VERSION);
}

static stepup_engine *make_engine(stepup_ruleset *rs, const char *config)
{
	stepup_engine *e;
	char err[512];
	if (stepup_engine_new_from_file(rs, config, &e, err, sizeof(err)) != STEPUP_OK)
		die("engine: %s", err);
	return e;
}

typedef struct result {
	meas a, b;
} result;

/* (a) and (b) for one engine. */
static void measure_engine(reqset *rq, const stepup_engine *e, stepup_decision *d, result *res)
{
	stepup_request *r = stepup_request_new();
	uint64_t sum = 0;

	MEASURE(res->a, "a", rq->n, {
		stepup_decide(e, rq->pre[i], d, 0);
		sum += stepup_decision_outcome(d) + stepup_decision_method_count(d);
	});
	MEASURE(res->b, "b", rq->n, {
		const char *out;
		size_t len;
		stepup_decide_json(e, r, d, rq->text + rq->off[i], rq->len[i], 0, &out, &len);
		sum += len + (unsigned char)out[len >> 1];
	});
	g_sink += sum;
	stepup_request_free(r);
}

static void usage(FILE *to)
{
	fprintf(to,
	        "usage: bench_decide [-n N] [-s SEED] [-t SECONDS] [--quick] [--rules FILE] [--config FILE]\n"
	        "                    [--sizes LIST] [--realistic LIST]\n"
	        "  -n N           requests to generate (default 20000)\n"
	        "  -s SEED        generator seed (default 1)\n"
	        "  -t SECONDS     time per measurement (default 1.0)\n"
	        "  --quick        -t 0.25, sizes 10 and 10000 only (about 10 s)\n"
	        "  --rules FILE   ruleset for the default rows (default %s/rules/default.rules)\n"
	        "  --config FILE  issuer settings (default %s/rules/issuer.example.json)\n"
	        "  --sizes LIST   random generated ruleset sizes, comma-separated\n"
	        "                 (default 10,100,1000,10000,100000; 0 for none)\n"
	        "  --realistic LIST  realistic ruleset sizes (the same default; 0 for none)\n"
	        "  --only LIST    run only these measurements (for profiling): c, jansson, a, b, parse, render,\n"
	        "                 c-hot, a-hot\n"
	        "  --dump-rules N write the random ruleset of N rules to stdout and exit\n"
	        "  --dump-realistic N  write the realistic ruleset of N rules to stdout and exit\n"
	        "  --dump-requests write the generated requests (JSON lines) to stdout and exit; with\n"
	        "                 --dump-realistic N, the requests of that ruleset's world\n",
	        SRCDIR, SRCDIR);
}

static unsigned parse_sizes(const char *arg, unsigned *sizes, unsigned max)
{
	unsigned n = 0;
	char *end;
	for (const char *p = arg; *p && n < max;) {
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			die("--sizes and --realistic want a comma-separated list of integers");
		if (v)
			sizes[n++] = (unsigned)v;
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Bytes the heap holds now (glibc: main arena and mmapped blocks; the
 * bench is single-threaded). */
static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

/* The process's peak resident set (VmHWM), in kB; 0 if unknown. */
static long peak_rss_kb(void)
{
	char line[256];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* One generated ruleset, measured: compile time, the engine's memory,
 * the decision mix and (a), (b) over its requests. */
typedef struct gen_run {
	unsigned size;
	int realistic;
	size_t src_bytes;
	double compile_ms;
	size_t engine_bytes;
	mix mx;
	result res;
} gen_run;

static void run_generated(gen_run *gr, reqset *shared, uint64_t seed, size_t n, const char *config,
                          stepup_decision *d)
{
	sbuf src = { 0 };
	char name[48];
	world *w = NULL;
	reqset own, *rq = shared;

	if (gr->realistic) {
		w = world_new(gr->size, seed);
		world_rules(w, &src);
	} else {
		gen_ruleset(&src, gr->size, seed);
	}
	gr->src_bytes = src.len;
	snprintf(name, sizeof(name), "%s-%u.rules", gr->realistic ? "realistic" : "generated", gr->size);
	size_t heap0 = heap_bytes();
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *grs;
	double t0 = now_s();
	/* A source may hold 16 MiB: big rulesets come in several files, cut
	 * before a rule (a processor keeps its issuers' rules apart anyway). */
	int ok = 1;
	for (size_t at = 0, part = 1; ok && at < src.len; part++) {
		size_t len = src.len - at;
		if (len > (8u << 20)) {
			const char *cut = strstr(src.s + at + (8u << 20), "\nrule ");
			len = cut ? (size_t)(cut + 1 - (src.s + at)) : len;
		}
		char pname[64];
		snprintf(pname, sizeof(pname), "%.*s-%zu.rules", (int)(strlen(name) - 6), name, part);
		ok = stepup_compiler_add_source(c, at == 0 && len == src.len ? name : pname, src.s + at, len) ==
		     STEPUP_OK;
		at += len;
	}
	if (!ok || stepup_compiler_compile(c, &grs) != STEPUP_OK) {
		char line[1024];
		for (size_t i = 0; i < stepup_compiler_diag_count(c) && i < 5; i++) {
			stepup_compiler_render_diag(c, i, line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		die("%s does not compile", name);
	}
	gr->compile_ms = (now_s() - t0) * 1e3;
	stepup_compiler_free(c);
	free(src.s);
	stepup_engine *ge = make_engine(grs, config);
	stepup_ruleset_unref(grs);
	gr->engine_bytes = heap_bytes() - heap0;
	if (w) {
		gen_requests(&own, n, seed ^ 0xfeedull, w);
		rq = &own;
	}
	if (preparse(rq, ge, 0))
		die("%s: generated requests must all parse", name);
	/* All N for small rulesets; big ones are slow to decide twice. */
	size_t nmix = gr->size > 1000 && n > 4000 ? 4000 : n;
	decision_mix(rq, nmix, ge, d, &gr->mx);
	gr->mx.partial = nmix < n;
	measure_engine(rq, ge, d, &gr->res);
	stepup_engine_free(ge);
	if (w) {
		free_requests(&own);
		world_free(w);
	}
}

/* The random generator's 10,000-rule ruleset on main before issue 14
 * (202ccb6, this 2-core machine, `make bench`): every rule ran, most through
 * the general loop. The target is 10x faster. */
#define BEFORE_RANDOM_10000_NS 388452.9

int main(int argc, char **argv)
{
	size_t n = 20000;
	uint64_t seed = 1;
	const char *rules = SRCDIR "/rules/default.rules";
	const char *config = SRCDIR "/rules/issuer.example.json";
	const char *sizes_arg = "10,100,1000,10000,100000", *real_arg = sizes_arg;
	long dump_rules = -1, dump_real = -1;
	int dump_requests = 0, quick = 0, t_set = 0, sizes_set = 0, real_set = 0;
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "realistic", required_argument, NULL, 'Z' },
		{ "quick", no_argument, NULL, 'q' },
		{ "dump-rules", required_argument, NULL, 'D' },
		{ "dump-realistic", required_argument, NULL, 'W' },
		{ "dump-requests", no_argument, NULL, 'R' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	char *end;

	while ((opt = getopt_long(argc, argv, "n:s:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = (size_t)strtoull(optarg, &end, 10);
			if (*end || n == 0)
				die("-n wants a positive integer");
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end)
				die("-s wants an integer");
			break;
		case 't':
			g_secs = strtod(optarg, &end);
			if (*end || !(g_secs > 0))
				die("-t wants a positive number of seconds");
			t_set = 1;
			break;
		case 'r': rules = optarg; break;
		case 'c': config = optarg; break;
		case 'z': sizes_arg = optarg; sizes_set = 1; break;
		case 'Z': real_arg = optarg; real_set = 1; break;
		case 'q': quick = 1; break;
		case 'D': dump_rules = strtol(optarg, NULL, 10); break;
		case 'W': dump_real = strtol(optarg, NULL, 10); break;
		case 'R': dump_requests = 1; break;
		case 'o': g_only = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (quick) {
		/* N stays: with fewer requests the C baseline's structs sit in
		 * cache and the ratios mean something else */
		g_secs = t_set ? g_secs : 0.25;
		sizes_arg = sizes_set ? sizes_arg : "10,10000";
		real_arg = real_set ? real_arg : "10,10000";
	}
	if (dump_rules > 0) {
		sbuf src = { 0 };
		gen_ruleset(&src, (unsigned)dump_rules, seed);
		fwrite(src.s, 1, src.len, stdout);
		free(src.s);
		return 0;
	}
	if (dump_real > 0) {
		sbuf src = { 0 };
		world *w = world_new((unsigned)dump_real, seed);
		if (dump_requests) {
			reqset wr;
			gen_requests(&wr, n, seed ^ 0xfeedull, w);
			for (size_t i = 0; i < n; i++)
				printf("%.*s\n", (int)wr.len[i], wr.text + wr.off[i]);
			free_requests(&wr);
		} else {
			world_rules(w, &src);
			fwrite(src.s, 1, src.len, stdout);
		}
		free(src.s);
		world_free(w);
		return 0;
	}

	unsigned sizes[16], real[16];
	unsigned nsizes = parse_sizes(sizes_arg, sizes, 16), nreal = parse_sizes(real_arg, real, 16);

	/* Requests. */
	reqset rq;
	double t0 = now_s();
	gen_requests(&rq, n, seed, NULL);
	if (dump_requests) {
		for (size_t i = 0; i < n; i++)
			printf("%.*s\n", (int)rq.len[i], rq.text + rq.off[i]);
		return 0;
	}
	size_t minlen = SIZE_MAX, maxlen = 0, totlen = 0;
	for (size_t i = 0; i < n; i++) {
		totlen += rq.len[i];
		minlen = rq.len[i] < minlen ? rq.len[i] : minlen;
		maxlen = rq.len[i] > maxlen ? rq.len[i] : maxlen;
	}

	printf("stepup bench_decide%s: single thread, N=%zu requests, seed=%" PRIu64
	       ", %.2fs per measurement (best of %d rounds)\n", quick ? " (quick)" : "", n, seed, g_secs, ROUNDS);
	machine_info();
	printf("requests: avg %.0f bytes (min %zu, max %zu), generated in %.0f ms\n", (double)totlen / (double)n, minlen,
	       maxlen, (now_s() - t0) * 1e3);

	/* The default ruleset and its engine. */
	stepup_ruleset *rs;
	char err[512];
	t0 = now_s();
	if (stepup_ruleset_load(rules, &rs, err, sizeof(err)) != STEPUP_OK)
		die("%s: %s", rules, err);
	double load_ms = (now_s() - t0) * 1e3;
	stepup_engine *e = make_engine(rs, config);
	stepup_ruleset_unref(rs);
	printf("ruleset: %s (%s, %zu rules, loaded in %.2f ms); config: %s\n", rules,
	       stepup_ruleset_name(stepup_engine_ruleset(e)), stepup_ruleset_rule_count(stepup_engine_ruleset(e)), load_ms,
	       config);

	/* What the hand-written baseline knows of the issuer settings. */
	plain_cfg cfg = { 0 };
	{
		json_error_t jerr;
		json_t *c = json_load_file(config, 0, &jerr);
		if (!c)
			die("%s: %s", config, jerr.text);
		json_t *iss = json_object_get(c, "issuer");
		json_t *csj = json_object_get(iss, "customer_service");
		cfg.app_id = json_is_string(json_object_get(iss, "app_id"));
		cfg.cs[STEPUP_LINE_STANDARD] = json_is_string(json_object_get(csj, "standard"));
		cfg.cs[STEPUP_LINE_FRAUD] = json_is_string(json_object_get(csj, "fraud"));
		json_decref(c);
	}

	stepup_decision *d = stepup_decision_new();
	if (!d)
		die("out of memory");
	preparse(&rq, e, 1);
	if (!rq.n)
		die("no generated request parses");
	n = rq.n;

	printf("\ndecision mix (the same N requests for every ruleset):\n");
	mix mx;
	decision_mix(&rq, n, e, d, &mx);
	print_mix("default", &mx);
	size_t mismatches = check_baseline(&rq, e, d, &cfg);
	printf("  baseline C vs engine: %zu mismatches of %zu (outcome, method list, fired rules, line)%s\n", mismatches, n,
	       mismatches ? "  ** BASELINE DISAGREES **" : "");

	/* Baselines. */
	meas base_c, base_j;
	{
		uint64_t sum = 0;
		plain_decision pd;
		MEASURE(base_c, "c", n, {
			plain_decide(&cfg, &rq.pl[i], &pd);
			sum += pd.outcome + pd.nmethods;
		});
		g_sink += sum;
		sum = 0;
		MEASURE(base_j, "jansson", n, { sum += jansson_once(rq.text + rq.off[i], rq.len[i]); });
		g_sink += sum;
	}
	size_t jlen = jansson_once(rq.text, rq.len[0]);

	/* The default ruleset. */
	result def;
	measure_engine(&rq, e, d, &def);

	/* Where (b)'s time goes: parse alone, render alone. */
	meas parse_only, render_only;
	{
		stepup_request *r = stepup_request_new();
		uint64_t sum = 0;
		MEASURE(parse_only, "parse", n, {
			sum += (uint64_t)stepup_request_parse(r, e, rq.text + rq.off[i], rq.len[i], NULL, 0);
		});
		MEASURE(render_only, "render", n, {
			size_t len;
			stepup_decide(e, rq.pre[i], d, 0);
			stepup_decision_json(e, rq.pre[i], d, &len);
			sum += len;
		});
		g_sink += sum;
		stepup_request_free(r);
	}

	/* A wide schema: the default ruleset's files plus enough declared
	 * fields to make 200, decoding the same bytes (which carry ~25 of
	 * them): what a big schema costs the decoder. */
	meas parse_wide = { 0 };
	size_t wide_fields = 0;
	{
		sbuf extra = { 0 };
		stepup_compiler *c = stepup_compiler_new();
		stepup_ruleset *wrs = NULL;
		stepup_engine *we;
		size_t have = stepup_ruleset_field_count(stepup_engine_ruleset(e));
		for (size_t k = 0; have + k < 200; k++)
			sb_printf(&extra, "field wide.g%zu.f%03zu \"an issuer fact\" int 0..1000000\n", k % 9, k);
		if (stepup_compiler_add_file(c, rules) != STEPUP_OK ||
		    stepup_compiler_add_source(c, "wide.rules", extra.s, extra.len) != STEPUP_OK ||
		    stepup_compiler_compile(c, &wrs) != STEPUP_OK)
			die("the wide schema does not compile");
		stepup_compiler_free(c);
		free(extra.s);
		wide_fields = stepup_ruleset_field_count(wrs);
		we = make_engine(wrs, config);
		stepup_ruleset_unref(wrs);
		stepup_request *r = stepup_request_new();
		uint64_t sum = 0;
		MEASURE(parse_wide, "parse", n, {
			sum += (uint64_t)stepup_request_parse(r, we, rq.text + rq.off[i], rq.len[i], NULL, 0);
		});
		g_sink += sum;
		stepup_request_free(r);
		stepup_engine_free(we);
	}

	/* (a) and the C baseline again on a set small enough to stay in cache:
	 * the difference from the full set is memory traffic, not work. */
	meas hot_c, hot_a;
	size_t nhot = n < HOT_N ? n : HOT_N;
	{
		uint64_t sum = 0;
		plain_decision pd;
		MEASURE(hot_c, "c-hot", nhot, {
			plain_decide(&cfg, &rq.pl[i], &pd);
			sum += pd.outcome + pd.nmethods;
		});
		MEASURE(hot_a, "a-hot", nhot, {
			stepup_decide(e, rq.pre[i], d, 0);
			sum += stepup_decision_outcome(d) + stepup_decision_method_count(d);
		});
		g_sink += sum;
	}

	/* Generated rulesets: the random generator's over the same requests,
	 * the realistic one's over requests of its own world. */
	gen_run runs[32];
	unsigned nruns = 0;
	for (unsigned k = 0; k < nsizes; k++)
		runs[nruns++] = (gen_run){ .size = sizes[k], .realistic = 0 };
	for (unsigned k = 0; k < nreal; k++)
		runs[nruns++] = (gen_run){ .size = real[k], .realistic = 1 };
	for (unsigned k = 0; k < nruns; k++)
		run_generated(&runs[k], &rq, seed, n, config, d);
	for (unsigned k = 0; k < nruns; k++) {
		char what[64];
		snprintf(what, sizeof(what), "%s %u rules", runs[k].realistic ? "realistic" : "random", runs[k].size);
		print_mix(what, &runs[k].mx);
	}
	if (nruns) {
		printf("\ncompile (stepup_compiler_add_source + stepup_compiler_compile) and engine memory\n"
		       "(heap bytes the ruleset and its engine hold, after the compiler is freed):\n");
		for (unsigned k = 0; k < nruns; k++)
			printf("  %-9s %6u rules: %9zu bytes of source, %9.2f ms, engine %8.1f MB\n",
			       runs[k].realistic ? "realistic" : "random", runs[k].size, runs[k].src_bytes,
			       runs[k].compile_ms, (double)runs[k].engine_bytes / (1 << 20));
		printf("  peak resident set of this process: %.1f MB\n", (double)peak_rss_kb() / 1024);
	}

	/* Table. */
	char ratio[128], name[64];
	double ra = def.a.ns / base_c.ns, rb = base_j.ns / def.b.ns;
	printf("\n  %-40s %12s %10s   %s\n", "measurement", "decisions/s", "ns/dec", "ratio");
	printf("  %-40s %12s %10s   %s\n", "----------------------------------------", "-----------", "------", "-----");
	row("baseline C (default policy, struct)", &base_c, "1.00 (reference for (a))");
	snprintf(ratio, sizeof(ratio), "1.00 (reference for (b); response %zu B)", jlen);
	row("baseline jansson (parse + dump)", &base_j, ratio);
	row("default (a) pre-parsed", &def.a, ratio_of(ratio, sizeof(ratio), "%.2fx the C baseline's time", &def.a, &base_c));
	row("default (b) JSON in/out", &def.b, ratio_of(ratio, sizeof(ratio), "%.2fx faster than jansson", &base_j, &def.b));
	snprintf(name, sizeof(name), "  in cache (%zu req): baseline C", nhot);
	row(name, &hot_c, "1.00 (reference for (a) in cache)");
	snprintf(name, sizeof(name), "  in cache (%zu req): default (a)", nhot);
	row(name, &hot_a, ratio_of(ratio, sizeof(ratio), "%.2fx the C baseline's time", &hot_a, &hot_c));
	row("  (b) part: stepup_request_parse", &parse_only,
	    ratio_of(ratio, sizeof(ratio), "%.2f of (b)'s time", &parse_only, &def.b));
	row("  (b) part: decide + decision_json", &render_only,
	    ratio_of(ratio, sizeof(ratio), "%.2f of (b)'s time", &render_only, &def.b));
	snprintf(name, sizeof(name), "  parse, schema of %zu fields", wide_fields);
	row(name, &parse_wide, ratio_of(ratio, sizeof(ratio), "%.2fx the default schema's parse", &parse_wide, &parse_only));
	/* Each generator's rows against its smallest size. */
	for (unsigned k = 0; k < nruns; k++) {
		const gen_run *g0 = NULL;
		for (unsigned j = 0; j < nruns; j++)
			if (runs[j].realistic == runs[k].realistic && (!g0 || runs[j].size < g0->size))
				g0 = &runs[j];
		const char *gname = runs[k].realistic ? "realistic" : "random";
		snprintf(name, sizeof(name), "%s %u rules (a) pre-parsed", gname, runs[k].size);
		char r2[64];
		snprintf(r2, sizeof(r2), "%%.2fx the %u-rule cost", g0->size);
		row(name, &runs[k].res.a, ratio_of(ratio, sizeof(ratio), r2, &runs[k].res.a, &g0->res.a));
		snprintf(name, sizeof(name), "%s %u rules (b) JSON in/out", gname, runs[k].size);
		row(name, &runs[k].res.b, ratio_of(ratio, sizeof(ratio), "%.2fx faster than jansson", &base_j, &runs[k].res.b));
	}

	printf("\ntargets (issue 14; ratios from this run):\n");
	if (def.a.ops && base_c.ops)
		printf("  default (a) pre-parsed at most 2x the hand-written C baseline:   %8.2fx  %s\n", ra,
		       ra <= 2.0 ? "PASS" : "MISS");
	if (def.b.ops && base_j.ops)
		printf("  default (b) JSON in/out at least 8x faster than jansson:         %8.2fx  %s\n", rb,
		       rb >= 8.0 ? "PASS" : "MISS");
	const gen_run *r10 = NULL, *r10k = NULL, *r100k = NULL, *g10k = NULL, *g100k = NULL;
	for (unsigned k = 0; k < nruns; k++) {
		const gen_run *g = &runs[k];
		if (g->realistic && g->size == 10) r10 = g;
		if (g->realistic && g->size == 10000) r10k = g;
		if (g->realistic && g->size == 100000) r100k = g;
		if (!g->realistic && g->size == 10000) g10k = g;
		if (!g->realistic && g->size == 100000) g100k = g;
	}
	if (r10 && r10k && r10->res.a.ops && r10k->res.a.ops) {
		double x = r10k->res.a.ns / r10->res.a.ns;
		printf("  realistic 10,000 rules (a) at most 5x the 10-rule cost:          %8.2fx  %s\n", x,
		       x <= 5.0 ? "PASS" : "MISS");
	}
	if (r10 && r100k && r10->res.a.ops && r100k->res.a.ops) {
		double x = r100k->res.a.ns / r10->res.a.ns;
		printf("  realistic 100,000 rules (a) at most 10x the 10-rule cost:        %8.2fx  %s\n", x,
		       x <= 10.0 ? "PASS" : "MISS");
	}
	if (g10k && g10k->res.a.ops) {
		double x = BEFORE_RANDOM_10000_NS / g10k->res.a.ns;
		printf("  random 10,000 rules (a) at least 10x faster than before issue 14\n"
		       "    (%.0f ns then, %.0f ns now):                                %8.0fx  %s\n",
		       BEFORE_RANDOM_10000_NS, g10k->res.a.ns, x, x >= 10.0 ? "PASS" : "MISS");
	}
	for (unsigned k = 0; k < 2; k++) {
		const gen_run *g = k ? r100k : g100k;
		if (!g)
			continue;
		double mb = (double)g->engine_bytes / (1 << 20);
		printf("  %-9s 100,000 rules compile under 2 s, engine under 200 MB: %6.2f s %6.1f MB  %s\n",
		       g->realistic ? "realistic" : "random", g->compile_ms / 1e3, mb,
		       g->compile_ms < 2000 && mb < 200 ? "PASS" : "MISS");
	}
	if (parse_wide.ops && parse_only.ops) {
		double rw = parse_wide.ns / parse_only.ns;
		printf("  parse with a %zu-field schema within 1.5x of the default:       %8.2fx  %s\n", wide_fields, rw,
		       rw <= 1.5 ? "PASS" : "MISS");
	}
	printf("  baseline C agrees with the engine on all %zu requests:          %s\n", n, mismatches ? "NO" : "yes");

	free_requests(&rq);
	stepup_decision_free(d);
	stepup_engine_free(e);
	return mismatches ? 1 : 0;
}
