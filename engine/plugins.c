/* plugins.c: a set of loaded plugins from configuration, the method ->
 * plugin map, and calls into plugin interfaces under a deadline.
 *
 * Isolation. A plugin configured "thread" (the default) gets its own small
 * pool of workers: the caller queues the call and waits on a condition
 * variable until the deadline, then stops waiting; a plugin that hangs
 * only ever ties up its own workers, so only its method drops out. Jobs
 * carry copies of their inputs and a reference count, so an abandoned job
 * finishes (and is freed) on the worker without touching the caller's
 * memory. "inline" plugins run on the caller's thread: no handoff cost,
 * and an overrun is still detected, counted and its result discarded.
 *
 * Every call is counted (calls, errors, timeouts, a latency histogram) and
 * every failure is reported to the log sink with the plugin's name, at most
 * once a second per plugin so a dead gateway cannot flood the log. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins.h"
#include "util.h"

#define SU_DEFAULT_TIMEOUT_MS 200u
#define SU_MAX_TIMEOUT_MS 60000u
#define SU_MAX_THREADS 16u
#define SU_QUEUE_PER_THREAD 8u  /* waiting jobs per worker before "busy" */

const uint32_t stepup_latency_bounds_us[STEPUP_LATENCY_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
};

enum op {
	OP_CAN_DELIVER, OP_DELIVER, OP_NOTIFY, OP_DESCRIBE, OP_START, OP_VERIFY, OP_ROUTE, OP_ACCOUNT,
};
static const char *const op_names[] = {
	"can_deliver", "deliver_otp", "notify", "describe", "start", "verify", "route", "lookup",
};

typedef struct entry entry;

/* One call. Inputs are owned copies when the call runs on a worker (the
 * caller may stop waiting and return), borrowed when inline. */
typedef struct job {
	struct job *next;
	entry *en;
	enum op op;
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
	/* outputs (host-owned allocations from the plugin) */
	int st;
	char *out1, *out2;
	uint64_t elapsed_us;
} job;

struct entry {
	stepup_plugins *set;
	char *name;
	su_plugin *p;
	const stepup_plugin_desc *d;
	unsigned timeout_ms;
	unsigned nthreads;
	int required;
	int isolated;
	unsigned methods;

	_Atomic uint64_t calls, errors, timeouts, lat_sum;
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

/* ---- clock and reporting ------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void report(entry *en, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(entry *en, int level, const char *fmt, ...)
{
	stepup_plugins *ps = en->set;
	char msg[256];
	va_list ap;

	if (!ps->log)
		return;
	if (level <= STEPUP_LOG_WARNING) {
		int64_t now = (int64_t)(now_us() / 1000), last = atomic_load(&en->last_report_ms);
		if (now - last < 1000 || !atomic_compare_exchange_strong(&en->last_report_ms, &last, now))
			return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps->log(ps->log_ctx, level, en->name, msg);
}

static void plugin_log(void *ctx, int level, const char *msg)
{
	entry *en = ctx;
	if (en->set->log)
		en->set->log(en->set->log_ctx, level, en->name, msg);
}

static void record_latency(entry *en, uint64_t us)
{
	unsigned k = 0;
	while (k < STEPUP_LATENCY_BUCKETS - 1 && us > stepup_latency_bounds_us[k])
		k++;
	atomic_fetch_add_explicit(&en->lat[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&en->lat_sum, us, memory_order_relaxed);
}

/* ---- running one call ------------------------------------------------------ */

static void run_job(job *j)
{
	entry *en = j->en;
	const stepup_plugin_desc *d = en->d;
	void *state = su_plugin_state(en->p);
	stepup_call_ctx *ctx = &j->ctx;
	uint64_t t0 = now_us();
	stepup_cs_route route = { NULL, NULL };

	j->err[0] = '\0';
	switch (j->op) {
	case OP_CAN_DELIVER:
		j->st = d->otp->can_deliver(state, ctx, j->a);
		break;
	case OP_DELIVER:
		j->st = d->otp->deliver_otp(state, ctx, &j->msg);
		break;
	case OP_NOTIFY:
		j->st = d->otp->notify(state, ctx, j->a, j->b, j->c);
		break;
	case OP_DESCRIBE:
		j->st = d->inapp->describe(state, ctx, j->a, &j->out1);
		break;
	case OP_START: {
		stepup_inapp_request req = { sizeof(req), j->a, j->b, j->c, j->msg.expires_at };
		j->st = d->inapp->start(state, ctx, &req);
		break;
	}
	case OP_VERIFY:
		j->st = d->inapp->verify(state, ctx, j->a, j->b);
		break;
	case OP_ROUTE:
		j->st = d->cs->route(state, ctx, j->a, j->line, &route);
		j->out1 = route.number;
		j->out2 = route.hours;
		break;
	case OP_ACCOUNT:
		j->st = su_plugin_account(en->p)->lookup(state, ctx, &j->q, &j->out1);
		break;
	}
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

static void free_job(job *j)
{
	free(j->out1);
	free(j->out2);
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
		free((char *)j->msg.otp);
		free((char *)j->msg.reason);
		free((char *)j->msg.pan_suffix);
		free((char *)j->msg.language);
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
		if (!abandoned && (int64_t)(now_us() / 1000) < j->ctx.deadline_ms)
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
	j->owned = 1;
	j->q.pan = dup_or_null(q.pan);
	j->q.csc = dup_or_null(q.csc);
	j->q.expiry_month = dup_or_null(q.expiry_month);
	j->q.expiry_year = dup_or_null(q.expiry_year);
	j->q.request_id = dup_or_null(q.request_id);
	if ((q.pan && !j->q.pan) || (q.csc && !j->q.csc) || (q.expiry_month && !j->q.expiry_month) ||
	    (q.expiry_year && !j->q.expiry_year) || (q.request_id && !j->q.request_id))
		return -1;
	j->a = dup_or_null(a);
	j->b = dup_or_null(b);
	j->c = dup_or_null(c);
	j->msg.destination = dup_or_null(m.destination);
	j->msg.otp = dup_or_null(m.otp);
	j->msg.reason = dup_or_null(m.reason);
	j->msg.pan_suffix = dup_or_null(m.pan_suffix);
	j->msg.language = dup_or_null(m.language);
	return (a && !j->a) || (b && !j->b) || (c && !j->c) ||
	       (m.destination && !j->msg.destination) || (m.otp && !j->msg.otp) ||
	       (m.reason && !j->msg.reason) || (m.pan_suffix && !j->msg.pan_suffix) ||
	       (m.language && !j->msg.language) ? -1 : 0;
}

/* Run j on en under its deadline. Returns the job to read results from (the
 * caller frees it with release()), or NULL when the caller stopped waiting
 * (status in *rc). */
static int call(entry *en, job *j, su_pcall *res)
{
	uint64_t start = now_us();
	int rc;

	atomic_fetch_add_explicit(&en->calls, 1, memory_order_relaxed);
	j->en = en;
	j->ctx.size = sizeof(j->ctx);
	j->ctx.timeout_ms = en->timeout_ms;
	j->ctx.deadline_ms = (int64_t)(start / 1000) + en->timeout_ms;
	j->ctx.err = j->err;
	j->ctx.errlen = sizeof(j->err);
	j->st = STEPUP_PLUGIN_ERROR;
	res->plugin = (int)(en - en->set->en);
	res->why[0] = '\0';

	if (!en->isolated) {
		run_job(j);
		/* Overran: the answer came too late to be used, whatever it is. */
		if (j->elapsed_us > (uint64_t)en->timeout_ms * 1000u && j->st == STEPUP_PLUGIN_OK)
			j->st = STEPUP_PLUGIN_TIMEOUT;
	} else {
		struct timespec until;
		uint64_t dl = start + (uint64_t)en->timeout_ms * 1000u;
		until.tv_sec = (time_t)(dl / 1000000u);
		until.tv_nsec = (long)(dl % 1000000u) * 1000;
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
				const char *opname = op_names[j->op];
				j->refs--;
				pthread_mutex_unlock(&en->mu);
				atomic_fetch_add_explicit(&en->timeouts, 1, memory_order_relaxed);
				su_set_err(res->why, sizeof(res->why), "%s: %s: no answer within %u ms", en->name,
				           opname, en->timeout_ms);
				report(en, STEPUP_LOG_WARNING, "%s: no answer within %u ms", opname, en->timeout_ms);
				res->status = STEPUP_ETIMEOUT;
				return -1;
			}
		}
		j->refs--;
		pthread_mutex_unlock(&en->mu);
	}
finish:
	switch (j->st) {
	case STEPUP_PLUGIN_OK:
		rc = STEPUP_OK;
		break;
	case STEPUP_PLUGIN_TIMEOUT:
		rc = STEPUP_ETIMEOUT;
		atomic_fetch_add_explicit(&en->timeouts, 1, memory_order_relaxed);
		su_set_err(res->why, sizeof(res->why), "%s: %s: overran its %u ms deadline", en->name,
		         op_names[j->op], en->timeout_ms);
		report(en, STEPUP_LOG_WARNING, "%s: overran its %u ms deadline (%llu us)", op_names[j->op],
		       en->timeout_ms, (unsigned long long)j->elapsed_us);
		break;
	default: {
		/* A rejected or malformed proof, a channel that cannot reach
		 * this destination, or a card the issuer does not know, is an answer, not a failure of the plugin:
		 * not counted as an error, not worth a warning. */
		int answer = (j->op == OP_VERIFY && (j->st == STEPUP_PLUGIN_REJECTED ||
		                                     j->st == STEPUP_PLUGIN_EINVAL)) ||
		             (j->op == OP_CAN_DELIVER && j->st == STEPUP_PLUGIN_UNAVAILABLE && j->a) ||
		             (j->op == OP_ACCOUNT && j->st == STEPUP_PLUGIN_REJECTED);
		rc = STEPUP_EPLUGIN;
		su_set_err(res->why, sizeof(res->why), "%s: %s: %s", en->name, op_names[j->op],
		           j->err[0] ? j->err : j->st == STEPUP_PLUGIN_UNAVAILABLE ? "unavailable"
		           : j->st == STEPUP_PLUGIN_REJECTED ? "rejected" : "failed");
		if (!answer) {
			atomic_fetch_add_explicit(&en->errors, 1, memory_order_relaxed);
			report(en, STEPUP_LOG_WARNING, "%s: %s (status %d)", op_names[j->op],
			       j->err[0] ? j->err : "failed", j->st);
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

static job *new_job(enum op op)
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

/* ---- the decide path -------------------------------------------------------- */

void su_plugins_can_deliver(stepup_plugins *ps, stepup_method m, const char *destination,
                            su_pcall *res)
{
	entry *en = method_entry(ps, m);
	job *j;

	if (!en || !en->d->otp)
		return not_served(res, m);
	if (!(j = new_job(OP_CAN_DELIVER)))
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
	if (!(j = new_job(OP_DESCRIBE)))
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
	if (!(j = new_job(OP_ROUTE)))
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
	if (!(j = new_job(OP_DELIVER)))
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
	if (!(j = new_job(OP_NOTIFY)))
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
	if (!(j = new_job(OP_START)))
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
	if (!(j = new_job(OP_VERIFY)))
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
	if (!(j = new_job(OP_ACCOUNT)))
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
			if (j->out1)
				explicit_bzero(j->out1, strlen(j->out1));
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
	if (!en->d->otp)
		return STEPUP_OK;
	if (!(j = new_job(OP_CAN_DELIVER)))
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
	out->provides = (su_plugin_nfunctions(en->p) ? STEPUP_PROVIDES_FUNCTIONS : 0) |
	                (en->d->otp ? STEPUP_PROVIDES_OTP : 0) |
	                (en->d->inapp ? STEPUP_PROVIDES_INAPP : 0) |
	                (en->d->cs ? STEPUP_PROVIDES_CS : 0) |
	                (su_plugin_account(en->p) ? STEPUP_PROVIDES_ACCOUNT : 0);
	out->methods = en->methods;
	out->timeout_ms = en->timeout_ms;
	out->required = en->required;
	out->isolated = en->isolated;
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
	if (!en->isolated)
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
	dl = now_us() + 2000000u + (uint64_t)en->timeout_ms * 2000u;
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
	char msg[512];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	su_set_err(err, n, "plugins: %s", msg);
	return rc;
}

static int get_ms(json_t *v, const char *what, unsigned *out, char *err, size_t n)
{
	json_int_t x;
	if (!json_is_integer(v) || (x = json_integer_value(v)) < 1 || x > SU_MAX_TIMEOUT_MS)
		return cerr(err, n, STEPUP_ECONFIG, "%s must be an integer from 1 to %u (milliseconds)",
		            what, SU_MAX_TIMEOUT_MS);
	*out = (unsigned)x;
	return STEPUP_OK;
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
	unsigned timeout_ms;
	const char *base_dir;
} load_ctx;

static int load_one(stepup_plugins *ps, size_t k, json_t *spec, const load_ctx *lc, char *err,
                    size_t n)
{
	entry *en = &ps->en[k];
	json_t *v, *config = NULL;
	const char *key, *module = NULL, *name = NULL;
	char *cfg, *modpath;
	char why[512];
	int rc;

	en->set = ps;
	en->timeout_ms = lc->timeout_ms;
	en->nthreads = 2;
	en->required = 1;
	en->isolated = 1;
	if (!json_is_object(spec))
		return cerr(err, n, STEPUP_ECONFIG, "load[%zu] must be an object", k);
	json_object_foreach(spec, key, v) {
		rc = STEPUP_OK;
		if (strcmp(key, "module") == 0) {
			if (!json_is_string(v) || !*(module = json_string_value(v)))
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].module must be a non-empty string", k);
		} else if (strcmp(key, "name") == 0) {
			if (!json_is_string(v) || !valid_name(name = json_string_value(v)))
				rc = cerr(err, n, STEPUP_ECONFIG,
				          "load[%zu].name must match [a-z_][a-z0-9_]* (at most 64 bytes)", k);
		} else if (strcmp(key, "timeout_ms") == 0) {
			char what[48];
			snprintf(what, sizeof(what), "load[%zu].timeout_ms", k);
			rc = get_ms(v, what, &en->timeout_ms, err, n);
		} else if (strcmp(key, "isolation") == 0) {
			const char *s = json_string_value(v);
			if (s && strcmp(s, "thread") == 0)
				en->isolated = 1;
			else if (s && strcmp(s, "inline") == 0)
				en->isolated = 0;
			else
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].isolation must be \"thread\" or \"inline\"", k);
		} else if (strcmp(key, "threads") == 0) {
			json_int_t t = json_is_integer(v) ? json_integer_value(v) : 0;
			if (t < 1 || t > SU_MAX_THREADS)
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].threads must be an integer from 1 to %u", k,
				          SU_MAX_THREADS);
			else
				en->nthreads = (unsigned)t;
		} else if (strcmp(key, "required") == 0) {
			if (!json_is_boolean(v))
				rc = cerr(err, n, STEPUP_ECONFIG, "load[%zu].required must be true or false", k);
			else
				en->required = json_is_true(v);
		} else if (strcmp(key, "config") == 0) {
			config = v;
		} else
			rc = cerr(err, n, STEPUP_ECONFIG, "unknown key load[%zu].%s (expected module, name, "
			          "timeout_ms, isolation, threads, required or config)", k, key);
		if (rc)
			return rc;
	}
	if (!module)
		return cerr(err, n, STEPUP_ECONFIG, "load[%zu] has no \"module\"", k);
	/* The key named with the reason: a bad name or a ".." path is the
	 * configuration's mistake, not the file's. */
	if ((rc = su_plugin_check_module(module, why, sizeof(why))) != STEPUP_OK)
		return cerr(err, n, STEPUP_ECONFIG, "load[%zu].module: %s", k, why);
	cfg = config ? json_dumps(config, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
	modpath = strchr(module, '/') ? resolve_path(lc->base_dir, module) : strdup(module);
	if (!cfg || !modpath) {
		free(cfg);
		free(modpath);
		return STEPUP_ENOMEM;
	}
	/* The name is known before init so the plugin's first log lines carry
	 * it; a descriptor name replaces a missing one after loading. */
	en->name = strdup(name ? name : module);
	if (!en->name) {
		free(cfg);
		free(modpath);
		return STEPUP_ENOMEM;
	}
	rc = su_plugin_load_logged(modpath, (const char *const *)lc->path, cfg, plugin_log, en, &en->p,
	                           why, sizeof(why));
	free(cfg);
	free(modpath);
	if (rc != STEPUP_OK)
		return cerr(err, n, rc, "load[%zu]: %s", k, why);
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

static int configure(stepup_plugins *ps, json_t *sec, const char *base_dir, char *err, size_t n)
{
	json_t *v, *load = NULL, *methods = NULL, *path = NULL, *account = NULL;
	const char *key;
	/* Relative paths are joined to the configuration's folder as it
	 * really is: a ".." in how the caller named that folder is not one in
	 * the module's path. */
	char real_base[PATH_MAX];
	if (base_dir && *base_dir && realpath(base_dir, real_base))
		base_dir = real_base;
	load_ctx lc = { NULL, SU_DEFAULT_TIMEOUT_MS, base_dir };
	int rc = STEPUP_OK;

	if (!json_is_object(sec))
		return cerr(err, n, STEPUP_ECONFIG, "the \"plugins\" section must be an object");
	json_object_foreach(sec, key, v) {
		if (strcmp(key, "path") == 0)
			path = v;
		else if (strcmp(key, "timeout_ms") == 0)
			rc = get_ms(v, "timeout_ms", &lc.timeout_ms, err, n);
		else if (strcmp(key, "load") == 0)
			load = v;
		else if (strcmp(key, "methods") == 0)
			methods = v;
		else if (strcmp(key, "account_source") == 0)
			account = v;
		else
			rc = cerr(err, n, STEPUP_ECONFIG, "unknown key plugins.%s (expected path, timeout_ms, load, "
			          "methods or account_source)", key);
		if (rc)
			return rc;
	}
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

int stepup_plugins_load(const char *config_json, const char *base_dir, stepup_log_fn log,
                        void *log_ctx, stepup_plugins **out, char *err, size_t errlen)
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
			rc = configure(ps, sec, base_dir, err, errlen);
	}
	json_decref(root);
	if (rc != STEPUP_OK) {
		free_set(ps);
		return rc;
	}
	*out = ps;
	return STEPUP_OK;
}
