/* plugins.c: a set of loaded plugins from configuration, the method ->
 * plugin map, and every call into a plugin (interface calls and rule
 * functions) under a deadline, with counters.
 *
 * Isolation. Each plugin runs
 *  - "process" (the default unless it is marked "trusted"): in child
 *    processes of its own (plugin_proc.h); a crash or hang there fails
 *    the call in flight and restarts the child, never more;
 *  - "thread": on a small pool of workers of its own: the caller queues
 *    the call and waits on a condition variable until the deadline, then
 *    stops waiting; a plugin that hangs only ever ties up its own
 *    workers. Jobs carry copies of their inputs and a reference count, so
 *    an abandoned job finishes (and is freed) on the worker without
 *    touching the caller's memory;
 *  - "inline": on the caller's thread: no hand-off, and an overrun is still
 *    detected, counted and its result discarded.
 * In the last two the plugin's code runs in this process: the call being
 * made is kept in thread-local state so that a host's fatal-signal handler
 * can say which plugin crashed the process (stepup_plugins_crash_line).
 *
 * Deadlines. Calls made while deciding (can_deliver, describe, route,
 * lookup, rule functions) get the plugin's decision-time deadline, cut to
 * what is left of the decision's own (stepup_decide_json_until);
 * deliveries (deliver_otp, notify, start, verify) get their own.
 *
 * Rule functions are counted and timed like interface calls, and answered
 * once per decision for the same function and arguments (they are pure):
 * a thread-local memo lives between su_plugins_decision_begin and _end.
 *
 * Every failure is reported to the log sink with the plugin's name, at
 * most once a second per plugin (a crash always), and what a plugin says
 * (its log lines, its error strings, its process's output) has card
 * numbers, phone numbers and e-mail addresses replaced before anyone sees
 * it. */
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plugin_proc.h"
#include "plugin_wire.h"
#include "plugins.h"
#include "util.h"

#ifndef STEPUP_PLUGIN_HOST_PATH
#define STEPUP_PLUGIN_HOST_PATH "/usr/libexec/stepup/stepup-plugin-host"
#endif

#define SU_DEFAULT_TIMEOUT_MS 200u
#define SU_MAX_TIMEOUT_MS 60000u
#define SU_MAX_THREADS 16u
#define SU_MAX_PROCS 16u
#define SU_QUEUE_PER_THREAD 8u  /* waiting jobs per worker before "busy" */
#define SU_INIT_TIMEOUT_MS 10000u
#define SU_CRASH_LOOP 3u        /* failures in a row that make a plugin unready */
#define SU_MEMO_MAX 64u         /* memoised rule function calls per decision */

const uint32_t stepup_latency_bounds_us[STEPUP_LATENCY_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
};

enum { ISO_PROCESS, ISO_THREAD, ISO_INLINE };
static const char *const iso_names[] = { "process", "thread", "inline" };

/* A rule function call travels as a job too (thread isolation). */
#define OP_FN SU_POP_COUNT

typedef struct entry entry;

/* One call. Inputs are owned copies when the call runs on a worker (the
 * caller may stop waiting and return), borrowed otherwise. */
typedef struct job {
	struct job *next;
	entry *en;
	int op;            /* SU_POP_* or OP_FN */
	int refs;          /* caller + worker; under en->mu */
	int done;
	int owned;         /* inputs below are ours to free */
	stepup_call_ctx ctx;
	char err[160];
	/* inputs */
	char *a, *b, *c;   /* destination/decision id/language..., per op */
	stepup_otp_message msg;
	stepup_account_query q;  /* card data: wiped before it is freed */
	int line;
	unsigned fn;
	su_plugin_arg args[STEPUP_PLUGIN_MAX_ARGS];
	/* outputs (malloc'd) */
	int st;
	char *out1, *out2;
	su_plugin_arg ret;
	int fn_ok;
	int host_fail;     /* failed in the host (no process free, one died), not an answer */
	uint64_t elapsed_us;
} job;

struct entry {
	stepup_plugins *set;
	char *name;
	su_plugin *p;        /* local, or the remote stand-in of a "process" one */
	const stepup_plugin_desc *d;
	int iso;
	int trusted;
	unsigned decide_ms, deliver_ms;
	unsigned nthreads, nproc, backoff_ms;
	int required;
	unsigned methods;
	char digest[72];     /* of the code running */
	su_ppool *pool;      /* "process" */
	int check_only;      /* loaded to check a configuration: no calls */

	_Atomic uint64_t calls, errors, timeouts, lat_sum, fn_calls, memo_hits;
	_Atomic uint64_t lat[STEPUP_LATENCY_BUCKETS];
	_Atomic int64_t last_report_ms;

	/* worker pool ("thread" isolation) */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	job *head, *tail;
	unsigned queued;
	int stopping;
	unsigned running;  /* workers alive */
	pthread_t *threads;
	int pool_ready;
};

struct stepup_plugins {
	_Atomic int refs;
	entry *en;
	size_t n;
	int method_plugin[STEPUP_METHOD_COUNT];
	int account_plugin;  /* the account data source, or -1 */
	stepup_log_fn log;
	void *log_ctx;
};

/* ---- what this thread is doing ------------------------------------------------ */

/* The in-process call under way on this thread (for the crash line). */
static _Thread_local const char *volatile in_plugin, *volatile in_call;

/* The decision being made on this thread (su_plugins_decision_begin). */
typedef struct memo {
	const entry *en;
	unsigned fn;
	size_t klen;
	unsigned char *key;   /* the arguments, serialised (in the arena, or malloc'd) */
	int key_heap;
	int ok;
	char ret;
	su_plugin_arg v;      /* a string is the memo's copy */
} memo;

static _Thread_local struct pctx {
	int active;
	unsigned flags;
	int64_t deadline_ms;
	int would_block;
	unsigned nmemo;
	memo m[SU_MEMO_MAX];
	size_t arena_used;    /* keys of this decision, without an allocation */
	unsigned char arena[2048];
} pc;

/* ---- clock and reporting ------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Text a plugin wrote, on its way to a log or a message: no card number,
 * phone number or e-mail address (the one policy, docs/pci.md). */
static void scrub_copy(char *dst, size_t size, const char *src)
{
	stepup_scrub(src, strlen(src), STEPUP_SCRUB_ALL, dst, size);
}

static void sink_line(entry *en, int level, const char *msg)
{
	stepup_plugins *ps = en->set;
	char clean[1024];
	if (!ps->log)
		return;
	scrub_copy(clean, sizeof(clean), msg);
	ps->log(ps->log_ctx, level, en->name, clean);
}

static void report(entry *en, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(entry *en, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!en->set->log)
		return;
	if (level <= STEPUP_LOG_WARNING) {
		int64_t now = (int64_t)(now_us() / 1000), last = atomic_load(&en->last_report_ms);
		if (now - last < 1000 || !atomic_compare_exchange_strong(&en->last_report_ms, &last, now))
			return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sink_line(en, level, msg);
}

/* host->log() of an in-process plugin. */
static void plugin_log(void *ctx, int level, const char *msg)
{
	sink_line(ctx, level, msg);
}

/* A child's lines and its pool's own (crashes, restarts): never rate
 * limited here, the backoff limits crashes. */
static void pool_log(void *ctx, int level, const char *msg)
{
	sink_line(ctx, level, msg);
}

static void record_latency(entry *en, uint64_t us)
{
	unsigned k = 0;
	while (k < STEPUP_LATENCY_BUCKETS - 1 && us > stepup_latency_bounds_us[k])
		k++;
	atomic_fetch_add_explicit(&en->lat[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&en->lat_sum, us, memory_order_relaxed);
}

static int decision_time(int op)
{
	return op == SU_POP_CAN_DELIVER || op == SU_POP_DESCRIBE || op == SU_POP_ROUTE ||
	       op == SU_POP_ACCOUNT || op == OP_FN;
}

static const char *op_name(const job *j)
{
	return j->op == OP_FN ? "rule function" : su_pop_names[j->op];
}

/* ---- the crash line ----------------------------------------------------------- */

/* Append s; with `value`, as the inside of a JSON string (names are
 * [a-z0-9_] already: anything else becomes '?'). */
static size_t put_s(char *buf, size_t size, size_t at, const char *s, int value)
{
	for (; s && *s; s++)
		if (at + 1 < size)
			buf[at++] = value && (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) ? '?' : *s;
	return at;
}

size_t stepup_plugins_crash_line(int sig, char *buf, size_t size)
{
	/* Async-signal-safe: thread-local reads, no locks, no stdio. */
	const char *plugin = in_plugin, *call = in_call;
	char num[12];
	size_t at = 0, k = sizeof(num);
	const char *ab;

	if (!plugin || !buf || size < 2)
		return 0;
	num[--k] = '\0';
	for (unsigned v = (unsigned)(sig < 0 ? 0 : sig); k > 0;) {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
		if (!v)
			break;
	}
	ab = sigabbrev_np(sig);
	at = put_s(buf, size, at, "{\"level\":\"fatal\",\"msg\":\"a plugin crashed the process\",\"plugin\":\"", 0);
	at = put_s(buf, size, at, plugin, 1);
	at = put_s(buf, size, at, "\",\"call\":\"", 0);
	at = put_s(buf, size, at, call ? call : "?", 1);
	at = put_s(buf, size, at, "\",\"signal\":\"SIG", 0);
	at = put_s(buf, size, at, ab ? ab : "?", 1);
	at = put_s(buf, size, at, "\",\"signo\":", 0);
	at = put_s(buf, size, at, num + k, 0);
	at = put_s(buf, size, at, "}\n", 0);
	buf[at] = '\0';
	return at;
}

/* ---- running one call in this process ------------------------------------------ */

static void run_job(job *j)
{
	entry *en = j->en;
	const stepup_plugin_desc *d = en->d;
	void *state = su_plugin_state(en->p);
	stepup_call_ctx *ctx = &j->ctx;
	uint64_t t0 = now_us();
	stepup_cs_route route = { NULL, NULL };

	j->err[0] = '\0';
	in_plugin = en->name;
	in_call = j->op == OP_FN ? su_plugin_fn_name(en->p, j->fn) : su_pop_names[j->op];
	switch (j->op) {
	case SU_POP_CAN_DELIVER:
		j->st = d->otp->can_deliver(state, ctx, j->a);
		break;
	case SU_POP_DELIVER:
		j->st = d->otp->deliver_otp(state, ctx, &j->msg);
		break;
	case SU_POP_NOTIFY:
		j->st = d->otp->notify(state, ctx, j->a, j->b, j->c);
		break;
	case SU_POP_DESCRIBE:
		j->st = d->inapp->describe(state, ctx, j->a, &j->out1);
		break;
	case SU_POP_START: {
		stepup_inapp_request req = { sizeof(req), j->a, j->b, j->c, j->msg.expires_at };
		j->st = d->inapp->start(state, ctx, &req);
		break;
	}
	case SU_POP_VERIFY:
		j->st = d->inapp->verify(state, ctx, j->a, j->b);
		break;
	case SU_POP_ROUTE:
		j->st = d->cs->route(state, ctx, j->a, j->line, &route);
		j->out1 = route.number;
		j->out2 = route.hours;
		break;
	case SU_POP_ACCOUNT:
		j->st = su_plugin_account(en->p)->lookup(state, ctx, &j->q, &j->out1);
		break;
	case OP_FN:
		j->ret.s = NULL;
		j->fn_ok = su_plugin_call(en->p, j->fn, j->args, &j->ret) == STEPUP_OK;
		j->st = j->fn_ok ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_EINVAL;
		break;
	}
	in_plugin = in_call = NULL;
	j->err[sizeof(j->err) - 1] = '\0';
	j->elapsed_us = now_us() - t0;
	record_latency(en, j->elapsed_us);
}

/* Free a copy of card data after overwriting it (PCI: a card number or
 * CSC does not linger in freed heap memory). */
static void free_wiped(const char *s)
{
	if (s) {
		explicit_bzero((char *)s, strlen(s));
		free((char *)s);
	}
}

static int fn_returns_string(const job *j)
{
	return j->op == OP_FN && su_plugin_fn_ret(j->en->p, j->fn) == 's';
}

static void free_job(job *j)
{
	free_wiped(j->out1);  /* an account lookup's facts */
	free(j->out2);
	if (fn_returns_string(j))
		free(j->ret.s);
	if (j->owned) {
		free_wiped(j->q.pan);
		free_wiped(j->q.csc);
		free((char *)j->q.expiry_month);
		free((char *)j->q.expiry_year);
		free((char *)j->q.request_id);
		free(j->a);
		free(j->b);
		free(j->c);
		free((char *)j->msg.destination);
		free_wiped(j->msg.otp);
		free((char *)j->msg.reason);
		free((char *)j->msg.pan_suffix);
		free((char *)j->msg.language);
		if (j->op == OP_FN) {
			const char *sig = su_plugin_fn_args(j->en->p, j->fn);
			for (unsigned i = 0; sig && sig[i]; i++)
				if (sig[i] == 's')
					free(j->args[i].s);
		}
	}
	free(j);
}

static void *worker(void *arg)
{
	entry *en = arg;

	pthread_mutex_lock(&en->mu);
	for (;;) {
		while (!en->head && !en->stopping)
			pthread_cond_wait(&en->work, &en->mu);
		if (!en->head)
			break;
		job *j = en->head;
		en->head = j->next;
		if (!en->head)
			en->tail = NULL;
		en->queued--;
		int abandoned = j->refs == 1;
		pthread_mutex_unlock(&en->mu);
		/* A job whose caller gave up while it waited in the queue is not
		 * worth starting. */
		if (!abandoned && su_wire_now_ms() < j->ctx.deadline_ms)
			run_job(j);
		else
			j->st = STEPUP_PLUGIN_TIMEOUT;
		pthread_mutex_lock(&en->mu);
		j->done = 1;
		if (--j->refs == 0)
			free_job(j);
		else
			pthread_cond_broadcast(&en->done);
	}
	en->running--;
	pthread_cond_broadcast(&en->done);
	pthread_mutex_unlock(&en->mu);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Deep-copy a job's inputs for a worker; 0 or -1. */
static int own_inputs(job *j)
{
	const char *a = j->a, *b = j->b, *c = j->c;
	stepup_otp_message m = j->msg;
	stepup_account_query q = j->q;
	int bad = 0;
	j->owned = 1;
	j->q.pan = dup_or_null(q.pan);
	j->q.csc = dup_or_null(q.csc);
	j->q.expiry_month = dup_or_null(q.expiry_month);
	j->q.expiry_year = dup_or_null(q.expiry_year);
	j->q.request_id = dup_or_null(q.request_id);
	j->a = dup_or_null(a);
	j->b = dup_or_null(b);
	j->c = dup_or_null(c);
	j->msg.destination = dup_or_null(m.destination);
	j->msg.otp = dup_or_null(m.otp);
	j->msg.reason = dup_or_null(m.reason);
	j->msg.pan_suffix = dup_or_null(m.pan_suffix);
	j->msg.language = dup_or_null(m.language);
	if (j->op == OP_FN) {
		const char *sig = su_plugin_fn_args(j->en->p, j->fn);
		for (unsigned i = 0; sig[i]; i++)
			if (sig[i] == 's')
				bad |= !(j->args[i].s = strdup(j->args[i].s));
	}
	return bad || (q.pan && !j->q.pan) || (q.csc && !j->q.csc) ||
	       (q.expiry_month && !j->q.expiry_month) || (q.expiry_year && !j->q.expiry_year) ||
	       (q.request_id && !j->q.request_id) || (a && !j->a) || (b && !j->b) || (c && !j->c) ||
	       (m.destination && !j->msg.destination) || (m.otp && !j->msg.otp) ||
	       (m.reason && !j->msg.reason) || (m.pan_suffix && !j->msg.pan_suffix) ||
	       (m.language && !j->msg.language) ? -1 : 0;
}

/* ---- running one call in the plugin's process ----------------------------------- */

static void put_args(su_wbuf *w, const job *j)
{
	switch (j->op) {
	case SU_POP_CAN_DELIVER:
	case SU_POP_DESCRIBE:
		su_wire_str(w, j->a);
		break;
	case SU_POP_DELIVER:
		su_wire_str(w, j->msg.destination);
		su_wire_str(w, j->msg.otp);
		su_wire_i64(w, j->msg.expires_at);
		su_wire_str(w, j->msg.reason);
		su_wire_str(w, j->msg.pan_suffix);
		su_wire_str(w, j->msg.language);
		break;
	case SU_POP_NOTIFY:
		su_wire_str(w, j->a);
		su_wire_str(w, j->b);
		su_wire_str(w, j->c);
		break;
	case SU_POP_START:
		su_wire_str(w, j->a);
		su_wire_str(w, j->b);
		su_wire_str(w, j->c);
		su_wire_i64(w, j->msg.expires_at);
		break;
	case SU_POP_VERIFY:
		su_wire_str(w, j->a);
		su_wire_str(w, j->b);
		break;
	case SU_POP_ROUTE:
		su_wire_str(w, j->a);
		su_wire_i64(w, j->line);
		break;
	case SU_POP_ACCOUNT:
		su_wire_str(w, j->q.pan);
		su_wire_str(w, j->q.expiry_month);
		su_wire_str(w, j->q.expiry_year);
		su_wire_str(w, j->q.csc);
		su_wire_str(w, j->q.request_id);
		break;
	}
}

/* The call as a frame to j->en's process; j->st and outputs set. */
static void run_remote(job *j)
{
	entry *en = j->en;
	su_wbuf w = { 0 }, in = { 0 };
	su_rbuf r;
	char why[192];
	uint64_t t0 = now_us();

	j->err[0] = '\0';
	if (j->op == OP_FN) {
		const char *sig = su_plugin_fn_args(en->p, j->fn);
		su_wire_begin(&w, SU_W_FN);
		su_wire_i64(&w, j->fn);
		su_wire_i64(&w, j->ctx.deadline_ms);
		for (unsigned i = 0; sig[i]; i++)
			switch (sig[i]) {
			case 'i': su_wire_i64(&w, j->args[i].i); break;
			case 'd': su_wire_f64(&w, j->args[i].d); break;
			case 'b': su_wire_i64(&w, j->args[i].b); break;
			default: su_wire_str(&w, j->args[i].s); break;
			}
	} else {
		su_wire_begin(&w, SU_W_CALL);
		su_wire_i64(&w, j->op);
		su_wire_i64(&w, j->ctx.deadline_ms);
		su_wire_i64(&w, j->ctx.timeout_ms);
		put_args(&w, j);
	}
	if (su_wire_end(&w) < 0) {
		j->st = STEPUP_PLUGIN_ERROR;
		su_set_err(j->err, sizeof(j->err), "out of memory");
		goto out;
	}
	int rc = su_ppool_call(en->pool, &w, &in, &r, j->ctx.deadline_ms, op_name(j), why, sizeof(why));
	if (rc != SU_PPOOL_OK) {
		j->host_fail = 1;
		j->st = rc == SU_PPOOL_TIMEOUT ? STEPUP_PLUGIN_TIMEOUT
		      : rc == SU_PPOOL_BUSY || rc == SU_PPOOL_DOWN ? STEPUP_PLUGIN_UNAVAILABLE
		      : STEPUP_PLUGIN_ERROR;
		snprintf(j->err, sizeof(j->err), "%.150s", why);
		goto out;
	}
	if (j->op == OP_FN) {
		int64_t ok = su_wire_get_i64(&r);
		j->fn_ok = su_wire_kind(&r) == SU_W_FN_RESULT && ok == 1;
		j->ret.s = NULL;
		switch (j->fn_ok ? su_plugin_fn_ret(en->p, j->fn) : 0) {
		case 'i': j->ret.i = su_wire_get_i64(&r); break;
		case 'd': j->ret.d = su_wire_get_f64(&r); break;
		case 'b': j->ret.b = su_wire_get_i64(&r) != 0; break;
		case 's': {
			const char *s = su_wire_get_str(&r);
			if (s && !(j->ret.s = strdup(s)))
				j->fn_ok = 0;
			break;
		}
		}
		if (r.bad) {
			j->fn_ok = 0;
			if (su_plugin_fn_ret(en->p, j->fn) == 's')
				free(j->ret.s);
			j->ret.s = NULL;
		}
		j->st = j->fn_ok ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_ERROR;
	} else {
		int64_t st = su_wire_get_i64(&r);
		const char *e = su_wire_get_str(&r), *o1 = su_wire_get_str(&r), *o2 = su_wire_get_str(&r);
		if (su_wire_kind(&r) != SU_W_RESULT || r.bad || st < 0 || st > 100) {
			j->st = STEPUP_PLUGIN_ERROR;
			su_set_err(j->err, sizeof(j->err), "its process answered something else than a result");
			goto out;
		}
		j->st = (int)st;
		snprintf(j->err, sizeof(j->err), "%s", e ? e : "");
		j->out1 = dup_or_null(o1);
		j->out2 = dup_or_null(o2);
		if ((o1 && !j->out1) || (o2 && !j->out2)) {
			j->st = STEPUP_PLUGIN_ERROR;
			su_set_err(j->err, sizeof(j->err), "out of memory");
		}
	}
out:
	su_wire_free(&w);
	su_wire_free(&in);
	j->elapsed_us = now_us() - t0;
	record_latency(en, j->elapsed_us);
}

/* ---- one call, whatever the isolation ------------------------------------------- */

/* Status of a call that did not get through its deadline. */
static void too_late(entry *en, job *j, su_pcall *res, const char *how)
{
	atomic_fetch_add_explicit(&en->timeouts, 1, memory_order_relaxed);
	su_set_err(res->why, sizeof(res->why), "%s: %s: %s", en->name, op_name(j), how);
	report(en, STEPUP_LOG_WARNING, "%s: %s", op_name(j), how);
	res->status = STEPUP_ETIMEOUT;
}

/* Run j on en under its deadline. 0 when the caller may read j's results
 * and must free it (release()), -1 when it may not (the caller stopped
 * waiting and the worker frees it; or it was never run): status in res. */
static int call(entry *en, job *j, su_pcall *res)
{
	int dtime = decision_time(j->op);
	unsigned tmo = dtime ? en->decide_ms : en->deliver_ms;
	int64_t start = su_wire_now_ms(), deadline = start + tmo;
	int rc;

	j->en = en;
	j->st = STEPUP_PLUGIN_ERROR;
	res->plugin = (int)(en - en->set->en);
	res->why[0] = '\0';
	if (en->check_only) {
		res->status = STEPUP_ESTATE;
		su_set_err(res->why, sizeof(res->why), "%s: loaded to check a configuration only", en->name);
		return 0;
	}
	if (dtime && pc.active) {
		/* A call that may block, on a thread that must not wait: the
		 * host decides again where it may (STEPUP_DECIDE_NONBLOCK). */
		if ((pc.flags & STEPUP_DECIDE_NONBLOCK) && en->iso != ISO_INLINE) {
			pc.would_block = 1;
			res->status = STEPUP_ESTATE;
			su_set_err(res->why, sizeof(res->why), "%s: %s: would block", en->name, op_name(j));
			return 0;
		}
		if (pc.deadline_ms > 0 && pc.deadline_ms < deadline)
			deadline = pc.deadline_ms;
	}
	atomic_fetch_add_explicit(&en->calls, 1, memory_order_relaxed);
	if (j->op == OP_FN)
		atomic_fetch_add_explicit(&en->fn_calls, 1, memory_order_relaxed);
	if (deadline <= start) {
		too_late(en, j, res, "not called: the decision's deadline had passed");
		return 0;
	}
	j->ctx.size = sizeof(j->ctx);
	j->ctx.timeout_ms = (uint32_t)(deadline - start);
	j->ctx.deadline_ms = deadline;
	j->ctx.err = j->err;
	j->ctx.errlen = sizeof(j->err);

	if (en->iso == ISO_INLINE) {
		run_job(j);
		/* Overran: the answer came too late to be used, whatever it is. */
		if (su_wire_now_ms() > deadline && j->st == STEPUP_PLUGIN_OK)
			j->st = STEPUP_PLUGIN_TIMEOUT;
	} else if (en->iso == ISO_PROCESS) {
		run_remote(j);
	} else {
		struct timespec until = { (time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L };
		if (own_inputs(j) < 0) {
			j->st = STEPUP_PLUGIN_ERROR;
			su_set_err(j->err, sizeof(j->err), "out of memory");
			goto finish;
		}
		pthread_mutex_lock(&en->mu);
		if (en->queued >= en->nthreads * SU_QUEUE_PER_THREAD || en->stopping) {
			pthread_mutex_unlock(&en->mu);
			j->st = STEPUP_PLUGIN_UNAVAILABLE;
			su_set_err(j->err, sizeof(j->err), "busy: %u calls already waiting", en->queued);
			goto finish;
		}
		j->refs = 2;
		j->next = NULL;
		if (en->tail)
			en->tail->next = j;
		else
			en->head = j;
		en->tail = j;
		en->queued++;
		pthread_cond_signal(&en->work);
		while (!j->done) {
			int w = pthread_cond_timedwait(&en->done, &en->mu, &until);
			if (w == ETIMEDOUT && !j->done) {
				/* Give up: the worker frees the job when it is done,
				 * so nothing of j may be read after the unlock. */
				const char *opname = op_name(j);
				j->refs--;
				pthread_mutex_unlock(&en->mu);
				atomic_fetch_add_explicit(&en->timeouts, 1, memory_order_relaxed);
				su_set_err(res->why, sizeof(res->why), "%s: %s: no answer within %u ms", en->name,
				           opname, (unsigned)(deadline - start));
				report(en, STEPUP_LOG_WARNING, "%s: no answer within %u ms", opname,
				       (unsigned)(deadline - start));
				res->status = STEPUP_ETIMEOUT;
				return -1;
			}
		}
		j->refs--;
		pthread_mutex_unlock(&en->mu);
	}
finish:;
	char clean[sizeof(j->err)];
	scrub_copy(clean, sizeof(clean), j->err);
	switch (j->st) {
	case STEPUP_PLUGIN_OK:
		rc = STEPUP_OK;
		break;
	case STEPUP_PLUGIN_TIMEOUT:
		rc = STEPUP_ETIMEOUT;
		atomic_fetch_add_explicit(&en->timeouts, 1, memory_order_relaxed);
		if (j->host_fail && clean[0])  /* the host killed it: say so */
			su_set_err(res->why, sizeof(res->why), "%s: %s: %s", en->name, op_name(j), clean);
		else
			su_set_err(res->why, sizeof(res->why), "%s: %s: overran its %u ms deadline", en->name,
			           op_name(j), (unsigned)(deadline - start));
		report(en, STEPUP_LOG_WARNING, "%s: overran its %u ms deadline (%llu us)%s%s", op_name(j),
		       (unsigned)(deadline - start), (unsigned long long)j->elapsed_us,
		       j->host_fail && clean[0] ? ": " : "", j->host_fail ? clean : "");
		break;
	default: {
		/* A rejected or malformed proof, a channel that cannot reach
		 * this destination, or a card the issuer does not know, is an
		 * answer, not a failure of the plugin: not counted as an error,
		 * not worth a warning. */
		int answer = !j->host_fail && ((j->op == SU_POP_VERIFY && (j->st == STEPUP_PLUGIN_REJECTED ||
		                                         j->st == STEPUP_PLUGIN_EINVAL)) ||
		             (j->op == SU_POP_CAN_DELIVER && j->st == STEPUP_PLUGIN_UNAVAILABLE && j->a &&
		              !j->host_fail) ||
		             (j->op == SU_POP_ACCOUNT && j->st == STEPUP_PLUGIN_REJECTED));
		rc = STEPUP_EPLUGIN;
		su_set_err(res->why, sizeof(res->why), "%s: %s: %s", en->name, op_name(j),
		           clean[0] ? clean : j->st == STEPUP_PLUGIN_UNAVAILABLE ? "unavailable"
		           : j->st == STEPUP_PLUGIN_REJECTED ? "rejected" : "failed");
		if (!answer) {
			atomic_fetch_add_explicit(&en->errors, 1, memory_order_relaxed);
			report(en, STEPUP_LOG_WARNING, "%s: %s (status %d)", op_name(j),
			       clean[0] ? clean : "failed", j->st);
		}
	}
	}
	res->status = rc;
	return 0;
}

/* Free a job whose call() returned 0 (not abandoned). */
static void release(job *j)
{
	free_job(j);
}

static job *new_job(int op)
{
	job *j = calloc(1, sizeof(*j));
	if (j) {
		j->op = op;
		j->msg.size = sizeof(j->msg);
		j->q.size = sizeof(j->q);
	}
	return j;
}

static entry *method_entry(const stepup_plugins *ps, stepup_method m)
{
	if (!ps || (unsigned)m >= STEPUP_METHOD_COUNT || ps->method_plugin[m] < 0)
		return NULL;
	return &ps->en[ps->method_plugin[m]];
}

static void not_served(su_pcall *res, stepup_method m)
{
	res->status = STEPUP_ENOTFOUND;
	res->plugin = -1;
	su_set_err(res->why, sizeof(res->why), "no plugin serves %s", stepup_method_name(m));
}

static void oom(su_pcall *res)
{
	res->status = STEPUP_ENOMEM;
	su_set_err(res->why, sizeof(res->why), "out of memory");
}

/* ---- decisions: deadline, memo, would-block ---------------------------------------- */

void su_plugins_decision_begin(int64_t deadline_ms, unsigned flags)
{
	pc.active = 1;
	pc.flags = flags;
	pc.deadline_ms = deadline_ms;
	pc.would_block = 0;
	pc.nmemo = 0;
	pc.arena_used = 0;
}

int su_plugins_decision_end(void)
{
	for (unsigned i = 0; i < pc.nmemo; i++) {
		memo *m = &pc.m[i];
		if (m->key_heap)
			free(m->key);
		if (m->ok && m->ret == 's')
			free(m->v.s);
	}
	pc.nmemo = 0;
	pc.active = 0;
	return pc.would_block;
}

/* The arguments of a call as bytes, for the memo: in the decision's
 * arena when they fit (*heap 0), else malloc'd; NULL on OOM. */
static unsigned char *memo_key(const char *sig, const su_plugin_arg *a, size_t *len, int *heap)
{
	size_t n = 0;
	for (unsigned i = 0; sig[i]; i++)
		n += sig[i] == 's' ? strlen(a[i].s) + 1 : 8;
	unsigned char *k, *p;
	*heap = n > sizeof(pc.arena) - pc.arena_used;
	if (*heap)
		k = malloc(n ? n : 1);
	else
		k = pc.arena + pc.arena_used;
	if (!k)
		return NULL;
	p = k;
	for (unsigned i = 0; sig[i]; i++) {
		if (sig[i] == 's') {
			size_t l = strlen(a[i].s) + 1;
			memcpy(p, a[i].s, l);
			p += l;
		} else {
			int64_t v = sig[i] == 'b' ? a[i].b != 0 : a[i].i;
			if (sig[i] == 'd')
				memcpy(&v, &a[i].d, 8);
			memcpy(p, &v, 8);
			p += 8;
		}
	}
	*len = n;
	return k;
}

int su_plugins_call_fn(const su_plugin *p, unsigned fn, const su_plugin_arg *args, su_plugin_arg *ret)
{
	entry *en = su_plugin_owner(p);
	char r = su_plugin_fn_ret(p, fn);
	unsigned char *key = NULL;
	size_t klen = 0;
	int heap = 0;
	su_pcall res;
	job *j;
	int ok;

	if (!en)  /* not from a set: nothing to count or isolate */
		return su_plugin_call(p, fn, args, ret);
	if (pc.active) {
		key = memo_key(su_plugin_fn_args(p, fn), args, &klen, &heap);
		for (unsigned i = 0; key && i < pc.nmemo; i++) {
			memo *m = &pc.m[i];
			if (m->en == en && m->fn == fn && m->klen == klen && memcmp(m->key, key, klen) == 0) {
				if (heap)
					free(key);
				atomic_fetch_add_explicit(&en->memo_hits, 1, memory_order_relaxed);
				if (!m->ok)
					return STEPUP_EPLUGIN;
				*ret = m->v;
				if (r == 's' && m->v.s && !(ret->s = strdup(m->v.s)))
					return STEPUP_ENOMEM;
				return STEPUP_OK;
			}
		}
	}
	if (!(j = new_job(OP_FN))) {
		if (heap)
			free(key);
		return STEPUP_ENOMEM;
	}
	j->fn = fn;
	memcpy(j->args, args, strlen(su_plugin_fn_args(p, fn)) * sizeof(*args));
	if (call(en, j, &res) < 0) {
		ok = 0;  /* abandoned at the deadline: absent */
	} else {
		ok = res.status == STEPUP_OK && j->fn_ok;
		if (ok) {
			*ret = j->ret;
			if (r == 's')
				j->ret.s = NULL;  /* now the caller's */
		}
		release(j);
	}
	if (pc.would_block) {
		if (heap)
			free(key);
		if (ok && r == 's')
			free(ret->s);
		return STEPUP_ESTATE;
	}
	if (key && pc.nmemo < SU_MEMO_MAX) {
		memo *m = &pc.m[pc.nmemo];
		m->en = en;
		m->fn = fn;
		m->key = key;
		m->key_heap = heap;
		m->klen = klen;
		m->ret = r;
		m->ok = ok;
		m->v = ok ? *ret : (su_plugin_arg){ 0 };
		/* A string result may be NULL: absent, and remembered so. */
		if (!(ok && r == 's' && ret->s) || (m->v.s = strdup(ret->s))) {
			pc.nmemo++;
			if (!heap)
				pc.arena_used += klen;
			key = NULL;  /* the memo's now */
		}
	}
	if (heap)
		free(key);
	return ok ? STEPUP_OK : STEPUP_EPLUGIN;
}

/* ---- the decide path -------------------------------------------------------- */

void su_plugins_can_deliver(stepup_plugins *ps, stepup_method m, const char *destination,
                            su_pcall *res)
{
	entry *en = method_entry(ps, m);
	job *j;

	if (!en || !en->d->otp)
		return not_served(res, m);
	if (!(j = new_job(SU_POP_CAN_DELIVER)))
		return oom(res);
	j->a = (char *)destination;
	if (call(en, j, res) == 0)
		release(j);
}

void su_plugins_describe(stepup_plugins *ps, const char *language, char **app_json, su_pcall *res)
{
	entry *en = method_entry(ps, STEPUP_IN_APP);
	job *j;

	*app_json = NULL;
	if (!en)
		return not_served(res, STEPUP_IN_APP);
	if (!(j = new_job(SU_POP_DESCRIBE)))
		return oom(res);
	j->a = (char *)(language ? language : "");
	if (call(en, j, res) == 0) {
		if (res->status == STEPUP_OK) {
			/* Untrusted text goes into our responses: it must be one JSON
			 * object, and is re-serialised compactly. */
			json_t *o = j->out1 ? json_loads(j->out1, JSON_REJECT_DUPLICATES, NULL) : NULL;
			if (json_is_object(o))
				*app_json = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
			if (!*app_json) {
				res->status = STEPUP_EPLUGIN;
				atomic_fetch_add_explicit(&en->errors, 1, memory_order_relaxed);
				su_set_err(res->why, sizeof(res->why), "%s: describe: not a JSON object", en->name);
				report(en, STEPUP_LOG_WARNING, "describe: returned something other than a JSON object");
			}
			json_decref(o);
		}
		release(j);
	}
}

static int plausible_number(const char *s)
{
	size_t digits = 0;
	if (!s || !*s || strlen(s) > 32)
		return 0;
	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (!strchr("+-() .", *p))
			return 0;
	}
	return digits >= 3;
}

void su_plugins_route(stepup_plugins *ps, const char *request_json, stepup_cs_line line,
                      char **number, char **hours, su_pcall *res)
{
	entry *en = method_entry(ps, STEPUP_CUSTOMER_SERVICE);
	job *j;

	*number = *hours = NULL;
	if (!en)
		return not_served(res, STEPUP_CUSTOMER_SERVICE);
	if (!(j = new_job(SU_POP_ROUTE)))
		return oom(res);
	j->a = (char *)(request_json ? request_json : "{}");
	j->line = line == STEPUP_LINE_FRAUD ? STEPUP_CS_LINE_FRAUD : STEPUP_CS_LINE_STANDARD;
	if (call(en, j, res) == 0) {
		if (res->status == STEPUP_OK) {
			if (!plausible_number(j->out1) || (j->out2 && strlen(j->out2) > 128)) {
				res->status = STEPUP_EPLUGIN;
				atomic_fetch_add_explicit(&en->errors, 1, memory_order_relaxed);
				su_set_err(res->why, sizeof(res->why), "%s: route: no usable number", en->name);
				report(en, STEPUP_LOG_WARNING, "route: returned no usable phone number");
			} else {
				*number = j->out1;
				*hours = j->out2;
				j->out1 = j->out2 = NULL;
			}
		}
		release(j);
	}
}

/* ---- public step-up calls --------------------------------------------------- */

static int finish_public(const su_pcall *res, char *err, size_t errlen)
{
	if (res->status != STEPUP_OK)
		su_set_err(err, errlen, "%s", res->why);
	return res->status;
}

int stepup_plugins_deliver_otp(stepup_plugins *ps, stepup_method m, const stepup_otp *otp,
                               char *err, size_t errlen)
{
	entry *en = method_entry(ps, m);
	su_pcall res;
	job *j;

	if (!otp || !otp->destination || !otp->otp)
		return STEPUP_EINVAL;
	if (!en || !en->d->otp) {
		not_served(&res, m);
		return finish_public(&res, err, errlen);
	}
	if (!(j = new_job(SU_POP_DELIVER)))
		return STEPUP_ENOMEM;
	j->msg.destination = otp->destination;
	j->msg.otp = otp->otp;
	j->msg.expires_at = otp->expires_at;
	j->msg.reason = otp->reason ? otp->reason : "";
	j->msg.pan_suffix = otp->pan_suffix ? otp->pan_suffix : "";
	j->msg.language = otp->language ? otp->language : "";
	if (call(en, j, &res) == 0)
		release(j);
	return finish_public(&res, err, errlen);
}

int stepup_plugins_notify(stepup_plugins *ps, stepup_method m, const char *destination,
                          const char *text, const char *language, char *err, size_t errlen)
{
	entry *en = method_entry(ps, m);
	su_pcall res;
	job *j;

	if (!destination || !text)
		return STEPUP_EINVAL;
	if (!en || !en->d->otp) {
		not_served(&res, m);
		return finish_public(&res, err, errlen);
	}
	if (!(j = new_job(SU_POP_NOTIFY)))
		return STEPUP_ENOMEM;
	j->a = (char *)destination;
	j->b = (char *)text;
	j->c = (char *)(language ? language : "");
	if (call(en, j, &res) == 0)
		release(j);
	return finish_public(&res, err, errlen);
}

int stepup_plugins_inapp_start(stepup_plugins *ps, const char *decision_id,
                               const char *request_json, const char *language,
                               int64_t expires_at, char *err, size_t errlen)
{
	entry *en = method_entry(ps, STEPUP_IN_APP);
	su_pcall res;
	job *j;

	if (!decision_id)
		return STEPUP_EINVAL;
	if (!en) {
		not_served(&res, STEPUP_IN_APP);
		return finish_public(&res, err, errlen);
	}
	if (!(j = new_job(SU_POP_START)))
		return STEPUP_ENOMEM;
	j->a = (char *)decision_id;
	j->b = (char *)(request_json ? request_json : "{}");
	j->c = (char *)(language ? language : "");
	j->msg.expires_at = expires_at;
	if (call(en, j, &res) == 0)
		release(j);
	return finish_public(&res, err, errlen);
}

int stepup_plugins_inapp_verify(stepup_plugins *ps, const char *decision_id,
                                const char *proof_json, int *valid, char *err, size_t errlen)
{
	entry *en = method_entry(ps, STEPUP_IN_APP);
	su_pcall res;
	job *j;
	int st = STEPUP_PLUGIN_ERROR;

	if (!decision_id || !proof_json || !valid)
		return STEPUP_EINVAL;
	*valid = 0;
	if (!en) {
		not_served(&res, STEPUP_IN_APP);
		return finish_public(&res, err, errlen);
	}
	if (!(j = new_job(SU_POP_VERIFY)))
		return STEPUP_ENOMEM;
	j->a = (char *)decision_id;
	j->b = (char *)proof_json;
	if (call(en, j, &res) == 0) {
		st = j->st;
		release(j);
	}
	if (res.status == STEPUP_OK)
		*valid = 1;
	else if (st == STEPUP_PLUGIN_REJECTED || st == STEPUP_PLUGIN_EINVAL)
		return STEPUP_OK;  /* checked and invalid, or malformed: an answer about the proof */
	return finish_public(&res, err, errlen);
}

int stepup_plugins_cs_route(stepup_plugins *ps, const char *request_json, stepup_cs_line line,
                            char **number, char **hours, char *err, size_t errlen)
{
	su_pcall res;

	if (!number || !hours)
		return STEPUP_EINVAL;
	su_plugins_route(ps, request_json, line, number, hours, &res);
	return finish_public(&res, err, errlen);
}

/* ---- account data source ------------------------------------------------------ */

int stepup_plugins_account_lookup(stepup_plugins *ps, const stepup_card_data *card, char **facts_json,
                                  char *err, size_t errlen)
{
	su_pcall res;
	job *j;

	if (!card || !card->pan || !facts_json)
		return STEPUP_EINVAL;
	*facts_json = NULL;
	if (!ps || ps->account_plugin < 0) {
		res.status = STEPUP_ENOTFOUND;
		su_set_err(res.why, sizeof(res.why), "no account data source is configured");
		return finish_public(&res, err, errlen);
	}
	entry *en = &ps->en[ps->account_plugin];
	if (!(j = new_job(SU_POP_ACCOUNT)))
		return STEPUP_ENOMEM;
	j->q.pan = card->pan;
	j->q.expiry_month = card->expiry_month ? card->expiry_month : "";
	j->q.expiry_year = card->expiry_year ? card->expiry_year : "";
	j->q.csc = card->csc;
	j->q.request_id = card->request_id ? card->request_id : "";
	if (call(en, j, &res) != 0)
		return finish_public(&res, err, errlen);
	if (res.status == STEPUP_OK) {
		/* Facts are data for rules: one JSON object, and never a card
		 * number (the one policy, docs/pci.md), which would then reach
		 * rules' output, logs and the case store. */
		json_t *o = j->out1 ? json_loads(j->out1, JSON_REJECT_DUPLICATES, NULL) : NULL;
		const char *bad = !json_is_object(o) ? "facts that are not one JSON object"
		                  : stepup_card_number_find(j->out1, strlen(j->out1), NULL, NULL)
		                  ? "facts holding a card number" : NULL;
		json_decref(o);
		if (bad) {
			res.status = STEPUP_EPLUGIN;
			atomic_fetch_add_explicit(&en->errors, 1, memory_order_relaxed);
			su_set_err(res.why, sizeof(res.why), "%s: lookup: returned %s", en->name, bad);
			report(en, STEPUP_LOG_WARNING, "lookup: returned %s", bad);
		} else {
			*facts_json = j->out1;
			j->out1 = NULL;
		}
	} else if (j->st == STEPUP_PLUGIN_REJECTED) {
		res.status = STEPUP_OK;  /* the issuer does not know the card: an answer */
	}
	release(j);
	return finish_public(&res, err, errlen);
}

int stepup_plugins_account_source(const stepup_plugins *ps)
{
	return ps ? ps->account_plugin : -1;
}

/* ---- health ------------------------------------------------------------------ */

int stepup_plugins_check(stepup_plugins *ps, size_t i, char *err, size_t errlen)
{
	entry *en;
	su_pcall res;
	job *j;

	if (!ps || i >= ps->n)
		return STEPUP_EINVAL;
	en = &ps->en[i];
	if (en->pool) {
		su_ppool_stats st;
		su_ppool_stats_get(en->pool, &st);
		if (st.streak >= SU_CRASH_LOOP) {
			su_set_err(err, errlen, "%s: keeps failing (%u times in a row; last: %s)", en->name,
			           st.streak, st.last);
			return STEPUP_EPLUGIN;
		}
		if (!st.alive) {
			su_set_err(err, errlen, "%s: no process running (%s)", en->name,
			           st.last[0] ? st.last : "starting");
			return STEPUP_EPLUGIN;
		}
	}
	if (!en->d->otp || en->check_only)
		return STEPUP_OK;
	if (!(j = new_job(SU_POP_CAN_DELIVER)))
		return STEPUP_ENOMEM;
	if (call(en, j, &res) == 0)
		release(j);
	return finish_public(&res, err, errlen);
}

int stepup_plugins_ready(stepup_plugins *ps, char *err, size_t errlen)
{
	for (size_t i = 0; ps && i < ps->n; i++)
		if (ps->en[i].required && stepup_plugins_check(ps, i, err, errlen) != STEPUP_OK)
			return 0;
	return 1;
}

/* ---- introspection ------------------------------------------------------------ */

size_t stepup_plugins_count(const stepup_plugins *ps)
{
	return ps ? ps->n : 0;
}

int stepup_plugins_info(const stepup_plugins *ps, size_t i, stepup_plugin_info *out)
{
	const entry *en;

	if (!ps || i >= ps->n || !out)
		return STEPUP_EINVAL;
	en = &ps->en[i];
	out->name = en->name;
	out->path = su_plugin_path(en->p);
	out->version = su_plugin_version(en->p);
	out->provides = su_plugin_provides(en->p);
	out->methods = en->methods;
	out->timeout_ms = en->deliver_ms;
	out->required = en->required;
	out->isolated = en->iso != ISO_INLINE;
	return STEPUP_OK;
}

int stepup_plugins_stats(const stepup_plugins *ps, size_t i, stepup_plugin_stats *out)
{
	entry *en;

	if (!ps || i >= ps->n || !out)
		return STEPUP_EINVAL;
	en = &ps->en[i];
	out->calls = atomic_load_explicit(&en->calls, memory_order_relaxed);
	out->errors = atomic_load_explicit(&en->errors, memory_order_relaxed);
	out->timeouts = atomic_load_explicit(&en->timeouts, memory_order_relaxed);
	out->latency_us_sum = atomic_load_explicit(&en->lat_sum, memory_order_relaxed);
	for (unsigned k = 0; k < STEPUP_LATENCY_BUCKETS; k++)
		out->latency_buckets[k] = atomic_load_explicit(&en->lat[k], memory_order_relaxed);
	return STEPUP_OK;
}

/* Fill the fields of out that lie within out->size (set by the caller). */
#define FITS(f) (out->size >= offsetof(stepup_plugin_runtime, f) + sizeof(out->f))

int stepup_plugins_runtime(const stepup_plugins *ps, size_t i, stepup_plugin_runtime *out)
{
	entry *en;
	su_ppool_stats st;

	if (!ps || i >= ps->n || !out || out->size < offsetof(stepup_plugin_runtime, isolation))
		return STEPUP_EINVAL;
	en = &ps->en[i];
	memset(&st, 0, sizeof(st));
	if (en->pool)
		su_ppool_stats_get(en->pool, &st);
	if (FITS(isolation))
		out->isolation = iso_names[en->iso];
	if (FITS(digest))
		out->digest = en->digest;
	if (FITS(data_version))
		out->data_version = su_plugin_data_version(en->p) ? su_plugin_data_version(en->p) : "";
	if (FITS(trusted))
		out->trusted = en->trusted;
	if (FITS(decide_timeout_ms))
		out->decide_timeout_ms = en->decide_ms;
	if (FITS(deliver_timeout_ms))
		out->deliver_timeout_ms = en->deliver_ms;
	if (FITS(processes))
		out->processes = en->pool ? st.total : 0;
	if (FITS(processes_alive))
		out->processes_alive = st.alive;
	if (FITS(crashes))
		out->crashes = st.crashes;
	if (FITS(kills))
		out->kills = st.kills;
	if (FITS(restarts))
		out->restarts = st.restarts;
	if (FITS(failing))
		out->failing = st.streak;
	if (FITS(fn_calls))
		out->fn_calls = atomic_load_explicit(&en->fn_calls, memory_order_relaxed);
	if (FITS(memo_hits))
		out->memo_hits = atomic_load_explicit(&en->memo_hits, memory_order_relaxed);
	return STEPUP_OK;
}
#undef FITS

int stepup_plugins_for_method(const stepup_plugins *ps, stepup_method m)
{
	return ps && (unsigned)m < STEPUP_METHOD_COUNT ? ps->method_plugin[m] : -1;
}

const su_plugin *su_plugins_find(const stepup_plugins *ps, const char *name)
{
	for (size_t i = 0; ps && name && i < ps->n; i++)
		if (strcmp(ps->en[i].name, name) == 0)
			return ps->en[i].p;
	return NULL;
}

/* ---- lifetime ------------------------------------------------------------------ */

static int start_pool(entry *en)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&en->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&en->done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&en->work, NULL);
	en->pool_ready = 1;
	if (en->iso != ISO_THREAD || en->check_only)
		return 0;
	en->threads = calloc(en->nthreads, sizeof(*en->threads));
	if (!en->threads)
		return -1;
	for (unsigned k = 0; k < en->nthreads; k++) {
		if (pthread_create(&en->threads[k], NULL, worker, en) != 0)
			return -1;
		pthread_mutex_lock(&en->mu);
		en->running++;
		pthread_mutex_unlock(&en->mu);
	}
	return 0;
}

/* Stop the workers. A worker stuck in a plugin that never returns cannot
 * be cancelled safely: after a grace period the plugin is left loaded
 * (leaked) rather than unloaded under a running thread. 1 if it is safe to
 * unload. */
static int stop_pool(entry *en)
{
	struct timespec until;
	uint64_t dl;
	int stuck = 0;

	if (!en->pool_ready)
		return 1;
	pthread_mutex_lock(&en->mu);
	en->stopping = 1;
	pthread_cond_broadcast(&en->work);
	dl = now_us() + 2000000u + (uint64_t)en->deliver_ms * 2000u;
	until.tv_sec = (time_t)(dl / 1000000u);
	until.tv_nsec = (long)(dl % 1000000u) * 1000;
	while (en->running && !stuck)
		stuck = pthread_cond_timedwait(&en->done, &en->mu, &until) == ETIMEDOUT && en->running;
	pthread_mutex_unlock(&en->mu);
	for (unsigned k = 0; en->threads && k < en->nthreads && !stuck; k++)
		pthread_join(en->threads[k], NULL);
	if (stuck) {
		for (unsigned k = 0; en->threads && k < en->nthreads; k++)
			pthread_detach(en->threads[k]);
		report(en, STEPUP_LOG_ERROR, "a call never returned: the plugin is left loaded");
		return 0;
	}
	free(en->threads);
	pthread_cond_destroy(&en->work);
	pthread_cond_destroy(&en->done);
	pthread_mutex_destroy(&en->mu);
	return 1;
}

static void free_set(stepup_plugins *ps)
{
	int stuck = 0;

	if (!ps)
		return;
	for (size_t i = ps->n; i-- > 0;) {
		entry *en = &ps->en[i];
		if (stop_pool(en)) {
			su_ppool_free(en->pool);
			su_plugin_unload(en->p);
			free(en->name);
		} else
			stuck = 1;
	}
	/* A stuck plugin's workers still read its entry (and the set, to
	 * log): leak them rather than free memory a thread still reads. */
	if (stuck)
		return;
	free(ps->en);
	free(ps);
}

stepup_plugins *stepup_plugins_ref(stepup_plugins *ps)
{
	if (ps)
		atomic_fetch_add(&ps->refs, 1);
	return ps;
}

void stepup_plugins_unref(stepup_plugins *ps)
{
	if (ps && atomic_fetch_sub(&ps->refs, 1) == 1)
		free_set(ps);
}

/* ---- configuration ---------------------------------------------------------------- */

static int cerr(char *err, size_t n, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int cerr(char *err, size_t n, int rc, const char *fmt, ...)
{
	va_list ap;
	char msg[768];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	su_set_err(err, n, "plugins: %s", msg);
	return rc;
}

static int get_uint(json_t *v, const char *what, unsigned lo, unsigned hi, const char *unit,
                    unsigned *out, char *err, size_t n)
{
	json_int_t x;
	if (!json_is_integer(v) || (x = json_integer_value(v)) < lo || x > hi)
		return cerr(err, n, STEPUP_ECONFIG, "%s must be an integer from %u to %u%s", what, lo, hi, unit);
	*out = (unsigned)x;
	return STEPUP_OK;
}

static int get_ms(json_t *v, const char *what, unsigned *out, char *err, size_t n)
{
	return get_uint(v, what, 1, SU_MAX_TIMEOUT_MS, " (milliseconds)", out, err, n);
}

static int get_iso(json_t *v, const char *what, int *out, char *err, size_t n)
{
	const char *s = json_string_value(v);
	for (int k = 0; s && k < 3; k++)
		if (strcmp(s, iso_names[k]) == 0) {
			*out = k;
			return STEPUP_OK;
		}
	return cerr(err, n, STEPUP_ECONFIG, "%s must be \"process\", \"thread\" or \"inline\"", what);
}

/* base_dir + "/" + rel for relative paths; NULL on OOM. */
static char *resolve_path(const char *base_dir, const char *p)
{
	char *s;
	if (p[0] == '/' || !base_dir || !*base_dir)
		return strdup(p);
	if (asprintf(&s, "%s/%s", base_dir, p) < 0)
		return NULL;
	return s;
}

static int valid_name(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || *s == '_') || strlen(s) > 64)
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

typedef struct load_ctx {
	char **path;       /* resolved search path, NULL-terminated */
	unsigned timeout_ms, decide_ms, deliver_ms;  /* 0: not set */
	int iso;           /* -1: not set */
	const char *base_dir;
	unsigned flags;    /* STEPUP_PLUGINS_* */
	const char *host;  /* stepup-plugin-host */
	int drop;          /* switch children to uid/gid */
	uid_t uid;
	gid_t gid;
} load_ctx;

/* The child processes of a plugin: started, and known as a remote plugin. */
static int load_process(entry *en, size_t k, su_module *m, const char *cfg, const load_ctx *lc, char *err,
                        size_t n)
{
	/* A plugin that will run in this process (trusted, "inline" or
	 * "thread") is checked with the rights it will have: the host's. */
	int drop = lc->drop && en->iso == ISO_PROCESS;
	su_proc_spec spec = { lc->host, m->path, m->fd, en->name, cfg,
	                      en->check_only ? SU_PLUGIN_CHECK_ONLY : 0, drop, lc->uid, lc->gid,
	                      SU_INIT_TIMEOUT_MS, en->backoff_ms };
	su_proc_desc desc;
	char why[512];
	int rc;

	memset(&desc, 0, sizeof(desc));
	if (en->check_only)
		rc = su_proc_probe(&spec, &desc, pool_log, en, why, sizeof(why));
	else
		rc = su_ppool_new(&spec, en->nproc, pool_log, en, &desc, &en->pool, why, sizeof(why));
	if (rc == STEPUP_OK)
		rc = su_plugin_remote(m->path, desc.name, desc.version, desc.abi_minor, desc.provides, desc.nfn,
		                      (const char *const *)desc.fn_names, (const char *const *)desc.fn_sigs,
		                      &en->p, why, sizeof(why));
	if (rc == STEPUP_OK && desc.data_version && su_plugin_set_data_version(en->p, desc.data_version) < 0)
		report(en, STEPUP_LOG_WARNING, "its data version was refused");
	su_proc_desc_free(&desc);
	if (rc != STEPUP_OK) {
		char clean[512];
		scrub_copy(clean, sizeof(clean), why);
		/* The child's reasons already start with the path when they
		 * come from the loader ("<path>: init failed: ..."). */
		if (strncmp(clean, m->path, strlen(m->path)) == 0)
			return cerr(err, n, rc, "load[%zu]: %s", k, clean);
		return cerr(err, n, rc, "load[%zu]: %s: %s", k, m->path, clean);
	}
	return STEPUP_OK;
}

static int load_one(stepup_plugins *ps, size_t k, json_t *spec, const load_ctx *lc, char *err,
                    size_t n)
{
	entry *en = &ps->en[k];
	json_t *v, *config = NULL;
	const char *key, *module = NULL, *name = NULL;
	unsigned tmo = 0, dec = 0, del = 0;
	int iso = -1, explicit_trust = 0;
	char *cfg, *modpath;
	char why[768];
	su_module m;
	int rc;

	en->set = ps;
	en->nthreads = 2;
	en->nproc = 2;
	en->backoff_ms = 100;
	en->required = 1;
	en->check_only = (lc->flags & STEPUP_PLUGINS_CHECK_ONLY) != 0;
	if (!json_is_object(spec))
		return cerr(err, n, STEPUP_ECONFIG, "load[%zu] must be an object", k);
	json_object_foreach(spec, key, v) {
		char what[64];
		snprintf(what, sizeof(what), "load[%zu].%s", k, key);
		rc = STEPUP_OK;
		if (strcmp(key, "module") == 0) {
			if (!json_is_string(v) || !*(module = json_string_value(v)))
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].module must be a non-empty string", k);
		} else if (strcmp(key, "name") == 0) {
			if (!json_is_string(v) || !valid_name(name = json_string_value(v)))
				rc = cerr(err, n, STEPUP_ECONFIG,
				          "load[%zu].name must match [a-z_][a-z0-9_]* (at most 64 bytes)", k);
		} else if (strcmp(key, "timeout_ms") == 0) {
			rc = get_ms(v, what, &tmo, err, n);
		} else if (strcmp(key, "decide_timeout_ms") == 0) {
			rc = get_ms(v, what, &dec, err, n);
		} else if (strcmp(key, "deliver_timeout_ms") == 0) {
			rc = get_ms(v, what, &del, err, n);
		} else if (strcmp(key, "isolation") == 0) {
			rc = get_iso(v, what, &iso, err, n);
		} else if (strcmp(key, "trusted") == 0) {
			if (!json_is_boolean(v))
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].trusted must be true or false", k);
			else
				en->trusted = json_is_true(v), explicit_trust = 1;
		} else if (strcmp(key, "threads") == 0) {
			rc = get_uint(v, what, 1, SU_MAX_THREADS, "", &en->nthreads, err, n);
		} else if (strcmp(key, "processes") == 0) {
			rc = get_uint(v, what, 1, SU_MAX_PROCS, "", &en->nproc, err, n);
		} else if (strcmp(key, "restart_backoff_ms") == 0) {
			rc = get_ms(v, what, &en->backoff_ms, err, n);
		} else if (strcmp(key, "required") == 0) {
			if (!json_is_boolean(v))
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].required must be true or false", k);
			else
				en->required = json_is_true(v);
		} else if (strcmp(key, "config") == 0) {
			config = v;
		} else
			rc = cerr(err, n, STEPUP_ECONFIG, "unknown key load[%zu].%s (expected module, name, "
			          "timeout_ms, decide_timeout_ms, deliver_timeout_ms, isolation, trusted, threads, "
			          "processes, restart_backoff_ms, required or config)", k, key);
		if (rc)
			return rc;
	}
	if (!module)
		return cerr(err, n, STEPUP_ECONFIG, "load[%zu] has no \"module\"", k);
	/* Untrusted code runs in processes of its own unless the
	 * configuration says otherwise. */
	en->iso = iso >= 0 ? iso : lc->iso >= 0 ? lc->iso : en->trusted ? ISO_THREAD : ISO_PROCESS;
	/* The old single "timeout_ms" still sets both (docs/plugins.md). */
	unsigned base = tmo ? tmo : lc->timeout_ms ? lc->timeout_ms : SU_DEFAULT_TIMEOUT_MS;
	en->decide_ms = dec ? dec : tmo ? tmo : lc->decide_ms ? lc->decide_ms : base;
	en->deliver_ms = del ? del : tmo ? tmo : lc->deliver_ms ? lc->deliver_ms : base;
	/* The key named with the reason: a bad name or a ".." path is the
	 * configuration's mistake, not the file's. */
	if ((rc = su_plugin_check_module(module, why, sizeof(why))) != STEPUP_OK)
		return cerr(err, n, STEPUP_ECONFIG, "load[%zu].module: %s", k, why);
	cfg = config ? json_dumps(config, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
	modpath = strchr(module, '/') ? resolve_path(lc->base_dir, module) : strdup(module);
	/* The name is known before init so the plugin's first log lines carry
	 * it; a descriptor name replaces a missing one after loading. */
	en->name = strdup(name ? name : module);
	if (!cfg || !modpath || !en->name) {
		free(cfg);
		free(modpath);
		return STEPUP_ENOMEM;
	}
	rc = su_module_open(modpath, (const char *const *)lc->path, &m, why, sizeof(why));
	free(modpath);
	if (rc != STEPUP_OK) {
		free(cfg);
		return cerr(err, n, rc, "load[%zu]: %s", k, why);
	}
	memcpy(en->digest, m.digest, sizeof(en->digest));
	if (en->iso != ISO_PROCESS && !en->trusted && !explicit_trust && !en->check_only) {
		/* Said once per load, outside the rate limit of failures. */
		char msg[256];
		snprintf(msg, sizeof(msg), "runs inside this process (isolation \"%s\"): a crash in it ends "
		         "the process; say \"trusted\": true if that is intended, or use \"process\"",
		         iso_names[en->iso]);
		sink_line(en, STEPUP_LOG_WARNING, msg);
	}
	if (en->iso == ISO_PROCESS || en->check_only) {
		rc = load_process(en, k, &m, cfg, lc, err, n);
		su_module_close(&m);
	} else {
		/* Its init runs first in a child process of its own: a crash
		 * there is an error naming it, not the end of this process. */
		if (lc->flags & STEPUP_PLUGINS_TRIAL) {
			/* As the process itself will run it: without a switch of
			 * user (a trusted plugin runs with the host's rights). */
			su_proc_spec trial = { lc->host, m.path, m.fd, en->name, cfg, 0, 0, 0, 0,
			                       SU_INIT_TIMEOUT_MS, 0 };
			rc = su_proc_probe(&trial, NULL, pool_log, en, why, sizeof(why));
			if (rc != STEPUP_OK) {
				char clean[768];
				scrub_copy(clean, sizeof(clean), why);
				rc = strncmp(clean, m.path, strlen(m.path)) == 0
				     ? cerr(err, n, rc, "load[%zu]: trial load: %s", k, clean)
				     : cerr(err, n, rc, "load[%zu]: %s: trial load: %s", k, m.path, clean);
				su_module_close(&m);
				free(cfg);
				return rc;
			}
		}
		rc = su_plugin_load_module(&m, cfg, 0, plugin_log, en, &en->p, why, sizeof(why));
		if (rc != STEPUP_OK) {
			char clean[768];
			scrub_copy(clean, sizeof(clean), why);
			rc = cerr(err, n, rc, "load[%zu]: %s", k, clean);
		}
	}
	if (cfg)
		explicit_bzero(cfg, strlen(cfg));
	free(cfg);
	if (rc != STEPUP_OK)
		return rc;
	su_plugin_set_owner(en->p, en);
	en->d = su_plugin_desc(en->p);
	if (!name) {
		char *dn = strdup(su_plugin_name(en->p));
		if (!dn)
			return STEPUP_ENOMEM;
		free(en->name);
		en->name = dn;
	}
	for (size_t i = 0; i < k; i++)
		if (strcmp(ps->en[i].name, en->name) == 0)
			return cerr(err, n, STEPUP_ECONFIG, "load[%zu]: a plugin named '%s' is already loaded "
			            "(give one a different \"name\")", k, en->name);
	return STEPUP_OK;
}

static int map_methods(stepup_plugins *ps, json_t *methods, char *err, size_t n)
{
	const char *key;
	json_t *v;

	if (!json_is_object(methods))
		return cerr(err, n, STEPUP_ECONFIG, "methods must be an object");
	json_object_foreach(methods, key, v) {
		int m = -1;
		for (int k = 0; k < STEPUP_METHOD_COUNT; k++)
			if (strcmp(key, stepup_method_name((stepup_method)k)) == 0)
				m = k;
		if (m < 0)
			return cerr(err, n, STEPUP_ECONFIG, "unknown method methods.%s (expected IN_APP, OTP_SMS, "
			            "OTP_EMAIL or CUSTOMER_SERVICE)", key);
		if (!json_is_string(v))
			return cerr(err, n, STEPUP_ECONFIG, "methods.%s must name a loaded plugin", key);
		const char *pname = json_string_value(v);
		size_t i;
		for (i = 0; i < ps->n && strcmp(ps->en[i].name, pname) != 0; i++)
			;
		if (i == ps->n)
			return cerr(err, n, STEPUP_ENOTFOUND, "methods.%s: no plugin named '%s' is loaded", key,
			            pname);
		const stepup_plugin_desc *d = ps->en[i].d;
		int ok = m == STEPUP_IN_APP ? d->inapp != NULL
		       : m == STEPUP_CUSTOMER_SERVICE ? d->cs != NULL : d->otp != NULL;
		if (!ok)
			return cerr(err, n, STEPUP_ECONFIG, "methods.%s: plugin '%s' is not %s", key, pname,
			            m == STEPUP_IN_APP ? "an in-app authentication plugin"
			            : m == STEPUP_CUSTOMER_SERVICE ? "a customer-service router" : "an OTP channel");
		ps->method_plugin[m] = (int)i;
		ps->en[i].methods |= 1u << m;
	}
	return STEPUP_OK;
}

static int map_account(stepup_plugins *ps, json_t *v, char *err, size_t n)
{
	const char *pname = json_string_value(v);
	size_t i;

	if (!pname)
		return cerr(err, n, STEPUP_ECONFIG, "account_source must name a loaded plugin");
	for (i = 0; i < ps->n && strcmp(ps->en[i].name, pname) != 0; i++)
		;
	if (i == ps->n)
		return cerr(err, n, STEPUP_ENOTFOUND, "account_source: no plugin named '%s' is loaded", pname);
	if (!su_plugin_account(ps->en[i].p))
		return cerr(err, n, STEPUP_ECONFIG, "account_source: plugin '%s' is not an account data source",
		            pname);
	ps->account_plugin = (int)i;
	return STEPUP_OK;
}

/* "user": whom "process" children run as when this process is root. */
static int set_user(load_ctx *lc, json_t *v, char *err, size_t n)
{
	const char *name = json_string_value(v);
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (v && (!name || !*name))
		return cerr(err, n, STEPUP_ECONFIG, "user must be a user name");
	if (geteuid() != 0)
		return STEPUP_OK;  /* nothing to give up */
	if (!name)
		name = "nobody";  /* never run a plugin as root by default */
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) != 0 || !found)
		return cerr(err, n, STEPUP_ECONFIG, "user: no user named '%s' (plugin processes do not run as root)",
		            name);
	if (found->pw_uid == 0)
		return cerr(err, n, STEPUP_ECONFIG, "user: '%s' is root; plugin processes do not run as root", name);
	lc->drop = 1;
	lc->uid = found->pw_uid;
	lc->gid = found->pw_gid;
	return STEPUP_OK;
}

/* The helper program of "process" plugins: the installed one; in a build
 * tree never installed (make check, ./quickstart.sh demo) the one built
 * beside the running program (libtool runs programs from .libs/: its
 * parent too). An installed daemon never looks further than its own. */
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static char host_path[PATH_MAX];

static void find_host(void)
{
	char exe[PATH_MAX], cand[PATH_MAX + 32];
	snprintf(host_path, sizeof(host_path), "%s", STEPUP_PLUGIN_HOST_PATH);
	if (access(host_path, X_OK) == 0)
		return;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return;
		*slash = '\0';
		snprintf(cand, sizeof(cand), "%s/stepup-plugin-host", exe);
		if (strlen(cand) < sizeof(host_path) && access(cand, X_OK) == 0) {
			snprintf(host_path, sizeof(host_path), "%s", cand);
			return;
		}
	}
}

static const char *default_host(void)
{
	pthread_once(&host_once, find_host);
	return host_path;
}

static int configure(stepup_plugins *ps, json_t *sec, const char *base_dir, unsigned flags, char *err,
                     size_t n)
{
	json_t *v, *load = NULL, *methods = NULL, *path = NULL, *account = NULL, *user = NULL;
	const char *key;
	/* Relative paths are joined to the configuration's folder as it
	 * really is: a ".." in how the caller named that folder is not one in
	 * the module's path. */
	char real_base[PATH_MAX];
	if (base_dir && *base_dir && realpath(base_dir, real_base))
		base_dir = real_base;
	load_ctx lc = { NULL, 0, 0, 0, -1, base_dir, flags, NULL, 0, 0, 0 };
	int rc = STEPUP_OK;

	lc.host = secure_getenv("STEPUP_PLUGIN_HOST");
	if (!lc.host || !*lc.host)
		lc.host = default_host();
	if (!json_is_object(sec))
		return cerr(err, n, STEPUP_ECONFIG, "the \"plugins\" section must be an object");
	json_object_foreach(sec, key, v) {
		if (strcmp(key, "path") == 0)
			path = v;
		else if (strcmp(key, "timeout_ms") == 0)
			rc = get_ms(v, "timeout_ms", &lc.timeout_ms, err, n);
		else if (strcmp(key, "decide_timeout_ms") == 0)
			rc = get_ms(v, "decide_timeout_ms", &lc.decide_ms, err, n);
		else if (strcmp(key, "deliver_timeout_ms") == 0)
			rc = get_ms(v, "deliver_timeout_ms", &lc.deliver_ms, err, n);
		else if (strcmp(key, "isolation") == 0)
			rc = get_iso(v, "isolation", &lc.iso, err, n);
		else if (strcmp(key, "user") == 0)
			user = v;
		else if (strcmp(key, "load") == 0)
			load = v;
		else if (strcmp(key, "methods") == 0)
			methods = v;
		else if (strcmp(key, "account_source") == 0)
			account = v;
		else
			rc = cerr(err, n, STEPUP_ECONFIG, "unknown key plugins.%s (expected path, timeout_ms, "
			          "decide_timeout_ms, deliver_timeout_ms, isolation, user, load, methods or "
			          "account_source)", key);
		if (rc)
			return rc;
	}
	if ((rc = set_user(&lc, user, err, n)) != STEPUP_OK)
		return rc;
	if (path) {
		size_t np = json_is_array(path) ? json_array_size(path) : 0;
		if (!json_is_array(path))
			return cerr(err, n, STEPUP_ECONFIG, "path must be an array of directories");
		lc.path = calloc(np + 1, sizeof(char *));
		if (!lc.path)
			return STEPUP_ENOMEM;
		for (size_t k = 0; k < np && rc == STEPUP_OK; k++) {
			const char *dir = json_string_value(json_array_get(path, k));
			if (!dir || !*dir)
				rc = cerr(err, n, STEPUP_ECONFIG, "path[%zu] must be a non-empty string", k);
			else if (!(lc.path[k] = resolve_path(base_dir, dir)))
				rc = STEPUP_ENOMEM;
		}
	}
	if (rc == STEPUP_OK && load) {
		if (!json_is_array(load))
			rc = cerr(err, n, STEPUP_ECONFIG, "load must be an array of plugin objects");
		else if (json_array_size(load) > 64)
			rc = cerr(err, n, STEPUP_ECONFIG, "load lists more than 64 plugins");
		else if (json_array_size(load) &&
		         !(ps->en = calloc(json_array_size(load), sizeof(entry))))
			rc = STEPUP_ENOMEM;
		for (size_t k = 0; rc == STEPUP_OK && k < json_array_size(load); k++) {
			rc = load_one(ps, k, json_array_get(load, k), &lc, err, n);
			ps->n = k + 1;  /* a failed entry is cleaned up with the rest */
		}
	}
	if (rc == STEPUP_OK && methods)
		rc = map_methods(ps, methods, err, n);
	if (rc == STEPUP_OK && account)
		rc = map_account(ps, account, err, n);
	for (size_t k = 0; rc == STEPUP_OK && k < ps->n; k++)
		if (start_pool(&ps->en[k]) < 0)
			rc = cerr(err, n, STEPUP_ENOMEM, "%s: cannot start worker threads", ps->en[k].name);
	for (size_t k = 0; lc.path && lc.path[k]; k++)
		free(lc.path[k]);
	free(lc.path);
	return rc;
}

int stepup_plugins_load_flags(const char *config_json, const char *base_dir, unsigned flags,
                              stepup_log_fn log, void *log_ctx, stepup_plugins **out, char *err,
                              size_t errlen)
{
	stepup_plugins *ps;
	json_t *root = NULL, *sec;
	json_error_t je;
	int rc = STEPUP_OK;

	if (!out)
		return STEPUP_EINVAL;
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return STEPUP_ENOMEM;
	atomic_init(&ps->refs, 1);
	ps->log = log;
	ps->log_ctx = log_ctx;
	for (int m = 0; m < STEPUP_METHOD_COUNT; m++)
		ps->method_plugin[m] = -1;
	ps->account_plugin = -1;
	if (config_json && *config_json) {
		root = json_loads(config_json, JSON_REJECT_DUPLICATES, &je);
		if (!root)
			rc = cerr(err, errlen, STEPUP_ECONFIG, "configuration: line %d column %d: %s", je.line,
			          je.column, je.text);
		else if (!json_is_object(root))
			rc = cerr(err, errlen, STEPUP_ECONFIG, "configuration: the top level must be an object");
		else if ((sec = json_object_get(root, "plugins")))
			rc = configure(ps, sec, base_dir, flags, err, errlen);
	}
	json_decref(root);
	if (rc != STEPUP_OK) {
		free_set(ps);
		return rc;
	}
	*out = ps;
	return STEPUP_OK;
}

int stepup_plugins_load(const char *config_json, const char *base_dir, stepup_log_fn log,
                        void *log_ctx, stepup_plugins **out, char *err, size_t errlen)
{
	return stepup_plugins_load_flags(config_json, base_dir, 0, log, log_ctx, out, err, errlen);
}
