/* plugin_proc.h (internal): plugins in child processes ("isolation":
 * "process").
 *
 * Each child is the stepup-plugin-host program (host/plugin_host.c), started
 * with posix_spawn and exec, so it starts from a fresh address space: it
 * never holds a copy of the host's memory (card data, keys), and it gets
 * exactly these descriptors:
 *     0  /dev/null           3  the call channel (stream socket, frames)
 *     1, 2, 4  the log channel (datagrams: host->log lines, and whatever
 *              the plugin writes to stdout or stderr)
 *     5  the module's private copy (plugin_loader.h, su_module)
 * Everything else the host has open (listening sockets, client
 * connections, the case store, key files) is closed before exec. As root
 * the child switches to the configured user before it loads anything; it
 * always sets no_new_privs, is not dumpable and writes no core file.
 *
 * A pool is the children of one plugin instance: a call takes an idle
 * child, sends one frame (plugin_wire.h) and reads the answer under the
 * call's deadline. A child that dies during a call fails that call (and
 * only that one) as a crash; one that does not answer in time is killed;
 * either way a supervisor thread starts a new child after a backoff that
 * doubles with each consecutive failure (100 ms, or as configured, to
 * 30 s) and resets after a call that succeeds. The same thread forwards the children's log lines.
 *
 * Library code: it reports through the log callback it is given and
 * never prints. */
#ifndef SU_PLUGIN_PROC_H
#define SU_PLUGIN_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plugin_wire.h"

/* What to start. Strings are copied by the pool. */
typedef struct su_proc_spec {
	const char *host;        /* the stepup-plugin-host program */
	const char *path;        /* the module as configured, for messages */
	int module_fd;           /* its private copy (dup'ed by the pool) */
	const char *name;        /* the plugin's configured name */
	const char *config_json; /* handed to init() */
	unsigned flags;          /* SU_PLUGIN_CHECK_ONLY */
	int drop;                /* switch to uid/gid before loading */
	uid_t uid;
	gid_t gid;
	unsigned init_timeout_ms;
	unsigned backoff_ms;     /* first restart delay (doubles, to 30 s); 0: 100 */
} su_proc_spec;

/* What a child said of its plugin (INIT_OK). Strings malloc'd. */
typedef struct su_proc_desc {
	char *name, *version, *data_version;
	unsigned abi_minor, provides, nfn;
	char **fn_names, **fn_sigs;
} su_proc_desc;

void su_proc_desc_free(su_proc_desc *d);

/* Lines for the host's log: a child's own (host->log, stdout, stderr;
 * `level` STEPUP_PLUGIN_LOG_*) and the pool's (a crash, a restart). */
typedef void (*su_proc_log_fn)(void *ctx, int level, const char *msg);

/* Start one child, load and init the plugin in it, read its description,
 * and end it (fini). For checks (spec->flags SU_PLUGIN_CHECK_ONLY) and
 * for a trial load of a plugin the host will then load itself. STEPUP_OK,
 * or a status with the reason in err: "init failed: <the plugin's
 * reason>", "init: its process died of signal 11 (SIGSEGV)", "init: no
 * answer within 5000 ms", "cannot start <host>: ...". */
int su_proc_probe(const su_proc_spec *spec, su_proc_desc *desc, su_proc_log_fn log, void *log_ctx,
		  char *err, size_t errlen);

typedef struct su_ppool su_ppool;

/* Start `n` children (1..16). STEPUP_OK with *out and *desc (the first
 * child's description), or a status and err as su_proc_probe's. */
int su_ppool_new(const su_proc_spec *spec, unsigned n, su_proc_log_fn log, void *log_ctx,
		 su_proc_desc *desc, su_ppool **out, char *err, size_t errlen);
/* End every child (fini, then SIGKILL after a grace) and the supervisor. */
void su_ppool_free(su_ppool *p);

enum {
	SU_PPOOL_OK = 0,
	SU_PPOOL_DIED,     /* the child died during the call (a crash) */
	SU_PPOOL_TIMEOUT,  /* no answer by the deadline: the child was killed */
	SU_PPOOL_BUSY,     /* no child came free by the deadline, or too many waiting */
	SU_PPOOL_DOWN,     /* no child alive: waiting to restart one */
	SU_PPOOL_ERROR,    /* the frame could not be built, or the pool is stopping */
};

/* Send the frame `req` to a child and read its answer into buf/resp
 * (the caller wipes buf). `op` names the call in messages. SU_PPOOL_OK, or
 * another SU_PPOOL_* with the reason in why ("its process died of signal
 * 11 (SIGSEGV)"). */
int su_ppool_call(su_ppool *p, const su_wbuf *req, su_wbuf *buf, su_rbuf *resp, int64_t deadline_ms,
		  const char *op, char *why, size_t whylen);

typedef struct su_ppool_stats {
	uint64_t crashes;   /* children that died on their own */
	uint64_t kills;     /* children killed for not answering */
	uint64_t restarts;  /* children started after the first ones */
	unsigned alive, total;
	unsigned streak;    /* failures since the last call that succeeded */
	char last[160];     /* the last failure, "" when none */
} su_ppool_stats;

void su_ppool_stats_get(su_ppool *p, su_ppool_stats *out);

#endif
