/* lifecycle.c: opening, checking and closing the case store. */
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "lifecycle.h"
#include "log.h"
#include "workq.h"

int lc_start(const stepupd_config *cfg, stepup_plugins *plugins, int *exit_status,
             char *err, size_t errlen)
{
	char why[768] = "";
	*exit_status = 1;
	if (!cfg->has_cases)
		return 0;
	int rc = stepup_cases_open(cfg->text, cfg->base_dir, plugins, log_from_library, NULL,
	                           &APP.cases, why, sizeof(why));
	if (rc != STEPUP_OK) {
		/* A wrong setting or a database from a newer stepup will not get
		 * better by restarting: EX_CONFIG stops systemd's restart loop. */
		if (rc == STEPUP_ECONFIG || rc == STEPUP_EVERSION || rc == STEPUP_ENOTFOUND)
			*exit_status = 78;
		snprintf(err, errlen, "%s%s", strncmp(why, "cases", 5) ? "cases: " : "",
		         why[0] ? why : stepup_strerror(rc));
		APP.cases = NULL;
		return -1;
	}
	/* Two threads for the decisions' short transactions: the store has
	 * one writer, a second thread prepares the next while one commits. */
	if (!(APP.record_q = workq_new(2, why, sizeof(why))) ||
	    !(APP.lifecycle_q = workq_new(cfg->lifecycle.workers, why, sizeof(why)))) {
		snprintf(err, errlen, "lifecycle: %s", why);
		lc_stop_workers();
		lc_free_pools();
		stepup_cases_close(APP.cases);
		APP.cases = NULL;
		return -1;
	}
	return 0;
}

/* The scratch database and the files SQLite makes beside it. */
static void remove_scratch(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[4200];
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

int lc_check(const stepupd_config *cfg, char *err, size_t errlen)
{
	char scratch[4096] = "", why[768] = "";
	json_t *root = NULL;
	char *text = NULL;
	stepup_cases *c = NULL;
	int rc = -1;

	if (!cfg->has_cases)
		return 0;
	root = json_loadb(cfg->text, cfg->text_len, 0, NULL);
	json_t *cases = json_object_get(root, "cases");
	if (!cases) {
		snprintf(err, errlen, "cases: cannot read the section again");
		goto out;
	}
	if (cfg->cases_path) {
		char *dirbuf = strdup(cfg->cases_path);
		if (!dirbuf) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		snprintf(scratch, sizeof(scratch), "%s/.stepupd-check-XXXXXX", dirname(dirbuf));
		free(dirbuf);
		int fd = mkstemp(scratch);
		if (fd < 0) {
			snprintf(err, errlen, "cases.path: cannot create a file beside %s: %s",
			         cfg->cases_path, strerror(errno));
			scratch[0] = '\0';
			goto out;
		}
		close(fd);
		/* The real file, if there is one, must be ours to write. */
		struct stat st;
		if (stat(cfg->cases_path, &st) == 0 &&
		    (!S_ISREG(st.st_mode) || access(cfg->cases_path, R_OK | W_OK) != 0)) {
			snprintf(err, errlen, "cases.path: %s: %s", cfg->cases_path,
			         S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
			goto out;
		}
		/* No background thread: nothing is delivered from a scratch file. */
		if (json_object_set_new(cases, "path", json_string(scratch)) < 0 ||
		    json_object_set_new(cases, "background", json_false()) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	if (!(text = json_dumps(root, JSON_COMPACT))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	int src = stepup_cases_open(text, cfg->base_dir, NULL, NULL, NULL, &c, why, sizeof(why));
	if (src != STEPUP_OK) {
		snprintf(err, errlen, "%s%s", strncmp(why, "cases", 5) ? "cases: " : "",
		         why[0] ? why : stepup_strerror(src));
		goto out;
	}
	stepup_cases_close(c);
	/* The real database, read-only: corrupt, unreadable or from a newer
	 * stepup fails here rather than at start. Nothing is written to it or
	 * created beside it (a check run as root must not leave root-owned
	 * -wal/-shm files behind). */
	src = stepup_cases_check_store(cfg->text, cfg->base_dir, why, sizeof(why));
	if (src != STEPUP_OK) {
		snprintf(err, errlen, "cases.path: %s", why[0] ? why : stepup_strerror(src));
		goto out;
	}
	rc = 0;
out:
	if (scratch[0])
		remove_scratch(scratch);
	if (text) {
		/* It holds the webhook secret, if the section has one. */
		explicit_bzero(text, strlen(text));
		free(text);
	}
	json_decref(root);
	return rc;
}

int lc_health(char *err, size_t errlen)
{
	stepup_cases *c = APP.cases;
	if (!c)
		return 0;
	return stepup_cases_health(c, err, errlen) == STEPUP_OK ? 0 : -1;
}

void lc_set_plugins(stepup_plugins *plugins)
{
	if (APP.cases)
		stepup_cases_set_plugins(APP.cases, plugins);
}

void lc_stop_workers(void)
{
	workq_stop(APP.record_q);
	workq_stop(APP.lifecycle_q);
}

void lc_free_pools(void)
{
	workq_free(APP.record_q);
	workq_free(APP.lifecycle_q);
	APP.record_q = APP.lifecycle_q = NULL;
}

void lc_close(unsigned timeout_ms)
{
	stepup_cases *c = APP.cases;
	char why[300];
	if (!c)
		return;
	if (stepup_cases_health(c, why, sizeof(why)) != STEPUP_OK) {
		/* Its outbox went with the file: nothing to deliver or wait for. */
		log_kv(LOG_ERROR, "case store unusable at shutdown; what it held since is not in the database file",
		       LS("reason", why), LOG_END);
	} else if (timeout_ms && stepup_cases_flush(c, timeout_ms) != STEPUP_OK) {
		stepup_cases_stats st;
		stepup_cases_stats_get(c, &st);
		log_kv(LOG_WARN, "notifications still pending at shutdown; the next start sends them",
		       LU("pending", st.outbox_pending), LU("waited_ms", timeout_ms), LOG_END);
	}
	stepup_cases_close(c);
	APP.cases = NULL;
}
