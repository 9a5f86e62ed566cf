/* cmd_replay.c: `stepup replay`: what a candidate ruleset would have
 * decided on the traffic of a replay-safe decision log
 * (decision_log.replay_safe in stepupd; docs/change-control.md).
 *
 * Each decision line carries the facts its ruleset read ("facts", a
 * request without its secrets) and what was kept of its contacts
 * ("reduced"); the revision record of its revision (written before its
 * first decision, and again in each rotated file) says what the log keeps
 * for it. A request is rebuilt from them and decided by the candidate,
 * then compared with the decision the log records, the way `stepup diff`
 * compares (report.h). A decision is not replayed exactly when the
 * candidate reads something the log did not keep for it: a secret, a
 * field the serving ruleset did not read, a code it did not name, a
 * contact beyond the suffix or hash kept. Those are counted, by field. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

#define REPLAY_USAGE                                                                                   \
	"usage: stepup replay --candidate NEW [--config SETTINGS] [--plugins CONFIG] [--allow-empty]\n" \
	"                     [--json] [--examples N] DECISION_LOG...\n"

/* What the candidate reads of one field. */
typedef struct cfield {
	char *path;
	char *source;             /* derived fields: the field derived from */
	int derive;               /* 0, 'b' (bin), 'l' (last4): always derived */
	int email, list, request_id;
	stepup_field_use *uses;
	size_t nuses;
	char **codes;             /* list of code: the codes it names */
	size_t ncodes;
} cfield;

typedef struct replay {
	stepup_engine *e;
	cfield *f;
	size_t nf;
	json_t *records;          /* revision -> revision record */
	json_t *inexact;          /* path -> decisions not replayed exactly because of it */
	report *rep;
	rep_rules *rules;         /* the candidate's */
	uint64_t lines, decisions, not_exact, no_facts, no_record, bad_lines, gap_lost, records_seen;
	stepup_request *r;
	stepup_decision *d;
	const char **names;
	int *outs;
	size_t maxrules;
} replay;

static int outcome_of(const char *s)
{
	for (int o = 0; o < REP_NOUTCOMES; o++)
		if (s && strcmp(s, rep_outcome_name(o)) == 0)
			return o;
	return -1;
}

static int method_of(const char *s)
{
	for (int m = 0; m < STEPUP_METHOD_COUNT; m++)
		if (s && strcmp(s, stepup_method_name((stepup_method)m)) == 0)
			return m;
	return -1;
}

static int analyse(replay *p)
{
	const stepup_ruleset *rs = stepup_engine_ruleset(p->e);
	p->nf = stepup_ruleset_field_count(rs);
	p->f = calloc(p->nf + 1, sizeof(*p->f));
	if (!p->f)
		return -1;
	for (size_t i = 0; i < p->nf; i++) {
		stepup_field_info info;
		cfield *c = &p->f[i];
		if (stepup_ruleset_field(rs, i, &info) != STEPUP_OK || !(c->path = strdup(info.path)))
			return -1;
		c->email = strcmp(info.format, "email") == 0 || strcmp(info.role, "contact OTP_EMAIL") == 0;
		c->list = strcmp(info.type, "list of code") == 0;
		c->request_id = strcmp(info.role, "request_id") == 0;
		if (info.derived[0]) {
			const char *open = strchr(info.derived, '(');
			c->derive = info.derived[0] == 'b' ? 'b' : 'l';
			if (open && !(c->source = strndup(open + 1, strlen(open + 1) - 1)))
				return -1;
		}
		c->nuses = stepup_ruleset_field_uses(rs, i, NULL, 0);
		if (c->nuses) {
			c->uses = calloc(c->nuses, sizeof(*c->uses));
			if (!c->uses)
				return -1;
			stepup_ruleset_field_uses(rs, i, c->uses, c->nuses);
		}
		for (const char *code; c->list && (code = stepup_ruleset_field_code(rs, i, c->ncodes));) {
			char **v = realloc(c->codes, (c->ncodes + 1) * sizeof(*v));
			if (!v || !(v[c->ncodes] = strdup(code)))
				return -1;
			c->codes = v;
			c->ncodes++;
		}
	}
	return 0;
}

/* The member at a dotted path (NULL when absent); with create, the
 * objects on the way are made and the leaf's parent is returned in
 * *parent with the leaf's key in *leaf. */
static json_t *at_path(json_t *root, const char *path, int create, json_t **parent, const char **leaf)
{
	json_t *o = root;
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		if (!dot) {
			if (parent)
				*parent = o;
			if (leaf)
				*leaf = p;
			return json_object_get(o, p);
		}
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		json_t *n = json_object_get(o, key);
		if (!json_is_object(n)) {
			if (!create)
				return NULL;
			n = json_object();
			json_object_set_new(o, key, n);
		}
		o = n;
		p = dot + 1;
	}
}

static void set_path(json_t *root, const char *path, json_t *v)
{
	json_t *parent;
	const char *leaf;
	at_path(root, path, 1, &parent, &leaf);
	json_object_set_new(parent, leaf, v);
}

/* A stand-in for a contact of which only its presence, a suffix and a
 * hash were kept: it ends with the suffix, and two stand-ins are equal
 * when their hashes are. */
static json_t *stand_in(const cfield *c, json_t *red)
{
	const char *suffix = json_string_value(json_object_get(red, "suffix"));
	const char *hash = json_string_value(json_object_get(red, "hash"));
	char buf[320];
	if (!suffix)
		suffix = "";
	if (c->email) {
		char local[40];
		snprintf(local, sizeof(local), "%s%.16s", hash ? "h" : "replay", hash ? hash : "");
		if (suffix[0] == '@')
			snprintf(buf, sizeof(buf), "%s%s", local, suffix);
		else if (suffix[0])
			snprintf(buf, sizeof(buf), "%s@d%s", local, suffix);
		else
			snprintf(buf, sizeof(buf), "%s@replay.invalid", local);
	} else {
		char fill[11] = "1000000000";
		for (int i = 0; hash && i < 10 && hash[i]; i++)
			fill[i] = (char)('0' + (hash[i] % 10));
		fill[0] = fill[0] == '0' ? '1' : fill[0];
		snprintf(buf, sizeof(buf), "+%s%.4s", fill, suffix);
	}
	return json_string(buf);
}

static void not_exact(replay *p, const char *path, int *flagged)
{
	json_t *n = json_object_get(p->inexact, path);
	json_object_set_new(p->inexact, path, json_integer((n ? json_integer_value(n) : 0) + 1));
	*flagged = 1;
}

/* Whether the candidate's reading of field c can be answered from what
 * the log kept for this decision (req is the rebuilt request). */
static void check_field(replay *p, const cfield *c, json_t *plan, json_t *req, json_t *reduced, int *flagged)
{
	const char *path = c->path;
	if (!c->nuses || c->request_id)
		return;
	if (cli_json_has(json_object_get(plan, "omitted"), path)) {
		not_exact(p, path, flagged);  /* a secret: never kept */
		return;
	}
	if (cli_json_has(json_object_get(plan, "kept"), path)) {
		json_t *kept = json_object_get(json_object_get(plan, "codes"), path);
		if (c->list && at_path(req, path, 0, NULL, NULL))
			for (size_t k = 0; k < c->ncodes; k++)
				if (!cli_json_has(kept, c->codes[k])) {
					not_exact(p, path, flagged);  /* a code the log's ruleset did not name */
					return;
				}
		return;
	}
	json_t *how = json_object_get(json_object_get(plan, "contacts"), path);
	if (!how) {
		not_exact(p, path, flagged);  /* not kept: the serving ruleset did not read it */
		return;
	}
	json_t *red = json_object_get(reduced, path);
	if (!red)
		return;  /* absent, and presence is always kept */
	const char *suffix = json_string_value(json_object_get(red, "suffix"));
	size_t kept = suffix ? strlen(suffix) : 0;
	for (size_t u = 0; u < c->nuses; u++) {
		const stepup_field_use *use = &c->uses[u];
		if (use->how == STEPUP_READS_PRESENCE)
			continue;
		if (use->how == STEPUP_READS_SUFFIX) {
			size_t need = use->length;
			if (use->other >= 0 && (size_t)use->other < p->nf) {
				json_t *o = at_path(req, p->f[use->other].path, 0, NULL, NULL);
				need = json_is_string(o) ? strlen(json_string_value(o)) : 0;
			}
			if (need <= kept)
				continue;
		} else if (use->how == STEPUP_READS_EQUALITY && json_object_get(red, "hash") && use->other >= 0 &&
		           (size_t)use->other < p->nf) {
			const char *op = p->f[use->other].path;
			json_t *ored = json_object_get(reduced, op);
			if (json_object_get(ored, "hash") || (!ored && !at_path(req, op, 0, NULL, NULL)))
				continue;
		}
		not_exact(p, path, flagged);
		return;
	}
}

/* The request the facts describe, for the candidate. */
static json_t *rebuild(replay *p, json_t *line, json_t *facts, json_t *reduced)
{
	json_t *req = json_deep_copy(facts);
	if (!req)
		return NULL;
	for (size_t i = 0; i < p->nf; i++) {
		const cfield *c = &p->f[i];
		if (c->request_id) {
			set_path(req, c->path, json_incref(json_object_get(line, "request_id")));
			continue;
		}
		json_t *red = json_object_get(reduced, c->path);
		if (red)
			set_path(req, c->path, stand_in(c, red));
	}
	/* Fields always derived from another (card.bin from card.pan) are
	 * computed by the decoder, never read: give it a stand-in source that
	 * derives the same value. */
	for (size_t i = 0; i < p->nf; i++) {
		const cfield *c = &p->f[i];
		json_t *v = c->derive ? at_path(req, c->path, 0, NULL, NULL) : NULL;
		if (!json_is_string(v) || !c->source)
			continue;
		const char *val = json_string_value(v);
		json_t *src = at_path(req, c->source, 0, NULL, NULL);
		char buf[40];
		snprintf(buf, sizeof(buf), "%s", json_is_string(src) ? json_string_value(src) : "0000000000000000");
		size_t len = strlen(buf), vl = strlen(val);
		if (c->derive == 'b') {
			/* bin() is 8 digits of a number of 16 or more, else 6. */
			size_t want = vl >= 8 ? 16 : 15;
			while (len < want)
				buf[len++] = '0';
			buf[len] = '\0';
			if (vl <= len)
				memcpy(buf, val, vl);
		} else if (vl <= len) {
			memcpy(buf + len - vl, val, vl);
		}
		set_path(req, c->source, json_string(buf));
	}
	return req;
}

static void old_side(replay *p, json_t *line, json_t *rec, rep_side *s)
{
	json_t *methods = json_object_get(line, "methods"), *rules = json_object_get(line, "rules"), *v;
	json_t *effects = json_object_get(rec, "rules");
	size_t i;
	memset(s, 0, sizeof(*s));
	s->outcome = outcome_of(json_string_value(json_object_get(line, "decision")));
	json_array_foreach(methods, i, v) {
		int m = method_of(json_string_value(v));
		if (m >= 0 && s->nmethods < STEPUP_METHOD_COUNT)
			s->methods[s->nmethods++] = (uint8_t)m;
	}
	const char *ln = json_string_value(json_object_get(line, "line"));
	s->line = ln && strcmp(ln, "FRAUD") == 0 ? STEPUP_LINE_FRAUD : STEPUP_LINE_STANDARD;
	s->rules = p->names;
	s->rule_effects = effects ? p->outs : NULL;
	json_array_foreach(rules, i, v) {
		if (!json_is_string(v) || s->nrules >= p->maxrules)
			continue;
		p->names[s->nrules] = json_string_value(v);
		p->outs[s->nrules] = rep_effect_parse(json_string_value(json_object_get(effects, json_string_value(v))));
		s->nrules++;
	}
}

static int grow_names(replay *p, size_t n)
{
	if (n <= p->maxrules)
		return 0;
	const char **names = realloc(p->names, n * sizeof(*names));
	if (names)
		p->names = names;
	int *outs = realloc(p->outs, n * sizeof(*outs));
	if (outs)
		p->outs = outs;
	if (!names || !outs)
		return -1;
	p->maxrules = n;
	return 0;
}

static int one_line(replay *p, const char *text, size_t len)
{
	json_t *line = json_loadb(text, len, 0, NULL);
	int rc = 0;
	p->lines++;
	if (!json_is_object(line)) {
		p->bad_lines++;
		json_decref(line);
		return 0;
	}
	json_t *rec = json_object_get(line, "revision_record"), *gap = json_object_get(line, "gap");
	if (rec) {
		const char *rev = json_string_value(json_object_get(rec, "revision"));
		if (rev)
			json_object_set(p->records, rev, rec);
		p->records_seen++;
		goto out;
	}
	if (gap) {
		p->gap_lost += (uint64_t)json_integer_value(json_object_get(gap, "lost"));
		goto out;
	}
	p->decisions++;
	json_t *facts = json_object_get(line, "facts");
	if (!json_is_object(facts)) {
		p->no_facts++;
		goto out;
	}
	rec = json_object_get(p->records, json_string_value(json_object_get(line, "revision")));
	json_t *plan = json_object_get(rec, "facts");
	if (!json_is_object(plan)) {
		p->no_record++;
		goto out;
	}
	json_t *reduced = json_object_get(line, "reduced");
	json_t *req = rebuild(p, line, facts, reduced);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!body) {
		json_decref(req);
		rc = -1;
		goto out;
	}
	int flagged = 0;
	for (size_t i = 0; i < p->nf; i++)
		check_field(p, &p->f[i], plan, req, reduced, &flagged);
	p->not_exact += (uint64_t)flagged;
	char err[256];
	rep_side a, b;
	size_t need = json_array_size(json_object_get(line, "rules")) +
	              stepup_ruleset_rule_count(stepup_engine_ruleset(p->e)) + 1;
	if (grow_names(p, need) < 0) {
		free(body);
		json_decref(req);
		rc = -1;
		goto out;
	}
	int drc = stepup_request_parse(p->r, p->e, body, strlen(body), err, sizeof(err));
	if (drc == STEPUP_OK)
		drc = stepup_decide(p->e, p->r, p->d, 0);
	old_side(p, line, rec, &a);
	size_t used = a.nrules;
	if (drc == STEPUP_OK)
		rep_side_of(&b, p->d, p->rules, p->names + used, p->outs + used);
	else
		rep_side_refused(&b);
	if (rep_add(p->rep, &a, &b, json_string_value(json_object_get(line, "request_id"))) < 0)
		rc = -1;
	explicit_bzero(body, strlen(body));
	free(body);
	json_decref(req);
out:
	json_decref(line);
	return rc;
}

static void replay_free(replay *p)
{
	for (size_t i = 0; p->f && i < p->nf; i++) {
		free(p->f[i].path);
		free(p->f[i].source);
		free(p->f[i].uses);
		for (size_t k = 0; k < p->f[i].ncodes; k++)
			free(p->f[i].codes[k]);
		free(p->f[i].codes);
	}
	free(p->f);
	free(p->names);
	free(p->outs);
	json_decref(p->records);
	json_decref(p->inexact);
	rep_free(p->rep);
	rep_rules_free(p->rules);
	stepup_request_free(p->r);
	stepup_decision_free(p->d);
	stepup_engine_free(p->e);
}

int cmd_replay(int argc, char **argv)
{
	change_opts o;
	int status = 0;
	replay p = { 0 };

	if (cli_change_opts(argc, argv, "replay", REPLAY_USAGE, &o) < 0)
		return 2;
	if (!o.candidate.n || !o.nfiles || o.rules.n) {
		fprintf(stderr, REPLAY_USAGE);
		change_opts_free(&o);
		return 2;
	}
	const char *config = o.config, *plugins = o.plugins;
	unsigned flags = o.flags, examples = o.examples;
	int json = o.json;
	p.e = cli_engine(&o.candidate, config, plugins, flags);
	cli_rules_free(&o.candidate);
	if (!p.e) {
		free(o.files);
		return 2;
	}
	p.records = json_object();
	p.inexact = json_object();
	p.rep = rep_new(examples);
	p.r = stepup_request_new();
	p.d = stepup_decision_new();
	p.rules = rep_rules_new(stepup_engine_ruleset(p.e));
	if (!p.records || !p.inexact || !p.rep || !p.r || !p.d || !p.rules || analyse(&p) < 0) {
		fprintf(stderr, "stepup replay: out of memory\n");
		replay_free(&p);
		free(o.files);
		return 2;
	}
	/* The logs in the order given (oldest first, as rotated files are
	 * named): a revision record comes before the decisions it covers. */
	for (int f = 0; f < o.nfiles && !status; f++) {
		const char *path = o.files[f];
		FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
		char *buf = NULL;
		size_t cap = 0;
		long n;
		if (!in) {
			fprintf(stderr, "stepup replay: cannot open %s\n", path);
			status = 2;
			break;
		}
		while ((n = cli_getline(&buf, &cap, in)) >= 0)
			if (n && one_line(&p, buf, (size_t)n) < 0) {
				fprintf(stderr, "stepup replay: out of memory\n");
				status = 2;
				break;
			}
		if (ferror(in)) {
			fprintf(stderr, "stepup replay: %s: read error\n", path);
			status = 2;
		}
		if (in != stdin)
			fclose(in);
		free(buf);
	}
	if (!status) {
		char cj[512];
		cli_ruleset_json(p.e, cj, sizeof(cj));
		json_t *extra = json_pack("{s:I,s:I,s:I,s:O,s:{s:I,s:I,s:I,s:I},s:I}", "decisions",
		                          (json_int_t)p.decisions, "replayed", (json_int_t)rep_requests(p.rep),
		                          "not_exact", (json_int_t)p.not_exact, "not_exact_by_field", p.inexact,
		                          "skipped", "no_facts", (json_int_t)p.no_facts, "no_revision_record",
		                          (json_int_t)p.no_record, "unreadable_lines", (json_int_t)p.bad_lines,
		                          "lost_in_gaps", (json_int_t)p.gap_lost, "revision_records",
		                          (json_int_t)p.records_seen);
		json_t *cjs = json_loads(cj, 0, NULL);
		if (extra && cjs)
			json_object_set_new(extra, "candidate", cjs);
		char *ex = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
		if (json) {
			rep_print_json(p.rep, stdout, ex);
		} else {
			const stepup_ruleset *rs = stepup_engine_ruleset(p.e);
			char title[400];
			snprintf(title, sizeof(title), "stepup replay: candidate %s %s on %llu logged decisions",
			         stepup_ruleset_name(rs), stepup_ruleset_revision(rs), (unsigned long long)p.decisions);
			rep_print_text(p.rep, stdout, title);
			printf("\n%llu replayed decisions could not be replayed exactly (the candidate reads what "
			       "the log does not keep)%s\n", (unsigned long long)p.not_exact, p.not_exact ? ":" : "");
			const char *k;
			json_t *v;
			json_object_foreach(p.inexact, k, v)
				printf("  %8lld  %s\n", (long long)json_integer_value(v), k);
			if (p.no_facts || p.no_record)
				printf("not replayed: %llu decisions without facts (not a replay-safe log), %llu without "
				       "a revision record\n", (unsigned long long)p.no_facts, (unsigned long long)p.no_record);
			if (p.gap_lost)
				printf("%llu decisions were lost from the log (gap lines)\n", (unsigned long long)p.gap_lost);
			if (p.bad_lines)
				printf("%llu lines were not JSON objects\n", (unsigned long long)p.bad_lines);
		}
		free(ex);
		json_decref(extra);
	}
	replay_free(&p);
	free(o.files);
	if (fflush(stdout) != 0)
		status = 2;
	return status;
}
