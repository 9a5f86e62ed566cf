/* cmd_test.c: `stepup test`, the analysts' rule tests (docs/language.md
 * §12.1 describes the format).
 *
 * A test file is a sequence of JSON objects, usually one per line; blank
 * lines and lines starting with '#' between them are skipped. An object
 * with "name", "request" or "expect" is a case; one with "settings" or
 * "base" sets the file up:
 *   {"settings": "issuer.json"}    the issuer settings of every case of the
 *                                  file (a path from the file's folder, or
 *                                  the settings object itself); before the
 *                                  first case
 *   {"base": {...request...}}      the request later cases change: a case's
 *                                  "request" is merged into it (RFC 7386:
 *                                  a null removes a key); another "base"
 *                                  replaces it, {"base": null} drops it
 *   {"name": "...", "request": {...},
 *    "expect": {"decision": "YELLOW",
 *               "fired": ["phone_mismatch"],        exact set of fired rules
 *               "not_fired": ["missing_csc"],        rules that must not fire
 *               "methods": ["OTP_SMS", "OTP_EMAIL"], exact offer, in order
 *               "line": "FRAUD",                     customer-service line
 *               "error_field": "card.state"}}        refused, naming the field
 *
 * Tests must not pass by checking nothing: an unknown key anywhere, an
 * unknown rule, method, decision, line or field name, an empty "expect"
 * and a test that contradicts itself are errors at the case's file:line
 * (with the closest known name), and the case fails without running. A
 * case that runs reports every expectation it missed, not only the first. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TEST_USAGE \
	"usage: stepup test --rules FILE|DIR|BUNDLE [--rules ...] [--config SETTINGS] [--plugins CONFIG]\n" \
	"                   [--allow-empty] [-v] [--coverage] [--coverage-min PCT] [--format text|junit]\n" \
	"                   TESTS.jsonl...\n"

static const char *const case_keys[] = { "name", "request", "expect" };
static const char *const header_keys[] = { "settings", "base" };
static const char *const all_keys[] = { "name", "request", "expect", "settings", "base" };
static const char *const expect_keys[] = { "decision", "fired", "not_fired", "methods", "line", "error_field" };
static const char *const decisions[] = { "GREEN", "YELLOW", "RED" };
static const char *const method_names[] = { "IN_APP", "OTP_SMS", "OTP_EMAIL", "CUSTOMER_SERVICE" };
static const char *const lines[] = { "STANDARD", "FRAUD" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Messages of one case: problems with the case itself (errors: it does
 * not run) or expectations it missed. */
typedef struct msgs {
	char **v;
	size_t n, cap;
} msgs;

typedef struct tcase {
	struct tfile *file;
	long line;
	char *name;              /* NULL: unnamed */
	json_t *request;         /* the whole request, base merged in */
	json_t *expect;
	msgs errors;             /* the case is malformed */
	msgs missed;             /* expectations not met */
} tcase;

typedef struct tfile {
	const char *path;
	char *dir;               /* its folder, for relative settings */
	char *settings_path;     /* "settings" as a path, resolved */
	char *settings_text;     /* "settings" as an object (compact JSON) */
	stepup_engine *engine;   /* built when it names settings */
	int engine_failed;
	tcase *cases;
	size_t n, cap;
} tfile;

static void add_msg(msgs *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_msg(msgs *m, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc < 0)
		s = NULL;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4;
		char **v = realloc(m->v, cap * sizeof(*v));
		if (!v) {
			free(s);
			return;
		}
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = s ? s : strdup("out of memory");
}

static void msgs_free(msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
}

/* "; did you mean 'x'?" or "" (in a static buffer). */
static const char *hint(const char *word, const char *const *cands, size_t n)
{
	static char buf[160];
	const char *s = word ? stepup_suggest(word, cands, n) : NULL;
	if (!s)
		return "";
	snprintf(buf, sizeof(buf), "; did you mean '%s'?", s);
	return buf;
}

static int one_of(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, v[i]) == 0)
			return 1;
	return 0;
}

/* RFC 7386 JSON merge patch: patch applied to a copy of target. */
static json_t *merge(json_t *target, json_t *patch)
{
	const char *k;
	json_t *v;
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
	if (!out)
		return NULL;
	json_object_foreach(patch, k, v) {
		if (json_is_null(v)) {
			json_object_del(out, k);
			continue;
		}
		json_t *m = merge(json_object_get(out, k), v);
		if (!m || json_object_set_new(out, k, m) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* ---- reading ------------------------------------------------------------- */

static tcase *new_case(tfile *f, long line)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		tcase *v = realloc(f->cases, cap * sizeof(*v));
		if (!v)
			return NULL;
		f->cases = v;
		f->cap = cap;
	}
	tcase *c = &f->cases[f->n++];
	memset(c, 0, sizeof(*c));
	c->file = f;
	c->line = line;
	return c;
}

/* A string array of names from `set`: each must be a string; checked
 * against `known` when given. Returns 0 when the array is well formed. */
static int check_names(msgs *err, json_t *arr, const char *key, const char *what, const char *const *known,
                       size_t nknown)
{
	size_t i;
	json_t *v;
	if (!json_is_array(arr)) {
		add_msg(err, "expect.%s must be an array of %s names", key, what);
		return -1;
	}
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		if (!s) {
			add_msg(err, "expect.%s[%zu] is not a string", key, i);
			continue;
		}
		if (known && !one_of(s, known, nknown))
			add_msg(err, "unknown %s '%s' in expect.%s%s", what, s, key, hint(s, known, nknown));
		for (size_t k = 0; k < i; k++)
			if (json_string_value(json_array_get(arr, k)) && strcmp(json_string_value(json_array_get(arr, k)), s) == 0)
				add_msg(err, "expect.%s names '%s' twice", key, s);
	}
	return 0;
}

/* What can be checked without the ruleset. */
static void check_expect(tcase *c)
{
	json_t *e = c->expect, *v;
	const char *k;

	if (!e) {
		add_msg(&c->errors, "the case has no \"expect\": it would check nothing");
		return;
	}
	if (!json_is_object(e)) {
		add_msg(&c->errors, "\"expect\" must be an object");
		return;
	}
	if (json_object_size(e) == 0)
		add_msg(&c->errors, "\"expect\" is empty: the case would check nothing");
	json_object_foreach(e, k, v)
		if (!one_of(k, expect_keys, N(expect_keys)))
			add_msg(&c->errors, "unknown expectation '%s'%s (expected one of decision, fired, not_fired, "
			        "methods, line, error_field)", k, hint(k, expect_keys, N(expect_keys)));
	if ((v = json_object_get(e, "decision"))) {
		const char *s = json_string_value(v);
		if (!s)
			add_msg(&c->errors, "expect.decision must be a string: GREEN, YELLOW or RED");
		else if (!one_of(s, decisions, N(decisions)))
			add_msg(&c->errors, "expect.decision: '%s' is not a decision (GREEN, YELLOW or RED)%s", s,
			        hint(s, decisions, N(decisions)));
	}
	if ((v = json_object_get(e, "line"))) {
		const char *s = json_string_value(v);
		if (!s || !one_of(s, lines, N(lines)))
			add_msg(&c->errors, "expect.line: %s%s%s is not a customer-service line (STANDARD or FRAUD)%s",
			        s ? "'" : "", s ? s : "a non-string", s ? "'" : "", hint(s, lines, N(lines)));
	}
	if ((v = json_object_get(e, "methods")))
		check_names(&c->errors, v, "methods", "method", method_names, N(method_names));
	if ((v = json_object_get(e, "fired")))
		check_names(&c->errors, v, "fired", "rule", NULL, 0);
	if ((v = json_object_get(e, "not_fired"))) {
		check_names(&c->errors, v, "not_fired", "rule", NULL, 0);
		if (json_is_array(v) && json_array_size(v) == 0)
			add_msg(&c->errors, "expect.not_fired is empty: it would check nothing");
	}
	json_t *fired = json_object_get(e, "fired"), *nf = json_object_get(e, "not_fired");
	size_t i;
	json_array_foreach(nf, i, v)
		if (json_is_string(v)) {
			size_t j;
			json_t *w;
			json_array_foreach(fired, j, w)
				if (json_is_string(w) && strcmp(json_string_value(v), json_string_value(w)) == 0)
					add_msg(&c->errors, "rule '%s' is both in expect.fired and in expect.not_fired",
					        json_string_value(v));
		}
	if ((v = json_object_get(e, "error_field"))) {
		if (!json_is_string(v))
			add_msg(&c->errors, "expect.error_field must be a string: the field the refusal names");
		if (json_object_size(e) > 1)
			add_msg(&c->errors, "expect.error_field says the request is refused: it has no decision, "
			        "fired rules, methods or line to check beside it");
	}
}

/* One object of a test file. */
static void take_object(tfile *f, json_t *o, long line, json_t **base, int *seen_case)
{
	const char *k;
	json_t *v;
	int is_case = json_object_get(o, "name") || json_object_get(o, "request") || json_object_get(o, "expect");
	int is_header = !is_case && (json_object_get(o, "settings") || json_object_get(o, "base"));
	tcase *c;

	if (is_header) {
		c = NULL;
		msgs err = { 0 };
		json_object_foreach(o, k, v)
			if (!one_of(k, header_keys, N(header_keys)))
				add_msg(&err, "unknown key '%s' beside \"settings\" or \"base\"%s", k,
				        hint(k, all_keys, N(all_keys)));
		if ((v = json_object_get(o, "settings"))) {
			if (*seen_case)
				add_msg(&err, "\"settings\" must come before the first case of the file");
			else if (f->settings_path || f->settings_text)
				add_msg(&err, "\"settings\" is given twice");
			else if (json_is_string(v)) {
				const char *p = json_string_value(v);
				if (p[0] == '/' ? !(f->settings_path = strdup(p))
				                : asprintf(&f->settings_path, "%s/%s", f->dir, p) < 0)
					f->settings_path = NULL;
			} else if (json_is_object(v)) {
				f->settings_text = json_dumps(v, JSON_COMPACT);
			} else {
				add_msg(&err, "\"settings\" must be a file name or the settings object");
			}
		}
		if ((v = json_object_get(o, "base"))) {
			if (json_is_object(v) || json_is_null(v)) {
				json_decref(*base);
				*base = json_is_null(v) ? NULL : json_incref(v);
			} else {
				add_msg(&err, "\"base\" must be a request object (or null to drop it)");
			}
		}
		if (err.n && (c = new_case(f, line))) {
			c->errors = err;
			c->name = strdup("(file set-up)");
		} else {
			msgs_free(&err);
		}
		return;
	}
	*seen_case = 1;
	if (!(c = new_case(f, line)))
		return;
	json_object_foreach(o, k, v)
		if (!one_of(k, case_keys, N(case_keys)))
			add_msg(&c->errors, "unknown key '%s' in a case%s (a case has name, request and expect)", k,
			        hint(k, all_keys, N(all_keys)));
	if ((v = json_object_get(o, "name"))) {
		if (json_is_string(v))
			c->name = strdup(json_string_value(v));
		else
			add_msg(&c->errors, "\"name\" must be a string");
	}
	json_t *req = json_object_get(o, "request");
	if (req && !json_is_object(req))
		add_msg(&c->errors, "\"request\" must be an object");
	else if (req)
		c->request = *base ? merge(*base, req) : json_incref(req);
	else if (*base)
		c->request = json_incref(*base);
	else
		add_msg(&c->errors, "the case has no \"request\" (and no \"base\" request comes before it)");
	c->expect = json_incref(json_object_get(o, "expect"));
	check_expect(c);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
}

/* Read every object of f->path into cases. */
static void read_file(tfile *f)
{
	size_t len = 0, pos = 0;
	long line = 1;
	json_t *base = NULL;
	int seen_case = 0;
	char *text;
	tcase *c;

	f->dir = dir_of(f->path);
	if (!(text = cli_read_file(f->path, &len))) {
		if ((c = new_case(f, 0))) {
			add_msg(&c->errors, "cannot read the test file");
			c->name = strdup("(file)");
		}
		return;
	}
	while (pos < len) {
		char ch = text[pos];
		if (ch == '\n') {
			line++;
			pos++;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r') {
			pos++;
			continue;
		}
		if (ch == '#') {
			while (pos < len && text[pos] != '\n')
				pos++;
			continue;
		}
		json_error_t je;
		json_t *o = json_loadb(text + pos, len - pos, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
		long start = line;
		if (!o || !json_is_object(o)) {
			if ((c = new_case(f, o ? start : start + je.line - 1))) {
				add_msg(&c->errors, "%s", o ? "not a JSON object" : je.text);
				c->name = strdup("(not a case)");
			}
			json_decref(o);
			/* Go on at the next line that starts an object. */
			do {
				while (pos < len && text[pos] != '\n')
					pos++;
				if (pos < len) {
					pos++;
					line++;
				}
			} while (pos < len && text[pos] != '{');
			continue;
		}
		for (size_t i = 0; i < (size_t)je.position && pos + i < len; i++)
			line += text[pos + i] == '\n';
		pos += (size_t)je.position;
		take_object(f, o, start, &base, &seen_case);
		json_decref(o);
	}
	json_decref(base);
	free(text);
}

/* ---- checking against the ruleset --------------------------------------------- */

typedef struct names {
	const char **v;
	size_t n;
} names;

static void check_against(tcase *c, const names *rules, const names *fields)
{
	json_t *e = c->expect, *v;
	static const char *const lists[] = { "fired", "not_fired" };
	if (!json_is_object(e))
		return;
	for (size_t l = 0; l < N(lists); l++) {
		size_t i;
		json_array_foreach(json_object_get(e, lists[l]), i, v) {
			const char *s = json_string_value(v);
			if (s && !one_of(s, rules->v, rules->n))
				add_msg(&c->errors, "unknown rule '%s' in expect.%s%s", s, lists[l],
				        *hint(s, rules->v, rules->n) ? hint(s, rules->v, rules->n)
				                                     : " (the ruleset has no rule of that name)");
		}
	}
	const char *s = json_string_value(json_object_get(e, "error_field"));
	if (s && *s && !one_of(s, fields->v, fields->n))
		add_msg(&c->errors, "unknown field '%s' in expect.error_field%s", s, hint(s, fields->v, fields->n));
}

/* ---- running ------------------------------------------------------------------ */

typedef struct cover {
	size_t nrules;
	unsigned long *fired, *not_fired;
	unsigned long offered[STEPUP_METHOD_COUNT];
	int settings_missing;    /* some case ran without issuer settings */
} cover;

static char *list_text(json_t *arr)
{
	char *s = json_dumps(arr, JSON_COMPACT);
	return s ? s : strdup("?");
}

/* The strings of a that b lacks, as "x, y" (malloc'd, NULL when none),
 * and how many. */
static char *not_in(json_t *a, json_t *b, size_t *count)
{
	char *out = NULL;
	size_t i;
	json_t *v;
	*count = 0;
	json_array_foreach(a, i, v) {
		size_t k;
		json_t *w;
		int found = 0;
		json_array_foreach(b, k, w)
			found |= strcmp(json_string_value(w), json_string_value(v)) == 0;
		if (found)
			continue;
		char *t = NULL;
		if (asprintf(&t, "%s%s%s", out ? out : "", out ? ", " : "", json_string_value(v)) >= 0) {
			free(out);
			out = t;
		}
		(*count)++;
	}
	return out;
}

static void run_case(tcase *c, const stepup_engine *e, int has_settings, stepup_request *r, stepup_decision *d,
                     cover *cov)
{
	json_t *want, *v;
	const char *res;
	size_t len, i;
	char *text = json_dumps(c->request, JSON_COMPACT);

	if (!text) {
		add_msg(&c->missed, "out of memory");
		return;
	}
	int rc = stepup_decide_json(e, r, d, text, strlen(text), 0, &res, &len);
	free(text);
	if ((want = json_object_get(c->expect, "error_field"))) {
		const char *got = rc == STEPUP_EBADREQ ? stepup_request_error_field(r) : NULL;
		if (!got || strcmp(got, json_string_value(want)) != 0)
			add_msg(&c->missed, "error_field: expected the request refused naming '%s', got %s%s%s",
			        json_string_value(want), rc == STEPUP_OK ? "a decision" : got ? "'" : "an error",
			        got ? got : "", got ? "'" : "");
		return;
	}
	if (rc != STEPUP_OK) {
		add_msg(&c->missed, "request refused: %.*s", (int)(res ? len : 0), res ? res : "");
		return;
	}
	/* What the decision says. */
	json_t *fired = json_array(), *methods = json_array();
	size_t nrules = cov->nrules;
	unsigned char *hit = calloc(nrules ? nrules : 1, 1);
	for (i = 0; i < stepup_decision_fired_count(d); i++) {
		const char *name = stepup_decision_fired_rule(d, i, NULL);
		json_array_append_new(fired, json_string(name));
		for (size_t k = 0; k < nrules && hit; k++) {
			stepup_rule_info ri;
			if (stepup_ruleset_rule(stepup_engine_ruleset(e), k, &ri) == STEPUP_OK && strcmp(ri.name, name) == 0)
				hit[k] = 1;
		}
	}
	int cs = 0;
	for (i = 0; i < stepup_decision_method_count(d); i++) {
		stepup_method m = stepup_decision_method(d, i);
		cs |= m == STEPUP_CUSTOMER_SERVICE;
		json_array_append_new(methods, json_string(stepup_method_name(m)));
		cov->offered[m]++;
	}
	for (size_t k = 0; k < nrules && hit; k++) {
		if (hit[k])
			cov->fired[k]++;
		else
			cov->not_fired[k]++;
	}
	free(hit);
	if (!has_settings)
		cov->settings_missing = 1;

	const char *dec = stepup_outcome_name(stepup_decision_outcome(d));
	if ((want = json_object_get(c->expect, "decision")) && strcmp(json_string_value(want), dec) != 0)
		add_msg(&c->missed, "decision: got %s, expected %s", dec, json_string_value(want));
	if ((want = json_object_get(c->expect, "fired"))) {
		size_t nm, ne;
		char *missing = not_in(want, fired, &nm), *extra = not_in(fired, want, &ne);
		if (nm || ne) {
			char *g = list_text(fired), *w = list_text(want);
			add_msg(&c->missed, "fired: got %s, expected %s (%s%s%s%s%s)", g, w, nm ? "did not fire: " : "",
			        nm ? missing : "", nm && ne ? "; " : "", ne ? "fired, not expected: " : "", ne ? extra : "");
			free(g);
			free(w);
		}
		free(missing);
		free(extra);
	}
	if ((want = json_object_get(c->expect, "not_fired")))
		json_array_foreach(want, i, v) {
			size_t k;
			json_t *w;
			json_array_foreach(fired, k, w)
				if (strcmp(json_string_value(w), json_string_value(v)) == 0)
					add_msg(&c->missed, "not_fired: rule %s fired", json_string_value(v));
		}
	if ((want = json_object_get(c->expect, "methods")) && !json_equal(want, methods)) {
		char *g = list_text(methods), *w = list_text(want);
		add_msg(&c->missed, "methods: got %s, expected %s%s", g, w,
		        has_settings ? "" : " (no issuer settings: IN_APP needs an app id, CUSTOMER_SERVICE a number)");
		free(g);
		free(w);
	}
	if ((want = json_object_get(c->expect, "line"))) {
		const char *got = cs ? stepup_cs_line_name(stepup_decision_cs_line(d)) : NULL;
		if (!got || strcmp(got, json_string_value(want)) != 0)
			add_msg(&c->missed, "line: got %s, expected %s", got ? got : "none (customer service is not offered)",
			        json_string_value(want));
	}
	json_decref(fired);
	json_decref(methods);
}

/* ---- reports ------------------------------------------------------------------- */

static void xml_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '<')
			fputs("&lt;", out);
		else if (ch == '>')
			fputs("&gt;", out);
		else if (ch == '&')
			fputs("&amp;", out);
		else if (ch == '"')
			fputs("&quot;", out);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fputc(' ', out);  /* not allowed in XML 1.0 */
		else
			fputc(ch, out);
	}
}

static void junit_report(tfile *files, size_t nfiles)
{
	size_t tests = 0, failures = 0, errors = 0;
	for (size_t f = 0; f < nfiles; f++)
		for (size_t i = 0; i < files[f].n; i++) {
			tests++;
			failures += files[f].cases[i].missed.n > 0;
			errors += files[f].cases[i].errors.n > 0;
		}
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	printf("<testsuites name=\"stepup test\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n", tests, failures,
	       errors);
	for (size_t f = 0; f < nfiles; f++) {
		tfile *tf = &files[f];
		size_t nf = 0, ne = 0;
		for (size_t i = 0; i < tf->n; i++) {
			nf += tf->cases[i].missed.n > 0;
			ne += tf->cases[i].errors.n > 0;
		}
		printf("  <testsuite name=\"");
		xml_text(stdout, tf->path);
		printf("\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n", tf->n, nf, ne);
		for (size_t i = 0; i < tf->n; i++) {
			tcase *c = &tf->cases[i];
			printf("    <testcase name=\"");
			xml_text(stdout, c->name ? c->name : "(unnamed)");
			printf("\" classname=\"");
			xml_text(stdout, tf->path);
			printf(":%ld\"", c->line);
			const msgs *m = c->errors.n ? &c->errors : &c->missed;
			if (!m->n) {
				printf("/>\n");
				continue;
			}
			printf(">\n      <%s message=\"", c->errors.n ? "error" : "failure");
			xml_text(stdout, m->v[0]);
			printf("\">");
			for (size_t k = 0; k < m->n; k++) {
				xml_text(stdout, m->v[k]);
				fputc('\n', stdout);
			}
			printf("</%s>\n    </testcase>\n", c->errors.n ? "error" : "failure");
		}
		printf("  </testsuite>\n");
	}
	printf("</testsuites>\n");
}

/* Coverage: rules that fired at least once, rules seen not firing at least
 * once, declared methods offered at least once. Returns the percentage. */
static double coverage_report(FILE *out, const stepup_ruleset *rs, const cover *cov)
{
	size_t nm = stepup_ruleset_method_count(rs), covered = 0, total = 2 * cov->nrules + nm;
	size_t nf = 0, nnf = 0, no = 0;
	for (size_t k = 0; k < cov->nrules; k++) {
		nf += cov->fired[k] > 0;
		nnf += cov->not_fired[k] > 0;
	}
	for (size_t i = 0; i < nm; i++) {
		stepup_method m;
		if (stepup_ruleset_method(rs, i, &m) == STEPUP_OK)
			no += cov->offered[m] > 0;
	}
	covered = nf + nnf + no;
	double pct = total ? 100.0 * (double)covered / (double)total : 100.0;
	fprintf(out, "coverage: %.1f%% (%zu of %zu): %zu of %zu rules fired, %zu of %zu seen not firing, "
	        "%zu of %zu methods offered\n", pct, covered, total, nf, cov->nrules, nnf, cov->nrules, no, nm);
	static const char *const heads[] = { "never fired:", "never seen not firing (fired in every case):" };
	for (int pass = 0; pass < 2; pass++) {
		int first = 1;
		for (size_t k = 0; k < cov->nrules; k++) {
			stepup_rule_info ri;
			unsigned long n = pass ? cov->not_fired[k] : cov->fired[k];
			if (n || stepup_ruleset_rule(rs, k, &ri) != STEPUP_OK)
				continue;
			if (first)
				fprintf(out, "  rules %s\n", heads[pass]);
			first = 0;
			fprintf(out, "    %s (%s:%u)\n", ri.name, ri.file, ri.line);
		}
	}
	int first = 1;
	for (size_t i = 0; i < nm; i++) {
		stepup_method m;
		if (stepup_ruleset_method(rs, i, &m) != STEPUP_OK || cov->offered[m])
			continue;
		if (first)
			fprintf(out, "  methods never offered:\n");
		first = 0;
		fprintf(out, "    %s\n", stepup_method_name(m));
	}
	return pct;
}

/* ---- the command ------------------------------------------------------------------ */

static stepup_engine *file_engine(tfile *f, stepup_ruleset *rs, stepup_plugins *global_pl)
{
	stepup_plugins *pl = NULL;
	char *text = NULL;
	if (f->engine || f->engine_failed)
		return f->engine;
	f->engine_failed = 1;
	if (f->settings_path) {
		if (cli_settings(f->settings_path, NULL, &text, &pl) < 0)
			return NULL;
	} else if (cli_settings_text(f->dir, f->settings_text, &pl) < 0) {
		return NULL;
	} else if (!(text = strdup(f->settings_text))) {
		stepup_plugins_unref(pl);
		return NULL;
	}
	f->engine = cli_engine_on(rs, text, pl ? pl : global_pl);
	f->engine_failed = !f->engine;
	stepup_plugins_unref(pl);
	free(text);
	return f->engine;
}

int cmd_test(int argc, char **argv)
{
	cli_rules rules = { 0 };
	const char *config = NULL, *plugins = NULL, *format = "text";
	int verbose = 0, coverage = 0, status = 0;
	double cov_min = -1;
	unsigned flags = 0;
	size_t nfiles = 0, passed = 0, failed = 0;
	tfile *files = calloc((size_t)argc, sizeof(*files));

	if (!files)
		return 2;
	for (int i = 1; i < argc; i++) {
		int k = cli_rules_option(&rules, argc, argv, &i);
		if (k > 0)
			continue;
		if (k < 0)
			goto usage;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc)
			plugins = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--allow-empty") == 0)
			flags |= STEPUP_LOAD_ALLOW_EMPTY;
		else if (strcmp(argv[i], "--coverage") == 0)
			coverage = 1;
		else if (strcmp(argv[i], "--coverage-min") == 0 && i + 1 < argc) {
			char *end;
			cov_min = strtod(argv[++i], &end);
			if (*end || end == argv[i] || cov_min < 0 || cov_min > 100) {
				fprintf(stderr, "stepup test: --coverage-min takes a percentage (0 to 100), not '%s'\n", argv[i]);
				goto usage;
			}
			coverage = 1;
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			format = argv[++i];
			if (strcmp(format, "text") != 0 && strcmp(format, "junit") != 0) {
				fprintf(stderr, "stepup test: unknown format '%s' (text or junit)\n", format);
				goto usage;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "stepup test: unknown option %s\n", argv[i]);
			goto usage;
		} else
			files[nfiles++].path = argv[i];
	}
	if (!rules.n || !nfiles)
		goto usage;
	int junit = strcmp(format, "junit") == 0;
	FILE *text_out = junit ? stderr : stdout;

	for (size_t f = 0; f < nfiles; f++)
		read_file(&files[f]);

	/* The ruleset, compiled once, with the plugins of --plugins, of
	 * --config, or else of the first settings a test file names. */
	char *cfg_text = NULL;
	stepup_plugins *pl = NULL, *file_pl = NULL;
	stepup_engine *def = NULL;
	cli_loaded info;
	if (cli_settings(config, plugins, &cfg_text, &pl) < 0) {
		status = 2;
		goto out;
	}
	for (size_t f = 0; f < nfiles && !pl && !file_pl; f++) {
		char *t = NULL;
		if (files[f].settings_path && cli_settings(files[f].settings_path, NULL, &t, &file_pl) < 0)
			file_pl = NULL;
		else if (files[f].settings_text && cli_settings_text(files[f].dir, files[f].settings_text, &file_pl) < 0)
			file_pl = NULL;
		free(t);
	}
	stepup_ruleset *rs = cli_ruleset(&rules, pl ? pl : file_pl, flags, &info);
	stepup_plugins_unref(file_pl);
	if (!rs) {
		free(cfg_text);
		stepup_plugins_unref(pl);
		status = 2;
		goto out;
	}

	/* Names the expectations may use. */
	names rn = { calloc(stepup_ruleset_rule_count(rs) + 1, sizeof(char *)), 0 };
	names fn = { calloc(stepup_ruleset_field_count(rs) + 1, sizeof(char *)), 0 };
	cover cov = { stepup_ruleset_rule_count(rs), calloc(stepup_ruleset_rule_count(rs) + 1, sizeof(unsigned long)),
	              calloc(stepup_ruleset_rule_count(rs) + 1, sizeof(unsigned long)), { 0 }, 0 };
	for (size_t k = 0; rn.v && k < stepup_ruleset_rule_count(rs); k++) {
		stepup_rule_info ri;
		if (stepup_ruleset_rule(rs, k, &ri) == STEPUP_OK)
			rn.v[rn.n++] = ri.name;
	}
	for (size_t k = 0; fn.v && k < stepup_ruleset_field_count(rs); k++) {
		stepup_field_info fi;
		if (stepup_ruleset_field(rs, k, &fi) == STEPUP_OK)
			fn.v[fn.n++] = fi.path;
	}
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	if (!rn.v || !fn.v || !cov.fired || !cov.not_fired || !r || !d) {
		fprintf(stderr, "stepup test: out of memory\n");
		status = 2;
		goto done;
	}
	for (size_t f = 0; f < nfiles; f++) {
		tfile *tf = &files[f];
		int own = tf->settings_path || tf->settings_text;
		stepup_engine *e = NULL;
		if (own)
			e = file_engine(tf, rs, pl);
		else if (def || (def = cli_engine_on(rs, cfg_text, pl)))
			e = def;
		for (size_t i = 0; i < tf->n; i++) {
			tcase *c = &tf->cases[i];
			const char *name = c->name ? c->name : "(unnamed)";
			check_against(c, &rn, &fn);
			if (!c->errors.n && !e)
				add_msg(&c->errors, "no engine to run it on (see above)");
			if (!c->errors.n)
				run_case(c, e, own || cfg_text, r, d, &cov);
			for (size_t k = 0; k < c->errors.n; k++)
				fprintf(text_out, "%s:%ld: error: %s\n", tf->path, c->line, c->errors.v[k]);
			if (c->errors.n) {
				fprintf(text_out, "FAIL %s:%ld: %s (not run: %zu error%s in the case)\n", tf->path, c->line, name,
				        c->errors.n, c->errors.n == 1 ? "" : "s");
				failed++;
			} else if (c->missed.n) {
				fprintf(text_out, "FAIL %s:%ld: %s\n", tf->path, c->line, name);
				for (size_t k = 0; k < c->missed.n; k++)
					fprintf(text_out, "    %s\n", c->missed.v[k]);
				failed++;
			} else {
				if (verbose)
					fprintf(text_out, "ok   %s:%ld: %s\n", tf->path, c->line, name);
				passed++;
			}
		}
	}
	if (junit)
		junit_report(files, nfiles);
	fprintf(text_out, "%zu passed, %zu failed\n", passed, failed);
	if (failed && cov.settings_missing)
		fprintf(text_out, "note: some cases ran without issuer settings (no --config and no \"settings\" in "
		        "their file): IN_APP needs an app id and CUSTOMER_SERVICE a number\n");
	status = failed ? 1 : 0;
	if (coverage) {
		double pct = coverage_report(text_out, rs, &cov);
		if (cov_min >= 0 && pct + 1e-9 < cov_min) {
			fprintf(text_out, "coverage %.1f%% is under the minimum of %g%%\n", pct, cov_min);
			status = 1;
		}
	}
done:
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(def);
	free(rn.v);
	free(fn.v);
	free(cov.fired);
	free(cov.not_fired);
	free(cfg_text);
	stepup_plugins_unref(pl);
	stepup_ruleset_unref(rs);
out:
	for (size_t f = 0; f < nfiles; f++) {
		for (size_t i = 0; i < files[f].n; i++) {
			tcase *c = &files[f].cases[i];
			free(c->name);
			json_decref(c->request);
			json_decref(c->expect);
			msgs_free(&c->errors);
			msgs_free(&c->missed);
		}
		free(files[f].cases);
		free(files[f].dir);
		free(files[f].settings_path);
		free(files[f].settings_text);
		stepup_engine_free(files[f].engine);
	}
	free(files);
	cli_rules_free(&rules);
	return status;
usage:
	fputs(TEST_USAGE, stderr);
	free(files);
	cli_rules_free(&rules);
	return 2;
}
