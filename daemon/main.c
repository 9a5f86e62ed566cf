/* main.c: stepupd, the decision daemon. Arguments, signals, systemd
 * notifications and the life cycle: load, serve, reload, drain, exit.
 *
 * Every signal is blocked in every thread and taken synchronously by the
 * main thread (sigtimedwait), so no work ever happens in a signal handler:
 *   SIGHUP          reload (reload.h)
 *   SIGUSR1         reopen the decision log (rotation)
 *   SIGTERM/SIGINT  graceful shutdown
 *   SIGUSR2         internal: a reload was asked for or finished
 * Between signals the main thread closes timed-out connections (conns.h),
 * frees retired generations (gen.h), times reloads out and feeds the
 * systemd watchdog. It never reads a file that could block (a FIFO, a
 * hung network mount): generations are built on a thread of their own
 * (genjob.h), the first one too, so SIGTERM is always served.
 *
 * The case store (lifecycle.h) is opened after the first generation (it
 * serves channels with its plugins) and closed after the HTTP server
 * stopped, once pending notifications had their chance to go out. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "conns.h"
#include "declog.h"
#include "gen.h"
#include "genjob.h"
#include "handlers/scratch.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "server.h"
#include "shadow.h"
#include "util.h"

/* sysexits.h EX_CONFIG: systemd's RestartPreventExitStatus= keeps a bad
 * configuration from restarting in a loop. */
#define EXIT_CONFIG 78
#define TICK_MS 100
/* Drain: once nothing is in flight and no request started for this long,
 * the connections left are idle keep-alives and can be closed. */
#define QUIET_MS 200

app APP;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: stepupd [-c FILE] [--check-config] [--port-file FILE]\n"
	        "  -c, --config FILE   configuration (default /etc/stepup/stepupd.json)\n"
	        "      --check-config  check the configuration, rules and plugins, then exit\n"
	        "      --port-file F   write the bound TCP port to F once serving\n"
	        "  -V, --version       print the version\n"
	        "See docs/operations.md.\n");
}

/* Card data sits in this process's memory: no core files, no ptrace by
 * other processes of the same user. */
static void harden(void)
{
	struct rlimit no = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void raise_nofile(unsigned need)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) < 0)
		return;
	if (r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
	}
	if (r.rlim_cur < need)
		log_kv(LOG_WARN, "open file limit below limits.max_connections; raise LimitNOFILE",
		       LU("limit", r.rlim_cur), LU("needed", need), LOG_END);
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* --check-config talks to a person: plain text. At start, a log line. */
static void fatal_config(int check, const char *msg)
{
	if (check)
		fprintf(stderr, "stepupd: %s\n", msg);
	else
		log_kv(LOG_ERROR, "invalid configuration", LS("error", msg), LOG_END);
}

static void wake_self(void)
{
	/* Only the main thread waits for SIGUSR2 (sigtimedwait). */
	kill(getpid(), SIGUSR2);
}

/* The first generation, built on its own thread within
 * reload.timeout_ms, so that a rules path that blocks (a FIFO) fails the
 * start instead of hanging it, and SIGTERM/SIGINT stop the wait. 0 and *g,
 * -1 and err, or -2 when a signal asked to stop. */
static int build_first(stepupd_config *boot, const sigset_t *sigs, gen **g, char *err, size_t errlen)
{
	genjob *j = genjob_start(NULL, boot, wake_self, err, errlen);
	if (!j)
		return -1;
	uint64_t end = mono_ns() + (uint64_t)boot->reload.timeout_ms * 1000000u;
	while (!genjob_finished(j)) {
		struct timespec ts = { 0, TICK_MS * 1000000 };
		int sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT || mono_ns() >= end) {
			char stage[512];
			genjob_stage(j, stage, sizeof(stage));
			genjob_abandon(j);
			if (sig == SIGTERM || sig == SIGINT)
				return -2;
			snprintf(err, errlen, "timed out after %u ms (reload.timeout_ms) %s; "
			         "a file that blocks (a FIFO, a hung network mount)?",
			         boot->reload.timeout_ms, stage);
			return -1;
		}
	}
	return genjob_take(j, g, err, errlen);
}

/* At exit: a build given up on may still wake up and use the boot
 * configuration and the metrics registry; then they are left to the
 * process's end. */
static void free_shared(stepupd_config *boot)
{
	if (genjob_stuck())
		return;
	met_shutdown();
	cfg_free(boot);
}

/* Returns how long it took, in ms. */
static unsigned drain(void)
{
	uint64_t start = mono_ns();
	uint64_t grace = (uint64_t)APP.boot->limits.shutdown_grace_ms * 1000000u;
	__atomic_store_n(&APP.draining, 1, __ATOMIC_RELAXED);
	server_quiesce();
	log_kv(LOG_INFO, "shutting down: not accepting connections, finishing requests",
	       LU("in_flight", conns_inflight()), LU("connections", conns_count()),
	       LU("grace_ms", APP.boot->limits.shutdown_grace_ms), LOG_END);
	for (;;) {
		uint64_t last = conns_last_request_ns(), now = mono_ns();
		reload_refuse();
		if (conns_count() == 0)
			break;
		if (conns_inflight() == 0 && now - (last > start ? last : start) >= QUIET_MS * 1000000u)
			break;
		if (now - start >= grace) {
			log_kv(LOG_WARN, "shutdown grace period over; closing connections with requests in flight",
			       LU("in_flight", conns_inflight()), LOG_END);
			break;
		}
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
		conns_reap();
	}
	/* Parked lifecycle requests must be woken before the server stops
	 * (libmicrohttpd aborts on a stop with parked connections). */
	lc_stop_workers();
	server_stop();
	return (unsigned)((mono_ns() - start) / 1000000u);
}

/* Pending notifications get what is left of the grace period (at least
 * half a second, unless the grace is 0), then wait in the database for
 * the next start. */
static unsigned flush_budget(unsigned drained_ms)
{
	unsigned grace = APP.boot->limits.shutdown_grace_ms;
	unsigned left = grace > drained_ms ? grace - drained_ms : 0;
	return grace && left < 500 ? 500 : left;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = "/etc/stepup/stepupd.json", *port_file = NULL;
	int check = 0, opt;
	char err[1024];
	sigset_t sigs;

	while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'k': check = 1; break;
		case 'p': port_file = optarg; break;
		case 'V': printf("stepupd %s\n", STEPUP_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	/* Before any thread exists (MHD workers, plugin workers, the decision
	 * log writer), so all of them inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (RLIMIT_FSIZE) reached by the decision log must be
	 * a failed write (EFBIG, declog.c), not the end of the process. */
	signal(SIGXFSZ, SIG_IGN);
	harden();

	stepupd_config *boot;
	if (cfg_load(config_path, &boot, err, sizeof(err)) < 0) {
		fatal_config(check, err);
		return EXIT_CONFIG;
	}
	log_set_level(boot->log.level);
	APP.boot = boot;

	gen *g;
	int brc = build_first(boot, &sigs, &g, err, sizeof(err));
	if (brc < 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "config %s: %s", boot->path, err);
		if (brc == -2)
			log_kv(LOG_INFO, "stopped by a signal while loading", LOG_END);
		else
			fatal_config(check, msg);
		free_shared(boot);
		return brc == -2 ? 0 : EXIT_CONFIG;
	}
	/* A configured candidate that does not load is a configuration
	 * error, as the rules would be (shadow.h). */
	if (shadow_gen_error(g)) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "config %s: %s", boot->path, shadow_gen_error(g));
		fatal_config(check, msg);
		gen_discard(g);
		free_shared(boot);
		return EXIT_CONFIG;
	}
	if (check && lc_check(boot, err, sizeof(err)) < 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "config %s: %s", boot->path, err);
		fatal_config(check, msg);
		gen_discard(g);
		cfg_free(boot);
		met_shutdown();
		return EXIT_CONFIG;
	}
	if (check) {
		char cand[300];
		printf("stepupd: %s: configuration OK\n"
		       "  listen        %s\n  rules         %s\n  ruleset       %s %s (%zu rules)%s%s\n"
		       "  plugins       %zu\n  decision log  %s%s\n  cases         %s\n  shadow        %s\n",
		       boot->path, boot->listen, boot->rules, g->name, g->revision,
		       stepup_ruleset_rule_count(stepup_engine_ruleset(g->engine)),
		       g->signer[0] ? " signed by " : "", g->signer,
		       g->plugins ? stepup_plugins_count(g->plugins) : 0,
		       boot->decision_log.path ? boot->decision_log.path : "off",
		       boot->decision_log.path && boot->decision_log.replay_safe ? " (replay-safe)" : "",
		       !boot->has_cases ? "off" : boot->cases_path ? boot->cases_path : "?",
		       shadow_gen_candidate(g, cand, sizeof(cand)) ? cand : "off");
		gen_discard(g);
		cfg_free(boot);
		met_shutdown();
		return 0;
	}

	int rc = 1;
	unsigned port = 0, drained_ms = 0;
	raise_nofile(boot->limits.max_connections + 64);
	if (boot->decision_log.path &&
	    dlog_open(boot->decision_log.path, boot->decision_log.flush_interval_ms, err, sizeof(err)) < 0) {
		log_kv(LOG_ERROR, "cannot start", LS("error", err), LOG_END);
		gen_discard(g);
		goto out;
	}
	int lc_status;
	if (lc_start(boot, g->plugins, &lc_status, err, sizeof(err)) < 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "config %s: %s", boot->path, err);
		log_kv(LOG_ERROR, lc_status == EXIT_CONFIG ? "invalid configuration" : "cannot start",
		       LS("error", msg), LOG_END);
		rc = lc_status;
		gen_discard(g);
		goto out;
	}
	if (server_listen(boot, &port, err, sizeof(err)) < 0) {
		log_kv(LOG_ERROR, "cannot start", LS("error", err), LOG_END);
		gen_discard(g);
		goto out;
	}
	dlog_revision_record(g, "start", NULL);
	gen_publish(g);
	if (shadow_start(boot, g, err, sizeof(err)) < 0) {
		log_kv(LOG_ERROR, "cannot start", LS("error", err), LOG_END);
		goto out;
	}
	reload_init(pthread_self());
	if (server_start(boot, err, sizeof(err)) < 0) {
		log_kv(LOG_ERROR, "cannot start", LS("error", err), LOG_END);
		goto out;
	}
	if (port_file && write_port_file(port_file, port) < 0)
		log_kv(LOG_WARN, "cannot write the port file", LS("path", port_file),
		       LS("error", strerror(errno)), LOG_END);
	log_kv(LOG_INFO, "ready", LS("listen", boot->listen), LU("port", port),
	       LS("ruleset", g->name), LS("revision", g->revision), LS("signer", g->signer),
	       LS("decision_log", boot->decision_log.path), LS("version", STEPUP_VERSION), LOG_END);
	sd_notifyf(0, "READY=1\nSTATUS=serving %s %s\nMAINPID=%lu", g->name, g->revision,
	           (unsigned long)getpid());

	uint64_t wd_usec = 0, last_wd = 0, last_tick = mono_ns();
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	for (;;) {
		struct timespec ts = { 0, TICK_MS * 1000000 };
		siginfo_t si;
		int sig = sigtimedwait(&sigs, &si, &ts);
		uint64_t now = mono_ns();
		if (sig == SIGTERM || sig == SIGINT) {
			sd_notify(0, "STOPPING=1\nSTATUS=draining");
			log_kv(LOG_INFO, "signal", LS("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"), LOG_END);
			break;
		} else if (sig == SIGHUP) {
			reload_request();
		} else if (sig == SIGUSR1) {
			if (dlog_reopen(err, sizeof(err)) < 0)
				log_kv(LOG_ERROR, "decision log reopen failed; still writing the old file",
				       LS("error", err), LOG_END);
			else if (dlog_enabled())
				log_kv(LOG_INFO, "decision log reopened", LS("path", boot->decision_log.path), LOG_END);
			if (shadow_reopen_log(err, sizeof(err)) < 0)
				log_kv(LOG_ERROR, "shadow log reopen failed; still writing the old file",
				       LS("error", err), LOG_END);
		} else if (sig == SIGUSR2) {
			reload_poll();
		}
		if (now - last_tick >= TICK_MS * 1000000u || sig < 0) {
			last_tick = now;
			reload_poll();
			conns_reap();
			gen_collect();
		}
		if (wd_usec && now / 1000u - last_wd >= wd_usec / 2) {
			last_wd = now / 1000u;
			sd_notify(0, "WATCHDOG=1");
		}
	}
	drained_ms = drain();
	rc = 0;
out:
	lc_stop_workers();
	server_stop();
	lc_free_pools();
	shadow_stop();
	scratch_shutdown();
	lc_close(rc == 0 ? flush_budget(drained_ms) : 0);
	reload_jobs_drop();
	gen_shutdown();
	dlog_close();
	conns_shutdown();
	if (genjob_stuck())
		log_kv(LOG_WARN, "reloads still blocked reading their files are left to the exit",
		       LU("blocked", genjob_stuck()), LOG_END);
	log_kv(rc == 0 ? LOG_INFO : LOG_ERROR, rc == 0 ? "stopped" : "stopped after a start failure", LOG_END);
	free_shared(boot);
	return rc;
}
