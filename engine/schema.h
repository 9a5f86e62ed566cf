/* schema.h: the request schema (DESIGN.md §3) as data, shared by the rule
 * checker (to type field references) and the request decoder (to fill slots).
 * Fields are addressed by slot number everywhere after compilation. */
#ifndef SU_SCHEMA_H
#define SU_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

typedef enum su_type {
	SU_T_NONE = 0,
	SU_T_BOOL,
	SU_T_INT,
	SU_T_FLOAT,
	SU_T_STRING,
	SU_T_ENUM,      /* closed enum, see enums.def */
	SU_T_REASON,    /* one reason code (open enum, bit id) */
	SU_T_REASONS,   /* list of reason codes, as a 64-bit mask */
	SU_T_SET,       /* a constant set; element type in the checker */
} su_type;

enum su_enum_kind {
	SU_E_NONE = -1,
#define ENUM(K, NAME, ...) SU_E_##K,
#include "enums.def"
#undef ENUM
	SU_E_COUNT
};

enum su_field_flags {
	SU_F_SECRET = 1u << 0,
	SU_F_PHONE = 1u << 1,
	SU_F_EMAIL = 1u << 2,
	SU_F_DIGITS = 1u << 3,
	SU_F_REQUIRED = 1u << 4,
};

enum su_slot {
#define FIELD(SLOT, PATH, T, E, MIN, MAX, FL) SU_SLOT_##SLOT,
#include "schema.def"
#undef FIELD
	SU_SLOT_COUNT
};

enum su_reason {
#define REASON(NAME) SU_R_##NAME,
#include "reasons.def"
#undef REASON
	SU_R_KNOWN_COUNT
};
#define SU_REASON_MAX 64  /* known + rule-declared codes share one mask */

typedef struct su_field {
	const char *path;
	su_type type;
	int enum_kind;
	int64_t min, max;
	unsigned flags;
} su_field;

typedef struct su_enum {
	const char *what;          /* "card state", for messages */
	unsigned count;
	const char *const *values;
} su_enum;

extern const su_field su_fields[SU_SLOT_COUNT];
extern const su_enum su_enums[SU_E_COUNT];
extern const char *const su_reason_names[SU_R_KNOWN_COUNT];

/* Slot of a dotted path, or -1. */
int su_field_lookup(const char *path, size_t len);
/* Id of `name` in enum kind, or -1. */
int su_enum_lookup(int kind, const char *name, size_t len);
/* Known reason code id, or -1. */
int su_reason_lookup(const char *name, size_t len);
/* Closest known field path to `path` (edit distance <= 3), or NULL. */
const char *su_field_suggest(const char *path);
/* Closest value of an enum kind, or NULL. */
const char *su_enum_suggest(int kind, const char *name);
/* Levenshtein distance capped at cap+1 (for "did you mean"). */
unsigned su_edit_distance(const char *a, const char *b, unsigned cap);

#endif
