/* test_request.c: the request decoder (engine/request.c) against DESIGN §3:
 * every malformed or off-contract input is a STEPUP_EBADREQ (or
 * STEPUP_ETOOBIG) naming the field, never a crash; unknown fields are
 * ignored; null is absent; escapes are decoded; secrets never come out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "schema.h"

#define MIB (1u << 20)

/* The engine on rules/default.rules (th_default_setup). */
#define E th_default

/* Parse `len` bytes copied into an exact-size heap buffer (no terminator,
 * so an over-read shows under valgrind); check status, error field and
 * message, then the same through stepup_decide_json and its error object. */
static void expect_bad_n(const char *json, size_t len, int want_rc, const char *field)
{
	char *copy = malloc(len ? len : 1);
	char err[256];
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	char what[256];
	assert_non_null(copy);
	memcpy(copy, json, len);
	/* How failures name the input: its start, and its size. */
	snprintf(what, sizeof(what), "input %.200s%s (%zu bytes)", json, strnlen(json, 201) > 200 ? "..." : "", len);

	memset(err, 'X', sizeof(err));
	int rc = stepup_request_parse(r, E, copy, len, err, sizeof(err));
	if (rc != want_rc)
		fail_msg("%s: parse rc %d, expected %d (%s)", what, rc, want_rc, rc ? err : "accepted");
	if (strcmp(stepup_request_error_field(r), field) != 0)
		fail_msg("%s: error field '%s', expected '%s' (%s)", what, stepup_request_error_field(r), field,
		         err);
	if (!memchr(err, '\0', sizeof(err)) || !err[0])
		fail_msg("%s: no NUL-terminated message", what);
	if (field[0] && !strstr(err, field))
		fail_msg("%s: message '%s' does not name %s", what, err, field);
	assert_string_equal(stepup_request_id(r), "");

	const char *out = NULL;
	size_t outlen = 0;
	rc = stepup_decide_json(E, r, d, copy, len, 0, &out, &outlen);
	if (rc != want_rc)
		fail_msg("%s: decide_json rc %d, expected %d", what, rc, want_rc);
	assert_non_null(out);
	json_error_t je;
	json_t *j = json_loadb(out, outlen, 0, &je);
	if (!j)
		fail_msg("error output is not JSON: %s", out);
	json_t *e = json_object_get(j, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")),
	                    want_rc == STEPUP_ETOOBIG ? "too_large" : "bad_request");
	const char *jf = json_string_value(json_object_get(e, "field"));
	if (field[0]) {
		if (!jf || strcmp(jf, field) != 0)
			fail_msg("%s: error JSON field '%s', expected '%s': %s", what, jf ? jf : "(none)", field, out);
	} else if (jf && jf[0]) {
		fail_msg("%s: error JSON names field '%s' for a document error", what, jf);
	}
	const char *msg = json_string_value(json_object_get(e, "message"));
	assert_non_null(msg);
	assert_true(msg[0] != '\0');
	assert_null(json_object_get(j, "decision"));
	json_decref(j);
	stepup_request_free(r);
	stepup_decision_free(d);
	free(copy);
}

static void expect_bad_field_or_doc(const char *json, const char *field)
{
	stepup_request *r = stepup_request_new();
	int rc = stepup_request_parse(r, E, json, strlen(json), NULL, 0);
	if (rc != STEPUP_EBADREQ)
		fail_msg("input %.200s: rc %d", json, rc);
	const char *f = stepup_request_error_field(r);
	int named = strcmp(f, field) == 0;
	stepup_request_free(r);
	expect_bad_n(json, strlen(json), STEPUP_EBADREQ, named ? field : "");
}

static void expect_bad(const char *json, const char *field)
{
	expect_bad_n(json, strlen(json), STEPUP_EBADREQ, field);
}

/* Wrap a fragment into an otherwise valid request. */
static void expect_bad_member(const char *member, const char *field)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "{\"request_id\":\"r1\",%s}", member);
	expect_bad(buf, field);
}

/* expect_bad on a request formatted from fmt. */
__attribute__((format(printf, 2, 3))) static void expect_badf(const char *field, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	expect_bad(buf, field);
}

/* A refused input and the field the refusal names ("" for none). Lists of
 * them end with { NULL, NULL }. */
typedef struct bad_case {
	const char *input, *field;
} bad_case;

/* expect_bad on every input of the list. */
static void expect_bad_each(const bad_case *c)
{
	for (; c->input; c++)
		expect_bad(c->input, c->field);
}

/* expect_bad_member on every member of the list. */
static void expect_bad_member_each(const bad_case *c)
{
	for (; c->input; c++)
		expect_bad_member(c->input, c->field);
}

/* Tests that are nothing but such a list (registered with DOCS_TEST and
 * MEMBERS_TEST; *state is the list). */
static void refused_documents(void **state)
{
	expect_bad_each(*state);
}

static void refused_members(void **state)
{
	expect_bad_member_each(*state);
}

#define DOCS_TEST(list) { #list, refused_documents, NULL, NULL, (void *)(list) }
#define MEMBERS_TEST(list) { #list, refused_members, NULL, NULL, (void *)(list) }

static th_result decide_ok(const char *json)
{
	th_result r = th_decide(E, json);
	if (r.rc != STEPUP_OK)
		fail_msg("input %.300s: rc %d: %s", json, r.rc, r.json ? r.json : "");
	return r;
}

static void expect_ok(const char *json)
{
	th_result r = decide_ok(json);
	th_result_free(&r);
}

/* ---- wrong types --------------------------------------------------------- */

static void wrong_type_string_fields(void **state)
{
	(void)state;
	static const bad_case docs[] = {
		{ "{\"request_id\":123}", "request_id" },
		{ "{\"request_id\":true}", "request_id" },
		{ "{\"request_id\":[\"a\"]}", "request_id" },
		{ "{\"request_id\":{\"a\":1}}", "request_id" },
		{ NULL, NULL },
	};
	expect_bad_each(docs);
	static const bad_case members[] = {
		{ "\"token_requestor\":{\"id\":50110030273}", "token_requestor.id" },
		{ "\"token_requestor\":{\"name\":true}", "token_requestor.name" },
		{ "\"card\":{\"pan\":5412751234561234}", "card.pan" },
		{ "\"card\":{\"pan_suffix\":1234}", "card.pan_suffix" },
		{ "\"card\":{\"csc\":123}", "card.csc" },
		{ "\"end_user\":{\"phone\":14155551234}", "end_user.phone" },
		{ "\"end_user\":{\"email\":[]}", "end_user.email" },
		{ "\"end_user\":{\"language\":{}}", "end_user.language" },
		{ "\"wallet\":{\"phone_suffix\":1234}", "wallet.phone_suffix" },
		{ "\"wallet\":{\"device_country\":false}", "wallet.device_country" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
}

static const bad_case wrong_type_int_fields[] = {
	{ "\"card\":{\"active_tokens\":\"2\"}", "card.active_tokens" },
	{ "\"card\":{\"active_tokens\":true}", "card.active_tokens" },
	{ "\"card\":{\"active_tokens\":[2]}", "card.active_tokens" },
	{ "\"card\":{\"active_tokens\":{}}", "card.active_tokens" },
	{ "\"card\":{\"csc_failures_24h\":\"0\"}", "card.csc_failures_24h" },
	{ "\"wallet\":{\"device_score\":\"3\"}", "wallet.device_score" },
	{ "\"wallet\":{\"account_score\":false}", "wallet.account_score" },
	{ "\"wallet\":{\"phone_score\":[]}", "wallet.phone_score" },
	{ NULL, NULL },
};

static const bad_case floats_for_ints[] = {
	{ "\"card\":{\"active_tokens\":2.0}", "card.active_tokens" },
	{ "\"card\":{\"active_tokens\":2.5}", "card.active_tokens" },
	{ "\"card\":{\"active_tokens\":1e1}", "card.active_tokens" },
	{ "\"card\":{\"active_tokens\":1E+1}", "card.active_tokens" },
	{ "\"card\":{\"csc_failures_24h\":0.0}", "card.csc_failures_24h" },
	{ "\"wallet\":{\"device_score\":3.0}", "wallet.device_score" },
	{ "\"wallet\":{\"phone_score\":2.9}", "wallet.phone_score" },
	{ "\"card\":{\"active_tokens\":99999999999999999999}", "card.active_tokens" },
	{ NULL, NULL },
};

static void int_ranges(void **state)
{
	(void)state;
	static const bad_case members[] = {
		{ "\"wallet\":{\"device_score\":0}", "wallet.device_score" },
		{ "\"wallet\":{\"device_score\":6}", "wallet.device_score" },
		{ "\"wallet\":{\"account_score\":0}", "wallet.account_score" },
		{ "\"wallet\":{\"account_score\":6}", "wallet.account_score" },
		{ "\"wallet\":{\"phone_score\":0}", "wallet.phone_score" },
		{ "\"wallet\":{\"phone_score\":6}", "wallet.phone_score" },
		{ "\"wallet\":{\"phone_score\":-1}", "wallet.phone_score" },
		{ "\"card\":{\"active_tokens\":-1}", "card.active_tokens" },
		{ "\"card\":{\"csc_failures_24h\":-3}", "card.csc_failures_24h" },
		{ "\"card\":{\"active_tokens\":1000001}", "card.active_tokens" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
	/* In-range edges are accepted. */
	expect_ok("{\"request_id\":\"r\",\"wallet\":{\"device_score\":1,\"account_score\":5,\"phone_score\":5}}");
	expect_ok("{\"request_id\":\"r\",\"card\":{\"active_tokens\":0,\"csc_failures_24h\":1000000}}");
	expect_ok("{\"request_id\":\"r\",\"card\":{\"active_tokens\":-0}}");
}

static const bad_case wrong_type_bool_fields[] = {
	{ "\"end_user\":{\"app_enrolled\":\"true\"}", "end_user.app_enrolled" },
	{ "\"end_user\":{\"app_enrolled\":1}", "end_user.app_enrolled" },
	{ "\"end_user\":{\"otp_exhausted\":0}", "end_user.otp_exhausted" },
	{ "\"end_user\":{\"otp_exhausted\":[]}", "end_user.otp_exhausted" },
	{ "\"wallet\":{\"device_suspicious\":\"yes\"}", "wallet.device_suspicious" },
	{ "\"wallet\":{\"device_suspicious\":{}}", "wallet.device_suspicious" },
	{ NULL, NULL },
};

static const bad_case wrong_type_and_range_enum_fields[] = {
	{ "\"tsp\":1", "tsp" },
	{ "\"tsp\":\"mdes\"", "tsp" },
	{ "\"tsp\":\"VISA\"", "tsp" },
	{ "\"channel\":\"\"", "channel" },
	{ "\"channel\":[\"XPAY_WALLET\"]", "channel" },
	{ "\"card\":{\"state\":\"active\"}", "card.state" },
	{ "\"card\":{\"state\":true}", "card.state" },
	{ "\"card\":{\"state\":\"ACTIVE \"}", "card.state" },
	{ "\"card\":{\"capture_method\":\"SCAN\"}", "card.capture_method" },
	{ "\"card\":{\"csc_result\":\"MISSING\"}", "card.csc_result" },
	{ "\"card\":{\"csc_result\":0}", "card.csc_result" },
	{ "\"wallet\":{\"recommended_decision\":\"APPROVE\"}", "wallet.recommended_decision" },
	{ "\"wallet\":{\"recommended_decision\":\"GREEN\"}", "wallet.recommended_decision" },
	{ NULL, NULL },
};

static const bad_case wrong_type_array_field[] = {
	{ "\"wallet\":{\"reason_codes\":\"HIGH_RISK\"}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":{}}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":5}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":true}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":[1]}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":[null]}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":[\"HIGH_RISK\",true]}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":[[\"HIGH_RISK\"]]}", "wallet.reason_codes" },
	{ "\"wallet\":{\"reason_codes\":[{\"code\":\"HIGH_RISK\"}]}", "wallet.reason_codes" },
	{ NULL, NULL },
};

static const bad_case wrong_type_groups[] = {
	{ "\"card\":[]", "card" },
	{ "\"card\":\"ACTIVE\"", "card" },
	{ "\"end_user\":1", "end_user" },
	{ "\"wallet\":true", "wallet" },
	{ "\"token_requestor\":\"APPLE_PAY\"", "token_requestor" },
	{ NULL, NULL },
};

/* ---- document-level errors ------------------------------------------------ */

static const bad_case non_object_top_level[] = {
	{ "[]", "" },
	{ "[{\"request_id\":\"a\"}]", "" },
	{ "\"request_id\"", "" },
	{ "42", "" },
	{ "true", "" },
	{ "null", "" },
	{ NULL, NULL },
};

static void empty_input(void **state)
{
	(void)state;
	expect_bad_n("", 0, STEPUP_EBADREQ, "");
	expect_bad("   \n\t ", "");
	stepup_request *r = stepup_request_new();
	assert_int_equal(stepup_request_parse(r, E, NULL, 0, NULL, 0), STEPUP_EBADREQ);
	assert_int_equal(stepup_request_parse(r, E, NULL, 5, NULL, 0), STEPUP_EINVAL);
	stepup_request_free(r);
}

static void truncated_json(void **state)
{
	(void)state;
	static const bad_case docs[] = {
		{ "{", "" },
		{ "{\"request_id\"", "" },
		{ "{\"request_id\":", "" },
		{ "{\"request_id\":\"a", "" },
		{ "{\"request_id\":\"a\"", "" },
		{ "{\"request_id\":\"a\",", "" },
		{ "{\"request_id\":\"a\",\"card\":{\"state\":\"ACTIVE\"", "" },
		{ "{\"request_id\":\"a\",\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"", "" },
		{ NULL, NULL },
	};
	expect_bad_each(docs);
	/* Cut every prefix of a full request: never accepted, never a crash. */
	size_t n = strlen(th_base_request);
	for (size_t k = 0; k < n; k++) {
		stepup_request *r = stepup_request_new();
		char *copy = malloc(k ? k : 1);
		memcpy(copy, th_base_request, k);
		int rc = stepup_request_parse(r, E, copy, k, NULL, 0);
		if (rc != STEPUP_EBADREQ)
			fail_msg("prefix of %zu bytes: rc %d", k, rc);
		free(copy);
		stepup_request_free(r);
	}
}

static void trailing_garbage(void **state)
{
	(void)state;
	static const bad_case docs[] = {
		{ "{\"request_id\":\"a\"} x", "" },
		{ "{\"request_id\":\"a\"}}", "" },
		{ "{\"request_id\":\"a\"}]", "" },
		{ "{\"request_id\":\"a\"}{}", "" },
		{ "{\"request_id\":\"a\"},", "" },
		{ "{\"request_id\":\"a\"} 1", "" },
		{ "{\"request_id\":\"a\"} \"x\"", "" },
		{ NULL, NULL },
	};
	expect_bad_each(docs);
	/* An embedded NUL then more text. */
	expect_bad_n("{\"request_id\":\"a\"}\0{}", 21, STEPUP_EBADREQ, "");
	/* Garbage before the object. */
	expect_bad("x{\"request_id\":\"a\"}", "");
	expect_bad(",{\"request_id\":\"a\"}", "");
	/* Trailing whitespace is fine. */
	expect_ok("{\"request_id\":\"a\"} \n\r\t");
	expect_ok(" \n{\"request_id\":\"a\"}");
}

static const bad_case missing_separators[] = {
	{ "{\"a\":1 \"b\":2, \"request_id\":\"x\"}", "" },
	{ "{\"request_id\":\"x\" \"tsp\":\"MDES\"}", "" },
	{ "{\"request_id\" \"x\"}", "" },
	{ "{\"request_id\"::\"x\"}", "" },
	{ "{\"request_id\":\"x\",,\"tsp\":\"MDES\"}", "" },
	{ "{,\"request_id\":\"x\"}", "" },
	{ "{\"request_id\":\"x\",\"card\":{\"state\":\"ACTIVE\" \"pan_suffix\":\"1234\"}}", "" },
	{ "{\"request_id\":\"x\",\"x\":[1 2]}", "" },
	{ "{\"request_id\":\"x\",\"x\":[1,,2]}", "" },
	{ "{\"request_id\":\"x\",\"x\":{\"a\" 1}}", "" },
	{ "{\"request_id\":\"x\",\"x\":{\"a\":1 \"b\":2}}", "" },
	{ "{\"request_id\":\"x\",\"wallet\":{\"reason_codes\":[\"A\" \"B\"]}}", "" },
	{ "{\"request_id\":\"x\",\"x\":1:2}", "" },
	{ "{\"request_id\":\"x\";\"tsp\":\"MDES\"}", "" },
	/* Keys must be strings. */
	{ "{request_id:\"x\"}", "" },
	{ "{\"request_id\":\"x\",1:2}", "" },
	{ "{\"request_id\":\"x\",null:2}", "" },
	{ "{'request_id':'x'}", "" },
	{ NULL, NULL },
};

static const bad_case trailing_commas[] = {
	{ "{\"request_id\":\"x\",}", "" },
	{ "{\"request_id\":\"x\",\"x\":[1,]}", "" },
	{ "{\"request_id\":\"x\",\"card\":{\"state\":\"ACTIVE\",}}", "" },
	{ "{\"request_id\":\"x\",\"wallet\":{\"reason_codes\":[\"HIGH_RISK\",]}}", "" },
	{ "{\"request_id\":\"x\",\"x\":{\"a\":1,}}", "" },
	{ "{\"request_id\":\"x\",\"x\":[,]}", "" },
	{ NULL, NULL },
};

static void bad_literals(void **state)
{
	(void)state;
	static const char *const lits[] = {
		"tru", "True", "TRUE", "nul", "NULL", "fals", "01", "00", "1.", ".5", "-", "+1", "1e", "1e+",
		"0x10", "NaN", "Infinity", "-Infinity", "--1", "1.2.3", "truex", "nulll", "1-2",
	};
	for (size_t i = 0; i < TH_N(lits); i++) {
		expect_badf("", "{\"request_id\":\"x\",\"unknown\":%s}", lits[i]);
		expect_badf("", "{\"request_id\":\"x\",\"unknown\":[%s]}", lits[i]);
	}
	static const bad_case members[] = {
		/* In known fields, named. */
		{ "\"end_user\":{\"app_enrolled\":tru}", "end_user.app_enrolled" },
		/* Not even a JSON token: a document error, no field to name. */
		{ "\"end_user\":{\"app_enrolled\":True}", "" },
		{ "\"card\":{\"active_tokens\":01}", "card.active_tokens" },
		{ "\"card\":{\"active_tokens\":1.}", "card.active_tokens" },
		{ "\"card\":{\"active_tokens\":+1}", "" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
	/* Well-formed literals in unknown fields are fine. */
	expect_ok("{\"request_id\":\"x\",\"u\":[true,false,null,0,-0,1.5,-2e10,3E-2,1e999,{},[],\"s\"]}");
}

static void control_characters_in_strings(void **state)
{
	(void)state;
	expect_bad("{\"request_id\":\"a\x01" "b\"}", "request_id");
	static const bad_case members[] = {
		{ "\"token_requestor\":{\"name\":\"APPLE\nPAY\"}", "token_requestor.name" },
		{ "\"end_user\":{\"language\":\"en\tUS\"}", "end_user.language" },
		{ "\"card\":{\"state\":\"ACTIVE\x1f\"}", "card.state" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
	/* Raw control characters make the text not JSON: naming the field is
	 * a courtesy, either form is accepted here. */
	expect_bad_field_or_doc("{\"request_id\":\"r1\",\"wallet\":{\"reason_codes\":[\"HIGH\x02RISK\"]}}",
	                        "wallet.reason_codes");
	/* In an unknown field: the document is not JSON. */
	expect_bad("{\"request_id\":\"x\",\"u\":\"a\x01\"}", "");
	expect_bad("{\"request_id\":\"x\",\"u\":[\"a\nb\"]}", "");
	/* Escaped control characters are legal JSON. */
	expect_ok("{\"request_id\":\"x\",\"u\":\"a\\u0001\\n\\t\"}");
}

/* A raw control character in a key is as malformed as one in a value. */
static const bad_case control_character_in_key[] = {
	{ "{\"request_id\":\"x\",\"u\x01\":1}", "" },
	{ "{\"request_id\":\"x\",\"card\":{\"st\nate\":\"ACTIVE\"}}", "" },
	{ NULL, NULL },
};

static void invalid_escapes(void **state)
{
	(void)state;
	static const char *const esc[] = {
		"\\x41", "\\u12", "\\u12G4", "\\'", "\\a", "\\U0041", "\\u", "\\0", "\\ ",
	};
	char buf[256];
	for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"request_id\":\"x\",\"token_requestor\":{\"name\":\"a%sb\"}}", esc[i]);
		stepup_request *r = stepup_request_new();
		int rc = stepup_request_parse(r, E, buf, strlen(buf), NULL, 0);
		if (rc != STEPUP_EBADREQ)
			fail_msg("escape %s accepted", esc[i]);
		stepup_request_free(r);
		snprintf(buf, sizeof(buf), "{\"request_id\":\"x\",\"u\":\"a%sb\"}", esc[i]);
		r = stepup_request_new();
		rc = stepup_request_parse(r, E, buf, strlen(buf), NULL, 0);
		if (rc != STEPUP_EBADREQ)
			fail_msg("escape %s accepted in an unknown field", esc[i]);
		stepup_request_free(r);
	}
	static const bad_case members[] = {
		/* Lone surrogates and NUL in a known string field. */
		{ "\"token_requestor\":{\"name\":\"\\ud800\"}", "token_requestor.name" },
		{ "\"token_requestor\":{\"name\":\"\\udc00x\"}", "token_requestor.name" },
		{ "\"token_requestor\":{\"name\":\"\\ud800\\u0041\"}", "token_requestor.name" },
		{ "\"token_requestor\":{\"name\":\"a\\u0000b\"}", "token_requestor.name" },
		{ "\"card\":{\"state\":\"\\u0000ACTIVE\"}", "card.state" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
	/* A valid pair is fine. */
	expect_ok("{\"request_id\":\"x\",\"token_requestor\":{\"name\":\"\\ud83d\\ude00\"}}");
}

static void invalid_utf8(void **state)
{
	(void)state;
	static const char *const bad8[] = {
		"\xff", "\xfe", "\xc3", "\xc3(", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xf8\x88\x80\x80\x80", "\x80", "a\xe2\x82", "\xf0\x9f\x98",
	};
	for (size_t i = 0; i < TH_N(bad8); i++) {
		expect_badf("token_requestor.name", "{\"request_id\":\"x\",\"token_requestor\":{\"name\":\"%s\"}}",
		            bad8[i]);
		expect_badf("end_user.language", "{\"request_id\":\"x\",\"end_user\":{\"language\":\"en%s\"}}",
		            bad8[i]);
		expect_badf("request_id", "{\"request_id\":\"x%s\"}", bad8[i]);
	}
	/* Valid UTF-8 is accepted. */
	expect_ok("{\"request_id\":\"x\",\"token_requestor\":{\"name\":\"Caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\"}}");
}

/* RFC 8259 §8.1: a JSON text is UTF-8. Invalid bytes in an ignored field
 * still make the document malformed. */
static const bad_case invalid_utf8_in_unknown_field[] = {
	{ "{\"request_id\":\"x\",\"u\":\"\xff\"}", "" },
	{ "{\"request_id\":\"x\",\"u\xc3\":1}", "" },
	{ NULL, NULL },
};

/* prefix + open*depth + core + close*depth + suffix; objects nest around
 * a value "1", arrays around nothing. */
static char *nest(size_t depth, const char *open, const char *close, const char *prefix, const char *suffix)
{
	const char *core = strchr(open, ':') ? "1" : "";
	size_t lo = strlen(open), lc = strlen(close), lp = strlen(prefix), ls = strlen(suffix), lk = strlen(core);
	char *s = malloc(lp + depth * (lo + lc) + lk + ls + 1), *p = s;
	memcpy(p, prefix, lp);
	p += lp;
	for (size_t i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, core, lk);
	p += lk;
	for (size_t i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	memcpy(p, suffix, ls + 1);
	return s;
}

static void deep_nesting(void **state)
{
	(void)state;
#define UNKNOWN_U "{\"request_id\":\"x\",\"u\":"
	static const struct {
		size_t depth;
		const char *open, *close, *prefix, *suffix;
		int ok;
	} cases[] = {
		/* 10,000 deep in an unknown field. */
		{ 10000, "[", "]", UNKNOWN_U, "}", 0 },
		{ 10000, "{\"a\":", "}", UNKNOWN_U, "}", 0 },
		/* 10,000 deep at the top. */
		{ 10000, "{\"a\":", "}", "", "", 0 },
		{ 10000, "[", "]", "", "", 0 },
		/* Unbalanced: only openers. */
		{ 10000, "[", "", UNKNOWN_U, "", 0 },
		/* Deep but within the token budget: the depth limit itself. */
		{ 3000, "[", "]", UNKNOWN_U, "}", 0 },
		{ 100, "{\"a\":", "}", UNKNOWN_U, "}", 0 },
		/* Inside a known group, deeper than the limit. */
		{ 100, "[", "]", "{\"request_id\":\"x\",\"card\":{\"u\":", "}}", 0 },
		/* Shallow nesting in unknown fields is ignored. */
		{ 8, "[", "]", UNKNOWN_U, "}", 1 },
		{ 8, "{\"a\":", "}", "{\"request_id\":\"x\",\"card\":{\"state\":\"ACTIVE\",\"u\":", "}}", 1 },
	};
#undef UNKNOWN_U
	for (size_t i = 0; i < TH_N(cases); i++) {
		char *s = nest(cases[i].depth, cases[i].open, cases[i].close, cases[i].prefix, cases[i].suffix);
		if (cases[i].ok)
			expect_ok(s);
		else
			expect_bad(s, "");
		free(s);
	}
}

/* A document of exactly `total` bytes with a string of filler in `where`. */
static char *big_doc(size_t total, int in_request_id)
{
	const char *pre = in_request_id ? "{\"request_id\":\"" : "{\"request_id\":\"x\",\"unknown\":\"";
	const char *post = "\"}";
	size_t lp = strlen(pre), ls = strlen(post);
	char *s = malloc(total + 1);
	memcpy(s, pre, lp);
	memset(s + lp, 'a', total - lp - ls);
	memcpy(s + total - ls, post, ls + 1);
	return s;
}

static void huge_strings(void **state)
{
	(void)state;
	static const struct {
		size_t total;
		int in_request_id;
	} over[] = {
		/* A 1 MiB string: the document is over the limit. */
		{ MIB + 32, 1 },
		{ MIB + 32, 0 },
		/* One byte over. */
		{ MIB + 1, 0 },
	};
	for (size_t i = 0; i < TH_N(over); i++) {
		char *big = big_doc(over[i].total, over[i].in_request_id);
		expect_bad_n(big, strlen(big), STEPUP_ETOOBIG, "");
		free(big);
	}
	/* Exactly 1 MiB is allowed; a big unknown string is ignored... */
	char *s = big_doc(MIB, 0);
	th_result r = decide_ok(s);
	assert_null(strstr(r.json, "aaaa"));
	th_result_free(&r);
	free(s);
	/* ...but a request_id of that size is refused by its own limit. */
	s = big_doc(MIB, 1);
	expect_bad(s, "request_id");
	free(s);
	/* Too-big input is refused before anything is read: even garbage. */
	char *g = malloc(MIB + 1);
	memset(g, '{', MIB + 1);
	expect_bad_n(g, MIB + 1, STEPUP_ETOOBIG, "");
	free(g);
}

static void long_known_strings(void **state)
{
	(void)state;
	char buf[2048], val[600];
	memset(val, 'a', 129);
	val[129] = '\0';
	snprintf(buf, sizeof(buf), "{\"request_id\":\"%s\"}", val);
	expect_bad(buf, "request_id");
	val[128] = '\0';
	snprintf(buf, sizeof(buf), "{\"request_id\":\"%s\"}", val);
	expect_ok(buf);
	memset(val, 'a', 500);
	val[500] = '\0';
	snprintf(buf, sizeof(buf), "{\"request_id\":\"x\",\"token_requestor\":{\"name\":\"%s\"}}", val);
	expect_bad(buf, "token_requestor.name");
}

/* {"request_id":"x","u":[1,1,...]} with n values in the array (malloc'd). */
static char *many_values(size_t n)
{
	char *s = malloc(64 + n * 2), *p = s;
	assert_non_null(s);
	p += sprintf(p, "{\"request_id\":\"x\",\"u\":[");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i ? ",1" : "1");
	strcpy(p, "]}");
	return s;
}

/* docs/contract.md: at most 8192 JSON values per request, object keys
 * included. many_values(n) holds 5 + n: the object, request_id and its
 * value, "u" and its array, then n elements. */
static void too_many_values(void **state)
{
	(void)state;
	char *s = many_values(8192 - 5);
	expect_ok(s);
	free(s);
	s = many_values(8192 - 4);
	expect_bad(s, "");
	char err[256];
	stepup_request *r = stepup_request_new();
	assert_int_equal(stepup_request_parse(r, E, s, strlen(s), err, sizeof(err)), STEPUP_EBADREQ);
	assert_string_equal(err, "request has more than 8192 JSON values");
	stepup_request_free(r);
	free(s);
	s = many_values(20000);
	expect_bad(s, "");
	free(s);
}

/* ---- fields ------------------------------------------------------------ */

static void duplicate_known_fields(void **state)
{
	(void)state;
	expect_bad("{\"request_id\":\"a\",\"request_id\":\"b\"}", "request_id");
	static const bad_case members[] = {
		{ "\"tsp\":\"MDES\",\"tsp\":\"VTS\"", "tsp" },
		{ "\"tsp\":null,\"tsp\":\"VTS\"", "tsp" },
		{ "\"card\":{\"state\":\"ACTIVE\",\"state\":\"CLOSED\"}", "card.state" },
		{ "\"card\":{\"state\":\"CLOSED\"},\"card\":{\"state\":\"ACTIVE\"}", "card.state" },
		{ "\"wallet\":{\"device_score\":5,\"device_score\":1}", "wallet.device_score" },
		{ "\"wallet\":{\"reason_codes\":[],\"reason_codes\":[\"HIGH_RISK\"]}", "wallet.reason_codes" },
		{ "\"end_user\":{\"phone\":\"+14155551234\",\"phone\":\"+14155559999\"}", "end_user.phone" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
	/* Duplicate unknown fields are ignored. */
	expect_ok("{\"request_id\":\"a\",\"u\":1,\"u\":2}");
}

static const bad_case missing_request_id[] = {
	{ "{}", "request_id" },
	{ "{\"tsp\":\"MDES\",\"card\":{\"state\":\"ACTIVE\"}}", "request_id" },
	{ "{\"request_id\":null}", "request_id" },
	{ "{\"request_id\":\"\"}", "request_id" },
	{ "{\"request_id\":\"a b\"}", "request_id" },
	{ "{\"card\":{\"request_id\":\"a\"}}", "request_id" },
	{ "{\"Request_Id\":\"a\"}", "request_id" },
	{ NULL, NULL },
};

static void request_id_luhn_pan(void **state)
{
	(void)state;
	static const char *const ids[] = {
		"4111111111111111", "5555555555554444", "req-4111111111111111", "4111111111111111-req",
		"378282246310005", "6011111111111117",
	};
	char buf[256];
	for (size_t i = 0; i < TH_N(ids); i++) {
		snprintf(buf, sizeof(buf), "{\"request_id\":\"%s\",\"card\":{\"state\":\"ACTIVE\"}}", ids[i]);
		expect_bad(buf, "request_id");
		th_result r = th_decide(E, buf);
		assert_int_equal(r.rc, STEPUP_EBADREQ);
		if (strstr(r.json, ids[i]))
			fail_msg("PAN-like request_id echoed: %s", r.json);
		th_result_free(&r);
	}
	/* UUIDs and short digit runs are fine. */
	expect_ok("{\"request_id\":\"7c0b6f9e-1d2a-4e55-9a0e-3f1f2a8c9d10\"}");
	expect_ok("{\"request_id\":\"123456789012\"}");
}

/* docs/contract.md: request_id is "refused if it contains a card number".
 * A PAN written in groups is still a card number and must not be echoed. */
static void request_id_formatted_pan(void **state)
{
	(void)state;
	static const char *const ids[] = { "4111-1111-1111-1111", "4111.1111.1111.1111", "4111_1111_1111_1111" };
	char buf[128];
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"request_id\":\"%s\"}", ids[i]);
		th_result r = th_decide(E, buf);
		if (r.rc != STEPUP_EBADREQ || strstr(r.json, ids[i]))
			fail_msg("card number in request_id accepted/echoed: %s", r.json);
		th_result_free(&r);
	}
}

/* The spellings of issue 9 and docs/pci.md: unbroken, with letters
 * around, every separator, other networks. */
static const char *const card_spellings[] = {
	"4111111111111111", "req4111111111111111", "4111111111111111x", "DWSPMC4111111111111111",
	"4111/1111/1111/1111", "4111:1111:1111:1111", "4111+1111+1111+1111", "4111-1111-1111-1111",
	"4111.1111.1111.1111", "4111_1111_1111_1111", "4111 1111 1111 1111", "4111 - 1111 - 1111 - 1111",
	"5555555555554444", "378282246310005", "3782 822463 10005", "6011111111111117",
	"id:6011-1111-1111-1117:x",
};

/* Digits of s, in order (what a card number is whatever its spelling). */
static void digits_of(const char *s, char *out, size_t size)
{
	size_t k = 0;
	for (; *s && k + 1 < size; s++)
		if (*s >= '0' && *s <= '9')
			out[k++] = *s;
	out[k] = '\0';
}

/* A request with `value` at dotted `path` (a string, or an array of one
 * string for the reason codes), beside a valid request_id unless the path
 * is request_id itself. */
static void request_with(char *buf, size_t size, const char *path, const char *value, int array)
{
	const char *dot = strchr(path, '.');
	char v[256];
	snprintf(v, sizeof(v), array ? "[\"%s\"]" : "\"%s\"", value);
	if (strcmp(path, "request_id") == 0)
		snprintf(buf, size, "{\"request_id\":%s}", v);
	else if (!dot)
		snprintf(buf, size, "{\"request_id\":\"r1\",\"%s\":%s}", path, v);
	else
		snprintf(buf, size, "{\"request_id\":\"r1\",\"%.*s\":{\"%s\":%s}}", (int)(dot - path), path, dot + 1,
		         v);
}

/* Refused naming `field`, saying why, and the number never comes back:
 * not in the message, not in the error object, in no spelling. */
static void expect_card_refused(const char *json, const char *field, const char *number)
{
	char err[256], digits[32], out_digits[4096];
	stepup_request *r = stepup_request_new();
	int rc = stepup_request_parse(r, E, json, strlen(json), err, sizeof(err));
	if (rc != STEPUP_EBADREQ || strcmp(stepup_request_error_field(r), field) != 0)
		fail_msg("%s: rc %d, field '%s' (%s); expected a refusal naming %s", json, rc,
		         stepup_request_error_field(r), rc ? err : "accepted", field);
	char want[128];
	snprintf(want, sizeof(want), "%s: holds a card number; refused without echoing it", field);
	if (strcmp(err, want) != 0)
		fail_msg("%s: message '%s', expected '%s'", json, err, want);
	stepup_request_free(r);

	th_result res = th_decide(E, json);
	assert_int_equal(res.rc, STEPUP_EBADREQ);
	digits_of(number, digits, sizeof(digits));
	digits_of(res.json, out_digits, sizeof(out_digits));
	if (strstr(res.json, number) || strstr(out_digits, digits) ||
	    stepup_card_number_find(res.json, strlen(res.json), NULL, NULL))
		fail_msg("%s: the card number comes back: %s", json, res.json);
	json_t *j = th_json(res.json);
	json_t *id = json_object_get(j, "request_id");
	if (strcmp(field, "request_id") == 0)
		assert_null(id);
	else
		assert_string_equal(json_string_value(id), "r1");  /* passed the policy: echoed */
	json_decref(j);
	th_result_free(&res);
}

/* Issue 9 / docs/pci.md: every string field of the schema but card.pan,
 * today's and any added later (the loop reads the schema), refuses a
 * card number in every spelling, and so do the reason codes. */
static void every_string_field_refuses_card_numbers(void **state)
{
	(void)state;
	const stepup_ruleset *rs = stepup_engine_ruleset(E);
	unsigned fields = 0;
	for (size_t i = 0; i < stepup_ruleset_field_count(rs); i++) {
		stepup_field_info f;
		assert_int_equal(stepup_ruleset_field(rs, i, &f), STEPUP_OK);
		int list = strncmp(f.type, "list", 4) == 0;
		/* Strings and lists, but where a card number belongs, and not what
		 * is never read from a request. */
		if ((strcmp(f.type, "string") != 0 && !list) || strcmp(f.format, "card_number") == 0 || f.derived[0])
			continue;
		fields++;
		for (size_t k = 0; k < TH_N(card_spellings); k++) {
			char value[128], json[512];
			/* An e-mail address carries it in its local part. */
			snprintf(value, sizeof(value), strcmp(f.format, "email") == 0 ? "%s@example.com" : "%s",
			         card_spellings[k]);
			request_with(json, sizeof(json), f.path, value, list);
			expect_card_refused(json, f.path, card_spellings[k]);
		}
	}
	assert_true(fields >= 11);  /* request_id, token_requestor.id/name, ... */
}

/* Applied to the value as sent: a JSON escape does not hide the number,
 * and keep_digits() on phones runs only after the check. */
static void card_number_escaped_or_punctuated(void **state)
{
	(void)state;
	expect_card_refused("{\"request_id\":\"\\u0034111111111111111\"}", "request_id", "4111111111111111");
	expect_card_refused("{\"request_id\":\"r1\",\"end_user\":{\"phone\":\"4111 1111 1111 1111\"}}",
	                    "end_user.phone", "4111111111111111");
	/* The raw text decides: with parentheses the groups are not one run,
	 * although the digits alone (5511912345676) would be a card number. */
	expect_ok("{\"request_id\":\"r1\",\"end_user\":{\"phone\":\"+55 (11) 91234-5676\"}}");
	expect_card_refused("{\"request_id\":\"r1\",\"wallet\":{\"phone_suffix\":\"4111.1111.1111.1111\"}}",
	                    "wallet.phone_suffix", "4111111111111111");
}

/* docs/pci.md: what is not a card number passes. Timestamps in ms, us and
 * ns, 20+ digit ids, a Luhn-failing 16-digit run, a UUID; card.pan still
 * takes a card number. */
static void harmless_long_numbers_pass(void **state)
{
	(void)state;
	static const char *const ids[] = {
		"1733529600123", "1733529600123456", "1733529600123456789", "req-1733529600123456789",
		"17335296001234567890", "123456789012345678901234567890", "5412751234561234",
		"7c0b6f9e-1d2a-4e55-9a0e-3f1f2a8c9d10", "4111a1111b1111c1111",
	};
	char buf[256];
	for (size_t i = 0; i < TH_N(ids); i++) {
		snprintf(buf, sizeof(buf), "{\"request_id\":\"%s\",\"token_requestor\":{\"id\":\"%s\"}}", ids[i], ids[i]);
		th_result r = decide_ok(buf);
		json_t *j = th_json(r.json);
		assert_string_equal(json_string_value(json_object_get(j, "request_id")), ids[i]);
		json_decref(j);
		th_result_free(&r);
	}
	/* Every ns timestamp of a day's worth of seconds passes (one in ten
	 * failed with the old detector). */
	for (unsigned long long t = 1733529600ULL; t < 1733529600ULL + 86400; t += 97) {
		snprintf(buf, sizeof(buf), "{\"request_id\":\"%llu%09llu\"}", t, (t * 7919) % 1000000000ULL);
		expect_ok(buf);
	}
	expect_ok("{\"request_id\":\"x\",\"card\":{\"pan\":\"4111111111111111\"}}");
	/* Real mobile numbers that pass Luhn with a card prefix (a German and
	 * a Brazilian one, 13 digits) are phones in a phone field; elsewhere
	 * they are card numbers. UUIDs and digests never are. */
	expect_ok("{\"request_id\":\"x\",\"end_user\":{\"phone\":\"+4915112345678\"},"
	          "\"wallet\":{\"phone_suffix\":\"4915112345678\"}}");
	expect_ok("{\"request_id\":\"x\",\"end_user\":{\"phone\":\"+55 11 98765 4341\"}}");
	expect_card_refused("{\"request_id\":\"r1\",\"token_requestor\":{\"name\":\"+4915112345678\"}}",
	                    "token_requestor.name", "4915112345678");
	expect_ok("{\"request_id\":\"31bba01b-5573-4340-9203-29d3b4f18e43\"}");
	expect_ok("{\"request_id\":\"ab7a1419d5461399195992810aaa9f2c1e4b7a3d5f60812e9c4b7d1a3f5e\"}");
}

static void malformed_pan_csc_phone_email(void **state)
{
	(void)state;
	static const char *const pans[] = {
		"4111 1111 1111 1111", "4111-1111-1111-1111", "41111111111", "41111111111111111111", "", "abcdabcdabcdabcd",
		"4111111111111111x", NULL,
	};
	static const char *const cscs[] = { "12", "12345", "12a", "", " 123", "1.3", NULL };
	static const char *const phones[] = { "12", "123", "", "hello", "+1234567890123456", "++", "+", NULL };
	static const char *const emails[] = {
		"jane.doe", "@example.com", "jane@", "a@b@example.com", "jane doe@example.com", "", "@", "jane\\u0001@x.com",
		NULL,
	};
	static const struct {
		const char *group, *key;
		const char *const *values; /* NULL-terminated */
	} fields[] = {
		{ "card", "pan", pans },
		{ "card", "csc", cscs },
		{ "end_user", "phone", phones },
		{ "end_user", "email", emails },
	};
	char buf[512], field[64];
	for (size_t f = 0; f < TH_N(fields); f++) {
		snprintf(field, sizeof(field), "%s.%s", fields[f].group, fields[f].key);
		for (const char *const *v = fields[f].values; *v; v++) {
			snprintf(buf, sizeof(buf), "\"%s\":{\"%s\":\"%s\"}", fields[f].group, fields[f].key, *v);
			expect_bad_member(buf, field);
		}
	}
	char longmail[300];
	memset(longmail, 'a', sizeof(longmail));
	memcpy(longmail + 255 - 12, "@example.com", 13); /* 255 bytes */
	snprintf(buf, sizeof(buf), "\"end_user\":{\"email\":\"%s\"}", longmail);
	expect_bad_member(buf, "end_user.email");
	static const bad_case members[] = {
		{ "\"card\":{\"pan_suffix\":\"12a4\"}", "card.pan_suffix" },
		{ "\"wallet\":{\"phone_suffix\":\"abcd\"}", "wallet.phone_suffix" },
		{ "\"wallet\":{\"phone_suffix\":\"\"}", "wallet.phone_suffix" },
		{ NULL, NULL },
	};
	expect_bad_member_each(members);
	/* Well-formed ones are accepted. */
	expect_ok("{\"request_id\":\"x\",\"card\":{\"pan\":\"4111111111111111\",\"csc\":\"1234\","
	          "\"pan_suffix\":\"1111\"},\"end_user\":{\"phone\":\"+1 (415) 555-1234\",\"email\":\"a@b.c\"}}");
	expect_ok("{\"request_id\":\"x\",\"card\":{\"pan\":\"411111111111\",\"csc\":\"123\"}}");
}

/* Documented normalisation removes spaces, dashes, dots and parentheses
 * (docs/language.md §6); letters are not a phone number. */
static const bad_case phone_with_letters_refused[] = {
	{ "\"end_user\":{\"phone\":\"+1 415 555 CALL\"}", "end_user.phone" },
	{ "\"end_user\":{\"phone\":\"call me on 4155551234\"}", "end_user.phone" },
	{ NULL, NULL },
};

static void unknown_fields_ignored_and_not_echoed(void **state)
{
	(void)state;
	th_result r = decide_ok("{\"request_id\":\"u1\",\"zz_top\":\"UNKNOWN_TOP_VALUE\","
	                        "\"card\":{\"state\":\"ACTIVE\",\"zz_card\":{\"deep\":[\"UNKNOWN_CARD_VALUE\",1,null]}},"
	                        "\"zz_group\":{\"state\":\"CLOSED\"},"
	                        "\"wallet\":{\"zz_wallet\":\"UNKNOWN_WALLET_VALUE\",\"device_score\":5},"
	                        "\"end_user\":{\"zz\":true},\"token_requestor\":{\"zz\":[]}}");
	assert_int_equal(r.outcome, STEPUP_GREEN);
	assert_null(strstr(r.json, "UNKNOWN_"));
	assert_null(strstr(r.json, "zz_"));
	th_result_free(&r);
	/* Unknown fields with values that would be wrong types for known ones. */
	expect_ok("{\"request_id\":\"u2\",\"state\":7,\"score\":\"x\",\"card\":{\"State\":\"NOPE\"}}");
}

static void null_means_absent(void **state)
{
	(void)state;
	/* Absent card.state fires card_unknown under the default rules. */
	th_result r = decide_ok("{\"request_id\":\"n1\",\"card\":{\"state\":null}}");
	assert_int_equal(r.outcome, STEPUP_RED);
	assert_true(th_fired(&r, "card_unknown"));
	th_result_free(&r);
	r = decide_ok("{\"request_id\":\"n2\",\"tsp\":null,\"channel\":null,\"card\":{\"state\":\"ACTIVE\","
	              "\"pan\":null,\"csc\":null,\"active_tokens\":null},\"end_user\":null,\"wallet\":{\"reason_codes\":null,"
	              "\"device_suspicious\":null},\"token_requestor\":null}");
	assert_int_equal(r.outcome, STEPUP_GREEN);
	assert_int_equal(r.nfired, 0);
	th_result_free(&r);
	/* A null phone is no phone: no OTP_SMS in the offer. */
	r = decide_ok("{\"request_id\":\"n3\",\"card\":{\"state\":\"ACTIVE\",\"capture_method\":\"MANUAL\","
	              "\"csc_result\":\"ABSENT\"},\"end_user\":{\"phone\":null,\"email\":\"a@b.c\",\"app_enrolled\":false,"
	              "\"otp_exhausted\":false}}");
	assert_int_equal(r.outcome, STEPUP_YELLOW);
	assert_int_equal(r.nmethods, 2);
	assert_int_equal(r.methods[0], STEPUP_OTP_EMAIL);
	assert_int_equal(r.methods[1], STEPUP_CUSTOMER_SERVICE);
	th_result_free(&r);
}

static void escapes_decoded(void **state)
{
	(void)state;
	th_result r = decide_ok("{\"request_id\":\"e\\u0031\",\"card\":{\"state\":\"\\u0041CTIVE\"}}");
	assert_int_equal(r.outcome, STEPUP_GREEN);
	assert_non_null(strstr(r.json, "\"request_id\":\"e1\""));
	th_result_free(&r);
	r = decide_ok("{\"request_id\":\"e2\",\"card\":{\"state\":\"CLOS\\u0045D\"}}");
	assert_int_equal(r.outcome, STEPUP_RED);
	assert_true(th_fired(&r, "card_not_active"));
	th_result_free(&r);
	r = decide_ok("{\"request_id\":\"e3\",\"card\":{\"state\":\"ACTIVE\"},\"wallet\":{\"reason_codes\":"
	              "[\"HIGH\\u005fRISK\"]}}");
	assert_true(th_fired(&r, "suspicious_device"));
	th_result_free(&r);
	r = decide_ok("{\"request_id\":\"e4\",\"card\":{\"state\":\"ACTIVE\"},\"end_user\":{\"phone\":"
	              "\"+1415555\\u0031234\"},\"wallet\":{\"phone_suffix\":\"\\u0031234\"}}");
	assert_int_equal(r.outcome, STEPUP_GREEN);
	th_result_free(&r);
	r = decide_ok("{\"request_id\":\"e5\\/x\",\"card\":{\"state\":\"ACTIVE\"}}");
	assert_non_null(strstr(r.json, "e5/x"));
	th_result_free(&r);
	/* A badly escaped enum is still an unknown value. */
	expect_bad_member("\"card\":{\"state\":\"\\u0061CTIVE\"}", "card.state");
}

/* Escaped characters in a key name are the same key in JSON. A field that
 * decides the outcome must not slip past the rules because its key was
 * escaped: the request is either decoded properly or refused. */
static void escaped_keys_not_silently_ignored(void **state)
{
	(void)state;
	static const char *const reqs[] = {
		"{\"request_id\":\"k1\",\"card\":{\"state\":\"ACTIVE\"},\"wallet\":{\"recommended_decis\\u0069on\":\"DECLINED\"}}",
		"{\"request_id\":\"k2\",\"card\":{\"state\":\"ACTIVE\"},\"w\\u0061llet\":{\"recommended_decision\":\"DECLINED\"}}",
		"{\"request_id\":\"k3\",\"card\":{\"state\":\"ACTIVE\",\"csc_f\\u0061ilures_24h\":9}}",
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		th_result r = th_decide(E, reqs[i]);
		if (r.rc == STEPUP_OK && r.outcome != STEPUP_RED)
			fail_msg("escaped key ignored: %s -> %s", reqs[i], r.json);
		th_result_free(&r);
	}
	/* An escaped request_id key is the request_id. */
	th_result r = th_decide(E, "{\"request\\u005fid\":\"k4\"}");
	if (r.rc != STEPUP_OK)
		fail_msg("escaped request_id key not recognised: %s", r.json);
	th_result_free(&r);
}

static void error_message_buffer_bounds(void **state)
{
	(void)state;
	const char *bad = "{\"request_id\":\"x\",\"card\":{\"capture_method\":\"SCAN\"}}";
	char err[8];
	stepup_request *r = stepup_request_new();
	memset(err, 'X', sizeof(err));
	assert_int_equal(stepup_request_parse(r, E, bad, strlen(bad), err, 5), STEPUP_EBADREQ);
	assert_int_equal(strlen(err), 4);
	assert_int_equal(err[5], 'X');
	memset(err, 'X', sizeof(err));
	assert_int_equal(stepup_request_parse(r, E, bad, strlen(bad), err, 1), STEPUP_EBADREQ);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'X');
	assert_int_equal(stepup_request_parse(r, E, bad, strlen(bad), NULL, 0), STEPUP_EBADREQ);
	assert_string_equal(stepup_request_error_field(r), "card.capture_method");
	/* A long message lists the expected values. */
	char big[256];
	assert_int_equal(stepup_request_parse(r, E, bad, strlen(bad), big, sizeof(big)), STEPUP_EBADREQ);
	assert_non_null(strstr(big, "MANUAL"));
	assert_null(strstr(big, "SCAN"));
	stepup_request_free(r);
}

static void request_object_reuse(void **state)
{
	(void)state;
	stepup_request *r = stepup_request_new();
	char err[256];
	const char *ok1 = "{\"request_id\":\"first\",\"card\":{\"state\":\"CLOSED\"}}";
	const char *ok2 = "{\"request_id\":\"second\"}";
	const char *bad = "{\"request_id\":\"third\",\"tsp\":\"X\"}";
	assert_int_equal(stepup_request_parse(r, E, ok1, strlen(ok1), err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_request_id(r), "first");
	assert_string_equal(stepup_request_error_field(r), "");
	assert_int_equal(stepup_request_parse(r, E, bad, strlen(bad), err, sizeof(err)), STEPUP_EBADREQ);
	assert_string_equal(stepup_request_error_field(r), "tsp");
	assert_string_equal(stepup_request_id(r), "");
	assert_int_equal(stepup_request_parse(r, E, ok2, strlen(ok2), err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_request_id(r), "second");
	assert_string_equal(stepup_request_error_field(r), "");
	/* No field carried over from the first parse: card.state is absent now. */
	stepup_decision *d = stepup_decision_new();
	assert_int_equal(stepup_decide(E, r, d, 0), STEPUP_OK);
	assert_int_equal(stepup_decision_fired_count(d), 1);
	assert_string_equal(stepup_decision_fired_rule(d, 0, NULL), "card_unknown");
	stepup_decision_free(d);
	/* The caller's buffer is not modified. */
	char mine[] = "{\"request_id\":\"r\",\"card\":{\"state\":\"\\u0041CTIVE\"}}";
	char before[sizeof(mine)];
	memcpy(before, mine, sizeof(mine));
	assert_int_equal(stepup_request_parse(r, E, mine, strlen(mine), err, sizeof(err)), STEPUP_OK);
	assert_memory_equal(mine, before, sizeof(mine));
	stepup_request_free(r);
}

/* docs/contract.md: "request_id is included when the request carried a
 * valid one", wherever it is in the document. */
static void error_json_echoes_only_valid_request_id(void **state)
{
	(void)state;
	static const struct {
		const char *req, *echo;
	} cases[] = {
		{ "{\"request_id\":\"good-1\",\"tsp\":\"X\"}", "good-1" },
		{ "{\"tsp\":\"X\",\"request_id\":\"later\"}", "later" },
		{ "{\"card\":{\"state\":\"X\"},\"u\":[1,{\"request_id\":\"nested\"}],\"request_id\":\"top\"}", "top" },
		{ "{\"tsp\":\"X\",\"request_id\":\"4111111111111111\"}", NULL },
		{ "{\"tsp\":\"X\",\"request_id\":\"has space\"}", NULL },
		{ "{\"tsp\":\"X\",\"request_id\":7}", NULL },
		{ "{\"tsp\":\"X\",\"card\":{\"request_id\":\"inner\"}}", NULL },
		{ "{\"request_id\":\"4111111111111111\"}", NULL },
		{ "{\"request_id\":\"ok-5\"} trailing", NULL },
		/* salvage_request_id applies the policy too */
		{ "{\"tsp\":\"X\",\"request_id\":\"4111/1111/1111/1111\"}", NULL },
		{ "{\"tsp\":\"X\",\"request_id\":\"req4111111111111111\"}", NULL },
		{ "{\"request_id\":\"4111+1111+1111+1111\"} trailing", NULL },
		{ "{\"request_id\":\"1733529600123456789\",\"tsp\":\"X\"}", "1733529600123456789" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		th_result r = th_decide(E, cases[i].req);
		assert_int_equal(r.rc, STEPUP_EBADREQ);
		json_t *j = json_loads(r.json, 0, NULL);
		if (!j)
			fail_msg("not JSON: %s", r.json);
		const char *got = json_string_value(json_object_get(j, "request_id"));
		if (cases[i].echo ? !got || strcmp(got, cases[i].echo) != 0 : got != NULL)
			fail_msg("%s -> %s (expected request_id %s)", cases[i].req, r.json,
			         cases[i].echo ? cases[i].echo : "absent");
		assert_null(strstr(r.json, "4111111111111111"));
		assert_false(stepup_card_number_find(r.json, strlen(r.json), NULL, NULL));
		json_decref(j);
		th_result_free(&r);
	}
}

/* ---- CANARY: secrets never leave ------------------------------------------ */

static const char *const CANARY_RULES =
	"ruleset \"canary\"\n"
	"method IN_APP when end_user.app_enrolled\n"
	"method OTP_SMS when end_user.phone is present\n"
	"method OTP_EMAIL when end_user.email is present\n"
	"method CUSTOMER_SERVICE always\n"
	"rule visa when starts_with(card.pan, \"4\") then step_up\n"
	"rule csc_len when length(card.csc) == 3 then step_up\n"
	"rule phone_match when ends_with(end_user.phone, wallet.phone_suffix) then step_up\n"
	"rule red_state when card.state == CLOSED then decline\n";

static void assert_no_secret(const char *out, const char *what)
{
	if (!out)
		return;
	if (strstr(out, "4111111111111111") || strstr(out, "\"123\"") || strstr(out, "4155551234") ||
	    strstr(out, "jane.doe") || strstr(out, "1111111111"))
		fail_msg("secret leaked (%s): %s", what, out);
}

static void canary_run(const stepup_engine *e, const char *req, int want_ok)
{
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out = NULL;
	size_t len = 0;
	char err[512];
	for (unsigned flags = 0; flags <= STEPUP_DECIDE_EXPLAIN; flags += STEPUP_DECIDE_EXPLAIN) {
		int rc = stepup_decide_json(e, r, d, req, strlen(req), flags, &out, &len);
		if ((rc == STEPUP_OK) != want_ok)
			fail_msg("canary %s: rc %d: %s", req, rc, out ? out : "");
		assert_non_null(out);
		assert_int_equal(strlen(out), len);
		assert_no_secret(out, req);
		if (want_ok && flags)
			assert_non_null(strstr(out, "\"explain\""));
	}
	memset(err, 0, sizeof(err));
	stepup_request_parse(r, e, req, strlen(req), err, sizeof(err));
	assert_no_secret(err, req);
	assert_no_secret(stepup_request_error_field(r), req);
	stepup_request_free(r);
	stepup_decision_free(d);
}

#define CARD_SECRETS "\"pan\":\"4111111111111111\",\"csc\":\"123\""
#define CONTACT "\"phone\":\"+1 (415) 555-1234\",\"email\":\"jane.doe@example.com\""

static void canary_secrets_never_output(void **state)
{
	(void)state;
	static const char *const valid[] = {
		/* GREEN, YELLOW with every method (phone mismatch), RED, merchant. */
		"{\"request_id\":\"c1\",\"card\":{" CARD_SECRETS ",\"state\":\"ACTIVE\"},\"end_user\":{" CONTACT
		",\"app_enrolled\":true,\"otp_exhausted\":false},\"wallet\":{\"phone_suffix\":\"1234\"}}",
		"{\"request_id\":\"c2\",\"card\":{" CARD_SECRETS ",\"state\":\"ACTIVE\"},\"end_user\":{" CONTACT
		",\"app_enrolled\":true,\"otp_exhausted\":false},\"wallet\":{\"phone_suffix\":\"9876\"}}",
		"{\"request_id\":\"c3\",\"card\":{" CARD_SECRETS ",\"state\":\"CLOSED\",\"capture_method\":\"MANUAL\"},"
		"\"end_user\":{" CONTACT "},\"wallet\":{\"phone_suffix\":\"+1 415 555 1234\",\"device_suspicious\":true}}",
		"{\"request_id\":\"c4\",\"channel\":\"ECOM_MERCHANT\",\"card\":{" CARD_SECRETS ",\"state\":\"ACTIVE\"},"
		"\"end_user\":{" CONTACT "},\"wallet\":{\"phone_suffix\":\"0000\"}}",
		"{\"request_id\":\"c5\",\"card\":{" CARD_SECRETS ",\"state\":\"ACTIVE\"},\"end_user\":{"
		"\"phone\":\"4155551234\",\"email\":\"jane.doe@example.com\",\"otp_exhausted\":false},"
		"\"wallet\":{\"phone_suffix\":\"4155551234\",\"reason_codes\":[\"HIGH_RISK\"]}}",
	};
	static const char *const invalid[] = {
		/* An error after the secrets were read. */
		"{\"request_id\":\"c6\",\"card\":{" CARD_SECRETS ",\"state\":\"BOGUS\"},\"end_user\":{" CONTACT "}}",
		"{\"request_id\":\"c7\",\"card\":{" CARD_SECRETS "},\"end_user\":{" CONTACT "},\"wallet\":{\"device_score\":9}}",
		/* Secrets in the wrong form. */
		"{\"request_id\":\"c8\",\"card\":{\"pan\":4111111111111111,\"csc\":\"123\"}}",
		"{\"request_id\":\"c9\",\"card\":{\"pan\":\"4111111111111111 \",\"csc\":\"123\"}}",
		"{\"request_id\":\"c10\",\"card\":{\"pan\":\"4111111111111111\",\"csc\":123}}",
		"{\"request_id\":\"c11\",\"card\":{\"pan\":\"4111111111111111\",\"csc\":\"123x\"}}",
		"{\"request_id\":\"c12\",\"card\":{\"pan\":\"41111111111111119999\"}}",
		"{\"request_id\":\"c13\",\"end_user\":{\"phone\":\"+1 415 555 1234 1234 1234\"}}",
		"{\"request_id\":\"c14\",\"end_user\":{\"email\":\"jane.doe@\"}}",
		"{\"request_id\":\"c15\",\"end_user\":{\"email\":\"jane.doe@example.com\",\"email\":\"jane.doe@example.com\"}}",
		"{\"request_id\":\"c16\",\"end_user\":{\"phone\":4155551234}}",
		/* The PAN as request_id. */
		"{\"request_id\":\"4111111111111111\",\"card\":{" CARD_SECRETS "}}",
		/* Malformed document around the secrets. */
		"{\"request_id\":\"c17\",\"card\":{" CARD_SECRETS ",}}",
		"{\"request_id\":\"c18\",\"card\":{" CARD_SECRETS "},\"end_user\":{" CONTACT "}",
		/* Duplicate secret fields. */
		"{\"request_id\":\"c19\",\"card\":{" CARD_SECRETS "," CARD_SECRETS "}}",
	};
	stepup_engine *custom = th_engine(CANARY_RULES, th_settings_full);
	const stepup_engine *engines[] = { E, custom };
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
			canary_run(engines[k], valid[i], 1);
		for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
			canary_run(engines[k], invalid[i], 0);
	}
	/* The custom rules really read the secrets (so the canary is meaningful). */
	th_result r = th_decide(custom, valid[0]);
	assert_int_equal(r.rc, STEPUP_OK);
	assert_true(th_fired(&r, "visa"));
	assert_true(th_fired(&r, "csc_len"));
	assert_true(th_fired(&r, "phone_match"));
	/* The masked forms are what goes out. */
	assert_non_null(strstr(r.json, "+1 *** *** 1234"));
	assert_non_null(strstr(r.json, "ja******@example.com"));
	th_result_free(&r);
	stepup_engine_free(custom);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrong_type_string_fields),
		MEMBERS_TEST(wrong_type_int_fields),
		MEMBERS_TEST(floats_for_ints),
		cmocka_unit_test(int_ranges),
		MEMBERS_TEST(wrong_type_bool_fields),
		MEMBERS_TEST(wrong_type_and_range_enum_fields),
		MEMBERS_TEST(wrong_type_array_field),
		MEMBERS_TEST(wrong_type_groups),
		DOCS_TEST(non_object_top_level),
		cmocka_unit_test(empty_input),
		cmocka_unit_test(truncated_json),
		cmocka_unit_test(trailing_garbage),
		DOCS_TEST(missing_separators),
		DOCS_TEST(trailing_commas),
		cmocka_unit_test(bad_literals),
		cmocka_unit_test(control_characters_in_strings),
		DOCS_TEST(control_character_in_key),
		cmocka_unit_test(invalid_escapes),
		cmocka_unit_test(invalid_utf8),
		DOCS_TEST(invalid_utf8_in_unknown_field),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(huge_strings),
		cmocka_unit_test(long_known_strings),
		cmocka_unit_test(too_many_values),
		cmocka_unit_test(duplicate_known_fields),
		DOCS_TEST(missing_request_id),
		cmocka_unit_test(request_id_luhn_pan),
		cmocka_unit_test(request_id_formatted_pan),
		cmocka_unit_test(every_string_field_refuses_card_numbers),
		cmocka_unit_test(card_number_escaped_or_punctuated),
		cmocka_unit_test(harmless_long_numbers_pass),
		cmocka_unit_test(malformed_pan_csc_phone_email),
		MEMBERS_TEST(phone_with_letters_refused),
		cmocka_unit_test(unknown_fields_ignored_and_not_echoed),
		cmocka_unit_test(null_means_absent),
		cmocka_unit_test(escapes_decoded),
		cmocka_unit_test(escaped_keys_not_silently_ignored),
		cmocka_unit_test(error_message_buffer_bounds),
		cmocka_unit_test(request_object_reuse),
		cmocka_unit_test(error_json_echoes_only_valid_request_id),
		cmocka_unit_test(canary_secrets_never_output),
	};
	return cmocka_run_group_tests(tests, th_default_setup, th_default_teardown);
}
