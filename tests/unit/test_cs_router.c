/* test_cs_router.c: the reference plugin plugins/cs_router loaded through
 * engine/plugin_loader.c: routing by default, country and language, the
 * fraud line and its fallback, hours, every configuration refusal with a
 * message naming the problem, and requests without country or language. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/error.h>

#include "plugin_fixture.h"

#ifndef CS_ROUTER_SO
#error "CS_ROUTER_SO must name the built plugins/.libs/cs_router.so"
#endif

static const char *const CONFIG =
	"{\"default\": {\"standard\": \"+1-800-555-0100\", \"fraud\": \"+1-800-555-0199\","
	"               \"hours\": \"24/7\"},"
	" \"routes\": ["
	"  {\"country\": \"GB\", \"standard\": \"+44 800 000 0000\", \"fraud\": \"+44 800 000 0001\","
	"   \"hours\": \"Mon-Fri 08:00-20:00 Europe/London\"},"
	"  {\"language\": \"fr\", \"standard\": \"+33 800 000 000\","
	"   \"hours\": \"Lun-Ven 09:00-18:00 Europe/Paris\"},"
	"  {\"country\": \"de\", \"fraud\": \"+49 800 000 0001\"},"
	"  {\"language\": \"pt-BR\", \"standard\": \"+55 800 000 0000\"}"
	" ]}";

/* ---- helpers -------------------------------------------------------------- */

static su_plugin *load(const char *config)
{
	char err[512];
	su_plugin *p = NULL;
	int rc = su_plugin_load(CS_ROUTER_SO, NULL, config, &p, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("load cs_router: %s", err);
	return p;
}

static int setup(void **state)
{
	*state = load(CONFIG);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	su_plugin_unload(*state);
	return 0;
}

/* Route `request` on `line`; expect OK with `number` and `hours` (NULL:
 * none). */
static void expect_route(const su_plugin *p, const char *request, int line, const char *number,
			 const char *hours)
{
	const stepup_cs_router *cs = su_plugin_desc(p)->cs;
	char err[128] = "";
	stepup_call_ctx ctx = { sizeof(ctx), 200, INT64_MAX, err, sizeof(err) };
	stepup_cs_route out = { NULL, NULL };
	int rc = cs->route(su_plugin_state(p), &ctx, request, line, &out);
	if (rc != STEPUP_PLUGIN_OK)
		fail_msg("route(%s, line %d): status %d: %s", request ? request : "NULL", line, rc, err);
	assert_non_null(out.number);
	assert_string_equal(out.number, number);
	if (hours) {
		assert_non_null(out.hours);
		assert_string_equal(out.hours, hours);
	} else {
		assert_null(out.hours);
	}
	free(out.number);
	free(out.hours);
}

static void expect_both(const su_plugin *p, const char *request, const char *standard,
			const char *fraud, const char *hours)
{
	expect_route(p, request, STEPUP_CS_LINE_STANDARD, standard, hours);
	expect_route(p, request, STEPUP_CS_LINE_FRAUD, fraud, hours);
}

#define US_EN "{\"wallet\": {\"device_country\": \"US\"}, \"end_user\": {\"language\": \"en-US\"}}"
#define GB_FR "{\"wallet\": {\"device_country\": \"GB\"}, \"end_user\": {\"language\": \"fr-FR\"}}"
#define BE_FR "{\"wallet\": {\"device_country\": \"BE\"}, \"end_user\": {\"language\": \"fr-BE\"}}"

/* ---- routing -------------------------------------------------------------- */

static void test_descriptor(void **state)
{
	const su_plugin *p = *state;
	assert_string_equal(su_plugin_name(p), "cs_router");
	assert_string_equal(su_plugin_version(p), "1.0.0");
	assert_int_equal(su_plugin_nfunctions(p), 0);
	assert_null(su_plugin_desc(p)->otp);
	assert_null(su_plugin_desc(p)->inapp);
	assert_non_null(su_plugin_desc(p)->cs);
}

static void test_default(void **state)
{
	expect_both(*state, US_EN, "+1-800-555-0100", "+1-800-555-0199", "24/7");
}

static void test_country(void **state)
{
	expect_both(*state, GB_FR, "+44 800 000 0000", "+44 800 000 0001",
		    "Mon-Fri 08:00-20:00 Europe/London");
	/* case-insensitive on both sides: route "de", request "DE" / "gb" */
	expect_route(*state, "{\"wallet\": {\"device_country\": \"gb\"}}", STEPUP_CS_LINE_STANDARD,
		     "+44 800 000 0000", "Mon-Fri 08:00-20:00 Europe/London");
}

static void test_language(void **state)
{
	/* BE has no country route: "fr" matches "fr-BE" */
	expect_route(*state, BE_FR, STEPUP_CS_LINE_STANDARD, "+33 800 000 000",
		     "Lun-Ven 09:00-18:00 Europe/Paris");
	expect_route(*state, "{\"end_user\": {\"language\": \"fr\"}}", STEPUP_CS_LINE_STANDARD,
		     "+33 800 000 000", "Lun-Ven 09:00-18:00 Europe/Paris");
	expect_route(*state, "{\"end_user\": {\"language\": \"FR_ca\"}}", STEPUP_CS_LINE_STANDARD,
		     "+33 800 000 000", "Lun-Ven 09:00-18:00 Europe/Paris");
	/* a prefix only on a subtag boundary: "fra" is not "fr" */
	expect_route(*state, "{\"end_user\": {\"language\": \"fra\"}}", STEPUP_CS_LINE_STANDARD,
		     "+1-800-555-0100", "24/7");
	/* a longer configured tag needs the whole tag */
	expect_route(*state, "{\"end_user\": {\"language\": \"pt-BR\"}}", STEPUP_CS_LINE_STANDARD,
		     "+55 800 000 0000", NULL);
	expect_route(*state, "{\"end_user\": {\"language\": \"pt-PT\"}}", STEPUP_CS_LINE_STANDARD,
		     "+1-800-555-0100", "24/7");
}

static void test_country_before_language(void **state)
{
	/* a country route wins over an earlier language route */
	expect_route(*state, "{\"wallet\": {\"device_country\": \"DE\"}, \"end_user\": {\"language\": \"fr\"}}",
		     STEPUP_CS_LINE_FRAUD, "+49 800 000 0001", NULL);
}

static void test_fraud_fallback(void **state)
{
	/* the fr route has no fraud number: its standard number */
	expect_route(*state, BE_FR, STEPUP_CS_LINE_FRAUD, "+33 800 000 000",
		     "Lun-Ven 09:00-18:00 Europe/Paris");
	/* the de route has only a fraud number: standard comes from default */
	expect_route(*state, "{\"wallet\": {\"device_country\": \"DE\"}}", STEPUP_CS_LINE_FRAUD,
		     "+49 800 000 0001", NULL);
	expect_route(*state, "{\"wallet\": {\"device_country\": \"DE\"}}", STEPUP_CS_LINE_STANDARD,
		     "+1-800-555-0100", "24/7");
}

static void test_default_without_fraud(void **unused)
{
	(void)unused;
	su_plugin *p = load("{\"default\": {\"standard\": \"+1 800 555 0100\"}}");
	expect_both(p, US_EN, "+1 800 555 0100", "+1 800 555 0100", NULL);
	expect_both(p, "{}", "+1 800 555 0100", "+1 800 555 0100", NULL);
	su_plugin_unload(p);
}

static void test_absent_fields(void **state)
{
	const char *reqs[] = {
		"{}",
		"{\"wallet\": {}, \"end_user\": {}}",
		"{\"wallet\": null, \"end_user\": 3}",
		"{\"wallet\": {\"device_country\": null}, \"end_user\": {\"language\": null}}",
		"{\"wallet\": {\"device_country\": 44}, \"end_user\": {\"language\": [\"fr\"]}}",
		"{\"wallet\": {\"device_country\": \"\"}, \"end_user\": {\"language\": \"\"}}",
		"{\"wallet\": {\"device_country\": \"G\"}, \"end_user\": {\"language\": \"f\"}}",
		NULL,
	};
	for (size_t k = 0; k < sizeof(reqs) / sizeof(*reqs); k++)
		expect_both(*state, reqs[k], "+1-800-555-0100", "+1-800-555-0199", "24/7");
}

static void test_bad_calls(void **state)
{
	const su_plugin *p = *state;
	const stepup_cs_router *cs = su_plugin_desc(p)->cs;
	char err[128] = "";
	stepup_call_ctx ctx = { sizeof(ctx), 200, INT64_MAX, err, sizeof(err) };
	stepup_cs_route out = { NULL, NULL };
	assert_int_equal(cs->route(su_plugin_state(p), &ctx, "{}", 7, &out), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "cs_router: unknown line");
	assert_int_equal(cs->route(su_plugin_state(p), &ctx, "not json +33612345678", 0, &out),
			 STEPUP_PLUGIN_EINVAL);
	/* the reason never quotes the request */
	assert_string_equal(err, "cs_router: request is not a JSON object");
	assert_int_equal(cs->route(su_plugin_state(p), &ctx, "[1]", 0, &out), STEPUP_PLUGIN_EINVAL);
	assert_null(out.number);
	assert_null(out.hours);
	/* a context without an error buffer */
	stepup_call_ctx quiet = { sizeof(quiet), 200, INT64_MAX, NULL, 0 };
	assert_int_equal(cs->route(su_plugin_state(p), &quiet, "{}", -1, &out), STEPUP_PLUGIN_EINVAL);
}

static void test_example_config(void **unused)
{
	(void)unused;
	FILE *f = fopen(SRCDIR "/plugins/cs_router/cs_router.example.json", "rb");
	assert_non_null(f);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(buf) - 1);
	buf[n] = '\0';
	su_plugin *p = load(buf);
	expect_route(p, GB_FR, STEPUP_CS_LINE_FRAUD, "+44 800 000 0001",
		     "Mon-Fri 08:00-20:00 Europe/London");
	su_plugin_unload(p);
}

/* ---- refusals ------------------------------------------------------------- */

#define DEF "\"default\": {\"standard\": \"+1-800-555-0100\"}"

static void test_refusals(void **unused)
{
	(void)unused;
	static const struct {
		const char *config, *want;
	} cases[] = {
		{ "{}", "default: missing" },
		{ "[]", "configuration must be a JSON object" },
		{ "{\"default\": {\"standard\": \"+1\"}", NULL /* JSON error, checked below */ },
		{ "{" DEF ", \"extra\": 1}", "unknown key 'extra' (expected 'default', 'routes')" },
		{ "{" DEF ", " DEF "}", NULL },
		{ "{\"default\": \"+1-800-555-0100\"}", "default: must be an object" },
		{ "{\"default\": {}}", "default.standard: missing" },
		{ "{\"default\": {\"fraud\": \"+1-800-555-0199\"}}", "default.standard: missing" },
		{ "{\"default\": {\"standard\": 18005550100}}", "default.standard: must be a string" },
		{ "{\"default\": {\"standard\": \"1-800-555-0100\"}}",
		  "default.standard: must be a phone number like \"+1-800-555-0100\"" },
		{ "{\"default\": {\"standard\": \"+1-800-CALL-NOW\"}}",
		  "default.standard: must be a phone number like \"+1-800-555-0100\"" },
		{ "{\"default\": {\"standard\": \"+12\"}}",
		  "default.standard: must be a phone number like \"+1-800-555-0100\"" },
		{ "{\"default\": {\"standard\": \"+1234567890123456\"}}",
		  "default.standard: must be a phone number like \"+1-800-555-0100\"" },
		{ "{\"default\": {\"standard\": \"+1--800\"}}",
		  "default.standard: must be a phone number like \"+1-800-555-0100\"" },
		{ "{\"default\": {\"standard\": \"+1-800-555-0100\", \"fraud\": \"\"}}",
		  "default.fraud: must be a phone number like \"+1-800-555-0100\"" },
		{ "{\"default\": {\"standard\": \"+1-800-555-0100\", \"hours\": 24}}",
		  "default.hours: must be a string" },
		{ "{\"default\": {\"standard\": \"+1-800-555-0100\", \"hours\": \"\"}}",
		  "default.hours: must be non-empty text of at most 256 printable characters" },
		{ "{\"default\": {\"standard\": \"+1-800-555-0100\", \"hours\": \"a\\nb\"}}",
		  "default.hours: must be non-empty text of at most 256 printable characters" },
		{ "{\"default\": {\"standard\": \"+1-800-555-0100\", \"country\": \"US\"}}",
		  "default: unknown key 'country'" },
		{ "{\"default\": {\"standard\": \"+1-800-555-0100\", \"Standard\": \"+1-800-555-0100\"}}",
		  "default: unknown key 'Standard'" },
		{ "{" DEF ", \"routes\": {}}", "routes: must be an array" },
		{ "{" DEF ", \"routes\": [\"GB\"]}", "routes[0]: must be an object" },
		{ "{" DEF ", \"routes\": [{\"standard\": \"+44 800 000 0000\"}]}",
		  "routes[0]: needs a 'country' or a 'language'" },
		{ "{" DEF ", \"routes\": [{\"country\": \"GB\"}]}",
		  "routes[0]: needs a 'standard' or a 'fraud' number" },
		{ "{" DEF ", \"routes\": [{\"country\": \"GB\", \"language\": \"en\", \"standard\": \"+44 800 000 0000\"}]}",
		  "routes[0]: has both 'country' and 'language'; use one route for each" },
		{ "{" DEF ", \"routes\": [{\"country\": \"GBR\", \"standard\": \"+44 800 000 0000\"}]}",
		  "routes[0].country: must be a two-letter country code like \"GB\"" },
		{ "{" DEF ", \"routes\": [{\"country\": 44, \"standard\": \"+44 800 000 0000\"}]}",
		  "routes[0].country: must be a string" },
		{ "{" DEF ", \"routes\": [{\"language\": \"f\", \"standard\": \"+33 800 000 000\"}]}",
		  "routes[0].language: must be a language tag like \"fr\" or \"pt-BR\"" },
		{ "{" DEF ", \"routes\": [{\"language\": \"fr-\", \"standard\": \"+33 800 000 000\"}]}",
		  "routes[0].language: must be a language tag like \"fr\" or \"pt-BR\"" },
		{ "{" DEF ", \"routes\": [{\"language\": \"fr\", \"standard\": \"+33 800 000 000\"},"
		  " {\"language\": \"de\", \"standard\": \"+49 800\", \"lines\": 2}]}",
		  "routes[1]: unknown key 'lines'" },
		{ "{" DEF ", \"routes\": [{\"language\": \"fr\", \"standard\": \"+33 800 000 000\"},"
		  " {\"language\": \"de\", \"fraud\": null}]}",
		  "routes[1].fraud: must be a string" },
		{ "{" DEF ", \"routes\": [{\"country\": \"GB\", \"standard\": \"+44 800 000 0000\"},"
		  " {\"country\": \"gb\", \"standard\": \"+44 800 000 0001\"}]}",
		  "routes[1]: country 'GB' already routed by routes[0]" },
		{ "{" DEF ", \"routes\": [{\"language\": \"fr\", \"standard\": \"+33 800 000 000\"},"
		  " {\"language\": \"FR\", \"standard\": \"+33 800 000 001\"}]}",
		  "routes[1]: language 'FR' already routed by routes[0]" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++)
		if (cases[k].want)
			pf_expect_refused(CS_ROUTER_SO, cases[k].config, cases[k].want);

	/* Invalid JSON and duplicate keys: jansson's reason follows our prefix. */
	static const char *const bad_json[] = { "{\"default\": {\"standard\": \"+1\"}", "{" DEF ", " DEF "}",
						"", "nonsense" };
	for (size_t k = 0; k < sizeof(bad_json) / sizeof(*bad_json); k++) {
		char err[512], want[512];
		su_plugin *p = NULL;
		int rc = su_plugin_load(CS_ROUTER_SO, NULL, bad_json[k], &p, err, sizeof(err));
		assert_int_equal(rc, STEPUP_EPLUGIN);
		assert_null(p);
		snprintf(want, sizeof(want), "%s: init failed: configuration is not valid JSON (line ",
			 CS_ROUTER_SO);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("config '%s': got '%s'", bad_json[k], err);
	}
	/* the host passes "{}" when the plugin has no configuration */
	su_plugin *p = NULL;
	char err[512];
	assert_int_equal(su_plugin_load(CS_ROUTER_SO, NULL, NULL, &p, err, sizeof(err)), STEPUP_EPLUGIN);
	assert_non_null(strstr(err, "init failed: default: missing"));
}

int main(void)
{
	const struct CMUnitTest routing[] = {
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_country),
		cmocka_unit_test(test_language),
		cmocka_unit_test(test_country_before_language),
		cmocka_unit_test(test_fraud_fallback),
		cmocka_unit_test(test_absent_fields),
		cmocka_unit_test(test_bad_calls),
	};
	const struct CMUnitTest config[] = {
		cmocka_unit_test(test_default_without_fraud),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_refusals),
	};
	int failed = cmocka_run_group_tests_name("cs_router: routing", routing, setup, teardown);
	failed += cmocka_run_group_tests_name("cs_router: configuration", config, NULL, NULL);
	return failed;
}
