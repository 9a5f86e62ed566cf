/* request.h: a decoded request: one value per schema slot plus a presence
 * bit, so the evaluator reads fields by index. Strings point into the
 * request's own copy of the input text. */
#ifndef SU_REQUEST_H
#define SU_REQUEST_H

#include <stdint.h>
#include <stepup/stepup.h>
#include "schema.h"

typedef struct su_str {
	const char *s;
	uint32_t len;
} su_str;

/* A string of the request: offset and length in the request's buffer, so a
 * slot is 8 bytes and a request's slots fit in a few cache lines. */
typedef struct su_sref {
	uint32_t off, len;
} su_sref;

typedef union su_value {
	int64_t i;
	double d;
	uint32_t e;     /* enum id */
	int b;
	uint64_t mask;  /* reason codes */
	su_sref str;
} su_value;

#define SU_REQUEST_MAX_BYTES (1u << 20)
#define SU_INLINE_SLOTS 64
#define SU_REQUEST_MAX_DEPTH 32
/* JSON values per request, object keys included (docs/contract.md). */
#define SU_REQUEST_MAX_VALUES 8192u

/* The first SU_NORM_BYTES of the buffer hold normalised copies of the short
 * strings rules compare (phone, phone suffix, PAN suffix), next to each
 * other; the input text follows. Requests up to SU_INLINE_BYTES live in the
 * request object itself, so deciding touches a few adjacent cache lines. */
#define SU_NORM_BYTES 64
#define SU_INLINE_BYTES 1280

struct stepup_request {
	/* What deciding reads comes first, together. */
	uint8_t *has;                  /* per slot: bit 0 present, bit 1 given
	                                  (possibly as null) */
	su_value *f;                   /* per slot; f_inline or the heap */
	int ok;
	unsigned unknown_reasons;      /* codes the ruleset does not know */
	char *buf;                     /* inline or heap; see above */
	uint64_t engine;               /* serial of the engine that decoded it */
	const struct stepup_ruleset *rs;
	uint32_t nslots, slotcap;      /* slots of rs; heap arrays' capacity */
	su_value f_inline[SU_INLINE_SLOTS];
	uint8_t has_inline[SU_INLINE_SLOTS];
	char inline_buf[SU_INLINE_BYTES];  /* its first bytes are the normalised
	                                      strings */
	unsigned norm_used;
	uint32_t defaults_at;          /* next free byte after the text (string defaults) */
	char *heap;                    /* buffer for large requests */
	size_t heapcap;
	su_value *fheap;               /* slots of schemas over SU_INLINE_SLOTS */
	uint8_t *hasheap;
	void *toks;                    /* jsmntok_t scratch for large requests */
	unsigned ntoks;
	char err_field[64];
};

#define SU_PRESENT(r, slot) ((r)->has[(slot)] & 1u)

/* The string in a slot. */
static inline su_str su_rstr(const struct stepup_request *r, unsigned slot)
{
	su_str s = { r->buf + r->f[slot].str.off, r->f[slot].str.len };
	return s;
}

/* The string of the field with `role` as a NUL-terminated copy in buf;
 * NULL when no field has the role, the request lacks it or it does not
 * fit (request.c). */
const char *su_request_role_str(const struct stepup_request *r, su_role role, char *buf, size_t size);
/* The slot of `role` when the request carries it, else -1. */
int su_request_role_slot(const struct stepup_request *r, su_role role);

static inline su_sref su_sref_of(const struct stepup_request *r, su_str s)
{
	su_sref ref = { (uint32_t)(s.s - r->buf), s.len };
	return ref;
}

#endif
