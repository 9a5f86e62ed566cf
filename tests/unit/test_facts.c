/* test_facts.c: what a ruleset reads and the replay-safe facts of a
 * request (engine/facts.c).
 *
 * The facts writer is a boundary: what it writes goes to the decision log
 * and the shadow log. So beside the uses it finds, the tests check that no
 * secret and no contact beyond its kept suffix ever comes out, in either
 * mode, and that what is written decodes back to the same decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const full_request =
	"{\"request_id\":\"r-1\",\"channel\":\"XPAY_WALLET\",\"tsp\":\"MDES\","
	"\"card\":{\"pan\":\"4111111111111111\",\"csc\":\"123\",\"state\":\"ACTIVE\",\"capture_method\":\"MANUAL\","
	"\"csc_result\":\"MATCH\",\"active_tokens\":2},"
	"\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\",\"app_enrolled\":true},"
	"\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":4,\"reason_codes\":[\"ACCOUNT_TOO_NEW\",\"NOPE\"],"
	"\"device_country\":\"US\"},\"token_requestor\":{\"id\":\"50110030273\"}}";

static long field(const stepup_ruleset *rs, const char *path)
{
	stepup_field_info fi;
	for (size_t i = 0; i < stepup_ruleset_field_count(rs); i++)
		if (stepup_ruleset_field(rs, i, &fi) == STEPUP_OK && strcmp(fi.path, path) == 0)
			return (long)i;
	fail_msg("no field %s", path);
	return -1;
}

static unsigned reads(const stepup_ruleset *rs, const char *path)
{
	return stepup_ruleset_field_reads(rs, (size_t)field(rs, path));
}

/* Whether field `path` has the use (how, other field or -1, length). */
static int has_use(const stepup_ruleset *rs, const char *path, unsigned how, const char *other, size_t length)
{
	stepup_field_use u[16];
	size_t n = stepup_ruleset_field_uses(rs, (size_t)field(rs, path), u, 16);
	long o = other ? field(rs, other) : -1;
	for (size_t i = 0; i < n && i < 16; i++)
		if (u[i].how == how && u[i].other == o && u[i].length == length)
			return 1;
	return 0;
}

static void test_default_reads(void **state)
{
	(void)state;
	const stepup_ruleset *rs = stepup_engine_ruleset(th_default);
	assert_int_equal(reads(rs, "card.state"), STEPUP_READS_VALUE | STEPUP_READS_PRESENCE);
	assert_int_equal(reads(rs, "channel"), STEPUP_READS_VALUE);
	/* phone_mismatch: presence, and ends_with(phone, wallet.phone_suffix). */
	assert_int_equal(reads(rs, "end_user.phone"), STEPUP_READS_PRESENCE | STEPUP_READS_SUFFIX);
	assert_true(has_use(rs, "end_user.phone", STEPUP_READS_SUFFIX, "wallet.phone_suffix", 0));
	assert_int_equal(reads(rs, "wallet.phone_suffix"), STEPUP_READS_VALUE | STEPUP_READS_PRESENCE);
	/* The e-mail only for OTP_EMAIL's availability. */
	assert_int_equal(reads(rs, "end_user.email"), STEPUP_READS_PRESENCE);
	assert_int_equal(reads(rs, "card.pan"), 0);
	assert_int_equal(reads(rs, "card.csc"), 0);
	assert_int_equal(reads(rs, "wallet.device_country"), 0);
	assert_int_equal(reads(rs, "request_id"), 0);
	/* The codes the mask keeps, in bit order. */
	size_t rc = (size_t)field(rs, "wallet.reason_codes");
	assert_string_equal(stepup_ruleset_field_code(rs, rc, 0), "ACCOUNT_TOO_NEW");
	assert_null(stepup_ruleset_field_code(rs, rc, 64));
	assert_null(stepup_ruleset_field_code(rs, (size_t)field(rs, "card.state"), 0));
}

static void test_general_loop_reads(void **state)
{
	(void)state;
	char *diags = NULL;
	stepup_ruleset *rs = th_compile("t.rules",
		"ruleset \"t\"\n"
		"rule a when ends_with(end_user.email, \"@x.com\") and length(end_user.phone) > 3 then step_up\n"
		"rule b when end_user.phone == wallet.phone_suffix or starts_with(token_requestor.id, \"501\")\n"
		"  then decline\n"
		"rule c when wallet.device_country in {\"US\", \"CA\"} and not (card.pan is present) then decline\n",
		&diags);
	if (!rs)
		fail_msg("%s", diags);
	free(diags);
	assert_true(has_use(rs, "end_user.email", STEPUP_READS_SUFFIX, NULL, 6));
	assert_true(has_use(rs, "end_user.phone", STEPUP_READS_VALUE, NULL, 0));
	assert_true(has_use(rs, "end_user.phone", STEPUP_READS_EQUALITY, "wallet.phone_suffix", 0));
	assert_true(has_use(rs, "wallet.phone_suffix", STEPUP_READS_EQUALITY, "end_user.phone", 0));
	assert_int_equal(reads(rs, "token_requestor.id"), STEPUP_READS_VALUE);
	assert_int_equal(reads(rs, "wallet.device_country"), STEPUP_READS_VALUE);
	assert_int_equal(reads(rs, "card.pan"), STEPUP_READS_PRESENCE);
	stepup_rule_info ri;
	assert_int_equal(stepup_ruleset_rule(rs, 1, &ri), STEPUP_OK);
	assert_string_equal(ri.name, "b");
	assert_int_equal(ri.outcome, STEPUP_RED);
	assert_int_equal(stepup_ruleset_rule(rs, 3, &ri), STEPUP_EINVAL);
	stepup_ruleset_unref(rs);
}

static void test_rule_info(void **state)
{
	(void)state;
	const stepup_ruleset *rs = stepup_engine_ruleset(th_default);
	stepup_rule_info ri;
	size_t n = stepup_ruleset_rule_count(rs), found = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(stepup_ruleset_rule(rs, i, &ri), STEPUP_OK);
		if (strcmp(ri.name, "suspicious_device") == 0) {
			found++;
			assert_int_equal(ri.outcome, STEPUP_YELLOW);
			assert_int_equal(ri.methods, 1u << STEPUP_CUSTOMER_SERVICE);
			assert_true(ri.fraud);
			assert_string_equal(ri.file, "default.rules");
			assert_true(ri.line > 0);
		}
		if (strcmp(ri.name, "phone_mismatch") == 0) {
			found++;
			assert_int_equal(ri.methods, 0xfu);
			assert_false(ri.fraud);
		}
	}
	assert_int_equal(found, 2);
}

/* The facts of `json` decided on e, written by f (malloc'd). */
static char *facts_of(const stepup_engine *e, const stepup_facts *f, const char *json)
{
	stepup_request *r = stepup_request_new();
	char err[256];
	if (stepup_request_parse(r, e, json, strlen(json), err, sizeof(err)) != STEPUP_OK)
		fail_msg("%s", err);
	size_t n = stepup_facts_write(f, r, NULL, 0);
	assert_true(n > 0);
	char *buf = malloc(n + 1);
	assert_int_equal(stepup_facts_write(f, r, buf, n + 1), n);
	assert_int_equal(strlen(buf), n);
	/* Truncated output is terminated and says what it needed. */
	char small[16];
	assert_int_equal(stepup_facts_write(f, r, small, sizeof(small)), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	stepup_request_free(r);
	return buf;
}

/* Nothing secret, nothing of a contact beyond what may be kept. */
static void no_secrets(const char *out)
{
	static const char *const never[] = { "4111111111111111", "411111", "\"123\"", "csc\"", "pan\"",
		"4155551234", "+1415", "jane", "doe", "r-1" };
	for (size_t i = 0; i < TH_N(never); i++)
		if (strstr(out, never[i]))
			fail_msg("\"%s\" in the facts: %s", never[i], out);
}

static void test_write_read_mode(void **state)
{
	(void)state;
	stepup_facts *f = NULL;
	char err[128];
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(th_default), STEPUP_FACTS_READ, NULL, 0, &f, err,
	                                  sizeof(err)), STEPUP_OK);
	char *out = facts_of(th_default, f, full_request);
	no_secrets(out);
	char wrapped[4096];
	snprintf(wrapped, sizeof(wrapped), "{%s}", out);
	json_t *j = th_json(wrapped), *facts = json_object_get(j, "facts");
	assert_string_equal(json_string_value(json_object_get(json_object_get(facts, "card"), "state")), "ACTIVE");
	assert_string_equal(json_string_value(json_object_get(facts, "channel")), "XPAY_WALLET");
	/* Unread fields are not kept in "read" mode; the unknown code is not
	 * in the mask. */
	assert_null(json_object_get(json_object_get(facts, "wallet"), "device_country"));
	assert_null(json_object_get(facts, "tsp"));
	json_t *codes = json_object_get(json_object_get(facts, "wallet"), "reason_codes");
	assert_int_equal(json_array_size(codes), 1);
	json_t *red = json_object_get(j, "reduced");
	assert_string_equal(json_string_value(json_object_get(json_object_get(red, "end_user.phone"), "suffix")),
	                    "1234");
	assert_int_equal(json_object_size(json_object_get(red, "end_user.email")), 0);
	json_decref(j);
	free(out);

	const char *plan = stepup_facts_plan(f);
	j = th_json(plan);
	assert_string_equal(json_string_value(json_object_get(j, "mode")), "read");
	assert_int_equal(json_array_size(json_object_get(j, "omitted")), 2);
	assert_non_null(json_object_get(json_object_get(j, "contacts"), "end_user.phone"));
	assert_non_null(strstr(plan, "\"card.state\""));
	assert_null(strstr(plan, "\"card.pan\",\"card.state"));
	json_decref(j);
	stepup_facts_free(f);
}

static void test_write_declared_mode(void **state)
{
	(void)state;
	stepup_facts *f = NULL;
	char err[128];
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(th_default), STEPUP_FACTS_DECLARED, NULL, 0, &f,
	                                  err, sizeof(err)), STEPUP_OK);
	char *out = facts_of(th_default, f, full_request);
	no_secrets(out);
	assert_non_null(strstr(out, "\"device_country\":\"US\""));
	assert_non_null(strstr(out, "\"tsp\":\"MDES\""));
	assert_non_null(strstr(out, "\"token_requestor\":{\"id\":\"50110030273\"}"));
	free(out);
	stepup_facts_free(f);
}

/* A suffix longer than the masked form shows is withheld; an e-mail's
 * domain may be kept; the whole contact never. */
static void test_suffix_limits(void **state)
{
	(void)state;
	stepup_engine *e = th_engine("ruleset \"t\"\n"
	                             "rule a when not ends_with(end_user.phone, wallet.phone_suffix) then step_up\n"
	                             "rule b when ends_with(end_user.email, \"@example.com\") then step_up\n"
	                             "rule c when ends_with(end_user.email, \"doe@example.com\") then step_up\n",
	                             NULL);
	stepup_facts *f = NULL;
	char err[128];
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(e), STEPUP_FACTS_READ, NULL, 0, &f, err,
	                                  sizeof(err)), STEPUP_OK);
	char *out = facts_of(e, f, "{\"request_id\":\"x\",\"end_user\":{\"phone\":\"+14155551234\","
	                           "\"email\":\"jane.doe@example.com\"},\"wallet\":{\"phone_suffix\":\"551234\"}}");
	no_secrets(out);
	assert_non_null(strstr(out, "\"end_user.phone\":{\"suffix_withheld\":6}"));
	/* The longer constant wins, and is more than the domain: withheld. */
	assert_non_null(strstr(out, "\"end_user.email\":{\"suffix_withheld\":15}"));
	free(out);
	/* A suffix as long as the phone: withheld too. */
	out = facts_of(e, f, "{\"request_id\":\"x\",\"end_user\":{\"phone\":\"+1234\"},"
	                     "\"wallet\":{\"phone_suffix\":\"1234\"}}");
	assert_non_null(strstr(out, "\"end_user.phone\":{\"suffix_withheld\":4}"));
	free(out);
	stepup_facts_free(f);
	stepup_engine_free(e);

	e = th_engine("ruleset \"t\"\nrule b when ends_with(end_user.email, \"@example.com\") then step_up\n", NULL);
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(e), STEPUP_FACTS_READ, NULL, 0, &f, err,
	                                  sizeof(err)), STEPUP_OK);
	out = facts_of(e, f, "{\"request_id\":\"x\",\"end_user\":{\"email\":\"jane.doe@example.com\"}}");
	assert_non_null(strstr(out, "\"end_user.email\":{\"suffix\":\"@example.com\"}"));
	no_secrets(out);
	free(out);
	stepup_facts_free(f);
	stepup_engine_free(e);
}

/* Contacts compared for equality: a keyed hash, equal for equal values. */
static void test_hash(void **state)
{
	(void)state;
	stepup_engine *e = th_engine("ruleset \"t\"\n"
	                             "rule a when end_user.phone == wallet.phone_suffix then decline\n", NULL);
	stepup_facts *f = NULL, *nokey = NULL;
	char err[128];
	static const char key[] = "0123456789abcdef0123";
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(e), STEPUP_FACTS_READ, key, sizeof(key) - 1, &f,
	                                  err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(e), STEPUP_FACTS_READ, NULL, 0, &nokey, err,
	                                  sizeof(err)), STEPUP_OK);
	const char *a = "{\"request_id\":\"x\",\"end_user\":{\"phone\":\"+14155551234\"}}";
	const char *b = "{\"request_id\":\"y\",\"end_user\":{\"phone\":\"+1 415 555 1234\"}}";
	const char *c = "{\"request_id\":\"z\",\"end_user\":{\"phone\":\"+14155551235\"}}";
	char *oa = facts_of(e, f, a), *ob = facts_of(e, f, b), *oc = facts_of(e, f, c), *on = facts_of(e, nokey, a);
	no_secrets(oa);
	assert_non_null(strstr(oa, "\"hash\":\""));
	assert_string_equal(strstr(oa, "\"hash\""), strstr(ob, "\"hash\""));  /* normalised alike */
	assert_string_not_equal(strstr(oa, "\"hash\""), strstr(oc, "\"hash\""));
	assert_null(strstr(on, "hash"));
	assert_non_null(strstr(stepup_facts_plan(f), "\"end_user.phone\":[\"presence\",\"hash\"]"));
	free(oa);
	free(ob);
	free(oc);
	free(on);
	stepup_facts_free(f);
	stepup_facts_free(nokey);
	stepup_engine_free(e);
}

/* Written facts decode back to the same decision (what replay relies on). */
static void test_round_trip(void **state)
{
	(void)state;
	stepup_facts *f = NULL;
	char err[128];
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(th_default), STEPUP_FACTS_READ, NULL, 0, &f, err,
	                                  sizeof(err)), STEPUP_OK);
	static const char *const patches[] = {
		"{}", "{\"card\":{\"state\":\"SUSPENDED\"}}", "{\"wallet\":{\"phone_suffix\":\"9999\"}}",
		"{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]}}", "{\"end_user\":{\"otp_exhausted\":true}}",
		"{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":null}}", "{\"channel\":\"ECOM_MERCHANT\","
		"\"wallet\":{\"device_score\":2}}",
	};
	for (size_t i = 0; i < TH_N(patches); i++) {
		char *req = th_patched(patches[i]);
		th_result want = th_decide(th_default, req);
		char *out = facts_of(th_default, f, req);
		/* The request again from its facts: the contacts as the replay
		 * tool rebuilds them (ending with the kept suffix). */
		char text[4096];
		snprintf(text, sizeof(text), "{%s}", out);
		json_t *j = th_json(text), *facts = json_object_get(j, "facts");
		json_object_set_new(facts, "request_id", json_string("x"));
		const char *sfx = json_string_value(json_object_get(
			json_object_get(json_object_get(j, "reduced"), "end_user.phone"), "suffix"));
		json_t *eu = json_object_get(facts, "end_user");
		if (!eu)
			json_object_set_new(facts, "end_user", eu = json_object());
		if (json_object_get(json_object_get(j, "reduced"), "end_user.phone")) {
			char ph[32];
			snprintf(ph, sizeof(ph), "+1000000000%s", sfx ? sfx : "");
			json_object_set_new(eu, "phone", json_string(ph));
		}
		if (json_object_get(json_object_get(j, "reduced"), "end_user.email"))
			json_object_set_new(eu, "email", json_string("replay@replay.invalid"));
		char *again = json_dumps(facts, JSON_COMPACT);
		th_result got = th_decide(th_default, again);
		char ws[512], gs[512];
		th_summary(&want, ws, sizeof(ws));
		th_summary(&got, gs, sizeof(gs));
		if (strcmp(ws, gs) != 0)
			fail_msg("patch %s: %s from the request, %s from its facts %s", patches[i], ws, gs, out);
		th_result_free(&want);
		th_result_free(&got);
		free(again);
		json_decref(j);
		free(out);
		free(req);
	}
	stepup_facts_free(f);
}

static void test_other_ruleset(void **state)
{
	(void)state;
	stepup_engine *e = th_engine("ruleset \"t\"\nrule a when card.state == ACTIVE then decline\n", NULL);
	stepup_facts *f = NULL;
	char err[128], buf[64];
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(e), STEPUP_FACTS_READ, NULL, 0, &f, err,
	                                  sizeof(err)), STEPUP_OK);
	stepup_request *r = stepup_request_new();
	assert_int_equal(stepup_request_parse(r, th_default, full_request, strlen(full_request), err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(stepup_facts_write(f, r, buf, sizeof(buf)), 0);
	assert_int_equal(stepup_facts_new(stepup_engine_ruleset(e), 7, NULL, 0, &f, err, sizeof(err)), STEPUP_EINVAL);
	stepup_request_free(r);
	stepup_facts_free(f);
	stepup_engine_free(e);
}

/* A request decoded once decides alike under another ruleset of the same
 * schema (shadow mode); another schema is refused, never misread. */
static void test_request_copy(void **state)
{
	(void)state;
	/* The default rules with a lower token limit: the same schema. */
	FILE *f = fopen(SRCDIR "/rules/default.rules", "r");
	assert_non_null(f);
	char *src = calloc(1, 65536), *at;
	size_t n = fread(src, 1, 65535, f);
	fclose(f);
	assert_true(n > 0 && (at = strstr(src, "let MAX_TOKENS       = 10")));
	memcpy(at + strlen("let MAX_TOKENS       = "), "2 ", 2);
	stepup_engine *same = th_engine(src, th_settings_full);
	free(src);
	stepup_engine *other = th_engine("ruleset \"o\"\nfield extra.flag bool\n"
	                                 "rule a when extra.flag then decline\n", NULL);
	stepup_request *r = stepup_request_new(), *c = stepup_request_new(), *p = stepup_request_new();
	stepup_decision *d1 = stepup_decision_new(), *d2 = stepup_decision_new();
	char err[256];
	assert_int_equal(stepup_request_parse(r, th_default, full_request, strlen(full_request), err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(stepup_request_copy(c, r, same), STEPUP_OK);
	assert_int_equal(stepup_request_parse(p, same, full_request, strlen(full_request), err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(stepup_decide(same, c, d1, 0), STEPUP_OK);
	assert_int_equal(stepup_decide(same, p, d2, 0), STEPUP_OK);
	assert_int_equal(stepup_decision_outcome(d1), STEPUP_RED);  /* too_many_tokens: 2 >= 2 */
	assert_int_equal(stepup_decision_outcome(d2), STEPUP_RED);
	assert_int_equal(stepup_decision_fired_count(d1), stepup_decision_fired_count(d2));
	assert_string_equal(stepup_request_id(c), "r-1");
	/* The copy is bound to its engine: the source's engine refuses it. */
	assert_int_equal(stepup_decide(th_default, c, d1, 0), STEPUP_EINVAL);
	assert_int_equal(stepup_request_copy(c, r, other), STEPUP_EINVAL);
	stepup_request *bad = stepup_request_new();
	assert_int_equal(stepup_request_copy(c, bad, same), STEPUP_EINVAL);  /* never decoded */
	stepup_request_free(bad);
	stepup_request_free(r);
	stepup_request_free(c);
	stepup_request_free(p);
	stepup_decision_free(d1);
	stepup_decision_free(d2);
	stepup_engine_free(same);
	stepup_engine_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_reads),
		cmocka_unit_test(test_general_loop_reads),
		cmocka_unit_test(test_rule_info),
		cmocka_unit_test(test_write_read_mode),
		cmocka_unit_test(test_write_declared_mode),
		cmocka_unit_test(test_suffix_limits),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_other_ruleset),
		cmocka_unit_test(test_request_copy),
	};
	return cmocka_run_group_tests(tests, th_default_setup, th_default_teardown);
}
