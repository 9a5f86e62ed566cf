/* test_plugin_crash.c: plugins that cannot take stepupd down (issue 11),
 * end to end on a real stepupd with the misbehaving fake plugin
 * tests/plugins/faulty.c.
 *
 *  - "process" isolation: 1,000+ concurrent GREEN requests while plugins
 *    crash 50 times (in can_deliver, in deliver_otp behind a Deliver OTP,
 *    in a rule function): no GREEN request fails, each crash is logged
 *    with the plugin's name and counted, the children come back; the
 *    children hold none of the daemon's descriptors.
 *  - "inline": a crash kills the daemon, and its last log line names the
 *    plugin and the call.
 *  - a crashing init(): a reload keeps the old generation and says why;
 *    --check-config reports it (status 78); a check has no side effects.
 *  - a required plugin that keeps crashing: not ready, and why.
 *  - a module replaced on disk serves its new version after a reload
 *    (/metrics says so, the revision follows its data version); one
 *    overwritten in place does not crash anything.
 *  - no head-of-line blocking: with 4 can_deliver calls hanging and 2
 *    HTTP threads, GREEN requests are all answered while the 4 calls are
 *    still blocked (checked structurally: the plugin's own files say they
 *    entered and have not left; latencies are printed, not asserted).
 *  - a plugin's processes end with the daemon, even one stuck in a call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* How a plugin's NULL dereference ends its process: a signal, except in
 * a sanitizer build (configure --enable-sanitizers), where the sanitizers
 * catch it, report it and exit with status 1. */
#if defined(__SANITIZE_ADDRESS__)
#define DIED "exited with status 1"
#define SANITIZED 1
#else
#define DIED "died of signal 11 (SIGSEGV)"
#define SANITIZED 0
#endif

#ifndef PLUGIN_DIR
#error "PLUGIN_DIR must name the directory of the built fake plugins"
#endif

#define JSON_CT "application/json"
#define CRASH_PHONE "+14155550111"    /* can_deliver crashes for it */
#define DELIVER_PHONE "+14155550122"  /* deliver_otp crashes for it */

static hd D;
static char *yellow_req;  /* tests/data/sample-request.json: YELLOW */


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

static char *metrics_text(void)
{
	hresp r;
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	char *body = r.body ? strdup(r.body) : strdup("");
	hresp_free(&r);
	return body;
}

static long long metric(const char *series)
{
	char needle[512], *text = metrics_text();
	snprintf(needle, sizeof(needle), "\n%s ", series);
	const char *p = strstr(text, needle);
	long long v = p ? atoll(p + strlen(needle)) : -1;
	free(text);
	return v;
}

static void post(hclient *c, const char *path, const char *body, hresp *r)
{
	hd_http(&D, c, "POST", path, JSON_CT, body, strlen(body), NULL, r);
}

static json_t *parse(const char *body)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	if (!j)
		fail_msg("not JSON: %s", body ? body : "(none)");
	return j;
}

static const char *decision_of(const char *body)
{
	static _Thread_local char out[16];
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	snprintf(out, sizeof(out), "%s", j && json_string_value(json_object_get(j, "decision"))
	         ? json_string_value(json_object_get(j, "decision")) : "");
	json_decref(j);
	return out;
}

static void stop_clean(void)
{
	char why[3300];
	if (hd_stop_checked(&D, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

/* The default rules with `more` appended, as the daemon's rules. */
static void write_rules(const char *more)
{
	size_t n;
	char *base = hd_slurp(SRCDIR "/rules/default.rules", &n), *all = NULL;
	assert_non_null(base);
	assert_true(asprintf(&all, "%s\n%s", base, more ? more : "") > 0);
	assert_int_equal(hd_write(D.rules, all), 0);
	free(base);
	free(all);
}

static void write_config(const char *limits, const char *plugins)
{
	assert_int_equal(hd_write_default_config(&D, "info", limits, plugins), 0);
}

static void start(const char *limits, const char *plugins)
{
	write_config(limits, plugins);
	if (hd_start_reporting(&D, "stepupd") != 0)
		fail_msg("stepupd did not start");
}

/* Files in dir whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	size_t n;
	yellow_req = hd_slurp(SRCDIR "/tests/data/sample-request.json", &n);
	while (n && (yellow_req[n - 1] == '\n' || yellow_req[n - 1] == ' '))
		yellow_req[--n] = '\0';
	return yellow_req ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(yellow_req);
	return 0;
}

/* ---- 1,000 GREEN requests during 50 crashes ------------------------------------- */

typedef struct green_arg {
	int sent, failed;
	volatile int *stop;  /* the crashes are over */
	char first_failure[512];
} green_arg;

static void *greens(void *p)
{
	green_arg *a = p;
	hclient *c = hc_new();
	/* At least 250 each, and on until the crashes are over. */
	while (a->sent < 250 || !__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
		hresp r;
		post(c, "/v1/decisions", hd_green_req, &r);
		a->sent++;
		if (r.status != 200 || strcmp(decision_of(r.body), "GREEN") != 0) {
			if (!a->failed++)
				snprintf(a->first_failure, sizeof(a->first_failure), "status %ld curl %d: %s", r.status,
				         r.curl_rc, r.body ? r.body : "");
		}
		hresp_free(&r);
		if (a->sent > 100000)
			break;  /* a hang guard */
	}
	hc_free(c);
	return NULL;
}

static long long crashes(void)
{
	long long a = metric("stepupd_plugin_crashes_total{plugin=\"faulty\"}");
	long long b = metric("stepupd_plugin_crashes_total{plugin=\"rf\"}");
	return (a < 0 ? 0 : a) + (b < 0 ? 0 : b);
}

static void test_crashes_under_load(void **state)
{
	(void)state;
	char extra[4096];
	hresp r;
	assert_int_equal(hd_init(&D), 0);
	/* Two instances of one module: "faulty" serves the methods, "rf"
	 * gives the rules a function; both in processes of their own. */
	write_rules("rule boom \"a plugin function that crashes\"\n"
	            "  when rf.crash_if(token_requestor.name) == false then decline\n");
	snprintf(extra, sizeof(extra),
	         "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"decide_timeout_ms\": 2000,"
	         " \"load\": [{\"module\": \"faulty\", \"processes\": 2, \"restart_backoff_ms\": 5,"
	         "   \"config\": {\"crash_when\": {\"can_deliver\": \"" CRASH_PHONE "\","
	         "                \"deliver_otp\": \"" DELIVER_PHONE "\"}}},"
	         "  {\"module\": \"faulty\", \"name\": \"rf\", \"processes\": 2, \"restart_backoff_ms\": 5}],"
	         " \"methods\": {\"OTP_SMS\": \"faulty\", \"IN_APP\": \"faulty\"}},"
	         "\"cases\": {\"path\": \"%s/cases.db\", \"max_otp_sends\": 100}", D.dir);
	start(NULL, extra);

	/* The children have nothing of the daemon's: its listening socket,
	 * connections, decision log, case store are all open in it. */
	post(NULL, "/v1/decisions", yellow_req, &r);
	assert_int_equal(r.status, 200);
	json_t *j = parse(r.body), *m;
	size_t i;
	const char *fds = NULL, *who = NULL;
	json_array_foreach(json_object_get(j, "idv_methods"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "type")), "IN_APP") == 0) {
			fds = json_string_value(json_object_get(m, "fds"));
			who = json_string_value(json_object_get(m, "who"));
		}
	if (!fds || strcmp(fds, "0,1,2,3,4,5") != 0)
		fail_msg("the plugin's process has descriptors %s", fds ? fds : "(none)");
	assert_non_null(strstr(who, " nnp=1 dumpable=0"));
	if (geteuid() == 0)
		assert_null(strstr(who, "uid=0 "));
	json_decref(j);
	hresp_free(&r);

	volatile int stop = 0;
	green_arg g[4];
	pthread_t t[4];
	for (int k = 0; k < 4; k++) {
		memset(&g[k], 0, sizeof(g[k]));
		g[k].stop = &stop;
		assert_int_equal(pthread_create(&t[k], NULL, greens, &g[k]), 0);
	}
	/* 50 crashes: can_deliver (a YELLOW decision for CRASH_PHONE), the
	 * rule function, deliver_otp (a Deliver OTP: 502). Each followed by a
	 * call that works, as traffic would, so restarts stay quick. */
	char *crash_yellow = replaced(yellow_req, "+14155551234", CRASH_PHONE);
	char *boom_green = replaced(hd_green_req, "APPLE_PAY", "boom");
	char *deliver_yellow = replaced(yellow_req, "+14155551234", DELIVER_PHONE);
	int kinds[3] = { 0, 0, 0 };
	long long end = hd_now_ms() + 120000;
	for (int n = 0; crashes() < 50 && hd_now_ms() < end; n++) {
		switch (n % 3) {
		case 0:
			post(NULL, "/v1/decisions", crash_yellow, &r);
			assert_int_equal(r.status, 200);
			assert_null(strstr(r.body, "\"OTP_SMS\""));  /* dropped, the rest stands */
			assert_string_equal(decision_of(r.body), "YELLOW");
			kinds[0]++;
			break;
		case 1:
			post(NULL, "/v1/decisions", boom_green, &r);
			assert_int_equal(r.status, 200);
			assert_string_equal(decision_of(r.body), "GREEN");  /* absent: boom does not fire */
			kinds[1]++;
			break;
		default: {
			post(NULL, "/v1/decisions", deliver_yellow, &r);
			assert_int_equal(r.status, 200);
			j = parse(r.body);
			char body[512];
			snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"493817\","
			         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
			         json_string_value(json_object_get(j, "decision_id")), (long long)time(NULL) + 300);
			json_decref(j);
			hresp_free(&r);
			post(NULL, "/v1/otp-deliveries", body, &r);
			if (r.status != 502)
				fail_msg("Deliver OTP through a crashing plugin: %ld %s", r.status, r.body);
			kinds[2]++;
		}
		}
		hresp_free(&r);
		post(NULL, "/v1/decisions", yellow_req, &r);  /* works */
		assert_int_equal(r.status, 200);
		hresp_free(&r);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	int sent = 0, failed = 0;
	for (int k = 0; k < 4; k++) {
		pthread_join(t[k], NULL);
		sent += g[k].sent;
		failed += g[k].failed;
		if (g[k].failed)
			print_message("first failure of client %d: %s\n", k, g[k].first_failure);
	}
	free(crash_yellow);
	free(boom_green);
	free(deliver_yellow);
	long long total = crashes();
	print_message("%d GREEN requests, %d failed, during %lld crashes (%d can_deliver, %d rule function, "
	              "%d deliver_otp)\n", sent, failed, total, kinds[0], kinds[1], kinds[2]);
	assert_true(total >= 50);
	assert_true(sent >= 1000);
	assert_int_equal(failed, 0);

	/* Each crash logged with the plugin's name; children started again. */
	size_t len;
	char *log = hd_slurp(D.stderr_log, &len);
	size_t logged = hd_count(log, DIED " during ");
	if ((long long)logged < total)
		fail_msg("%zu crash lines for %lld crashes", logged, total);
	assert_true(hd_count(log, "\"source\":\"faulty\"") > 0);
	assert_true(hd_count(log, "\"source\":\"rf\"") > 0);
	free(log);
	assert_true(metric("stepupd_plugin_restarts_total{plugin=\"faulty\"}") > 0);
	assert_true(metric("stepupd_plugin_restarts_total{plugin=\"rf\"}") > 0);
	post(NULL, "/v1/decisions", yellow_req, &r);
	assert_non_null(strstr(r.body, "\"OTP_SMS\""));  /* served again */
	hresp_free(&r);
	stop_clean();
	hd_rmdir(&D);
}

/* ---- inline: the death line ---------------------------------------------------------- */

static void test_inline_crash_names_the_plugin(void **state)
{
	(void)state;
	hresp r;
	if (SANITIZED)
		skip();  /* the sanitizers catch the crash before stepupd's handler */
	assert_int_equal(hd_init(&D), 0);
	start(NULL, "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"load\": [{\"module\": \"faulty\","
	            " \"isolation\": \"inline\", \"trusted\": true,"
	            " \"config\": {\"crash_when\": {\"can_deliver\": \"" CRASH_PHONE "\"}}}],"
	            " \"methods\": {\"OTP_SMS\": \"faulty\"}}");
	post(NULL, "/v1/decisions", hd_green_req, &r);
	assert_int_equal(r.status, 200);
	hresp_free(&r);
	char *crash = replaced(yellow_req, "+14155551234", CRASH_PHONE);
	post(NULL, "/v1/decisions", crash, &r);
	free(crash);
	assert_int_not_equal(r.status, 200);  /* the daemon went down with it */
	hresp_free(&r);
	int status = 0;
	for (long long end = hd_now_ms() + 10000; hd_now_ms() < end;) {
		if (waitpid(D.pid, &status, WNOHANG) == D.pid)
			break;
		hd_sleep_ms(10);
	}
	D.pid = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	char *log = hd_slurp(D.stderr_log, NULL);
	if (!strstr(log, "{\"level\":\"fatal\",\"msg\":\"a plugin crashed the process\",\"plugin\":\"faulty\","
	                 "\"call\":\"can_deliver\",\"signal\":\"SIGSEGV\",\"signo\":11}\n"))
		fail_msg("no death line naming the plugin in:\n%s", log);
	free(log);
	hd_rmdir(&D);
}

/* ---- init crashing: reload and --check-config --------------------------------------- */

static void test_init_crash(void **state)
{
	(void)state;
	static const char *const isos[] = { "process", "inline" };
	for (int k = 0; k < 2; k++) {
		char good[1024], bad[1024], touched[300], *out, *err;
		hresp r;
		assert_int_equal(hd_init(&D), 0);
		/* Where the plugin writes, whichever user its process runs as. */
		snprintf(touched, sizeof(touched), "%s/pub", D.dir);
		assert_int_equal(mkdir(touched, 0777), 0);
		chmod(touched, 0777);
		chmod(D.dir, 0755);
		snprintf(touched, sizeof(touched), "%s/pub/touched", D.dir);
		snprintf(good, sizeof(good), "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"load\": [{\"module\":"
		         " \"faulty\", \"isolation\": \"%s\", \"trusted\": true, \"config\": {\"touch\": \"%s\"}}],"
		         " \"methods\": {\"OTP_SMS\": \"faulty\"}}", isos[k], touched);
		snprintf(bad, sizeof(bad), "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"load\": [{\"module\":"
		         " \"faulty\", \"isolation\": \"%s\", \"trusted\": true, \"config\": {\"crash\": \"init\"}}],"
		         " \"methods\": {\"OTP_SMS\": \"faulty\"}}", isos[k]);

		/* A check of a good configuration creates nothing. */
		write_config(NULL, good);
		assert_int_equal(hd_run(&out, &err, "-c", D.config, "--check-config", NULL), 0);
		assert_non_null(strstr(out, "configuration OK"));
		free(out);
		free(err);
		assert_int_equal(access(touched, F_OK), -1);

		/* A crashing init: reported, status 78. */
		write_config(NULL, bad);
		assert_int_equal(hd_run(&out, &err, "-c", D.config, "--check-config", NULL), 78);
		if (!strstr(err, "plugins: load[0]: " PLUGIN_DIR "/faulty.so: init: its process " DIED))
			fail_msg("%s: --check-config said: %s", isos[k], err);
		free(out);
		free(err);

		/* A reload onto it: refused, why, and the old generation serves. */
		start(NULL, good);
		assert_int_equal(access(touched, F_OK), 0);
		write_config(NULL, bad);
		hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
		assert_int_equal(r.status, 422);
		const char *want = k == 0 ? "init: its process " DIED
		                          : "trial load: init: its process " DIED;
		if (!strstr(r.body, want))
			fail_msg("%s: reload said %s", isos[k], r.body);
		hresp_free(&r);
		post(NULL, "/v1/decisions", yellow_req, &r);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "\"OTP_SMS\""));  /* the old plugin still serves */
		hresp_free(&r);
		/* By SIGHUP too; the log says why. */
		kill(D.pid, SIGHUP);
		assert_true(hd_wait_for(D.stderr_log, "reload failed; still serving the previous ruleset", 20000));
		assert_true(hd_wait_for(D.stderr_log, want, 20000));
		stop_clean();
		hd_rmdir(&D);
	}
}

/* A required plugin that keeps crashing makes the daemon not ready, and
 * /health/ready says which and why; decisions go on without it. */
static void test_crash_loop_not_ready(void **state)
{
	(void)state;
	hresp r;
	assert_int_equal(hd_init(&D), 0);
	start(NULL, "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"load\": [{\"module\": \"faulty\","
	            " \"name\": \"sms\", \"required\": true, \"processes\": 1, \"restart_backoff_ms\": 10,"
	            " \"config\": {\"crash\": \"can_deliver\"}}], \"methods\": {\"OTP_SMS\": \"sms\"}}");
	/* Readiness asks the plugin at most once a second: a few seconds. */
	int unready = 0;
	for (long long end = hd_now_ms() + 30000; !unready && hd_now_ms() < end;) {
		hd_http(&D, NULL, "GET", "/health/ready", NULL, NULL, 0, NULL, &r);
		unready = r.status == 503 && r.body && strstr(r.body, "sms: keeps failing");
		if (!unready)
			hd_sleep_ms(100);
		else if (!strstr(r.body, DIED " during can_deliver"))
			fail_msg("not ready, but why: %s", r.body);
		hresp_free(&r);
	}
	assert_true(unready);
	assert_int_equal(metric("stepupd_ready"), 0);
	post(NULL, "/v1/decisions", yellow_req, &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, "\"OTP_SMS\""));
	assert_string_equal(decision_of(r.body), "YELLOW");
	hresp_free(&r);
	stop_clean();
	hd_rmdir(&D);
}

/* ---- a module replaced on disk --------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *data = hd_slurp(from, &n);
	assert_non_null(data);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	free(data);
}

static void test_module_replaced(void **state)
{
	(void)state;
	static const char *const isos[] = { "inline", "process" };
	for (int k = 0; k < 2; k++) {
		char mod[300], tmp[300], extra[1024], *text;
		hresp r;
		assert_int_equal(hd_init(&D), 0);
		snprintf(mod, sizeof(mod), "%s/mod.so", D.dir);
		snprintf(tmp, sizeof(tmp), "%s/mod.so.new", D.dir);
		copy_file(PLUGIN_DIR "/faulty.so", mod);
		write_rules("rule new_code \"the plugin's new code\" when faulty.version() == \"2.0\" then decline\n");
		snprintf(extra, sizeof(extra), "\"plugins\": {\"load\": [{\"module\": \"./mod.so\", \"isolation\": \"%s\","
		         " \"trusted\": true, \"config\": {\"data_version\": \"bins-1\"}}]}", isos[k]);
		start(NULL, extra);
		post(NULL, "/v1/decisions", hd_green_req, &r);
		assert_string_equal(decision_of(r.body), "GREEN");
		json_t *j = parse(r.body);
		char rev1[80];
		snprintf(rev1, sizeof(rev1), "%s",
		         json_string_value(json_object_get(json_object_get(j, "ruleset"), "revision")));
		json_decref(j);
		hresp_free(&r);
		text = metrics_text();
		assert_non_null(strstr(text, "stepupd_plugin_info{plugin=\"faulty\""));
		assert_non_null(strstr(text, ",version=\"1.0\","));
		assert_non_null(strstr(text, ",data_version=\"bins-1\","));
		free(text);

		/* Replaced (as a package manager does: a new file renamed over
		 * it), with new data: the reload serves the new code. */
		copy_file(PLUGIN_DIR "/faulty_v2.so", tmp);
		assert_int_equal(rename(tmp, mod), 0);
		text = hd_slurp(D.config, NULL);
		char *cfg2 = replaced(text, "bins-1", "bins-2");
		hd_write(D.config, cfg2);
		free(text);
		free(cfg2);
		hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
		assert_int_equal(r.status, 200);
		hresp_free(&r);
		post(NULL, "/v1/decisions", hd_green_req, &r);
		assert_string_equal(decision_of(r.body), "RED");
		assert_non_null(strstr(r.body, "\"rule\":\"new_code\""));
		assert_null(strstr(r.body, rev1));  /* another revision: other data */
		hresp_free(&r);
		text = metrics_text();
		assert_non_null(strstr(text, ",version=\"2.0\","));
		assert_null(strstr(text, ",version=\"1.0\","));
		assert_non_null(strstr(text, ",data_version=\"bins-2\","));
		free(text);
		assert_true(hd_wait_for(D.declog, "\"plugin_data\":{\"faulty\":\"bins-2\"}", 5000));

		/* Overwritten in place while it runs: nothing running changes. */
		int fd = open(mod, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "garbage", 7), 7);
		close(fd);
		for (int i = 0; i < 20; i++) {
			post(NULL, "/v1/decisions", hd_green_req, &r);
			assert_int_equal(r.status, 200);
			assert_string_equal(decision_of(r.body), "RED");
			hresp_free(&r);
		}
		/* Reloading onto the broken file: refused, still serving. */
		hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
		assert_int_equal(r.status, 422);
		assert_non_null(strstr(r.body, "mod.so"));
		hresp_free(&r);
		post(NULL, "/v1/decisions", hd_green_req, &r);
		assert_string_equal(decision_of(r.body), "RED");
		hresp_free(&r);
		stop_clean();
		hd_rmdir(&D);
	}
}

/* ---- no head-of-line blocking ------------------------------------------------------------ */

typedef struct hang_arg {
	long status;
	int offered_sms;
} hang_arg;

static void *hanging_yellow(void *p)
{
	hang_arg *a = p;
	hresp r;
	post(NULL, "/v1/decisions", yellow_req, &r);
	__atomic_store_n(&a->status, r.status, __ATOMIC_RELEASE);
	a->offered_sms = r.body && strstr(r.body, "\"OTP_SMS\"") != NULL;
	hresp_free(&r);
	return NULL;
}

typedef struct lat_arg {
	int n, failed;
	long long us[200];
} lat_arg;

static void *timed_greens(void *p)
{
	lat_arg *a = p;
	hclient *c = hc_new();
	for (int i = 0; i < a->n; i++) {
		hresp r;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		long long t0 = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		post(c, "/v1/decisions", hd_green_req, &r);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		a->us[i] = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - t0;
		a->failed += r.status != 200 || strcmp(decision_of(r.body), "GREEN") != 0;
		hresp_free(&r);
	}
	hc_free(c);
	return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* p99 of two clients' latencies (us), for the report. */
static long long p99(lat_arg *a, lat_arg *b)
{
	long long all[400];
	int n = 0;
	for (int i = 0; i < a->n; i++)
		all[n++] = a->us[i];
	for (int i = 0; i < b->n; i++)
		all[n++] = b->us[i];
	qsort(all, (size_t)n, sizeof(all[0]), cmp_ll);
	return all[(n * 99) / 100 - 1];
}

static void run_greens(lat_arg *a, lat_arg *b)
{
	pthread_t t[2];
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->n = b->n = 200;
	pthread_create(&t[0], NULL, timed_greens, a);
	pthread_create(&t[1], NULL, timed_greens, b);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
}

static void test_no_head_of_line_blocking(void **state)
{
	(void)state;
	char hang[256], extra[1024], release[300];
	assert_int_equal(hd_init(&D), 0);
	snprintf(hang, sizeof(hang), "%s/hang", D.dir);
	assert_int_equal(mkdir(hang, 0777), 0);
	chmod(hang, 0777);  /* the plugin's processes may run as another user */
	chmod(D.dir, 0755);
	snprintf(release, sizeof(release), "%s/release", hang);
	/* 2 HTTP threads (the harness's), 4 processes that will all hang in
	 * can_deliver, deadlines far beyond the test. */
	snprintf(extra, sizeof(extra),
	         "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"load\": [{\"module\": \"faulty\","
	         " \"processes\": 4, \"decide_timeout_ms\": 50000, \"config\": {\"hang\": \"can_deliver\","
	         " \"hang_dir\": \"%s\"}}], \"methods\": {\"OTP_SMS\": \"faulty\"}}", hang);
	start("{\"decision_deadline_ms\": 55000, \"connection_timeout_ms\": 60000, \"max_connections\": 64,"
	      " \"max_connections_per_ip\": 24}", extra);

	lat_arg idle_a, idle_b, busy_a, busy_b;
	run_greens(&idle_a, &idle_b);
	assert_int_equal(idle_a.failed + idle_b.failed, 0);

	hang_arg h[4];
	pthread_t t[4];
	for (int k = 0; k < 4; k++) {
		memset(&h[k], 0, sizeof(h[k]));
		assert_int_equal(pthread_create(&t[k], NULL, hanging_yellow, &h[k]), 0);
	}
	/* The 4 calls are in the plugin and blocked there. */
	for (long long end = hd_now_ms() + 30000; count_files(hang, "entered.") < 4 && hd_now_ms() < end;)
		hd_sleep_ms(5);
	assert_int_equal(count_files(hang, "entered."), 4);

	run_greens(&busy_a, &busy_b);
	/* Every GREEN request answered, while all 4 calls are still blocked:
	 * none has left the plugin, nobody released them. */
	assert_int_equal(busy_a.failed + busy_b.failed, 0);
	assert_int_equal(count_files(hang, "left."), 0);
	assert_int_equal(access(release, F_OK), -1);
	for (int k = 0; k < 4; k++)
		assert_int_equal(__atomic_load_n(&h[k].status, __ATOMIC_ACQUIRE), 0);  /* still waiting */
	print_message("GREEN p99 idle %lld us, with 4 can_deliver calls hanging %lld us (2 HTTP threads, "
	              "400 requests each; shared machine: informational)\n",
	              p99(&idle_a, &idle_b), p99(&busy_a, &busy_b));

	int fd = open(release, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	for (int k = 0; k < 4; k++) {
		pthread_join(t[k], NULL);
		assert_int_equal(h[k].status, 200);
		assert_true(h[k].offered_sms);
	}
	stop_clean();
	hd_rmdir(&D);
}

/* A plugin's processes end with the daemon, however it ends, even one
 * stuck in a call. */
static void test_children_end_with_the_daemon(void **state)
{
	(void)state;
	char hang[256], extra[1024];
	assert_int_equal(hd_init(&D), 0);
	snprintf(hang, sizeof(hang), "%s/hang", D.dir);
	assert_int_equal(mkdir(hang, 0777), 0);
	chmod(hang, 0777);
	chmod(D.dir, 0755);
	snprintf(extra, sizeof(extra),
	         "\"plugins\": {\"path\": [\"" PLUGIN_DIR "\"], \"load\": [{\"module\": \"faulty\","
	         " \"processes\": 1, \"decide_timeout_ms\": 50000, \"config\": {\"hang\": \"can_deliver\","
	         " \"hang_dir\": \"%s\"}}], \"methods\": {\"OTP_SMS\": \"faulty\"}}", hang);
	start("{\"decision_deadline_ms\": 55000, \"connection_timeout_ms\": 60000, \"max_connections\": 64,"
	      " \"max_connections_per_ip\": 24}", extra);
	hang_arg h;
	pthread_t t;
	memset(&h, 0, sizeof(h));
	assert_int_equal(pthread_create(&t, NULL, hanging_yellow, &h), 0);
	for (long long end = hd_now_ms() + 30000; count_files(hang, "entered.") < 1 && hd_now_ms() < end;)
		hd_sleep_ms(5);
	DIR *d = opendir(hang);
	struct dirent *e;
	pid_t child = 0;
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, "entered.", 8) == 0)
			child = (pid_t)atol(e->d_name + 8);
	closedir(d);
	assert_true(child > 0);
	assert_int_equal(kill(child, 0), 0);
	kill(D.pid, SIGKILL);
	int st;
	waitpid(D.pid, &st, 0);
	D.pid = 0;
	pthread_join(t, NULL);  /* its connection is gone */
	long long end = hd_now_ms() + 10000;
	while (kill(child, 0) == 0 && hd_now_ms() < end)
		hd_sleep_ms(20);
	assert_int_equal(kill(child, 0), -1);
	assert_int_equal(count_files(hang, "left."), 0);  /* ended in the call */
	hd_rmdir(&D);
}

/* A test that failed halfway leaves no daemon behind. */
static int stop_leftover(void **state)
{
	(void)state;
	hd_finish(&D);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_crashes_under_load, stop_leftover),
		cmocka_unit_test_teardown(test_inline_crash_names_the_plugin, stop_leftover),
		cmocka_unit_test_teardown(test_init_crash, stop_leftover),
		cmocka_unit_test_teardown(test_crash_loop_not_ready, stop_leftover),
		cmocka_unit_test_teardown(test_module_replaced, stop_leftover),
		cmocka_unit_test_teardown(test_no_head_of_line_blocking, stop_leftover),
		cmocka_unit_test_teardown(test_children_end_with_the_daemon, stop_leftover),
	};
	return cmocka_run_group_tests_name("plugins that cannot take stepupd down", tests, setup, teardown);
}
