/* test_cases_durability.c: what must survive. A restart between decision
 * and activation loses nothing; notifications pending at close go out
 * after the next open; a webhook receiver that is down and comes back gets
 * each notification once; racing activations of one case make exactly one
 * transition; racing OTP sends never pass the limit; and a process killed
 * with SIGKILL in the middle of a burst of activations keeps every one it
 * acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "cases_fixture.h"

static int setup(void **state)
{
	tc_env *t = calloc(1, sizeof(*t));
	tc_setup(t);
	tc_open(t, NULL);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tc_env *t = *state;
	tc_teardown(t);
	free(t);
	return 0;
}

/* ---- restarts ---------------------------------------------------------------- */

/* Decision, OTP, restart, activation: the case, its send count and its
 * contacts are all still there. */
static void restart_between_decision_and_activation(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_send_sms(t->c, id, "123456");
	tc_reply before = tc_get(t->c, id);
	tc_close(t);

	tc_open(t, NULL);
	tc_reply after = tc_get(t->c, id);
	assert_int_equal(after.http, 200);
	assert_string_equal(after.text, before.text);
	tc_reply_free(&before);
	tc_reply_free(&after);
	/* The contact survived the restart: the next OTP goes to it. */
	tc_send_sms(t->c, id, "654321");
	char *f = tc_call_field(t, "deliver_otp", 1, 1);
	assert_string_equal(f, "+14155551234");
	free(f);
	tc_activate_cs(t->c, id, "DCARD-R", "agent-9");
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
	char key[128];
	snprintf(key, sizeof(key), "%s.activated", id);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	free(id);
}

/* Notifications queued while the receiver was down are still queued after
 * a restart, and arrive once when it is back. */
static void pending_outbox_survives_restart(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_sink_down(t);
	tc_activate_cs(t->c, id, "DCARD-P", "agent-1");
	assert_int_equal(stepup_cases_flush(t->c, 300), STEPUP_ETIMEOUT);
	tc_close(t);

	tc_sink_up(t);
	tc_open(t, NULL);
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
	tc_sleep_ms(100);
	assert_int_equal(tc_webhooks(t->sink, NULL), 1);
	char key[128];
	snprintf(key, sizeof(key), "%s.activated", id);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	free(id);
}

/* Down, then back, in the same process: retried with backoff, arrives once. */
static void webhook_down_then_up(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_sink_down(t);
	tc_activate_cs(t->c, id, "DCARD-D", "agent-1");
	/* Several failed attempts (backoff 50..200 ms). */
	stepup_cases_stats st;
	int64_t until = tc_now_ms() + 10000;
	do {
		tc_sleep_ms(20);
		stepup_cases_stats_get(t->c, &st);
	} while (st.notify_retried < 3 && tc_now_ms() < until);
	assert_true(st.notify_retried >= 3);
	assert_int_equal(st.notify_gave_up, 0);
	tc_sink_up(t);
	until = tc_now_ms() + 10000;
	while (tc_webhooks(t->sink, NULL) == 0 && tc_now_ms() < until)
		tc_sleep_ms(10);
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
	tc_sleep_ms(300);
	assert_int_equal(tc_webhooks(t->sink, NULL), 1);
	free(id);
}

/* ---- races ---------------------------------------------------------------------- */

#define RACERS 8

typedef struct racer {
	tc_env *t;
	const char *id;
	int k;
	int same;        /* everybody sends the same activation */
	int http;
	char code[64];
	char *text;
} racer;

static pthread_barrier_t gate;

static void *activate_racer(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(&gate);
	tc_reply rep = tc_activate(r->t->c,
	                           "{\"decision_id\":\"%s\",\"digital_card_id\":\"DCARD-%d\","
	                           "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-1\"}",
	                           r->id, r->same ? 0 : r->k);
	r->http = rep.http;
	snprintf(r->code, sizeof(r->code), "%s", tc_code(&rep));
	r->text = strdup(rep.text);
	tc_reply_free(&rep);
	return NULL;
}

static void race(tc_env *t, const char *id, int same, racer *rs)
{
	pthread_t th[RACERS];
	pthread_barrier_init(&gate, NULL, RACERS);
	for (int k = 0; k < RACERS; k++) {
		rs[k] = (racer){ t, id, k, same, 0, "", NULL };
		assert_int_equal(pthread_create(&th[k], NULL, activate_racer, &rs[k]), 0);
	}
	for (int k = 0; k < RACERS; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&gate);
}

static void racing_activations(void **state)
{
	tc_env *t = *state;
	racer rs[RACERS];

	/* The same activation from everywhere: one transition, every caller
	 * gets the same 200. */
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	race(t, id, 1, rs);
	for (int k = 0; k < RACERS; k++) {
		assert_int_equal(rs[k].http, 200);
		assert_string_equal(rs[k].text, rs[0].text);
	}
	for (int k = 0; k < RACERS; k++)
		free(rs[k].text);
	/* Different cards: one wins, the rest are conflicts. */
	char *id2 = tc_decide(t, TC_YELLOW_ALL, NULL);
	race(t, id2, 0, rs);
	int won = 0;
	for (int k = 0; k < RACERS; k++) {
		if (rs[k].http == 200)
			won++;
		else {
			assert_int_equal(rs[k].http, 409);
			assert_string_equal(rs[k].code, "activation_conflict");
		}
		free(rs[k].text);
	}
	assert_int_equal(won, 1);

	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_int_equal(st.activated, 2);
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
	tc_sleep_ms(100);
	char key[128];
	snprintf(key, sizeof(key), "%s.activated", id);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	snprintf(key, sizeof(key), "%s.activated", id2);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	assert_int_equal(tc_calls(t, "notify"), 2);
	free(id);
	free(id2);
}

typedef struct sender {
	stepup_cases *c;
	const char *id;
	int http;
} sender;

static void *send_racer(void *arg)
{
	sender *s = arg;
	pthread_barrier_wait(&gate);
	tc_reply r = tc_deliver(s->c,
	                        "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
	                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	                        s->id, (long long)time(NULL) + 300);
	s->http = r.http;
	tc_reply_free(&r);
	return NULL;
}

/* The send limit holds under concurrency: exactly max_otp_sends get out. */
static void racing_sends(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	pthread_t th[RACERS];
	sender ss[RACERS];
	pthread_barrier_init(&gate, NULL, RACERS);
	for (int k = 0; k < RACERS; k++) {
		ss[k] = (sender){ t->c, id, 0 };
		assert_int_equal(pthread_create(&th[k], NULL, send_racer, &ss[k]), 0);
	}
	int sent = 0, limited = 0;
	for (int k = 0; k < RACERS; k++) {
		pthread_join(th[k], NULL);
		sent += ss[k].http == 200;
		limited += ss[k].http == 429;
	}
	pthread_barrier_destroy(&gate);
	assert_int_equal(sent, 3);
	assert_int_equal(limited, RACERS - 3);
	assert_int_equal(tc_calls(t, "deliver_otp"), 3);
	free(id);
}

/* ---- kill -9 --------------------------------------------------------------------- */

static int count_rows(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int integrity_ok(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int ok = 0;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

/* The child: activate every case, writing each acknowledged id to the
 * pipe, until killed. Never returns. */
static void activator(tc_env *t, char **ids, int n, int fd)
{
	char err[256], *cfg = tc_config(t, "{\"background\":false}");
	stepup_cases *c = NULL;
	if (stepup_cases_open(cfg, NULL, NULL, NULL, NULL, &c, err, sizeof(err)) != STEPUP_OK)
		_exit(2);
	for (int round = 0;; round++)
		for (int i = 0; i < n; i++) {
			char body[256], *out = NULL;
			size_t len;
			int http = 0;
			snprintf(body, sizeof(body),
			         "{\"decision_id\":\"%s\",\"digital_card_id\":\"DK-%d\","
			         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-k\"}",
			         ids[i], i);
			stepup_cases_activate_json(c, body, strlen(body), &out, &len, &http);
			free(out);
			if (http != 200)
				_exit(3);
			if (round == 0) {
				char line[80];
				int k = snprintf(line, sizeof(line), "%s\n", ids[i]);
				if (write(fd, line, (size_t)k) != k)
					_exit(4);
			}
		}
}

static void kill9_during_burst(void **state)
{
	tc_env *t = *state;
	int n = th_under_valgrind() ? 40 : 300, fds[2];
	char **ids = calloc((size_t)n, sizeof(char *));

	tc_open(t, "{\"background\":false}");
	for (int i = 0; i < n; i++)
		ids[i] = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_close(t);

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		activator(t, ids, n, fds[1]);
	}
	close(fds[1]);

	/* Let it acknowledge a good part of the burst, then kill it dead. */
	FILE *in = fdopen(fds[0], "r");
	char line[128];
	char **acked = calloc((size_t)n, sizeof(char *));
	int nacked = 0, killed = 0;
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		acked[nacked++] = strdup(line);
		if (!killed && nacked >= n / 3) {
			kill(pid, SIGKILL);
			killed = 1;
		}
	}
	fclose(in);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(nacked >= n / 3);

	/* Every acknowledged activation is there, with its notification. */
	assert_true(integrity_ok(t->db));
	tc_open(t, NULL);
	for (int i = 0; i < nacked; i++) {
		tc_reply r = tc_get(t->c, acked[i]);
		if (strcmp(tc_str(&r, "status"), "ACTIVATED") != 0)
			fail_msg("acknowledged activation of %s lost: %s", acked[i], r.text);
		tc_reply_free(&r);
	}
	int activated = count_rows(t->db, "SELECT count(*) FROM cases WHERE status = 'ACTIVATED'");
	int webhooks = count_rows(t->db, "SELECT count(*) FROM outbox WHERE kind = 'webhook'");
	assert_true(activated >= nacked);
	/* A transition never exists without its notification. */
	assert_int_equal(webhooks, activated);
	assert_int_equal(stepup_cases_flush(t->c, 60000), STEPUP_OK);
	for (int i = 0; i < nacked; i++) {
		char key[128];
		snprintf(key, sizeof(key), "%s.activated", acked[i]);
		assert_int_equal(tc_webhooks(t->sink, key), 1);
	}
	for (int i = 0; i < n; i++)
		free(ids[i]);
	for (int i = 0; i < nacked; i++)
		free(acked[i]);
	free(ids);
	free(acked);
}

/* synchronous = "full" works the same (it only adds an fsync per commit). */
static void synchronous_full(void **state)
{
	tc_env *t = *state;
	tc_open(t, "{\"synchronous\":\"full\"}");
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_activate_cs(t->c, id, "DCARD-F", "agent-1");
	tc_close(t);
	tc_open(t, NULL);
	tc_reply r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "ACTIVATED");
	tc_reply_free(&r);
	free(id);
}

/* Two handles (two daemons) on one file see one another's writes. */
static void two_handles_one_file(void **state)
{
	tc_env *t = *state;
	char err[256], *cfg = tc_config(t, "{\"webhook\":null}");
	stepup_cases *other = NULL;
	assert_int_equal(stepup_cases_open(cfg, NULL, t->ps, tc_log, NULL, &other, err, sizeof(err)),
	                 STEPUP_OK);
	free(cfg);
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_activate_cs(other, id, "DCARD-2H", "agent-2");
	tc_reply r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "ACTIVATED");
	tc_reply_free(&r);
	stepup_cases_close(other);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(restart_between_decision_and_activation, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_outbox_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(webhook_down_then_up, setup, teardown),
		cmocka_unit_test_setup_teardown(racing_activations, setup, teardown),
		cmocka_unit_test_setup_teardown(racing_sends, setup, teardown),
		cmocka_unit_test_setup_teardown(kill9_during_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(synchronous_full, setup, teardown),
		cmocka_unit_test_setup_teardown(two_handles_one_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
