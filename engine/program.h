/* program.h: the compiled ruleset (struct stepup_ruleset) as flat arrays
 * with indices, not pointers, so it saves and loads as a bundle unchanged.
 * Built by dsl/compile.c, checked by verify.c, run by eval.c. */
#ifndef SU_PROGRAM_H
#define SU_PROGRAM_H

#include <stdint.h>
#include <stddef.h>
#include <stepup/stepup.h>
#include "schema.h"

enum su_op {
#define OP(NAME, SHAPE, TRI, VAL) SU_OP_##NAME,
#include "opcodes.def"
#undef OP
	SU_OP_COUNT
};

/* Three-valued logic: absent is neither true nor false. */
enum { SU_FALSE = 0, SU_TRUE = 1, SU_ABSENT = 2 };

#define SU_NONE UINT32_MAX
#define SU_MAX_STACK 256  /* expression depth is capped at 200 by the parser */

typedef struct su_insn {
	uint8_t op;
	uint8_t a;       /* slot, nargs or type */
	uint8_t cmp;     /* su_cmp / has mode */
	uint8_t pad;
	uint32_t c;      /* constant index, jump target, builtin id */
	uint32_t atom;   /* explain: atom index or SU_NONE */
} su_insn;

typedef struct su_span { uint32_t off, len; } su_span;     /* into strtab */
typedef struct su_range { uint32_t start, count; } su_range;

typedef struct su_rule {
	uint32_t name, desc;   /* strs index; desc may be SU_NONE */
	uint32_t file;         /* files index */
	uint32_t line, col;
	uint8_t outcome;       /* stepup_outcome */
	uint8_t fraud;         /* asks for the FRAUD line */
	uint8_t allowed;       /* mask of stepup_method allowed (YELLOW) */
	uint8_t pad;
	uint32_t code;         /* entry point */
} su_rule;

typedef struct su_mdecl {
	uint8_t type;          /* stepup_method */
	uint8_t pad[3];
	uint32_t code;         /* availability condition entry */
	uint32_t line;
} su_mdecl;

typedef struct su_atom {
	uint32_t text;         /* strs index: the source text of the test */
	uint32_t file, line, col;
} su_atom;

/* Builtin functions callable from rules. */
enum su_builtin {
	SU_FN_ENDS_WITH = 0,
	SU_FN_STARTS_WITH,
	SU_FN_CONTAINS,
	SU_FN_LENGTH,
	SU_FN_COUNT
};

struct stepup_ruleset {
	int refs;

	char *strtab;  uint32_t strtab_len;
	su_span *strs;  uint32_t nstrs;
	uint32_t name;                 /* strs index */
	uint8_t revision[32];
	char revision_hex[8 + 64 + 1]; /* "sha256:" + hex */
	uint32_t *files;  uint32_t nfiles;         /* strs indices */
	int64_t *ints;  uint32_t nints;
	double *floats;  uint32_t nfloats;
	uint64_t *masks;  uint32_t nmasks;
	su_range *strsets;  uint32_t nstrsets;
	uint32_t *setitems;  uint32_t nsetitems;   /* strs indices */
	uint32_t *reasons;  uint32_t nreasons;     /* extra codes: strs, bit = KNOWN + i */
	su_mdecl *methods;  uint32_t nmethods;
	su_rule *rules;  uint32_t nrules;
	su_atom *atoms;  uint32_t natoms;
	su_insn *code;  uint32_t ncode;
	uint8_t merchant_policy;       /* stepup_outcome a YELLOW becomes */
	uint8_t merchant_policy_set;
	uint32_t max_tri, max_val;     /* stack depths, checked by the verifier */
};

#define SU_STR(rs, i) ((rs)->strtab + (rs)->strs[(i)].off)
#define SU_STRLEN(rs, i) ((rs)->strs[(i)].len)

/* Free every array (used by the compiler on failure and by unref). */
void su_program_free(struct stepup_ruleset *rs);
/* Check every index, slot type, jump and stack depth. 0 or -1 + message. */
int su_program_verify(const struct stepup_ruleset *rs, char *err, size_t errlen);
/* Compute revision_hex from revision. */
void su_program_set_revision_hex(struct stepup_ruleset *rs);

typedef struct su_builtin_sig {
	const char *name;
	unsigned nargs;
	su_type args[2];
	su_type ret;
} su_builtin_sig;

extern const char *const su_op_names[SU_OP_COUNT];
/* Stack effects per opcode (V_CALL's value effect is 1 - nargs). */
extern const int8_t su_op_tri[SU_OP_COUNT];
extern const int8_t su_op_val[SU_OP_COUNT];
extern const su_builtin_sig su_builtins[SU_FN_COUNT];

#endif
