/* plugin_fixture.c: see plugin_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stepup/error.h>

#include "plugin_fixture.h"

static const char *const *secrets;

int pf_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int64_t pf_slack_ms(void)
{
	const char *pre = getenv("LD_PRELOAD");
	return pre && strstr(pre, "vgpreload") ? 2500 : 700;
}

char *pf_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	fclose(f);
	assert_true(n > 0 && n < 65535);
	return buf;
}

int pf_load(const char *so, const char *config, su_plugin **out)
{
	char err[512];
	if (su_plugin_load(so, NULL, config, out, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "load: %s\n", err);
		return -1;
	}
	return 0;
}

int pf_group_load(const char *so, char *config, const char *const *list, su_plugin **plugin,
		  const stepup_plugin_desc **desc)
{
	int rc = pf_load(so, config, plugin);
	free(config);
	if (rc != 0)
		return -1;
	*desc = su_plugin_desc(*plugin);
	pf_set_secrets(list);
	return 0;
}

void pf_expect_refused(const char *so, const char *config, const char *want)
{
	char err[512], full[512];
	su_plugin *p = (su_plugin *)&p; /* must come back NULL */
	int rc = su_plugin_load(so, NULL, config, &p, err, sizeof(err));
	snprintf(full, sizeof(full), "%s: init failed: %s", so, want);
	if (rc != STEPUP_EPLUGIN)
		fail_msg("config %s: status %d (%s), want refusal", config, rc, err);
	assert_null(p);
	if (strcmp(err, full) != 0)
		fail_msg("config %s:\n  got  '%s'\n  want '%s'", config, err, full);
	/* The plugin's part only: the path is the build tree's, not ours. */
	pf_assert_clean(NULL, err + strlen(so));
}

void pf_set_secrets(const char *const *list)
{
	secrets = list;
}

void pf_assert_clean(test_host *h, const char *err)
{
	for (size_t k = 0; secrets && secrets[k]; k++) {
		if (err && strstr(err, secrets[k]))
			fail_msg("'%s' in the error: %s", secrets[k], err);
		const char *line = h ? test_host_log_find(h, secrets[k]) : NULL;
		if (line)
			fail_msg("'%s' in a log line: %s", secrets[k], line);
	}
}

void pf_open(pf_inst *in, const stepup_plugin_desc *desc, const char *config)
{
	char err[256] = "";
	in->desc = desc;
	test_host_init(&in->host);
	int rc = desc->init(&in->host.api, &in->host, config, &in->state, err, sizeof(err));
	if (rc != STEPUP_PLUGIN_OK)
		fail_msg("init: %d: %s (config %s)", rc, err, config);
}

void pf_open_and_free(pf_inst *in, const stepup_plugin_desc *desc, char *config)
{
	pf_open(in, desc, config);
	free(config);
}

void pf_close(pf_inst *in)
{
	in->desc->fini(in->state);
	test_host_fini(&in->host);
}

void pf_expect_elapsed(int64_t t0, int64_t lo_ms, int64_t want_ms)
{
	int64_t took = test_host_real_ms() - t0;
	if (took < lo_ms || took > want_ms + pf_slack_ms())
		fail_msg("timed out after %lld ms, want %lld (+%lld)", (long long)took, (long long)want_ms,
			 (long long)pf_slack_ms());
}

int pf_deliver(pf_inst *in, const stepup_otp_message *m, uint32_t timeout_ms, char *err, size_t errlen)
{
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, errlen, timeout_ms);
	int rc = in->desc->otp->deliver_otp(in->state, &ctx, m);
	pf_assert_clean(&in->host, err);
	return rc;
}

pf_outcome pf_run(pf_inst *in, const stepup_otp_message *m, uint32_t timeout_ms)
{
	pf_outcome o = { 0, 0, "" };
	int64_t t0 = test_host_real_ms();
	o.rc = pf_deliver(in, m, timeout_ms, o.err, sizeof(o.err));
	o.elapsed_ms = test_host_real_ms() - t0;
	return o;
}

typedef struct worker {
	pf_inst *in;
	const stepup_otp_message *m;
	uint32_t timeout_ms;
	int rc;
	char err[160];
} worker;

/* No cmocka assertion here: cmocka's failures longjmp, which is only
 * defined on the test's own thread. */
static void *deliver_thread(void *arg)
{
	worker *w = arg;
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, w->err, sizeof(w->err), w->timeout_ms);
	w->rc = w->in->desc->otp->deliver_otp(w->in->state, &ctx, w->m);
	return NULL;
}

void pf_deliver_threads(pf_inst *in, const stepup_otp_message *m, int n, uint32_t timeout_ms)
{
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	worker *w = calloc((size_t)n, sizeof(*w));
	assert_true(t && w);
	for (int k = 0; k < n; k++) {
		w[k] = (worker){ in, m, timeout_ms, -1, "" };
		assert_int_equal(pthread_create(&t[k], NULL, deliver_thread, &w[k]), 0);
	}
	for (int k = 0; k < n; k++)
		pthread_join(t[k], NULL);
	for (int k = 0; k < n; k++)
		if (w[k].rc != STEPUP_PLUGIN_OK)
			fail_msg("thread %d: %d %s", k, w[k].rc, w[k].err);
	free(t);
	free(w);
}

void pf_logsink_fn(void *ctx, int level, const char *source, const char *msg)
{
	pf_logsink *l = ctx;
	pthread_mutex_lock(&l->mu);
	if (l->n < 64)
		snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%d %s: %s", level, source, msg);
	pthread_mutex_unlock(&l->mu);
}

stepup_plugins *pf_plugins_load(const char *name, const char *so, unsigned timeout_ms, const char *method,
				const char *config, pf_logsink *logs)
{
	char *cfg = NULL, err[256] = "";
	stepup_plugins *ps = NULL;
	assert_true(asprintf(&cfg,
			     "{\"plugins\": {\"load\": [{\"name\": \"%s\", \"module\": \"%s\", \"timeout_ms\": %u,"
			     " \"config\": %s}], \"methods\": {\"%s\": \"%s\"}}}",
			     name, so, timeout_ms, config, method, name) > 0);
	int rc = stepup_plugins_load(cfg, NULL, pf_logsink_fn, logs, &ps, err, sizeof(err));
	free(cfg);
	if (rc != STEPUP_OK)
		fail_msg("stepup_plugins_load: %d: %s", rc, err);
	return ps;
}

void pf_plugins_unload(stepup_plugins *ps, pf_logsink *logs)
{
	stepup_plugins_unref(ps);
	for (size_t k = 0; k < logs->n; k++)
		pf_assert_clean(NULL, logs->lines[k]);
}

void pf_sinkd_start(pf_sinkd *s, const char *sinkd, const char *kind, const char *const *extra)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/stepup-sinkd-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->portfile, sizeof(s->portfile), "%s/port", s->dir);
	snprintf(s->out, sizeof(s->out), "%s/out", s->dir);
	assert_int_equal(mkdir(s->out, 0700), 0);
	const char *argv[16] = { sinkd, kind, "--port-file", s->portfile, "--out", s->out };
	size_t n = 6;
	for (size_t k = 0; extra && extra[k] && n < 15; k++)
		argv[n++] = extra[k];
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		execv(sinkd, (char *const *)argv);
		_exit(127);
	}
	for (int k = 0; k < 500 && !s->port; k++) {
		FILE *f = fopen(s->portfile, "r");
		if (f) {
			if (fscanf(f, "%u", &s->port) != 1)
				s->port = 0;
			fclose(f);
		}
		if (!s->port)
			usleep(10000);
	}
	assert_true(s->port > 0);
}

char *pf_sinkd_finish(pf_sinkd *s, const char *record)
{
	assert_int_equal(kill(s->pid, SIGTERM), 0);
	int status;
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	char path[192];
	snprintf(path, sizeof(path), "%s/%s", s->out, record);
	char *rec = pf_read_file(path);
	unlink(path);
	unlink(s->portfile);
	rmdir(s->out);
	rmdir(s->dir);
	return rec;
}

int pf_raw_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}
