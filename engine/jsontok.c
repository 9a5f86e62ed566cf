/* jsontok.c: jsmn's tokenizer, strict, with parent links, faster over
 * strings (jsontok.h). Each step below is jsmn's, in the same order, so
 * that tokens and errors are the same for every input; the differences are
 * how a string's ordinary bytes are skipped (16 or 8 at a time) and that
 * the parser's state lives in locals (an `int` of a token may alias the
 * parser's counters, so jsmn's compiled loop reloads them at every byte). */
#include "jsontok.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct st {
	const char *js;
	size_t len;
	su_jtok *tokens;
	unsigned ntokens;
	unsigned pos, toknext;
	int toksuper;
} st;

static inline su_jtok *alloc_tok(st *p)
{
	if (p->toknext >= p->ntokens)
		return NULL;
	su_jtok *t = &p->tokens[p->toknext++];
	t->start = t->end = -1;
	t->size = 0;
	t->parent = -1;
	t->plain = 0;
	return t;
}

static inline void fill_tok(su_jtok *t, su_jtype type, int start, int end)
{
	t->type = (uint8_t)type;
	t->start = start;
	t->end = end;
	t->size = 0;
}

/* In strict mode a primitive ends at whitespace, ',', ']' or '}'. */
static int parse_primitive(st *p)
{
	const char *js = p->js;
	unsigned pos = p->pos;
	int start = (int)pos;
	for (; pos < p->len && js[pos] != '\0'; pos++) {
		switch (js[pos]) {
		case '\t': case '\r': case '\n': case ' ': case ',': case ']': case '}':
			goto found;
		default:
			break;
		}
		if (js[pos] < 32 || js[pos] >= 127)  /* char is signed, as in jsmn */
			return SU_JSON_ERROR_INVAL;
	}
	return SU_JSON_ERROR_PART;
found:;
	su_jtok *t = alloc_tok(p);
	if (!t)
		return SU_JSON_ERROR_NOMEM;
	fill_tok(t, SU_JSON_PRIMITIVE, start, (int)pos);
	t->parent = p->toksuper;
	p->pos = pos - 1;
	return 0;
}

/* The index of the first byte of js[from..end) that ends a run of ordinary
 * string bytes (a quote, a backslash or a NUL), many bytes at a time while
 * enough remain; sets *odd when a byte before it is not printable ASCII.
 * Returns where it stopped when it found none (the caller goes on byte by
 * byte there). */
#if defined(__SSE2__)
static inline size_t skip_plain(const char *js, size_t from, size_t end, int *odd)
{
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), zero = _mm_setzero_si128();
	const __m128i space = _mm_set1_epi8(0x20);
	size_t i = from;
	for (; i + 16 <= end; i += 16) {
		__m128i w = _mm_loadu_si128((const __m128i *)(const void *)(js + i));
		unsigned stop = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		        _mm_or_si128(_mm_cmpeq_epi8(w, quote), _mm_cmpeq_epi8(w, bslash)), _mm_cmpeq_epi8(w, zero)));
		/* < 0x20 as signed bytes: below a space, or >= 0x80 */
		unsigned bad = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(space, w));
		if (stop) {
			if (bad & ((stop & (0u - stop)) - 1))  /* a bad byte before the first stop */
				*odd = 1;
			return i + (unsigned)__builtin_ctz(stop);
		}
		if (bad)
			*odd = 1;
	}
	return i;
}
#else
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* High bit of each byte of x that is zero (exact up to the first one). */
#define ZERO_BYTES(x) (((x) - ONES) & ~(x) & HIGHS)

static inline size_t skip_plain(const char *js, size_t from, size_t end, int *odd)
{
	size_t i = from;
	for (; i + 8 <= end; i += 8) {
		uint64_t w;
		memcpy(&w, js + i, 8);
		uint64_t stop = ZERO_BYTES(w ^ (ONES * '"')) | ZERO_BYTES(w ^ (ONES * '\\')) | ZERO_BYTES(w);
		/* a byte >= 0x80, or < 0x20 (exact up to the first one) */
		uint64_t bad = (w | ((w - ONES * 0x20) & ~w)) & HIGHS;
		if (stop) {
			unsigned k = (unsigned)__builtin_ctzll(stop) / 8;
			if (bad && (unsigned)__builtin_ctzll(bad) / 8 < k)
				*odd = 1;
			return i + k;
		}
		if (bad)
			*odd = 1;
	}
	return i;
}
#endif

static int parse_string(st *p)
{
	const char *js = p->js;
	size_t len = p->len;
	unsigned pos = p->pos;
	int start = (int)pos, odd = 0;

	pos++;
	for (; pos < len && js[pos] != '\0'; pos++) {
		pos = (unsigned)skip_plain(js, pos, len, &odd);
		if (pos >= len || js[pos] == '\0')
			break;
		char c = js[pos];
		if (c == '"') {
			su_jtok *t = alloc_tok(p);
			if (!t)
				return SU_JSON_ERROR_NOMEM;
			fill_tok(t, SU_JSON_STRING, start + 1, (int)pos);
			t->parent = p->toksuper;
			t->plain = !odd;
			p->pos = pos;
			return 0;
		}
		if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x80 || c == '\\')
			odd = 1;
		if (c == '\\' && pos + 1 < len) {
			pos++;
			switch (js[pos]) {
			case '"': case '/': case '\\': case 'b': case 'f': case 'r': case 'n': case 't':
				break;
			case 'u':
				pos++;
				for (int i = 0; i < 4 && pos < len && js[pos] != '\0'; i++) {
					char h = js[pos];
					if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F') || (h >= 'a' && h <= 'f')))
						return SU_JSON_ERROR_INVAL;
					pos++;
				}
				pos--;
				break;
			default:
				return SU_JSON_ERROR_INVAL;
			}
		}
	}
	return SU_JSON_ERROR_PART;
}

void su_json_init(su_jparser *p)
{
	p->pos = 0;
	p->toknext = 0;
	p->toksuper = -1;
}

/* The main loop, its position in a local: tokens hold ints, which may
 * alias the parser's counters in memory, so these are written back only
 * around the calls that read them. */
static int parse(st *p)
{
	const char *js = p->js;
	const size_t len = p->len;
	int r, count = (int)p->toknext;
	su_jtok *t, *tokens = p->tokens;
	unsigned pos = p->pos;

	for (; pos < len && js[pos] != '\0'; pos++) {
		char c = js[pos];
		su_jtype type;
		switch (c) {
		case '\t': case '\r': case '\n': case ' ':
			break;
		case '"':
			p->pos = pos;
			if ((r = parse_string(p)) < 0)
				return r;
			goto value;
		case ':':
			p->toksuper = (int)p->toknext - 1;
			break;
		case ',':
			if (p->toksuper != -1 && tokens[p->toksuper].type != SU_JSON_ARRAY &&
			    tokens[p->toksuper].type != SU_JSON_OBJECT)
				p->toksuper = tokens[p->toksuper].parent;
			break;
		case '{':
		case '[':
			count++;
			t = alloc_tok(p);
			if (!t)
				return SU_JSON_ERROR_NOMEM;
			if (p->toksuper != -1) {
				su_jtok *s = &tokens[p->toksuper];
				if (s->type == SU_JSON_OBJECT)  /* an object or array cannot be a key */
					return SU_JSON_ERROR_INVAL;
				s->size++;
				t->parent = p->toksuper;
			}
			t->type = c == '{' ? SU_JSON_OBJECT : SU_JSON_ARRAY;
			t->start = (int)pos;
			p->toksuper = (int)p->toknext - 1;
			break;
		case '}':
		case ']':
			type = c == '}' ? SU_JSON_OBJECT : SU_JSON_ARRAY;
			if (p->toknext < 1)
				return SU_JSON_ERROR_INVAL;
			t = &tokens[p->toknext - 1];
			for (;;) {
				if (t->start != -1 && t->end == -1) {
					if (t->type != type)
						return SU_JSON_ERROR_INVAL;
					t->end = (int)pos + 1;
					p->toksuper = t->parent;
					break;
				}
				if (t->parent == -1) {
					if (t->type != type || p->toksuper == -1)
						return SU_JSON_ERROR_INVAL;
					break;
				}
				t = &tokens[t->parent];
			}
			break;
		case '-': case '0': case '1': case '2': case '3': case '4':
		case '5': case '6': case '7': case '8': case '9': case 't': case 'f': case 'n':
			/* a primitive cannot be a key */
			if (p->toksuper != -1) {
				const su_jtok *s = &tokens[p->toksuper];
				if (s->type == SU_JSON_OBJECT || (s->type == SU_JSON_STRING && s->size != 0))
					return SU_JSON_ERROR_INVAL;
			}
			p->pos = pos;
			if ((r = parse_primitive(p)) < 0)
				return r;
		value:  /* a string or primitive token was added */
			pos = p->pos;
			count++;
			if (p->toksuper != -1)
				tokens[p->toksuper].size++;
			break;
		default:
			return SU_JSON_ERROR_INVAL;
		}
	}
	p->pos = pos;
	for (int i = (int)p->toknext - 1; i >= 0; i--)
		if (tokens[i].start != -1 && tokens[i].end == -1)  /* an object or array left open */
			return SU_JSON_ERROR_PART;
	return count;
}

int su_json_parse(su_jparser *jp, const char *js, size_t len, su_jtok *tokens, unsigned ntokens)
{
	st p = { js, len, tokens, ntokens, jp->pos, jp->toknext, jp->toksuper };
	int r = parse(&p);
	jp->pos = p.pos;
	jp->toknext = p.toknext;
	jp->toksuper = p.toksuper;
	return r;
}
