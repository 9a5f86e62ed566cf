/* test_shadow.c: change control in stepupd (docs/change-control.md):
 * shadow mode, promotion, the replay-safe decision log and signed bundles,
 * against a real stepupd on loopback and the real `stepup` command.
 *
 *   - 4 client threads send the same generated requests to a stepupd
 *     without shadow mode and to one with a candidate in shadow: the
 *     responses are byte for byte the same but for decision ids; the
 *     divergences /metrics counts by transition are what `stepup diff`
 *     says for the same requests, the shadow log has a line for each;
 *   - `stepup replay` on the replay-safe log that stepupd wrote gives
 *     `stepup diff`'s counts, exactly (the candidate reads only kept facts);
 *   - POST /v1/admin/promote under 4 client threads: no request fails,
 *     each thread sees the old revision, then the new one, never back;
 *   - a full shadow queue skips shadow decisions, counted, never lost;
 *   - bundles.require_signature: a signed bundle serves and its signer is
 *     in /metrics and the logs; unsigned, tampered (one flipped byte) and
 *     wrong-key bundles are refused at start (exit 78, the file named) and
 *     at reload (the old generation keeps serving). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef STEPUP_CLI
#define STEPUP_CLI "./stepup"
#endif

#define JSON_CT "application/json"
#define THREADS 4

static hd D;
static char dir[160];             /* the group's scratch files */
static char reqs_path[256], cand_path[256], settings_path[256];
static char **reqs;               /* the generated requests */
static size_t nreqs;

/* ---- helpers ------------------------------------------------------------- */

#define run_cli(out, err, ...) hd_run_bin(STEPUP_CLI, (out), (err), __VA_ARGS__)

/* The text with every `from` replaced by `to` (malloc'd). */
static char *replaced(const char *text, const char *from, const char *to)
{
	size_t n = hd_count(text, from), fl = strlen(from), tl = strlen(to);
	char *out = malloc(strlen(text) + n * tl + 1), *o = out;
	const char *p = text, *q;
	while ((q = strstr(p, from))) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
	strcpy(o, p);
	return out;
}

static long long metric(const char *series)
{
	return hd_metric(&D, series);
}

static char *metrics_text(void)
{
	hresp r;
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	char *s = r.body;
	r.body = NULL;
	hresp_free(&r);
	return s;
}

/* Shadow decisions made (same + diverged), waiting (hang guard: 60 s)
 * until there are want. */
static long long shadow_done_wait(long long want)
{
	long long v = 0, end = hd_now_ms() + 60000;
	for (;;) {
		v = metric("stepupd_shadow_decisions_total{result=\"same\"}") +
		    metric("stepupd_shadow_decisions_total{result=\"diverged\"}");
		if (v >= want || hd_now_ms() > end)
			return v;
		hd_sleep_ms(20);
	}
}

static void write_config(const char *extra)
{
	char buf[8192];
	snprintf(buf, sizeof(buf),
	         "{ \"listen\": \"127.0.0.1:0\", \"threads\": 2, \"rules\": \"%s\",\n"
	         "  \"log\": {\"level\": \"info\"},\n"
	         "  \"issuer\": {\"app_id\": \"com.examplebank.mobile\", \"customer_service\":\n"
	         "    {\"standard\": \"+1-800-555-0100\", \"fraud\": \"+1-800-555-0199\"}}%s%s }\n",
	         D.rules, extra && extra[0] ? ",\n  " : "", extra ? extra : "");
	assert_int_equal(hd_write(D.config, buf), 0);
}

static void start(void)
{
	assert_int_equal(hd_start_reporting(&D, "stepupd did not start"), 0);
}

static void stop(void)
{
	char why[3300];
	if (hd_stop_checked(&D, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

/* The response without its decision id: the rest is deterministic. */
static char *without_id(const char *body)
{
	char *s = strdup(body), *p = strstr(s, "\"decision_id\":\"");
	if (p) {
		char *e = strchr(p + 15, '"');
		memmove(p, e + 2, strlen(e + 2) + 1);  /* the id, its quotes and comma */
	}
	return s;
}

/* ---- clients ---------------------------------------------------------------- */

typedef struct client {
	pthread_t t;
	size_t from, to;           /* requests [from, to) */
	char **answers;            /* per request, without its id */
	long *status;
	size_t failed;
	/* promote: how often the serving revision changed, and how many
	 * requests were answered so far (shared, atomic). */
	int changes, went_back;
	char first_rev[80], last_rev[80];
	unsigned loops;
} client;

static unsigned answered;         /* atomic: requests answered, all threads */

static void *client_run(void *arg)
{
	client *c = arg;
	hclient *h = hc_new();
	for (unsigned loop = 0; loop < (c->loops ? c->loops : 1); loop++)
		for (size_t i = c->from; i < c->to; i++) {
			hresp r;
			hd_http(&D, h, "POST", "/v1/decisions", JSON_CT, reqs[i], strlen(reqs[i]), NULL, &r);
			if (r.status != 200)
				c->failed++;
			if (c->answers) {
				c->answers[i] = without_id(r.body);
				c->status[i] = r.status;
			}
			json_t *j = json_loads(r.body, 0, NULL);
			const char *rev = json_string_value(json_object_get(json_object_get(j, "ruleset"), "revision"));
			if (rev) {
				if (!c->first_rev[0])
					snprintf(c->first_rev, sizeof(c->first_rev), "%s", rev);
				if (c->last_rev[0] && strcmp(rev, c->last_rev) != 0) {
					c->changes++;
					c->went_back |= strcmp(rev, c->first_rev) == 0;
				}
				snprintf(c->last_rev, sizeof(c->last_rev), "%s", rev);
			}
			json_decref(j);
			hresp_free(&r);
			__atomic_fetch_add(&answered, 1, __ATOMIC_SEQ_CST);
		}
	hc_free(h);
	return NULL;
}

/* All requests (loops times) from THREADS threads, started; answers
 * (without ids) kept when answers is given. join_all() waits for them. */
static void send_all(char **answers, long *status, client *cs, unsigned loops)
{
	__atomic_store_n(&answered, 0, __ATOMIC_SEQ_CST);
	for (int k = 0; k < THREADS; k++) {
		memset(&cs[k], 0, sizeof(cs[k]));
		cs[k].from = nreqs * (size_t)k / THREADS;
		cs[k].to = nreqs * (size_t)(k + 1) / THREADS;
		cs[k].answers = answers;
		cs[k].status = status;
		cs[k].loops = loops;
		assert_int_equal(pthread_create(&cs[k].t, NULL, client_run, &cs[k]), 0);
	}
}

static size_t join_all(client *cs)
{
	size_t failed = 0;
	for (int k = 0; k < THREADS; k++) {
		pthread_join(cs[k].t, NULL);
		failed += cs[k].failed;
	}
	return failed;
}

/* ---- fixtures ------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	char cmd[1024];
	if (hd_init(&D) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s", D.dir);
	snprintf(reqs_path, sizeof(reqs_path), "%s/requests.jsonl", dir);
	snprintf(cand_path, sizeof(cand_path), "%s/candidate.rules", dir);
	snprintf(settings_path, sizeof(settings_path), "%s/settings.json", dir);
	nreqs = getenv("STEPUP_SHADOW_N") ? (size_t)atol(getenv("STEPUP_SHADOW_N")) : 2000;
	snprintf(cmd, sizeof(cmd), "awk -v N=%zu -v SEED=11 -f %s/tests/cli/gen-requests.awk > %s", nreqs, SRCDIR,
	         reqs_path);
	if (system(cmd) != 0)
		return -1;
	char *text = hd_slurp(reqs_path, NULL);
	if (!text)
		return -1;
	reqs = calloc(nreqs + 1, sizeof(*reqs));
	size_t n = 0;
	for (char *save, *l = strtok_r(text, "\n", &save); l && n < nreqs; l = strtok_r(NULL, "\n", &save))
		reqs[n++] = strdup(l);
	free(text);
	if (n != nreqs)
		return -1;
	/* The candidate: as the CLI test's (tests/cli/change-control.sh), a
	 * lower token limit, a wider score band, a step-up without its
	 * `only`, a method condition on a score. */
	char *def = hd_slurp(SRCDIR "/rules/default.rules", NULL), *a, *b, *c, *d;
	a = replaced(def, "let MAX_TOKENS       = 10", "let MAX_TOKENS       = 8");
	b = replaced(a, "or wallet.phone_score <= 2", "or wallet.phone_score <= 3");
	c = replaced(b, "then step_up only CUSTOMER_SERVICE line FRAUD", "then step_up line FRAUD");
	d = replaced(c, "method IN_APP           when end_user.app_enrolled\n",
	             "method IN_APP           when end_user.app_enrolled and wallet.device_score >= 4\n");
	int rc = strcmp(def, d) != 0 ? hd_write(cand_path, d) : -1;
	free(def);
	free(a);
	free(b);
	free(c);
	free(d);
	if (rc < 0)
		return -1;
	/* The issuer settings both stepup and stepupd decide with. */
	return hd_write(settings_path, "{\"issuer\": {\"app_id\": \"com.examplebank.mobile\", \"customer_service\":"
	                               " {\"standard\": \"+1-800-555-0100\", \"fraud\": \"+1-800-555-0199\"}}}");
}

static int group_teardown(void **state)
{
	(void)state;
	if (D.pid > 0)
		hd_finish(&D);
	else
		hd_rmdir(&D);
	for (size_t i = 0; i < nreqs; i++)
		free(reqs[i]);
	free(reqs);
	return 0;
}

/* `stepup diff --json` of the default rules and the candidate on the
 * requests (parsed). */
static json_t *diff_json(void)
{
	char *out, *err;
	int rc = run_cli(&out, &err, "diff", "--rules", SRCDIR "/rules/default.rules", "--candidate", cand_path,
	                 "--config", settings_path, "--json", reqs_path, NULL);
	if (rc != 0)
		fail_msg("stepup diff: exit %d: %s", rc, err);
	json_t *j = json_loads(out, 0, NULL);
	if (!j)
		fail_msg("stepup diff: not JSON: %.300s", out);
	free(out);
	free(err);
	return j;
}

/* Each transition of a report's JSON equals the shadow's metric. */
static void transitions_match_metrics(json_t *report, const char *metrics)
{
	json_t *t;
	size_t i;
	long long sum = 0;
	json_array_foreach(json_object_get(report, "transitions"), i, t) {
		char series[256];
		snprintf(series, sizeof(series), "\nstepupd_shadow_divergences_total{from=\"%s\",to=\"%s\",kind=\"%s\"} ",
		         json_string_value(json_object_get(t, "from")), json_string_value(json_object_get(t, "to")),
		         json_string_value(json_object_get(t, "kind")));
		const char *p = strstr(metrics, series);
		long long got = p ? atoll(p + strlen(series)) : 0;
		long long want = json_integer_value(json_object_get(t, "count"));
		if (got != want)
			fail_msg("%s: /metrics says %lld, stepup diff %lld", json_string_value(json_object_get(t, "label")),
			         got, want);
		sum += got;
	}
	assert_int_equal(sum, json_integer_value(json_object_get(report, "changed")));
	/* And no transition the diff does not have. */
	assert_int_equal(hd_count(metrics, "\nstepupd_shadow_divergences_total{"),
	                 json_array_size(json_object_get(report, "transitions")));
}

/* ---- tests ---------------------------------------------------------------- */

static void test_shadow_matches_diff(void **state)
{
	(void)state;
	client cs[THREADS];
	char **plain = calloc(nreqs, sizeof(char *)), **shadowed = calloc(nreqs, sizeof(char *));
	long *st1 = calloc(nreqs, sizeof(long)), *st2 = calloc(nreqs, sizeof(long));
	char extra[2048], shadow_log[256], declog[256];

	/* Without shadow mode. */
	write_config("");
	start();
	send_all(plain, st1, cs, 1);
	assert_int_equal(join_all(cs), 0);
	stop();

	/* With the candidate in shadow, a shadow log and a replay-safe
	 * decision log. */
	snprintf(shadow_log, sizeof(shadow_log), "%s/shadow.log", dir);
	snprintf(declog, sizeof(declog), "%s/replay.log", dir);
	snprintf(extra, sizeof(extra),
	         "\"decision_log\": {\"path\": \"%s\", \"flush_interval_ms\": 20, \"replay_safe\": true},\n"
	         "  \"shadow\": {\"rules\": \"%s\", \"log\": \"%s\", \"threads\": 2}", declog, cand_path, shadow_log);
	write_config(extra);
	start();
	send_all(shadowed, st2, cs, 1);
	assert_int_equal(join_all(cs), 0);
	for (size_t i = 0; i < nreqs; i++) {
		assert_int_equal(st1[i], 200);
		assert_int_equal(st2[i], 200);
		if (strcmp(plain[i], shadowed[i]) != 0)
			fail_msg("request %zu answered differently with shadow mode on:\n%s\n%s", i, plain[i], shadowed[i]);
	}
	long long done = shadow_done_wait((long long)nreqs);
	assert_int_equal(done, (long long)nreqs);
	assert_int_equal(metric("stepupd_shadow_skipped_total{reason=\"queue_full\"}"), 0);

	json_t *diff = diff_json();
	long long changed = json_integer_value(json_object_get(diff, "changed"));
	fprintf(stderr, "# %zu requests, %lld decisions change, in %zu transitions\n", nreqs, changed,
	        json_array_size(json_object_get(diff, "transitions")));
	assert_true(changed > 0 && changed < (long long)nreqs);
	assert_int_equal(metric("stepupd_shadow_decisions_total{result=\"diverged\"}"), changed);
	char *m = metrics_text();
	transitions_match_metrics(diff, m);
	free(m);
	stop();

	/* The shadow log: a line per divergence, both sides, no secret. */
	char *slog = hd_slurp(shadow_log, NULL);
	assert_non_null(slog);
	assert_int_equal((long long)hd_count(slog, "\n"), changed);
	assert_int_equal((long long)hd_count(slog, "\"candidate\":{\"revision\""), changed);
	assert_null(strstr(slog, "4111111111111111"));
	assert_null(strstr(slog, "+1415"));
	assert_null(strstr(slog, "@example.com"));

	/* stepup replay on the log stepupd wrote: diff's counts. */
	char *out, *err;
	int rc = run_cli(&out, &err, "replay", "--candidate", cand_path, "--config", settings_path, "--json", declog,
	                 NULL);
	if (rc != 0)
		fail_msg("stepup replay: exit %d: %s", rc, err);
	json_t *rep = json_loads(out, 0, NULL);
	assert_non_null(rep);
	assert_int_equal(json_integer_value(json_object_get(rep, "replayed")), (long long)nreqs);
	assert_int_equal(json_integer_value(json_object_get(rep, "not_exact")), 0);
	assert_int_equal(json_integer_value(json_object_get(rep, "changed")), changed);
	json_t *t;
	size_t i;
	json_array_foreach(json_object_get(diff, "transitions"), i, t) {
		json_t *u;
		size_t k;
		int found = 0;
		json_array_foreach(json_object_get(rep, "transitions"), k, u)
			if (json_equal(json_object_get(t, "label"), json_object_get(u, "label"))) {
				found = 1;
				assert_int_equal(json_integer_value(json_object_get(t, "count")),
				                 json_integer_value(json_object_get(u, "count")));
			}
		if (!found)
			fail_msg("replay lacks the transition %s", json_string_value(json_object_get(t, "label")));
	}
	assert_int_equal(json_array_size(json_object_get(rep, "transitions")),
	                 json_array_size(json_object_get(diff, "transitions")));
	/* The replay-safe log keeps no secret and no whole contact. */
	char *dlog = hd_slurp(declog, NULL);
	assert_non_null(strstr(dlog, "\"revision_record\""));
	assert_null(strstr(dlog, "4111111111111111"));
	assert_null(strstr(dlog, "+1415"));
	assert_null(strstr(dlog, "@example.com"));
	free(dlog);
	free(out);
	free(err);
	json_decref(rep);

	/* A candidate reading what the log does not keep: counted, by field. */
	char cand2[256];
	snprintf(cand2, sizeof(cand2), "%s/reads-more.rules", dir);
	char *def = hd_slurp(SRCDIR "/rules/default.rules", NULL);
	char *more = replaced(def, "rule card_unknown ", "rule far_away \"A device abroad\"\n"
	                                                 "  when wallet.device_country != \"US\" then step_up\n\n"
	                                                 "rule card_unknown ");
	hd_write(cand2, more);
	free(def);
	free(more);
	rc = run_cli(&out, &err, "replay", "--candidate", cand2, "--config", settings_path, "--json", declog, NULL);
	assert_int_equal(rc, 0);
	rep = json_loads(out, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(rep, "not_exact")), (long long)nreqs);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "not_exact_by_field"),
	                                                    "wallet.device_country")), (long long)nreqs);
	json_decref(rep);
	free(out);
	free(err);

	json_decref(diff);
	free(slog);
	for (size_t k = 0; k < nreqs; k++) {
		free(plain[k]);
		free(shadowed[k]);
	}
	free(plain);
	free(shadowed);
	free(st1);
	free(st2);
}

/* A queue of one: shadow decisions are skipped and counted, never waited
 * for and never lost; the live answers are all given. */
static void test_queue_full(void **state)
{
	(void)state;
	client cs[THREADS];
	char extra[1024];
	snprintf(extra, sizeof(extra), "\"shadow\": {\"rules\": \"%s\", \"queue\": 1, \"threads\": 1}", cand_path);
	write_config(extra);
	start();
	send_all(NULL, NULL, cs, 1);
	assert_int_equal(join_all(cs), 0);
	long long skipped = metric("stepupd_shadow_skipped_total{reason=\"queue_full\"}");
	long long done = shadow_done_wait((long long)nreqs - skipped);
	fprintf(stderr, "# queue of 1: %lld shadow decisions made, %lld skipped\n", done, skipped);
	assert_int_equal(done + skipped, (long long)nreqs);
	stop();
}

/* Promote under load: zero failed requests; each client sees the old
 * revision, then the candidate's, and never the old one again. */
static void test_promote(void **state)
{
	(void)state;
	client cs[THREADS];
	char extra[2048], declog[256], *out, *err;
	snprintf(declog, sizeof(declog), "%s/promote.log", dir);
	snprintf(extra, sizeof(extra),
	         "\"decision_log\": {\"path\": \"%s\", \"flush_interval_ms\": 20, \"replay_safe\": true},\n"
	         "  \"shadow\": {\"rules\": \"%s\"}", declog, cand_path);
	write_config(extra);
	start();
	int rc = run_cli(&out, &err, "check", cand_path, NULL);
	assert_int_equal(rc, 0);
	const char *p = strstr(out, "sha256:");
	char cand_rev[80];
	snprintf(cand_rev, sizeof(cand_rev), "%.71s", p);
	free(out);
	free(err);

	hresp r;
	const char *wrong = "{\"revision\": \"sha256:0000\"}";
	hd_http(&D, NULL, "POST", "/v1/admin/promote", JSON_CT, wrong, strlen(wrong), NULL, &r);
	assert_int_equal(r.status, 409);
	assert_non_null(strstr(r.body, cand_rev));
	hresp_free(&r);

	unsigned loops = 3;
	send_all(NULL, NULL, cs, loops);
	/* Promote once the clients are well under way (a counter, no clock). */
	while (__atomic_load_n(&answered, __ATOMIC_SEQ_CST) < nreqs / 2)
		hd_sleep_ms(1);
	char body[128];
	snprintf(body, sizeof(body), "{\"revision\": \"%s\"}", cand_rev);
	hd_http(&D, NULL, "POST", "/v1/admin/promote", JSON_CT, body, strlen(body), NULL, &r);
	unsigned at = __atomic_load_n(&answered, __ATOMIC_SEQ_CST);
	assert_int_equal(r.status, 200);
	json_t *j = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ruleset"), "revision")), cand_rev);
	assert_non_null(strstr(json_string_value(json_object_get(j, "by")), "127.0.0.1 via loopback"));
	assert_non_null(json_object_get(j, "at"));
	json_decref(j);
	hresp_free(&r);
	size_t failed = join_all(cs);
	fprintf(stderr, "# promoted after %u of %zu answers; %zu failed\n", at, nreqs * loops, failed);
	assert_int_equal(failed, 0);
	for (int k = 0; k < THREADS; k++) {
		assert_string_equal(cs[k].last_rev, cand_rev);
		assert_true(cs[k].changes <= 1);
		assert_false(cs[k].went_back);
	}
	/* Nothing left to promote; the metrics and logs say who and when. */
	hd_http(&D, NULL, "POST", "/v1/admin/promote", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 409);
	hresp_free(&r);
	assert_int_equal(metric("stepupd_promotions_total"), 1);
	assert_true(metric("stepupd_promotion_last_time_seconds") > 0);
	char *m = metrics_text();
	char series[160];
	snprintf(series, sizeof(series), "stepupd_ruleset_info{ruleset=\"issuer-default\",revision=\"%s\"", cand_rev);
	assert_non_null(strstr(m, series));
	free(m);
	assert_true(hd_wait_for(D.stderr_log, "promoted the shadow candidate", 3000));
	stop();
	char *log = hd_slurp(declog, NULL);
	assert_non_null(strstr(log, "\"via\":\"promote\",\"who\":\"127.0.0.1 via loopback\""));
	free(log);
}

/* The candidate reloads on its own (admin endpoint) and with a SIGHUP; a
 * broken one is refused, the running candidate stays, the serving rules
 * are not touched. */
static void test_candidate_reload(void **state)
{
	(void)state;
	char extra[1024], cand[256], series[256];
	snprintf(cand, sizeof(cand), "%s/moving.rules", dir);
	char *text = hd_slurp(cand_path, NULL);
	hd_write(cand, text);
	snprintf(extra, sizeof(extra), "\"shadow\": {\"rules\": \"%s\"}", cand);
	write_config(extra);
	start();
	char *m = metrics_text();
	const char *p = strstr(m, "stepupd_shadow_candidate_info{");
	assert_non_null(p);
	char first[200];
	snprintf(first, sizeof(first), "%.*s", (int)(strchr(p, '}') - p), p);
	free(m);
	long long gen = metric("stepupd_generation");

	/* Broken: refused, the candidate stays. */
	hd_write(cand, "ruleset \"broken\"\nrule r when card.nope == 1 then decline\n");
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/admin/shadow/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.body, "moving.rules:2:"));
	hresp_free(&r);
	m = metrics_text();
	assert_non_null(strstr(m, first));
	free(m);
	assert_int_equal(metric("stepupd_shadow_candidate_reloads_total{result=\"failure\"}"), 1);

	/* Another candidate: the admin endpoint loads it alone. */
	char *other = replaced(text, "let MAX_TOKENS       = 8", "let MAX_TOKENS       = 3");
	hd_write(cand, other);
	free(other);
	hd_http(&D, NULL, "POST", "/v1/admin/shadow/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = json_loads(r.body, 0, NULL);
	const char *rev = json_string_value(json_object_get(json_object_get(j, "candidate"), "revision"));
	assert_non_null(rev);
	snprintf(series, sizeof(series), "stepupd_shadow_candidate_info{ruleset=\"issuer-default\",revision=\"%s\"", rev);
	json_decref(j);
	hresp_free(&r);
	m = metrics_text();
	assert_non_null(strstr(m, series));
	free(m);
	assert_int_equal(metric("stepupd_generation"), gen);  /* the serving rules untouched */

	/* SIGHUP: the serving rules reload, and the candidate with them. */
	hd_write(cand, text);
	kill(D.pid, SIGHUP);
	long long end = hd_now_ms() + 15000;
	while (metric("stepupd_generation") == gen && hd_now_ms() < end)
		hd_sleep_ms(20);
	assert_int_equal(metric("stepupd_generation"), gen + 1);
	m = metrics_text();
	assert_non_null(strstr(m, first));
	free(m);
	free(text);
	stop();
}

/* ---- signed bundles ---------------------------------------------------------- */

static char key1[256], key2[256], fp1[64];

static void keys(void)
{
	char *out, *err;
	if (key1[0])
		return;
	snprintf(key1, sizeof(key1), "%s/k1", dir);
	snprintf(key2, sizeof(key2), "%s/k2", dir);
	assert_int_equal(run_cli(&out, &err, "keygen", key1, NULL), 0);
	const char *p = strstr(out, "ed25519:");
	assert_non_null(p);
	snprintf(fp1, sizeof(fp1), "%.40s", p);
	free(out);
	free(err);
	assert_int_equal(run_cli(&out, &err, "keygen", key2, NULL), 0);
	free(out);
	free(err);
}

static void compile_to(const char *rules, const char *bundle, const char *key)
{
	char *out, *err;
	int rc = key ? run_cli(&out, &err, "compile", rules, "-o", bundle, "--sign", key, NULL)
	             : run_cli(&out, &err, "compile", rules, "-o", bundle, NULL);
	if (rc != 0)
		fail_msg("compile: %s", err);
	free(out);
	free(err);
}

static void flip_byte(const char *path, long at)
{
	size_t len;
	char *b = hd_slurp(path, &len);
	assert_non_null(b);
	b[at < 0 ? (long)len + at : at] ^= 0x01;
	FILE *f = fopen(path, "wb");
	fwrite(b, 1, len, f);
	fclose(f);
	free(b);
}

static void signing_config(const char *rules)
{
	char extra[1024], k[300];
	snprintf(k, sizeof(k), "%s.pub", key1);
	snprintf(extra, sizeof(extra),
	         "\"bundles\": {\"trusted_keys\": [\"%s\"], \"require_signature\": true},\n"
	         "  \"decision_log\": {\"path\": \"%s\", \"flush_interval_ms\": 20, \"replay_safe\": true}", k,
	         D.declog);
	write_config(extra);
	/* write_config names D.rules: point it at this bundle. */
	char *c = hd_slurp(D.config, NULL), *c2 = replaced(c, D.rules, rules);
	hd_write(D.config, c2);
	free(c);
	free(c2);
}

/* The start refuses `bundle`, exit 78, with `want` and the file named
 * (--check-config first: it exits either way). */
static void start_refused(const char *bundle, const char *want)
{
	char *out, *err;
	signing_config(bundle);
	int rc = hd_run(&out, &err, "--check-config", "-c", D.config, NULL);
	if (rc != 78 || !strstr(err, want) || !strstr(err, bundle))
		fail_msg("--check-config with %s: exit %d, wanted 78 and \"%s\": %s", bundle, rc, want, err);
	free(out);
	free(err);
	unlink(D.stderr_log);
	if (hd_start(&D) == 0) {
		int st;
		hd_signal_wait(&D, SIGTERM, 10000, &st);
		fail_msg("stepupd started with %s", bundle);
	}
	assert_true(WIFEXITED(D.exit_status) && WEXITSTATUS(D.exit_status) == 78);
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_non_null(strstr(log, want));
	free(log);
}

static void test_signed_start(void **state)
{
	(void)state;
	char good[256], plain[256], bad[256], other[256];
	keys();
	snprintf(good, sizeof(good), "%s/good.bundle", dir);
	snprintf(plain, sizeof(plain), "%s/unsigned.bundle", dir);
	snprintf(bad, sizeof(bad), "%s/flipped.bundle", dir);
	snprintf(other, sizeof(other), "%s/other-key.bundle", dir);
	compile_to(SRCDIR "/rules/default.rules", good, key1);
	compile_to(SRCDIR "/rules/default.rules", plain, NULL);
	compile_to(SRCDIR "/rules/default.rules", bad, key1);
	flip_byte(bad, 200);
	compile_to(SRCDIR "/rules/default.rules", other, key2);

	start_refused(plain, "not signed");
	start_refused(bad, "does not verify");
	start_refused(other, "not a trusted key");
	start_refused(SRCDIR "/rules/default.rules", "rule sources are refused");

	/* Signed by the trusted key: serves, and says who signed it. */
	signing_config(good);
	start();
	char series[200];
	char *m = metrics_text();
	snprintf(series, sizeof(series), ",signer=\"%s\"} 1", fp1);
	assert_non_null(strstr(m, series));
	free(m);
	assert_true(hd_wait_for(D.stderr_log, fp1, 2000));
	stop();
	/* The decision log's revision record names the signer. */
	char *log = hd_slurp(D.declog, NULL), want[128];
	snprintf(want, sizeof(want), "\"signer\":\"%s\",\"via\":\"start\"", fp1);
	assert_non_null(log);
	assert_non_null(strstr(log, want));
	free(log);
}

/* A reload to an unsigned, tampered or wrong-key bundle fails and the
 * old generation keeps serving; a good one is loaded, its signer logged. */
static void test_signed_reload(void **state)
{
	(void)state;
	char live[256], cand_bundle[256];
	keys();
	snprintf(live, sizeof(live), "%s/live.bundle", dir);
	snprintf(cand_bundle, sizeof(cand_bundle), "%s/cand.bundle", dir);
	compile_to(SRCDIR "/rules/default.rules", live, key1);
	signing_config(live);
	start();
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/decisions", JSON_CT, reqs[0], strlen(reqs[0]), NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = json_loads(r.body, 0, NULL);
	char old_rev[80];
	snprintf(old_rev, sizeof(old_rev), "%s",
	         json_string_value(json_object_get(json_object_get(j, "ruleset"), "revision")));
	json_decref(j);
	hresp_free(&r);

	struct {
		const char *key;
		long flip;
		const char *want;
	} bad[] = { { NULL, 0, "not signed" }, { key1, -20, "does not verify" }, { key1, 300, "does not verify" },
		    { key2, 0, "not a trusted key" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		compile_to(cand_path, live, bad[i].key);
		if (bad[i].flip)
			flip_byte(live, bad[i].flip);
		hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
		if (r.status != 422 || !strstr(r.body, bad[i].want) || !strstr(r.body, "live.bundle"))
			fail_msg("reload %zu: %ld %s", i, r.status, r.body);
		hresp_free(&r);
		hd_http(&D, NULL, "POST", "/v1/decisions", JSON_CT, reqs[1], strlen(reqs[1]), NULL, &r);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, old_rev));
		hresp_free(&r);
	}
	/* SIGHUP too. */
	compile_to(cand_path, live, NULL);
	long long failures = metric("stepupd_reloads_total{result=\"failure\"}");
	kill(D.pid, SIGHUP);
	long long end = hd_now_ms() + 15000;
	while (metric("stepupd_reloads_total{result=\"failure\"}") == failures && hd_now_ms() < end)
		hd_sleep_ms(20);
	assert_int_equal(metric("stepupd_reloads_total{result=\"failure\"}"), failures + 1);
	assert_true(hd_wait_for(D.stderr_log, "not signed", 2000));
	/* Now signed: loaded, the signer in the reload line. */
	compile_to(cand_path, live, key1);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, old_rev));
	hresp_free(&r);
	char *log = hd_slurp(D.stderr_log, NULL);
	const char *reloaded = strstr(log, "\"msg\":\"reloaded\"");
	assert_non_null(reloaded);
	assert_non_null(strstr(reloaded, fp1));
	free(log);
	stop();
}

/* The candidate is held to the same signing policy: an unsigned one fails
 * the start, naming shadow.rules. */
static void test_signed_candidate(void **state)
{
	(void)state;
	char live[256], cand_bundle[256], extra[1024], *out, *err;
	keys();
	snprintf(live, sizeof(live), "%s/live2.bundle", dir);
	snprintf(cand_bundle, sizeof(cand_bundle), "%s/cand2.bundle", dir);
	compile_to(SRCDIR "/rules/default.rules", live, key1);
	compile_to(cand_path, cand_bundle, NULL);
	snprintf(extra, sizeof(extra),
	         "\"bundles\": {\"trusted_keys\": [\"%s.pub\"], \"require_signature\": true},\n"
	         "  \"shadow\": {\"rules\": \"%s\"}", key1, cand_bundle);
	write_config(extra);
	char *c = hd_slurp(D.config, NULL), *c2 = replaced(c, D.rules, live);
	hd_write(D.config, c2);
	free(c);
	free(c2);
	int rc = hd_run(&out, &err, "-c", D.config, NULL);
	if (rc != 78 || !strstr(err, "shadow.rules") || !strstr(err, "cand2.bundle") || !strstr(err, "not signed"))
		fail_msg("exit %d: %s", rc, err);
	free(out);
	free(err);
	compile_to(cand_path, cand_bundle, key1);
	start();
	char *m = metrics_text();
	char series[128];
	snprintf(series, sizeof(series), "stepupd_shadow_candidate_info{ruleset=\"issuer-default\"");
	assert_non_null(strstr(m, series));
	assert_non_null(strstr(strstr(m, series), fp1));
	free(m);
	stop();
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shadow_matches_diff),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_promote),
		cmocka_unit_test(test_candidate_reload),
		cmocka_unit_test(test_signed_start),
		cmocka_unit_test(test_signed_reload),
		cmocka_unit_test(test_signed_candidate),
	};
	return cmocka_run_group_tests_name("change control", tests, group_setup, group_teardown);
}
