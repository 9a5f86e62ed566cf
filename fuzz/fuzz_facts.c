/* fuzz_facts.c: libFuzzer target for the replay-safe facts writer
 * (stepup_facts_write, engine/facts.c): bytes -> a request decoded on two
 * fixed engines (the default rules, and rules that compare contacts by
 * suffix and equality) -> its facts in both modes, with and without a
 * hash key. What it writes goes to the decision log and the shadow log.
 *
 * Invariants checked (abort() = a crash libFuzzer reports):
 *  - the length returned is the length written, a truncated write is
 *    terminated, and "{" + facts + "}" is one JSON object;
 *  - no secret comes out: no "pan" or "csc" key anywhere in "facts", no
 *    card number whose digits the input holds (fuzz/common.c's oracle);
 *  - contacts are never in "facts", and of them "reduced" keeps at most
 *    4 characters of a phone (never all its digits) and an e-mail's
 *    domain, never its local part;
 *  - the facts decode back: the request rebuilt from them (contacts as
 *    stand-ins ending with the kept suffix) is accepted, and on the default
 *    rules decides the same when no suffix was withheld.
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

static const char contacts_rules[] =
	"ruleset \"contacts\"\n"
	"rule a when not ends_with(end_user.phone, wallet.phone_suffix) then step_up\n"
	"rule b when ends_with(end_user.email, \"@example.com\") and length(end_user.email) > 8 then step_up\n"
	"rule c when end_user.phone == wallet.phone_suffix then decline\n";

static stepup_engine *engines[2];
static stepup_facts *writers[2][3];  /* per engine: read, declared, read with a key */
static stepup_request *req, *req2;
static stepup_decision *dec, *dec2;

/* A ruleset from a file, or from the source text when src is given. */
static stepup_engine *engine_from(const char *path, const char *src, const char *settings)
{
	stepup_compiler *c = NULL;
	stepup_ruleset *rs = NULL;
	stepup_engine *e = NULL;
	char err[256];
	int rc;
	if (src) {
		c = stepup_compiler_new();
		stepup_compiler_add_source(c, path, src, strlen(src));
		rc = stepup_compiler_compile(c, &rs);
		stepup_compiler_free(c);
	} else {
		rc = stepup_ruleset_load(path, &rs, err, sizeof(err));
	}
	if (rc != STEPUP_OK || stepup_engine_new_from_file(rs, settings, &e, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_facts: %s does not build\n", path);
		abort();
	}
	stepup_ruleset_unref(rs);
	return e;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *rp = getenv("STEPUP_FUZZ_RULES"), *sp = getenv("STEPUP_FUZZ_SETTINGS");
	engines[0] = engine_from(rp ? rp : FUZZ_RULES, NULL, sp ? sp : FUZZ_SETTINGS);
	engines[1] = engine_from("contacts.rules", contacts_rules, sp ? sp : FUZZ_SETTINGS);
	static const char key[] = "fuzz-hash-key-0123456789";
	char err[128];
	for (int e = 0; e < 2; e++) {
		const stepup_ruleset *rs = stepup_engine_ruleset(engines[e]);
		if (stepup_facts_new(rs, STEPUP_FACTS_READ, NULL, 0, &writers[e][0], err, sizeof(err)) ||
		    stepup_facts_new(rs, STEPUP_FACTS_DECLARED, NULL, 0, &writers[e][1], err, sizeof(err)) ||
		    stepup_facts_new(rs, STEPUP_FACTS_READ, key, sizeof(key) - 1, &writers[e][2], err, sizeof(err)))
			abort();
	}
	req = stepup_request_new();
	req2 = stepup_request_new();
	dec = stepup_decision_new();
	dec2 = stepup_decision_new();
	return 0;
}

static void no_key(json_t *o, const char *key)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		CHECK(strcmp(k, key) != 0);
		if (json_is_object(v))
			no_key(v, key);
	}
}

/* A contact's stand-in, as stepup replay builds it. */
static json_t *stand_in(int email, json_t *red)
{
	const char *sfx = json_string_value(json_object_get(red, "suffix"));
	char buf[300];
	if (email)
		snprintf(buf, sizeof(buf), sfx && sfx[0] == '@' ? "replay%s" : sfx ? "replay@d%s" : "replay@replay.invalid",
		         sfx ? sfx : "");
	else
		snprintf(buf, sizeof(buf), "+1000000000%s", sfx ? sfx : "");
	return json_string(buf);
}

static void one(const uint8_t *data, size_t size, int e, int w)
{
	stepup_facts *f = writers[e][w];
	size_t n = stepup_facts_write(f, req, NULL, 0);
	CHECK(n > 0);
	char *buf = malloc(n + 3);
	CHECK(stepup_facts_write(f, req, buf + 1, n + 1) == n);
	CHECK(strlen(buf + 1) == n);
	char small[8];
	CHECK(stepup_facts_write(f, req, small, sizeof(small)) == n);
	CHECK(strlen(small) == (n < sizeof(small) ? n : sizeof(small) - 1));
	check_no_card_echo("facts", data, size, buf + 1, n);
	buf[0] = '{';
	buf[n + 1] = '}';
	buf[n + 2] = '\0';
	json_t *j = json_loads(buf, 0, NULL);
	CHECK(json_is_object(j));
	json_t *facts = json_object_get(j, "facts"), *red = json_object_get(j, "reduced");
	CHECK(json_is_object(facts));
	no_key(facts, "pan");
	no_key(facts, "csc");
	json_t *eu = json_object_get(facts, "end_user");
	CHECK(!json_object_get(eu, "phone") && !json_object_get(eu, "email"));
	int withheld = 0;
	const char *path;
	json_t *r;
	json_object_foreach(red, path, r) {
		const char *sfx = json_string_value(json_object_get(r, "suffix"));
		withheld |= json_object_get(r, "suffix_withheld") != NULL;
		if (!sfx)
			continue;
		if (strstr(path, "email"))
			CHECK(strchr(sfx, '@') == NULL || sfx[0] == '@');
		else
			CHECK(strlen(sfx) <= 4);
	}
	/* Rebuilt from the facts, the request decodes (and decides alike). */
	json_object_set_new(facts, "request_id", json_string("fuzz"));
	if (!eu && (json_object_get(red, "end_user.phone") || json_object_get(red, "end_user.email")))
		json_object_set_new(facts, "end_user", eu = json_object());
	if (json_object_get(red, "end_user.phone"))
		json_object_set_new(eu, "phone", stand_in(0, json_object_get(red, "end_user.phone")));
	if (json_object_get(red, "end_user.email"))
		json_object_set_new(eu, "email", stand_in(1, json_object_get(red, "end_user.email")));
	char *again = json_dumps(facts, JSON_COMPACT);
	char err[256];
	CHECK(again && stepup_request_parse(req2, engines[e], again, strlen(again), err, sizeof(err)) == STEPUP_OK);
	if (e == 0 && !withheld && stepup_decide(engines[e], req2, dec2, 0) == STEPUP_OK) {
		CHECK(stepup_decision_outcome(dec2) == stepup_decision_outcome(dec));
		CHECK(stepup_decision_fired_count(dec2) == stepup_decision_fired_count(dec));
		CHECK(stepup_decision_method_count(dec2) == stepup_decision_method_count(dec));
	}
	free(again);
	json_decref(j);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	for (int e = 0; e < 2; e++) {
		if (stepup_request_parse(req, engines[e], (const char *)data, size, err, sizeof(err)) != STEPUP_OK)
			continue;
		if (stepup_decide(engines[e], req, dec, 0) != STEPUP_OK)
			continue;
		for (int w = 0; w < 3; w++)
			one(data, size, e, w);
	}
	return 0;
}
