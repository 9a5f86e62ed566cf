/* test_rulefn.c: rule functions from plugins, end to end (issue 3).
 *
 * The checker types `plugin.function(args)` against the signatures of the
 * plugins given to the compiler (tests/dsl/plugins: exact line:col of
 * every error); the ruleset records its imports, which survive a bundle
 * round trip and are refused when corrupted; an engine binds them to a
 * plugin set or refuses with STEPUP_ECONFIG; the evaluator calls through
 * libffi with every type, never calls with an absent argument, hands
 * strings over as NUL-terminated copies and frees the strings plugins
 * return. Plugins: the fakes good and counter (tests/plugins) and the
 * reference plugin geo (plugins/geo) with its example configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsl_cases.h"
#include "engine.h"   /* internal: the bound imports */
#include "helpers.h"
#include "plugins.h"  /* internal: su_plugins_find, to read counter.hits */
#include "program.h"  /* internal: opcodes, for crafting bundles */

#ifndef PLUGIN_DIR
#error "PLUGIN_DIR (tests/plugins/.libs) must be defined"
#endif
#ifndef GEO_DIR
#error "GEO_DIR (plugins/.libs) must be defined"
#endif

#define HEADER 56u
#define INSN 12u  /* format 3: op, slot or nargs (16 bits), cmp, constant, atom */

/* ---- fixtures ---------------------------------------------------------------- */

/* good, counter and geo (with plugins/geo/geo.example.json), loaded once. */
static stepup_plugins *S;

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot read %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The configuration document for a "load" array (JSON text). Rule
 * functions run in each plugin's isolation; "inline" keeps these tests
 * on the deciding thread (tests/unit/test_plugins covers the others). */
static char *config_for(const char *load)
{
	char *cfg = NULL;
	if (asprintf(&cfg, "{\"issuer\":{\"app_id\":\"com.examplebank.mobile\",\"customer_service\":"
	                   "{\"standard\":\"+1-800-555-0100\",\"fraud\":\"+1-800-555-0199\"}},"
	                   "\"plugins\":{\"path\":[\"%s\",\"%s\"],\"load\":%s}}",
	             PLUGIN_DIR, GEO_DIR, load) < 0)
		fail_msg("out of memory");
	return cfg;
}

static stepup_plugins *load_set(const char *load)
{
	stepup_plugins *ps = NULL;
	char err[1024];
	char *cfg = config_for(load);
	int rc = stepup_plugins_load(cfg, NULL, NULL, NULL, &ps, err, sizeof(err));
	free(cfg);
	if (rc != STEPUP_OK)
		fail_msg("plugins do not load: %s", err);
	return ps;
}

static char *geo_example(void)
{
	return read_text(SRCDIR "/plugins/geo/geo.example.json");
}

static char *full_load(void)
{
	char *geo = geo_example(), *load = NULL;
	if (asprintf(&load, "[{\"module\":\"good\",\"isolation\":\"inline\"},"
	                    "{\"module\":\"counter\",\"isolation\":\"inline\"},"
	                    "{\"module\":\"geo\",\"isolation\":\"inline\",\"config\":%s}]", geo) < 0)
		fail_msg("out of memory");
	free(geo);
	return load;
}

static int group_setup(void **state)
{
	(void)state;
	char *load = full_load();
	S = load_set(load);
	free(load);
	dc_plugins = S;
	return S ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	dc_plugins = NULL;
	stepup_plugins_unref(S);
	S = NULL;
	return 0;
}

static stepup_ruleset *compile_with(const stepup_plugins *ps, const char *src)
{
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	assert_non_null(c);
	assert_int_equal(stepup_compiler_set_plugins(c, ps), STEPUP_OK);
	assert_int_equal(stepup_compiler_add_source(c, "t.rules", src, strlen(src)), STEPUP_OK);
	if (stepup_compiler_compile(c, &rs) != STEPUP_OK) {
		char *all = dc_render_all(c);
		fail_msg("rules do not compile:\n%s", all);
	}
	stepup_compiler_free(c);
	return rs;
}

static stepup_engine *engine_on(stepup_ruleset *rs, stepup_plugins *ps)
{
	stepup_engine *e = NULL;
	char err[512];
	int rc = stepup_engine_new_with_plugins(rs, ps, th_settings_full, &e, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("engine: %s", err);
	return e;
}

static stepup_engine *engine_with(stepup_plugins *ps, const char *src)
{
	stepup_ruleset *rs = compile_with(ps, src);
	stepup_engine *e = engine_on(rs, ps);
	stepup_ruleset_unref(rs);
	return e;
}

/* The rules that fired on base+patch, comma-separated, in rule order. */
static char *fired(const stepup_engine *e, const char *patch)
{
	th_result r = th_decide_patched(e, patch);
	char *out = calloc(1, 64 * 65);
	assert_non_null(out);
	if (r.rc != STEPUP_OK)
		fail_msg("patch %s: decide failed (%d): %s", patch, r.rc, r.json ? r.json : "");
	for (size_t i = 0; i < r.nfired; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, r.fired[i]);
	}
	th_result_free(&r);
	return out;
}

#define EXPECT_FIRED(e, patch, want)                                                  \
	do {                                                                          \
		char *got_ = fired((e), (patch));                                     \
		if (strcmp(got_, (want)) != 0)                                        \
			fail_msg("patch %s: fired [%s], expected [%s]", (patch), got_, (want)); \
		free(got_);                                                           \
	} while (0)

/* Calls counter's functions have received so far. */
static int64_t hits(void)
{
	const su_plugin *p = su_plugins_find(S, "counter");
	assert_non_null(p);
	int k = su_plugin_find(p, "hits");
	assert_true(k >= 0);
	su_plugin_arg ret;
	assert_int_equal(su_plugin_call(p, (unsigned)k, NULL, &ret), STEPUP_OK);
	return ret.i;
}

/* ---- calls -------------------------------------------------------------------- */

/* Every argument and result type through libffi, against the canonical
 * request (active_tokens 1, language "en-US", email of 20 bytes). */
static void calls_every_type(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"rule add when good.add(card.active_tokens, 41) == 42 then decline\n"
		"rule answer when good.answer() == 42 then decline\n"
		"rule half when good.half(card.active_tokens) == 0.5 then decline\n"
		"rule half_f when good.half(5.0) > 2.4 and good.half(5.0) < 2.6 then decline\n"
		"rule sum4 when good.sum4(1, 2.5, card.active_tokens, 0.5) == 5 then decline\n"
		"rule odd when not good.is_even(card.active_tokens) then decline\n"
		"rule both when good.both(end_user.app_enrolled, true) then decline\n"
		"rule not_both when good.both(end_user.app_enrolled, wallet.device_suspicious) then decline\n"
		"rule upper when good.upper(end_user.language) == \"EN-US\" then decline\n"
		"rule concat when good.concat(card.pan_suffix, \"!\") == \"1234!\" then decline\n"
		"rule length when good.length(end_user.email) == 20 then decline\n"
		"rule nothing when good.nothing(\"x\") is absent then decline\n"
		"rule nothing_eq when good.nothing(\"x\") == \"x\" or good.nothing(\"x\") != \"x\" then decline\n"
		"rule nested when good.length(good.upper(good.concat(end_user.language, \"xyz\"))) == 8 then decline\n"
		"rule builtin when ends_with(good.upper(end_user.email), \".COM\") then decline\n"
		"rule region when geo.region(wallet.device_country) == \"NA\" then decline\n");
	/* (card.pan_suffix comes from card.pan when absent.) */
	EXPECT_FIRED(e, "{}",
	             "add,answer,half,half_f,sum4,odd,both,upper,concat,length,nothing,nested,builtin,region");
	/* Results follow the arguments. */
	EXPECT_FIRED(e, "{\"card\":{\"active_tokens\":2},\"end_user\":{\"app_enrolled\":false,\"language\":\"fr\"},"
	                "\"wallet\":{\"device_country\":\"FR\"}}",
	             "answer,half_f,concat,length,nothing,builtin");
	stepup_engine_free(e);
}

/* An absent argument makes the call absent without calling: counter
 * counts every call it gets. */
static void absent_argument_never_calls(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"rule s when counter.touch_s(wallet.device_country) then decline\n"
		"rule i when counter.touch_i(card.active_tokens) then decline\n"
		"rule d when counter.touch_d(card.active_tokens) then decline\n"
		"rule b when counter.touch_b(end_user.app_enrolled) then decline\n"
		"rule mix when counter.mix(card.active_tokens, end_user.email, 2.5, end_user.app_enrolled) > 0\n"
		"  then decline\n"
		"rule gone when counter.touch_s(wallet.device_country) is absent then step_up\n"
		"rule nested when counter.len(counter.xs(card.csc_failures_24h)) is absent then step_up\n"
		"rule null_result when counter.len(counter.xs(-1)) is absent then step_up\n");
	const char *none = "{\"wallet\":{\"device_country\":null},\"card\":{\"active_tokens\":null,"
	                   "\"csc_failures_24h\":null},\"end_user\":{\"app_enrolled\":null}}";
	int64_t before = hits();
	EXPECT_FIRED(e, none, "gone,nested,null_result");
	/* The one call: null_result's xs(-1), whose NULL string is absent, so
	 * len is not called either. */
	if (hits() - before != 1)
		fail_msg("%lld calls reached the plugin, expected 1", (long long)(hits() - before));

	/* The same with the arguments present: every call happens, once a
	 * decision: s, i, d, b, mix, nested's xs and len, null_result's xs;
	 * gone's touch_s(wallet.device_country) is s's call again, answered
	 * from the decision's memo (issue 11). */
	before = hits();
	EXPECT_FIRED(e, "{}", "s,i,d,b,mix,null_result");
	assert_int_equal(hits() - before, 8);
	stepup_engine_free(e);
}

/* The flat form distributes `or` over `and`, copying a side into several
 * clauses: a side with a plugin call is not copied (the `or` stays one VM
 * literal), so the call runs once a decision. */
static void call_in_or_runs_once(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"rule r when counter.touch_i(card.active_tokens) or (card.state == CLOSED and card.csc_result == INVALID)\n"
		"  then decline\n");
	int64_t before = hits();
	EXPECT_FIRED(e, "{}", "r");
	if (hits() - before != 1)
		fail_msg("%lld calls reached the plugin, expected 1", (long long)(hits() - before));
	stepup_engine_free(e);
}

/* Request strings are slices of the input: the plugin must see exactly
 * the field, NUL-terminated, however long. Also every argument type in
 * one call, in order. */
static void string_arguments_are_copies(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"rule phone when counter.len(end_user.phone) == 12 then decline\n"
		"rule lang when counter.len(end_user.language) == 5 then decline\n"
		"rule empty when counter.len(\"\") == 0 then decline\n"
		"rule long when counter.len(counter.xs(300)) == 300 then decline\n"
		"rule longer when counter.len(counter.echo(counter.xs(70000))) == 70000 then decline\n"
		"rule mix when counter.mix(7, \"abc\", 2.9, true) == 7321 then decline\n"
		"rule mix2 when counter.mix(card.active_tokens, end_user.language, card.active_tokens, false)\n"
		"  == 1510 then decline\n");
	EXPECT_FIRED(e, "{}", "phone,lang,empty,long,longer,mix,mix2");
	/* Long request strings: two of 200 bytes are over the evaluator's
	 * stack scratch for one call's strings. */
	char patch[300] = "{\"end_user\":{\"language\":\"";
	size_t n = strlen(patch);
	memset(patch + n, 'a', 200);
	strcpy(patch + n + 200, "\"}}");
	stepup_engine_free(e);
	e = engine_with(S, "rule lang when counter.len(end_user.language) == 200 then decline\n"
	                   "rule two when good.length(good.concat(end_user.language, end_user.language)) == 400\n"
	                   "  then decline\n");
	th_result r = th_decide_patched(e, patch);
	char sum[256];
	th_summary(&r, sum, sizeof(sum));
	assert_string_equal(sum, "RED lang,two");
	th_result_free(&r);
	stepup_engine_free(e);
}

/* Strings returned by plugins belong to the evaluator until the condition
 * ends, however many (valgrind checks the frees), also when explaining. */
static void string_results_are_freed(void **state)
{
	(void)state;
	char src[8192] = "rule many when counter.echo(\"a\") == \"b\"";
	for (int i = 0; i < 40; i++)
		snprintf(src + strlen(src), sizeof(src) - strlen(src), " or counter.xs(%d) == \"\"", 100 + i);
	strcat(src, " or counter.xs(100000) == \"y\" then decline\n"
	            "rule one when counter.echo(end_user.language) == \"en-US\" then decline\n"
	            "rule kept when ends_with(counter.echo(counter.xs(20)), counter.xs(3)) then decline\n");
	stepup_engine *e = engine_with(S, src);
	EXPECT_FIRED(e, "{}", "one,kept");
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out;
	size_t len;
	assert_int_equal(stepup_decide_json(e, r, d, th_base_request, strlen(th_base_request),
	                                    STEPUP_DECIDE_EXPLAIN, &out, &len), STEPUP_OK);
	assert_int_equal(stepup_decision_fired_count(d), 2);
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(e);
}

/* Explain runs calls through the traced loop and quotes them. */
static void explain_shows_calls(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"rule risky \"A risky country\" when geo.country_risk(wallet.device_country) >= 50\n"
		"  and not geo.in_region(wallet.device_country, \"EU\")\n"
		"  then step_up\n"
		"rule region when geo.region(wallet.device_country) == \"NA\" then approve\n");
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out;
	size_t len;
	char *req = th_patched("{\"wallet\":{\"device_country\":\"NG\"}}");
	assert_int_equal(stepup_decide_json(e, r, d, req, strlen(req), STEPUP_DECIDE_EXPLAIN, &out, &len),
	                 STEPUP_OK);
	free(req);
	json_t *resp = th_json(out), *rules = json_object_get(json_object_get(resp, "explain"), "rules");
	assert_int_equal(json_array_size(rules), 2);
	json_t *r0 = json_array_get(rules, 0), *t = json_object_get(r0, "tests");
	assert_true(json_is_true(json_object_get(r0, "fired")));
	assert_int_equal(json_array_size(t), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "test")),
	                    "geo.country_risk(wallet.device_country) >= 50");
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "value")), "TRUE");
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 1), "test")),
	                    "not geo.in_region(wallet.device_country, \"EU\")");
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 1), "value")), "TRUE");
	json_t *r1 = json_array_get(rules, 1);
	assert_string_equal(json_string_value(json_object_get(r1, "condition")), "FALSE");
	assert_string_equal(json_string_value(json_object_get(r1, "decided_by")),
	                    "geo.region(wallet.device_country) == \"NA\"");
	json_decref(resp);

	/* Absent country: the calls are absent, and so is the condition. */
	req = th_patched("{\"wallet\":{\"device_country\":null}}");
	assert_int_equal(stepup_decide_json(e, r, d, req, strlen(req), STEPUP_DECIDE_EXPLAIN, &out, &len),
	                 STEPUP_OK);
	free(req);
	resp = th_json(out);
	rules = json_object_get(json_object_get(resp, "explain"), "rules");
	r0 = json_array_get(rules, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "condition")), "ABSENT");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r0, "tests"), 0),
	                                                      "value")), "ABSENT");
	json_decref(resp);
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(e);
}

/* Method conditions run in the methods' prepared chunks. */
static void method_conditions_call(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"method OTP_SMS when end_user.phone is present and geo.in_region(wallet.device_country, \"NA\")\n"
		"method OTP_EMAIL when geo.country_risk(wallet.device_country) < 20\n"
		"method CUSTOMER_SERVICE always\n"
		"rule always_step_up when card.state == ACTIVE then step_up\n");
	TH_EXPECT(e, "{}", STEPUP_YELLOW, "always_step_up", "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	TH_EXPECT(e, "{\"wallet\":{\"device_country\":\"FR\"}}", STEPUP_YELLOW, "always_step_up",
	          "OTP_EMAIL,CUSTOMER_SERVICE");
	TH_EXPECT(e, "{\"wallet\":{\"device_country\":\"NG\"}}", STEPUP_YELLOW, "always_step_up", "CUSTOMER_SERVICE");
	TH_EXPECT(e, "{\"wallet\":{\"device_country\":null}}", STEPUP_YELLOW, "always_step_up", "CUSTOMER_SERVICE");
	stepup_engine_free(e);
}

/* Enough rules with calls (and plain ones between them) to span several
 * prepared chunks: each call condition is one SU_F_VM test that must
 * reach the bound imports. */
static void calls_across_chunks(void **state)
{
	(void)state;
	size_t cap = 64 * 1024, n = 0;
	char *src = malloc(cap);
	assert_non_null(src);
	src[0] = '\0';
	for (int i = 0; i < 150; i++) {
		n += (size_t)snprintf(src + n, cap - n, "rule c%d when good.add(card.active_tokens, %d) == %d then decline\n",
		                      i, i, i + (i % 3 ? 1 : 0));
		n += (size_t)snprintf(src + n, cap - n, "rule p%d when card.active_tokens == %d or card.state == CLOSED "
		                      "then decline\n", i, i % 5);
	}
	stepup_engine *e = engine_with(S, src);
	free(src);
	th_result r = th_decide_patched(e, "{}");
	assert_int_equal(r.rc, STEPUP_OK);
	/* c<i> fires when i % 3 != 0 (1 + i == i + 1); p<i> when i % 5 == 1. */
	size_t want = 0;
	for (int i = 0; i < 150; i++)
		want += (i % 3 != 0) + (i % 5 == 1);
	assert_int_equal(r.nfired, want);
	th_result_free(&r);
	stepup_engine_free(e);
}

/* Decisions from several threads at once, calling plugins inline. */
typedef struct worker_arg {
	const stepup_engine *e;
	int bad;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *w = p;
	static const char *const countries[] = { "US", "NG", "FR", "JP", "ZZ" };
	static const char *const want[] = { "GREEN", "YELLOW", "GREEN", "GREEN", "YELLOW" };
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	char req[1024];
	int n = th_under_valgrind() ? 20 : 400;
	for (int i = 0; i < n; i++) {
		const char *out;
		size_t len;
		int k = i % 5;
		snprintf(req, sizeof(req), "{\"request_id\":\"t%d\",\"wallet\":{\"device_country\":\"%s\"}}", i,
		         countries[k]);
		if (stepup_decide_json(w->e, r, d, req, strlen(req), 0, &out, &len) != STEPUP_OK ||
		    strcmp(stepup_outcome_name(stepup_decision_outcome(d)), want[k]) != 0)
			w->bad++;
	}
	stepup_request_free(r);
	stepup_decision_free(d);
	return NULL;
}

static void concurrent_decisions(void **state)
{
	(void)state;
	stepup_engine *e = engine_with(S,
		"method CUSTOMER_SERVICE always\n"
		"rule risky when geo.country_risk(wallet.device_country) >= 50 and\n"
		"  good.length(good.upper(wallet.device_country)) == 2 then step_up\n");
	pthread_t t[4];
	worker_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (worker_arg){ e, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].bad, 0);
	}
	stepup_engine_free(e);
}

/* ---- JSON in, JSON out, with the plugins of a configuration ---------------------- */

static void decide_json_end_to_end(void **state)
{
	(void)state;
	char *load = full_load(), *cfg = config_for(load);
	stepup_plugins *ps = NULL;
	stepup_engine *e = NULL;
	char err[512];
	free(load);
	/* One document: the plugins section for the set, the issuer section
	 * for the engine (each ignores the other's). */
	assert_int_equal(stepup_plugins_load(cfg, NULL, NULL, NULL, &ps, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset *rs = compile_with(ps,
		"ruleset \"geo-demo\"\n"
		"method OTP_SMS when end_user.phone is present\n"
		"method CUSTOMER_SERVICE always\n"
		"rule risky_country \"The device is in a high-risk country\"\n"
		"  when geo.country_risk(wallet.device_country) >= 50\n"
		"  then step_up only CUSTOMER_SERVICE line FRAUD\n");
	int rc = stepup_engine_new_with_plugins(rs, ps, cfg, &e, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("engine: %s", err);
	stepup_ruleset_unref(rs);
	stepup_plugins_unref(ps);  /* the engine keeps its own reference */
	free(cfg);
	assert_ptr_equal(stepup_engine_plugins(e), ps);

	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out;
	size_t len;
	const char *req = "{\"request_id\":\"geo-1\",\"channel\":\"XPAY_WALLET\",\"card\":{\"state\":\"ACTIVE\"},"
	                  "\"end_user\":{\"phone\":\"+14155551234\"},\"wallet\":{\"device_country\":\"NG\"}}";
	assert_int_equal(stepup_decide_json(e, r, d, req, strlen(req), 0, &out, &len), STEPUP_OK);
	json_t *resp = th_json(out);
	assert_string_equal(json_string_value(json_object_get(resp, "decision")), "YELLOW");
	json_t *m = json_array_get(json_object_get(resp, "idv_methods"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "CUSTOMER_SERVICE");
	assert_string_equal(json_string_value(json_object_get(m, "line")), "FRAUD");
	json_t *why = json_array_get(json_object_get(resp, "reasons"), 0);
	assert_string_equal(json_string_value(json_object_get(why, "rule")), "risky_country");
	assert_string_equal(json_string_value(json_object_get(why, "at")), "t.rules:4");
	json_decref(resp);

	/* An unlisted country gets the configured default risk (60). */
	req = "{\"request_id\":\"geo-2\",\"wallet\":{\"device_country\":\"ZZ\"}}";
	assert_int_equal(stepup_decide_json(e, r, d, req, strlen(req), 0, &out, &len), STEPUP_OK);
	assert_int_equal(stepup_decision_outcome(d), STEPUP_YELLOW);
	req = "{\"request_id\":\"geo-3\",\"wallet\":{\"device_country\":\"us\"}}";
	assert_int_equal(stepup_decide_json(e, r, d, req, strlen(req), 0, &out, &len), STEPUP_OK);
	assert_int_equal(stepup_decision_outcome(d), STEPUP_GREEN);
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(e);
}

/* stepup_ruleset_load_with_plugins: sources compiled with the plugins,
 * and a bundle (which records its imports). */
static void ruleset_load_with_plugins(void **state)
{
	(void)state;
	char path[] = "/tmp/stepup-rulefn-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *src = "rule r when geo.in_region(wallet.device_country, \"EU\") then decline\n";
	assert_int_equal(write(fd, src, strlen(src)), (ssize_t)strlen(src));
	close(fd);

	stepup_ruleset *rs = NULL;
	char err[512];
	assert_int_equal(stepup_ruleset_load(path, &rs, err, sizeof(err)), STEPUP_ECOMPILE);
	assert_non_null(strstr(err, "unknown function 'geo.in_region' (no loaded plugin provides it)"));
	assert_int_equal(stepup_ruleset_load_with_plugins(path, S, &rs, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_ruleset_save(rs, path, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	/* A bundle loads without plugins: its imports are checked when an
	 * engine is built. */
	rs = NULL;
	assert_int_equal(stepup_ruleset_load(path, &rs, err, sizeof(err)), STEPUP_OK);
	stepup_engine *e = engine_on(rs, S);
	TH_EXPECT(e, "{\"wallet\":{\"device_country\":\"FR\"}}", STEPUP_RED, "r", "");
	TH_EXPECT(e, "{}", STEPUP_GREEN, "", "");
	stepup_engine_free(e);
	stepup_ruleset_unref(rs);
	unlink(path);
}

/* ---- compile time --------------------------------------------------------------------- */

#define PLUGIN_CASES(X) X("plugins/errors.rules") X("plugins/ok.rules")
static const char *const dsl_dirs[] = { "plugins" };
static const char *const dsl_files[] = { PLUGIN_CASES(DC_LISTED) };
static DC_SUITE(dsl_suite, "tests/unit/test_rulefn.c", dsl_dirs, dsl_files);

/* Without plugins, a dotted call is still a located error. */
static void no_plugins_no_functions(void **state)
{
	(void)state;
	static const char src[] = "rule r when geo.region(wallet.device_country) == \"EU\" then decline\n";
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	assert_int_equal(stepup_compiler_add_source(c, "t.rules", src, strlen(src)), STEPUP_OK);
	assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_ECOMPILE);
	const stepup_diag *d = stepup_compiler_diag(c, 0);
	assert_int_equal(stepup_compiler_diag_count(c), 1);
	assert_int_equal(d->line, 1);
	assert_int_equal(d->col, 13);
	assert_string_equal(d->message, "unknown function 'geo.region' (no loaded plugin provides it)");
	stepup_compiler_free(c);

	/* An empty plugin set is no plugins. */
	stepup_plugins *none = load_set("[]");
	dc_plugins = none;
	dc_comp k = dc_compile_src(src);
	dc_expect_one_error(&k, 1, 13, "unknown function 'geo.region' (no loaded plugin provides it)");
	dc_free(&k);
	dc_plugins = S;
	stepup_plugins_unref(none);
}

/* A configured name is the prefix the rules use. */
static void configured_names(void **state)
{
	(void)state;
	stepup_plugins *ps = load_set("[{\"name\":\"risk\",\"module\":\"geo\",\"isolation\":\"inline\","
	                              "\"config\":{\"default_risk\":7,\"countries\":{\"US\":{\"risk\":1}}}}]");
	dc_plugins = ps;
	dc_comp k = dc_compile_src("rule r when geo.country_risk(\"US\") > 1 then decline\n");
	dc_expect_one_error(&k, 1, 13, "unknown plugin 'geo' in 'geo.country_risk' (loaded plugins: risk)");
	dc_free(&k);
	dc_plugins = S;
	stepup_engine *e = engine_with(ps, "rule r when risk.country_risk(wallet.device_country) == 1 then decline\n"
	                                   "rule s when risk.country_risk(\"FR\") == 7 then decline\n");
	TH_EXPECT(e, "{}", STEPUP_RED, "r,s", "");
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* Calls nested in the last argument keep every level's other arguments
 * on the value stack: past its size, a located error (not an internal
 * one). */
static void too_complex(void **state)
{
	(void)state;
	char src[8192] = "rule deep when ";
	for (int i = 0; i < 100; i++)
		strcat(src, "good.sum4(1, 2, 3, ");
	strcat(src, "4");
	for (int i = 0; i < 100; i++)
		strcat(src, ")");
	strcat(src, " > 0 then decline\n");
	dc_comp k = dc_compile_src(src);
	dc_expect_one_error(&k, 1, 16, "condition too complex");
	dc_free(&k);
}

/* Constants made of calls of constants: a chain of 40 `let`s each
 * calling good.concat(next, next) would double the condition 40 times.
 * The checker stops at a node budget with a located error; a chain of
 * single calls stops at the expression depth limit. Short ones compile. */
static void constants_cannot_multiply(void **state)
{
	(void)state;
	char src[8192] = "", line[128];
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "let C%d = good.concat(C%d, C%d)\n", i, i + 1, i + 1);
		strcat(src, line);
	}
	strcat(src, "let C40 = token_requestor.id\nrule r when C0 == \"x\" then decline\n");
	dc_comp k = dc_compile_src(src);
	dc_expect_one_error(&k, 42, 13, "constants expand this condition to more than 65536 nodes");
	dc_free(&k);

	src[0] = '\0';
	for (int i = 0; i < 250; i++) {
		snprintf(line, sizeof(line), "let C%d = good.upper(C%d)\n", i, i + 1);
		strcat(src, line);
	}
	strcat(src, "let C250 = token_requestor.id\nrule r when C0 == \"X\" then decline\n");
	k = dc_compile_src(src);
	dc_expect_one_error(&k, 252, 13, "constants nest this expression deeper than 200 levels");
	dc_free(&k);

	/* Ten doublings (1024 calls) and 100 nested calls are fine. */
	src[0] = '\0';
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), "let D%d = good.concat(D%d, D%d)\n", i, i + 1, i + 1);
		strcat(src, line);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "let U%d = good.upper(U%d)\n", i, i + 1);
		strcat(src, line);
	}
	strcat(src, "let D10 = \"a\"\nlet U100 = token_requestor.id\n"
	            "rule r when D0 == U0 then decline\n");
	stepup_engine *e = engine_with(S, src);
	TH_EXPECT(e, "{}", STEPUP_GREEN, "", "");
	stepup_engine_free(e);
}

/* ---- bundles ------------------------------------------------------------------------- */

static const char *const import_rules =
	"method OTP_SMS when geo.in_region(wallet.device_country, \"NA\")\n"
	"rule a when geo.country_risk(wallet.device_country) >= 50 then decline\n"
	"rule b when good.add(card.active_tokens, 1) == 2 and good.half(card.active_tokens) < 1 then step_up\n"
	"rule c when geo.region(wallet.device_country) == \"EU\" then approve\n";

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void fix_digest(uint8_t *b, size_t len)
{
	unsigned n = 0;
	assert_int_equal(EVP_Digest(b + HEADER, len - HEADER, b + 24, &n, EVP_sha256(), NULL), 1);
}

static uint8_t *serialize(const stepup_ruleset *rs, size_t *len)
{
	void *data = NULL;
	assert_int_equal(stepup_ruleset_serialize(rs, &data, len), STEPUP_OK);
	return data;
}

static int try_load(const uint8_t *b, size_t len, char *err, size_t n, stepup_ruleset **keep)
{
	stepup_ruleset *rs = NULL;
	err[0] = '\0';
	int rc = stepup_ruleset_load_bundle(b, len, &rs, err, n);
	if (rc == STEPUP_OK)
		assert_non_null(rs);
	else
		assert_null(rs);
	if (keep)
		*keep = rs;
	else
		stepup_ruleset_unref(rs);
	return rc;
}

static void bundle_round_trip_with_imports(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_with(S, import_rules), *back = NULL;
	size_t len, len2;
	char err[256];
	uint8_t *b = serialize(rs, &len);
	assert_int_equal(get32(b + 8), 4);
	/* The imports close the body: count, then 3 string indices each. */
	assert_int_equal(rs->nimports, 5);
	assert_int_equal(get32(b + len - 4 - 12 * 5), 5);
	assert_int_equal(try_load(b, len, err, sizeof(err), &back), STEPUP_OK);
	uint8_t *b2 = serialize(back, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(b, b2, len);
	char *d1 = stepup_ruleset_disassemble(rs), *d2 = stepup_ruleset_disassemble(back);
	assert_string_equal(d1, d2);
	assert_non_null(strstr(d1, "import 0: geo.in_region(ss->b)\n"));
	assert_non_null(strstr(d1, "import 3: good.half(d->d)\n"));
	assert_non_null(strstr(d1, "V_PCALL      geo.country_risk/1 (s->i)\n"));
	free(d1);
	free(d2);
	/* Same decisions from both. */
	stepup_engine *ea = engine_on(rs, S), *eb = engine_on(back, S);
	static const char *const patches[] = { "{}", "{\"wallet\":{\"device_country\":\"NG\"}}",
		                               "{\"wallet\":{\"device_country\":\"FR\"},\"card\":{\"active_tokens\":0}}",
		                               "{\"wallet\":{\"device_country\":null}}" };
	for (size_t i = 0; i < TH_N(patches); i++) {
		th_result x = th_decide_patched(ea, patches[i]), y = th_decide_patched(eb, patches[i]);
		char sx[512], sy[512];
		th_summary(&x, sx, sizeof(sx));
		th_summary(&y, sy, sizeof(sy));
		assert_string_equal(sx, sy);
		th_result_free(&x);
		th_result_free(&y);
	}
	TH_EXPECT(ea, "{}", STEPUP_YELLOW, "b", "OTP_SMS");
	stepup_engine_free(ea);
	stepup_engine_free(eb);
	free(b);
	free(b2);
	stepup_ruleset_unref(rs);
	stepup_ruleset_unref(back);
}

typedef struct crafted {
	uint8_t *b;
	size_t len;
	uint32_t nimports, ncode;
	size_t imports;  /* offset of the first import record */
	size_t code;     /* offset of the first instruction */
	su_insn *insn;
} crafted;

static crafted craft(void)
{
	crafted c;
	stepup_ruleset *rs = compile_with(S, import_rules);
	c.b = serialize(rs, &c.len);
	c.nimports = rs->nimports;
	c.ncode = rs->ncode;
	c.imports = c.len - 12 * (size_t)c.nimports;
	/* Before the imports: merchant policy (1), policy set (1), max_tri (4),
	 * max_val (4), import count (4). */
	c.code = c.imports - 14 - (size_t)INSN * c.ncode;
	assert_int_equal(get32(c.b + c.imports - 4), c.nimports);
	assert_int_equal(get32(c.b + c.code - 4), c.ncode);
	c.insn = malloc(sizeof(su_insn) * c.ncode);
	assert_non_null(c.insn);
	memcpy(c.insn, rs->code, sizeof(su_insn) * c.ncode);
	stepup_ruleset_unref(rs);
	return c;
}

static uint32_t find_pcall(const crafted *c, uint32_t import)
{
	for (uint32_t i = 0; i < c->ncode; i++)
		if (c->insn[i].op == SU_OP_V_PCALL && c->insn[i].c == import)
			return i;
	fail_msg("no V_PCALL of import %u", import);
	return 0;
}

static void expect_refused(crafted *c, const char *what, const char *why)
{
	char err[256];
	fix_digest(c->b, c->len);
	int rc = try_load(c->b, c->len, err, sizeof(err), NULL);
	if (rc != STEPUP_EBUNDLE)
		fail_msg("%s: rc=%d (%s), expected STEPUP_EBUNDLE", what, rc, err);
	if (!strstr(err, why))
		fail_msg("%s: message '%s' lacks '%s'", what, err, why);
	free(c->b);
	free(c->insn);
}

static void bundle_refuses_corrupted_imports(void **state)
{
	(void)state;
	crafted c;

	/* imports: 0 geo.in_region ss->b, 1 geo.country_risk s->i,
	 * 2 good.add ii->i, 3 good.half d->d, 4 geo.region s->s */
	c = craft();
	put32(c.b + c.imports + 0, 0xffffffu);  /* plugin name index */
	expect_refused(&c, "plugin name out of range", "bad import 0");

	c = craft();
	put32(c.b + c.imports + 12 + 4, 0xffffffu);  /* function name index */
	expect_refused(&c, "function name out of range", "bad import 1");

	c = craft();
	put32(c.b + c.imports + 8, get32(c.b + c.imports + 0));  /* signature := "geo" */
	expect_refused(&c, "signature not a signature", "import 0 has a bad signature");

	c = craft();
	put32(c.b + c.imports + 4, get32(c.b + c.imports + 8));  /* function name := "ss->b" */
	expect_refused(&c, "function name not a name", "bad import 0");

	c = craft();
	put32(c.b + c.imports + 12 + 8, get32(c.b + c.imports + 36 + 8));  /* country_risk: s->i := d->d */
	expect_refused(&c, "string argument retyped as float", "bad argument type");

	c = craft();
	put32(c.b + c.imports + 24 + 8, get32(c.b + c.imports + 12 + 8));  /* add: ii->i := s->i */
	expect_refused(&c, "two arguments, one in the signature", "bad plugin call");

	c = craft();
	put32(c.b + c.imports + 8, get32(c.b + c.imports + 12 + 8));  /* in_region: ss->b := s->i */
	expect_refused(&c, "arity changed", "bad plugin call");

	c = craft();
	put32(c.b + c.imports + 48 + 8, get32(c.b + c.imports + 12 + 8));  /* region: s->s := s->i */
	expect_refused(&c, "result retyped", "bad comparison types");

	c = craft();
	{
		uint32_t pc = find_pcall(&c, 1);
		put32(c.b + c.code + (size_t)INSN * pc + 4, 5);  /* import index */
	}
	expect_refused(&c, "V_PCALL import out of range", "bad plugin call");

	c = craft();
	{
		uint32_t pc = find_pcall(&c, 3);  /* good.half: d->d */
		put32(c.b + c.code + (size_t)INSN * pc + 4, 1);  /* call country_risk (s->i) instead */
	}
	expect_refused(&c, "V_PCALL on another signature", "bad argument type");

	c = craft();
	{
		uint32_t pc = find_pcall(&c, 2);
		c.b[c.code + (size_t)INSN * pc + 1] = 1;  /* nargs 2 -> 1 */
	}
	expect_refused(&c, "V_PCALL nargs", "bad plugin call");

	c = craft();
	put32(c.b + c.imports - 4, c.nimports + 1);  /* one more than there are */
	expect_refused(&c, "import count too large", "malformed");

	c = craft();
	put32(c.b + c.imports - 4, 0);  /* the calls are left without imports */
	{
		/* the records now trail the body */
		char err[256];
		fix_digest(c.b, c.len);
		assert_int_equal(try_load(c.b, c.len, err, sizeof(err), NULL), STEPUP_EBUNDLE);
		free(c.b);
		free(c.insn);
	}

	/* Format 1 had no imports. */
	c = craft();
	put32(c.b + 8, 1);
	expect_refused(&c, "format 1 with imports", "malformed");

	/* Truncated anywhere in the imports, with a digest that matches. */
	c = craft();
	for (size_t cut = c.imports - 4; cut < c.len; cut++) {
		uint8_t *t = malloc(cut);
		char err[256];
		assert_non_null(t);
		memcpy(t, c.b, cut);
		for (int i = 0; i < 8; i++)
			t[16 + i] = (uint8_t)((cut - HEADER) >> (8 * i));
		fix_digest(t, cut);
		if (try_load(t, cut, err, sizeof(err), NULL) != STEPUP_EBUNDLE)
			fail_msg("bundle cut at %zu of %zu loads", cut, c.len);
		free(t);
	}
	free(c.b);
	free(c.insn);
}

/* Every single-bit change of the import records: refused, or loaded and
 * then bound or refused by an engine, never a crash. */
static void bundle_import_bit_flips(void **state)
{
	(void)state;
	crafted c = craft();
	size_t loaded = 0, bound = 0;
	for (size_t at = c.imports - 4; at < c.len; at++)
		for (int bit = 0; bit < 8; bit++) {
			stepup_ruleset *rs = NULL;
			char err[256];
			c.b[at] ^= (uint8_t)(1u << bit);
			fix_digest(c.b, c.len);
			if (try_load(c.b, c.len, err, sizeof(err), &rs) == STEPUP_OK) {
				stepup_engine *e = NULL;
				loaded++;
				if (stepup_engine_new_with_plugins(rs, S, NULL, &e, err, sizeof(err)) == STEPUP_OK) {
					th_result r = th_decide_patched(e, "{}");
					assert_int_equal(r.rc, STEPUP_OK);
					th_result_free(&r);
					bound++;
				} else {
					assert_null(e);
					assert_non_null(strstr(err, "ruleset imports "));
				}
				stepup_engine_free(e);
				stepup_ruleset_unref(rs);
			}
			c.b[at] ^= (uint8_t)(1u << bit);
		}
	/* Some flips land on other valid strings (a name that is still a
	 * name); most must be refused. */
	assert_true(loaded < (c.len - c.imports + 4) * 8 / 2);
	(void)bound;
	free(c.b);
	free(c.insn);
}

/* ---- binding ------------------------------------------------------------------------ */

static void expect_unbound(stepup_ruleset *rs, stepup_plugins *ps, const char *want)
{
	stepup_engine *e = (stepup_engine *)(uintptr_t)1;
	char err[512];
	int rc = stepup_engine_new_with_plugins(rs, ps, th_settings_full, &e, err, sizeof(err));
	if (rc != STEPUP_ECONFIG || e != NULL || strcmp(err, want) != 0)
		fail_msg("rc=%d, err '%s', expected STEPUP_ECONFIG and '%s'", rc, err, want);
}

static void engine_refuses_unbound_imports(void **state)
{
	(void)state;
	stepup_plugins *p_good = load_set("[{\"name\":\"p\",\"module\":\"good\",\"isolation\":\"inline\"}]");
	stepup_ruleset *rs = compile_with(p_good, "rule r when p.add(card.active_tokens, 1) == 2 then decline\n");

	/* Bound to the set it was compiled with. */
	stepup_engine *e = engine_on(rs, p_good);
	TH_EXPECT(e, "{}", STEPUP_RED, "r", "");
	stepup_engine_free(e);

	/* No plugins at all, through every constructor. */
	expect_unbound(rs, NULL, "ruleset imports p.add(ii->i): no plugins are loaded");
	char err[512];
	e = (stepup_engine *)(uintptr_t)1;
	assert_int_equal(stepup_engine_new(rs, NULL, &e, err, sizeof(err)), STEPUP_ECONFIG);
	assert_null(e);
	assert_string_equal(err, "ruleset imports p.add(ii->i): no plugins are loaded");
	assert_int_equal(stepup_engine_new_from_file(rs, NULL, &e, err, sizeof(err)), STEPUP_ECONFIG);
	assert_null(e);
	stepup_plugins *empty = load_set("[]");
	expect_unbound(rs, empty, "ruleset imports p.add(ii->i): no plugins are loaded");
	stepup_plugins_unref(empty);

	/* No plugin of that name. */
	expect_unbound(rs, S, "ruleset imports p.add(ii->i): no plugin named 'p' is loaded");

	/* A plugin of that name without the function. */
	stepup_plugins *p_geo = load_set("[{\"name\":\"p\",\"module\":\"geo\",\"isolation\":\"inline\","
	                                 "\"config\":{\"default_risk\":1,\"countries\":{\"US\":{}}}}]");
	char want[1024];
	stepup_plugin_info info;
	assert_int_equal(stepup_plugins_info(p_geo, 0, &info), STEPUP_OK);
	snprintf(want, sizeof(want), "ruleset imports p.add(ii->i): plugin 'p' (%s) has no function 'add'",
	         info.path);
	expect_unbound(rs, p_geo, want);
	stepup_plugins_unref(p_geo);

	/* The function with another signature (counter.add is dd->d). */
	stepup_plugins *p_counter = load_set("[{\"name\":\"p\",\"module\":\"counter\",\"isolation\":\"inline\"}]");
	assert_int_equal(stepup_plugins_info(p_counter, 0, &info), STEPUP_OK);
	snprintf(want, sizeof(want),
	         "ruleset imports p.add(ii->i): the loaded plugin declares it as dd->d (%s); recompile the rules",
	         info.path);
	expect_unbound(rs, p_counter, want);

	/* The same refusals for a ruleset loaded from a bundle. */
	size_t len;
	uint8_t *b = serialize(rs, &len);
	stepup_ruleset *back = NULL;
	assert_int_equal(try_load(b, len, err, sizeof(err), &back), STEPUP_OK);
	expect_unbound(back, p_counter, want);
	expect_unbound(back, NULL, "ruleset imports p.add(ii->i): no plugins are loaded");
	e = engine_on(back, p_good);
	TH_EXPECT(e, "{}", STEPUP_RED, "r", "");
	stepup_engine_free(e);
	stepup_ruleset_unref(back);
	free(b);

	stepup_plugins_unref(p_counter);
	stepup_ruleset_unref(rs);
	stepup_plugins_unref(p_good);
}

/* A ruleset without imports needs no plugins, and ignores those given. */
/* A BIN-risk function gets card.bin (the schema derives it from the PAN;
 * the PAN itself is refused at compile time): the value the plugin sees. */
static void plugin_gets_the_bin(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_with(S, "rule bin when good.upper(card.bin) == \"41111111\" then decline\n"
	                                     "rule short_bin when good.upper(card.bin) == \"378282\" then decline\n");
	stepup_engine *e = engine_on(rs, S);
	TH_EXPECT(e, "{\"card\":{\"pan\":\"4111111111111111\"}}", STEPUP_RED, "bin", "");
	TH_EXPECT(e, "{\"card\":{\"pan\":\"378282246310005\"}}", STEPUP_RED, "short_bin", "");
	TH_EXPECT(e, "{\"card\":{\"pan\":null}}", STEPUP_GREEN, "", "");
	stepup_engine_free(e);
	stepup_ruleset_unref(rs);
}

static void no_imports_no_binding(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_with(NULL, "rule r when card.state == CLOSED then decline\n");
	stepup_engine *e = engine_on(rs, S);
	assert_null(((const struct stepup_engine *)e)->imports);
	TH_EXPECT(e, "{\"card\":{\"state\":\"CLOSED\"}}", STEPUP_RED, "r", "");
	stepup_engine_free(e);
	stepup_ruleset_unref(rs);
}

/* ---- the geo plugin ---------------------------------------------------------------- */

static su_plugin *geo_load(const char *config, char *err, size_t n)
{
	su_plugin *p = NULL;
	int rc = su_plugin_load(GEO_DIR "/geo.so", NULL, config, &p, err, n);
	if (rc != STEPUP_OK)
		assert_null(p);
	return p;
}

static su_plugin_arg geo_call(const su_plugin *p, const char *fn, const su_plugin_arg *args)
{
	int k = su_plugin_find(p, fn);
	if (k < 0)
		fail_msg("geo has no function %s", fn);
	su_plugin_arg ret;
	memset(&ret, 0, sizeof(ret));
	assert_int_equal(su_plugin_call(p, (unsigned)k, args, &ret), STEPUP_OK);
	return ret;
}

static int64_t risk(const su_plugin *p, const char *country)
{
	su_plugin_arg a[1] = { { .s = (char *)(uintptr_t)country } };
	return geo_call(p, "country_risk", a).i;
}

static char *region(const su_plugin *p, const char *country)
{
	su_plugin_arg a[1] = { { .s = (char *)(uintptr_t)country } };
	return geo_call(p, "region", a).s;
}

static int in_region(const su_plugin *p, const char *country, const char *reg)
{
	su_plugin_arg a[2] = { { .s = (char *)(uintptr_t)country }, { .s = (char *)(uintptr_t)reg } };
	return geo_call(p, "in_region", a).b;
}

static double cdist(const su_plugin *p, const char *x, const char *y)
{
	su_plugin_arg a[2] = { { .s = (char *)(uintptr_t)x }, { .s = (char *)(uintptr_t)y } };
	return geo_call(p, "country_distance_km", a).d;
}

static double dist(const su_plugin *p, double a1, double o1, double a2, double o2)
{
	su_plugin_arg a[4] = { { .d = a1 }, { .d = o1 }, { .d = a2 }, { .d = o2 } };
	return geo_call(p, "distance_km", a).d;
}

static void geo_functions(void **state)
{
	(void)state;
	char err[512], *cfg = geo_example();
	su_plugin *p = geo_load(cfg, err, sizeof(err));
	free(cfg);
	if (!p)
		fail_msg("geo: %s", err);
	assert_string_equal(su_plugin_name(p), "geo");
	assert_int_equal(su_plugin_nfunctions(p), 5);

	assert_int_equal(risk(p, "US"), 10);
	assert_int_equal(risk(p, "NG"), 80);
	assert_int_equal(risk(p, "KP"), 100);
	assert_int_equal(risk(p, "ng"), 80);   /* case-insensitive */
	assert_int_equal(risk(p, "ZZ"), 60);   /* not listed: the default */
	assert_int_equal(risk(p, ""), 60);
	assert_int_equal(risk(p, "USA"), 60);  /* not an alpha-2 code */
	assert_int_equal(risk(p, "U"), 60);

	char *s = region(p, "fr");
	assert_string_equal(s, "EU");
	free(s);
	assert_null(region(p, "KP"));  /* listed without a region */
	assert_null(region(p, "ZZ"));

	assert_true(in_region(p, "US", "NA"));
	assert_true(in_region(p, "de", "EU"));
	assert_false(in_region(p, "US", "EU"));
	assert_false(in_region(p, "US", "na"));  /* regions are exact */
	assert_false(in_region(p, "KP", ""));
	assert_false(in_region(p, "ZZ", "EU"));

	/* Paris - London is about 344 km; a point to itself is 0. */
	double d = dist(p, 48.8566, 2.3522, 51.5074, -0.1278);
	assert_true(d > 340 && d < 348);
	assert_true(fabs(dist(p, 10, 20, 10, 20)) < 1e-9);
	/* Antipodes: half the circumference. */
	d = dist(p, 0, 0, 0, 180);
	assert_true(d > 20015 && d < 20016);
	assert_true(dist(p, 91, 0, 0, 0) == -1);
	assert_true(dist(p, 0, 0, 0, -180.5) == -1);
	d = cdist(p, "FR", "GB");
	assert_true(d > 340 && d < 348);
	d = cdist(p, "us", "US");
	assert_true(fabs(d) < 1e-9);
	assert_true(cdist(p, "FR", "KP") == -1);  /* no coordinates */
	assert_true(cdist(p, "FR", "ZZ") == -1);
	su_plugin_unload(p);
}

static void geo_config_is_strict(void **state)
{
	(void)state;
	static const struct { const char *cfg, *why; } cases[] = {
		{ "{}", "\"default_risk\" is required" },
		{ "{\"default_risk\":1}", "\"countries\" must be a non-empty object" },
		{ "{\"default_risk\":1,\"countries\":{}}", "\"countries\" must be a non-empty object" },
		{ "{\"default_risk\":1,\"countries\":[]}", "\"countries\" must be a non-empty object" },
		{ "[]", "configuration must be a JSON object" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{}},\"extra\":1}", "unknown key 'extra'" },
		{ "{\"default_risk\":101,\"countries\":{\"US\":{}}}", "default_risk must be an integer from 0 to 100" },
		{ "{\"default_risk\":-1,\"countries\":{\"US\":{}}}", "default_risk must be an integer from 0 to 100" },
		{ "{\"default_risk\":1.5,\"countries\":{\"US\":{}}}", "default_risk must be an integer from 0 to 100" },
		{ "{\"default_risk\":1,\"countries\":{\"USA\":{}}}", "'USA' is not an ISO 3166-1 alpha-2 code" },
		{ "{\"default_risk\":1,\"countries\":{\"us\":{}}}", "'us' is not an ISO 3166-1 alpha-2 code" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":3}}", "countries.US must be an object" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"risk\":\"high\"}}}",
		  "countries.US.risk must be an integer from 0 to 100" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"region\":\"\"}}}", "countries.US.region must be 1 to 32" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"region\":\"N A\"}}}", "countries.US.region must be 1 to 32" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"lat\":10}}}", "countries.US: give both lat and lon" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"lat\":95,\"lon\":0}}}",
		  "countries.US.lat must be a number from -90 to 90" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"lat\":0,\"lon\":\"x\"}}}",
		  "countries.US.lon must be a number from -180 to 180" },
		{ "{\"default_risk\":1,\"countries\":{\"US\":{\"capital\":\"DC\"}}}",
		  "unknown key countries.US.capital (expected risk, region, lat or lon)" },
		{ "{\"default_risk\":1,\"default_risk\":2,\"countries\":{\"US\":{}}}", "configuration: line 1" },
		{ "not json", "configuration: line 1" },
	};
	for (size_t i = 0; i < TH_N(cases); i++) {
		char err[512];
		su_plugin *p = geo_load(cases[i].cfg, err, sizeof(err));
		if (p)
			fail_msg("geo accepted %s", cases[i].cfg);
		if (!strstr(err, "init failed: ") || !strstr(err, cases[i].why))
			fail_msg("geo config %s: message '%s' lacks '%s'", cases[i].cfg, err, cases[i].why);
	}
	/* The smallest valid configuration. */
	char err[512];
	su_plugin *p = geo_load("{\"default_risk\":0,\"countries\":{\"US\":{}}}", err, sizeof(err));
	if (!p)
		fail_msg("geo: %s", err);
	assert_int_equal(risk(p, "US"), 0);
	su_plugin_unload(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calls_every_type),
		cmocka_unit_test(constants_cannot_multiply),
		cmocka_unit_test(absent_argument_never_calls),
		cmocka_unit_test(call_in_or_runs_once),
		cmocka_unit_test(string_arguments_are_copies),
		cmocka_unit_test(string_results_are_freed),
		cmocka_unit_test(explain_shows_calls),
		cmocka_unit_test(method_conditions_call),
		cmocka_unit_test(calls_across_chunks),
		cmocka_unit_test(concurrent_decisions),
		cmocka_unit_test(decide_json_end_to_end),
		cmocka_unit_test(ruleset_load_with_plugins),
		PLUGIN_CASES(DC_CASE)
		DC_ALL_LISTED(dsl_suite),
		cmocka_unit_test(no_plugins_no_functions),
		cmocka_unit_test(configured_names),
		cmocka_unit_test(too_complex),
		cmocka_unit_test(bundle_round_trip_with_imports),
		cmocka_unit_test(bundle_refuses_corrupted_imports),
		cmocka_unit_test(bundle_import_bit_flips),
		cmocka_unit_test(engine_refuses_unbound_imports),
		cmocka_unit_test(no_imports_no_binding),
		cmocka_unit_test(plugin_gets_the_bin),
		cmocka_unit_test(geo_functions),
		cmocka_unit_test(geo_config_is_strict),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
