/* plugin_proc.c: plugins in child processes (plugin_proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stepup/error.h>
#include <stepup/plugin.h>

#include "plugin_proc.h"
#include "util.h"

extern char **environ;

#define SU_PROC_MAX 16u
#define SU_BACKOFF_FIRST_MS 100
#define SU_BACKOFF_MAX_MS 30000
#define SU_FINI_GRACE_MS 1000
#define SU_WAIT_PER_CHILD 8u  /* calls waiting for a free child, per child */

void su_proc_desc_free(su_proc_desc *d)
{
	if (!d)
		return;
	for (unsigned k = 0; k < d->nfn; k++) {
		free(d->fn_names ? d->fn_names[k] : NULL);
		free(d->fn_sigs ? d->fn_sigs[k] : NULL);
	}
	free(d->fn_names);
	free(d->fn_sigs);
	free(d->name);
	free(d->version);
	free(d->data_version);
	memset(d, 0, sizeof(*d));
}

/* ---- one child ------------------------------------------------------------ */

typedef struct child {
	pid_t pid;
	int fd;      /* call channel */
	int logfd;   /* log channel */
} child;

/* "died of signal 11 (SIGSEGV)", "exited with status 3". */
static void death_text(int status, char *buf, size_t n)
{
	if (WIFSIGNALED(status)) {
		const char *ab = sigabbrev_np(WTERMSIG(status));
		snprintf(buf, n, "died of signal %d (SIG%s)", WTERMSIG(status), ab ? ab : "?");
	} else if (WIFEXITED(status)) {
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
	} else {
		snprintf(buf, n, "ended");
	}
}

/* Wait for pid to end, at most grace_ms, then kill it. Its wait status,
 * or -1 when it is not ours to wait for (ECHILD). */
static int reap(pid_t pid, int grace_ms)
{
	int st;
	for (int waited = 0;; waited += 5) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= grace_ms)
			break;
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

static void child_close(child *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->logfd >= 0)
		close(c->logfd);
	c->fd = c->logfd = -1;
	c->pid = 0;
}

/* End the child at once and say how it ended (into why, may be NULL). */
static void child_kill(child *c, char *why, size_t n)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		int st = reap(c->pid, 0);
		if (why)
			death_text(st, why, n);
	}
	child_close(c);
}

/* The child ended on its own (its channel closed): how. */
static void child_ended(child *c, char *why, size_t n)
{
	int st = c->pid > 0 ? reap(c->pid, 1000) : -1;
	if (st == -1)
		snprintf(why, n, "ended (its status is unknown)");
	else
		death_text(st, why, n);
	child_close(c);
}

/* The environment a child gets: the host's, without what talks to the
 * service manager or points at the host's credentials. */
static int env_keep(const char *e)
{
	static const char *const drop[] = { "NOTIFY_SOCKET=", "LISTEN_PID=", "LISTEN_FDS=",
		"LISTEN_FDNAMES=", "WATCHDOG_PID=", "WATCHDOG_USEC=", "CREDENTIALS_DIRECTORY=",
		"MAINPID=", NULL };
	for (size_t i = 0; drop[i]; i++)
		if (strncmp(e, drop[i], strlen(drop[i])) == 0)
			return 0;
	return 1;
}

static int child_start(const su_proc_spec *s, child *c, char *err, size_t errlen)
{
	int call[2] = { -1, -1 }, logp[2] = { -1, -1 }, cc = -1, cl = -1, cm = -1, rc = -1;
	char uid[32], gid[32], ppid[32];
	char *argv[8];
	size_t ne = 0, k = 0;
	char **envp = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;

	c->pid = 0;
	c->fd = c->logfd = -1;
	for (char **e = environ; e && *e; e++)
		ne++;
	if (!(envp = calloc(ne + 1, sizeof(*envp)))) {
		su_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (char **e = environ; e && *e; e++)
		if (env_keep(*e))
			envp[k++] = *e;
	argv[0] = "stepup-plugin-host";
	argv[1] = "--name";
	argv[2] = (char *)s->name;
	snprintf(ppid, sizeof(ppid), "--parent=%ld", (long)getpid());
	argv[3] = ppid;
	k = 4;
	if (s->drop) {
		snprintf(uid, sizeof(uid), "--uid=%lu", (unsigned long)s->uid);
		snprintf(gid, sizeof(gid), "--gid=%lu", (unsigned long)s->gid);
		argv[k++] = uid;
		argv[k++] = gid;
	}
	argv[k] = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, call) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, logp) < 0) {
		su_set_err(err, errlen, "cannot start its process: socketpair: %s", strerror(errno));
		goto out;
	}
	/* The child's ends above the descriptors they become, so the dup2s
	 * below cannot overwrite one another. */
	cc = fcntl(call[1], F_DUPFD_CLOEXEC, 10);
	cl = fcntl(logp[1], F_DUPFD_CLOEXEC, 10);
	cm = fcntl(s->module_fd, F_DUPFD_CLOEXEC, 10);
	if (cc < 0 || cl < 0 || cm < 0) {
		su_set_err(err, errlen, "cannot start its process: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, cl, 1);
	posix_spawn_file_actions_adddup2(&fa, cl, 2);
	posix_spawn_file_actions_adddup2(&fa, cc, 3);
	posix_spawn_file_actions_adddup2(&fa, cl, 4);
	posix_spawn_file_actions_adddup2(&fa, cm, 5);
	/* Everything else of the host's: listening sockets, connections,
	 * the case store, key files. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 6);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	/* Said plainly rather than as the child's exit status 127. */
	int e = access(s->host, X_OK) == 0 ? posix_spawn(&c->pid, s->host, &fa, &at, argv, envp) : errno;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e != 0) {
		c->pid = 0;
		su_set_err(err, errlen, "cannot start %s: %s (is stepup-plugin-host installed there? "
		           "STEPUP_PLUGIN_HOST names another)", s->host, strerror(e));
		goto out;
	}
	c->fd = call[0];
	c->logfd = logp[0];
	call[0] = logp[0] = -1;
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (call[i] >= 0)
			close(call[i]);
		if (logp[i] >= 0)
			close(logp[i]);
	}
	if (cc >= 0)
		close(cc);
	if (cl >= 0)
		close(cl);
	if (cm >= 0)
		close(cm);
	free(envp);
	return rc;
}

/* Forward what is waiting on a child's log channel. */
static void drain_log(int fd, su_proc_log_fn log, void *ctx)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf[n] = '\0';
		if (!log)
			continue;
		if (n >= 2 && buf[0] == SU_WIRE_LOG_MARK) {
			int level = buf[1] >= 0 && buf[1] <= 3 ? buf[1] : STEPUP_PLUGIN_LOG_INFO;
			log(ctx, level, buf + 2);
			continue;
		}
		/* Its stdout or stderr, line by line, as warnings: text nobody
		 * promised to keep free of PII (the host's sink scrubs it). */
		for (char *line = buf, *nl; *line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			else
				nl = line + strlen(line);
			if (*line) {
				char msg[4200];
				snprintf(msg, sizeof(msg), "output: %s", line);
				log(ctx, STEPUP_PLUGIN_LOG_WARNING, msg);
			}
		}
	}
}

static int take_desc(su_rbuf *r, su_proc_desc *d)
{
	const char *name = su_wire_get_str(r), *version = su_wire_get_str(r);
	int64_t minor = su_wire_get_i64(r), provides = su_wire_get_i64(r);
	const char *dv = su_wire_get_str(r);
	int64_t nfn = su_wire_get_i64(r);
	if (r->bad || !name || !version || minor < 0 || minor > 1000 || provides < 0 || nfn < 0 ||
	    nfn > 4096)
		return -1;
	memset(d, 0, sizeof(*d));
	d->name = strdup(name);
	d->version = strdup(version);
	d->data_version = dv ? strdup(dv) : NULL;
	d->abi_minor = (unsigned)minor;
	d->provides = (unsigned)provides;
	d->fn_names = calloc((size_t)nfn + 1, sizeof(char *));
	d->fn_sigs = calloc((size_t)nfn + 1, sizeof(char *));
	if (!d->name || !d->version || (dv && !d->data_version) || !d->fn_names || !d->fn_sigs)
		return -1;
	for (int64_t k = 0; k < nfn; k++) {
		const char *fname = su_wire_get_str(r), *sig = su_wire_get_str(r);
		if (r->bad || !fname || !sig)
			return -1;
		d->nfn++;
		d->fn_names[k] = strdup(fname);
		d->fn_sigs[k] = strdup(sig);
		if (!d->fn_names[k] || !d->fn_sigs[k])
			return -1;
	}
	return 0;
}

/* Start a child and have it load the plugin: STEPUP_OK with desc filled
 * (desc may be NULL), else a status and err. */
static int child_init(const su_proc_spec *s, child *c, su_proc_desc *desc, su_proc_log_fn log, void *ctx,
		      char *err, size_t errlen)
{
	su_wbuf w = { 0 }, in = { 0 };
	su_rbuf r;
	char why[160];
	int rc = STEPUP_EPLUGIN;
	int64_t deadline = su_wire_now_ms() + s->init_timeout_ms;

	if (child_start(s, c, err, errlen) < 0)
		return STEPUP_EPLUGIN;
	su_wire_begin(&w, SU_W_INIT);
	su_wire_str(&w, s->path);
	su_wire_str(&w, s->name);
	su_wire_str(&w, s->config_json ? s->config_json : "{}");
	su_wire_i64(&w, (int64_t)s->flags);
	if (su_wire_end(&w) < 0) {
		su_set_err(err, errlen, "out of memory");
		rc = STEPUP_ENOMEM;
		child_kill(c, NULL, 0);
		goto out;
	}
	if (su_wire_send(c->fd, &w, deadline) < 0 || su_wire_recv(c->fd, &in, &r, deadline) < 0) {
		int timeout = errno == ETIMEDOUT, garbled = errno == EPROTO;
		drain_log(c->logfd, log, ctx);
		if (timeout) {
			child_kill(c, NULL, 0);
			su_set_err(err, errlen, "init: no answer within %u ms", s->init_timeout_ms);
		} else if (garbled) {
			child_kill(c, NULL, 0);
			su_set_err(err, errlen, "init: its process broke the protocol");
		} else {
			child_ended(c, why, sizeof(why));
			su_set_err(err, errlen, "init: its process %s", why);
		}
		goto out;
	}
	drain_log(c->logfd, log, ctx);
	if (su_wire_kind(&r) == SU_W_INIT_ERR) {
		int64_t st = su_wire_get_i64(&r);
		const char *reason = su_wire_get_str(&r);
		rc = r.bad ? STEPUP_EPLUGIN : (int)st;
		if (rc == STEPUP_OK || rc < 0 || rc > 100)
			rc = STEPUP_EPLUGIN;
		su_set_err(err, errlen, "%s", !r.bad && reason ? reason : "init failed");
		child_kill(c, NULL, 0);
		goto out;
	}
	su_proc_desc tmp, *d = desc ? desc : &tmp;
	if (su_wire_kind(&r) != SU_W_INIT_OK || take_desc(&r, d) < 0) {
		su_proc_desc_free(d);
		child_kill(c, NULL, 0);
		su_set_err(err, errlen, "init: its process broke the protocol");
		goto out;
	}
	if (!desc)
		su_proc_desc_free(&tmp);
	rc = STEPUP_OK;
out:
	su_wire_free(&w);
	su_wire_free(&in);
	return rc;
}

/* Ask a child to call fini() and end, then make sure it has. */
static void child_stop(child *c, su_proc_log_fn log, void *ctx)
{
	if (c->pid <= 0)
		return;
	su_wbuf w = { 0 }, in = { 0 };
	su_rbuf r;
	int64_t deadline = su_wire_now_ms() + SU_FINI_GRACE_MS;
	su_wire_begin(&w, SU_W_FINI);
	if (su_wire_end(&w) == 0 && su_wire_send(c->fd, &w, deadline) == 0)
		su_wire_recv(c->fd, &in, &r, deadline);
	su_wire_free(&w);
	su_wire_free(&in);
	/* Its last lines (fini may log). */
	if (c->logfd >= 0)
		drain_log(c->logfd, log, ctx);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	reap(c->pid, SU_FINI_GRACE_MS);
	child_close(c);
}

int su_proc_probe(const su_proc_spec *spec, su_proc_desc *desc, su_proc_log_fn log, void *log_ctx,
		  char *err, size_t errlen)
{
	child c;
	int rc = child_init(spec, &c, desc, log, log_ctx, err, errlen);
	if (rc == STEPUP_OK)
		child_stop(&c, log, log_ctx);
	return rc;
}

/* ---- a pool of children ------------------------------------------------------ */

enum { SLOT_DEAD, SLOT_STARTING, SLOT_IDLE, SLOT_BUSY };

typedef struct slot {
	int state;
	child c;
	int hup;             /* its log channel hung up while busy: not polled */
	int64_t restart_at;  /* DEAD: when to start it again */
} slot;

struct su_ppool {
	/* The spec, owned. */
	su_proc_spec spec;
	char *host, *path, *name, *config;
	int module_fd;

	su_proc_log_fn log;
	void *log_ctx;

	pthread_mutex_t mu;
	pthread_cond_t cv;   /* a child came free (or died) */
	slot *slots;
	unsigned n, waiting;
	int stopping;
	pthread_t sup;
	int sup_started;
	int wake[2];         /* pipe: wakes the supervisor */

	uint64_t crashes, kills, restarts;
	unsigned streak;
	char last[160];
};

static void say(su_ppool *p, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(su_ppool *p, int level, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	if (!p->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->log(p->log_ctx, level, msg);
}

static void wake_sup(su_ppool *p)
{
	char b = 1;
	ssize_t n = write(p->wake[1], &b, 1);
	(void)n;  /* a full pipe wakes it anyway */
}

/* The delay before the next start after `streak` failures in a row. */
static int64_t backoff_ms(const su_ppool *p, unsigned streak)
{
	int64_t ms = p->spec.backoff_ms ? p->spec.backoff_ms : SU_BACKOFF_FIRST_MS;
	for (unsigned i = 1; i < streak && ms < SU_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms > SU_BACKOFF_MAX_MS ? SU_BACKOFF_MAX_MS : ms;
}

/* Under mu: the slot's child is gone; schedule its restart. The delay. */
static int64_t slot_dead(su_ppool *p, slot *s)
{
	s->state = SLOT_DEAD;
	s->hup = 0;
	p->streak++;
	int64_t ms = backoff_ms(p, p->streak);
	s->restart_at = su_wire_now_ms() + ms;
	pthread_cond_broadcast(&p->cv);
	return ms;
}

static void *supervise(void *arg);

int su_ppool_new(const su_proc_spec *spec, unsigned n, su_proc_log_fn log, void *log_ctx,
		 su_proc_desc *desc, su_ppool **out, char *err, size_t errlen)
{
	su_ppool *p;
	int rc = STEPUP_ENOMEM;

	*out = NULL;
	memset(desc, 0, sizeof(*desc));
	if (n < 1 || n > SU_PROC_MAX)
		return STEPUP_EINVAL;
	if (!(p = calloc(1, sizeof(*p))))
		return STEPUP_ENOMEM;
	p->wake[0] = p->wake[1] = -1;
	p->module_fd = -1;
	p->log = log;
	p->log_ctx = log_ctx;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->spec = *spec;
	p->host = strdup(spec->host);
	p->path = strdup(spec->path);
	p->name = strdup(spec->name);
	p->config = strdup(spec->config_json ? spec->config_json : "{}");
	p->module_fd = fcntl(spec->module_fd, F_DUPFD_CLOEXEC, 3);
	p->slots = calloc(n, sizeof(*p->slots));
	if (!p->host || !p->path || !p->name || !p->config || !p->slots) {
		su_set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (p->module_fd < 0 || pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		su_set_err(err, errlen, "cannot start its processes: %s", strerror(errno));
		rc = STEPUP_EPLUGIN;
		goto fail;
	}
	p->spec.host = p->host;
	p->spec.path = p->path;
	p->spec.name = p->name;
	p->spec.config_json = p->config;
	p->spec.module_fd = p->module_fd;
	p->n = n;
	for (unsigned i = 0; i < n; i++)
		p->slots[i].c.fd = p->slots[i].c.logfd = -1;
	for (unsigned i = 0; i < n; i++) {
		slot *s = &p->slots[i];
		rc = child_init(&p->spec, &s->c, i == 0 ? desc : NULL, log, log_ctx, err, errlen);
		if (rc != STEPUP_OK)
			goto fail;
		s->state = SLOT_IDLE;
	}
	if (pthread_create(&p->sup, NULL, supervise, p) != 0) {
		su_set_err(err, errlen, "cannot start its supervisor thread");
		rc = STEPUP_ENOMEM;
		goto fail;
	}
	p->sup_started = 1;
	*out = p;
	return STEPUP_OK;
fail:
	su_proc_desc_free(desc);
	su_ppool_free(p);
	return rc;
}

void su_ppool_free(su_ppool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->sup_started) {
		wake_sup(p);
		pthread_join(p->sup, NULL);
	}
	/* No call is in flight: the pool is freed with the last reference to
	 * its plugin set. */
	for (unsigned i = 0; p->slots && i < p->n; i++) {
		if (p->slots[i].c.pid > 0)
			child_stop(&p->slots[i].c, p->log, p->log_ctx);
		child_close(&p->slots[i].c);  /* a dead child's log channel */
	}
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	if (p->module_fd >= 0)
		close(p->module_fd);
	if (p->config)
		explicit_bzero(p->config, strlen(p->config));
	free(p->config);
	free(p->host);
	free(p->path);
	free(p->name);
	free(p->slots);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* The supervisor: forwards log lines, notices idle children that died,
 * and starts children again when their backoff is over. */
static void *supervise(void *arg)
{
	su_ppool *p = arg;
	struct pollfd fds[SU_PROC_MAX + 1];
	int idx[SU_PROC_MAX + 1];

	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		/* Log channels of children that died during a call: their
		 * callers leave them to this thread, the only one that polls
		 * them, so no descriptor is closed under a poll(). */
		for (unsigned i = 0; i < p->n; i++) {
			slot *s = &p->slots[i];
			if (s->state == SLOT_DEAD && s->c.logfd >= 0) {
				drain_log(s->c.logfd, p->log, p->log_ctx);
				close(s->c.logfd);
				s->c.logfd = -1;
			}
		}
		unsigned nf = 0;
		int64_t now = su_wire_now_ms(), next = now + 1000;
		fds[nf].fd = p->wake[0];
		fds[nf].events = POLLIN;
		idx[nf++] = -1;
		for (unsigned i = 0; i < p->n; i++) {
			slot *s = &p->slots[i];
			if (s->state == SLOT_DEAD && s->restart_at < next)
				next = s->restart_at;
			if ((s->state == SLOT_IDLE || s->state == SLOT_BUSY) && !s->hup && s->c.logfd >= 0) {
				fds[nf].fd = s->c.logfd;
				fds[nf].events = POLLIN;
				idx[nf++] = (int)i;
			}
		}
		/* Start what is due, one at a time, outside the lock. */
		int due = -1;
		for (unsigned i = 0; i < p->n && due < 0; i++)
			if (p->slots[i].state == SLOT_DEAD && p->slots[i].restart_at <= now)
				due = (int)i;
		if (due >= 0) {
			slot *s = &p->slots[due];
			child c;
			char err[320];
			s->state = SLOT_STARTING;
			pthread_mutex_unlock(&p->mu);
			int rc = child_init(&p->spec, &c, NULL, p->log, p->log_ctx, err, sizeof(err));
			pthread_mutex_lock(&p->mu);
			if (rc == STEPUP_OK) {
				s->c = c;
				s->state = SLOT_IDLE;
				p->restarts++;
				pthread_cond_broadcast(&p->cv);
				say(p, STEPUP_PLUGIN_LOG_INFO, "process %d started again", (int)c.pid);
			} else {
				int64_t ms = slot_dead(p, s);
				snprintf(p->last, sizeof(p->last), "restart failed: %.140s", err);
				say(p, STEPUP_PLUGIN_LOG_ERROR, "could not start its process again: %s; next try in %lld ms",
				    err, (long long)ms);
			}
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		int ms = (int)(next - now);
		int got = poll(fds, nf, ms < 0 ? 0 : ms);
		pthread_mutex_lock(&p->mu);
		if (got <= 0)
			continue;
		for (unsigned f = 0; f < nf; f++) {
			if (!fds[f].revents)
				continue;
			if (idx[f] < 0) {
				char b[64];
				while (read(p->wake[0], b, sizeof(b)) > 0)
					;
				continue;
			}
			slot *s = &p->slots[idx[f]];
			if (s->c.logfd != fds[f].fd)
				continue;  /* changed while we polled */
			if (fds[f].revents & POLLIN)
				drain_log(s->c.logfd, p->log, p->log_ctx);
			if (!(fds[f].revents & (POLLHUP | POLLERR)))
				continue;
			if (s->state != SLOT_IDLE) {
				/* Busy: its caller sees it end and handles it; dead: its
				 * caller already has (the loop's top closes the channel). */
				if (s->state == SLOT_BUSY)
					s->hup = 1;
				continue;
			}
			/* An idle child ended (a thread of its own crashed it). */
			char why[96];
			pid_t pid = s->c.pid;
			child_ended(&s->c, why, sizeof(why));
			p->crashes++;
			int64_t delay = slot_dead(p, s);
			snprintf(p->last, sizeof(p->last), "process %s while idle", why);
			say(p, STEPUP_PLUGIN_LOG_ERROR, "process %d %s while idle; starting it again in %lld ms",
			    (int)pid, why, (long long)delay);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int su_ppool_call(su_ppool *p, const su_wbuf *req, su_wbuf *buf, su_rbuf *resp, int64_t deadline_ms,
		  const char *op, char *why, size_t whylen)
{
	slot *s = NULL;
	int rc;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		unsigned alive = 0;
		if (p->stopping) {
			pthread_mutex_unlock(&p->mu);
			su_set_err(why, whylen, "shutting down");
			return SU_PPOOL_ERROR;
		}
		for (unsigned i = 0; i < p->n && !s; i++) {
			alive += p->slots[i].state != SLOT_DEAD;
			if (p->slots[i].state == SLOT_IDLE)
				s = &p->slots[i];
		}
		if (s)
			break;
		int64_t next = INT64_MAX;
		for (unsigned i = 0; i < p->n; i++)
			if (p->slots[i].state == SLOT_DEAD && p->slots[i].restart_at < next)
				next = p->slots[i].restart_at;
		/* None running, and none starting before the deadline: say so
		 * now rather than make the caller wait for nothing. */
		if (!alive && next >= deadline_ms) {
			int64_t in = next - su_wire_now_ms();
			pthread_mutex_unlock(&p->mu);
			su_set_err(why, whylen, "no process running (%s); the next starts in %lld ms",
			           p->last[0] ? p->last : "restarting", (long long)(in > 0 ? in : 0));
			return SU_PPOOL_DOWN;
		}
		if (!alive)
			wake_sup(p);  /* its restart is due within the deadline */
		if (p->waiting >= p->n * SU_WAIT_PER_CHILD) {
			pthread_mutex_unlock(&p->mu);
			su_set_err(why, whylen, "busy: %u calls already waiting for its processes", p->waiting);
			return SU_PPOOL_BUSY;
		}
		struct timespec until = { (time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L };
		p->waiting++;
		int w = pthread_cond_timedwait(&p->cv, &p->mu, &until);
		p->waiting--;
		if (w == ETIMEDOUT) {
			pthread_mutex_unlock(&p->mu);
			su_set_err(why, whylen, "no process came free within the deadline");
			return SU_PPOOL_BUSY;
		}
	}
	s->state = SLOT_BUSY;
	child c = s->c;
	pthread_mutex_unlock(&p->mu);

	if (su_wire_send(c.fd, req, deadline_ms) == 0 && su_wire_recv(c.fd, buf, resp, deadline_ms) == 0) {
		/* What it logged during the call was sent before its answer:
		 * passed on now, so its lines come before the call returns. */
		drain_log(c.logfd, p->log, p->log_ctx);
		pthread_mutex_lock(&p->mu);
		s->state = SLOT_IDLE;
		p->streak = 0;
		pthread_cond_signal(&p->cv);
		int hup = s->hup;
		pthread_mutex_unlock(&p->mu);
		if (hup)
			wake_sup(p);  /* it answered, then went: let the supervisor see */
		return SU_PPOOL_OK;
	}
	int timeout = errno == ETIMEDOUT, garbled = errno == EPROTO;
	char how[96];
	pid_t pid = c.pid;
	int logfd = c.logfd;
	c.logfd = -1;  /* the supervisor's to drain and close */
	if (timeout || garbled)
		child_kill(&c, NULL, 0);
	else
		child_ended(&c, how, sizeof(how));
	if (garbled)
		snprintf(how, sizeof(how), "broke the protocol (killed)");
	c.logfd = logfd;
	pthread_mutex_lock(&p->mu);
	s->c = c;
	if (timeout)
		p->kills++;
	else
		p->crashes++;
	int64_t delay = slot_dead(p, s);
	if (timeout)
		snprintf(p->last, sizeof(p->last), "process killed: no answer to %s by its deadline", op);
	else
		snprintf(p->last, sizeof(p->last), "process %s during %s", how, op);
	pthread_mutex_unlock(&p->mu);
	wake_sup(p);
	if (timeout) {
		su_set_err(why, whylen, "no answer by the deadline: its process was killed");
		say(p, STEPUP_PLUGIN_LOG_WARNING, "process %d killed: no answer to %s by its deadline; "
		    "starting it again in %lld ms", (int)pid, op, (long long)delay);
		rc = SU_PPOOL_TIMEOUT;
	} else {
		su_set_err(why, whylen, "its process %s", how);
		say(p, STEPUP_PLUGIN_LOG_ERROR, "process %d %s during %s; starting it again in %lld ms",
		    (int)pid, how, op, (long long)delay);
		rc = SU_PPOOL_DIED;
	}
	return rc;
}

void su_ppool_stats_get(su_ppool *p, su_ppool_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->mu);
	out->crashes = p->crashes;
	out->kills = p->kills;
	out->restarts = p->restarts;
	out->total = p->n;
	out->streak = p->streak;
	for (unsigned i = 0; i < p->n; i++)
		out->alive += p->slots[i].state == SLOT_IDLE || p->slots[i].state == SLOT_BUSY;
	snprintf(out->last, sizeof(out->last), "%s", p->last);
	pthread_mutex_unlock(&p->mu);
}
