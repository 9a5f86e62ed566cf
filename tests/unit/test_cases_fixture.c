/* test_cases_fixture.c: see cases_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "cases_fixture.h"

#ifndef CASES_PLUGIN_DIR
#error "CASES_PLUGIN_DIR must name the directory of test_cases_plugin.so"
#endif

/* ---- log sink ------------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char *log_buf;
static size_t log_len;

void tc_log(void *ctx, int level, const char *source, const char *msg)
{
	char line[1024];
	(void)ctx;
	int n = snprintf(line, sizeof(line), "%d %s: %s\n", level, source, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	pthread_mutex_lock(&log_mu);
	char *b = realloc(log_buf, log_len + (size_t)n + 1);
	if (b) {
		log_buf = b;
		memcpy(log_buf + log_len, line, (size_t)n + 1);
		log_len += (size_t)n;
	}
	pthread_mutex_unlock(&log_mu);
}

const char *tc_log_text(void)
{
	return log_buf ? log_buf : "";
}

void tc_log_clear(void)
{
	pthread_mutex_lock(&log_mu);
	free(log_buf);
	log_buf = NULL;
	log_len = 0;
	pthread_mutex_unlock(&log_mu);
}

static int is_sep(unsigned char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == ':' || c == '+' || c == '_';
}

int tc_holds_digits(const void *data, size_t len, const char *digits)
{
	const unsigned char *d = data;
	size_t nd = strlen(digits);
	for (size_t i = 0; i < len; i++) {
		if (d[i] != (unsigned char)digits[0])
			continue;
		size_t k = 1, j = i + 1;
		while (k < nd && j < len) {
			if (d[j] == (unsigned char)digits[k])
				k++, j++;
			else if (is_sep(d[j]))
				j++;
			else
				break;
		}
		if (k == nd)
			return 1;
	}
	return 0;
}

int tc_file_holds_digits(const char *path, const char *digits)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int found;
	if (!f)
		return 0;
	do {
		if (len + 65536 > cap) {
			cap = (len + 65536) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	found = tc_holds_digits(buf, len, digits);
	free(buf);
	return found;
}

int64_t tc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- environment ---------------------------------------------------------- */

void tc_setup(tc_env *t)
{
	char err[512] = "", cfg[2048];

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/stepup-cases-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/cases.db", t->dir);
	snprintf(t->record, sizeof(t->record), "%s/channel.log", t->dir);
	snprintf(t->control, sizeof(t->control), "%s/channel.control", t->dir);
	if (http_sink_start(NULL, 0, &t->sink, err, sizeof(err)) != 0)
		fail_msg("http_sink_start: %s", err);
	t->port = http_sink_port(t->sink);

	/* "inline": the fake answers at once and the calls stay on the
	 * test's threads (a fork()ed child has no plugin workers to lose). */
	snprintf(cfg, sizeof(cfg),
	         "{\"plugins\":{\"path\":[\"" CASES_PLUGIN_DIR "\"],\"timeout_ms\":2000,"
	         "\"load\":[{\"module\":\"test_cases_plugin\",\"name\":\"rec\",\"isolation\":\"inline\","
	         "\"config\":{\"record\":\"%s\",\"control\":\"%s\"}}],"
	         "\"methods\":{\"OTP_SMS\":\"rec\",\"OTP_EMAIL\":\"rec\",\"IN_APP\":\"rec\"}}}",
	         t->record, t->control);
	if (stepup_plugins_load(cfg, NULL, tc_log, NULL, &t->ps, err, sizeof(err)) != STEPUP_OK)
		fail_msg("stepup_plugins_load: %s", err);

	stepup_ruleset *rs = NULL;
	if (stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err)) != STEPUP_OK)
		fail_msg("rules: %s", err);
	if (stepup_engine_new_with_plugins(rs, t->ps, th_settings_full, &t->e, err, sizeof(err)) !=
	    STEPUP_OK)
		fail_msg("engine: %s", err);
	stepup_ruleset_unref(rs);
	tc_log_clear();
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];
	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

void tc_teardown(tc_env *t)
{
	tc_close(t);
	stepup_engine_free(t->e);
	stepup_plugins_unref(t->ps);
	http_sink_stop(t->sink);
	rm_dir(t->dir);
	tc_log_clear();
	memset(t, 0, sizeof(*t));
}

/* Merge patch into base key by key (objects recursively; null removes). */
static void merge(json_t *base, json_t *patch)
{
	const char *k;
	json_t *v;
	json_object_foreach(patch, k, v) {
		json_t *b = json_object_get(base, k);
		if (json_is_null(v))
			json_object_del(base, k);
		else if (json_is_object(v) && json_is_object(b))
			merge(b, v);
		else
			json_object_set(base, k, v);
	}
}

char *tc_config(const tc_env *t, const char *cases_patch)
{
	char base[1024];
	snprintf(base, sizeof(base),
	         "{\"path\":\"%s\",\"ttl_seconds\":900,\"max_otp_sends\":3,\"sweep_interval_ms\":100,"
	         "\"webhook\":{\"url\":\"http://127.0.0.1:%u/hooks/stepup\",\"secret\":\"" TC_SECRET "\","
	         "\"timeout_ms\":2000,\"backoff_ms\":50,\"max_backoff_ms\":200,\"max_attempts\":50},"
	         "\"notify_end_user\":{\"enabled\":true,\"method\":\"OTP_SMS\","
	         "\"templates\":{\"en\":\"Your card ending {pan_suffix} was added to {wallet}.\","
	         "\"fr\":\"Votre carte se terminant par {pan_suffix} a \\u00e9t\\u00e9 ajout\\u00e9e \\u00e0 {wallet}.\"}}}",
	         t->db, (unsigned)t->port);
	json_t *cases = th_json(base);
	if (cases_patch) {
		json_t *p = th_json(cases_patch);
		merge(cases, p);
		json_decref(p);
	}
	json_t *root = json_object();
	json_object_set_new(root, "cases", cases);
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	assert_non_null(text);
	return text;
}

void tc_open(tc_env *t, const char *cases_patch)
{
	char err[512] = "";
	char *cfg = tc_config(t, cases_patch);
	tc_close(t);
	int rc = stepup_cases_open(cfg, NULL, t->ps, tc_log, NULL, &t->c, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("stepup_cases_open: %s (%s)", err, cfg);
	free(cfg);
}

void tc_close(tc_env *t)
{
	stepup_cases_close(t->c);
	t->c = NULL;
}

char *tc_decide(tc_env *t, const char *patch, stepup_outcome *outcome)
{
	char *req = th_patched(patch);
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out = NULL;
	size_t len = 0;
	char err[256] = "";

	assert_int_equal(stepup_decide_json(t->e, r, d, req, strlen(req), 0, &out, &len), STEPUP_OK);
	int rc = stepup_cases_record(t->c, t->e, r, d, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("stepup_cases_record: %s", err);
	if (outcome)
		*outcome = stepup_decision_outcome(d);
	/* The id the TSP got in the response is the one the case is under. */
	json_t *resp = th_json(out);
	char *id = strdup(json_string_value(json_object_get(resp, "decision_id")));
	assert_string_equal(id, stepup_decision_id(d));
	json_decref(resp);
	stepup_decision_free(d);
	stepup_request_free(r);
	free(req);
	return id;
}

/* ---- calls ------------------------------------------------------------------ */

typedef int (*json_call)(stepup_cases *, const char *, size_t, char **, size_t *, int *);

static tc_reply call(json_call fn, stepup_cases *c, const char *fmt, va_list ap)
{
	tc_reply r = { 0, 0, NULL, NULL };
	char *body = NULL;
	size_t len = 0;
	assert_true(vasprintf(&body, fmt, ap) >= 0);
	r.rc = fn(c, body, strlen(body), &r.text, &len, &r.http);
	free(body);
	assert_non_null(r.text);
	assert_int_equal(strlen(r.text), len);
	r.body = th_json(r.text);
	return r;
}

tc_reply tc_deliver(stepup_cases *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tc_reply r = call(stepup_cases_deliver_otp_json, c, fmt, ap);
	va_end(ap);
	return r;
}

tc_reply tc_activate(stepup_cases *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tc_reply r = call(stepup_cases_activate_json, c, fmt, ap);
	va_end(ap);
	return r;
}

tc_reply tc_get(stepup_cases *c, const char *id)
{
	tc_reply r = { 0, 0, NULL, NULL };
	size_t len = 0;
	r.rc = stepup_cases_get_json(c, id, &r.text, &len, &r.http);
	assert_non_null(r.text);
	r.body = th_json(r.text);
	return r;
}

void tc_reply_free(tc_reply *r)
{
	free(r->text);
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

const char *tc_code(const tc_reply *r)
{
	const char *s = json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
	return s ? s : "";
}

const char *tc_str(const tc_reply *r, const char *path)
{
	char buf[128], *save = NULL;
	json_t *v = r->body;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	return json_is_string(v) ? json_string_value(v) : "";
}

void tc_send_sms(stepup_cases *c, const char *id, const char *otp)
{
	tc_reply r = tc_deliver(c,
	                        "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"%s\","
	                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	                        id, otp, (long long)time(NULL) + 300);
	if (r.http != 200)
		fail_msg("deliver OTP: %d %s", r.http, r.text);
	tc_reply_free(&r);
}

void tc_activate_cs(stepup_cases *c, const char *id, const char *card, const char *agent)
{
	tc_reply r = tc_activate(c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"%s\","
	                         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"%s\"}",
	                         id, card, agent);
	if (r.http != 200)
		fail_msg("activate: %d %s", r.http, r.text);
	tc_reply_free(&r);
}

/* ---- what the channel and the receiver got ------------------------------------- */

/* Line i (0-based) among those of op, malloc'd, or NULL. */
static char *call_line(const tc_env *t, const char *op, size_t i)
{
	FILE *f = fopen(t->record, "r");
	char *line = NULL, *out = NULL;
	size_t cap = 0, k = 0, n = strlen(op);
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0)
		if (strncmp(line, op, n) == 0 && line[n] == '\t' && k++ == i) {
			line[strcspn(line, "\n")] = '\0';
			out = strdup(line);
			break;
		}
	free(line);
	fclose(f);
	return out;
}

size_t tc_calls(const tc_env *t, const char *op)
{
	size_t n = 0;
	char *l;
	while ((l = call_line(t, op, n))) {
		free(l);
		n++;
	}
	return n;
}

char *tc_call_field(const tc_env *t, const char *op, size_t i, unsigned k)
{
	char *l = call_line(t, op, i), *p = l, *out = NULL;
	for (unsigned j = 0; p && j < k; j++)
		if ((p = strchr(p, '\t')))
			p++;
	if (p)
		out = strndup(p, strcspn(p, "\t"));
	free(l);
	return out;
}

void tc_control(const tc_env *t, const char *text)
{
	FILE *f = fopen(t->control, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

size_t tc_webhooks(http_sink *s, const char *prefix)
{
	size_t n = 0, total = http_sink_count(s);
	for (size_t i = 0; i < total; i++) {
		const char *k = http_sink_header(http_sink_get(s, i), "Idempotency-Key");
		n += k && (!prefix || strncmp(k, prefix, strlen(prefix)) == 0);
	}
	return n;
}

void tc_sink_down(tc_env *t)
{
	http_sink_stop(t->sink);
	t->sink = NULL;
}

void tc_sink_up(tc_env *t)
{
	char err[256] = "";
	/* The port was ours a moment ago; SO_REUSEADDR lets us have it back. */
	for (int i = 0; i < 50; i++) {
		if (http_sink_start(NULL, t->port, &t->sink, err, sizeof(err)) == 0)
			return;
		tc_sleep_ms(20);
	}
	fail_msg("http_sink_start on port %u: %s", (unsigned)t->port, err);
}
