/* parse.c: runs the lexer and parser over one source of the table. */
#include <stdlib.h>
#include "parse_ctx.h"
#include "parser.h"
#include "lexer.h"

su_rule_decl *su_rule_pending(struct su_parser *p, su_outcome_kind o, su_loc loc)
{
	su_rule_decl_free(p->pending);  /* left over by error recovery */
	p->pending = calloc(1, sizeof(*p->pending));
	if (!p->pending)
		return NULL;
	p->pending->outcome = o;
	p->pending->outcome_loc = loc;
	p->pending->line = -1;
	return p->pending;
}

void su_parse_comment(struct su_parser *p, su_loc loc)
{
	su_file *f = p->out;
	if (f->ncomments == f->capcomments) {
		size_t cap = f->capcomments ? f->capcomments * 2 : 16;
		su_comment *c = realloc(f->comments, cap * sizeof(*c));
		if (!c) {
			p->diags->oom = 1;
			return;
		}
		f->comments = c;
		f->capcomments = cap;
	}
	f->comments[f->ncomments++].loc = loc;
}

static su_file *parse(su_diags *d, unsigned file, int keep_comments)
{
	struct su_parser p = { .diags = d, .file = file, .line = 1, .col = 1, .keep_comments = keep_comments };
	yyscan_t scanner;
	YY_BUFFER_STATE buf;

	p.out = calloc(1, sizeof(*p.out));
	if (!p.out)
		return NULL;
	p.methods_tail = &p.out->methods;
	p.lets_tail = &p.out->lets;
	p.rules_tail = &p.out->rules;
	p.policies_tail = &p.out->policies;
	p.fields_tail = &p.out->fields;

	if (su_yylex_init_extra(&p, &scanner)) {
		free(p.out);
		return NULL;
	}
	buf = su_yy_scan_bytes(d->src[file].text, (int)d->src[file].len, scanner);
	su_yyparse(&p, scanner);
	su_yy_delete_buffer(buf, scanner);
	su_yylex_destroy(scanner);
	su_rule_decl_free(p.pending);
	return p.out;
}

su_file *su_parse(su_diags *d, unsigned file)
{
	return parse(d, file, 0);
}

su_file *su_parse_keep_comments(su_diags *d, unsigned file)
{
	return parse(d, file, 1);
}
