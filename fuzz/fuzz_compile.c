/* fuzz_compile.c: libFuzzer target for the rule-language pipeline.
 *
 * Input = rule source text (the corpus is seeded with the files of rules/).
 *
 *   bytes -> stepup_compiler_add_source (split into up to 4 files at lines
 *            "#@file", so multi-file checks run too)
 *         -> stepup_compiler_compile
 *         -> every diagnostic rendered (stepup_compiler_render_diag), with
 *            snprintf-semantics checked against a too-small buffer
 *   when a ruleset comes out:
 *         -> disassemble, serialize -> load_bundle -> serialize again
 *            (the two bundles must be identical)
 *         -> stepup_engine_new + stepup_decide_json(STEPUP_DECIDE_EXPLAIN)
 *            on fixed requests, on the compiled and on the reloaded ruleset
 *            (the two responses must agree, decision_id aside)
 *
 * Inputs that start with the bundle magic "STEPUPB\x1a" are bundles
 * instead: their length and SHA-256 fields are patched to match the body
 * (so mutations reach the body decoder and the program verifier, not just
 * the checksum test), then loaded and, if accepted, decided on.
 *
 * Responses are JSON (so UTF-8) whatever the rule text. No output
 * (diagnostics as data and rendered, disassembly, responses with
 * explain, load errors) may hold a card number by the one policy whose
 * digits the input also holds, in any spelling: the oracle of
 * fuzz/common.c, with no excuse (the compiler refuses card numbers in
 * rule text; the verifier refuses them in bundles).
 *
 * Any invariant broken calls abort(), so libFuzzer reports it as a crash.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "common.h"

#define BUNDLE_MAGIC "STEPUPB\x1a"
#define BUNDLE_HEADER 56u

static const char *const requests[] = {
	/* DESIGN.md §3 example. */
	"{\"request_id\":\"fz-1\",\"tsp\":\"MDES\",\"channel\":\"XPAY_WALLET\","
	"\"token_requestor\":{\"id\":\"50110030273\",\"name\":\"APPLE_PAY\"},"
	"\"card\":{\"pan\":\"4111111111111111\",\"pan_suffix\":\"1234\",\"state\":\"ACTIVE\","
	"\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\",\"active_tokens\":2,\"csc_failures_24h\":0},"
	"\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\",\"app_enrolled\":true,"
	"\"language\":\"en-US\",\"otp_exhausted\":false},"
	"\"wallet\":{\"phone_suffix\":\"9876\",\"device_score\":4,\"account_score\":5,\"phone_score\":4,"
	"\"recommended_decision\":\"APPROVED\",\"reason_codes\":[\"ACCOUNT_TOO_NEW\",\"HIGH_RISK\",\"DEVICE_BOUND_ELSEWHERE\"],"
	"\"device_suspicious\":true,\"device_country\":\"US\"}}",
	/* The same without the fraud signals, so OTP methods can be offered. */
	"{\"request_id\":\"fz-3\",\"channel\":\"XPAY_WALLET\","
	"\"card\":{\"pan\":\"4111111111111111\",\"state\":\"ACTIVE\",\"capture_method\":\"CAMERA\","
	"\"csc_result\":\"ABSENT\",\"active_tokens\":0,\"csc_failures_24h\":0},"
	"\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\",\"app_enrolled\":false,"
	"\"otp_exhausted\":false},"
	"\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":2,\"account_score\":3,\"phone_score\":1,"
	"\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\",\"reason_codes\":[\"ACCOUNT_TOO_NEW\"],"
	"\"device_suspicious\":false}}",
	/* Merchant channel, almost everything absent. */
	"{\"request_id\":\"fz-2\",\"channel\":\"ECOM_MERCHANT\",\"card\":{\"state\":\"SUSPENDED\",\"active_tokens\":1000000}}",
};
#define NREQ (sizeof(requests) / sizeof(requests[0]))

static const char settings[] =
	"{\"issuer\":{\"app_id\":\"com.examplebank.mobile\","
	"\"customer_service\":{\"standard\":\"+1-800-555-0100\",\"fraud\":\"+1-800-555-0199\"}}}";

/* The current input, for telling leaks from text the input itself holds. */
static const uint8_t *cur_input;
static size_t cur_len;

/* Decide every fixed request; when `want` is given, compare with it. */
/* Compare answer i with the first run's (want), or keep it (got). */
static void keep_answer(size_t i, const char *out, size_t outlen, char *const *want, char **got)
{
	char *s = strip_decision_id(out, outlen);
	if (want && want[i] && strcmp(want[i], s) != 0) {
		fprintf(stderr, "fuzz_compile: response differs after bundle round trip:\n  %s\n  %s\n",
		        want[i], s);
		abort();
	}
	if (got)
		got[i] = s;
	else
		free(s);
}

static void decide_all(stepup_ruleset *rs, char **got, char *const *want)
{
	stepup_engine *e = NULL;
	char err[256];
	int rc = stepup_engine_new(rs, settings, &e, err, sizeof(err));
	/* A (fuzzed) bundle may import plugin functions: without plugins the
	 * engine must refuse it, naming the import, and there is nothing to
	 * decide. */
	if (rc == STEPUP_ECONFIG && strncmp(err, "ruleset imports ", 16) == 0) {
		CHECK(e == NULL);
		if (got)
			for (size_t i = 0; i < NREQ; i++)
				CHECK((got[i] = strdup("")) != NULL);
		return;
	}
	CHECK(rc == STEPUP_OK && e);
	/* The fixed requests follow the default schema: a ruleset that
	 * replaced it (schema none) or requires a field of its own may refuse
	 * them, with an error object. */
	int own_schema = 0;
	for (size_t i = 0; i < stepup_ruleset_field_count(rs); i++) {
		stepup_field_info f;
		CHECK(stepup_ruleset_field(rs, i, &f) == STEPUP_OK);
		if ((f.flags & STEPUP_FIELD_REQUIRED) && strcmp(f.path, "request_id") != 0)
			own_schema = 1;
	}
	{
		stepup_field_info f;
		int has_default = 0;
		for (size_t i = 0; i < stepup_ruleset_field_count(rs) && !has_default; i++)
			has_default = stepup_ruleset_field(rs, i, &f) == STEPUP_OK && strcmp(f.path, "request_id") == 0 &&
			              strcmp(f.role, "request_id") == 0;
		own_schema |= !has_default || stepup_ruleset_field_count(rs) < 27;
	}
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	CHECK(r && d);
	for (size_t i = 0; i < NREQ; i++) {
		const char *out = NULL;
		size_t outlen = 0;
		rc = stepup_decide_json(e, r, d, requests[i], strlen(requests[i]), STEPUP_DECIDE_EXPLAIN,
		                        &out, &outlen);
		/* The fixed requests are valid: any ruleset on the default schema
		 * must decide them. */
		if (rc != STEPUP_OK && !(own_schema && rc == STEPUP_EBADREQ))
			fprintf(stderr, "fuzz_compile: request %zu: rc %d: %.*s\n", i, rc, (int)outlen, out ? out : "");
		CHECK(rc == STEPUP_OK || (own_schema && rc == STEPUP_EBADREQ));
		CHECK(out && outlen == strlen(out));
		check_no_card_echo("fuzz_compile: a response with explain", cur_input, cur_len, out, outlen);
		/* A response is JSON, hence UTF-8, whatever the rules' strings
		 * (jansson checks both). */
		json_error_t je;
		json_t *parsed = json_loadb(out, outlen, 0, &je);
		if (!parsed) {
			fprintf(stderr, "fuzz_compile: the response is not JSON (%s):\n%.*s\n", je.text, (int)outlen, out);
			abort();
		}
		json_decref(parsed);
		/* The request's PAN (a test Visa number) is an input too. */
		check_no_card_echo("fuzz_compile: a response with explain", requests[i], strlen(requests[i]), out,
		                   outlen);
		/* The request's secrets and contact data never come out, unless
		 * the rules or bundle themselves spell them (a rule may quote
		 * "4155551234"; a fuzzed bundle may hold anything in its strings).
		 * The card-number checks above excuse nothing. */
		static const char *const secrets[] = { "4111111111111111", "4155551234", "jane.doe" };
		for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
			size_t sl = strlen(secrets[k]);
			if (memmem(out, outlen, secrets[k], sl) && !memmem(cur_input, cur_len, secrets[k], sl)) {
				fprintf(stderr, "fuzz_compile: '%s' leaked into the response:\n%.*s\n", secrets[k],
				        (int)outlen, out);
				abort();
			}
		}
		if (rc != STEPUP_OK) {
			/* Refused (a schema of its own): the error object is the
			 * answer, and a bundle round trip must give the same. */
			keep_answer(i, out, outlen, want, got);
			continue;
		}
		CHECK(stepup_decision_outcome(d) <= STEPUP_RED);
		for (size_t m = 0; m < stepup_decision_method_count(d); m++)
			CHECK(stepup_decision_method(d, m) < STEPUP_METHOD_COUNT);
		for (size_t f = 0; f < stepup_decision_fired_count(d); f++) {
			stepup_outcome o;
			CHECK(stepup_decision_fired_rule(d, f, &o) != NULL);
		}
		/* Also the non-explain path and the separate render. */
		rc = stepup_decide(e, r, d, 0);
		CHECK(rc == STEPUP_OK);
		size_t l2 = 0;
		CHECK(stepup_decision_json(e, r, d, &l2) != NULL);
		rc = stepup_decide_json(e, r, d, requests[i], strlen(requests[i]), STEPUP_DECIDE_EXPLAIN,
		                        &out, &outlen);
		CHECK(rc == STEPUP_OK);
		keep_answer(i, out, outlen, want, got);
	}
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(e);
}

static void exercise_ruleset(stepup_ruleset *rs)
{
	char *first[NREQ] = {0};
	void *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	char err[256];

	const char *name = stepup_ruleset_name(rs);
	CHECK(name != NULL);
	check_no_card_echo("fuzz_compile: the ruleset name", cur_input, cur_len, name, strlen(name));
	const char *rev = stepup_ruleset_revision(rs);
	CHECK(rev && strncmp(rev, "sha256:", 7) == 0 && strlen(rev) == 7 + 64);
	char *dis = stepup_ruleset_disassemble(rs);
	if (dis)
		check_no_card_echo("fuzz_compile: the disassembly", cur_input, cur_len, dis, strlen(dis));
	free(dis);

	decide_all(rs, first, NULL);

	CHECK(stepup_ruleset_serialize(rs, &b1, &l1) == STEPUP_OK);
	stepup_ruleset *back = NULL;
	int rc = stepup_ruleset_load_bundle(b1, l1, &back, err, sizeof(err));
	if (rc != STEPUP_OK) {
		fprintf(stderr, "fuzz_compile: own bundle refused: %s\n", err);
		abort();
	}
	CHECK(strcmp(stepup_ruleset_name(back), stepup_ruleset_name(rs)) == 0);
	CHECK(strcmp(stepup_ruleset_revision(back), stepup_ruleset_revision(rs)) == 0);
	CHECK(stepup_ruleset_rule_count(back) == stepup_ruleset_rule_count(rs));
	CHECK(stepup_ruleset_serialize(back, &b2, &l2) == STEPUP_OK);
	CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);

	decide_all(back, NULL, first);

	/* Truncations of a good bundle must be refused, never crash. */
	size_t cuts[] = { 0, 7, BUNDLE_HEADER - 1, BUNDLE_HEADER, l1 / 2, l1 - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		stepup_ruleset *t = NULL;
		if (cuts[i] >= l1)
			continue;
		CHECK(stepup_ruleset_load_bundle(b1, cuts[i], &t, err, sizeof(err)) != STEPUP_OK);
		CHECK(t == NULL);
	}

	stepup_ruleset_unref(back);
	for (size_t i = 0; i < NREQ; i++)
		free(first[i]);
	free(b1);
	free(b2);
}

static void fuzz_bundle(const uint8_t *data, size_t size)
{
	char err[256];
	stepup_ruleset *rs = NULL;

	/* As given (checksum usually wrong: the refusal path). */
	int rc = stepup_ruleset_load_bundle(data, size, &rs, err, sizeof(err));
	if (rc == STEPUP_OK) {
		exercise_ruleset(rs);
		stepup_ruleset_unref(rs);
		return;
	}
	CHECK(rs == NULL);
	check_no_card_echo("fuzz_compile: a bundle refusal", data, size, err, strlen(err));
	if (size < BUNDLE_HEADER)
		return;

	/* Patched so the checksum holds: the decoder and verifier see it all. */
	uint8_t *b = malloc(size);
	CHECK(b);
	memcpy(b, data, size);
	uint64_t body = size - BUNDLE_HEADER;
	for (int i = 0; i < 8; i++)
		b[16 + i] = (uint8_t)(body >> (8 * i));
	unsigned dl = 0;
	CHECK(EVP_Digest(b + BUNDLE_HEADER, (size_t)body, b + 24, &dl, EVP_sha256(), NULL) == 1);
	rc = stepup_ruleset_load_bundle(b, size, &rs, err, sizeof(err));
	if (rc == STEPUP_OK) {
		exercise_ruleset(rs);
		stepup_ruleset_unref(rs);
	} else {
		CHECK(rs == NULL);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		check_no_card_echo("fuzz_compile: a bundle refusal", data, size, err, strlen(err));
	}
	free(b);
}

/* ---- Known bugs the fuzzer may be told to step around -----------------
 * STEPUP_FUZZ_AVOID (a comma-separated list, set by fuzz/run.sh while
 * fuzzing, never while replaying regressions) names bugs already reported,
 * so that one shallow crash does not stop the search for others:
 *   only-line  a syntax error right after "step_up only X line" freed the
 *              'only' list twice (fuzz/regressions/compile-uaf-only-line;
 *              fixed in 8447709, kept as an example).
 * Drop a name from run.sh's default once its bug is fixed. */
static int avoid(const char *name)
{
	static const char *list;
	static int init;
	if (!init) {
		list = getenv("STEPUP_FUZZ_AVOID");
		init = 1;
	}
	if (!list)
		return 0;
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

static int is_word_at(const char *s, size_t len, size_t i, const char *w)
{
	size_t n = strlen(w);
	if (i + n > len || memcmp(s + i, w, n) != 0)
		return 0;
	int before = i > 0 && (s[i - 1] == '_' || s[i - 1] == '.' || (s[i - 1] >= '0' && s[i - 1] <= '9') ||
	                       ((s[i - 1] | 32) >= 'a' && (s[i - 1] | 32) <= 'z'));
	char a = i + n < len ? s[i + n] : ' ';
	int after = a == '_' || a == '.' || (a >= '0' && a <= '9') || ((a | 32) >= 'a' && (a | 32) <= 'z');
	return !before && !after;
}

/* "only" somewhere before a "line" that is not followed by a plain name. */
static int hits_only_line(const char *s, size_t len)
{
	static const char *const kw[] = { "ruleset", "method", "when", "always", "let", "rule", "then",
		"decline", "approve", "step_up", "only", "line", "on", "channel", "becomes", "and", "or",
		"not", "in", "has", "any", "all", "of", "is", "present", "absent", "true", "false" };
	int seen_only = 0;
	for (size_t i = 0; i < len; i++) {
		if (is_word_at(s, len, i, "only"))
			seen_only = 1;
		if (!seen_only || !is_word_at(s, len, i, "line"))
			continue;
		size_t j = i + 4;
		while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
			j++;
		if (j >= len || !(s[j] == '_' || ((s[j] | 32) >= 'a' && (s[j] | 32) <= 'z')))
			return 1;
		for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
			if (is_word_at(s, len, j, kw[k]))
				return 1;
	}
	return 0;
}

static void fuzz_source(const uint8_t *data, size_t size)
{
	if (avoid("only-line") && hits_only_line((const char *)data, size))
		return;

	static const char sep[] = "\n#@file\n";
	const size_t seplen = sizeof(sep) - 1;
	static const char *const names[] = { "fuzz.rules", "second.rules", "third.rules", "fourth.rules" };
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	const char *p = (const char *)data, *end = p + size;
	int nfiles = 0;

	CHECK(c);
	while (nfiles < 4) {
		const char *cut = nfiles < 3 ? memmem(p, (size_t)(end - p), sep, seplen) : NULL;
		size_t len = cut ? (size_t)(cut - p) + 1 : (size_t)(end - p);
		int rc = stepup_compiler_add_source(c, names[nfiles++], p, len);
		CHECK(rc == STEPUP_OK || rc == STEPUP_ECOMPILE);
		if (!cut)
			break;
		p = cut + seplen;
	}

	int rc = stepup_compiler_compile(c, &rs);
	size_t nd = stepup_compiler_diag_count(c), ne = stepup_compiler_error_count(c);
	CHECK(ne <= nd);
	if (rc == STEPUP_OK) {
		CHECK(rs != NULL);
		CHECK(ne == 0);
	} else {
		CHECK(rc == STEPUP_ECOMPILE);
		CHECK(rs == NULL);
		CHECK(ne > 0);
	}
	CHECK(stepup_compiler_diag(c, nd) == NULL);

	char small[16], big[8192];
	for (size_t i = 0; i < nd; i++) {
		const stepup_diag *g = stepup_compiler_diag(c, i);
		CHECK(g && g->file && g->message);
		CHECK(g->severity <= STEPUP_DIAG_NOTE);
		check_no_card_echo("fuzz_compile: a diagnostic's message", data, size, g->message,
		                   strlen(g->message));
		size_t need = stepup_compiler_render_diag(c, i, small, sizeof(small));
		CHECK(memchr(small, '\0', sizeof(small)) != NULL);
		size_t need2 = stepup_compiler_render_diag(c, i, big, sizeof(big));
		CHECK(need == need2);
		if (need < sizeof(big)) {
			CHECK(strlen(big) == need);
			CHECK(strncmp(small, big, sizeof(small) - 1) == 0);
		}
		check_no_card_echo("fuzz_compile: a rendered diagnostic", data, size, big, strlen(big));
		/* Size 0 must not write. */
		CHECK(stepup_compiler_render_diag(c, i, NULL, 0) == need);
	}

	if (rs) {
		exercise_ruleset(rs);
		stepup_ruleset_unref(rs);
	}
	stepup_compiler_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cur_input = data;
	cur_len = size;
	if (size >= 8 && memcmp(data, BUNDLE_MAGIC, 8) == 0)
		fuzz_bundle(data, size);
	else
		fuzz_source(data, size);
	return 0;
}
