/* plugin_fixture.h: the harness the tests of the reference plugins share
 * (test_otp_sms_http, test_otp_email_smtp, test_inapp_http, test_cs_router):
 * loading the freshly built .so, instances on a test_host (log capture,
 * test clock), calls that must leak no secret into an error or a log
 * line, refusals with an exact message, and sinkd as a process.
 *
 * Failures are cmocka failures (fail_msg / assert_*), so call these from
 * a test, not from a group setup, unless said otherwise. */
#ifndef STEPUP_PLUGIN_FIXTURE_H
#define STEPUP_PLUGIN_FIXTURE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <stepup/plugin.h>
#include <stepup/stepup.h>

#include "plugin_loader.h"
#include "test_host.h"

int pf_starts_with(const char *s, const char *prefix);

/* Slack on timing assertions: generous under valgrind, which slows
 * libcurl a lot. */
int64_t pf_slack_ms(void);

/* The whole file at path (< 64 KiB), malloc'd. */
char *pf_read_file(const char *path);

/* Load so through the real loader for a group setup: 0, or -1 with the
 * reason on stderr (cmocka assertions do not work there). */
int pf_load(const char *so, const char *config, su_plugin **out);

/* The group setup of a plugin's test: pf_load with config (malloc'd,
 * freed here), *desc set, secrets as pf_set_secrets. */
int pf_group_load(const char *so, char *config, const char *const *secrets, su_plugin **plugin,
		  const stepup_plugin_desc **desc);

/* Loading so with config must fail with exactly "<so>: init failed:
 * <want>", leave no plugin, and name no secret (pf_set_secrets). */
void pf_expect_refused(const char *so, const char *config, const char *want);

/* The strings no error or log line may contain (PII, keys), NULL-
 * terminated and static; set once per test binary. */
void pf_set_secrets(const char *const *secrets);
/* Fail if a secret is in err or in any log line of h (both may be NULL). */
void pf_assert_clean(test_host *h, const char *err);

/* A plugin instance of our own, on a test_host (not the loader's). */
typedef struct pf_inst {
	const stepup_plugin_desc *desc;
	test_host host; /* host->api is what init() got */
	void *state;
} pf_inst;

void pf_open(pf_inst *in, const stepup_plugin_desc *desc, const char *config);
/* pf_open, then free(config): for configurations built with asprintf. */
void pf_open_and_free(pf_inst *in, const stepup_plugin_desc *desc, char *config);
void pf_close(pf_inst *in);

/* Fail unless a call started at t0 (test_host_real_ms) took from lo_ms to
 * want_ms + pf_slack_ms(). */
void pf_expect_elapsed(int64_t t0, int64_t lo_ms, int64_t want_ms);

/* ---- OTP channels -------------------------------------------------------- */

/* deliver_otp with a fresh context of timeout_ms, then pf_assert_clean. */
int pf_deliver(pf_inst *in, const stepup_otp_message *m, uint32_t timeout_ms, char *err, size_t errlen);

typedef struct pf_outcome {
	int rc;
	int64_t elapsed_ms; /* real time, whatever the test clock says */
	char err[160];
} pf_outcome;

pf_outcome pf_run(pf_inst *in, const stepup_otp_message *m, uint32_t timeout_ms);

/* n threads deliver m at once through one instance; each must succeed. */
void pf_deliver_threads(pf_inst *in, const stepup_otp_message *m, int n, uint32_t timeout_ms);

/* ---- the public plugin-set API ---------------------------------------------- */

/* A stepup_plugins log sink keeping the first 64 lines. */
typedef struct pf_logsink {
	pthread_mutex_t mu;
	char lines[64][256];
	size_t n;
} pf_logsink;

#define PF_LOGSINK_INIT { .mu = PTHREAD_MUTEX_INITIALIZER }

void pf_logsink_fn(void *ctx, int level, const char *source, const char *msg);

/* stepup_plugins_load of one plugin `name` from so, with timeout_ms, its
 * config (JSON text) and serving `method` ("OTP_SMS"), logging to logs. */
stepup_plugins *pf_plugins_load(const char *name, const char *so, unsigned timeout_ms, const char *method,
				const char *config, pf_logsink *logs);
/* stepup_plugins_unref, then pf_assert_clean on every line logged. */
void pf_plugins_unload(stepup_plugins *ps, pf_logsink *logs);

/* ---- sinkd, the standalone receiver ----------------------------------------- */

typedef struct pf_sinkd {
	pid_t pid;
	unsigned port;
	char dir[32], portfile[128], out[128];
} pf_sinkd;

/* Run `sinkd kind --port-file F --out D [extra...]` (extra NULL-terminated,
 * may be NULL) in a fresh directory and wait for its port. */
void pf_sinkd_start(pf_sinkd *s, const char *sinkd, const char *kind, const char *const *extra);
/* SIGTERM it, expect a clean exit 0, then return the file it recorded as
 * `record` (e.g. "0001.http"), malloc'd, and remove every file. */
char *pf_sinkd_finish(pf_sinkd *s, const char *record);

/* ---- raw TCP, to drive the test servers by hand ------------------------------ */

int pf_raw_connect(uint16_t port);

#endif
