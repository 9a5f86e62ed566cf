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
	uint8_t cmp;     /* su_cmp / has mode */
	uint16_t a;      /* slot, nargs, type or enum kind */
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

/* Every condition that fits is also saved in conjunctive normal form (an
 * AND of ORs), which the decide loop evaluates without the general loop:
 * a clause is a range of literals. A literal names a fused test
 * instruction of the condition's own code (su_op_test), possibly negated;
 * or (SU_LIT_VM, bundle format 4) the entry of a small condition of its
 * own, after the condition's END, that the general loop runs: the tests of
 * a clause that are not fused, or a part that would not distribute, so one
 * such test costs one literal and not the whole rule. The code stays the
 * reference (explain runs it); both give the same value. */
typedef struct su_lit {
	uint32_t insn;
	uint32_t neg;          /* SU_LIT_NEG | SU_LIT_VM */
} su_lit;
#define SU_LIT_NEG 1u
#define SU_LIT_VM 2u

/* The tests a literal may name: one instruction, one result, no stack. */
static inline int su_op_test(unsigned op)
{
	return (op >= SU_OP_TRI && op <= SU_OP_REASONS_ALL) || (op >= SU_OP_STR_PREFIX && op <= SU_OP_STR_LEN);
}

/* The prepared (not saved) form the decide loop runs, built from the
 * verified code and CNF by su_program_prepare().
 *
 * The decide loop only asks "is this condition TRUE?", and a CNF is TRUE
 * exactly when each of its clauses has a TRUE test (FALSE and ABSENT alike
 * are "no"). So conditions are packed into chunks of at most 64 clauses,
 * each clause one bit of a word: the chunk's tests run (most without
 * branching on the data), each ORs its clause's bit in when it is TRUE, and
 * a few word operations then tell which conditions have every clause set.
 * A condition that is not a CNF, or has more than 64 clauses, is one test
 * that runs its code (SU_F_VM).
 *
 * Tests of a chunk are sorted by kind, so each kind runs as a loop of its
 * own. Most tests need no code of their own: every test of a chunk on a
 * small-domain field (an enum, a boolean, a score of 1..5, or any field
 * tested only for presence) folds into one table per field, indexed by the
 * code of the field's value that the decoder keeps in its presence byte
 * (0 = absent, else code + 1; request.h), whose entry holds the clause
 * bits of the tests TRUE for that value.
 *
 * Big rulesets are also indexed (engine/index.h): a rule whose condition
 * has a one-test clause on a field the index can look up (its guard) goes
 * into chunks with the rules of the same guard value, where that clause is
 * known TRUE; the decide loop runs the chunks of the rules without a guard
 * and those the request's values find. */
enum su_fop {
	SU_F_TABLE,        /* acc |= k.tab[SU_HAS_INDEX(has[slot])]: the entry
	                      of the field's value code (request.h), 0 absent */
	SU_F_CODES,        /* the one test of a field with a table of a chunk:
	                      TRUE when bit SU_HAS_INDEX(has[slot]) of k.mask is */
	SU_F_INT_EQ, SU_F_INT_LE, SU_F_INT_GE,  /* field <op> k.i, XOR inv */
	SU_F_ANY,          /* (field & k.mask) != 0, XOR inv */
	SU_F_ALL,          /* (field & k.mask) == k.mask, XOR inv */
	/* Costlier tests, in one loop, cheapest first: run only while their
	 * clause is unsettled and their condition still alive; k.mask holds the
	 * condition's clause bits. */
	SU_F_COSTLY,
	SU_F_LEN = SU_F_COSTLY,  /* length(field) <cmp> ints[idx]: aux holds
	                            SU_FT_LEN(cmp, idx), the negation folded in */
	/* String tests against constants of at most SU_KEY_MAX bytes kept as
	 * words (eval.h su_key_words) at ftab[aux], beside the chunk's tables,
	 * so the string table is not read: [len, w0, w1]; for KIN [n] then n
	 * such triples. XOR inv. */
	SU_F_KEQ, SU_F_KPRE, SU_F_KSUF, SU_F_KIN,
	SU_F_STR_EQ,       /* == strs[aux], XOR inv */
	SU_F_PREFIX,       /* starts_with(field, strs[aux]), XOR inv */
	SU_F_ENDS,         /* ends_with(field, strs[aux]), XOR inv */
	SU_F_STR_IN,       /* in strset aux, XOR inv */
	SU_F_SUFFIX,       /* ends_with(field, field aux), XOR inv */
	SU_F_CONTAINS,     /* contains(field, strs[aux]), XOR inv */
	SU_F_VM,           /* the condition (or literal entry) at aux is TRUE
	                      (FALSE with inv) */
	SU_F_KINDS
};
#define SU_F_LOOPS (SU_F_COSTLY + 1)  /* kinds with a loop of their own */

typedef struct su_ftest {
	uint8_t op;            /* enum su_fop */
	uint8_t pos;           /* clause bit set when TRUE */
	uint16_t slot;
	uint32_t aux;          /* see su_fop; bit 31: negated predicate (absence
	                          still sets nothing); bit 30 (costly tests): the
	                          last costly test of its clause */
	union {
		uint64_t mask;
		int64_t i;
		const uint64_t *tab;  /* in the ftests block, after the tests */
	} k;
} su_ftest;

/* Tests (literals) a chunk holds at most: its per-kind counts are 16 bits;
 * a condition with more runs as one SU_F_VM test. */
#define SU_CHUNK_MAX_TESTS 4096

/* One chunk: conditions (rules or methods) with at most 64 clauses between
 * them. A condition owns a run of clause bits; `last` marks the top bit of
 * each run, and it fires when its whole run is set. What every run of the
 * chunk reads comes first, in one cache line. */
typedef struct su_fcond {
	uint32_t first;        /* its tests in ftests, sorted by kind */
	uint16_t count[SU_F_LOOPS];  /* tests of each loop */
	uint8_t kinds;         /* bit k: count[k] is not 0 */
	uint64_t init;         /* clauses TRUE whatever the request (constant
	                          tests, a guard the index looked up) */
	uint64_t used;         /* every clause bit of the chunk */
	uint64_t low;          /* used & ~last */
	uint64_t last;         /* top clause bit of each condition */
	uint64_t costly;       /* clauses with a costlier test */
	/* read when a condition is TRUE */
	uint64_t red, yellow, fraud, narrow;  /* rules only, over `last`: outcome,
	                                         FRAUD line, a YELLOW with `only` */
	uint32_t ids;          /* rules: fids[ids + cond_of[bit]] is the rule */
	uint8_t cond_of[64];   /* `last` bit -> the condition's place in the
	                          chunk (rules) or its method type (methods) */
	uint8_t pad[28];       /* three cache lines: the arrays are 64-byte aligned */
} su_fcond;
_Static_assert(sizeof(su_fcond) == 192 && offsetof(su_fcond, red) == 64,
               "a chunk is three cache lines, what every run reads in the first");

typedef struct su_atom {
	uint32_t text;         /* strs index: the source text of the test */
	uint32_t file, line, col;
} su_atom;

/* A plugin function a ruleset calls (V_PCALL's c indexes these). The
 * three names are strs indices: the plugin's configured name (the prefix
 * in the rules), the function, and its signature "ARGS->RET" (letters i,
 * d, b, s as in <stepup/plugin.h>). The ruleset only records them; an
 * engine binds them to loaded plugins (engine.c) and the verifier types
 * V_PCALL against the signature. */
typedef struct su_import {
	uint32_t plugin, fn, sig;
} su_import;

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
	su_schema *schema;             /* the fields the program reads, by slot */

	char *strtab;  uint32_t strtab_len;
	su_span *strs;  uint32_t nstrs;
	uint32_t name;                 /* strs index */
	uint8_t revision[32];
	char revision_hex[8 + 64 + 1]; /* "sha256:" + hex */
	char schema_hex[8 + 64 + 1];   /* the schema's fingerprint, the same way */
	char field_text[96];           /* stepup_ruleset_field()'s default_text */
	uint32_t *files;  uint32_t nfiles;         /* strs indices */
	int64_t *ints;  uint32_t nints;
	double *floats;  uint32_t nfloats;
	uint64_t *masks;  uint32_t nmasks;
	su_range *strsets;  uint32_t nstrsets;
	uint32_t *setitems;  uint32_t nsetitems;   /* strs indices */
	su_mdecl *methods;  uint32_t nmethods;
	su_rule *rules;  uint32_t nrules;
	su_atom *atoms;  uint32_t natoms;
	su_range *clauses;  uint32_t nclauses;
	su_lit *lits;  uint32_t nlits;
	su_import *imports;  uint32_t nimports;
	/* Prepared (not in the bundle): the tests with their tables after
	 * them in one block, and the chunks. The first `nalways` rule chunks
	 * run for every request; the rest only when the index finds them. */
	su_ftest *ftests;
	const uint64_t *ftab;          /* the tables (and constants) after them */
	su_fcond *frules, *fmethods;
	uint32_t nfrules, nfmethods, nalways;
	uint32_t *fids;                /* rule chunks' rules (su_fcond.ids) */
	uint32_t max_fired;            /* rules a decision can list, copies
	                                  included (the index may run a rule
	                                  twice: decide.c drops the repeat) */
	struct su_index *index;        /* NULL: not indexed */
	uint32_t hot_bytes;            /* of a request, from its start: up to the
	                                  last slot the prepared form reads
	                                  (decide.c prefetches them) */
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
/* Build the prepared arrays of a verified program. 0 or -1 (OOM).
 * Rulesets big enough to gain are indexed (engine/index.h). */
int su_program_prepare(struct stepup_ruleset *rs);
/* The same with the index forced off or on (tests and the differential
 * fuzz target compare the two). */
enum { SU_INDEX_AUTO, SU_INDEX_OFF, SU_INDEX_FORCE };
int su_program_prepare_mode(struct stepup_ruleset *rs, int index_mode);
/* Compute revision_hex from revision. */
void su_program_set_revision_hex(struct stepup_ruleset *rs);

/* The rules type of a signature letter (i, d, b, s), SU_T_NONE if none. */
su_type su_sig_type(char letter);
/* Parse import i's signature (of a verified program) into args (at least
 * STEPUP_PLUGIN_MAX_ARGS + 1 bytes, NUL-terminated letters) and *ret;
 * 0, or -1 when it is not a valid signature. */
int su_import_sig(const struct stepup_ruleset *rs, uint32_t i, char *args, char *ret);

typedef struct su_builtin_sig {
	const char *name;
	unsigned nargs;
	su_type args[2];
	su_type ret;
} su_builtin_sig;

extern const char *const su_op_names[SU_OP_COUNT];
/* Stack effects per opcode (V_CALL's and V_PCALL's value effect is
 * 1 - nargs). */
extern const int8_t su_op_tri[SU_OP_COUNT];
extern const int8_t su_op_val[SU_OP_COUNT];
extern const su_builtin_sig su_builtins[SU_FN_COUNT];

#endif
