/* schema.h: the request schema as data (docs/schema.md).
 *
 * A schema is the list of fields a ruleset's requests may carry: each with
 * a dotted path, a type, a validation format, at most one role (what the
 * engine, the response writer, the lifecycle and the plugin host need to
 * know about it) and flags. It is declared in the rule language (`field`
 * lines, the default ones in rules/schema/tokenization.rules), built by
 * dsl/declare.c, completed by the checker (the code of each bit of a code
 * list), saved in the bundle with a fingerprint, and prepared once per
 * ruleset into the decoder's key tables (schema.c). After that, fields are
 * slots (their index) and roles are slots looked up once: no code names a
 * field by its path. */
#ifndef SU_SCHEMA_H
#define SU_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum su_type {
	SU_T_NONE = 0,
	SU_T_BOOL,
	SU_T_INT,
	SU_T_FLOAT,
	SU_T_STRING,
	SU_T_ENUM,      /* one value of a declared list (closed, or open: "other") */
	SU_T_REASON,    /* one code of a code list (a bit of the field's mask) */
	SU_T_REASONS,   /* a list of codes or strings, as a 64-bit mask of the
	                   values the ruleset names */
	SU_T_SET,       /* a constant set; element type in the checker */
} su_type;

/* Validation formats of string fields (all refuse a card number, by
 * the one policy, except CARD_NUMBER). X(name, keyword) */
#define SU_FORMATS(X)                 \
	X(NONE, "")                        \
	X(ID, "id")                        \
	X(CARD_NUMBER, "card_number")      \
	X(CSC, "csc")                      \
	X(PHONE, "phone")                  \
	X(PHONE_DIGITS, "phone_digits")    \
	X(EMAIL, "email")                  \
	X(DIGITS, "digits")

typedef enum su_format {
#define X(K, NAME) SU_FMT_##K,
	SU_FORMATS(X)
#undef X
	SU_FMT_COUNT
} su_format;

/* Roles: at most one field a role, at most one role a field. */
#define SU_ROLES(X)                                      \
	X(NONE, "")                                           \
	X(REQUEST_ID, "request_id")                           \
	X(CHANNEL, "channel")                                 \
	X(LANGUAGE, "language")                               \
	X(PAN_SUFFIX, "pan_suffix")                           \
	X(TOKEN_REQUESTOR_ID, "token_requestor_id")           \
	X(TOKEN_REQUESTOR_NAME, "token_requestor_name")       \
	X(CONTACT_SMS, "contact OTP_SMS")                     \
	X(CONTACT_EMAIL, "contact OTP_EMAIL")

typedef enum su_role {
#define X(K, NAME) SU_ROLE_##K,
	SU_ROLES(X)
#undef X
	SU_ROLE_COUNT
} su_role;
/* stepup_role (stepup.h) numbers these the same way. */

/* Fields computed from another one. */
typedef enum su_derive {
	SU_DERIVE_NONE = 0,
	SU_DERIVE_LAST4,   /* last 4 digits */
	SU_DERIVE_BIN,     /* first 8 digits, 6 when the number is shorter than 16 */
} su_derive;

enum su_field_flags {
	SU_FF_SECRET = 1u << 0,       /* read by rules; never output, logged or stored */
	SU_FF_REQUIRED = 1u << 1,     /* a request without it is a 400 */
	SU_FF_SUMMARY = 1u << 2,      /* in the request summary plugins get */
	SU_FF_OPEN = 1u << 3,         /* enum: unknown values read as "other" */
	SU_FF_FROM_STRING = 1u << 4,  /* int: "4" is read as 4 */
	SU_FF_DEFAULT = 1u << 5,      /* absent reads as `dflt` */
	SU_FF_FREE = 1u << 6,         /* list of string: any string may be named */
	SU_FF_DERIVED = 1u << 7,      /* always computed from `source` (never read) */
	SU_FF_DEFAULT_DERIVED = 1u << 8, /* absent reads as `derive(source)` */
};

typedef struct su_sspan { uint32_t off, len; } su_sspan;   /* into the schema's strtab */
typedef struct su_srange { uint32_t start, count; } su_srange; /* into the schema's items */

typedef struct su_field {
	uint32_t path;          /* strs: the dotted path */
	uint32_t desc;          /* strs, or SU_SNONE */
	uint8_t type;           /* su_type */
	uint8_t format;         /* su_format */
	uint8_t role;           /* su_role */
	uint8_t derive;         /* su_derive, with SU_FF_DERIVED / SU_FF_DEFAULT_DERIVED */
	uint32_t flags;         /* su_field_flags */
	uint32_t source;        /* slot derived from */
	uint32_t ekind;         /* enum: slot of the first field with the same values */
	int64_t min, max;       /* int: value range; string: length range */
	int64_t dflt;           /* default: bool, int or enum id; string: strs index */
	su_srange values;       /* enum values / declared codes (strs) */
	su_srange bits;         /* code lists: the value of each mask bit (strs) */
	uint64_t merchant;      /* channel: enum values on which no step-up is possible */
} su_field;

#define SU_SNONE UINT32_MAX
#define SU_MAX_FIELDS 4096
#define SU_MAX_ENUM_VALUES 63   /* 64 table entries with "other" */
#define SU_MAX_CODE_BITS 64
#define SU_STRING_MAX_DEFAULT 256

typedef struct su_decoder su_decoder;  /* prepared key tables (schema.c) */

typedef struct su_schema {
	char *strtab;  uint32_t strtab_len, strtab_cap;
	su_sspan *strs;  uint32_t nstrs, capstrs;
	su_field *fields;  uint32_t nfields, capfields;
	uint32_t *items;  uint32_t nitems, capitems;   /* strs indices */
	uint8_t fingerprint[32];
	/* Derived, not saved: path lookup and the decoder's tables. */
	int32_t role_slot[SU_ROLE_COUNT];
	uint32_t *phash;  uint32_t phcap;
	su_decoder *dec;
	int oom;
} su_schema;

#define SU_SSTR(sc, i) ((sc)->strtab + (sc)->strs[(i)].off)
#define SU_SSTRLEN(sc, i) ((sc)->strs[(i)].len)
#define SU_FPATH(sc, slot) SU_SSTR((sc), (sc)->fields[(slot)].path)

su_schema *su_schema_new(void);
void su_schema_free(su_schema *sc);
su_schema *su_schema_clone(const su_schema *sc);

/* Building (dsl/declare.c, the bundle loader). Strings are interned;
 * failures set sc->oom. */
uint32_t su_schema_str(su_schema *sc, const char *s, size_t n);
/* Append a field (path already checked unique); its slot. */
uint32_t su_schema_add(su_schema *sc, const su_field *f);
/* Append count strs indices to items; the range. */
su_srange su_schema_items(su_schema *sc, const uint32_t *strs, uint32_t count);

/* Add field `slot` to the path hash (while building); -1 on OOM. */
int su_schema_index(su_schema *sc, uint32_t slot);

/* Derived tables (path hash, roles, decoder, fingerprint): call after
 * building or loading; 0, or -1 with a message (a role on two fields, a
 * path both a leaf and an object...: a bundle must not be trusted). */
int su_schema_prepare(su_schema *sc, char *err, size_t errlen);

/* Lookups. */
int su_schema_lookup(const su_schema *sc, const char *path, size_t len);  /* slot or -1 */
int su_schema_value(const su_schema *sc, unsigned slot, const char *name, size_t len); /* enum id or -1 */
int su_schema_code_bit(const su_schema *sc, unsigned slot, const char *name, size_t len); /* bit or -1 */
int su_schema_declared_code(const su_schema *sc, unsigned slot, const char *name, size_t len);
unsigned su_schema_value_count(const su_schema *sc, unsigned slot);  /* enum values, "other" included */
const char *su_schema_value_name(const su_schema *sc, unsigned slot, unsigned id); /* "other" for open */
/* The closest path (edit distance <= 3) or NULL; the closest value. */
const char *su_schema_suggest(const su_schema *sc, const char *path);
const char *su_schema_suggest_value(const su_schema *sc, unsigned slot, const char *name);
/* "card state" for card.state: how messages name a field's values. */
void su_schema_what(const su_schema *sc, unsigned slot, char *buf, size_t size);

/* Canonical serialization (the bundle's schema section and the
 * fingerprint's input). */
void su_schema_write(su_wbuf *w, const su_schema *sc);

const char *su_format_name(unsigned f);
const char *su_role_name(unsigned r);
const char *su_type_name(unsigned t);

/* Levenshtein distance capped at cap+1 (for "did you mean"). */
unsigned su_edit_distance(const char *a, const char *b, unsigned cap);

#endif
