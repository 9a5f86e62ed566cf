/* parser.y: grammar of the stepup rule language (docs/language.md).
 * Actions only build the AST; all meaning is checked in check.c. */
%require "3.7"
%define api.pure full
%define api.prefix {su_yy}
%define api.location.type {su_loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0

%parse-param {struct su_parser *p} {void *scanner}
%lex-param {void *scanner}

%code requires {
#include <stdint.h>
#include "ast.h"
struct su_parser;
}

%code provides {
int su_yylex(SU_YYSTYPE *lval, su_loc *lloc, void *scanner);
}

%code {
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "parse_ctx.h"

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                 \
	do {                                                            \
		if (N) {                                                    \
			(Cur).file = YYRHSLOC(Rhs, 1).file;                     \
			(Cur).first_line = YYRHSLOC(Rhs, 1).first_line;         \
			(Cur).first_col = YYRHSLOC(Rhs, 1).first_col;           \
			(Cur).last_line = YYRHSLOC(Rhs, N).last_line;           \
			(Cur).last_col = YYRHSLOC(Rhs, N).last_col;             \
		} else {                                                    \
			(Cur) = YYRHSLOC(Rhs, 0);                               \
			(Cur).first_line = (Cur).last_line;                     \
			(Cur).first_col = (Cur).last_col;                       \
		}                                                           \
	} while (0)

#define YYMALLOC malloc
#define YYFREE free

static su_node *mk(su_node_kind k, su_loc loc, su_node *a, su_node *b)
{
	su_node *n = su_node_new(k, loc);
	if (!n) {
		su_node_free(a);
		su_node_free(b);
		return NULL;
	}
	n->a = a;
	n->b = b;
	n->depth = 1 + (a ? a->depth : 0);
	if (b && b->depth + 1 > n->depth)
		n->depth = b->depth + 1;
	return n;
}

/* Lists are built by prepending (linear time); put them back in order. */
static su_node *reverse(su_node *n)
{
	su_node *prev = NULL;
	while (n) {
		su_node *next = n->next;
		n->next = prev;
		prev = n;
		n = next;
	}
	return prev;
}

/* Deeply nested expressions would make every later pass recurse as deep;
 * nobody writes them on purpose. */
#define CHECK_DEPTH(n, loc)                                                   \
	do {                                                                      \
		if ((n)->depth > SU_MAX_EXPR_DEPTH) {                                 \
			su_error(p->diags, (loc), "expression nested deeper than %d levels", \
			         SU_MAX_EXPR_DEPTH);                                      \
			su_node_free(n);                                                  \
			YYABORT;                                                          \
		}                                                                     \
	} while (0)

static su_node *mk_text(su_node_kind k, su_loc loc, char *text)
{
	su_node *n = su_node_new(k, loc);
	if (!n) {
		free(text);
		return NULL;
	}
	n->text = text;
	return n;
}

#define RESYNC(loc)                                                   \
	do {                                                              \
		if (p->recovering && (loc).first_line > p->err_line) {        \
			yyerrok;                                                  \
			p->recovering = 0;                                        \
		}                                                             \
	} while (0)

#define OOM_IF_NULL(x) do { if (!(x)) { p->diags->oom = 1; YYABORT; } } while (0)

static void su_yyerror(su_loc *loc, struct su_parser *p, void *scanner, const char *msg)
{
	(void)scanner;
	if (strcmp(msg, "memory exhausted") == 0)
		msg = "input too complex for the parser (nesting too deep)";
	su_error(p->diags, *loc, "%s", msg);
	p->err_line = loc->first_line;
	p->nerrs++;
}
}

%union {
	char *str;
	int64_t ival;
	double fval;
	su_node *node;
	su_ident_list *ids;
	int outcome;
}

%token <str> NAME "name" STRING "string"
%token <ival> INTEGER "integer" BOOLEAN "boolean" CMPOP "comparison operator"
%token <fval> FLOAT "number"
%token FIELD "'field'" SCHEMA "'schema'" DOTDOT "'..'"
%token RULESET "'ruleset'" METHOD "'method'" WHEN "'when'" ALWAYS "'always'"
%token LET "'let'" RULE "'rule'" THEN "'then'" DECLINE "'decline'"
%token APPROVE "'approve'" STEP_UP "'step_up'" ONLY "'only'" LINE "'line'"
%token ON "'on'" CHANNEL "'channel'" BECOMES "'becomes'"
%token AND "'and'" OR "'or'" NOT "'not'" IN "'in'" HAS "'has'" ANY "'any'"
%token ALL "'all'" OF "'of'" IS "'is'" PRESENT "'present'" ABSENT "'absent'"
%token BADTOKEN "invalid token"

%type <node> expr pred value setref set items args arglist fitems fitem fnames
%type <str> fpath
%type <ids> method_list opt_only
%type <str> opt_desc
%type <outcome> becomes

%destructor { free($$); } <str>
%destructor { su_node_free($$); } <node>
%destructor { su_ident_list_free($$); } <ids>

%left OR
%left AND
%precedence NOT

%%

file
	: header decls
	;

header
	: %empty
	| RULESET STRING   { p->out->ruleset_name = $2; p->out->name_loc = @2; p->out->name_start = @1; }
	;

decls
	: %empty
	| decls decl
	;

decl
	: method_decl
	| let_decl
	| rule_decl
	| policy_decl
	| field_decl
	| schema_decl
	| error            {
		if (p->nerrs >= SU_MAX_SYNTAX_ERRORS)
			YYABORT;
		p->recovering = 1;
	}
	;

/* A declaration keyword on a later line than the last error ends error
 * recovery at once: bison would otherwise stay silent for three more tokens
 * and swallow a mistake early in the next declaration. (On the same line it
 * is more likely part of the broken declaration.) */
kw_method : METHOD { RESYNC(@1); } ;
kw_let    : LET    { RESYNC(@1); } ;
kw_rule   : RULE   { RESYNC(@1); } ;
kw_on     : ON     { RESYNC(@1); } ;
kw_field  : FIELD  { RESYNC(@1); } ;
kw_schema : SCHEMA { RESYNC(@1); } ;

/* `field PATH ITEMS`: the items are kept as written; declare.c gives
 * them meaning (type, options), with a location for every complaint. */
field_decl
	: kw_field fpath fitems {
		su_field_decl *f = calloc(1, sizeof(*f));
		if (!f) { free($2); su_node_free($3); OOM_IF_NULL(f); }
		f->path = $2; f->loc = @2; f->start = @1; f->items = reverse($3);
		*p->fields_tail = f; p->fields_tail = &f->next;
	}
	;

fpath
	: NAME
	| CHANNEL  { OOM_IF_NULL($$ = strdup("channel")); }
	;

fitems
	: %empty        { $$ = NULL; }
	| fitems fitem  { $2->next = $1; $$ = $2; }
	;

fitem
	: NAME                   { OOM_IF_NULL($$ = mk_text(SU_N_IDENT, @$, $1)); }
	| CHANNEL                { char *t = strdup("channel"); OOM_IF_NULL(t); OOM_IF_NULL($$ = mk_text(SU_N_IDENT, @$, t)); }
	| OF                     { char *t = strdup("of"); OOM_IF_NULL(t); OOM_IF_NULL($$ = mk_text(SU_N_IDENT, @$, t)); }
	| INTEGER                { OOM_IF_NULL($$ = mk(SU_N_INT, @$, NULL, NULL)); $$->ival = $1; }
	| INTEGER DOTDOT INTEGER {
		su_node *lo = mk(SU_N_INT, @1, NULL, NULL), *hi = lo ? mk(SU_N_INT, @3, NULL, NULL) : NULL;
		if (!hi) { su_node_free(lo); OOM_IF_NULL(NULL); }
		lo->ival = $1; hi->ival = $3;
		OOM_IF_NULL($$ = mk(SU_N_RANGE, @$, lo, hi));
	}
	| BOOLEAN                { OOM_IF_NULL($$ = mk(SU_N_BOOL, @$, NULL, NULL)); $$->ival = $1; }
	| STRING                 { OOM_IF_NULL($$ = mk_text(SU_N_STRING, @$, $1)); }
	| '{' fnames '}'         { OOM_IF_NULL($$ = mk(SU_N_SET, @$, reverse($2), NULL)); }
	| '{' '}'                { OOM_IF_NULL($$ = mk(SU_N_SET, @$, NULL, NULL)); }
	| NAME '(' NAME ')'      {
		su_node *arg = mk_text(SU_N_FIELD, @3, $3);
		if (!arg) { free($1); OOM_IF_NULL(NULL); }
		$$ = mk_text(SU_N_CALL, @$, $1);
		if (!$$) { su_node_free(arg); OOM_IF_NULL(NULL); }
		$$->a = arg;
	}
	;

fnames
	: NAME                   { OOM_IF_NULL($$ = mk_text(SU_N_IDENT, @$, $1)); }
	| fnames ',' NAME        {
		su_node *n = mk_text(SU_N_IDENT, @3, $3);
		if (!n) { su_node_free($1); OOM_IF_NULL(NULL); }
		n->next = $1; $$ = n;
	}
	;

/* `schema none`: this ruleset declares every field itself. */
schema_decl
	: kw_schema NAME {
		if (p->out->schema) {
			su_error(p->diags, @2, "the schema is chosen twice in this file");
			free($2);
		} else {
			p->out->schema = $2; p->out->schema_loc = @2; p->out->schema_start = @1;
		}
	}
	;

method_decl
	: kw_method NAME WHEN expr {
		su_method_decl *m = calloc(1, sizeof(*m));
		if (!m) { free($2); su_node_free($4); OOM_IF_NULL(m); }
		m->name = $2; m->loc = @2; m->start = @1; m->when = $4;
		*p->methods_tail = m; p->methods_tail = &m->next;
	}
	| kw_method NAME ALWAYS {
		su_method_decl *m = calloc(1, sizeof(*m));
		if (!m) { free($2); OOM_IF_NULL(m); }
		m->name = $2; m->loc = @2; m->start = @1;
		*p->methods_tail = m; p->methods_tail = &m->next;
	}
	;

let_decl
	: kw_let NAME '=' value {
		su_let_decl *l = calloc(1, sizeof(*l));
		if (!l) { free($2); su_node_free($4); OOM_IF_NULL(l); }
		l->name = $2; l->loc = @2; l->start = @1; l->value = $4;
		*p->lets_tail = l; p->lets_tail = &l->next;
	}
	| kw_let NAME '=' set {
		su_let_decl *l = calloc(1, sizeof(*l));
		if (!l) { free($2); su_node_free($4); OOM_IF_NULL(l); }
		l->name = $2; l->loc = @2; l->start = @1; l->value = $4;
		*p->lets_tail = l; p->lets_tail = &l->next;
	}
	;

rule_decl
	: kw_rule NAME opt_desc WHEN expr THEN outcome {
		su_rule_decl *r = p->pending;
		p->pending = NULL;
		r->name = $2; r->loc = @2; r->start = @1; r->desc = $3; r->desc_loc = @3; r->when = $5;
		*p->rules_tail = r; p->rules_tail = &r->next;
	}
	;

opt_desc
	: %empty  { $$ = NULL; }
	| STRING  { $$ = $1; }
	;

outcome
	: DECLINE          { OOM_IF_NULL(p->pending = su_rule_pending(p, SU_O_DECLINE, @1)); }
	| APPROVE          { OOM_IF_NULL(p->pending = su_rule_pending(p, SU_O_APPROVE, @1)); }
	| STEP_UP opt_only {
		p->pending = su_rule_pending(p, SU_O_STEP_UP, @1);
		if (!p->pending) { su_ident_list_free($2); OOM_IF_NULL(NULL); }
		p->pending->only = $2;
		$2 = NULL;  /* owned by the pending rule now, not by the parser stack */
	  } opt_line
	;

opt_only
	: %empty             { $$ = NULL; }
	| ONLY method_list   { $$ = $2; }
	;

method_list
	: NAME {
		$$ = calloc(1, sizeof(*$$));
		if (!$$) { free($1); OOM_IF_NULL(NULL); }
		$$->name = $1; $$->loc = @1;
	}
	| method_list ',' NAME {
		su_ident_list *it = calloc(1, sizeof(*it)), **t = &$1;
		if (!it) { free($3); su_ident_list_free($1); OOM_IF_NULL(NULL); }
		it->name = $3; it->loc = @3;
		while (*t) t = &(*t)->next;
		*t = it;
		$$ = $1;
	}
	;

opt_line
	: %empty
	| LINE NAME {
		if (strcmp($2, "STANDARD") == 0)
			p->pending->line = STEPUP_LINE_STANDARD;
		else if (strcmp($2, "FRAUD") == 0)
			p->pending->line = STEPUP_LINE_FRAUD;
		else
			su_error(p->diags, @2, "unknown customer-service line '%s' (expected STANDARD or FRAUD)", $2);
		p->pending->line_loc = @2;
		free($2);
	}
	;

policy_decl
	: kw_on CHANNEL NAME STEP_UP BECOMES becomes {
		su_policy_decl *pol = calloc(1, sizeof(*pol));
		if (!pol) { free($3); OOM_IF_NULL(pol); }
		pol->channel = $3; pol->loc = @3; pol->start = @1; pol->becomes = $6;
		*p->policies_tail = pol; p->policies_tail = &pol->next;
	}
	;

becomes
	: APPROVE   { $$ = SU_O_APPROVE; }
	| DECLINE   { $$ = SU_O_DECLINE; }
	;

expr
	: expr OR expr       { OOM_IF_NULL($$ = mk(SU_N_OR, @$, $1, $3)); CHECK_DEPTH($$, @$); }
	| expr AND expr      { OOM_IF_NULL($$ = mk(SU_N_AND, @$, $1, $3)); CHECK_DEPTH($$, @$); }
	| NOT expr           { OOM_IF_NULL($$ = mk(SU_N_NOT, @$, $2, NULL)); CHECK_DEPTH($$, @$); }
	| '(' expr ')'       { $$ = $2; }
	| pred
	;

pred
	: value CMPOP value  {
		OOM_IF_NULL($$ = mk(SU_N_CMP, @$, $1, $3));
		$$->ival = $2;
	}
	| value IN setref            { OOM_IF_NULL($$ = mk(SU_N_IN, @$, $1, $3)); }
	| value NOT IN setref        { OOM_IF_NULL($$ = mk(SU_N_IN, @$, $1, $4)); $$->ival = 1; }
	| value HAS value            { OOM_IF_NULL($$ = mk(SU_N_HAS, @$, $1, $3)); $$->ival = SU_HAS_ONE; }
	| value HAS ANY OF setref    { OOM_IF_NULL($$ = mk(SU_N_HAS, @$, $1, $5)); $$->ival = SU_HAS_ANY; }
	| value HAS ALL OF setref    { OOM_IF_NULL($$ = mk(SU_N_HAS, @$, $1, $5)); $$->ival = SU_HAS_ALL; }
	| value IS PRESENT           { OOM_IF_NULL($$ = mk(SU_N_PRESENT, @$, $1, NULL)); }
	| value IS ABSENT            { OOM_IF_NULL($$ = mk(SU_N_PRESENT, @$, $1, NULL)); $$->ival = 1; }
	| value
	;

setref
	: set
	| NAME               { OOM_IF_NULL($$ = mk_text(SU_N_IDENT, @$, $1)); }
	;

set
	: '{' items '}'      { OOM_IF_NULL($$ = mk(SU_N_SET, @$, reverse($2), NULL)); }
	| '{' '}'            { OOM_IF_NULL($$ = mk(SU_N_SET, @$, NULL, NULL)); }
	;

items
	: value
	| items ',' value    { $3->next = $1; $$ = $3; }
	;

value
	: NAME               { OOM_IF_NULL($$ = mk_text(strchr($1, '.') ? SU_N_FIELD : SU_N_IDENT, @$, $1)); }
	| NAME '(' args ')'  {
		$$ = mk_text(SU_N_CALL, @$, $1);
		if (!$$) { su_node_free($3); OOM_IF_NULL(NULL); }
		$$->a = reverse($3);
	}
	| INTEGER            { OOM_IF_NULL($$ = mk(SU_N_INT, @$, NULL, NULL)); $$->ival = $1; }
	| FLOAT              { OOM_IF_NULL($$ = mk(SU_N_FLOAT, @$, NULL, NULL)); $$->fval = $1; }
	| STRING             { OOM_IF_NULL($$ = mk_text(SU_N_STRING, @$, $1)); }
	| BOOLEAN            { OOM_IF_NULL($$ = mk(SU_N_BOOL, @$, NULL, NULL)); $$->ival = $1; }
	| CHANNEL            {
		/* `channel` is a keyword of the policy declaration and a field. */
		char *t = strdup("channel");
		OOM_IF_NULL(t);
		OOM_IF_NULL($$ = mk_text(SU_N_FIELD, @$, t));
	}
	;

args
	: %empty             { $$ = NULL; }
	| arglist
	;

arglist
	: value
	| arglist ',' value  { $3->next = $1; $$ = $3; }
	;

%%

static int yyreport_syntax_error(const yypcontext_t *ctx, struct su_parser *p, void *scanner)
{
	(void)scanner;
	yysymbol_kind_t expected[6];
	yysymbol_kind_t tok = yypcontext_token(ctx);
	char msg[400];
	size_t n = 0;

	p->nerrs++;
	p->err_line = yypcontext_location(ctx)->first_line;
	if (tok == YYSYMBOL_BADTOKEN)
		return 0;  /* the lexer already said what is wrong */
	int nexp = yypcontext_expected_tokens(ctx, expected, 6);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "syntax error: unexpected %s",
	                      tok == YYSYMBOL_YYEOF ? "end of file" : yysymbol_name(tok));
	if (nexp > 0 && nexp < 6) {
		for (int i = 0; i < nexp && n < sizeof(msg); i++)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s%s",
			                      i == 0 ? ", expecting " : i == nexp - 1 ? " or " : ", ",
			                      expected[i] == YYSYMBOL_YYEOF ? "end of file" : yysymbol_name(expected[i]));
	}
	su_error(p->diags, *yypcontext_location(ctx), "%s", msg);
	return 0;
}
