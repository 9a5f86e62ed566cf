/* report.c: transitions, causes and the report over many requests
 * (report.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static const char *const outcome_names[REP_NOUTCOMES] = { "GREEN", "YELLOW", "RED", "REFUSED" };
static const char *const kind_names[REP_NKINDS] = { "outcome", "methods", "line", "reasons" };
static const char *const cause_names[REP_NCAUSES] = { "fires only in the candidate", "no longer fires",
	"fires with another outcome, only or line" };
static const char *const cause_keys[REP_NCAUSES] = { "added", "removed", "effect_changed" };

#define ALL_METHODS ((1u << STEPUP_METHOD_COUNT) - 1)

int rep_effect(const stepup_rule_info *ri)
{
	unsigned allowed = ri->outcome == STEPUP_YELLOW ? ri->methods & ALL_METHODS : ALL_METHODS;
	return (int)ri->outcome | (int)allowed << 2 | (ri->fraud != 0) << 6;
}

void rep_effect_text(int effect, char *buf, size_t size)
{
	unsigned allowed = (unsigned)effect >> 2 & ALL_METHODS;
	size_t n = (size_t)snprintf(buf, size, "%s", rep_outcome_name(effect & 3));
	if (allowed != ALL_METHODS) {
		n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, " only");
		for (int m = 0, k = 0; m < STEPUP_METHOD_COUNT; m++)
			if (allowed >> m & 1)
				n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s%s",
				                      k++ ? "," : " ", stepup_method_name((stepup_method)m));
	}
	if (effect >> 6 & 1)
		snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, " line FRAUD");
}

int rep_effect_parse(const char *text)
{
	char word[32];
	int o, n = 0;
	unsigned allowed = ALL_METHODS, fraud = 0;
	if (!text || sscanf(text, "%31s%n", word, &n) != 1)
		return -1;
	for (o = 0; o < 3 && strcmp(word, rep_outcome_name(o)) != 0; o++)
		;
	if (o == 3)
		return -1;
	for (text += n; sscanf(text, "%31s%n", word, &n) == 1; text += n) {
		if (strcmp(word, "line") == 0) {
			text += n;
			if (sscanf(text, "%31s%n", word, &n) != 1)
				return -1;
			fraud = strcmp(word, "FRAUD") == 0;
		} else if (strcmp(word, "only") == 0) {
			char list[128];
			text += n;
			if (sscanf(text, "%127s%n", list, &n) != 1)
				return -1;
			allowed = 0;
			for (char *save, *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save))
				for (int k = 0; k < STEPUP_METHOD_COUNT; k++)
					if (strcmp(m, stepup_method_name((stepup_method)k)) == 0)
						allowed |= 1u << k;
		} else {
			return -1;
		}
	}
	return o | (int)allowed << 2 | (int)fraud << 6;
}

/* ---- rules by name ---------------------------------------------------------- */

struct rep_rules {
	size_t cap;  /* power of two, at least twice the rules */
	const char **name;
	int *effect;
};

static uint64_t name_hash(const char *s, int salt)
{
	uint64_t h = 1469598103934665603u ^ (uint64_t)salt;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

rep_rules *rep_rules_new(const stepup_ruleset *rs)
{
	size_t n = stepup_ruleset_rule_count(rs), cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	rep_rules *t = calloc(1, sizeof(*t));
	if (!t || !(t->name = calloc(cap, sizeof(*t->name))) || !(t->effect = calloc(cap, sizeof(int)))) {
		rep_rules_free(t);
		return NULL;
	}
	t->cap = cap;
	for (size_t i = 0; i < n; i++) {
		stepup_rule_info ri;
		if (stepup_ruleset_rule(rs, i, &ri) != STEPUP_OK)
			continue;
		size_t k = name_hash(ri.name, 0) & (cap - 1);
		while (t->name[k] && strcmp(t->name[k], ri.name) != 0)
			k = (k + 1) & (cap - 1);
		t->name[k] = ri.name;  /* borrowed: the ruleset outlives t */
		t->effect[k] = rep_effect(&ri);
	}
	return t;
}

void rep_rules_free(rep_rules *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->effect);
	free(t);
}

int rep_rules_effect(const rep_rules *t, const char *name)
{
	if (!t || !name)
		return -1;
	for (size_t k = name_hash(name, 0) & (t->cap - 1); t->name[k]; k = (k + 1) & (t->cap - 1))
		if (strcmp(t->name[k], name) == 0)
			return t->effect[k];
	return -1;
}

void rep_side_of(rep_side *s, const stepup_decision *d, const rep_rules *t, const char **names, int *effects)
{
	memset(s, 0, sizeof(*s));
	s->outcome = (int)stepup_decision_outcome(d);
	s->nmethods = (unsigned)stepup_decision_method_count(d);
	for (unsigned i = 0; i < s->nmethods && i < STEPUP_METHOD_COUNT; i++)
		s->methods[i] = (uint8_t)stepup_decision_method(d, i);
	s->line = (int)stepup_decision_cs_line(d);
	s->nrules = stepup_decision_fired_count(d);
	for (size_t i = 0; i < s->nrules; i++) {
		stepup_outcome o;
		names[i] = stepup_decision_fired_rule(d, i, &o);
		int e = rep_rules_effect(t, names[i]);
		effects[i] = e >= 0 ? e : (int)o | (int)ALL_METHODS << 2;
	}
	s->rules = names;
	s->rule_effects = effects;
}

void rep_side_refused(rep_side *s)
{
	memset(s, 0, sizeof(*s));
	s->outcome = REP_REFUSED;
}

static int offers_cs(const rep_side *s)
{
	for (unsigned i = 0; i < s->nmethods; i++)
		if (s->methods[i] == STEPUP_CUSTOMER_SERVICE)
			return 1;
	return 0;
}

static int trans(int kind, int from, int to)
{
	return (kind * REP_NOUTCOMES + from) * REP_NOUTCOMES + to;
}

int rep_transition(const rep_side *a, const rep_side *b)
{
	unsigned o = (unsigned)a->outcome;
	if (o >= REP_NOUTCOMES || (unsigned)b->outcome >= REP_NOUTCOMES)
		return -1;
	if (a->outcome != b->outcome)
		return trans(REP_OUTCOME, a->outcome, b->outcome);
	if (a->outcome == REP_REFUSED)
		return -1;
	if (a->nmethods != b->nmethods || memcmp(a->methods, b->methods, a->nmethods) != 0)
		return trans(REP_METHODS, a->outcome, a->outcome);
	/* The line shows in a response only with customer service offered. */
	if (offers_cs(a) && a->line != b->line)
		return trans(REP_LINE, a->outcome, a->outcome);
	if (a->nrules != b->nrules)
		return trans(REP_REASONS, a->outcome, a->outcome);
	for (size_t i = 0; i < a->nrules; i++)
		if (strcmp(a->rules[i], b->rules[i]) != 0)
			return trans(REP_REASONS, a->outcome, a->outcome);
	return -1;
}

int rep_trans_kind(int t)
{
	return t / (REP_NOUTCOMES * REP_NOUTCOMES);
}

int rep_trans_from(int t)
{
	return t / REP_NOUTCOMES % REP_NOUTCOMES;
}

int rep_trans_to(int t)
{
	return t % REP_NOUTCOMES;
}

const char *rep_outcome_name(int o)
{
	return (unsigned)o < REP_NOUTCOMES ? outcome_names[o] : "?";
}

const char *rep_kind_name(int kind)
{
	return (unsigned)kind < REP_NKINDS ? kind_names[kind] : "?";
}

const char *rep_cause_name(int cause)
{
	return (unsigned)cause < REP_NCAUSES ? cause_names[cause] : "?";
}

const char *rep_cause_key(int cause)
{
	return (unsigned)cause < REP_NCAUSES ? cause_keys[cause] : "?";
}

void rep_trans_label(int t, char *buf, size_t size)
{
	int kind = rep_trans_kind(t);
	if (kind == REP_OUTCOME)
		snprintf(buf, size, "%s\u2192%s", rep_outcome_name(rep_trans_from(t)), rep_outcome_name(rep_trans_to(t)));
	else
		snprintf(buf, size, "%s: %s changed", rep_outcome_name(rep_trans_from(t)), rep_kind_name(kind));
}

static long find(const rep_side *s, const char *name)
{
	for (size_t i = 0; i < s->nrules; i++)
		if (strcmp(s->rules[i], name) == 0)
			return (long)i;
	return -1;
}

size_t rep_causes(const rep_side *a, const rep_side *b, void (*fn)(void *ctx, const char *rule, int cause),
                  void *ctx)
{
	size_t n = 0;
	for (size_t i = 0; i < b->nrules; i++) {
		long k = find(a, b->rules[i]);
		if (k < 0) {
			fn(ctx, b->rules[i], REP_ADDED);
			n++;
		} else if (a->rule_effects && b->rule_effects && a->rule_effects[k] >= 0 && b->rule_effects[i] >= 0 &&
		           a->rule_effects[k] != b->rule_effects[i]) {
			fn(ctx, b->rules[i], REP_CHANGED);
			n++;
		}
	}
	for (size_t i = 0; i < a->nrules; i++)
		if (find(b, a->rules[i]) < 0) {
			fn(ctx, a->rules[i], REP_REMOVED);
			n++;
		}
	return n;
}

void rep_side_text(const rep_side *s, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s", rep_outcome_name(s->outcome));
#define ROOM (n < size ? size - n : 0)
#define AT (buf + (n < size ? n : size))
	if (s->outcome == STEPUP_YELLOW) {
		n += (size_t)snprintf(AT, ROOM, " [");
		for (unsigned i = 0; i < s->nmethods; i++)
			n += (size_t)snprintf(AT, ROOM, "%s%s", i ? "," : "",
			                      stepup_method_name((stepup_method)s->methods[i]));
		n += (size_t)snprintf(AT, ROOM, "]");
		if (offers_cs(s))
			n += (size_t)snprintf(AT, ROOM, " line %s", stepup_cs_line_name((stepup_cs_line)s->line));
	}
	if (s->outcome != REP_REFUSED) {
		n += (size_t)snprintf(AT, ROOM, " rules ");
		for (size_t i = 0; i < s->nrules; i++)
			n += (size_t)snprintf(AT, ROOM, "%s%s", i ? "," : "", s->rules[i]);
		if (!s->nrules)
			n += (size_t)snprintf(AT, ROOM, "(none)");
	}
#undef ROOM
#undef AT
}

/* ---- the report ------------------------------------------------------------ */

typedef struct example {
	char *id, *a, *b, *causes;
} example;

typedef struct hit {
	char *rule;      /* NULL: free slot */
	int cause;
	uint64_t n;
} hit;

struct report {
	unsigned max_examples;
	uint64_t requests, changed, no_rule;
	uint64_t count[REP_NTRANS];
	example *ex[REP_NTRANS];
	unsigned nex[REP_NTRANS];
	hit *hits;
	size_t nhits, caphits;  /* open addressing, power of two */
	int oom;
};

report *rep_new(unsigned max_examples)
{
	report *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->max_examples = max_examples;
	r->caphits = 64;
	r->hits = calloc(r->caphits, sizeof(hit));
	if (!r->hits) {
		free(r);
		return NULL;
	}
	return r;
}

void rep_free(report *r)
{
	if (!r)
		return;
	for (int t = 0; t < REP_NTRANS; t++) {
		for (unsigned i = 0; i < r->nex[t]; i++) {
			free(r->ex[t][i].id);
			free(r->ex[t][i].a);
			free(r->ex[t][i].b);
			free(r->ex[t][i].causes);
		}
		free(r->ex[t]);
	}
	for (size_t i = 0; i < r->caphits; i++)
		free(r->hits[i].rule);
	free(r->hits);
	free(r);
}

static hit *slot_of(hit *tab, size_t cap, const char *rule, int cause)
{
	for (size_t i = name_hash(rule, cause) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!tab[i].rule || (tab[i].cause == cause && strcmp(tab[i].rule, rule) == 0))
			return &tab[i];
}

static int grow(report *r)
{
	size_t cap = r->caphits * 2;
	hit *tab = calloc(cap, sizeof(hit));
	if (!tab)
		return -1;
	for (size_t i = 0; i < r->caphits; i++)
		if (r->hits[i].rule)
			*slot_of(tab, cap, r->hits[i].rule, r->hits[i].cause) = r->hits[i];
	free(r->hits);
	r->hits = tab;
	r->caphits = cap;
	return 0;
}

struct add_ctx {
	report *r;
	char *list;   /* "+rule,-rule,~rule" for an example */
	size_t len, size;
};

static void count_cause(void *vctx, const char *rule, int cause)
{
	struct add_ctx *c = vctx;
	report *r = c->r;
	if (c->list && c->len < c->size)
		c->len += (size_t)snprintf(c->list + c->len, c->size - c->len, "%s%c%s", c->len ? "," : "",
		                           "+-~"[cause], rule);
	if ((r->nhits + 1) * 2 > r->caphits && grow(r) < 0) {
		r->oom = 1;
		return;
	}
	hit *h = slot_of(r->hits, r->caphits, rule, cause);
	if (!h->rule) {
		if (!(h->rule = strdup(rule))) {
			r->oom = 1;
			return;
		}
		h->cause = cause;
		r->nhits++;
	}
	h->n++;
}

int rep_add(report *r, const rep_side *a, const rep_side *b, const char *id)
{
	r->requests++;
	int t = rep_transition(a, b);
	if (t < 0)
		return 0;
	r->changed++;
	r->count[t]++;
	char causes[512] = "";
	struct add_ctx c = { r, NULL, 0, 0 };
	int keep = r->nex[t] < r->max_examples;
	if (keep) {
		c.list = causes;
		c.size = sizeof(causes);
	}
	if (!rep_causes(a, b, count_cause, &c))
		r->no_rule++;
	if (keep) {
		char ta[1024], tb[1024];
		example *v = realloc(r->ex[t], (r->nex[t] + 1) * sizeof(*v));
		if (!v)
			return -1;
		r->ex[t] = v;
		rep_side_text(a, ta, sizeof(ta));
		rep_side_text(b, tb, sizeof(tb));
		example *e = &v[r->nex[t]++];
		e->id = strdup(id ? id : "");
		e->a = strdup(ta);
		e->b = strdup(tb);
		e->causes = strdup(causes);
		if (!e->id || !e->a || !e->b || !e->causes)
			r->oom = 1;
	}
	return r->oom ? -1 : 0;
}

uint64_t rep_requests(const report *r)
{
	return r->requests;
}

uint64_t rep_changed(const report *r)
{
	return r->changed;
}

/* Transitions that happened, most frequent first. */
static size_t sorted_transitions(const report *r, int *order)
{
	size_t n = 0;
	for (int t = 0; t < REP_NTRANS; t++)
		if (r->count[t])
			order[n++] = t;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && r->count[order[j]] > r->count[order[j - 1]]; j--) {
			int x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	return n;
}

static int by_count(const void *pa, const void *pb)
{
	const hit *a = *(const hit *const *)pa, *b = *(const hit *const *)pb;
	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	int c = strcmp(a->rule, b->rule);
	return c ? c : a->cause - b->cause;
}

static const hit **sorted_hits(const report *r)
{
	const hit **v = malloc((r->nhits + 1) * sizeof(*v));
	size_t n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < r->caphits; i++)
		if (r->hits[i].rule)
			v[n++] = &r->hits[i];
	qsort(v, n, sizeof(*v), by_count);
	return v;
}

void rep_print_text(const report *r, FILE *f, const char *title)
{
	int order[REP_NTRANS];
	size_t nt = sorted_transitions(r, order);
	char label[64];

	if (title)
		fprintf(f, "%s\n", title);
	fprintf(f, "%llu requests, %llu decisions change (%.2f%%)\n", (unsigned long long)r->requests,
	        (unsigned long long)r->changed, r->requests ? 100.0 * (double)r->changed / (double)r->requests : 0.0);
	if (!r->changed)
		return;
	fprintf(f, "\nby transition:\n");
	for (size_t i = 0; i < nt; i++) {
		rep_trans_label(order[i], label, sizeof(label));
		fprintf(f, "  %8llu  %s\n", (unsigned long long)r->count[order[i]], label);
	}
	fprintf(f, "\nby rule (a changed decision counts under each rule that fires differently):\n");
	const hit **h = sorted_hits(r);
	for (size_t i = 0; h && i < r->nhits; i++)
		fprintf(f, "  %8llu  %-28s %s\n", (unsigned long long)h[i]->n, h[i]->rule, rep_cause_name(h[i]->cause));
	free(h);
	if (r->no_rule)
		fprintf(f, "  %8llu  %-28s %s\n", (unsigned long long)r->no_rule, "(none)",
		        "no rule fires differently: a method condition or the settings");
	fprintf(f, "\nexamples:\n");
	for (size_t i = 0; i < nt; i++) {
		int t = order[i];
		rep_trans_label(t, label, sizeof(label));
		fprintf(f, "  %s\n", label);
		for (unsigned k = 0; k < r->nex[t]; k++) {
			const example *e = &r->ex[t][k];
			fprintf(f, "    %s: %s\n      -> %s%s%s%s\n", e->id[0] ? e->id : "(no request id)", e->a, e->b,
			        e->causes[0] ? " (" : "", e->causes, e->causes[0] ? ")" : "");
		}
	}
}

int rep_print_json(const report *r, FILE *f, const char *extra_json)
{
	int order[REP_NTRANS];
	size_t nt = sorted_transitions(r, order);
	char label[64];
	json_t *root = json_object(), *ts = json_array(), *rules = json_array();
	int rc = -1;

	if (!root || !ts || !rules)
		goto out;
	json_object_set_new(root, "requests", json_integer((json_int_t)r->requests));
	json_object_set_new(root, "changed", json_integer((json_int_t)r->changed));
	if (extra_json) {
		json_t *x = json_loads(extra_json, 0, NULL);
		if (x)
			json_object_update(root, x);
		json_decref(x);
	}
	for (size_t i = 0; i < nt; i++) {
		int t = order[i];
		json_t *o = json_object(), *exs = json_array();
		rep_trans_label(t, label, sizeof(label));
		json_object_set_new(o, "from", json_string(rep_outcome_name(rep_trans_from(t))));
		json_object_set_new(o, "to", json_string(rep_outcome_name(rep_trans_to(t))));
		json_object_set_new(o, "kind", json_string(rep_kind_name(rep_trans_kind(t))));
		json_object_set_new(o, "label", json_string(label));
		json_object_set_new(o, "count", json_integer((json_int_t)r->count[t]));
		for (unsigned k = 0; k < r->nex[t]; k++) {
			const example *e = &r->ex[t][k];
			json_array_append_new(exs, json_pack("{s:s,s:s,s:s,s:s}", "request_id", e->id, "old", e->a,
			                                     "new", e->b, "rules", e->causes));
		}
		json_object_set_new(o, "examples", exs);
		json_array_append_new(ts, o);
	}
	const hit **h = sorted_hits(r);
	for (size_t i = 0; h && i < r->nhits; i++)
		json_array_append_new(rules, json_pack("{s:s,s:s,s:I}", "rule", h[i]->rule, "change",
		                                       rep_cause_key(h[i]->cause), "count", (json_int_t)h[i]->n));
	free(h);
	json_object_set(root, "transitions", ts);
	json_object_set(root, "rules", rules);
	json_object_set_new(root, "no_rule", json_integer((json_int_t)r->no_rule));
	rc = json_dumpf(root, f, JSON_COMPACT) == 0 ? 0 : -1;
	fputc('\n', f);
out:
	json_decref(ts);
	json_decref(rules);
	json_decref(root);
	return rc;
}
