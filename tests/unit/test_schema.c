/* test_schema.c: the request schema as data (issue 10): field
 * declarations, their decoding and validation, defaults and derivations,
 * big and deep schemas, bundles that carry their schema, handles that
 * remember their engine, and the schema's public description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_cases.h"
#include "helpers.h"

/* ---- data-driven cases (tests/dsl/schema) -------------------------------- */

#define SCHEMA_DSL_FILES(X)            \
	X("schema/ok.rules")           \
	X("schema/errors.rules")

static const char *const dsl_dirs[] = { "schema" };
static const char *const dsl_listed[] = { SCHEMA_DSL_FILES(DC_LISTED) };
static DC_SUITE(dsl_suite, "test_schema.c", dsl_dirs, dsl_listed);

/* ---- helpers -------------------------------------------------------------- */

static stepup_engine *engine_of(const char *src)
{
	return th_engine(src, th_settings_full);
}

/* Decide `json` on e: the outcome letter string (th_summary), or the error. */
static void expect(const stepup_engine *e, const char *json, const char *want)
{
	th_result r = th_decide(e, json);
	char got[512];
	if (r.rc == STEPUP_OK)
		th_summary(&r, got, sizeof(got));
	else
		snprintf(got, sizeof(got), "%s", r.json ? r.json : "(no output)");
	if (!strstr(got, want))
		fail_msg("%s\n  got  %s\n  want %s", json, got, want);
	th_result_free(&r);
}

/* ---- the analyst's field, with no C change --------------------------------- */

static const char *const age_rules =
	"ruleset \"age\"\n"
	"field wallet.account_age_days int\n"
	"rule young_wallet \"The wallet account is younger than 30 days\"\n"
	"  when wallet.account_age_days < 30 then step_up\n"
	"method CUSTOMER_SERVICE always\n";

static void analyst_declares_a_field(void **state)
{
	(void)state;
	stepup_engine *e = engine_of(age_rules);
	expect(e, "{\"request_id\":\"a\",\"wallet\":{\"account_age_days\":29}}", "YELLOW young_wallet");
	expect(e, "{\"request_id\":\"a\",\"wallet\":{\"account_age_days\":30}}", "GREEN");
	expect(e, "{\"request_id\":\"a\"}", "GREEN");
	expect(e, "{\"request_id\":\"a\",\"wallet\":{\"account_age_days\":\"abc\"}}",
	       "\"field\":\"wallet.account_age_days\"");
	/* Ints are not strings unless declared `from string`. */
	expect(e, "{\"request_id\":\"a\",\"wallet\":{\"account_age_days\":\"29\"}}",
	       "wallet.account_age_days: expected an integer");
	stepup_engine_free(e);
}

/* ---- every kind of declared field ------------------------------------------ */

static void declared_kinds_decide(void **state)
{
	(void)state;
	char *src = NULL;
	size_t len = 0;
	FILE *f = fopen(SRCDIR "/tests/dsl/schema/ok.rules", "r");
	assert_non_null(f);
	char buf[8192];
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	src = buf;
	stepup_engine *e = engine_of(src);

	/* 4 levels deep, and an int sent as text. */
	expect(e, "{\"request_id\":\"a\",\"issuer\":{\"risk\":{\"model\":{\"score\":\"950\"}}}}", "RED new_customer,model,branch");
	expect(e, "{\"request_id\":\"a\",\"issuer\":{\"risk\":{\"model\":{\"score\":899}}}}", "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"issuer\":{\"risk\":{\"model\":{\"score\":\"1001\"}}}}",
	       "issuer.risk.model.score: out of range (0 to 1000)");
	expect(e, "{\"request_id\":\"a\",\"issuer\":{\"risk\":{\"model\":\"x\"}}}", "issuer.risk.model: expected an object");
	/* A list of strings, tested with has, beside an enum. */
	expect(e, "{\"request_id\":\"a\",\"device\":{\"form_factor\":\"TABLET\",\"tags\":[\"x\",\"rooted\"]}}",
	       "RED rooted_tablet,new_customer,branch");
	expect(e, "{\"request_id\":\"a\",\"device\":{\"form_factor\":\"PHONE\",\"tags\":[\"rooted\"]}}", "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"device\":{\"tags\":\"rooted\"}}", "device.tags: expected an array of strings");
	/* The default schema's form factor is an open list: other values read
	 * as none of them, and are no error. */
	expect(e, "{\"request_id\":\"a\",\"device\":{\"form_factor\":\"PHABLET\",\"tags\":[\"rooted\"]}}",
	       "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	/* Bool and string fields, and their defaults. */
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"vip\":true,\"segment\":\"gold\",\"branch\":\"NYC\"}}", "YELLOW vip,new_customer -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"branch\":\"NYC\"}}", "YELLOW new_customer -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"branch\":\"X\"}}", "customer.branch: shorter than 2 bytes");
	/* tenure defaults to 0 (< 90) and the product to CLASSIC, so
	 * new_customer fires on a request that carries neither; the branch
	 * defaults to "HQ", so branch fires unless another one is sent. */
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"segment\":\"x\"}}", "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"tenure_days\":100}}", "GREEN branch");
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"tenure_days\":10,\"product\":\"PLATINUM\"}}", "GREEN branch");
	/* An open enum's default applies only when the field is absent. */
	expect(e, "{\"request_id\":\"a\",\"customer\":{\"tenure_days\":10,\"product\":\"DIAMOND\"}}",
	       "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	/* A code list: a named code that nobody declared still counts. */
	expect(e, "{\"request_id\":\"a\",\"issuer\":{\"flags\":[\"NOT_YET_KNOWN\"]}}", "YELLOW new_customer,staff,branch -> CUSTOMER_SERVICE");
	/* card.bin: the first 8 digits of a 16-digit PAN, 6 of a shorter one;
	 * customer.flagged defaults to false, so `not customer.flagged` holds. */
	expect(e, "{\"request_id\":\"a\",\"card\":{\"pan\":\"4111111111111111\"}}", "YELLOW new_customer,bin,branch -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"card\":{\"pan\":\"378282246310005\"}}", "YELLOW new_customer,bin,branch -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"card\":{\"pan\":\"5555555555554444\"}}", "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	expect(e, "{\"request_id\":\"a\",\"card\":{\"pan\":\"4111111111111111\"},\"customer\":{\"flagged\":true}}",
	       "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	/* A derived field is never read from the request. */
	expect(e, "{\"request_id\":\"a\",\"card\":{\"bin\":\"41111111\"}}", "YELLOW new_customer,branch -> CUSTOMER_SERVICE");
	/* Digits only, within the length. */
	expect(e, "{\"request_id\":\"a\",\"issuer\":{\"reference\":\"12a4\"}}", "issuer.reference: must be 4 to 12 digits");
	stepup_engine_free(e);
}

/* ---- a big schema: 100 declared fields, 20 in a request -------------------- */

static void hundred_fields_twenty_carried(void **state)
{
	(void)state;
	size_t cap = 64 * 1024, n = 0;
	char *src = malloc(cap), *req = malloc(cap);
	assert_non_null(src);
	assert_non_null(req);
	n += (size_t)snprintf(src + n, cap - n, "ruleset \"big\"\nmethod CUSTOMER_SERVICE always\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(src + n, cap - n, "field big.g%d.f%03d int 0..1000\n", i % 7, i);
	/* Rules on fields far beyond the first 64 slots. */
	for (int i = 0; i < 100; i += 9)
		n += (size_t)snprintf(src + n, cap - n, "rule r%03d when big.g%d.f%03d == %d then step_up\n", i, i % 7, i, i);
	stepup_engine *e = engine_of(src);
	size_t m = (size_t)snprintf(req, cap, "{\"request_id\":\"a\",\"big\":{");
	for (int g = 0; g < 7; g++) {
		m += (size_t)snprintf(req + m, cap - m, "%s\"g%d\":{", g ? "," : "", g);
		int first = 1;
		for (int i = g; i < 100; i += 7)
			if (i % 5 == 0) {  /* 20 of the 100 fields */
				m += (size_t)snprintf(req + m, cap - m, "%s\"f%03d\":%d", first ? "" : ",", i, i);
				first = 0;
			}
		m += (size_t)snprintf(req + m, cap - m, "}");
	}
	snprintf(req + m, cap - m, "}}");
	/* Carried and equal: i % 5 == 0 and i % 9 == 0, i.e. 0 and 45 and 90. */
	expect(e, req, "YELLOW r000,r045,r090");
	stepup_engine_free(e);
	free(src);
	free(req);
}

/* ---- errors that need the default schema ------------------------------------ */

static void redeclaring_a_default_field(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src("field card.state string\nrule a when card.state == \"X\" then decline\n");
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "t.rules", 1, 18,
	               "field 'card.state' is declared as string here but as enum {ACTIVE, INACTIVE, SUSPENDED, CLOSED} "
	               "in schema/tokenization.rules:");
	dc_expect_diag(&k, 1, STEPUP_DIAG_NOTE, "schema/tokenization.rules", 13, 7, "first declared here");
	dc_free(&k);

	/* The same type again, narrower: fine. */
	k = dc_compile_src("field wallet.device_score \"The device score\" int 2..5\n"
	                   "rule a when wallet.device_score == 2 then decline\n");
	dc_expect_ok(&k);
	dc_free(&k);
	k = dc_compile_src("field wallet.device_score int 0..9\nrule a when wallet.device_score == 2 then decline\n");
	dc_expect_one_error(&k, 1, 31, "a later declaration may only narrow it");
	dc_free(&k);

	/* Secrets never cross to a plugin's summary or a role. */
	k = dc_compile_src("field card.pan summary\nrule a when card.state == CLOSED then decline\n");
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	dc_free(&k);
}

static void unknown_field_messages(void **state)
{
	(void)state;
	static const dc_one_error cases[] = {
		{ "rule a when card.stat == ACTIVE then decline\n", 1, 13,
		  "unknown field 'card.stat'; did you mean 'card.state'?", 0 },
		/* Nothing close: what lies under the prefix. */
		{ "rule a when device.screen_size_inches > 3 then decline\n", 1, 13,
		  "unknown field 'device.screen_size_inches' (fields under 'device': device.form_factor, device.os, "
		  "device.language)", 0 },
		{ "rule a when zzz.qqq.www > 3 then decline\n", 1, 13,
		  "unknown field 'zzz.qqq.www' (declare it: field zzz.qqq.www TYPE)", 0 },
	};
	dc_expect_one_error_each(cases, TH_N(cases));
}

/* ---- schema none ----------------------------------------------------------- */

static void a_schema_of_its_own(void **state)
{
	(void)state;
	stepup_engine *e = engine_of("schema none\n"
	                             "field requestId string format id length 1..64 required role request_id\n"
	                             "field tokenType enum {CLOUD, EMBEDDED_SE, CARD_ON_FILE} role channel "
	                             "merchant {CARD_ON_FILE}\n"
	                             "field walletProviderDecisioningInfo.deviceScore int 1..5 from string\n"
	                             "method CUSTOMER_SERVICE always\n"
	                             "rule low when walletProviderDecisioningInfo.deviceScore < 3 then step_up\n"
	                             "on channel CARD_ON_FILE step_up becomes approve\n");
	expect(e, "{\"requestId\":\"m1\",\"walletProviderDecisioningInfo\":{\"deviceScore\":\"2\"}}",
	       "YELLOW low -> CUSTOMER_SERVICE");
	expect(e, "{\"requestId\":\"m1\",\"tokenType\":\"CARD_ON_FILE\",\"walletProviderDecisioningInfo\":{\"deviceScore\":\"2\"}}",
	       "GREEN low");
	/* The default schema is gone: its fields are unknown, their JSON ignored. */
	expect(e, "{\"requestId\":\"m1\",\"card\":{\"state\":\"NOPE\"}}", "GREEN");
	expect(e, "{\"tokenType\":\"CLOUD\"}", "requestId: required");
	th_result r = th_decide(e, "{\"requestId\":\"m1\"}");
	assert_int_equal(r.rc, STEPUP_OK);
	assert_non_null(strstr(r.json, "\"request_id\":\"m1\""));
	th_result_free(&r);
	stepup_engine_free(e);

	dc_comp k = dc_compile_src("schema none\nrule a when card.state == CLOSED then decline\n");
	dc_expect_one_error(&k, 2, 13, "unknown field 'card.state'");
	dc_free(&k);
	k = dc_compile_src("schema mdes2\nrule a when card.state == CLOSED then decline\n");
	dc_expect_one_error(&k, 1, 8, "unknown schema 'mdes2'");
	dc_free(&k);
}

/* ---- bundles carry their schema --------------------------------------------- */

static void bundle_carries_the_schema(void **state)
{
	(void)state;
	stepup_ruleset *rs = th_compile("t.rules", age_rules, NULL), *back = NULL;
	void *data;
	size_t len;
	char err[256];
	assert_non_null(rs);
	assert_int_equal(stepup_ruleset_serialize(rs, &data, &len), STEPUP_OK);
	assert_int_equal(stepup_ruleset_load_bundle(data, len, &back, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_ruleset_schema_fingerprint(back), stepup_ruleset_schema_fingerprint(rs));
	stepup_engine *e;
	assert_int_equal(stepup_engine_new(back, th_settings_full, &e, err, sizeof(err)), STEPUP_OK);
	expect(e, "{\"request_id\":\"a\",\"wallet\":{\"account_age_days\":29}}", "YELLOW young_wallet");
	stepup_engine_free(e);
	stepup_ruleset_unref(back);
	free(data);
	stepup_ruleset_unref(rs);
}

/* Bundles of format 2 (tests/data/legacy) decide as their sources do,
 * with the quoted codes of their day in the bits of their day. */
static void format_2_bundles_decide_as_before(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
		{ "/tests/data/legacy/v2.bundle", "/tests/data/legacy/v2.rules" },
		{ "/tests/data/legacy/default.v2.bundle", "/rules/default.rules" },
	};
	char err[512];
	for (size_t p = 0; p < TH_N(pairs); p++) {
		stepup_ruleset *a = NULL, *b = NULL;
		char pa[512], pb[512];
		snprintf(pa, sizeof(pa), "%s%s", SRCDIR, pairs[p][0]);
		snprintf(pb, sizeof(pb), "%s%s", SRCDIR, pairs[p][1]);
		if (stepup_ruleset_load(pa, &a, err, sizeof(err)) != STEPUP_OK ||
		    stepup_ruleset_load(pb, &b, err, sizeof(err)) != STEPUP_OK)
			fail_msg("%s", err);
		assert_string_equal(stepup_ruleset_revision(a), stepup_ruleset_revision(b));
		stepup_engine *ea, *eb;
		assert_int_equal(stepup_engine_new(a, th_settings_full, &ea, err, sizeof(err)), STEPUP_OK);
		assert_int_equal(stepup_engine_new(b, th_settings_full, &eb, err, sizeof(err)), STEPUP_OK);
		FILE *f = fopen(SRCDIR "/tests/data/legacy/requests.jsonl", "r");
		assert_non_null(f);
		char line[4096];
		unsigned n = 0;
		while (fgets(line, sizeof(line), f)) {
			th_result x = th_decide(ea, line), y = th_decide(eb, line);
			char sx[512] = "", sy[512] = "";
			assert_int_equal(x.rc, y.rc);
			if (x.rc == STEPUP_OK) {
				th_summary(&x, sx, sizeof(sx));
				th_summary(&y, sy, sizeof(sy));
				if (strcmp(sx, sy) != 0)
					fail_msg("%s: %s\n  bundle %s\n  source %s", pairs[p][0], line, sx, sy);
			}
			th_result_free(&x);
			th_result_free(&y);
			n++;
		}
		fclose(f);
		assert_true(n > 1000);
		stepup_engine_free(ea);
		stepup_engine_free(eb);
		stepup_ruleset_unref(a);
		stepup_ruleset_unref(b);
	}
}

/* ---- handles remember their origin ----------------------------------------- */

static void handles_know_their_engine(void **state)
{
	(void)state;
	stepup_engine *a = engine_of(age_rules), *b = th_default_engine();
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *req = "{\"request_id\":\"x\",\"wallet\":{\"account_age_days\":3}}";
	size_t len = 99;
	assert_int_equal(stepup_request_parse(r, a, req, strlen(req), NULL, 0), STEPUP_OK);
	/* Decoded for a: another engine refuses it. */
	assert_int_equal(stepup_decide(b, r, d, 0), STEPUP_EINVAL);
	assert_int_equal(stepup_decide(a, r, d, 0), STEPUP_OK);
	/* Decided by a: another engine does not render it (it used to read
	 * out of bounds, then loop forever). */
	assert_null(stepup_decision_json(b, r, d, &len));
	assert_int_equal(len, 0);
	assert_non_null(stepup_decision_json(a, r, d, &len));
	/* A fresh decision was decided by nobody. */
	stepup_decision *fresh = stepup_decision_new();
	assert_null(stepup_decision_json(a, r, fresh, &len));
	stepup_decision_free(fresh);
	stepup_decision_free(d);
	stepup_request_free(r);
	stepup_engine_free(a);
	stepup_engine_free(b);
}

/* ---- the schema's public description ---------------------------------------- */

static void schema_is_described(void **state)
{
	(void)state;
	stepup_ruleset *rs = th_compile("t.rules", age_rules, NULL);
	assert_non_null(rs);
	size_t n = stepup_ruleset_field_count(rs), secrets = 0, found = 0;
	assert_true(n >= 27);
	for (size_t i = 0; i < n; i++) {
		stepup_field_info fi;
		assert_int_equal(stepup_ruleset_field(rs, i, &fi), STEPUP_OK);
		if (fi.flags & STEPUP_FIELD_SECRET)
			secrets++;
		if (strcmp(fi.path, "card.bin") == 0) {
			found++;
			assert_string_equal(fi.type, "string");
			assert_false(fi.flags & STEPUP_FIELD_SECRET);
			assert_string_equal(fi.derived, "bin(card.pan)");
		}
		if (strcmp(fi.path, "end_user.phone") == 0) {
			found++;
			assert_string_equal(fi.role, "contact OTP_SMS");
			assert_string_equal(fi.format, "phone");
		}
		if (strcmp(fi.path, "card.state") == 0) {
			found++;
			assert_string_equal(fi.type, "enum");
			assert_int_equal(fi.nvalues, 4);
			assert_string_equal(stepup_ruleset_field_value(rs, i, 3), "CLOSED");
		}
	}
	assert_int_equal(found, 3);
	assert_int_equal(secrets, 2);  /* card.pan and card.csc */
	stepup_field_info fi;
	assert_int_equal(stepup_ruleset_field(rs, n, &fi), STEPUP_EINVAL);
	assert_int_equal(strlen(stepup_ruleset_schema_fingerprint(rs)), 7 + 64);
	stepup_ruleset_unref(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SCHEMA_DSL_FILES(DC_CASE)
		DC_ALL_LISTED(dsl_suite),
		cmocka_unit_test(analyst_declares_a_field),
		cmocka_unit_test(declared_kinds_decide),
		cmocka_unit_test(hundred_fields_twenty_carried),
		cmocka_unit_test(redeclaring_a_default_field),
		cmocka_unit_test(unknown_field_messages),
		cmocka_unit_test(a_schema_of_its_own),
		cmocka_unit_test(bundle_carries_the_schema),
		cmocka_unit_test(format_2_bundles_decide_as_before),
		cmocka_unit_test(handles_know_their_engine),
		cmocka_unit_test(schema_is_described),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
