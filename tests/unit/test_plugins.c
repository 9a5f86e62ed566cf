/* test_plugins.c: engine/plugins.c and engine/methods.c: a plugin set
 * from configuration (every refusal), methods served through plugins when
 * deciding, deadlines in both isolation modes, failures dropping only the
 * failing plugin's method, counters, the log sink, health, and the public
 * step-up calls. Uses the configurable fake tests/plugins/channel.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stepup/plugin.h>

#include "helpers.h"

/* The host's ABI as its refusals print it ("1.2"), from the header. */
#define XSTR_(x) #x
#define XSTR(x) XSTR_(x)
#define HOST_ABI XSTR(STEPUP_PLUGIN_ABI_MAJOR) "." XSTR(STEPUP_PLUGIN_ABI_MINOR)

#ifndef PLUGIN_DIR
#error "PLUGIN_DIR must name the directory of the built fake plugins"
#endif

#define METHODS "\"methods\":{\"OTP_SMS\":\"channel\",\"IN_APP\":\"channel\",\"CUSTOMER_SERVICE\":\"channel\"}"
#define YELLOW_ALL "{\"wallet\":{\"device_score\":2}}"

/* ---- log sink ---------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];

static void sink(void *ctx, int level, const char *source, const char *msg)
{
	(void)ctx;
	pthread_mutex_lock(&log_mu);
	size_t n = strlen(log_text);
	snprintf(log_text + n, sizeof(log_text) - n, "%d %s: %s\n", level, source, msg);
	pthread_mutex_unlock(&log_mu);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- fixtures ---------------------------------------------------------- */

/* A plugin set from `config` (the text of a whole configuration). */
static stepup_plugins *load(const char *config)
{
	char err[512] = "";
	stepup_plugins *ps = NULL;
	int rc = stepup_plugins_load(config, NULL, sink, NULL, &ps, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("stepup_plugins_load: %s (%s)", err, config);
	return ps;
}

/* "channel" with fake config `fake`, isolation `iso`, deadline `ms`. */
static stepup_plugins *load_channel(const char *fake, const char *iso, unsigned ms)
{
	char cfg[2048];
	snprintf(cfg, sizeof(cfg),
	         "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"timeout_ms\":%u,"
	         "\"load\":[{\"module\":\"channel\",\"isolation\":\"%s\",\"config\":%s}]," METHODS "}}",
	         ms, iso, fake);
	return load(cfg);
}

/* The default rules with plugins and issuer settings without an app id or
 * numbers: whatever IN_APP / CUSTOMER_SERVICE offer comes from plugins. */
static stepup_engine *engine_with(stepup_plugins *ps, const char *settings)
{
	char err[512] = "";
	stepup_ruleset *rs = NULL;
	stepup_engine *e = NULL;
	assert_int_equal(stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err)),
	                 STEPUP_OK);
	if (stepup_engine_new_with_plugins(rs, ps, settings, &e, err, sizeof(err)) != STEPUP_OK)
		fail_msg("engine: %s", err);
	stepup_ruleset_unref(rs);
	return e;
}

/* The explain "plugin" note of method `m`, or "" (malloc'd). */
static char *plugin_note(const char *json, const char *m)
{
	json_t *root = th_json(json), *ms = json_object_get(json_object_get(root, "explain"), "methods");
	size_t i;
	json_t *v;
	char *out = strdup("");
	json_array_foreach(ms, i, v)
		if (strcmp(json_string_value(json_object_get(v, "method")), m) == 0 &&
		    json_object_get(v, "plugin")) {
			free(out);
			out = strdup(json_string_value(json_object_get(v, "plugin")));
		}
	json_decref(root);
	return out;
}

/* Decide patch with explain; the response JSON (malloc'd). */
static char *decide(const stepup_engine *e, const char *patch, double *elapsed_ms)
{
	char *req = th_patched(patch);
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out = NULL;
	size_t len = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = stepup_decide_json(e, r, d, req, strlen(req), STEPUP_DECIDE_EXPLAIN, &out, &len);
	if (elapsed_ms)
		*elapsed_ms = ms_since(&t0);
	assert_int_equal(rc, STEPUP_OK);
	char *copy = strndup(out, len);
	stepup_request_free(r);
	stepup_decision_free(d);
	free(req);
	return copy;
}

/* The idv_methods of a response as "TYPE,TYPE". */
static void method_list(const char *json, char *buf, size_t size)
{
	json_t *root = th_json(json), *v;
	size_t i;
	buf[0] = '\0';
	json_array_foreach(json_object_get(root, "idv_methods"), i, v) {
		size_t n = strlen(buf);
		snprintf(buf + n, size - n, "%s%s", i ? "," : "", json_string_value(json_object_get(v, "type")));
	}
	json_decref(root);
}

static json_t *method_obj(json_t *root, const char *type)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(root, "idv_methods"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "type")), type) == 0)
			return v;
	return NULL;
}

/* ---- configuration ------------------------------------------------------ */

static void test_config_refusals(void **unused)
{
	static const struct {
		const char *config;
		int rc;
		const char *want;
	} cases[] = {
		{ "{\"plugins\":[]}", STEPUP_ECONFIG, "plugins: the \"plugins\" section must be an object" },
		{ "{\"plugins\":{\"lod\":[]}}", STEPUP_ECONFIG,
		  "plugins: unknown key plugins.lod (expected path, timeout_ms, load, methods or "
		  "account_source)" },
		{ "{\"plugins\":{\"timeout_ms\":0}}", STEPUP_ECONFIG,
		  "plugins: timeout_ms must be an integer from 1 to 60000 (milliseconds)" },
		{ "{\"plugins\":{\"path\":\"/x\"}}", STEPUP_ECONFIG, "plugins: path must be an array of directories" },
		{ "{\"plugins\":{\"load\":[{}]}}", STEPUP_ECONFIG, "plugins: load[0] has no \"module\"" },
		{ "{\"plugins\":{\"load\":[{\"module\":\"channel\",\"isolation\":\"fork\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].isolation must be \"thread\" or \"inline\"" },
		{ "{\"plugins\":{\"load\":[{\"module\":\"channel\",\"threads\":0}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].threads must be an integer from 1 to 16" },
		{ "{\"plugins\":{\"load\":[{\"module\":\"channel\",\"name\":\"Bad-Name\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].name must match [a-z_][a-z0-9_]* (at most 64 bytes)" },
		{ "{\"plugins\":{\"load\":[{\"module\":\"channel\",\"colour\":1}]}}", STEPUP_ECONFIG,
		  "plugins: unknown key load[0].colour (expected module, name, timeout_ms, isolation, "
		  "threads, required or config)" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\"},"
		  "{\"module\":\"channel\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[1]: a plugin named 'channel' is already loaded (give one a different \"name\")" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\"}],"
		  "\"methods\":{\"OTP_FAX\":\"channel\"}}}", STEPUP_ECONFIG,
		  "plugins: unknown method methods.OTP_FAX (expected IN_APP, OTP_SMS, OTP_EMAIL or CUSTOMER_SERVICE)" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\"}],"
		  "\"methods\":{\"OTP_SMS\":\"sms\"}}}", STEPUP_ENOTFOUND,
		  "plugins: methods.OTP_SMS: no plugin named 'sms' is loaded" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"good\"}],"
		  "\"methods\":{\"OTP_EMAIL\":\"good\"}}}", STEPUP_ECONFIG,
		  "plugins: methods.OTP_EMAIL: plugin 'good' is not an OTP channel" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"wrong_major\"}]}}",
		  STEPUP_EVERSION,
		  "plugins: load[0]: " PLUGIN_DIR "/wrong_major.so: plugin ABI major 2 is not supported (host " HOST_ABI ")" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"absent\"}]}}",
		  STEPUP_ENOTFOUND, "plugins: load[0]: absent: not found in the plugin search path" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\",\"config\":[1]}]}}",
		  STEPUP_EPLUGIN,
		  "plugins: load[0]: " PLUGIN_DIR "/channel.so: init failed: config must be an object" },
		/* Issue 9: a module is a plain name or a path without "..", and a
		 * path stays inside plugins.path when that is configured. */
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"x y\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].module: x y: not a plain module name ([A-Za-z0-9_.-], no '..') nor a path" },
		{ "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"..\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].module: ..: not a plain module name ([A-Za-z0-9_.-], no '..') nor a path" },
		{ "{\"plugins\":{\"load\":[{\"module\":\"" PLUGIN_DIR "/../.libs/good.so\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].module: " PLUGIN_DIR "/../.libs/good.so: a module path may not contain '..'" },
		{ "{\"plugins\":{\"load\":[{\"module\":\"../x.so\"}]}}", STEPUP_ECONFIG,
		  "plugins: load[0].module: ../x.so: a module path may not contain '..'" },
		{ "{\"plugins\":{\"path\":[\"/usr/lib/stepup/nowhere\"],\"load\":[{\"module\":\"" PLUGIN_DIR
		  "/good.so\"}]}}", STEPUP_EPLUGIN,
		  "plugins: load[0]: " PLUGIN_DIR "/good.so: outside the plugin search path" },
		{ "{\"plugins\":", STEPUP_ECONFIG, NULL },
	};
	(void)unused;
	for (size_t i = 0; i < TH_N(cases); i++) {
		char err[512] = "";
		stepup_plugins *ps = (stepup_plugins *)&ps;
		int rc = stepup_plugins_load(cases[i].config, NULL, NULL, NULL, &ps, err, sizeof(err));
		if (rc != cases[i].rc || (cases[i].want && strcmp(err, cases[i].want) != 0))
			fail_msg("case %zu: rc %d, err \"%s\"; want rc %d, \"%s\"", i, rc, err, cases[i].rc,
			         cases[i].want ? cases[i].want : "(any)");
		assert_null(ps);
		assert_true(err[0] != '\0');
	}
}

/* A relative module path is joined to the configuration's folder as it
 * really is: ".." in how the caller names that folder is fine, ".." in
 * the module is not. */
static void test_relative_module_from_base_dir(void **unused)
{
	(void)unused;
	char err[512] = "";
	stepup_plugins *ps = NULL;
	int rc = stepup_plugins_load("{\"plugins\":{\"load\":[{\"module\":\"./good.so\"}]}}",
	                             PLUGIN_DIR "/../.libs", NULL, NULL, &ps, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("rc %d: %s", rc, err);
	assert_int_equal(stepup_plugins_count(ps), 1);
	stepup_plugins_unref(ps);
	ps = NULL;
	rc = stepup_plugins_load("{\"plugins\":{\"load\":[{\"module\":\"../.libs/good.so\"}]}}", PLUGIN_DIR,
	                         NULL, NULL, &ps, err, sizeof(err));
	assert_int_equal(rc, STEPUP_ECONFIG);
	assert_string_equal(err, "plugins: load[0].module: ../.libs/good.so: a module path may not contain '..'");
	assert_null(ps);
}

static void test_no_section_is_empty_and_ready(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load("{\"issuer\":{\"name\":\"x\"}}");
	assert_int_equal(stepup_plugins_count(ps), 0);
	assert_int_equal(stepup_plugins_ready(ps, NULL, 0), 1);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_OTP_SMS), -1);
	stepup_plugins_unref(ps);
}

static void test_info(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load("{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"timeout_ms\":150,"
	                          "\"load\":[{\"module\":\"good\",\"name\":\"geo\",\"required\":false},"
	                          "{\"module\":\"channel\",\"isolation\":\"inline\",\"timeout_ms\":75}],"
	                          METHODS "}}");
	stepup_plugin_info info;
	assert_int_equal(stepup_plugins_count(ps), 2);
	assert_int_equal(stepup_plugins_info(ps, 0, &info), STEPUP_OK);
	assert_string_equal(info.name, "geo");
	assert_string_equal(info.path, PLUGIN_DIR "/good.so");
	assert_int_equal(info.provides, STEPUP_PROVIDES_FUNCTIONS | STEPUP_PROVIDES_CS);
	assert_int_equal(info.methods, 0);
	assert_int_equal(info.timeout_ms, 150);
	assert_int_equal(info.required, 0);
	assert_int_equal(info.isolated, 1);
	assert_int_equal(stepup_plugins_info(ps, 1, &info), STEPUP_OK);
	assert_string_equal(info.name, "channel");
	assert_string_equal(info.version, "0.0.1");
	assert_int_equal(info.provides, STEPUP_PROVIDES_OTP | STEPUP_PROVIDES_INAPP | STEPUP_PROVIDES_CS |
	                                STEPUP_PROVIDES_ACCOUNT);
	assert_int_equal(info.methods, (1u << STEPUP_OTP_SMS) | (1u << STEPUP_IN_APP) |
	                                   (1u << STEPUP_CUSTOMER_SERVICE));
	assert_int_equal(info.timeout_ms, 75);
	assert_int_equal(info.isolated, 0);
	assert_int_equal(stepup_plugins_info(ps, 2, &info), STEPUP_EINVAL);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_CUSTOMER_SERVICE), 1);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_OTP_EMAIL), -1);
	stepup_plugins_unref(ps);
}

/* ---- deciding through plugins -------------------------------------------- */

static void test_methods_served_by_plugins(void **unused)
{
	(void)unused;
	static const char *const isolation[] = { "thread", "inline" };
	for (int k = 0; k < 2; k++) {
		stepup_plugins *ps = load_channel("{\"describe\":\"{\\\"app_id\\\":\\\"com.fake.app\\\","
		                                  "\\\"app_name\\\":\\\"Fake Bank\\\"}\",\"hours\":\"24/7\"}",
		                                  isolation[k], 500);
		stepup_engine *e = engine_with(ps, NULL);
		char *out = decide(e, YELLOW_ALL, NULL), list[128];
		method_list(out, list, sizeof(list));
		assert_string_equal(list, "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
		json_t *root = th_json(out), *m;
		m = method_obj(root, "IN_APP");
		assert_string_equal(json_string_value(json_object_get(m, "app_id")), "com.fake.app");
		assert_string_equal(json_string_value(json_object_get(m, "app_name")), "Fake Bank");
		m = method_obj(root, "CUSTOMER_SERVICE");
		assert_string_equal(json_string_value(json_object_get(m, "value")), "+1 800 555 0100");
		assert_string_equal(json_string_value(json_object_get(m, "line")), "STANDARD");
		assert_string_equal(json_string_value(json_object_get(m, "hours")), "24/7");
		/* The phone stays masked: the channel only answered "can deliver". */
		m = method_obj(root, "OTP_SMS");
		assert_string_equal(json_string_value(json_object_get(m, "value")), "+1 *** *** 1234");
		json_decref(root);
		free(out);

		/* The fraud line is the router's to choose. */
		out = decide(e, "{\"wallet\":{\"device_suspicious\":true}}", NULL);
		root = th_json(out);
		m = method_obj(root, "CUSTOMER_SERVICE");
		assert_non_null(m);
		assert_string_equal(json_string_value(json_object_get(m, "value")), "+1 800 555 0100 9");
		assert_string_equal(json_string_value(json_object_get(m, "line")), "FRAUD");
		json_decref(root);
		free(out);

		stepup_plugin_stats st;
		assert_int_equal(stepup_plugins_stats(ps, 0, &st), STEPUP_OK);
		assert_true(st.calls >= 4);
		assert_int_equal(st.errors, 0);
		assert_int_equal(st.timeouts, 0);
		uint64_t in_buckets = 0;
		for (int b = 0; b < STEPUP_LATENCY_BUCKETS; b++)
			in_buckets += st.latency_buckets[b];
		assert_int_equal(in_buckets, st.calls);
		stepup_engine_free(e);
		stepup_plugins_unref(ps);
	}
}

static void test_request_summary_has_no_secrets(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load_channel("{}", "inline", 500);
	stepup_engine *e = engine_with(ps, NULL);
	char *out = decide(e, "{\"wallet\":{\"device_score\":2},\"card\":{\"csc\":\"123\"}}", NULL);
	json_t *root = th_json(out);
	json_t *m = method_obj(root, "CUSTOMER_SERVICE");
	assert_string_equal(json_string_value(json_object_get(m, "value")), "+1 800 555 0100");
	json_decref(root);
	free(out);
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* Only the failing plugin's method drops out, and explain says why. */
static void test_failures_drop_only_their_method(void **unused)
{
	(void)unused;
	static const struct {
		const char *fake, *methods, *method, *why;
		int errors;  /* "cannot deliver there" is an answer, not an error */
	} cases[] = {
		{ "{\"fail\":\"can_deliver\",\"status\":3}", "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE", "OTP_SMS",
		  "channel: can_deliver: can_deliver refused by configuration", 0 },
		{ "{\"fail\":\"can_deliver\",\"status\":1}", "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE", "OTP_SMS",
		  "channel: can_deliver: can_deliver refused by configuration", 1 },
		{ "{\"fail\":\"describe\"}", "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE", "IN_APP",
		  "channel: describe: describe refused by configuration", 1 },
		{ "{\"describe\":\"[1,2]\"}", "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE", "IN_APP",
		  "channel: describe: not a JSON object", 1 },
		{ "{\"fail\":\"route\"}", "IN_APP,OTP_SMS,OTP_EMAIL", "CUSTOMER_SERVICE",
		  "channel: route: route refused by configuration", 1 },
		{ "{\"number\":\"call us\"}", "IN_APP,OTP_SMS,OTP_EMAIL", "CUSTOMER_SERVICE",
		  "channel: route: no usable number", 1 },
	};
	for (size_t i = 0; i < TH_N(cases); i++) {
		stepup_plugins *ps = load_channel(cases[i].fake, "thread", 500);
		stepup_engine *e = engine_with(ps, NULL);
		char *out = decide(e, YELLOW_ALL, NULL), list[128];
		method_list(out, list, sizeof(list));
		if (strcmp(list, cases[i].methods) != 0)
			fail_msg("case %zu: methods %s, want %s", i, list, cases[i].methods);
		char *why = plugin_note(out, cases[i].method);
		if (strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: note \"%s\", want \"%s\"", i, why, cases[i].why);
		free(why);
		free(out);
		stepup_plugin_stats st;
		stepup_plugins_stats(ps, 0, &st);
		assert_int_equal(st.errors, cases[i].errors);
		stepup_engine_free(e);
		stepup_plugins_unref(ps);
	}
}

/* When every plugin-served method fails and nothing else is left, the
 * step-up becomes a decline, with a note saying plugins were the cause. */
static void test_nothing_left_declines(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load_channel("{\"fail\":\"can_deliver,describe,route\"}", "inline", 500);
	stepup_engine *e = engine_with(ps, NULL);
	char *out = decide(e, "{\"wallet\":{\"device_score\":2},\"end_user\":{\"email\":null}}", NULL);
	json_t *root = th_json(out);
	assert_string_equal(json_string_value(json_object_get(root, "decision")), "RED");
	assert_non_null(strstr(out, "no ID&V method could be served (plugin failures above)"));
	json_decref(root);
	free(out);
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* A hung plugin under "thread" isolation costs a decision its deadline and
 * no more; the call is counted as a timeout and reported with its name. */
static void test_deadline_thread(void **unused)
{
	(void)unused;
	double slack = th_under_valgrind() ? 600 : 150;
	log_text[0] = '\0';
	stepup_plugins *ps = load_channel("{\"sleep_ms\":700,\"sleep_ops\":\"can_deliver\","
	                                  "\"ignore_deadline\":true}", "thread", 50);
	stepup_engine *e = engine_with(ps, NULL);
	double ms;
	char *out = decide(e, YELLOW_ALL, &ms), list[128];
	method_list(out, list, sizeof(list));
	assert_string_equal(list, "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE");
	if (ms < 45 || ms > 50 + slack)
		fail_msg("decision took %.1f ms with a 50 ms deadline", ms);
	char *why = plugin_note(out, "OTP_SMS");
	assert_string_equal(why, "channel: can_deliver: no answer within 50 ms");
	free(why);
	free(out);
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.errors, 0);
	pthread_mutex_lock(&log_mu);
	assert_non_null(strstr(log_text, "1 channel: can_deliver: no answer within 50 ms"));
	pthread_mutex_unlock(&log_mu);
	/* Unloading waits for the abandoned call to come back. */
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* "inline" trusts the plugin with the deadline: a late answer is still
 * detected, counted and thrown away. */
static void test_deadline_inline(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load_channel("{\"sleep_ms\":120,\"sleep_ops\":\"route\","
	                                  "\"ignore_deadline\":true}", "inline", 30);
	stepup_engine *e = engine_with(ps, NULL);
	double ms;
	char *out = decide(e, YELLOW_ALL, &ms), list[128];
	method_list(out, list, sizeof(list));
	assert_string_equal(list, "IN_APP,OTP_SMS,OTP_EMAIL");
	assert_true(ms >= 119);
	char *why = plugin_note(out, "CUSTOMER_SERVICE");
	assert_string_equal(why, "channel: route: overran its 30 ms deadline");
	free(why);
	free(out);
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.timeouts, 1);
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* A plugin that gives up at its deadline by itself. */
static void test_polite_timeout(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load_channel("{\"sleep_ms\":500,\"sleep_ops\":\"describe\"}", "inline", 40);
	stepup_engine *e = engine_with(ps, NULL);
	double ms;
	char *out = decide(e, YELLOW_ALL, &ms), list[128];
	method_list(out, list, sizeof(list));
	assert_string_equal(list, "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	assert_true(ms < 400);
	free(out);
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.timeouts, 1);
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* Plugin log lines reach the sink under the plugin's configured name. */
static void test_log_sink(void **unused)
{
	(void)unused;
	log_text[0] = '\0';
	stepup_plugins *ps = load("{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\","
	                          "\"name\":\"gateway\",\"config\":{\"log\":true}}],"
	                          "\"methods\":{\"OTP_SMS\":\"gateway\"}}}");
	char err[256];
	assert_int_equal(stepup_plugins_check(ps, 0, err, sizeof(err)), STEPUP_OK);
	pthread_mutex_lock(&log_mu);
	assert_string_equal(log_text, "2 gateway: can_deliver called\n");
	pthread_mutex_unlock(&log_mu);
	stepup_plugins_unref(ps);
}

/* Several deciding threads share one engine and one isolated plugin. */
typedef struct th_arg {
	const stepup_engine *e;
	int ok;
} th_arg;

static void *decider(void *p)
{
	th_arg *a = p;
	char *req = th_patched(YELLOW_ALL);
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	for (int i = 0; i < 50; i++) {
		const char *out;
		size_t len;
		if (stepup_decide_json(a->e, r, d, req, strlen(req), 0, &out, &len) == STEPUP_OK &&
		    stepup_decision_method_count(d) == 4 && strstr(out, "\"hours\":\"9-17\""))
			a->ok++;
	}
	stepup_request_free(r);
	stepup_decision_free(d);
	free(req);
	return NULL;
}

static void test_concurrent_decisions(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load_channel("{\"hours\":\"9-17\"}", "thread", 2000);
	stepup_engine *e = engine_with(ps, NULL);
	pthread_t t[4];
	th_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (th_arg){ e, 0 };
		pthread_create(&t[i], NULL, decider, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ok, 50);
	}
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.calls, 4 * 50 * 3);  /* can_deliver, describe, route */
	assert_int_equal(st.errors + st.timeouts, 0);
	stepup_engine_free(e);
	stepup_plugins_unref(ps);
}

/* The engine keeps its own reference: the caller's can go first. */
static void test_engine_holds_reference(void **unused)
{
	(void)unused;
	stepup_plugins *ps = load_channel("{}", "thread", 500);
	stepup_engine *e = engine_with(ps, NULL);
	assert_ptr_equal(stepup_engine_plugins(e), ps);
	stepup_plugins_unref(ps);
	char *out = decide(e, YELLOW_ALL, NULL), list[128];
	method_list(out, list, sizeof(list));
	assert_string_equal(list, "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	free(out);
	stepup_engine_free(e);
}

/* ---- health and public calls ----------------------------------------------- */

static void test_health(void **unused)
{
	(void)unused;
	char err[256] = "";
	stepup_plugins *ps = load_channel("{\"fail\":\"can_deliver\",\"status\":3}", "thread", 200);
	assert_int_equal(stepup_plugins_check(ps, 0, err, sizeof(err)), STEPUP_EPLUGIN);
	assert_string_equal(err, "channel: can_deliver: can_deliver refused by configuration");
	assert_int_equal(stepup_plugins_ready(ps, err, sizeof(err)), 0);
	stepup_plugins_unref(ps);

	ps = load("{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\","
	          "\"required\":false,\"config\":{\"fail\":\"can_deliver\"}}]}}");
	assert_int_equal(stepup_plugins_ready(ps, err, sizeof(err)), 1);
	stepup_plugins_unref(ps);

	ps = load_channel("{\"sleep_ms\":400,\"ignore_deadline\":true}", "thread", 30);
	assert_int_equal(stepup_plugins_check(ps, 0, err, sizeof(err)), STEPUP_ETIMEOUT);
	assert_string_equal(err, "channel: can_deliver: no answer within 30 ms");
	stepup_plugins_unref(ps);
}

static void test_public_calls(void **unused)
{
	(void)unused;
	char err[256] = "", *number = NULL, *hours = NULL;
	int valid = -1;
	stepup_otp otp = { "+14155551234", "493817", 1790000000, "CARD-DIGITIZATION", "1234", "en" };
	stepup_plugins *ps = load_channel("{\"hours\":\"8-20\"}", "thread", 500);

	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_SMS, &otp, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_EMAIL, &otp, err, sizeof(err)),
	                 STEPUP_ENOTFOUND);
	assert_string_equal(err, "no plugin serves OTP_EMAIL");
	assert_int_equal(stepup_plugins_notify(ps, STEPUP_OTP_SMS, "+14155551234", "Card added", "en", err,
	                                       sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_plugins_inapp_start(ps, "dcs_X", "{}", "en", 1790000000, err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(stepup_plugins_inapp_verify(ps, "dcs_X", "{\"ok\":1}", &valid, err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(valid, 1);
	assert_int_equal(stepup_plugins_inapp_verify(ps, "dcs_X", "{\"bad\":1}", &valid, err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(valid, 0);
	assert_int_equal(stepup_plugins_cs_route(ps, "{}", STEPUP_LINE_FRAUD, &number, &hours, err,
	                                         sizeof(err)), STEPUP_OK);
	assert_string_equal(number, "+1 800 555 0100 9");
	assert_string_equal(hours, "8-20");
	free(number);
	free(hours);
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.calls, 6);
	assert_int_equal(st.errors, 0);  /* a rejected proof is an answer */
	stepup_plugins_unref(ps);

	ps = load_channel("{\"fail\":\"deliver_otp,notify,start,verify\"}", "inline", 500);
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_SMS, &otp, err, sizeof(err)),
	                 STEPUP_EPLUGIN);
	assert_string_equal(err, "channel: deliver_otp: deliver_otp refused by configuration");
	assert_null(strstr(err, "493817"));
	assert_int_equal(stepup_plugins_notify(ps, STEPUP_OTP_SMS, "+14155551234", "x", "en", err,
	                                       sizeof(err)), STEPUP_EPLUGIN);
	assert_int_equal(stepup_plugins_inapp_start(ps, "dcs_X", NULL, NULL, 0, err, sizeof(err)),
	                 STEPUP_EPLUGIN);
	assert_int_equal(stepup_plugins_inapp_verify(ps, "dcs_X", "{\"ok\":1}", &valid, err, sizeof(err)),
	                 STEPUP_EPLUGIN);
	assert_int_equal(valid, 0);
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.errors, 4);
	stepup_plugins_unref(ps);
}

/* The account data source: the issuer's facts for a known card, an
 * answer (no facts) for an unknown one, failures and bad facts refused
 * without quoting the card data. */
static void test_account_source(void **unused)
{
	(void)unused;
	char err[256] = "", *facts = NULL, cfg[2048];
	stepup_card_data card = { "4111111111111111", "12", "29", "123", "req-1" };
	const char *fake = "{\"accounts\":{\"4111111111111111\":{\"card\":{\"state\":\"ACTIVE\","
	                   "\"csc\":\"123\"},\"end_user\":{\"phone\":\"+447700900123\"}}}}";
	snprintf(cfg, sizeof(cfg),
	         "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\","
	         "\"config\":%s}],\"account_source\":\"channel\"}}", fake);
	stepup_plugins *ps = load(cfg);
	assert_int_equal(stepup_plugins_account_source(ps), 0);
	stepup_plugin_info info;
	assert_int_equal(stepup_plugins_info(ps, 0, &info), STEPUP_OK);
	assert_true(info.provides & STEPUP_PROVIDES_ACCOUNT);

	assert_int_equal(stepup_plugins_account_lookup(ps, &card, &facts, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(facts, "{\"card\":{\"state\":\"ACTIVE\",\"csc_result\":\"MATCH\"},"
	                           "\"end_user\":{\"phone\":\"+447700900123\"}}");
	free(facts);
	card.csc = "999";
	assert_int_equal(stepup_plugins_account_lookup(ps, &card, &facts, err, sizeof(err)), STEPUP_OK);
	assert_non_null(strstr(facts, "NO_MATCH"));
	free(facts);
	card.pan = "5555555555554444";  /* unknown to the issuer: an answer */
	facts = (char *)"x";
	assert_int_equal(stepup_plugins_account_lookup(ps, &card, &facts, err, sizeof(err)), STEPUP_OK);
	assert_null(facts);
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.calls, 3);
	assert_int_equal(st.errors, 0);
	stepup_plugins_unref(ps);

	/* Facts holding a card number, or not an object: refused, unquoted. */
	static const char *const bad[] = {
		"{\"facts_raw\":\"{\\\"card\\\":{\\\"ref\\\":\\\"4111 1111 1111 1111\\\"}}\"}",
		"{\"facts_raw\":\"[1,2]\"}",
		"{\"fail\":\"lookup\"}",
	};
	static const char *const why[] = {
		"channel: lookup: returned facts holding a card number",
		"channel: lookup: returned facts that are not one JSON object",
		"channel: lookup: lookup refused by configuration",
	};
	card.pan = "4111111111111111";
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		snprintf(cfg, sizeof(cfg),
		         "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":\"channel\","
		         "\"config\":%s}],\"account_source\":\"channel\"}}", bad[k]);
		ps = load(cfg);
		facts = NULL;
		assert_int_equal(stepup_plugins_account_lookup(ps, &card, &facts, err, sizeof(err)),
		                 STEPUP_EPLUGIN);
		assert_null(facts);
		assert_string_equal(err, why[k]);
		stepup_plugins_unref(ps);
	}

	/* No source configured; a source that is not one. */
	ps = load_channel("{}", "thread", 200);
	assert_int_equal(stepup_plugins_account_lookup(ps, &card, &facts, err, sizeof(err)), STEPUP_ENOTFOUND);
	assert_string_equal(err, "no account data source is configured");
	stepup_plugins_unref(ps);
	ps = NULL;
	snprintf(cfg, sizeof(cfg), "{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":"
	         "\"good\"}],\"account_source\":\"good\"}}");
	assert_int_equal(stepup_plugins_load(cfg, NULL, sink, NULL, &ps, err, sizeof(err)), STEPUP_ECONFIG);
	assert_string_equal(err, "plugins: account_source: plugin 'good' is not an account data source");
	assert_null(ps);
}

/* A queue that is full answers "busy" at once instead of piling up: one
 * worker stuck for 1.5 s, calls abandoned at 100 ms each stay queued. */
static void test_busy(void **unused)
{
	(void)unused;
	char err[256];
	stepup_plugins *ps = load("{\"plugins\":{\"path\":[\"" PLUGIN_DIR "\"],\"load\":[{\"module\":"
	                          "\"channel\",\"threads\":1,\"timeout_ms\":100,\"config\":{\"sleep_ms\":1500,"
	                          "\"ignore_deadline\":true}}]}}");
	for (int i = 0; i < 9; i++)
		assert_int_equal(stepup_plugins_check(ps, 0, err, sizeof(err)), STEPUP_ETIMEOUT);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(stepup_plugins_check(ps, 0, err, sizeof(err)), STEPUP_EPLUGIN);
	/* Not waiting for the deadline (100 ms) is the point. */
	double ms = ms_since(&t0);
	if (ms >= 60)
		fail_msg("a busy plugin took %.1f ms to refuse", ms);
	assert_string_equal(err, "channel: can_deliver: busy: 8 calls already waiting");
	stepup_plugin_stats st;
	stepup_plugins_stats(ps, 0, &st);
	assert_int_equal(st.calls, 10);
	assert_int_equal(st.timeouts, 9);
	assert_int_equal(st.errors, 1);
	stepup_plugins_unref(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_refusals),
		cmocka_unit_test(test_relative_module_from_base_dir),
		cmocka_unit_test(test_no_section_is_empty_and_ready),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_methods_served_by_plugins),
		cmocka_unit_test(test_request_summary_has_no_secrets),
		cmocka_unit_test(test_failures_drop_only_their_method),
		cmocka_unit_test(test_nothing_left_declines),
		cmocka_unit_test(test_deadline_thread),
		cmocka_unit_test(test_deadline_inline),
		cmocka_unit_test(test_polite_timeout),
		cmocka_unit_test(test_log_sink),
		cmocka_unit_test(test_concurrent_decisions),
		cmocka_unit_test(test_engine_holds_reference),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_public_calls),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_account_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
