/* ast.h: the syntax tree built by parser.y and annotated by check.c.
 *
 * The parser only builds nodes; every semantic question (does this field
 * exist, do these types compare) is answered in check.c, which fills the
 * `ty`, `slot`, `ival` ... annotations and may rewrite nodes in place. */
#ifndef SU_AST_H
#define SU_AST_H

#include <stdint.h>
#include "diag.h"
#include "../engine/schema.h"

#define SU_MAX_EXPR_DEPTH 200

#define SU_NODE_KINDS(X)                                      \
	X(OR, "or")                                               \
	X(AND, "and")                                             \
	X(NOT, "not")                                             \
	X(CMP, "comparison")                                      \
	X(IN, "in")                                               \
	X(HAS, "has")                                             \
	X(PRESENT, "is present")                                  \
	X(FIELD, "field")                                         \
	X(IDENT, "name")                                          \
	X(INT, "integer")                                         \
	X(FLOAT, "number")                                        \
	X(STRING, "string")                                       \
	X(BOOL, "boolean")                                        \
	X(SET, "set")                                             \
	X(CALL, "call")                                           \
	X(RANGE, "range")

typedef enum su_node_kind {
#define X(K, NAME) SU_N_##K,
	SU_NODE_KINDS(X)
#undef X
} su_node_kind;

typedef enum su_cmp {
	SU_CMP_EQ, SU_CMP_NE, SU_CMP_LT, SU_CMP_LE, SU_CMP_GT, SU_CMP_GE,
} su_cmp;

typedef enum su_has_mode { SU_HAS_ONE, SU_HAS_ANY, SU_HAS_ALL } su_has_mode;

typedef struct su_node su_node;
struct su_node {
	su_node_kind kind;
	su_loc loc;
	su_node *a, *b;           /* operands / first set item / call args */
	su_node *next;            /* sibling in a set or argument list */
	char *text;               /* FIELD/IDENT/CALL name, STRING value */
	int64_t ival;             /* INT, BOOL; CMP: su_cmp; HAS: mode;
	                             IN, PRESENT: 1 when negated */
	double fval;
	unsigned depth;           /* height of the subtree, bounded by the parser */

	/* Filled by the checker. */
	su_type ty;               /* type of the value this node produces */
	int ekind;                /* enum kind for SU_T_ENUM / enum sets */
	su_type elem;             /* SET: element type */
	int slot;                 /* FIELD: schema slot */
	uint64_t mask;            /* SET of enums / reasons: bit mask */
	int func;                 /* CALL: builtin id, -1 for a plugin function */
	int import;               /* CALL: index in su_checked.imports, or -1 */
};

typedef enum su_outcome_kind { SU_O_APPROVE, SU_O_STEP_UP, SU_O_DECLINE } su_outcome_kind;

typedef struct su_ident_list {
	char *name;
	su_loc loc;
	struct su_ident_list *next;
} su_ident_list;

typedef struct su_method_decl {
	char *name;
	su_loc loc;
	su_loc start;             /* the keyword: where the declaration begins */
	su_node *when;            /* NULL = always */
	int type;                 /* checker: stepup_method */
	struct su_method_decl *next;
} su_method_decl;

typedef struct su_let_decl {
	char *name;
	su_loc loc;
	su_loc start;
	su_node *value;
	int used;
	int expanding;            /* checker: its value is being checked (cycles) */
	struct su_let_decl *next;
} su_let_decl;

typedef struct su_rule_decl {
	char *name;
	su_loc loc;
	su_loc start;
	char *desc;               /* may be NULL */
	su_loc desc_loc;
	su_node *when;
	su_outcome_kind outcome;
	su_loc outcome_loc;
	su_ident_list *only;      /* step_up only ... (NULL = every method) */
	int line;                 /* -1 unset, else stepup_cs_line */
	su_loc line_loc;
	unsigned allowed;         /* checker: mask of stepup_method */
	struct su_rule_decl *next;
} su_rule_decl;

typedef struct su_policy_decl {
	char *channel;
	su_loc loc;
	su_loc start;
	su_outcome_kind becomes;
	struct su_policy_decl *next;
} su_policy_decl;

/* `field PATH ITEMS...`: the items (names, integers, ranges a..b, sets
 * {A, B}, calls f(path), strings, booleans) as written; dsl/declare.c
 * reads the type and options out of them. */
typedef struct su_field_decl {
	char *path;
	su_loc loc;               /* of the path */
	su_loc start;
	su_node *items;           /* sibling list */
	struct su_field_decl *next;
} su_field_decl;

/* A comment (only kept when the parser is asked to: dsl/fmt.c). */
typedef struct su_comment {
	su_loc loc;               /* from '#' to the end of the line */
} su_comment;

/* One parsed source file. Lists keep source order. */
typedef struct su_file {
	char *ruleset_name;       /* may be NULL */
	su_loc name_loc;
	su_loc name_start;        /* the `ruleset` keyword */
	char *schema;             /* `schema NAME`, may be NULL */
	su_loc schema_loc;
	su_loc schema_start;
	su_method_decl *methods;
	su_let_decl *lets;
	su_rule_decl *rules;
	su_policy_decl *policies;
	su_field_decl *fields;
	su_comment *comments;     /* in source order, when kept */
	size_t ncomments, capcomments;
} su_file;

su_node *su_node_new(su_node_kind kind, su_loc loc);
void su_node_free(su_node *n);
/* Deep copy of n and its children (not its siblings). NULL on OOM. */
su_node *su_node_clone(const su_node *n);
void su_ident_list_free(su_ident_list *l);
void su_method_decl_free(su_method_decl *m);
void su_let_decl_free(su_let_decl *l);
void su_rule_decl_free(su_rule_decl *r);
void su_policy_decl_free(su_policy_decl *p);
void su_field_decl_free(su_field_decl *f);
void su_file_free(su_file *f);
const char *su_node_kind_name(su_node_kind k);
const char *su_cmp_text(su_cmp c);
/* The operator that gives the same result with the operands swapped. */
su_cmp su_cmp_flip(su_cmp c);

#endif
