/* pci_walk.c: see pci_walk.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci_walk.h"

typedef struct walk {
	pci_slot *v;
	size_t n, cap;
} walk;

static pci_slot *add(walk *w, const pci_slot *at)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 32;
		pci_slot *nv = realloc(w->v, w->cap * sizeof(*w->v));
		if (!nv)
			abort(); /* test code */
		w->v = nv;
	}
	w->v[w->n] = *at;
	return &w->v[w->n++];
}

static void step(pci_slot *s, const char *key, size_t index)
{
	size_t len = strlen(s->path);
	if (key) {
		snprintf(s->key[s->nsteps], sizeof(s->key[0]), "%s", key);
		snprintf(s->path + len, sizeof(s->path) - len, "%s%s", len ? "." : "", key);
	} else {
		s->key[s->nsteps][0] = '\0';
		snprintf(s->path + len, sizeof(s->path) - len, "[%zu]", index);
	}
	s->index[s->nsteps++] = index;
}

static void visit(walk *w, const json_t *v, const pci_slot *at, walk *objects)
{
	if (at->nsteps >= PCI_MAX_DEPTH)
		return;
	if (json_is_object(v)) {
		add(objects, at);
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m) {
			pci_slot s = *at;
			step(&s, k, 0);
			visit(w, m, &s, objects);
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			pci_slot s = *at;
			step(&s, NULL, i);
			visit(w, json_array_get(v, i), &s, objects);
		}
	} else {
		pci_slot *s = add(w, at);
		s->kind = PCI_SLOT_LEAF;
		s->type = json_typeof(v);
	}
}

size_t pci_walk(const json_t *doc, pci_slot **out)
{
	walk w = { 0 }, objects = { 0 };
	pci_slot root;
	*out = NULL;
	if (!json_is_object(doc))
		return 0;
	memset(&root, 0, sizeof(root));
	visit(&w, doc, &root, &objects);
	for (size_t i = 0; i < objects.n; i++) {
		pci_slot m = objects.v[i], k = objects.v[i];
		size_t len = strlen(m.path);
		m.kind = PCI_SLOT_MEMBER;
		snprintf(m.path + len, sizeof(m.path) - len, "%s" PCI_UNKNOWN_MEMBER, len ? "." : "");
		add(&w, &m);
		k.kind = PCI_SLOT_KEY;
		snprintf(k.path + len, sizeof(k.path) - len, "%s{key}", len ? "." : "");
		add(&w, &k);
	}
	free(objects.v);
	*out = w.v;
	return w.n;
}

/* doc copied with v (stolen) put at slot: the copy, or NULL. */
static json_t *put(const json_t *doc, const pci_slot *slot, json_t *v, const char *key_name)
{
	json_t *copy = json_deep_copy(doc), *cur = copy;
	size_t last = slot->kind == PCI_SLOT_LEAF ? slot->nsteps - 1 : slot->nsteps;
	for (size_t i = 0; cur && i < last; i++)
		cur = slot->key[i][0] ? json_object_get(cur, slot->key[i]) : json_array_get(cur, slot->index[i]);
	int rc = -1;
	if (cur && slot->kind == PCI_SLOT_LEAF)
		rc = slot->key[last][0] ? json_object_set_new(cur, slot->key[last], v)
		                        : json_array_set_new(cur, slot->index[last], v);
	else if (cur)
		rc = json_object_set_new(cur, key_name, v);
	else
		json_decref(v);
	if (rc != 0) {
		json_decref(copy);
		return NULL;
	}
	return copy;
}

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return s;
}

char *pci_put_string(const json_t *doc, const pci_slot *slot, const char *value)
{
	if (slot->kind == PCI_SLOT_KEY)
		return dump(put(doc, slot, json_string("pci"), value));
	return dump(put(doc, slot, json_string(value), PCI_UNKNOWN_MEMBER));
}

char *pci_put_number(const json_t *doc, const pci_slot *slot, const char *digits)
{
	/* A placeholder string, then the digits in its place: jansson would
	 * turn a 19-digit number into a double. */
	static const char mark[] = "\"pci-number-placeholder\"";
	char *s = pci_put_string(doc, slot, "pci-number-placeholder"), *p;
	if (!s || !(p = strstr(s, mark)))
		return s;
	size_t pre = (size_t)(p - s), dl = strlen(digits), ml = strlen(mark);
	char *out = malloc(strlen(s) - ml + dl + 1);
	if (out) {
		memcpy(out, s, pre);
		memcpy(out + pre, digits, dl);
		strcpy(out + pre + dl, p + ml);
	}
	free(s);
	return out;
}
