/* index_diff.c: the differential check of the rule index (index_diff.h). */
#include "index_diff.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "decision.h"
#include "program.h"

#define MAX_RULES 120
#define MAX_REQUESTS 8

/* ---- choices ------------------------------------------------------------ */

typedef struct src {
	const uint8_t *p;
	size_t n, at;
} src;

/* A choice in [0, n): the next byte, 0 once the input is used up. */
static unsigned pick(src *s, unsigned n)
{
	unsigned v = s->at < s->n ? s->p[s->at++] : 0;
	return n ? v % n : 0;
}

#define ONE_OF(s, arr) ((arr)[pick((s), (unsigned)(sizeof(arr) / sizeof((arr)[0])))])

/* Text written with printf into a growing buffer (open_memstream). */
typedef struct text {
	char *s;
	size_t len;
	FILE *f;
} text;

static void text_open(text *t)
{
	t->s = NULL;
	t->len = 0;
	t->f = open_memstream(&t->s, &t->len);
}

/* Finish t: its bytes in s[0..len), NUL-terminated; -1 when it failed. */
static int text_close(text *t)
{
	int bad = !t->f || ferror(t->f);
	if (t->f && fclose(t->f) != 0)
		bad = 1;
	t->f = NULL;
	return bad || !t->s ? -1 : 0;
}

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
	va_list ap;
	if (!t->f)
		return;
	va_start(ap, fmt);
	vfprintf(t->f, fmt, ap);
	va_end(ap);
}

/* ---- the pools rules and requests share --------------------------------- */

static const char *const bins8[] = { "45320112", "45320199", "45329900", "51234567", "51230000", "40000001" };
static const char *const bin_prefixes[] = { "4", "45", "4532", "453201", "45320112", "5", "5123", "4000" };
static const char *const pan_tails[] = { "0000000", "1234567", "7654321", "1111111" };
static const char *const trs[] = { "50110030273", "50120000001", "50130000002", "4", "50110030274" };
static const char *const countries[] = { "US", "FR", "DE", "GB", "U", "USA" };
static const char *const languages[] = { "en-US", "fr-FR", "en", "fr-CA", "de" };
static const char *const lang_parts[] = { "en", "fr", "-", "US", "CA", "e" };
static const char *const emails[] = { "a@x.com", "jane.doe@example.com", "b@example.org", "doe@x.com" };
/* constants of every length the prepared form treats apart: 0, 1-3, 4-7,
 * 8-16 (kept as words), over 16 (read from the string table) */
static const char *const email_parts[] = { "doe", "@example.com", "x.com", ".", "jane", "",
	                                   "jane.doe@example.c", "jane.doe@example.com" };
static const char *const phones[] = { "+14155551234", "+447700900123", "+33123450123" };
static const char *const suffixes[] = { "1234", "0123", "9999" };
static const char *const codes[] = { "x1", "x2", "A7", "zz" };
static const char *const digits[] = { "1", "11", "111", "0", "1234", "34" };
static const char *const states[] = { "ACTIVE", "INACTIVE", "SUSPENDED", "CLOSED" };
static const char *const captures[] = { "BANK_APP", "ON_FILE", "CAMERA", "MANUAL", "UNKNOWN" };
static const char *const cscs[] = { "MATCH", "INVALID", "ABSENT", "NOT_PROCESSED" };
static const char *const recs[] = { "APPROVED", "REQUIRE_ADDITIONAL_AUTHENTICATION", "DECLINED" };
static const char *const oses[] = { "ANDROID", "IOS", "WINDOWS", "TIZEN" };
static const char *const kinds[] = { "K1", "K2", "K3", "K4", "K5" };
static const char *const reasons[] = { "ACCOUNT_TOO_NEW", "HIGH_RISK", "LOW_DEVICE_SCORE", "SUSPICIOUS_ACTIVITY",
	                               "INACTIVE_ACCOUNT" };
static const char *const new_codes[] = { "NEW_CODE_1", "NEW_CODE_2" };
static const char *const cmps[] = { "==", "!=", "<", "<=", ">", ">=" };

/* A set of 1-3 distinct items of a pool, quoted or not. */
static void set_of(src *s, text *t, const char *const *pool, unsigned n, int quote)
{
	unsigned k = 1 + pick(s, 3), used = 0;
	put(t, "{");
	for (unsigned i = 0, w = 0; i < k; i++) {
		unsigned x = pick(s, n);
		if (used >> x & 1)
			continue;
		used |= 1u << x;
		put(t, quote ? "%s\"%s\"" : "%s%s", w++ ? ", " : "", pool[x]);
	}
	put(t, "}");
}
#define SET_OF(s, t, pool, quote) set_of((s), (t), (pool), (unsigned)(sizeof(pool) / sizeof((pool)[0])), (quote))

/* One test. */
static void atom(src *s, text *t)
{
	switch (pick(s, 26)) {
	case 0: put(t, "card.bin == \"%s\"", ONE_OF(s, bins8)); break;
	case 1: put(t, "starts_with(card.bin, \"%s\")", ONE_OF(s, bin_prefixes)); break;
	case 2: put(t, "card.bin %s", pick(s, 4) ? "in " : "not in "); SET_OF(s, t, bins8, 1); break;
	case 3: put(t, "ends_with(card.pan, \"%s\")", ONE_OF(s, digits)); break;
	case 4: put(t, "token_requestor.id %s \"%s\"", pick(s, 3) ? "==" : "!=", ONE_OF(s, trs)); break;
	case 5: put(t, "token_requestor.id %s", pick(s, 3) ? "in " : "not in "); SET_OF(s, t, trs, 1); break;
	case 6: put(t, "wallet.device_country %s \"%s\"", pick(s, 3) ? "==" : "!=", ONE_OF(s, countries)); break;
	case 7: put(t, "wallet.device_country in "); SET_OF(s, t, countries, 1); break;
	case 8:
		switch (pick(s, 4)) {
		case 0: put(t, "starts_with(end_user.language, \"%s\")", ONE_OF(s, lang_parts)); break;
		case 1: put(t, "ends_with(end_user.language, \"%s\")", ONE_OF(s, lang_parts)); break;
		case 2: put(t, "contains(end_user.language, \"%s\")", ONE_OF(s, lang_parts)); break;
		default: put(t, "end_user.language == \"%s\"", ONE_OF(s, languages)); break;
		}
		break;
	case 9:
		switch (pick(s, 6)) {
		case 0: put(t, "length(end_user.email) %s %u", ONE_OF(s, cmps), 5 + pick(s, 18)); break;
		case 1: put(t, "contains(end_user.email, \"%s\")", ONE_OF(s, email_parts)); break;
		case 2: put(t, "starts_with(end_user.email, \"%s\")", ONE_OF(s, email_parts)); break;
		case 3: put(t, "end_user.email %s", pick(s, 3) ? "in " : "not in "); SET_OF(s, t, emails, 1); break;
		case 4: put(t, "end_user.email == \"%s\"", ONE_OF(s, emails)); break;
		default: put(t, "ends_with(end_user.email, \"%s\")", ONE_OF(s, email_parts)); break;
		}
		break;
	case 10: put(t, "card.state %s %s", pick(s, 2) ? "==" : "!=", ONE_OF(s, states)); break;
	case 11: put(t, "card.capture_method %s", pick(s, 3) ? "in " : "not in "); SET_OF(s, t, captures, 0); break;
	case 12: put(t, "card.csc_result %s %s", pick(s, 2) ? "==" : "!=", ONE_OF(s, cscs)); break;
	case 13: put(t, "wallet.recommended_decision == %s", ONE_OF(s, recs)); break;
	case 14: put(t, "device.os %s", pick(s, 2) ? "in " : "not in "); SET_OF(s, t, oses, 0); break;
	case 15: {
		static const char *const scores[] = { "wallet.device_score", "wallet.account_score", "wallet.phone_score" };
		put(t, "%s %s %u", ONE_OF(s, scores), ONE_OF(s, cmps), 1 + pick(s, 5));
		break;
	}
	case 16: {
		static const char *const big[] = { "card.active_tokens", "card.csc_failures_24h", "wallet.account_age_days" };
		put(t, "%s %s %u", ONE_OF(s, big), ONE_OF(s, cmps), pick(s, 13));
		break;
	}
	case 17: {
		static const char *const small[] = { "x.level", "x.tier" };
		put(t, "%s %s %u", ONE_OF(s, small), ONE_OF(s, cmps), pick(s, 10));
		break;
	}
	case 18: {
		static const char *const bools[] = { "wallet.device_suspicious", "end_user.app_enrolled", "end_user.otp_exhausted" };
		put(t, "%s%s", pick(s, 2) ? "not " : "", ONE_OF(s, bools));
		break;
	}
	case 19:
		switch (pick(s, 4)) {
		case 0: put(t, "wallet.reason_codes has %s", ONE_OF(s, reasons)); break;
		case 1: put(t, "wallet.reason_codes has any of "); SET_OF(s, t, reasons, 0); break;
		case 2: put(t, "wallet.reason_codes has all of "); SET_OF(s, t, reasons, 0); break;
		default: put(t, "wallet.reason_codes has \"%s\"", ONE_OF(s, new_codes)); break;
		}
		break;
	case 20: {
		static const char *const opt[] = { "end_user.phone", "wallet.phone_suffix", "end_user.email", "x.code",
			                           "card.pan" };
		put(t, "%s is %s", ONE_OF(s, opt), pick(s, 2) ? "present" : "absent");
		break;
	}
	case 21:
		switch (pick(s, 3)) {
		case 0: put(t, "ends_with(end_user.phone, wallet.phone_suffix)"); break;
		case 1: put(t, "card.pan_suffix == wallet.phone_suffix"); break;
		default: put(t, "length(end_user.phone) > card.active_tokens"); break;
		}
		break;
	case 22:
		switch (pick(s, 3)) {
		case 0: put(t, "x.code == \"%s\"", ONE_OF(s, codes)); break;
		case 1: put(t, "starts_with(x.code, \"%s\")", ONE_OF(s, codes)); break;
		default: put(t, "x.code in "); SET_OF(s, t, codes, 1); break;
		}
		break;
	case 23: put(t, "x.kind %s", pick(s, 3) ? "in " : "not in "); SET_OF(s, t, kinds, 0); break;
	case 24: put(t, "starts_with(card.pan_suffix, \"%s\")", ONE_OF(s, digits)); break;
	default: put(t, "channel == %s", pick(s, 2) ? "XPAY_WALLET" : "ECOM_MERCHANT"); break;
	}
}

/* A condition: tests combined with and / or / not, `depth` levels down. */
static void cond(src *s, text *t, int depth)
{
	unsigned k = depth > 0 ? pick(s, 8) : 0;
	if (k < 3) {
		atom(s, t);
	} else if (k < 6) {  /* an `and` most often: guards are its parts */
		put(t, "(");
		cond(s, t, depth - 1);
		put(t, " and ");
		cond(s, t, depth - 1);
		put(t, ")");
	} else if (k < 7) {
		put(t, "(");
		cond(s, t, depth - 1);
		put(t, " or ");
		cond(s, t, depth - 1);
		put(t, ")");
	} else {
		put(t, "not (");
		cond(s, t, depth - 1);
		put(t, ")");
	}
}

static void outcome(src *s, text *t)
{
	static const char *const outs[] = {
		"decline", "approve", "step_up", "step_up only OTP_SMS, CUSTOMER_SERVICE",
		"step_up only CUSTOMER_SERVICE line FRAUD", "step_up only IN_APP",
	};
	put(t, " then %s\n", ONE_OF(s, outs));
}

/* The header lines, then rule i on line header + i + 1 (line numbers of
 * diagnostics say which rule to drop). */
#define HEADER_LINES 8
static const char header[] =
	"ruleset \"index-diff\"\n"
	"field x.level \"a small integer from 0\" int 0..9\n"
	"field x.tier \"a small integer from 3\" int 3..7\n"
	"field x.code \"a string of its own\" string\n"
	"field x.kind \"an enum of its own\" enum {K1, K2, K3, K4, K5}\n"
	"method IN_APP when end_user.app_enrolled\n"
	"method OTP_SMS when end_user.phone is present and not end_user.otp_exhausted\n"
	"method CUSTOMER_SERVICE always\n";

/* One request, values from the pools (or absent, or null). */
static void request(src *s, text *t, unsigned i)
{
	put(t, "{\"request_id\": \"ix-%u\"", i);
	switch (pick(s, 4)) {
	case 0: put(t, ", \"channel\": \"ECOM_MERCHANT\""); break;
	case 1: put(t, ", \"channel\": null"); break;
	default: put(t, ", \"channel\": \"XPAY_WALLET\""); break;
	}
	if (pick(s, 6))
		put(t, ", \"token_requestor\": {\"id\": \"%s\"}", ONE_OF(s, trs));
	put(t, ", \"card\": {\"state\": \"%s\"", ONE_OF(s, states));
	if (pick(s, 8))
		put(t, ", \"pan\": \"%s%s\"", ONE_OF(s, bins8), ONE_OF(s, pan_tails));
	if (pick(s, 3) == 0)
		put(t, ", \"pan_suffix\": \"%s\"", ONE_OF(s, suffixes));
	if (pick(s, 5))
		put(t, ", \"capture_method\": \"%s\"", ONE_OF(s, captures));
	if (pick(s, 5))
		put(t, ", \"csc_result\": \"%s\"", ONE_OF(s, cscs));
	if (pick(s, 5))
		put(t, ", \"active_tokens\": %u", pick(s, 13));
	if (pick(s, 3))
		put(t, ", \"csc_failures_24h\": %u", pick(s, 6));
	put(t, "}, \"end_user\": {\"language\": \"%s\"", ONE_OF(s, languages));
	if (pick(s, 5))
		put(t, ", \"phone\": \"%s\"", ONE_OF(s, phones));
	if (pick(s, 4))
		put(t, ", \"email\": \"%s\"", ONE_OF(s, emails));
	if (pick(s, 3))
		put(t, ", \"app_enrolled\": %s", pick(s, 2) ? "true" : "false");
	if (pick(s, 3))
		put(t, ", \"otp_exhausted\": %s", pick(s, 4) ? "false" : "true");
	put(t, "}, \"wallet\": {\"device_country\": \"%s\"", ONE_OF(s, countries));
	if (pick(s, 4))
		put(t, ", \"phone_suffix\": \"%s\"", ONE_OF(s, suffixes));
	if (pick(s, 6))
		put(t, ", \"device_score\": %u", 1 + pick(s, 5));
	if (pick(s, 6))
		put(t, ", \"account_score\": %u", 1 + pick(s, 5));
	if (pick(s, 2))
		put(t, ", \"phone_score\": %u", 1 + pick(s, 5));
	if (pick(s, 3))
		put(t, ", \"recommended_decision\": \"%s\"", ONE_OF(s, recs));
	if (pick(s, 3))
		put(t, ", \"device_suspicious\": %s", pick(s, 3) ? "false" : "true");
	if (pick(s, 2))
		put(t, ", \"account_age_days\": %u", pick(s, 40));
	if (pick(s, 3)) {
		unsigned n = pick(s, 4);
		put(t, ", \"reason_codes\": [");
		for (unsigned k = 0; k < n; k++)
			put(t, "%s\"%s\"", k ? ", " : "", pick(s, 4) ? ONE_OF(s, reasons) : ONE_OF(s, new_codes));
		put(t, "]");
	}
	put(t, "}");
	if (pick(s, 2))
		put(t, ", \"device\": {\"os\": \"%s\"}", pick(s, 5) ? ONE_OF(s, oses) : "PALM");
	put(t, ", \"x\": {\"level\": %u, \"tier\": %u", pick(s, 10), 3 + pick(s, 5));
	if (pick(s, 4))
		put(t, ", \"code\": \"%s\"", ONE_OF(s, codes));
	if (pick(s, 4))
		put(t, ", \"kind\": \"%s\"", ONE_OF(s, kinds));
	put(t, "}}");
}

/* ---- compiling ------------------------------------------------------------ */

/* Compile `rules` (header + one rule a line, `keep` saying which): drop the
 * rules the checker refuses and try again, a few times. */
static stepup_ruleset *compile(char **lines, unsigned n, int *keep)
{
	for (int round = 0; round < 4; round++) {
		text t;
		text_open(&t);
		put(&t, "%s", header);
		for (unsigned i = 0; i < n; i++)
			put(&t, "%s", keep[i] ? lines[i] : "\n");
		int bad = text_close(&t);
		stepup_compiler *c = stepup_compiler_new();
		stepup_ruleset *rs = NULL;
		int dropped = 0;
		if (!c || bad) {
			stepup_compiler_free(c);
			free(t.s);
			return NULL;
		}
		stepup_compiler_add_source(c, "index-diff.rules", t.s, t.len);
		if (stepup_compiler_compile(c, &rs) == STEPUP_OK) {
			stepup_compiler_free(c);
			free(t.s);
			return rs;
		}
		for (size_t i = 0; i < stepup_compiler_diag_count(c); i++) {
			const stepup_diag *dg = stepup_compiler_diag(c, i);
			if (dg->severity == STEPUP_DIAG_ERROR && dg->line > HEADER_LINES && dg->line - HEADER_LINES <= n &&
			    keep[dg->line - HEADER_LINES - 1]) {
				keep[dg->line - HEADER_LINES - 1] = 0;
				dropped = 1;
			}
		}
		stepup_compiler_free(c);
		free(t.s);
		if (!dropped)
			return NULL;
	}
	return NULL;
}

/* ---- comparing ------------------------------------------------------------ */

static const char settings[] =
	"{\"issuer\":{\"app_id\":\"com.examplebank.mobile\","
	"\"customer_service\":{\"standard\":\"+1-800-555-0100\"}}}";

static char *strip_id(const char *s, size_t len)
{
	char *c = malloc(len + 1);
	if (!c)
		return NULL;
	memcpy(c, s, len);
	c[len] = '\0';
	char *p = strstr(c, "\"decision_id\":\"");
	if (p)
		for (p += strlen("\"decision_id\":\""); *p && *p != '"'; p++)
			*p = 'x';
	return c;
}

enum { E_FORCE, E_OFF, E_AUTO, E_BUNDLE, NENGINES };
static const char *const engine_names[] = { "index forced", "no index", "index when worth it", "from a bundle" };

int index_diff_check(const uint8_t *data, size_t size, char *why, size_t whylen, unsigned *nrules, int *indexed)
{
	src s = { data, size, 0 };
	char *lines[MAX_RULES];
	int keep[MAX_RULES];
	unsigned n = 1 + pick(&s, MAX_RULES);
	stepup_ruleset *rs[NENGINES] = { 0 };
	stepup_engine *e[NENGINES] = { 0 };
	int ret = -1;

	why[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		text t;
		text_open(&t);
		put(&t, "rule r%u when ", i);
		cond(&s, &t, (int)pick(&s, 4));
		outcome(&s, &t);
		int bad = text_close(&t);
		lines[i] = bad ? NULL : t.s;
		keep[i] = lines[i] != NULL;
		if (bad)
			free(t.s);
	}
	unsigned nreq = 1 + pick(&s, MAX_REQUESTS);
	text req[MAX_REQUESTS];
	int req_bad[MAX_REQUESTS];
	for (unsigned i = 0; i < nreq; i++) {
		text_open(&req[i]);
		request(&s, &req[i], i);
		req_bad[i] = text_close(&req[i]);
	}

	for (int k = E_FORCE; k <= E_AUTO; k++) {
		int kk[MAX_RULES];
		memcpy(kk, keep, sizeof(kk));
		if (!(rs[k] = compile(lines, n, k == E_FORCE ? keep : kk)))
			goto out;
		if (k != E_FORCE) {
			/* the same rules as the first */
			for (unsigned i = 0; i < n; i++)
				if (kk[i] != keep[i])
					goto out;
		}
	}
	if (su_program_prepare_mode(rs[E_FORCE], SU_INDEX_FORCE) < 0 ||
	    su_program_prepare_mode(rs[E_OFF], SU_INDEX_OFF) < 0) {
		snprintf(why, whylen, "preparing failed");
		ret = 1;
		goto out;
	}
	if (nrules)
		*nrules = rs[E_FORCE]->nrules;
	if (indexed)
		*indexed = rs[E_FORCE]->index != NULL;
	{
		void *b = NULL;
		size_t blen = 0;
		char err[256];
		if (stepup_ruleset_serialize(rs[E_AUTO], &b, &blen) != STEPUP_OK ||
		    stepup_ruleset_load_bundle(b, blen, &rs[E_BUNDLE], err, sizeof(err)) != STEPUP_OK) {
			snprintf(why, whylen, "bundle round trip: %s", err);
			free(b);
			ret = 1;
			goto out;
		}
		free(b);
	}
	for (int k = 0; k < NENGINES; k++) {
		char err[256];
		if (stepup_engine_new(rs[k], settings, &e[k], err, sizeof(err)) != STEPUP_OK) {
			snprintf(why, whylen, "engine: %s", err);
			ret = 1;
			goto out;
		}
	}
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	if (!r || !d) {
		stepup_request_free(r);
		stepup_decision_free(d);
		goto out;
	}
	ret = 0;
	for (unsigned q = 0; q < nreq && ret == 0; q++) {
		if (req_bad[q])
			continue;
		for (unsigned flags = 0; flags <= STEPUP_DECIDE_EXPLAIN && ret == 0; flags += STEPUP_DECIDE_EXPLAIN) {
			char *first = NULL;
			for (int k = 0; k < NENGINES && ret == 0; k++) {
				const char *out;
				size_t len;
				stepup_decide_json(e[k], r, d, req[q].s, req[q].len, flags, &out, &len);
				char *got = strip_id(out, len);
				if (!got)
					break;
				if (!first) {
					first = got;
					continue;
				}
				if (strcmp(first, got) != 0) {
					snprintf(why, whylen, "request %u%s: %s and %s answer differently:\n  %s\n  %s", q,
					         flags ? " (explain)" : "", engine_names[0], engine_names[k], first, got);
					ret = 1;
				}
				free(got);
			}
			free(first);
		}
		/* The oracle: with explain, every rule's bytecode ran; the fired
		 * rules are those TRUE, in order, once each. */
		for (int k = 0; k < NENGINES && ret == 0; k++) {
			if (stepup_request_parse(r, e[k], req[q].s, req[q].len, NULL, 0) != STEPUP_OK)
				break;
			if (stepup_decide(e[k], r, d, STEPUP_DECIDE_EXPLAIN) != STEPUP_OK) {
				snprintf(why, whylen, "request %u: %s: decide failed", q, engine_names[k]);
				ret = 1;
				break;
			}
			uint32_t f = 0;
			for (uint32_t i = 0; i < rs[k]->nrules && ret == 0; i++) {
				int fires = d->rule_result[i] == SU_TRUE;
				int listed = f < d->nfired && d->fired[f] == i;
				if (fires != listed) {
					snprintf(why, whylen, "request %u: %s: rule r%s %s but the bytecode says %s", q,
					         engine_names[k], SU_STR(rs[k], rs[k]->rules[i].name) + 1,
					         listed ? "fired" : "did not fire", fires ? "TRUE" : "not TRUE");
					ret = 1;
				}
				f += listed;
			}
			if (ret == 0 && f != d->nfired) {
				snprintf(why, whylen, "request %u: %s: %u fired rules listed, %u in rule order", q,
				         engine_names[k], d->nfired, f);
				ret = 1;
			}
		}
	}
	stepup_request_free(r);
	stepup_decision_free(d);
out:
	for (int k = 0; k < NENGINES; k++) {
		stepup_engine_free(e[k]);
		stepup_ruleset_unref(rs[k]);
	}
	for (unsigned i = 0; i < n; i++)
		free(lines[i]);
	for (unsigned i = 0; i < nreq; i++)
		free(req[i].s);
	return ret;
}
