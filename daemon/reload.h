/* reload.h: hot reload (SIGHUP and POST /v1/admin/reload).
 *
 * Every reload runs on the main thread, one at a time: the configuration
 * file is read again and a new generation (plugins, ruleset, engine) is
 * built beside the running one. Anything failing leaves the running
 * generation in place and says why (log, metrics, the admin response);
 * success publishes the new one atomically (gen.h). */
#ifndef STEPUPD_RELOAD_H
#define STEPUPD_RELOAD_H

#include <pthread.h>
#include <stddef.h>

/* Reload now. `trigger` is "SIGHUP" or "admin". -1 with the reason in err
 * on failure; name/revision get the serving ruleset's either way. */
int reload_now(const char *trigger, char *err, size_t errlen,
               char *name, size_t namelen, char *revision, size_t revlen);

/* A reload asked over HTTP, queued for the main thread. */
typedef struct reload_job {
	struct reload_job *next;
	void *handle;        /* the parked request, for http_resume() */
	int ok;
	char err[1024];
	char name[128];
	char revision[80];
} reload_job;

/* The thread that runs reload_jobs_run(); woken with SIGUSR2. */
void reload_jobs_init(pthread_t main_thread);
/* Queue j for the main thread and wake it (any thread). */
void reload_job_post(reload_job *j);
/* Main thread: run every queued job, or refuse them all (shutdown), and
 * resume their requests. */
void reload_jobs_run(int refuse);
/* After the server stopped (it closed the parked requests): free the
 * jobs still queued without touching their requests. */
void reload_jobs_drop(void);

#endif
