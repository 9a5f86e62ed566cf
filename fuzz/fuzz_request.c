/* fuzz_request.c: libFuzzer target for request decoding, deciding and
 * rendering: bytes -> stepup_decide_json on a fixed engine built once from
 * rules/default.rules and rules/issuer.example.json.
 *
 * Paths come from the FUZZ_RULES / FUZZ_SETTINGS macros (fuzz/run.sh sets
 * them) and may be overridden at run time with the environment variables
 * STEPUP_FUZZ_RULES / STEPUP_FUZZ_SETTINGS.
 *
 * Invariants checked (abort() = a crash libFuzzer reports):
 *  - the status is OK, EBADREQ or ETOOBIG, and the output is one JSON
 *    object: a decision (DESIGN §3 shape) or an error object whose "field"
 *    is stepup_request_error_field();
 *  - GREEN/RED carry no method; YELLOW carries at least one (the example
 *    settings configure customer service); ECOM_MERCHANT is never YELLOW;
 *  - no output (response, error object, explain) holds a card number by
 *    the one policy whose digits the input also holds, in any spelling and
 *    wherever in the input it came from: no excuses (fuzz/common.c);
 *  - secrets and contact data never come out: the digits given for any
 *    "pan", "csc", "phone" or "phone_suffix" key (6 or more) and any
 *    "email" address do not appear in the output (unless the rules,
 *    settings or the rest of the input spell them: that part excuses);
 *  - reusing the request/decision objects leaves no stale state: the same
 *    input decided again after another request gives the same response
 *    (decision_id aside), and fresh objects give the same outcome.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "common.h"

#ifndef FUZZ_RULES
#define FUZZ_RULES "rules/default.rules"
#endif
#ifndef FUZZ_SETTINGS
#define FUZZ_SETTINGS "rules/issuer.example.json"
#endif

static stepup_engine *engine;
static stepup_request *req, *req2;
static stepup_decision *dec, *dec2;
/* Text that legitimately appears in outputs: a secret-looking value found
 * in it proves nothing. */
static char *baseline;

static const char fixed_request[] =
	"{\"request_id\":\"fixed\",\"tsp\":\"VTS\",\"channel\":\"XPAY_WALLET\","
	"\"card\":{\"pan\":\"4000000000000002\",\"csc\":\"999\",\"state\":\"ACTIVE\",\"capture_method\":\"CAMERA\","
	"\"csc_result\":\"ABSENT\",\"active_tokens\":9,\"csc_failures_24h\":2},"
	"\"end_user\":{\"phone\":\"+1 (212) 555-0000\",\"email\":\"someone@example.org\",\"app_enrolled\":false},"
	"\"wallet\":{\"phone_suffix\":\"0001\",\"device_score\":2,\"reason_codes\":[\"HIGH_RISK\"]}}";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			CHECK(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *rules = getenv("STEPUP_FUZZ_RULES"), *settings = getenv("STEPUP_FUZZ_SETTINGS");
	char err[1024];
	stepup_ruleset *rs = NULL;

	if (!rules)
		rules = FUZZ_RULES;
	if (!settings)
		settings = FUZZ_SETTINGS;
	if (stepup_ruleset_load(rules, &rs, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_request: %s: %s\n", rules, err);
		exit(2);
	}
	if (stepup_engine_new_from_file(rs, settings, &engine, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_request: %s: %s\n", settings, err);
		exit(2);
	}
	char *rtext = slurp(rules), *stext = slurp(settings);
	const char *vocab =
		" APPROVED REQUIRE_ADDITIONAL_AUTHENTICATION DECLINED GREEN YELLOW RED"
		" IN_APP OTP_SMS OTP_EMAIL CUSTOMER_SERVICE STANDARD FRAUD TRUE FALSE ABSENT"
		" out of range (0 to 1000000) (1 to 5) (12 to 19 digits expected) ";
	const char *rev = stepup_ruleset_revision(rs);
	size_t bl = strlen(vocab) + strlen(rev) + (rtext ? strlen(rtext) : 0) + (stext ? strlen(stext) : 0) + 4;
	baseline = malloc(bl);
	CHECK(baseline);
	snprintf(baseline, bl, "%s\n%s\n%s\n%s", vocab, rev, rtext ? rtext : "", stext ? stext : "");
	free(rtext);
	free(stext);
	stepup_ruleset_unref(rs);
	req = stepup_request_new();
	req2 = stepup_request_new();
	dec = stepup_decision_new();
	dec2 = stepup_decision_new();
	CHECK(req && req2 && dec && dec2);
	return 0;
}

/* Count of non-overlapping occurrences of needle in hay. */
static size_t count_in(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	size_t n = 0;
	const char *p = hay, *end = hay + hlen;
	while (nlen && p < end) {
		const char *q = memmem(p, (size_t)(end - p), needle, nlen);
		if (!q)
			break;
		n++;
		p = q + nlen;
	}
	return n;
}

static void leak(const char *what, const char *v, size_t vlen, const char *out, size_t outlen)
{
	fprintf(stderr, "fuzz_request: %s value '%.*s' appears in the output:\n%.*s\n", what, (int)vlen, v,
	        (int)outlen, out);
	abort();
}

/* The value v, taken from the secret's own text at in[at, at + span), must
 * not appear in the output, unless the rest of the input (with that text
 * blanked) or the baseline holds it too: then its appearance proves
 * nothing (an echoed request_id, a masked email's domain...). */
static void must_not_echo(const char *what, const char *v, size_t vlen, const char *in, size_t inlen,
                          size_t at, size_t span, const char *out, size_t outlen)
{
	if (!memmem(out, outlen, v, vlen))
		return;
	if (memmem(baseline, strlen(baseline), v, vlen))
		return;
	char *rest = malloc(inlen ? inlen : 1);
	CHECK(rest);
	memcpy(rest, in, inlen);
	memset(rest + at, ' ', span);
	int elsewhere = count_in(rest, inlen, v, vlen) > 0;
	free(rest);
	if (!elsewhere)
		leak(what, v, vlen, out, outlen);
}

/* Scan the raw input for "key" : "value" pairs (any object, any depth, even
 * in malformed JSON) and check each value against the output. */
static void check_secrets(const char *in, size_t inlen, const char *out, size_t outlen)
{
	static const char *const keys[] = { "pan", "csc", "phone", "phone_suffix", "email" };
	/* A \u escape could spell a secret elsewhere in the input. */
	if (memmem(in, inlen, "\\u", 2))
		return;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char pat[32];
		int pl = snprintf(pat, sizeof(pat), "\"%s\"", keys[k]);
		const char *p = in, *end = in + inlen;
		while (p < end) {
			const char *q = memmem(p, (size_t)(end - p), pat, (size_t)pl);
			if (!q)
				break;
			p = q + pl;
			const char *s = p;
			while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
				s++;
			if (s >= end || *s != ':')
				continue;
			s++;
			while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
				s++;
			if (s >= end || *s != '"')
				continue;
			const char *v = ++s;
			while (s < end && *s != '"' && *s != '\\')
				s++;
			if (s >= end || *s != '"')
				continue;
			size_t vlen = (size_t)(s - v);
			if (k <= 3) {
				/* PAN, CSC and phones: their digits (phones are normalised
				 * to digits), when there are at least 6 of them; shorter
				 * digit strings occur in outputs by chance. */
				char digits[64];
				size_t nd = 0;
				for (size_t i = 0; i < vlen && nd < sizeof(digits); i++)
					if (v[i] >= '0' && v[i] <= '9')
						digits[nd++] = v[i];
				if (nd >= 6 && nd < sizeof(digits))
					must_not_echo(keys[k], digits, nd, in, inlen, (size_t)(v - in), vlen, out, outlen);
			} else {
				/* Email: the address as given. */
				const char *at = memchr(v, '@', vlen);
				if (at && at - v >= 3)
					must_not_echo(keys[k], v, vlen, in, inlen, (size_t)(v - in), vlen, out, outlen);
			}
		}
	}
}

static void check_shape(int rc, const char *out, size_t outlen, const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *o = json_loadb(out, outlen, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		fprintf(stderr, "fuzz_request: output is not a JSON object (%s):\n%.*s\n", je.text, (int)outlen, out);
		abort();
	}
	if (rc == STEPUP_OK) {
		CHECK(json_is_string(json_object_get(o, "request_id")));
		const char *dname = json_string_value(json_object_get(o, "decision"));
		const char *nd = json_string_value(json_object_get(o, "network_decision"));
		json_t *m = json_object_get(o, "idv_methods");
		CHECK(dname && nd && json_is_array(m));
		CHECK(json_is_array(json_object_get(o, "reasons")));
		CHECK(json_is_string(json_object_get(o, "decision_id")));
		CHECK(json_is_object(json_object_get(o, "ruleset")));
		CHECK(json_is_array(json_object_get(o, "explain")) || json_is_object(json_object_get(o, "explain")));
		stepup_outcome oc = stepup_decision_outcome(dec);
		CHECK(strcmp(dname, stepup_outcome_name(oc)) == 0);
		CHECK(strcmp(nd, stepup_outcome_network_name(oc)) == 0);
		CHECK(json_array_size(m) == stepup_decision_method_count(dec));
		CHECK(json_array_size(json_object_get(o, "reasons")) == stepup_decision_fired_count(dec));
		if (oc == STEPUP_YELLOW)
			CHECK(json_array_size(m) > 0);
		else
			CHECK(json_array_size(m) == 0);
		/* A request accepted by the library is valid JSON, so jansson can
		 * tell the channel. */
		json_t *in = json_loadb((const char *)data, size, 0, NULL);
		const char *ch = json_string_value(json_object_get(in, "channel"));
		if (ch && strcmp(ch, "ECOM_MERCHANT") == 0)
			CHECK(oc != STEPUP_YELLOW);
		json_decref(in);
	} else {
		json_t *err = json_object_get(o, "error");
		CHECK(json_is_object(err));
		CHECK(json_is_string(json_object_get(err, "code")));
		CHECK(json_is_string(json_object_get(err, "message")));
		/* request_id is echoed only when it passed validation. */
		json_t *rid = json_object_get(o, "request_id");
		CHECK(rid == NULL || json_is_string(rid));
		const char *field = json_string_value(json_object_get(err, "field"));
		const char *lf = stepup_request_error_field(req);
		if (rc == STEPUP_EBADREQ) {
			CHECK(lf != NULL);
			if (!(field ? strcmp(field, lf) == 0 : lf[0] == '\0')) {
				fprintf(stderr, "fuzz_request: error field '%s' but stepup_request_error_field '%s'\n",
				        field ? field : "(none)", lf);
				abort();
			}
		}
	}
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *out = NULL;
	size_t outlen = 0;

	int rc = stepup_decide_json(engine, req, dec, in, size, STEPUP_DECIDE_EXPLAIN, &out, &outlen);
	CHECK(rc == STEPUP_OK || rc == STEPUP_EBADREQ || rc == STEPUP_ETOOBIG);
	CHECK(out != NULL);
	CHECK(strlen(out) == outlen);
	check_shape(rc, out, outlen, data, size);
	check_no_card_echo("fuzz_request: the response", data, size, out, outlen);
	stepup_outcome oc = stepup_decision_outcome(dec);
	char *first = strip_decision_id(out, outlen);
	/* decision_id is random: checked without it. */
	check_secrets(in, size, first, strlen(first));

	/* Something else through the same objects, then the input again. */
	int rc2 = stepup_decide_json(engine, req, dec, fixed_request, sizeof(fixed_request) - 1,
	                             STEPUP_DECIDE_EXPLAIN, &out, &outlen);
	CHECK(rc2 == STEPUP_OK);
	rc2 = stepup_decide_json(engine, req, dec, in, size, STEPUP_DECIDE_EXPLAIN, &out, &outlen);
	CHECK(rc2 == rc);
	check_no_card_echo("fuzz_request: the response after reuse", data, size, out, outlen);
	char *again = strip_decision_id(out, outlen);
	if (strcmp(first, again) != 0) {
		fprintf(stderr, "fuzz_request: same input, different response after reuse:\n  %s\n  %s\n", first,
		        again);
		abort();
	}
	free(first);
	free(again);

	/* Fresh objects, no explain: same status and outcome. */
	rc2 = stepup_decide_json(engine, req2, dec2, in, size, 0, &out, &outlen);
	CHECK(rc2 == rc);
	CHECK(out && strlen(out) == outlen);
	check_no_card_echo("fuzz_request: the response without explain", data, size, out, outlen);
	/* What a host logs: the error field and the decision id. */
	const char *ef = stepup_request_error_field(req2), *id = stepup_decision_id(dec2);
	check_no_card_echo("fuzz_request: the error field", data, size, ef, strlen(ef));
	check_no_card_echo("fuzz_request: the decision id", data, size, id, strlen(id));
	if (rc == STEPUP_OK)
		CHECK(stepup_decision_outcome(dec2) == oc);
	/* Leave req2/dec2 dirty on purpose: the next input reuses them. */
	return 0;
}
