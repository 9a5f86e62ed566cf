/* test_stepupd.c: stepupd end to end. Each group starts a real daemon
 * (the freshly built one) on 127.0.0.1 with its own configuration and
 * temporary directory, and talks HTTP to it (libcurl) or raw TCP.
 *
 * Groups: endpoints and errors; limits; decision log; configuration
 * checking; admin access; reload; shutdown; the card-data canary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stepup/stepup.h>

#include "harness.h"

static char *yellow_req;  /* tests/data/sample-request.json */

static hd D;  /* the daemon of the current group */

#define JSON_CT "application/json"

static void post_decision(const char *body, hresp *r)
{
	hd_http(&D, NULL, "POST", "/v1/decisions", JSON_CT, body, strlen(body), NULL, r);
}

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j)
		fail_msg("not JSON (%s): %s", e.text, s);
	return j;
}

static const char *jstr(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = o;
	char *save;
	for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

/* The error object of a non-2xx response: its code, checked against want. */
static void assert_error(const hresp *r, long status, const char *code)
{
	if (r->status != status)
		fail_msg("status %ld, wanted %ld: %s", r->status, status, r->body);
	json_t *j = parse(r->body);
	const char *got = jstr(j, "error.code");
	if (!got || strcmp(got, code) != 0)
		fail_msg("error code %s, wanted %s: %s", got ? got : "(none)", code, r->body);
	assert_non_null(jstr(j, "error.message"));
	json_decref(j);
	assert_non_null(strcasestr(r->headers, "Content-Type: application/json"));
	assert_non_null(strcasestr(r->headers, "Cache-Control: no-store"));
}

static long long metric(const char *series)
{
	hresp r;
	char needle[512];
	/* At the start of a line and followed by its value: not a HELP line. */
	snprintf(needle, sizeof(needle), "\n%s ", series);
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	const char *p = strstr(r.body, needle);
	long long v = p ? atoll(p + strlen(needle)) : -1;
	hresp_free(&r);
	return v;
}

/* Start D with the standard configuration (and overrides). */
static int start(const char *level, const char *limits, const char *extra)
{
	if (hd_init(&D) < 0 || hd_write_default_config(&D, level, limits, extra) < 0)
		return -1;
	return hd_start_reporting(&D, "stepupd did not start");
}

/* Stop D (SIGTERM) and require a clean exit: status 0, which under ASan
 * also means no leak. */
static void stop_clean(void)
{
	char why[3300];
	if (hd_stop_checked(&D, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static int group_setup(void **state)
{
	(void)state;
	return start("debug", NULL, NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	stop_clean();
	hd_rmdir(&D);
	return 0;
}

/* ---- endpoints ------------------------------------------------------------ */

static void test_live(void **state)
{
	hresp r;
	(void)state;
	hd_http(&D, NULL, "GET", "/health/live", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"live\"}");
	assert_non_null(strcasestr(r.headers, "Content-Type: application/json"));
	assert_non_null(strcasestr(r.headers, "Cache-Control: no-store"));
	hresp_free(&r);
}

static void test_ready(void **state)
{
	hresp r;
	(void)state;
	hd_http(&D, NULL, "GET", "/health/ready", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = parse(r.body);
	assert_string_equal(jstr(j, "status"), "ready");
	assert_string_equal(jstr(j, "ruleset.name"), "issuer-default");
	assert_int_equal(strncmp(jstr(j, "ruleset.revision"), "sha256:", 7), 0);
	json_decref(j);
	hresp_free(&r);
}

/* The body is the library's own output: compare with stepup_decide_json
 * on an engine built from the same rules and configuration, decision ids
 * aside (each decision gets a new one). */
static void blank_decision_id(char *s)
{
	char *p = strstr(s, "\"decision_id\":\"");
	assert_non_null(p);
	for (p += 15; *p && *p != '"'; p++)
		*p = 'X';
}

static void test_decision_is_library_output(void **state)
{
	(void)state;
	stepup_ruleset *rs;
	stepup_engine *e;
	char err[512];
	char *cfg = hd_slurp(D.config, NULL);
	assert_int_equal(stepup_ruleset_load(D.rules, &rs, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_engine_new(rs, cfg, &e, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	stepup_request *rq = stepup_request_new();
	stepup_decision *dc = stepup_decision_new();

	const char *reqs[] = { hd_green_req, yellow_req };
	const char *want_decision[] = { "GREEN", "YELLOW" };
	for (size_t i = 0; i < 2; i++) {
		hresp r;
		const char *out;
		size_t outlen;
		post_decision(reqs[i], &r);
		assert_int_equal(r.status, 200);
		assert_non_null(strcasestr(r.headers, "Content-Type: application/json"));
		assert_non_null(strcasestr(r.headers, "Cache-Control: no-store"));
		assert_int_equal(stepup_decide_json(e, rq, dc, reqs[i], strlen(reqs[i]), 0, &out, &outlen),
		                 STEPUP_OK);
		char *lib = strndup(out, outlen);
		blank_decision_id(lib);
		blank_decision_id(r.body);
		assert_string_equal(r.body, lib);
		json_t *j = parse(r.body);
		assert_string_equal(jstr(j, "decision"), want_decision[i]);
		json_decref(j);
		free(lib);
		hresp_free(&r);
	}
	stepup_request_free(rq);
	stepup_decision_free(dc);
	stepup_engine_free(e);
	free(cfg);
}

static void test_bad_field(void **state)
{
	(void)state;
	hresp r;
	char *body = strdup(hd_green_req);
	char *p = strstr(body, "\"ACTIVE\"");
	memcpy(p, "\"BOGUS\" ", 8);
	post_decision(body, &r);
	assert_error(&r, 400, "bad_request");
	json_t *j = parse(r.body);
	assert_string_equal(jstr(j, "error.field"), "card.state");
	assert_string_equal(jstr(j, "request_id"), "req-green-1");
	json_decref(j);
	hresp_free(&r);
	free(body);

	post_decision("{\"tsp\":\"MDES\"}", &r);  /* no request_id */
	assert_error(&r, 400, "bad_request");
	assert_non_null(strstr(r.body, "request_id"));
	hresp_free(&r);
}

static void test_malformed_json(void **state)
{
	(void)state;
	static const char *const bad[] = { "{\"request_id\":", "not json", "", "[1,2",
		"{\"request_id\":\"x\",}", "{\"request_id\":\"x\"} trailing" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hresp r;
		post_decision(bad[i], &r);
		assert_error(&r, 400, "bad_request");
		hresp_free(&r);
	}
}

static void test_deep_nesting(void **state)
{
	(void)state;
	hresp r;
	/* Depth 9 > limits.max_json_depth 8, inside an unknown field. */
	const char *deep = "{\"request_id\":\"d-1\",\"x\":[[[[[[[[1]]]]]]]]}";
	post_decision(deep, &r);
	assert_error(&r, 400, "bad_request");
	assert_non_null(strstr(r.body, "deeper than 8"));
	hresp_free(&r);
	/* Depth 8 passes the daemon's check (unknown field: ignored). */
	post_decision("{\"request_id\":\"d-2\",\"x\":[[[[[[1]]]]]]}", &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	/* Brackets inside strings do not count. */
	post_decision("{\"request_id\":\"d-3\",\"x\":\"[[[[[[[[[[[[[[[[\"}", &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
}

static void test_not_found(void **state)
{
	(void)state;
	hresp r;
	hd_http(&D, NULL, "GET", "/v1/cards/4111111111111111?csc=123", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 404, "not_found");
	/* The path is never echoed: it might carry card data. */
	assert_null(strstr(r.body, "4111111111111111"));
	assert_non_null(strstr(r.body, "POST /v1/decisions"));
	hresp_free(&r);
	post_decision(hd_green_req, &r);  /* the connection pool survives */
	assert_int_equal(r.status, 200);
	hresp_free(&r);
}

static void test_method_not_allowed(void **state)
{
	(void)state;
	hresp r;
	hd_http(&D, NULL, "GET", "/v1/decisions", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 405, "method_not_allowed");
	assert_non_null(strcasestr(r.headers, "Allow: POST"));
	hresp_free(&r);
	hd_http(&D, NULL, "DELETE", "/metrics", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 405, "method_not_allowed");
	assert_non_null(strcasestr(r.headers, "Allow: GET"));
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/health/live", JSON_CT, "{}", 2, NULL, &r);
	assert_error(&r, 405, "method_not_allowed");
	hresp_free(&r);
}

static void test_not_json(void **state)
{
	(void)state;
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/decisions", "text/plain", hd_green_req, strlen(hd_green_req), NULL, &r);
	assert_error(&r, 415, "unsupported_media_type");
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/v1/decisions", NULL, hd_green_req, strlen(hd_green_req), NULL, &r);
	assert_error(&r, 415, "unsupported_media_type");
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/v1/decisions", "application/json; charset=utf-8", hd_green_req,
	        strlen(hd_green_req), NULL, &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
}

static void test_too_large(void **state)
{
	(void)state;
	hresp r;
	size_t n = 70000;
	char *big = malloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, "{\"request_id\":\"big-1\",\"pad\":\"", 29);
	big[n - 2] = '"';
	big[n - 1] = '}';
	big[n] = '\0';
	post_decision(big, &r);
	assert_error(&r, 413, "too_large");
	hresp_free(&r);

	/* Chunked (no Content-Length): refused once the limit is passed. */
	int fd = hd_connect(&D);
	assert_true(fd >= 0);
	const char *head = "POST /v1/decisions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	char chunk[16];
	for (int i = 0; i < 5; i++) {
		snprintf(chunk, sizeof(chunk), "%x\r\n", 20000);
		send(fd, chunk, strlen(chunk), MSG_NOSIGNAL);
		send(fd, big + 1000, 20000, MSG_NOSIGNAL);
		send(fd, "\r\n", 2, MSG_NOSIGNAL);
	}
	send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
	char *resp;
	hd_read_all(fd, 5000, &resp, NULL);
	close(fd);
	assert_non_null(strstr(resp, "HTTP/1.1 413"));
	assert_non_null(strstr(resp, "\"too_large\""));
	free(resp);
	free(big);
	assert_true(metric("stepupd_rejected_total{cause=\"too_large\"}") >= 2);
}

static void test_metrics(void **state)
{
	(void)state;
	hresp r;
	post_decision(hd_green_req, &r);
	hresp_free(&r);
	post_decision(yellow_req, &r);
	hresp_free(&r);
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers, "Content-Type: text/plain; version=0.0.4"));
	static const char *const want[] = {
		"# TYPE stepupd_decisions_total counter",
		"stepupd_decisions_total{outcome=\"GREEN\",ruleset=\"issuer-default\",revision=\"sha256:",
		"stepupd_decisions_total{outcome=\"YELLOW\"",
		"stepupd_rule_hits_total{rule=\"phone_mismatch\",outcome=\"YELLOW\",revision=\"sha256:",
		"# TYPE stepupd_decision_duration_seconds histogram",
		"stepupd_decision_duration_seconds_bucket{le=\"+Inf\"}",
		"stepupd_decision_duration_seconds_count",
		"stepupd_rejected_total{cause=\"bad_request\"}",
		"stepupd_rejected_total{cause=\"per_ip_connection_limit\"}",
		"stepupd_reloads_total{result=\"failure\"}",
		"# TYPE stepupd_plugin_call_duration_seconds histogram",
		"# TYPE stepupd_plugin_errors_total counter",
		"stepupd_ruleset_info{ruleset=\"issuer-default\",revision=\"sha256:",
		"stepupd_ready 1",
		"stepupd_connections ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(r.body, want[i]))
			fail_msg("metrics lack %s:\n%s", want[i], r.body);
	/* Every line is a comment or "name{labels} value", and every sample
	 * belongs to a family declared by a # TYPE line before it. */
	char types[8192] = " ";
	for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			strncat(types, line + 7, strcspn(line + 7, " "));
			strcat(types, " ");
			continue;
		}
		if (line[0] == '#')
			continue;
		char *sp = strrchr(line, ' ');
		assert_non_null(sp);
		char *end;
		strtod(sp + 1, &end);
		if (*end)
			fail_msg("bad sample line: %s", line);
		char name[128];
		snprintf(name, sizeof(name), " %.*s", (int)strcspn(line, "{ "), line);
		for (const char *suf = "_bucket\0_sum\0_count\0"; *suf; suf += strlen(suf) + 1) {
			size_t n = strlen(name), k = strlen(suf);
			if (n > k && strcmp(name + n - k, suf) == 0 && !strstr(types, name)) {
				name[n - k] = '\0';
				break;
			}
		}
		strcat(name, " ");
		if (!strstr(types, name))
			fail_msg("sample without a # TYPE: %s", line);
	}
	hresp_free(&r);
	assert_true(metric("stepupd_rejected_total{cause=\"bad_request\"}") >= 1);
}

/* No "cases" section: the lifecycle is off, its endpoints say so, and
 * YELLOW decisions are answered as before. */
static void test_lifecycle_disabled(void **state)
{
	(void)state;
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/otp-deliveries", JSON_CT, "{}", 2, NULL, &r);
	assert_error(&r, 404, "lifecycle_disabled");
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/v1/activations", JSON_CT, "{}", 2, NULL, &r);
	assert_error(&r, 404, "lifecycle_disabled");
	hresp_free(&r);
	hd_http(&D, NULL, "GET", "/v1/cases/dcs_06H047X2EBWTXBY6", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 404, "lifecycle_disabled");
	hresp_free(&r);
	post_decision(yellow_req, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"YELLOW\""));
	hresp_free(&r);
	assert_int_equal(metric("stepupd_cases_enabled"), 0);
	assert_true(metric("stepupd_rejected_total{cause=\"lifecycle_disabled\"}") >= 3);
}

static void test_admin_reload_loopback(void **state)
{
	(void)state;
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = parse(r.body);
	assert_string_equal(jstr(j, "status"), "reloaded");
	assert_string_equal(jstr(j, "ruleset.name"), "issuer-default");
	json_decref(j);
	hresp_free(&r);
	assert_true(metric("stepupd_reloads_total{result=\"success\"}") >= 1);
	assert_true(hd_wait_for(D.stderr_log, "\"msg\":\"reloaded\"", 2000));
}

/* ---- limits ------------------------------------------------------------------- */

/* One byte a second keeps MHD's inactivity timer happy forever; the
 * daemon's own request timeout (2 s here) must cut the client off. */
static void test_slow_client(void **state)
{
	(void)state;
	const char *req = "POST /v1/decisions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
	                  "Content-Length: 10\r\n\r\n{\"a\":1234}";
	long long before = metric("stepupd_rejected_total{cause=\"request_timeout\"}");
	int fd = hd_connect(&D);
	assert_true(fd >= 0);
	long long t0 = hd_now_ms(), closed_at = -1;
	for (size_t i = 0; i < strlen(req); i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
			closed_at = hd_now_ms();
			break;
		}
		char *got = NULL;
		if (hd_read_all(fd, 1000, &got, NULL) != 0) {  /* closed or reset */
			closed_at = hd_now_ms();
			assert_null(strstr(got, "HTTP/1.1 200"));
			free(got);
			break;
		}
		free(got);
	}
	close(fd);
	assert_true(closed_at > 0);
	long long took = closed_at - t0;
	if (took < 1500 || took > 4500)
		fail_msg("slow client cut off after %lld ms (timeout 2000 ms)", took);
	assert_true(metric("stepupd_rejected_total{cause=\"request_timeout\"}") >= before + 1);
}

static void test_idle_connection_closed(void **state)
{
	(void)state;
	int fd = hd_connect(&D);
	assert_true(fd >= 0);
	long long t0 = hd_now_ms();
	assert_int_equal(hd_read_all(fd, 5000, NULL, NULL), 1);
	long long took = hd_now_ms() - t0;
	close(fd);
	if (took < 1500 || took > 4000)
		fail_msg("idle connection closed after %lld ms (timeout 2000 ms)", took);
}

/* 1 when the server closed fd (end-of-stream waiting), without blocking. */
static int closed_by_server(int fd)
{
	char c;
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static void test_per_ip_limit(void **state)
{
	(void)state;
	enum { LIMIT = 24 };
	int fds[LIMIT + 1], refused = 0, served = 0;
	long long before = metric("stepupd_rejected_total{cause=\"per_ip_connection_limit\"}");
	/* Connections of earlier tests may still be closing on the server's
	 * side: start from none but the one asking, and let that one go too. */
	long long end = hd_now_ms() + 3000;
	while (metric("stepupd_connections") != 1 && hd_now_ms() < end)
		hd_sleep_ms(20);
	hd_sleep_ms(200);
	for (int i = 0; i <= LIMIT; i++) {
		if (i == LIMIT)
			hd_sleep_ms(100);
		fds[i] = hd_connect(&D);
		assert_true(fds[i] >= 0);
	}
	hd_sleep_ms(300);
	/* One over the limit is closed without a response (which one depends
	 * on the order the worker threads accept them)... */
	for (int i = 0; i <= LIMIT; i++)
		refused += closed_by_server(fds[i]);
	assert_int_equal(refused, 1);
	/* ...while the others are served. */
	const char *req = "GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	for (int i = 0; i <= LIMIT; i++) {
		char *got = NULL;
		if (send(fds[i], req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
			hd_read_all(fds[i], 2000, &got, NULL);
			served += got && strstr(got, "200 OK") != NULL;
		}
		free(got);
		close(fds[i]);
	}
	assert_int_equal(served, LIMIT);
	assert_true(metric("stepupd_rejected_total{cause=\"per_ip_connection_limit\"}") >= before + 1);
}

/* ---- decision log ------------------------------------------------------------- */

static void test_decision_log(void **state)
{
	(void)state;
	hresp r;
	post_decision(yellow_req, &r);
	assert_int_equal(r.status, 200);
	json_t *resp = parse(r.body);
	const char *id = jstr(resp, "decision_id");
	assert_true(hd_wait_for(D.declog, id, 3000));
	char *log = hd_slurp(D.declog, NULL);
	size_t lines = 0;
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *j = parse(line);
		static const char *const keys[] = { "time", "decision_id", "request_id", "ruleset",
			"revision", "decision", "methods", "rules", "latency_us" };
		assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			assert_non_null(json_object_get(j, keys[k]));
		if (strcmp(jstr(j, "decision_id"), id) == 0) {
			assert_string_equal(jstr(j, "decision"), "YELLOW");
			assert_string_equal(jstr(j, "request_id"), jstr(resp, "request_id"));
			assert_string_equal(jstr(j, "revision"), jstr(resp, "ruleset.revision"));
			json_t *m = json_object_get(j, "methods");
			assert_int_equal(json_array_size(m), json_array_size(json_object_get(resp, "idv_methods")));
			assert_string_equal(json_string_value(json_array_get(m, 0)), "IN_APP");
			assert_true(json_array_size(json_object_get(j, "rules")) >= 1);
		}
		json_decref(j);
		lines++;
	}
	assert_true(lines >= 1);
	free(log);
	json_decref(resp);
	hresp_free(&r);
}

static void test_decision_log_reopen(void **state)
{
	(void)state;
	hresp r;
	char rotated[256];
	snprintf(rotated, sizeof(rotated), "%s.1", D.declog);
	post_decision(hd_green_req, &r);
	hresp_free(&r);
	assert_int_equal(rename(D.declog, rotated), 0);
	kill(D.pid, SIGUSR1);
	assert_true(hd_wait_for(D.stderr_log, "decision log reopened", 3000));
	post_decision(yellow_req, &r);
	json_t *j = parse(r.body);
	assert_true(hd_wait_for(D.declog, jstr(j, "decision_id"), 3000));
	json_decref(j);
	hresp_free(&r);
	char *old = hd_slurp(rotated, NULL);
	assert_non_null(old);
	assert_true(hd_count(old, "\n") >= 1);
	free(old);
}

/* ---- configuration ------------------------------------------------------------ */

static void check_config(const char *text, int want_rc, const char *want_msg)
{
	char path[256];
	char *out, *err;
	snprintf(path, sizeof(path), "%s/check.json", D.dir);
	hd_write(path, text);
	int rc = hd_run(&out, &err, "--check-config", "-c", path, NULL);
	if (rc != want_rc || !strstr(want_rc ? err : out, want_msg))
		fail_msg("check-config: exit %d (wanted %d), wanted \"%s\"\nstdout: %s\nstderr: %s\nconfig: %s",
		         rc, want_rc, want_msg, out, err, text);
	free(out);
	free(err);
}

static void test_check_config(void **state)
{
	(void)state;
	char *good = hd_slurp(D.config, NULL);
	char buf[4096];
	check_config(good, 0, "configuration OK");
	check_config("{\"rules\": \"rules.rules\", \"limts\": {}}", 78, "unknown key \"limts\"");
	check_config("{\"rules\": \"rules.rules\", \"limits\": {\"max_body_bytes\": 10}}", 78,
	             "limits.max_body_bytes: must be an integer from 1024 to 1048576");
	check_config("{\"rules\": \"rules.rules\", \"limits\": {\"max_json_depth\": 99}}", 78,
	             "limits.max_json_depth");
	check_config("{\"rules\": \"rules.rules\", \"listen\": \"localhost\"}", 78, "listen:");
	check_config("{\"rules\": \"nope.rules\"}", 78, "rules: cannot read");
	check_config("{\"limits\": {}}", 78, "rules: missing");
	check_config("{\"rules\": \"rules.rules\",", 78, "line 1");
	check_config("{\"rules\": \"rules.rules\", \"log\": {\"level\": \"loud\"}}", 78, "log.level");
	check_config("{\"rules\": \"rules.rules\", \"issuer\": {\"app_idd\": \"x\"}}", 78, "issuer");
	check_config("{\"rules\": \"rules.rules\", \"plugins\": {\"load\": [{\"module\": \"/nonexistent/x.so\"}]}}",
	             78, "plugins:");
	/* The "cases" section is checked as a start would open it, without
	 * creating the database. */
	check_config("{\"rules\": \"rules.rules\", \"cases\": []}", 78, "cases: must be an object");
	check_config("{\"rules\": \"rules.rules\", \"cases\": {\"path\": \"c.db\", \"ttl_seconds\": 0}}", 78,
	             "cases.ttl_seconds: must be an integer from 1 to 2592000");
	check_config("{\"rules\": \"rules.rules\", \"cases\": {\"path\": \"c.db\", \"ttl\": 5}}", 78,
	             "cases.ttl: unknown key");
	check_config("{\"rules\": \"rules.rules\", \"cases\": {\"ttl_seconds\": 5}}", 78, "cases.path: is required");
	check_config("{\"rules\": \"rules.rules\", \"cases\": {\"path\": \"/nonexistent/dir/c.db\"}}", 78,
	             "cases.path: cannot create a file beside /nonexistent/dir/c.db");
	check_config("{\"rules\": \"rules.rules\", \"cases\": {\"path\": \"c.db\","
	             " \"webhook\": {\"url\": \"ftp://x\"}}}", 78, "cases.webhook.url");
	check_config("{\"rules\": \"rules.rules\", \"lifecycle\": {\"workers\": 0}}", 78,
	             "lifecycle.workers: must be an integer from 1 to 256");
	check_config("{\"rules\": \"rules.rules\", \"lifecycle\": {\"token_file\": \"nope\"}}", 78,
	             "lifecycle.token_file: cannot open");
	check_config("{\"rules\": \"rules.rules\", \"cases\": {\"path\": \"c.db\"}}", 0, "cases         ");
	snprintf(buf, sizeof(buf), "%s/c.db", D.dir);
	struct stat st;
	assert_int_equal(stat(buf, &st), -1);
	/* A rules file that does not compile: the error names file:line. */
	snprintf(buf, sizeof(buf), "%s/broken.rules", D.dir);
	hd_write(buf, "ruleset \"b\"\nmethod CUSTOMER_SERVICE always\nrule r \"r\" when card.nope == 1 then decline\n");
	check_config("{\"rules\": \"broken.rules\"}", 78, "broken.rules:3:");
	free(good);

	/* Starting with a bad configuration: a clear error, a non-zero exit. */
	char *out, *err;
	snprintf(buf, sizeof(buf), "%s/bad.json", D.dir);
	hd_write(buf, "{\"rules\": \"rules.rules\", \"limits\": {\"max_connections\": 0}}");
	int rc = hd_run(&out, &err, "-c", buf, NULL);
	assert_int_equal(rc, 78);
	assert_non_null(strstr(err, "\"level\":\"error\""));
	assert_non_null(strstr(err, "limits.max_connections"));
	free(out);
	free(err);
	rc = hd_run(&out, &err, "--bogus", NULL);
	assert_int_equal(rc, 2);
	free(out);
	free(err);
}

#ifdef BUILDDIR
/* The shipped example is a valid configuration, once pointed at this tree. */
static void test_example_config(void **state)
{
	(void)state;
	char path[256], declog[256];
	json_error_t e;
	json_t *c = json_load_file(SRCDIR "/daemon/stepupd.example.json", 0, &e);
	assert_non_null(c);
	snprintf(declog, sizeof(declog), "%s/example-decisions.log", D.dir);
	json_object_set_new(c, "rules", json_string(SRCDIR "/rules/default.rules"));
	json_object_set_new(json_object_get(c, "decision_log"), "path", json_string(declog));
	json_object_del(json_object_get(c, "admin"), "token_file");
	json_t *pp = json_array();
	json_array_append_new(pp, json_string(BUILDDIR "/plugins/.libs"));
	json_object_set_new(json_object_get(c, "plugins"), "path", pp);
	/* The case store and the webhook key in the scratch directory; the
	 * issuer token file is left out like the admin one. */
	char db[256], key[256];
	snprintf(db, sizeof(db), "%s/example-cases.db", D.dir);
	snprintf(key, sizeof(key), "%s/webhook.key", D.dir);
	hd_write(key, "example-webhook-signing-key\n");
	json_t *cases = json_object_get(c, "cases");
	assert_non_null(cases);
	json_object_set_new(cases, "path", json_string(db));
	json_object_set_new(json_object_get(cases, "webhook"), "secret_file", json_string(key));
	json_object_del(json_object_get(c, "lifecycle"), "token_file");
	snprintf(path, sizeof(path), "%s/example.json", D.dir);
	assert_int_equal(json_dump_file(c, path, 0), 0);
	json_decref(c);
	char *out, *err;
	int rc = hd_run(&out, &err, "--check-config", "-c", path, NULL);
	if (rc != 0 || !strstr(out, "configuration OK") || !strstr(out, db))
		fail_msg("example config: exit %d\n%s\n%s", rc, out, err);
	free(out);
	free(err);
	/* Checking never creates the database, nor leaves a scratch file. */
	struct stat st;
	assert_int_equal(stat(db, &st), -1);
	DIR *dir = opendir(D.dir);
	assert_non_null(dir);
	for (struct dirent *de; (de = readdir(dir));)
		if (strstr(de->d_name, "stepupd-check"))
			fail_msg("--check-config left %s behind", de->d_name);
	closedir(dir);
}
#endif

/* ---- admin access ----------------------------------------------------------------- */

static void test_admin_token(void **state)
{
	(void)state;
	hd saved = D;
	char tok[256], extra[512];
	assert_int_equal(hd_init(&D), 0);
	snprintf(tok, sizeof(tok), "%s/admin.token", D.dir);
	hd_write(tok, "s3cret-token-0123456789abcdef\n");
	chmod(tok, 0600);
	snprintf(extra, sizeof(extra), "\"admin\": {\"allow_loopback\": false, \"token_file\": \"%s\"}", tok);
	assert_int_equal(hd_write_default_config(&D, "info", NULL, extra), 0);
	assert_int_equal(hd_start(&D), 0);
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 403, "forbidden");
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0,
	        "Authorization: Bearer s3cret-token-0123456789abcdeX", &r);
	assert_error(&r, 403, "forbidden");
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0,
	        "Authorization: Bearer s3cret-token-0123456789abcdef", &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	/* The token never reaches the logs. */
	stop_clean();
	char *e = hd_slurp(D.stderr_log, NULL);
	assert_null(strstr(e, "s3cret"));
	free(e);
	/* A token file others can read is refused. */
	chmod(tok, 0644);
	char *out, *err;
	int rc = hd_run(&out, &err, "--check-config", "-c", D.config, NULL);
	assert_int_equal(rc, 78);
	assert_non_null(strstr(err, "chmod 600"));
	free(out);
	free(err);
	hd_rmdir(&D);
	D = saved;
}

/* ---- reload ---------------------------------------------------------------------- */

/* Two rulesets whose decisions tell them apart: under A an active card is
 * RED by a_declines, under B it is GREEN by b_approves. A response mixing
 * the two (B's revision with A's rule, say) would show. B declines closed
 * cards, so that the reload guards (a ruleset with decline rules is not
 * replaced by one without) let the test go back and forth. */
static const char rules_a[] =
	"ruleset \"rev-a\"\nmethod CUSTOMER_SERVICE always\n"
	"rule a_declines \"A declines active cards\"\n  when card.state == ACTIVE\n  then decline\n";
static const char rules_b[] =
	"ruleset \"rev-b\"\nmethod CUSTOMER_SERVICE always\n"
	"rule b_approves \"B approves active cards\"\n  when card.state == ACTIVE\n  then approve\n"
	"rule b_declines \"B declines closed cards\"\n  when card.state == CLOSED\n  then decline\n";
static char rev_a[80], rev_b[80];

static int revision_of(const char *src, char *out)
{
	char path[256], err[256];
	stepup_ruleset *rs;
	snprintf(path, sizeof(path), "%s/probe.rules", D.dir);
	hd_write(path, src);
	if (stepup_ruleset_load(path, &rs, err, sizeof(err)) != STEPUP_OK)
		return -1;
	snprintf(out, 80, "%s", stepup_ruleset_revision(rs));
	stepup_ruleset_unref(rs);
	return 0;
}

static int reload_setup(void **state)
{
	(void)state;
	/* From the default rules (14) to A (1) is a drop the guard would
	 * refuse; these tests are about reloading, not the guards. */
	if (start("info", NULL, "\"reload\": {\"max_rule_drop_percent\": 100}") < 0 || revision_of(rules_a, rev_a) < 0 ||
	    revision_of(rules_b, rev_b) < 0)
		return -1;
	/* Start on A: the first reload of the test moves to B. */
	hd_write(D.rules, rules_a);
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	int ok = r.status == 200;
	hresp_free(&r);
	return ok ? 0 : -1;
}

/* A client thread sending decisions on one keep-alive connection. */
struct hammer {
	pthread_t t;
	int stop;              /* atomic */
	int stop_on_refused;   /* shutdown test: a refused connection ends the run */
	unsigned sent, failed, mixed, seen_a, seen_b, refused;
	char first_problem[512];
};

static void problem(struct hammer *h, const char *what, const hresp *r)
{
	if (!h->first_problem[0])
		snprintf(h->first_problem, sizeof(h->first_problem), "%s (status %ld, curl %d): %.300s",
		         what, r->status, r->curl_rc, r->body ? r->body : "");
}

/* One revision per response, and the decision that revision makes. */
static void check_mixing(struct hammer *h, const hresp *r)
{
	json_error_t e;
	json_t *j = json_loads(r->body, 0, &e);
	if (!j || hd_count(r->body, "\"revision\"") != 1) {
		h->mixed++;
		problem(h, "not exactly one revision", r);
		json_decref(j);
		return;
	}
	const char *rev = jstr(j, "ruleset.revision"), *dec = jstr(j, "decision");
	json_t *reasons = json_object_get(j, "reasons");
	const char *rule = json_string_value(json_object_get(json_array_get(reasons, 0), "rule"));
	int a = rev && strcmp(rev, rev_a) == 0, b = rev && strcmp(rev, rev_b) == 0;
	if (a && json_array_size(reasons) == 1 && !strcmp(dec, "RED") && !strcmp(rule, "a_declines"))
		h->seen_a++;
	else if (b && json_array_size(reasons) == 1 && !strcmp(dec, "GREEN") && !strcmp(rule, "b_approves"))
		h->seen_b++;
	else if (a || b || !h->stop_on_refused) {
		h->mixed++;
		problem(h, "decision does not match its revision", r);
	}
	json_decref(j);
}

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	hclient *c = hc_new();
	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		hresp r;
		hd_http(&D, c, "POST", "/v1/decisions", JSON_CT, hd_green_req, strlen(hd_green_req), NULL, &r);
		if (h->stop_on_refused && r.curl_rc == CURLE_COULDNT_CONNECT) {
			h->refused++;
			hresp_free(&r);
			break;
		}
		h->sent++;
		if (r.curl_rc != 0 || r.status != 200) {
			h->failed++;
			problem(h, "request failed", &r);
		} else {
			check_mixing(h, &r);
		}
		hresp_free(&r);
	}
	hc_free(c);
	return NULL;
}

static void test_reload_in_flight(void **state)
{
	(void)state;
	enum { NT = 4, NRELOAD = 12 };
	struct hammer hs[NT];
	memset(hs, 0, sizeof(hs));
	long long ok0 = metric("stepupd_reloads_total{result=\"success\"}");
	char rotated[256];
	snprintf(rotated, sizeof(rotated), "%s.1", D.declog);
	for (int i = 0; i < NT; i++)
		pthread_create(&hs[i].t, NULL, hammer_main, &hs[i]);
	hd_sleep_ms(100);
	for (int k = 1; k <= NRELOAD; k++) {
		const char *src = k % 2 ? rules_b : rules_a;
		const char *want = k % 2 ? "rev-b" : "rev-a";
		assert_int_equal(hd_write(D.rules, src), 0);
		if (k % 3 == 0) {
			/* Generation 1 at start, 2 after the setup's reload. */
			char needle[64];
			snprintf(needle, sizeof(needle), "\"generation\":%d,", k + 2);
			kill(D.pid, SIGHUP);
			if (!hd_wait_for(D.stderr_log, needle, 5000))
				fail_msg("SIGHUP reload %d not logged", k);
		} else {
			hresp r;
			hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
			if (r.status != 200 || !strstr(r.body, want))
				fail_msg("reload %d: %ld %s", k, r.status, r.body);
			hresp_free(&r);
		}
		if (k == NRELOAD / 2) {
			/* Log rotation under the same load. */
			assert_int_equal(rename(D.declog, rotated), 0);
			kill(D.pid, SIGUSR1);
		}
		hd_sleep_ms(120);
	}
	unsigned sent = 0, failed = 0, mixed = 0, a = 0, b = 0;
	for (int i = 0; i < NT; i++) {
		__atomic_store_n(&hs[i].stop, 1, __ATOMIC_RELAXED);
		pthread_join(hs[i].t, NULL);
		sent += hs[i].sent;
		failed += hs[i].failed;
		mixed += hs[i].mixed;
		a += hs[i].seen_a;
		b += hs[i].seen_b;
		if (hs[i].first_problem[0])
			fprintf(stderr, "thread %d: %s\n", i, hs[i].first_problem);
	}
	fprintf(stderr, "# reload under load: %u requests during %d reloads: %u decided by A, %u by B\n",
	        sent, NRELOAD, a, b);
	assert_int_equal(failed, 0);
	assert_int_equal(mixed, 0);
	assert_true(sent >= 40);
	assert_true(a > 0 && b > 0);
	assert_int_equal(a + b, sent);
	assert_int_equal(metric("stepupd_reloads_total{result=\"success\"}"), ok0 + NRELOAD);
	/* Every replaced generation is freed once its requests are done. */
	long long end = hd_now_ms() + 3000;
	size_t retired = 0;
	while (hd_now_ms() < end) {
		char *log = hd_slurp(D.stderr_log, NULL);
		retired = hd_count(log, "\"msg\":\"generation retired\"");
		free(log);
		if (retired == NRELOAD + 1)
			break;
		hd_sleep_ms(20);
	}
	assert_int_equal(retired, NRELOAD + 1);

	/* Every decision is in one of the two files, once. No clock: a
	 * reopen first writes every line appended before it (declog.c), so a
	 * second SIGUSR1 after the last answer is a barrier; its log line
	 * says it is done. */
	assert_true(hd_wait_for(D.stderr_log, "decision log reopened", 10000));
	kill(D.pid, SIGUSR1);
	end = hd_now_ms() + 120000;  /* hang guard */
	for (;;) {
		char *log = hd_slurp(D.stderr_log, NULL);
		size_t reopened = log ? hd_count(log, "\"msg\":\"decision log reopened\"") : 0;
		free(log);
		if (reopened >= 2 || hd_now_ms() > end)
			break;
		hd_sleep_ms(20);
	}
	char *before = hd_slurp(rotated, NULL), *after = hd_slurp(D.declog, NULL);
	size_t lines = (before ? hd_count(before, "\n") : 0) + (after ? hd_count(after, "\n") : 0);
	free(before);
	free(after);
	assert_int_equal(lines, sent);
}

static void test_reload_broken(void **state)
{
	(void)state;
	hresp r;
	/* The last reload above loaded A. */
	assert_int_equal(hd_write(D.rules, "ruleset \"broken\"\nmethod CUSTOMER_SERVICE always\n"
	                                   "rule r \"r\" when card.nope == ACTIVE then decline\n"), 0);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 422, "reload_failed");
	if (!strstr(r.body, "rules.rules:3:"))
		fail_msg("reload error does not name the line: %s", r.body);
	hresp_free(&r);
	post_decision(hd_green_req, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, rev_a));
	hresp_free(&r);
	assert_int_equal(metric("stepupd_reloads_total{result=\"failure\"}"), 1);
	assert_int_equal(metric("stepupd_reload_last_success"), 0);
	assert_true(hd_wait_for(D.stderr_log, "reload failed; still serving the previous ruleset", 2000));
	assert_true(hd_wait_for(D.stderr_log, "rules.rules:3:", 100));

	/* The same by SIGHUP. */
	kill(D.pid, SIGHUP);
	long long end = hd_now_ms() + 3000;
	while (metric("stepupd_reloads_total{result=\"failure\"}") < 2 && hd_now_ms() < end)
		hd_sleep_ms(20);
	assert_int_equal(metric("stepupd_reloads_total{result=\"failure\"}"), 2);

	/* A broken configuration file, good rules: refused too. */
	char *cfg = hd_slurp(D.config, NULL);
	hd_write(D.rules, rules_b);
	hd_write(D.config, "{\"rules\": \"rules.rules\", \"limts\": {}}");
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 422, "reload_failed");
	assert_non_null(strstr(r.body, "unknown key \\\"limts\\\""));
	hresp_free(&r);
	post_decision(hd_green_req, &r);
	assert_non_null(strstr(r.body, rev_a));
	hresp_free(&r);

	/* Fixed: the next reload succeeds. */
	hd_write(D.config, cfg);
	free(cfg);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	assert_int_equal(metric("stepupd_reload_last_success"), 1);
	post_decision(hd_green_req, &r);
	assert_non_null(strstr(r.body, rev_b));
	hresp_free(&r);
}

/* ---- shutdown ---------------------------------------------------------------------- */

struct slow_req {
	pthread_t t;
	pthread_barrier_t *b1, *b2;
	int ok;
	char id[32];
	char why[256];
};

/* Half a request before SIGTERM, the rest after: it must be answered. */
static void *slow_main(void *arg)
{
	struct slow_req *s = arg;
	char body[2048], head[256];
	snprintf(body, sizeof(body), "%s", hd_green_req);
	memcpy(strstr(body, "req-green-1"), s->id, strlen(s->id));
	snprintf(head, sizeof(head), "POST /v1/decisions HTTP/1.1\r\nHost: t\r\n"
	         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen(body));
	int fd = hd_connect(&D);
	size_t half = strlen(body) / 2;
	int sent_ok = fd >= 0 && send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head) &&
	              send(fd, body, half, MSG_NOSIGNAL) == (ssize_t)half;
	pthread_barrier_wait(s->b1);
	pthread_barrier_wait(s->b2);
	if (sent_ok && send(fd, body + half, strlen(body) - half, MSG_NOSIGNAL) ==
	               (ssize_t)(strlen(body) - half)) {
		char *resp;
		hd_read_all(fd, 10000, &resp, NULL);
		s->ok = strstr(resp, "HTTP/1.1 200") && strstr(resp, "\"decision_id\"") &&
		        strcasestr(resp, "Connection: close");
		if (!s->ok)
			snprintf(s->why, sizeof(s->why), "%.200s", resp);
		free(resp);
	} else {
		snprintf(s->why, sizeof(s->why), "could not send");
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_sigterm_in_flight(void **state)
{
	(void)state;
	enum { NSLOW = 8, NHAMMER = 3 };
	struct slow_req ss[NSLOW];
	struct hammer hs[NHAMMER];
	pthread_barrier_t b1, b2;
	assert_int_equal(start("info", NULL, NULL), 0);
	pthread_barrier_init(&b1, NULL, NSLOW + 1);
	pthread_barrier_init(&b2, NULL, NSLOW + 1);
	memset(ss, 0, sizeof(ss));
	memset(hs, 0, sizeof(hs));
	for (int i = 0; i < NHAMMER; i++) {
		hs[i].stop_on_refused = 1;
		pthread_create(&hs[i].t, NULL, hammer_main, &hs[i]);
	}
	for (int i = 0; i < NSLOW; i++) {
		ss[i].b1 = &b1;
		ss[i].b2 = &b2;
		snprintf(ss[i].id, sizeof(ss[i].id), "slow-%02d-abc", i);  /* as long as req-green-1 */
		pthread_create(&ss[i].t, NULL, slow_main, &ss[i]);
	}
	int probe = hd_connect(&D);  /* an open connection, idle until after SIGTERM */
	assert_true(probe >= 0);
	pthread_barrier_wait(&b1);
	hd_sleep_ms(100);
	pid_t pid = D.pid;
	kill(pid, SIGTERM);
	hd_sleep_ms(300);
	int fd = hd_connect(&D);  /* not accepting any more */
	if (fd >= 0)
		close(fd);
	assert_true(fd < 0);
	/* Draining: not ready, and the answer asks the client to go away. */
	const char *ready = "GET /health/ready HTTP/1.1\r\nHost: t\r\n\r\n";
	char *got;
	assert_int_equal(send(probe, ready, strlen(ready), MSG_NOSIGNAL), (ssize_t)strlen(ready));
	hd_read_all(probe, 3000, &got, NULL);
	close(probe);
	if (!strstr(got, "HTTP/1.1 503") || !strstr(got, "shutting down") ||
	    !strcasestr(got, "Connection: close"))
		fail_msg("readiness while draining: %s", got);
	free(got);
	pthread_barrier_wait(&b2);
	for (int i = 0; i < NSLOW; i++) {
		pthread_join(ss[i].t, NULL);
		if (!ss[i].ok)
			fail_msg("in-flight request %d not answered: %s", i, ss[i].why);
	}
	unsigned sent = 0;
	for (int i = 0; i < NHAMMER; i++) {
		pthread_join(hs[i].t, NULL);
		sent += hs[i].sent;
		if (hs[i].failed || hs[i].mixed)
			fail_msg("keep-alive client %d: %u failed: %s", i, hs[i].failed, hs[i].first_problem);
		assert_int_equal(hs[i].refused, 1);
	}
	fprintf(stderr, "# shutdown: %d half-sent requests answered after SIGTERM, "
	        "%u keep-alive requests answered, none failed\n", NSLOW, sent);
	int st;
	assert_int_equal(hd_signal_wait(&D, 0, 10000, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* Every answered decision is in the decision log (flushed at exit). */
	char *log = hd_slurp(D.declog, NULL);
	for (int i = 0; i < NSLOW; i++)
		assert_non_null(strstr(log, ss[i].id));
	assert_int_equal(hd_count(log, "\n"), sent + NSLOW);
	free(log);
	assert_true(hd_wait_for(D.stderr_log, "\"msg\":\"stopped\"", 100));
	pthread_barrier_destroy(&b1);
	pthread_barrier_destroy(&b2);
	hd_rmdir(&D);
}

/* ---- canary -------------------------------------------------------------------------- */

/* Card and contact data sent through every endpoint, at debug level, must
 * not appear in any log, file or response. */
#define CANARY_PAN "4111111111111111"
#define CANARY_PHONE "+14155559876"
#define CANARY_EMAIL "canary.person@example.org"

static const char canary_req[] =
	"{\"request_id\":\"canary-1\",\"tsp\":\"VTS\",\"channel\":\"XPAY_WALLET\","
	"\"card\":{\"pan\":\"" CANARY_PAN "\",\"csc\":\"123\",\"state\":\"ACTIVE\","
	"\"capture_method\":\"MANUAL\",\"csc_result\":\"MATCH\"},"
	"\"end_user\":{\"phone\":\"" CANARY_PHONE "\",\"email\":\"" CANARY_EMAIL "\",\"app_enrolled\":true},"
	"\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":3,"
	"\"unknown_field\":\"" CANARY_PAN " " CANARY_EMAIL "\"}}";

static char *seen;  /* every response, headers and body */
static size_t seen_len;

static void collect(const char *s)
{
	size_t n = strlen(s);
	seen = realloc(seen, seen_len + n + 2);
	memcpy(seen + seen_len, s, n);
	seen_len += n;
	seen[seen_len++] = '\n';
	seen[seen_len] = '\0';
}

static void must_not_contain(const char *what, const char *text)
{
	static const char *const secrets[] = {
		CANARY_PAN, "41111111", CANARY_PHONE, "4155559876", CANARY_EMAIL, "canary.person",
		"\"123\"", "csc\":\"123", "csc=123",
	};
	assert_non_null(text);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		const char *p = strstr(text, secrets[i]);
		if (p)
			fail_msg("%s contains \"%s\": ...%.300s", what, secrets[i], p - text > 100 ? p - 100 : text);
	}
}

static void canary_http(const char *method, const char *path, const char *ct, const char *body,
                        const char *hdr, long want)
{
	hresp r;
	hd_http(&D, NULL, method, path, ct, body, body ? strlen(body) : 0, hdr, &r);
	if (r.status != want)
		fail_msg("%s %s: %ld, wanted %ld: %s", method, path, r.status, want, r.body);
	collect(r.headers);
	collect(r.body);
	hresp_free(&r);
}

static void canary_raw(const char *raw)
{
	char *got;
	int fd = hd_connect(&D);
	assert_true(fd >= 0);
	send(fd, raw, strlen(raw), MSG_NOSIGNAL);
	hd_read_all(fd, 3000, &got, NULL);
	close(fd);
	collect(got);
	free(got);
}

static char *patched(const char *from, const char *to)
{
	char *s = malloc(sizeof(canary_req) + strlen(to));
	const char *p = strstr(canary_req, from);
	size_t pre = (size_t)(p - canary_req);
	memcpy(s, canary_req, pre);
	strcpy(s + pre, to);
	strcat(s, p + strlen(from));
	return s;
}

static void test_canary(void **state)
{
	(void)state;
	char buf[4096];
	assert_int_equal(start("debug", NULL, NULL), 0);
	canary_http("POST", "/v1/decisions", JSON_CT, canary_req, "X-Card: " CANARY_PAN, 200);
	char *bad = patched("\"state\":\"ACTIVE\"", "\"state\":\"" CANARY_PAN "\"");
	canary_http("POST", "/v1/decisions", JSON_CT, bad, NULL, 400);
	free(bad);
	bad = patched("\"csc\":\"123\"", "\"csc\":\"123x\"");
	canary_http("POST", "/v1/decisions", JSON_CT, bad, NULL, 400);
	free(bad);
	bad = patched("\"canary-1\"", "\"" CANARY_PAN "\"");
	canary_http("POST", "/v1/decisions", JSON_CT, bad, NULL, 400);
	free(bad);
	bad = patched("\"phone\":\"" CANARY_PHONE "\"", "\"phone\":\"" CANARY_PHONE "x\"");
	canary_http("POST", "/v1/decisions", JSON_CT, bad, NULL, 400);
	free(bad);
	bad = patched("\"email\":\"" CANARY_EMAIL "\"", "\"email\":\"canary.person.example.org\"");
	canary_http("POST", "/v1/decisions", JSON_CT, bad, NULL, 400);
	free(bad);
	snprintf(buf, sizeof(buf), "%.*s", (int)strlen(canary_req) - 3, canary_req);  /* malformed */
	canary_http("POST", "/v1/decisions", JSON_CT, buf, NULL, 400);
	bad = patched("\"device_score\":3", "\"deep\":[[[[[[[[[\"" CANARY_PAN "\",\"123\"]]]]]]]]]");
	canary_http("POST", "/v1/decisions", JSON_CT, bad, NULL, 400);
	free(bad);
	char *big = malloc(80000);
	snprintf(big, 80000, "%s", canary_req);
	size_t n = strlen(big);
	memset(big + n - 1, ' ', 79000 - n);
	strcpy(big + 79000 - 1, "}");
	canary_http("POST", "/v1/decisions", JSON_CT, big, NULL, 413);
	free(big);
	canary_http("POST", "/v1/decisions", "text/plain", canary_req, NULL, 415);
	canary_http("GET", "/v1/decisions?pan=" CANARY_PAN "&csc=123", NULL, NULL, NULL, 405);
	canary_http("GET", "/cards/" CANARY_PAN "/csc/123?email=" CANARY_EMAIL, NULL, NULL, NULL, 404);
	canary_http("POST", "/health/live", JSON_CT, canary_req, NULL, 405);
	canary_http("GET", "/health/live", NULL, NULL, "X-Card: " CANARY_PAN, 200);
	canary_http("GET", "/health/ready?csc=123", NULL, NULL, "X-Phone: " CANARY_PHONE, 200);
	/* The body of a reload is {} or {"force": true}: anything else is
	 * refused, and not quoted back. */
	canary_http("POST", "/v1/admin/reload", JSON_CT, canary_req, "Authorization: Bearer " CANARY_PAN, 400);
	canary_raw(CANARY_PAN " /v1/decisions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	canary_raw("GET /" CANARY_PAN " HTTP/1.1\r\nHost: t\r\nX-CSC: 123\r\nConnection: close\r\n\r\n");
	canary_raw("POST /v1/decisions HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n");
	canary_raw("GARBAGE " CANARY_PAN " " CANARY_EMAIL "\r\n\r\n");
	snprintf(buf, sizeof(buf), "POST /v1/decisions?csc=123 HTTP/1.1\r\nHost: t\r\n"
	         "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	         strlen(canary_req), canary_req);
	canary_raw(buf);
	canary_http("GET", "/metrics", NULL, NULL, "Cookie: pan=" CANARY_PAN, 200);
	must_not_contain("the responses", seen);
	/* The masked forms are what a response may carry. */
	assert_non_null(strstr(seen, "+1 *** *** 9876"));
	free(seen);
	seen = NULL;
	seen_len = 0;
	stop_clean();

	static const char *const files[] = { "stderr.log", "stdout.log", "decisions.log", "port" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", D.dir, files[i]);
		char *text = hd_slurp(path, NULL);
		must_not_contain(files[i], text);
		free(text);
	}
	/* Not vacuous: the debug log and the decision log did record it all. */
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_true(hd_count(log, "\"msg\":\"request\"") >= 15);
	assert_non_null(strstr(log, "\"field\":\"card.csc\""));
	free(log);
	assert_true(hd_wait_for(D.declog, "\"request_id\":\"canary-1\"", 100));
	hd_rmdir(&D);
}

/* ---- plugins ------------------------------------------------------------------------ */

#ifdef PLUGIN_DIR
/* The fake "channel" plugin (tests/plugins/channel.c) serves OTP_SMS;
 * its configuration says whether its health check fails. */
static void write_plugin_config(const char *fail)
{
	char extra[1024];
	snprintf(extra, sizeof(extra),
	         "\"plugins\": {\"load\": [{\"name\": \"sms\", \"module\": \"%s/channel.so\","
	         " \"required\": true, \"timeout_ms\": 500, \"config\": {\"fail\": \"%s\"}}],"
	         " \"methods\": {\"OTP_SMS\": \"sms\"}}", PLUGIN_DIR, fail);
	assert_int_equal(hd_write_default_config(&D, "info", NULL, extra), 0);
}

static void test_plugin_health_and_metrics(void **state)
{
	(void)state;
	hresp r;
	assert_int_equal(hd_init(&D), 0);
	write_plugin_config("can_deliver");
	assert_int_equal(hd_start(&D), 0);

	/* A required plugin that cannot deliver: not ready, and why. */
	hd_http(&D, NULL, "GET", "/health/ready", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 503, "not_ready");
	assert_non_null(strstr(r.body, "sms"));
	hresp_free(&r);
	/* Decisions go on without the method it serves. */
	post_decision(yellow_req, &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, "OTP_SMS"));
	assert_non_null(strstr(r.body, "OTP_EMAIL"));
	hresp_free(&r);
	assert_true(metric("stepupd_plugin_calls_total{plugin=\"sms\"}") >= 1);
	assert_true(metric("stepupd_plugin_errors_total{plugin=\"sms\",kind=\"error\"}") >= 1);
	assert_int_equal(metric("stepupd_ready"), 0);
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	assert_non_null(strstr(r.body, "stepupd_plugin_call_duration_seconds_bucket{plugin=\"sms\",le=\"+Inf\"}"));
	assert_non_null(strstr(r.body, "stepupd_plugin_info{plugin=\"sms\""));
	hresp_free(&r);

	/* A plugin that does not load: the reload is refused, naming it. */
	char *cfg = hd_slurp(D.config, NULL);
	char *broken = strdup(cfg);
	memcpy(strstr(broken, "channel.so"), "nothere.so", 10);
	hd_write(D.config, broken);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_error(&r, 422, "reload_failed");
	assert_non_null(strstr(r.body, "plugins:"));
	assert_non_null(strstr(r.body, "nothere.so"));
	hresp_free(&r);
	free(broken);
	free(cfg);

	/* Healthy again after a reload with a plugin that can deliver. */
	write_plugin_config("");
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	hd_http(&D, NULL, "GET", "/health/ready", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	post_decision(yellow_req, &r);
	assert_non_null(strstr(r.body, "OTP_SMS"));
	hresp_free(&r);
	stop_clean();
	hd_rmdir(&D);
}
#endif

/* A request whose body arrives after the deadline is not decided. */
static void test_deadline(void **state)
{
	(void)state;
	assert_int_equal(start("info",
	                       "{\"decision_deadline_ms\": 50, \"connection_timeout_ms\": 5000}", NULL), 0);
	char head[256];
	size_t n = strlen(hd_green_req), half = n / 2;
	snprintf(head, sizeof(head), "POST /v1/decisions HTTP/1.1\r\nHost: t\r\nContent-Type: "
	         "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
	int fd = hd_connect(&D);
	assert_true(fd >= 0);
	send(fd, head, strlen(head), MSG_NOSIGNAL);
	send(fd, hd_green_req, half, MSG_NOSIGNAL);
	hd_sleep_ms(200);
	send(fd, hd_green_req + half, n - half, MSG_NOSIGNAL);
	char *got;
	hd_read_all(fd, 3000, &got, NULL);
	close(fd);
	if (!strstr(got, "HTTP/1.1 503") || !strstr(got, "\"deadline_exceeded\""))
		fail_msg("late request: %s", got);
	free(got);
	/* In time: decided. */
	hresp r;
	post_decision(hd_green_req, &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	assert_int_equal(metric("stepupd_rejected_total{cause=\"deadline_exceeded\"}"), 1);

	/* A second daemon on the same address cannot start, and says why. */
	char cfg[256], text[512], *out, *err;
	snprintf(cfg, sizeof(cfg), "%s/second.json", D.dir);
	snprintf(text, sizeof(text), "{\"listen\": \"127.0.0.1:%u\", \"rules\": \"rules.rules\"}", D.port);
	hd_write(cfg, text);
	assert_int_equal(hd_run(&out, &err, "-c", cfg, NULL), 1);
	assert_non_null(strstr(err, "Address already in use"));
	free(out);
	free(err);
	stop_clean();
	hd_rmdir(&D);
}

/* systemd's side of Type=notify: a datagram socket in NOTIFY_SOCKET. */
static int notify_read(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	ssize_t n = recv(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0;
}

/* Wait for a notification containing `want`; the ones before it are skipped. */
static void notify_expect(int fd, const char *want)
{
	char buf[512];
	long long end = hd_now_ms() + 5000;
	while (hd_now_ms() < end)
		if (notify_read(fd, buf, sizeof(buf), 100) && strstr(buf, want))
			return;
	fail_msg("no systemd notification with %s", want);
}

static void test_systemd_notify(void **state)
{
	(void)state;
	char path[sizeof(D.dir) + 8], env_sock[sizeof(path) + 16];
	assert_int_equal(hd_init(&D), 0);
	assert_int_equal(hd_write_default_config(&D, "info", NULL, NULL), 0);
	snprintf(path, sizeof(path), "%s/notify", D.dir);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(a.sun_path));
	memcpy(a.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
	D.env[0] = env_sock;
	D.env[1] = "WATCHDOG_USEC=400000";
	assert_int_equal(hd_start(&D), 0);
	notify_expect(fd, "READY=1");
	notify_expect(fd, "WATCHDOG=1");
	kill(D.pid, SIGHUP);
	notify_expect(fd, "RELOADING=1");
	notify_expect(fd, "READY=1");
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	hresp_free(&r);
	notify_expect(fd, "RELOADING=1");
	notify_expect(fd, "READY=1");
	kill(D.pid, SIGTERM);
	notify_expect(fd, "STOPPING=1");
	int st;
	assert_int_equal(hd_signal_wait(&D, 0, 10000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fd);
	hd_rmdir(&D);
}

static int no_setup(void **state)
{
	(void)state;
	return 0;
}


int main(void)
{
	yellow_req = hd_slurp(SRCDIR "/tests/data/sample-request.json", NULL);
	if (!yellow_req)
		return 1;
	yellow_req[strcspn(yellow_req, "\n")] = '\0';
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);

	const struct CMUnitTest endpoints[] = {
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_decision_is_library_output),
		cmocka_unit_test(test_bad_field),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_lifecycle_disabled),
		cmocka_unit_test(test_admin_reload_loopback),
		cmocka_unit_test(test_slow_client),
		cmocka_unit_test(test_idle_connection_closed),
		cmocka_unit_test(test_per_ip_limit),
		cmocka_unit_test(test_decision_log),
		cmocka_unit_test(test_decision_log_reopen),
		cmocka_unit_test(test_check_config),
#ifdef BUILDDIR
		cmocka_unit_test(test_example_config),
#endif
		cmocka_unit_test(test_admin_token),
	};
	const struct CMUnitTest reload[] = {
		cmocka_unit_test(test_reload_in_flight),
		cmocka_unit_test(test_reload_broken),
	};
	const struct CMUnitTest lifecycle[] = {
		cmocka_unit_test(test_sigterm_in_flight),
		cmocka_unit_test(test_canary),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_systemd_notify),
#ifdef PLUGIN_DIR
		cmocka_unit_test(test_plugin_health_and_metrics),
#endif
	};
	int failed = cmocka_run_group_tests_name("endpoints", endpoints, group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("reload", reload, reload_setup, group_teardown);
	failed += cmocka_run_group_tests_name("shutdown, canary, plugins", lifecycle, no_setup, NULL);

	curl_global_cleanup();
	free(yellow_req);
	return failed;
}
