/* ast.c: node allocation and release. */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

su_node *su_node_new(su_node_kind kind, su_loc loc)
{
	su_node *n = calloc(1, sizeof(*n));
	if (n) {
		n->kind = kind;
		n->loc = loc;
		n->slot = -1;
		n->ekind = -1;  /* no enum kind / list field */
		n->func = -1;
		n->import = -1;
	}
	return n;
}

void su_node_free(su_node *n)
{
	while (n) {
		su_node *next = n->next;
		su_node_free(n->a);
		su_node_free(n->b);
		free(n->text);
		free(n);
		n = next;
	}
}

void su_ident_list_free(su_ident_list *l)
{
	while (l) {
		su_ident_list *next = l->next;
		free(l->name);
		free(l);
		l = next;
	}
}

void su_method_decl_free(su_method_decl *m)
{
	while (m) {
		su_method_decl *next = m->next;
		free(m->name);
		su_node_free(m->when);
		free(m);
		m = next;
	}
}

void su_let_decl_free(su_let_decl *l)
{
	while (l) {
		su_let_decl *next = l->next;
		free(l->name);
		su_node_free(l->value);
		free(l);
		l = next;
	}
}

void su_rule_decl_free(su_rule_decl *r)
{
	while (r) {
		su_rule_decl *next = r->next;
		free(r->name);
		free(r->desc);
		su_node_free(r->when);
		su_ident_list_free(r->only);
		free(r);
		r = next;
	}
}

void su_policy_decl_free(su_policy_decl *p)
{
	while (p) {
		su_policy_decl *next = p->next;
		free(p->channel);
		free(p);
		p = next;
	}
}

void su_file_free(su_file *f)
{
	if (!f)
		return;
	free(f->ruleset_name);
	free(f->schema);
	su_field_decl_free(f->fields);
	su_method_decl_free(f->methods);
	su_let_decl_free(f->lets);
	su_rule_decl_free(f->rules);
	su_policy_decl_free(f->policies);
	free(f->comments);
	free(f);
}

void su_field_decl_free(su_field_decl *f)
{
	while (f) {
		su_field_decl *next = f->next;
		free(f->path);
		su_node_free(f->items);
		free(f);
		f = next;
	}
}

const char *su_node_kind_name(su_node_kind k)
{
	static const char *const names[] = {
#define X(K, NAME) NAME,
		SU_NODE_KINDS(X)
#undef X
	};
	return names[k];
}

const char *su_cmp_text(su_cmp c)
{
	static const char *const t[] = { "==", "!=", "<", "<=", ">", ">=" };
	return t[c];
}

su_node *su_node_clone(const su_node *n)
{
	su_node *c, **tail;

	if (!n)
		return NULL;
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	*c = *n;
	c->a = c->b = c->next = NULL;
	c->text = NULL;
	if (n->text && !(c->text = strdup(n->text)))
		goto fail;
	if (n->b && !(c->b = su_node_clone(n->b)))
		goto fail;
	/* `a` heads a sibling list for sets and calls. */
	tail = &c->a;
	for (const su_node *k = n->a; k; k = k->next) {
		if (!(*tail = su_node_clone(k)))
			goto fail;
		tail = &(*tail)->next;
	}
	return c;
fail:
	su_node_free(c);
	return NULL;
}

su_cmp su_cmp_flip(su_cmp c)
{
	switch (c) {
	case SU_CMP_LT: return SU_CMP_GT;
	case SU_CMP_LE: return SU_CMP_GE;
	case SU_CMP_GT: return SU_CMP_LT;
	case SU_CMP_GE: return SU_CMP_LE;
	default: return c;
	}
}
