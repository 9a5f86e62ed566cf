/* jsontok.h: the tokenizer of the request decoder (request.c).
 *
 * The algorithm of jsmn (Debian's libjsmn, with JSMN_STRICT and
 * JSMN_PARENT_LINKS): the same tokens, counts and errors for every input,
 * which tests/unit/test_jsontok.c checks against jsmn itself. It is ours
 * for speed: strings, most of a request's bytes, are scanned 8 bytes at a
 * time, and a string token says whether its bytes need no decoding
 * (`plain`: printable ASCII without a backslash), which spares the
 * decoder a second pass. Like jsmn it checks little of the grammar
 * between tokens: request.c does. */
#ifndef SU_JSONTOK_H
#define SU_JSONTOK_H

#include <stddef.h>
#include <stdint.h>

typedef enum su_jtype {
	SU_JSON_UNDEFINED = 0,
	SU_JSON_OBJECT = 1,
	SU_JSON_ARRAY = 2,
	SU_JSON_STRING = 3,
	SU_JSON_PRIMITIVE = 4,
} su_jtype;

enum {
	SU_JSON_ERROR_NOMEM = -1,  /* more tokens needed */
	SU_JSON_ERROR_INVAL = -2,  /* a character that cannot be there */
	SU_JSON_ERROR_PART = -3,   /* the text ends before the JSON does */
};

typedef struct su_jtok {
	uint8_t type;      /* su_jtype */
	uint8_t plain;     /* strings: printable ASCII without a backslash */
	int start, end;    /* byte offsets; strings without their quotes */
	int size;          /* keys of an object, items of an array, 1 for a key */
	int parent;        /* token index, -1 for the top */
} su_jtok;

typedef struct su_jparser {
	unsigned pos, toknext;
	int toksuper;
} su_jparser;

void su_json_init(su_jparser *p);
/* Tokenize js[0..len) (stopping at a NUL byte, as jsmn) into at most
 * ntokens tokens: their number, or an SU_JSON_ERROR_ (on NOMEM, start
 * again from su_json_init with a larger array). */
int su_json_parse(su_jparser *p, const char *js, size_t len, su_jtok *tokens, unsigned ntokens);

#endif
