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
	/* What deciding reads comes first, together and in one run of bytes
	 * from the start (a request of the schema's first slots), so that
	 * stepup_decide() can ask for all of its cache lines at once, without
	 * waiting for a pointer (SU_REQUEST_HOT_BYTES). */
	uint8_t *has;                  /* per slot: 0 absent; else bit 0 set and
	                                  bits 1-7 the value's code + 1 (1 for
	                                  fields without codes): su_field_codes */
	su_value *f;                   /* per slot; f_inline or the heap */
	int ok;
	unsigned unknown_reasons;      /* codes the ruleset does not know */
	char *buf;                     /* inline or heap; see above */
	uint64_t engine;               /* serial of the engine that decoded it */
	const struct stepup_ruleset *rs;
	uint32_t nslots, slotcap;      /* slots of rs; heap arrays' capacity */
	uint8_t has_inline[SU_INLINE_SLOTS];
	su_value f_inline[SU_INLINE_SLOTS];
	char inline_buf[SU_INLINE_BYTES];  /* its first bytes are the normalised
	                                      strings */
	unsigned norm_used;
	uint32_t defaults_at;          /* next free byte after the text (string defaults) */
	char *heap;                    /* buffer for large requests */
	size_t heapcap;
	su_value *fheap;               /* slots of schemas over SU_INLINE_SLOTS */
	uint8_t *hasheap;
	void *toks;                    /* su_jtok scratch for large requests */
	unsigned ntoks;
	char err_field[64];
};

#define SU_PRESENT(r, slot) ((r)->has[(slot)] & 1u)

/* A field of a small domain: an enum (the code is its value id, "other"
 * included), a boolean (0, 1), or an integer of a declared range of at
 * most 64 values (value - min) whose default, if any, is in range. Its
 * presence byte carries the value's code + 1 in bits 1-7, so the prepared
 * form's tables read one byte (SU_HAS_INDEX: 0 when absent, else code + 1;
 * 1 for any present field without codes). The number of codes, or 0 for
 * other fields. */
static inline unsigned su_field_codes(const su_field *f)
{
	switch (f->type) {
	case SU_T_BOOL:
		return 2;
	case SU_T_ENUM: {
		unsigned n = f->values.count + !!(f->flags & SU_FF_OPEN);
		return n <= 64 ? n : 0;
	}
	case SU_T_INT:
		if (f->max >= f->min && (uint64_t)f->max - (uint64_t)f->min < 64 &&
		    (!(f->flags & SU_FF_DEFAULT) || (f->dflt >= f->min && f->dflt <= f->max)))
			return (unsigned)(f->max - f->min + 1);
		return 0;
	default:
		return 0;
	}
}
#define SU_HAS_INDEX(x) ((unsigned)(x) >> 1)

/* The bytes from the start of a request that hold its slots 0 .. n-1
 * (inline). */
#define SU_REQUEST_HOT_BYTES(n) (offsetof(struct stepup_request, f_inline) + (size_t)(n) * sizeof(su_value))

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
