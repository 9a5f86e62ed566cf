/* parse_ctx.h: state shared by the lexer and the parser for one source. */
#ifndef SU_PARSE_CTX_H
#define SU_PARSE_CTX_H

#include <errno.h>
#include "ast.h"
#include "diag.h"

#define SU_MAX_SYNTAX_ERRORS 50

struct su_parser {
	su_diags *diags;
	unsigned file;
	unsigned line, col;     /* lexer position */
	su_file *out;           /* declarations, appended in source order */
	su_method_decl **methods_tail;
	su_let_decl **lets_tail;
	su_rule_decl **rules_tail;
	su_policy_decl **policies_tail;
	su_field_decl **fields_tail;
	su_rule_decl *pending;  /* outcome parsed, rule not yet reduced */
	unsigned nerrs;
	int recovering;         /* after `decl: error`, until the next keyword */
	unsigned err_line;      /* line of the last syntax error */
	unsigned parens;        /* open '(' in the lexer, bounded like expression depth */
	int keep_comments;      /* record comments in out->comments (dsl/fmt.c) */
};

/* Start the rule whose outcome the parser just read. */
su_rule_decl *su_rule_pending(struct su_parser *p, su_outcome_kind o, su_loc loc);

/* Parse one source (already in the diagnostics' source table). Always returns
 * a su_file (possibly partial) unless out of memory; errors are queued. */
su_file *su_parse(su_diags *d, unsigned file);
/* The same, keeping the comments (out->comments) for the formatter. */
su_file *su_parse_keep_comments(su_diags *d, unsigned file);
/* Record a comment the lexer met (when asked to); sets oom on failure. */
void su_parse_comment(struct su_parser *p, su_loc loc);

#endif
