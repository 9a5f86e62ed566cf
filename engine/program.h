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
	su_range cnf;          /* clauses, when the condition is in CNF (count 0: not) */
} su_rule;

typedef struct su_mdecl {
	uint8_t type;          /* stepup_method */
	uint8_t pad[3];
	uint32_t code;         /* availability condition entry */
	uint32_t line;
	su_range cnf;          /* as for rules */
} su_mdecl;

/* A condition that is an AND of ORs of single tests (most are) also gets
 * this flat form, which the decide loop evaluates without the general
 * loop: a clause is a range of literals; a literal names a fused test
 * instruction of the condition's own code, possibly negated. The code stays
 * the reference (explain runs it); both give the same value. */
typedef struct su_lit {
	uint32_t insn;
	uint32_t neg;
} su_lit;

/* The prepared (not saved) form the decide loop runs: each literal with its
 * constant copied in, the literals of a condition contiguous, so a rule
 * that is a few field tests costs a few loads and compares. Built from the
 * verified code and CNF by su_program_prepare(). */
/* Prepared test kinds: the fused opcodes with negation and comparison
 * folded in, so evaluating one is a single switch. */
enum su_fop {
	SU_F_CONST,        /* k.idx: tri value */
	SU_F_PRESENT, SU_F_ABSENT,
	SU_F_BOOL, SU_F_NOT_BOOL,
	SU_F_ENUM,         /* k.mask over the enum's values (negation folded) */
	SU_F_INT_EQ, SU_F_INT_NE, SU_F_INT_LT, SU_F_INT_LE, SU_F_INT_GT, SU_F_INT_GE,
	SU_F_STR_EQ, SU_F_STR_NE,
	SU_F_STR_IN, SU_F_STR_NOT_IN,
	SU_F_SUFFIX, SU_F_NOT_SUFFIX,       /* k.idx: the suffix's slot */
	SU_F_ANY, SU_F_NONE, SU_F_ALL, SU_F_NOT_ALL,
};

typedef struct su_ftest {
	uint8_t op;            /* enum su_fop */
	uint8_t slot;
	uint16_t pad;
	uint32_t clause_last;  /* index of the last literal of this literal's clause */
	union {
		uint64_t mask;
		int64_t i;
		uint32_t idx;      /* string constant, set, or second slot */
	} k;
} su_ftest;

typedef struct su_fcond {
	uint32_t first, end;   /* literals; first == end: run the code instead */
	uint32_t code : 24;
	uint32_t outcome : 2, allowed : 4, fraud : 1, pad : 1;  /* copied from the rule */
} su_fcond;

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
	su_range *clauses;  uint32_t nclauses;
	su_lit *lits;  uint32_t nlits;
	su_ftest *ftests;              /* prepared: not in the bundle */
	su_fcond *frules, *fmethods;
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
/* Build the prepared arrays of a verified program. 0 or -1 (OOM). */
int su_program_prepare(struct stepup_ruleset *rs);
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
