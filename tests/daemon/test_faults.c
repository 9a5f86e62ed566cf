/* test_faults.c: stepupd under the faults of issue 9, end to end. Each
 * group starts the freshly built daemon on loopback with its own
 * configuration and directory (harness.h).
 *
 * Groups: half-closed and vanished clients (no lost answers); a rules path
 * that blocks (FIFO) at reload and at start; fail closed (no rules) and the
 * reload guards; a decision log on a full disk (RLIMIT_FSIZE); fair
 * connection limits across addresses; foreign log text scrubbed.
 *
 * Parked requests are held parked deterministically: the test takes the
 * case store's SQLite write lock (the daemon waits up to busy_timeout_ms),
 * sends, waits until the metrics show every request parked, then lets go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define JSON_CT "application/json"
#define TEST_PAN "4111-1111-1111-1111"
#define TEST_PHONE "+14155559876"
#define TEST_EMAIL "canary.person@example.org"

static hd D;
static char *yellow_req;  /* tests/data/sample-request.json: YELLOW */

/* hd_green_req with "CLOSED" put for "ACTIVE": RED (card_not_active). */
static char *closed_req;

/* ---- helpers ------------------------------------------------------------------- */

static char *replaced(const char *base, const char *from, const char *to)
{
	const char *p = strstr(base, from);
	assert_non_null(p);
	size_t n = strlen(base) - strlen(from) + strlen(to);
	char *s = malloc(n + 1);
	size_t k = (size_t)(p - base);
	memcpy(s, base, k);
	strcpy(s + k, to);
	strcat(s, p + strlen(from));
	return s;
}

static long long metric(const char *series)
{
	hresp r;
	char needle[512];
	snprintf(needle, sizeof(needle), "\n%s ", series);
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	const char *p = r.body ? strstr(r.body, needle) : NULL;
	long long v = p ? atoll(p + strlen(needle)) : -1;
	hresp_free(&r);
	return v;
}

/* Wait (hang guard: 30 s) until the metric reaches want; its last value. */
static long long metric_wait(const char *series, long long want)
{
	long long v = -1, end = hd_now_ms() + 30000;
	while ((v = metric(series)) < want && hd_now_ms() < end)
		hd_sleep_ms(20);
	return v;
}

static void post(const char *path, const char *body, hresp *r)
{
	hd_http(&D, NULL, "POST", path, JSON_CT, body, strlen(body), NULL, r);
}

/* The decision ("GREEN", ...) of a response, or "" (static). */
static const char *decision_of(const char *body)
{
	static char out[16];
	json_t *j = json_loads(body, 0, NULL);
	snprintf(out, sizeof(out), "%s", j ? json_string_value(json_object_get(j, "decision")) ?: "" : "");
	json_decref(j);
	return out;
}

static void stop_clean(void)
{
	char why[3300];
	if (hd_stop_checked(&D, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static int start_with(const char *limits, const char *extra)
{
	if (hd_init(&D) < 0 || hd_write_default_config(&D, "info", limits, extra) < 0)
		return -1;
	return hd_start_reporting(&D, "stepupd did not start");
}

static int teardown_daemon(void **state)
{
	(void)state;
	if (D.pid > 0)
		stop_clean();
	hd_rmdir(&D);
	return 0;
}

/* ---- raw clients -------------------------------------------------------------- */

enum end_how { KEEP, HALF_CLOSE, RESET };

/* A connection from `src` (NULL: 127.0.0.1) to the daemon, or -1. */
static int connect_from(const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	if (fd < 0)
		return -1;
	if (src) {
		inet_pton(AF_INET, src, &a.sin_addr);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd);
			return -1;
		}
	}
	a.sin_port = htons((uint16_t)D.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one whole request and end the sending side as `how` says. */
static int send_request(const char *method, const char *path, const char *body, enum end_how how)
{
	char head[512];
	size_t blen = body ? strlen(body) : 0;
	int fd = connect_from(NULL);
	if (fd < 0)
		return -1;
	int hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n",
	                  method, path, body ? "Content-Type: application/json\r\n" : "", blen);
	if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
	    (blen && send(fd, body, blen, MSG_NOSIGNAL) != (ssize_t)blen)) {
		close(fd);
		return -1;
	}
	if (how == HALF_CLOSE)
		shutdown(fd, SHUT_WR);
	return fd;
}

/* Read every fd to its end (hang guard 30 s): replies[i] (malloc'd). */
static void read_replies(int *fds, size_t n, char **replies)
{
	size_t *len = calloc(n, sizeof(*len)), open_n = 0;
	struct pollfd *p = calloc(n, sizeof(*p));
	for (size_t i = 0; i < n; i++) {
		replies[i] = calloc(1, 1);
		p[i].fd = fds[i];
		p[i].events = POLLIN;
		open_n += fds[i] >= 0;
	}
	long long end = hd_now_ms() + 30000;
	while (open_n && hd_now_ms() < end) {
		if (poll(p, n, 200) <= 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char buf[4096];
			ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);
			if (r > 0) {
				replies[i] = realloc(replies[i], len[i] + (size_t)r + 1);
				memcpy(replies[i] + len[i], buf, (size_t)r);
				len[i] += (size_t)r;
				replies[i][len[i]] = '\0';
			} else if (r == 0 || errno != EINTR) {
				p[i].fd = -1;
				open_n--;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(len);
	free(p);
}

static int answered_200(const char *reply)
{
	return strncmp(reply, "HTTP/1.1 200", 12) == 0 && strstr(reply, "\r\n\r\n{");
}

/* ---- the case store's write lock ------------------------------------------------ */

static sqlite3 *lock_store(void)
{
	char path[256];
	sqlite3 *db = NULL;
	snprintf(path, sizeof(path), "%s/cases.db", D.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void unlock_store(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
}

/* Rows of `sql` (one text column) joined by '\n' (malloc'd). */
static char *store_query(const char *sql)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t cap = 1, len = 0;
	char *out = calloc(1, 1);
	snprintf(path, sizeof(path), "%s/cases.db", D.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t k = strlen(v);
		out = realloc(out, cap += k + 1);
		memcpy(out + len, v, k);
		len += k;
		out[len++] = '\n';
		out[len] = '\0';
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* Wait until `parked` requests are queued or running in the pool. */
static void wait_parked(const char *pool, long long parked)
{
	char q[128], r[128];
	snprintf(q, sizeof(q), "stepupd_lifecycle_requests_queued{pool=\"%s\"}", pool);
	snprintf(r, sizeof(r), "stepupd_lifecycle_requests_running{pool=\"%s\"}", pool);
	long long end = hd_now_ms() + 30000, n = 0;
	while ((n = metric(q) + metric(r)) < parked && hd_now_ms() < end)
		hd_sleep_ms(20);
	if (n < parked)
		fail_msg("only %lld of %lld requests parked in pool %s", n, parked, pool);
}

/* ---- half-closed and vanished clients ------------------------------------------------ */

static const char hc_limits[] =
	"{\"max_connections\": 1024, \"max_connections_per_ip\": 1024, \"connection_timeout_ms\": 60000,"
	" \"decision_deadline_ms\": 60000, \"shutdown_grace_ms\": 5000}";

static int halfclose_setup(void **state)
{
	(void)state;
	char extra[512];
	if (hd_init(&D) < 0)
		return -1;
	snprintf(extra, sizeof(extra),
	         "\"cases\": {\"path\": \"%s/cases.db\", \"busy_timeout_ms\": 60000}", D.dir);
	if (hd_write_default_config(&D, "info", hc_limits, extra) < 0)
		return -1;
	return hd_start_reporting(&D, "stepupd did not start");
}

/* yellow_req with request id `id` (malloc'd). */
static char *yellow_with_id(const char *id)
{
	return replaced(yellow_req, "7c0b6f9e-1d2a-4e55-9a0e-3f1f2a8c9d10", id);
}

/* Decision log lines (the whole file, once it holds `want` lines). */
static char *declog_lines(size_t want)
{
	long long end = hd_now_ms() + 15000;
	for (;;) {
		char *s = hd_slurp(D.declog, NULL);
		if ((s && hd_count(s, "\n") >= want) || hd_now_ms() > end)
			return s ? s : calloc(1, 1);
		free(s);
		hd_sleep_ms(20);
	}
}

/* The decision log line of decision id, or NULL. */
static const char *line_of(const char *log, const char *id)
{
	char needle[96];
	snprintf(needle, sizeof(needle), "\"decision_id\":\"%s\"", id);
	return strstr(log, needle);
}

/* 300 YELLOW decisions from clients that half-close after sending, all
 * parked at once (the case store locked): every one is answered, or
 * counted as undelivered with its decision log line saying so; every
 * stored case has its decision log line. */
static void test_halfclosed_decisions(void **state)
{
	(void)state;
	enum { N = 300 };
	static int fds[N];
	static char *replies[N];
	long long und0 = metric("stepupd_responses_undelivered_total{route=\"/v1/decisions\"}");
	sqlite3 *lock = lock_store();
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "hc-decision-%d", i);
		char *body = yellow_with_id(id);
		fds[i] = send_request("POST", "/v1/decisions", body, HALF_CLOSE);
		free(body);
		assert_true(fds[i] >= 0);
	}
	wait_parked("decisions", N);
	unlock_store(lock);
	read_replies(fds, N, replies);
	size_t answered = 0;
	for (int i = 0; i < N; i++) {
		answered += answered_200(replies[i]);
		if (answered_200(replies[i]) && !strcasestr(replies[i], "Cache-Control: no-store"))
			fail_msg("reply without Cache-Control: %.300s", replies[i]);
		free(replies[i]);
	}
	long long und = metric("stepupd_responses_undelivered_total{route=\"/v1/decisions\"}") - und0;
	fprintf(stderr, "# half-closed: %zu of %d YELLOW decisions answered, %lld counted undelivered\n",
	        answered, N, und);
	assert_int_equal((long long)answered + und, N);

	char *ids = store_query("SELECT decision_id FROM cases");
	assert_int_equal(hd_count(ids, "\n"), N);
	char *log = declog_lines(N);
	size_t undelivered_lines = hd_count(log, "\"delivered\":false");
	assert_int_equal((long long)undelivered_lines, und);
	for (char *save, *id = strtok_r(ids, "\n", &save); id; id = strtok_r(NULL, "\n", &save))
		if (!line_of(log, id))
			fail_msg("case %s is stored but has no decision log line", id);
	free(ids);
	free(log);
}

/* 300 activations (after 300 YELLOW decisions) from half-closing clients:
 * every one answered or counted undelivered, and saved either way. */
static void test_halfclosed_activations(void **state)
{
	(void)state;
	enum { N = 300 };
	static int fds[N];
	static char *replies[N];
	static char ids[N][72];
	hclient *c = hc_new();
	for (int i = 0; i < N; i++) {
		char rid[32];
		hresp r;
		snprintf(rid, sizeof(rid), "hc-activation-%d", i);
		char *body = yellow_with_id(rid);
		hd_http(&D, c, "POST", "/v1/decisions", JSON_CT, body, strlen(body), NULL, &r);
		free(body);
		json_t *j = json_loads(r.body, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "decision_id"));
		if (r.status != 200 || !id)
			fail_msg("decision %d: %ld %s", i, r.status, r.body);
		snprintf(ids[i], sizeof(ids[i]), "%s", id);
		json_decref(j);
		hresp_free(&r);
	}
	hc_free(c);
	long long und0 = metric("stepupd_responses_undelivered_total{route=\"/v1/activations\"}");
	sqlite3 *lock = lock_store();
	for (int i = 0; i < N; i++) {
		char body[256];
		snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC-hc-%d\","
		         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-hc\"}", ids[i], i);
		fds[i] = send_request("POST", "/v1/activations", body, HALF_CLOSE);
		assert_true(fds[i] >= 0);
	}
	wait_parked("lifecycle", N);
	unlock_store(lock);
	read_replies(fds, N, replies);
	size_t answered = 0;
	for (int i = 0; i < N; i++) {
		answered += answered_200(replies[i]) && strstr(replies[i], "\"ACTIVATED\"");
		free(replies[i]);
	}
	long long und = metric("stepupd_responses_undelivered_total{route=\"/v1/activations\"}") - und0;
	fprintf(stderr, "# half-closed: %zu of %d activations answered, %lld counted undelivered\n",
	        answered, N, und);
	assert_int_equal((long long)answered + und, N);
	char *act = store_query("SELECT decision_id FROM cases WHERE status = 'ACTIVATED'");
	assert_int_equal(hd_count(act, "\n"), N);
	free(act);
}

/* The other parked routes: Deliver OTP (no channel here: refused, but
 * answered) and the case read. */
static void test_halfclosed_other_routes(void **state)
{
	(void)state;
	enum { N = 40 };
	int fds[2 * N];
	char *replies[2 * N];
	hresp r;
	char *body = yellow_with_id("hc-other");
	post("/v1/decisions", body, &r);
	free(body);
	json_t *j = json_loads(r.body, 0, NULL);
	char id[72], path[128], otp[512];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "decision_id")));
	json_decref(j);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	snprintf(otp, sizeof(otp), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
	         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, (long long)time(NULL) + 300);
	long long u0 = metric("stepupd_responses_undelivered_total{route=\"/v1/otp-deliveries\"}") +
	               metric("stepupd_responses_undelivered_total{route=\"/v1/cases/{decision_id}\"}");
	sqlite3 *lock = lock_store();
	for (int i = 0; i < N; i++) {
		fds[i] = send_request("POST", "/v1/otp-deliveries", otp, HALF_CLOSE);
		fds[N + i] = send_request("GET", path, NULL, HALF_CLOSE);
		assert_true(fds[i] >= 0 && fds[N + i] >= 0);
	}
	wait_parked("lifecycle", N);
	unlock_store(lock);
	read_replies(fds, 2 * N, replies);
	size_t answered = 0;
	for (int i = 0; i < 2 * N; i++) {
		answered += strncmp(replies[i], "HTTP/1.1 ", 9) == 0 && strstr(replies[i], "\r\n\r\n{");
		free(replies[i]);
	}
	long long und = metric("stepupd_responses_undelivered_total{route=\"/v1/otp-deliveries\"}") +
	                metric("stepupd_responses_undelivered_total{route=\"/v1/cases/{decision_id}\"}") - u0;
	assert_int_equal((long long)answered + und, 2 * N);
}

/* Clients that are really gone (reset) while their decision is parked:
 * counted undelivered, and their decision log lines say so. */
static void test_gone_clients_counted(void **state)
{
	(void)state;
	enum { N = 20 };
	int fds[N];
	long long und0 = metric("stepupd_responses_undelivered_total{route=\"/v1/decisions\"}");
	char *before = hd_slurp(D.declog, NULL);
	size_t false0 = before ? hd_count(before, "\"delivered\":false") : 0;
	free(before);
	sqlite3 *lock = lock_store();
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "gone-%d", i);
		char *body = yellow_with_id(id);
		fds[i] = send_request("POST", "/v1/decisions", body, KEEP);
		free(body);
		assert_true(fds[i] >= 0);
	}
	wait_parked("decisions", N);
	for (int i = 0; i < N; i++) {
		struct linger l = { 1, 0 };  /* close() sends a reset */
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(fds[i]);
	}
	hd_sleep_ms(100);  /* the resets reach the kernel's side of the daemon */
	unlock_store(lock);
	long long und = metric_wait("stepupd_responses_undelivered_total{route=\"/v1/decisions\"}",
	                            und0 + N) - und0;
	assert_int_equal(und, N);
	long long end = hd_now_ms() + 15000;
	size_t marked = 0;
	while (hd_now_ms() < end) {
		char *log = hd_slurp(D.declog, NULL);
		marked = (log ? hd_count(log, "\"delivered\":false") : 0) - false0;
		free(log);
		if (marked >= N)
			break;
		hd_sleep_ms(20);
	}
	assert_int_equal(marked, N);
	assert_true(hd_wait_for(D.stderr_log, "answer not delivered", 2000));
}

/* ---- a rules path that blocks -------------------------------------------------- */

static int fifo_setup(void **state)
{
	(void)state;
	return start_with(NULL, "\"reload\": {\"timeout_ms\": 1500}");
}

/* Either refusal is right: the library may refuse a FIFO at once. */
static void expect_blocking_refused(const char *text)
{
	if (!strstr(text, "timed out") && !strstr(text, "not a regular file"))
		fail_msg("neither \"timed out\" nor \"not a regular file\": %s", text);
	if (!strstr(text, "rules.rules"))
		fail_msg("the error does not name the rules path: %s", text);
}

static void test_fifo_reload(void **state)
{
	(void)state;
	hresp r;
	post("/v1/decisions", hd_green_req, &r);
	assert_int_equal(r.status, 200);
	char rev[128];
	const char *p = strstr(r.body, "sha256:");
	assert_non_null(p);
	snprintf(rev, sizeof(rev), "%.71s", p);
	hresp_free(&r);
	assert_int_equal(unlink(D.rules), 0);
	assert_int_equal(mkfifo(D.rules, 0600), 0);

	/* The admin reload answers within its deadline (plus a generous
	 * margin for a loaded machine: the guard is against hanging). */
	long long t0 = hd_now_ms();
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	long long took = hd_now_ms() - t0;
	assert_int_equal(r.status, 422);
	expect_blocking_refused(r.body);
	assert_true(took < 15000);
	hresp_free(&r);
	/* The old generation serves on. */
	post("/v1/decisions", hd_green_req, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, rev));
	hresp_free(&r);
	/* SIGHUP too, and the main thread still answers signals. */
	long long f0 = metric("stepupd_reloads_total{result=\"failure\"}");
	kill(D.pid, SIGHUP);
	assert_int_equal(metric_wait("stepupd_reloads_total{result=\"failure\"}", f0 + 1), f0 + 1);
	/* A second admin reload while the first build may still be blocked. */
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 422);
	hresp_free(&r);
	/* SIGTERM stops it, cleanly. */
	int st;
	assert_int_equal(hd_signal_wait(&D, SIGTERM, 15000, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Starting D fails with status 78 and a log line check() accepts. */
static void expect_start_refused(void (*check)(const char *log))
{
	if (hd_start(&D) == 0) {
		stop_clean();
		fail_msg("stepupd started");
	}
	assert_true(WIFEXITED(D.exit_status));
	assert_int_equal(WEXITSTATUS(D.exit_status), 78);
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_non_null(log);
	check(log);
	free(log);
}

static void expect_no_rules(const char *log)
{
	if (!strstr(log, "no rules"))
		fail_msg("not refused for having no rules: %s", log);
}

/* Start and --check-config with a FIFO as rules path: refused, not hung. */
static void test_fifo_start(void **state)
{
	(void)state;
	char *out, *err;
	hd d;
	assert_int_equal(hd_init(&d), 0);
	hd saved = D;
	D = d;
	assert_int_equal(hd_write_default_config(&D, "info", NULL, "\"reload\": {\"timeout_ms\": 1000}"), 0);
	unlink(D.rules);
	assert_int_equal(mkfifo(D.rules, 0600), 0);
	int rc = hd_run(&out, &err, "--check-config", "-c", D.config, NULL);
	assert_int_equal(rc, 78);
	expect_blocking_refused(err);
	free(out);
	free(err);
	expect_start_refused(expect_blocking_refused);
	hd_rmdir(&D);
	D = saved;
}

/* ---- fail closed and the reload guards ------------------------------------------------ */

static const char *const no_rules[] = {
	"",
	"  \n\t\n   \n",
	"# all rules removed\n# nothing left\n",
	"ruleset \"empty\"\n# no rules\n",
};

/* A CLOSED card is never GREEN because the rules file was emptied: the
 * start and --check-config refuse it. */
static void test_no_rules_at_start(void **state)
{
	(void)state;
	hd saved = D;
	for (size_t i = 0; i < sizeof(no_rules) / sizeof(no_rules[0]); i++) {
		char *out, *err;
		assert_int_equal(hd_init(&D), 0);
		assert_int_equal(hd_write_default_config(&D, "info", NULL, NULL), 0);
		assert_int_equal(hd_write(D.rules, no_rules[i]), 0);
		int rc = hd_run(&out, &err, "--check-config", "-c", D.config, NULL);
		if (rc != 78 || !strstr(err, "no rules"))
			fail_msg("--check-config with rules %zu: %d %s", i, rc, err);
		free(out);
		free(err);
		expect_start_refused(expect_no_rules);
		hd_rmdir(&D);
	}
	D = saved;
}

static int guards_setup(void **state)
{
	(void)state;
	return start_with(NULL, NULL);
}

static void expect_closed_red(void)
{
	hresp r;
	post("/v1/decisions", closed_req, &r);
	assert_int_equal(r.status, 200);
	if (strcmp(decision_of(r.body), "RED") != 0)
		fail_msg("a CLOSED card got %s: %s", decision_of(r.body), r.body);
	hresp_free(&r);
}

static void reload_expect(long status, const char *body, const char *needle)
{
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/admin/reload", body ? JSON_CT : NULL, body, body ? strlen(body) : 0,
	        NULL, &r);
	if (r.status != status || (needle && !strstr(r.body, needle)))
		fail_msg("reload: %ld, wanted %ld with \"%s\": %s", r.status, status, needle ? needle : "",
		         r.body);
	hresp_free(&r);
}

/* n rules: `declines` of them decline CLOSED cards, the rest approve. */
static char *rules_n(int n, int declines)
{
	char *s = calloc(1, 64 + (size_t)n * 128);
	strcpy(s, "ruleset \"guard-test\"\nmethod CUSTOMER_SERVICE always\n");
	for (int i = 0; i < n; i++)
		sprintf(s + strlen(s), "rule r%d \"r\"\n  when card.state == %s\n  then %s\n", i,
		        i < declines ? "CLOSED" : "ACTIVE", i < declines ? "decline" : "approve");
	return s;
}

static void test_no_rules_at_reload(void **state)
{
	(void)state;
	char *good = hd_slurp(D.rules, NULL);
	expect_closed_red();
	for (size_t i = 0; i < sizeof(no_rules) / sizeof(no_rules[0]); i++) {
		assert_int_equal(hd_write(D.rules, no_rules[i]), 0);
		reload_expect(422, NULL, "no rules");
		expect_closed_red();
		/* SIGHUP the same. */
		long long f0 = metric("stepupd_reloads_total{result=\"failure\"}");
		kill(D.pid, SIGHUP);
		assert_int_equal(metric_wait("stepupd_reloads_total{result=\"failure\"}", f0 + 1), f0 + 1);
		expect_closed_red();
	}
	hd_write(D.rules, good);
	free(good);
}

static void test_reload_guards(void **state)
{
	(void)state;
	char *good = hd_slurp(D.rules, NULL), *cfg = hd_slurp(D.config, NULL), *s;

	/* (b) the serving rules decline, the new ones never do. */
	hd_write(D.rules, s = rules_n(14, 0));
	free(s);
	reload_expect(422, NULL, "no decline (RED) rules");
	expect_closed_red();
	/* (c) from the default rules (13) to 3: more than 50% fewer. */
	hd_write(D.rules, s = rules_n(3, 1));
	free(s);
	reload_expect(422, "{}", "to 3, more than reload.max_rule_drop_percent (50%)");
	expect_closed_red();
	/* SIGHUP never forces. */
	long long f0 = metric("stepupd_reloads_total{result=\"failure\"}");
	kill(D.pid, SIGHUP);
	assert_int_equal(metric_wait("stepupd_reloads_total{result=\"failure\"}", f0 + 1), f0 + 1);
	assert_true(hd_wait_for(D.stderr_log, "to 3, more than", 2000));
	/* A deliberate change, forced: loaded, and who asked is logged. */
	reload_expect(200, "{\"force\": true}", "guard-test");
	assert_true(hd_wait_for(D.stderr_log, "reload forced past a guard", 2000));
	assert_true(hd_wait_for(D.stderr_log, "127.0.0.1 via loopback", 100));
	expect_closed_red();
	/* (a) an empty ruleset the configuration allows is still refused by
	 * the guard, unless forced. */
	char *allow = replaced(cfg, "\"limits\"", "\"allow_empty_ruleset\": true,\n  \"limits\"");
	hd_write(D.config, allow);
	hd_write(D.rules, "");
	reload_expect(422, NULL, "has no rules");
	expect_closed_red();
	reload_expect(400, "{\"force\": 1}", "force");
	reload_expect(400, "{\"force\": true, \"x\": 1}", "force");
	/* Back to the default rules: from 3 to 14 rules is no guard's concern. */
	hd_write(D.config, cfg);
	hd_write(D.rules, good);
	reload_expect(200, NULL, "issuer-default");
	expect_closed_red();
	free(allow);
	free(good);
	free(cfg);
}

/* ---- the decision log on a full disk -------------------------------------------- */

/* Every line of text is a JSON object: a decision line or a gap line.
 * The number of decision lines; the gap lines' "lost" added to *gaps. */
static size_t all_json_lines(const char *text, const char *what, long long *gaps)
{
	size_t n = 0, k = 0;
	if (text[0] && text[strlen(text) - 1] != '\n')
		fail_msg("%s does not end with a whole line", what);
	char *copy = strdup(text);
	for (char *save, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(l, 0, NULL);
		k++;
		if (!json_is_object(j))
			fail_msg("%s: line %zu is not JSON: %.200s", what, k, l);
		json_t *g = json_object_get(j, "gap");
		if (g)
			*gaps += json_integer_value(json_object_get(g, "lost"));
		else if (json_object_get(j, "decision_id"))
			n++;
		else
			fail_msg("%s: line %zu is neither a decision nor a gap: %.200s", what, k, l);
		json_decref(j);
	}
	free(copy);
	return n;
}

/* A decision log on a disk that fills up (RLIMIT_FSIZE): never a torn or
 * glued line; every decision is a line or counted lost, and once writing
 * works again (the file rotated) gap lines account for every lost one. A
 * gap line may also land in the last bytes before the limit, followed by
 * a new episode: it is still whole, and its count still right. */
static void test_declog_disk_full(void **state)
{
	(void)state;
	enum { N = 120, AFTER = 5 };
	hd saved = D;
	assert_int_equal(hd_init(&D), 0);
	/* The decision log outgrows 16 KiB after some 45 lines; the daemon's
	 * few stderr lines stay below it. */
	D.fsize_limit = 16384;
	assert_int_equal(hd_write_default_config(&D, "info", NULL, NULL), 0);
	assert_int_equal(hd_start_reporting(&D, "stepupd did not start"), 0);
	hclient *c = hc_new();
	for (int i = 0; i < N; i++) {
		hresp r;
		hd_http(&D, c, "POST", "/v1/decisions", JSON_CT, hd_green_req, strlen(hd_green_req), NULL, &r);
		assert_int_equal(r.status, 200);
		hresp_free(&r);
	}
	/* Every decision is either a line of the file or counted lost. */
	long long lost = 0, gaps = 0;
	size_t lines = 0;
	long long end = hd_now_ms() + 15000;
	char *log = NULL;
	while (hd_now_ms() < end) {
		free(log);
		log = hd_slurp(D.declog, NULL);
		lost = metric("stepupd_decision_log_lines_lost_total");
		gaps = 0;
		lines = log ? all_json_lines(log, "the full decision log", &gaps) : 0;
		if ((long long)lines + lost >= N)
			break;
		hd_sleep_ms(20);
	}
	free(log);
	assert_true(lost > 0);
	assert_int_equal((long long)lines + lost, N);
	assert_true(hd_wait_for(D.stderr_log, "File too large", 2000));

	/* Rotated: writing works again, and a gap line comes first. */
	char rotated[256];
	snprintf(rotated, sizeof(rotated), "%s.1", D.declog);
	assert_int_equal(rename(D.declog, rotated), 0);
	kill(D.pid, SIGUSR1);
	assert_true(hd_wait_for(D.stderr_log, "decision log reopened", 10000));
	for (int i = 0; i < AFTER; i++) {
		hresp r;
		hd_http(&D, c, "POST", "/v1/decisions", JSON_CT, hd_green_req, strlen(hd_green_req), NULL, &r);
		assert_int_equal(r.status, 200);
		hresp_free(&r);
	}
	hc_free(c);
	long long new_gaps = 0;
	size_t after = 0;
	end = hd_now_ms() + 15000;
	do {
		log = hd_slurp(D.declog, NULL);
		new_gaps = 0;
		after = log ? all_json_lines(log, "the new decision log", &new_gaps) : 0;
		if (after >= AFTER)
			break;
		free(log);
		log = NULL;
		hd_sleep_ms(20);
	} while (hd_now_ms() < end);
	assert_non_null(log);
	assert_int_equal(after, AFTER);
	json_t *gap = json_loadb(log, (size_t)(strchr(log, '\n') - log), 0, NULL);
	json_t *g = json_object_get(gap, "gap");
	if (!g)
		fail_msg("the first line is not a gap line: %.300s", log);
	assert_string_equal(json_string_value(json_object_get(g, "reason")), "File too large");
	json_decref(gap);
	free(log);
	/* The gap lines of both files account for every line lost. */
	char *old = hd_slurp(rotated, NULL);
	long long old_gaps = 0;
	assert_non_null(old);
	assert_int_equal(all_json_lines(old, "the rotated decision log", &old_gaps), lines);
	free(old);
	assert_int_equal(old_gaps + new_gaps, lost);
	assert_int_equal(metric("stepupd_decision_log_lines_lost_total"), lost);
	stop_clean();
	hd_rmdir(&D);
	D = saved;
}

/* ---- fair connection limits ---------------------------------------------------- */

/* A metric read over the keep-alive connection c. */
static long long metric_on(hclient *c, const char *series)
{
	hresp r;
	char needle[512];
	snprintf(needle, sizeof(needle), "\n%s ", series);
	hd_http(&D, c, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	const char *p = r.body ? strstr(r.body, needle) : NULL;
	long long v = p ? atoll(p + strlen(needle)) : -1;
	hresp_free(&r);
	return v;
}

/* Five addresses at their per-address limit (5 x 24 > 64) no longer lock
 * another client out: past 7/8 of max_connections (56), an address that
 * already holds its quota (64 / 128, at least 1) gets no more. The test
 * reads the metrics over one keep-alive connection: with a quota of 1,
 * a second connection from 127.0.0.1 would be refused too. */
static void test_fair_share(void **state)
{
	(void)state;
	enum { ADDRS = 5, EACH = 24 };
	static int fds[ADDRS * EACH];
	hd saved = D;
	assert_int_equal(start_with("{\"max_connections\": 64, \"max_connections_per_ip\": 24,"
	                            " \"connection_timeout_ms\": 30000}", NULL), 0);
	hclient *mc = hc_new();
	assert_int_equal(metric_on(mc, "stepupd_rejected_total{cause=\"fair_share\"}"), 0);
	for (int a = 0; a < ADDRS; a++) {
		char src[16];
		snprintf(src, sizeof(src), "127.0.0.%d", a + 2);
		for (int i = 0; i < EACH; i++) {
			fds[a * EACH + i] = connect_from(src);
			if (fds[a * EACH + i] < 0)
				fail_msg("cannot connect from %s: %s", src, strerror(errno));
		}
	}
	/* Until the refused ones are closed: 56 kept, plus at most the first
	 * connection of each address that came late, plus the metrics one. */
	long long end = hd_now_ms() + 15000, conns = 0, last = -1;
	int same = 0;
	while (same < 5 && hd_now_ms() < end) {
		conns = metric_on(mc, "stepupd_connections");
		same = conns == last ? same + 1 : 0;
		last = conns;
		hd_sleep_ms(50);
	}
	if (conns > 56 + ADDRS + 1)
		fail_msg("%lld connections kept", conns);
	assert_true(metric_on(mc, "stepupd_rejected_total{cause=\"fair_share\"}") >= 1);
	/* A client from another address gets in and is answered. */
	char head[256], *reply = NULL;
	int fd = connect_from("127.0.0.7");
	assert_true(fd >= 0);
	snprintf(head, sizeof(head), "POST /v1/decisions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen(hd_green_req));
	assert_true(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	assert_true(send(fd, hd_green_req, strlen(hd_green_req), MSG_NOSIGNAL) == (ssize_t)strlen(hd_green_req));
	hd_read_all(fd, 10000, &reply, NULL);
	close(fd);
	if (!answered_200(reply))
		fail_msg("another client was not answered (%lld connections kept): %.200s", conns, reply);
	free(reply);
	hc_free(mc);
	for (int i = 0; i < ADDRS * EACH; i++)
		close(fds[i]);
	stop_clean();
	hd_rmdir(&D);
	D = saved;
}

/* ---- foreign log text scrubbed ---------------------------------------------------- */

/* The library's own log line names the case store's path ("case store
 * <path> open"): a path holding a card number, a phone number and an
 * e-mail address comes out scrubbed, as any library or plugin text. */
static void test_library_log_scrubbed(void **state)
{
	(void)state;
	hd saved = D;
	char sub[256], extra[512];
	assert_int_equal(hd_init(&D), 0);
	snprintf(sub, sizeof(sub), "%s/card " TEST_PAN " tel " TEST_PHONE " mail " TEST_EMAIL " end", D.dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(extra, sizeof(extra), "\"cases\": {\"path\": \"%s/cases.db\"}", sub);
	assert_int_equal(hd_write_default_config(&D, "debug", NULL, extra), 0);
	assert_int_equal(hd_start_reporting(&D, "stepupd did not start"), 0);
	stop_clean();
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "\"source\":\"cases\""));
	assert_non_null(strstr(log, "[card number]"));
	assert_non_null(strstr(log, "[phone]"));
	assert_non_null(strstr(log, "[e-mail]"));
	static const char *const secrets[] = { TEST_PAN, "4111111111111111", TEST_PHONE, "4155559876",
	                                       TEST_EMAIL, "canary.person" };
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strstr(log, secrets[i]))
			fail_msg("the daemon log holds \"%s\": %.400s", secrets[i], strstr(log, secrets[i]));
	free(log);
	hd_rmdir(&D);
	D = saved;
}

static int no_setup(void **state)
{
	(void)state;
	memset(&D, 0, sizeof(D));
	D.pid = -1;
	return 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	yellow_req = hd_slurp(SRCDIR "/tests/data/sample-request.json", NULL);
	if (!yellow_req)
		return 1;
	closed_req = strdup(hd_green_req);
	memcpy(strstr(closed_req, "\"ACTIVE\""), "\"CLOSED\"", 8);
	const struct CMUnitTest halfclose[] = {
		cmocka_unit_test(test_halfclosed_decisions),
		cmocka_unit_test(test_halfclosed_activations),
		cmocka_unit_test(test_halfclosed_other_routes),
		cmocka_unit_test(test_gone_clients_counted),
	};
	const struct CMUnitTest fifo[] = {
		cmocka_unit_test(test_fifo_reload),
		cmocka_unit_test(test_fifo_start),
	};
	const struct CMUnitTest guards[] = {
		cmocka_unit_test(test_no_rules_at_reload),
		cmocka_unit_test(test_reload_guards),
	};
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_no_rules_at_start),
		cmocka_unit_test(test_declog_disk_full),
		cmocka_unit_test(test_fair_share),
		cmocka_unit_test(test_library_log_scrubbed),
	};
	int failed = 0;
	failed += cmocka_run_group_tests_name("half-closed clients", halfclose, halfclose_setup,
	                                      teardown_daemon);
	failed += cmocka_run_group_tests_name("a rules path that blocks", fifo, fifo_setup, teardown_daemon);
	failed += cmocka_run_group_tests_name("fail closed", guards, guards_setup, teardown_daemon);
	failed += cmocka_run_group_tests_name("faults", alone, no_setup, NULL);
	free(yellow_req);
	free(closed_req);
	return failed ? 1 : 0;
}
