/* test_jsontok: the request decoder's tokenizer (engine/jsontok.c) gives
 * what jsmn (strict, parent links) gives, token for token and error for
 * error, on hand-picked inputs and on many mutated ones; its `plain` flag
 * says exactly whether a string is printable ASCII without a backslash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "jsontok.h"

static int plain_ref(const char *s, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x80 || c == '\\')
			return 0;
	}
	return 1;
}

/* Both tokenizers on js[0..len) with room for ntok tokens; a message when
 * they differ, else NULL. */
static const char *differ(const char *js, size_t len, unsigned ntok, char *why, size_t n)
{
	jsmntok_t *a = calloc(ntok ? ntok : 1, sizeof(*a));
	su_jtok *b = calloc(ntok ? ntok : 1, sizeof(*b));
	jsmn_parser pa;
	su_jparser pb;
	const char *res = NULL;

	assert_non_null(a);
	assert_non_null(b);
	jsmn_init(&pa);
	su_json_init(&pb);
	int ra = jsmn_parse(&pa, js, len, a, ntok), rb = su_json_parse(&pb, js, len, b, ntok);
	if (ra != rb) {
		snprintf(why, n, "returns %d, jsmn %d", rb, ra);
		res = why;
	}
	for (int i = 0; !res && i < ra; i++) {
		if ((int)b[i].type != (int)a[i].type || b[i].start != a[i].start || b[i].end != a[i].end ||
		    b[i].size != a[i].size || b[i].parent != a[i].parent) {
			snprintf(why, n, "token %d: type %d [%d,%d) size %d parent %d; jsmn type %d [%d,%d) size %d parent %d",
			         i, b[i].type, b[i].start, b[i].end, b[i].size, b[i].parent, (int)a[i].type, a[i].start,
			         a[i].end, a[i].size, a[i].parent);
			res = why;
		} else if (b[i].type == SU_JSON_STRING && b[i].plain != plain_ref(js + b[i].start, b[i].end - b[i].start)) {
			snprintf(why, n, "token %d: plain %d", i, b[i].plain);
			res = why;
		}
	}
	free(a);
	free(b);
	return res;
}

static void check_one(const char *js, size_t len, unsigned ntok)
{
	char why[256];
	const char *d = differ(js, len, ntok, why, sizeof(why));
	if (d) {
		char shown[200];
		size_t k = 0;
		for (size_t i = 0; i < len && k + 5 < sizeof(shown); i++) {
			unsigned char c = (unsigned char)js[i];
			k += (size_t)snprintf(shown + k, sizeof(shown) - k, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
		}
		fail_msg("input '%s' (%zu bytes, %u tokens): %s", shown, len, ntok, d);
	}
}

static const char *const cases[] = {
	"", " ", "{}", "[]", "{\"a\":1}", "{\"a\": \"b\"}", "{\"a\": [1, 2, {\"c\": null}]}",
	"{\"a\":\"\\u00e9\\n\\\"\"}", "{\"a\":\"\\u00g9\"}", "{\"a\":\"\\x\"}", "{\"a\":\"abc", "{\"a\":\"abc\\",
	"{\"a\":\"abc\\\"}", "{\"a\":tru}", "{\"a\":true}", "{\"a\":true", "{\"a\":-1.5e3}", "{\"a\":1\x01}",
	"{\"a\":\"\x01\x7f\x80\xff\"}", "{{}}", "{\"a\"{}}", "{\"a\":\"b\" \"c\"}", "[1,,2]", "]", "}", "{]",
	"{\"a\":[}", "\"x\"", "1", "{\"a\":1}}", "{\"k\":\"0123456789abcdefghij\\\"klmnopqrstuv\"}",
	"{\"long\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	"{\"a\":\"aaaaaaa\\u12", "{\"a\":\"aaaaaaaa\\u12345\"}", "{\"a\":1 2}", "{:}", "{,}", "[\"a\":1]",
	"{\"a\":\"x\", \"b\": {\"c\": [true, false, null, \"\"]}}", "\t\r\n{\"a\" : 1 }\n",
};

static void hand_picked(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (unsigned ntok = 0; ntok <= 12; ntok++)
			check_one(cases[i], strlen(cases[i]), ntok);
	/* A NUL byte ends the text for both, wherever it is. */
	static const char nul[] = "{\"a\":\"bcdefghijk\0lmnopqrstuvw\"}";
	for (size_t cut = 0; cut < sizeof(nul); cut++) {
		char buf[sizeof(nul)];
		memcpy(buf, nul, sizeof(nul));
		buf[cut] = '\0';
		check_one(buf, sizeof(nul) - 1, 16);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const char *const seeds[] = {
	"{\"request_id\": \"3f1c-aa\", \"channel\": \"XPAY_WALLET\", \"card\": {\"pan\": \"4111111111111111\", "
	"\"state\": \"ACTIVE\", \"active_tokens\": 3}, \"wallet\": {\"reason_codes\": [\"A\", \"B\\u00e9\"], "
	"\"device_score\": 4, \"device_suspicious\": false}, \"end_user\": {\"phone\": \"+1 (415) 555-1234\"}}",
	"[{\"a\": [1, 2, [3, [4, {\"b\": null}]]]}, \"\\\\\", -0.5e-3, true]",
	"{\"s\": \"caf\xc3\xa9 \\t tab\", \"k\\\"q\": {\"x\": \"\\ud83d\\ude00\"}}",
};

/* Mutations of the seeds (bytes replaced, inserted, removed, from an
 * alphabet heavy in what JSON is made of), at several token limits. */
static void mutations(void **state)
{
	static const char alpha[] = "{}[]\":,\\ \t\nu0123456789abfnrtx-.eE\x01\x7f\x80\xc3\xa9";
	char buf[1024];
	(void)state;
	for (int round = 0; round < 200000; round++) {
		const char *seed = seeds[next() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(seed);
		memcpy(buf, seed, len);
		int edits = 1 + (int)(next() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = len ? next() % len : 0;
			char c = alpha[next() % (sizeof(alpha) - 1)];
			switch (next() % 3) {
			case 0:
				if (len)
					buf[at] = c;
				break;
			case 1:
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = c;
					len++;
				}
				break;
			default:
				if (len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
			}
		}
		/* sometimes cut short, so every way of ending early comes up */
		size_t use = next() % 4 == 0 && len ? next() % len : len;
		unsigned ntok = next() % 3 == 0 ? (unsigned)(next() % 40) : 256;
		check_one(buf, use, ntok);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hand_picked),
		cmocka_unit_test(mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
