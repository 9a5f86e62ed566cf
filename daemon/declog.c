/* declog.c: double-buffered log writers (the decision log, the shadow
 * log). Lines go to the file whole or not at all: a failed write is cut
 * back to the last complete line and the loss is recorded in the file once
 * writing works again. The replay-safe decision log's facts and revision
 * records are written here too (declog.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tools/report.h"
#include "app.h"
#include "declog.h"
#include "gen.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define BUF_CAP (1u << 20)
#define HIGH_WATER (64u * 1024)

struct dlog {
	pthread_mutex_t mu;
	pthread_cond_t wake;   /* writer: work to do */
	pthread_cond_t done;   /* appenders and reopen: a write finished */
	pthread_t thread;
	int open, stop, flush_now, writing, kicked;
	int fd;
	char *path;
	unsigned interval_ms;
	char *active, *spare;
	size_t active_len;
	uint64_t appended, written;  /* bytes, since start */
	/* The writer's: lines lost since writes began to fail (0: none),
	 * the first error and when. */
	uint64_t gap_lost;
	int gap_err;
	char gap_since[32];
	const char *what;     /* its configuration key, for messages */
	int counted;          /* losses go to the decision log's metrics */
};

static int open_file(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		snprintf(err, errlen, "%s: cannot open %s: %s", what, path, strerror(errno));
	return fd;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

/* Append n bytes of whole lines to fd. 0, or -1 with the error in *err
 * and the number of lines that did not make it in *lost: the file is cut
 * back to its last complete line, so a short write (disk full, file size
 * limit) never leaves a torn line for the next one to be glued onto. */
static int write_lines(dlog *L, int fd, const char *p, size_t n, uint64_t *lost, int *err)
{
	off_t start = lseek(fd, 0, SEEK_END);
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	if (done == n)
		return 0;
	size_t keep = done;
	while (keep && p[keep - 1] != '\n')
		keep--;
	if (keep < done && (start < 0 || ftruncate(fd, start + (off_t)keep) < 0))
		log_kv(LOG_ERROR, "decision log: cannot cut a torn line off; the file ends mid-line",
		       LS("log", L->what), LS("path", L->path), LS("error", strerror(errno)), LOG_END);
	*lost = count_lines(p + keep, n - keep);
	return -1;
}

/* The writer's one job per buffer: while writes fail, count the lines
 * lost (one log line per episode, with the error); once a write works
 * again, a gap marker line goes first, so the log itself says what it is
 * missing:
 *   {"time":"...","gap":{"lost":12,"reason":"File too large","since":"..."}} */
static void lost_lines(dlog *L, uint64_t lost)
{
	if (!L->counted)
		return;
	met_declog_error();
	met_declog_lost(lost);
}

static void write_out(dlog *L, int fd, const char *buf, size_t n)
{
	uint64_t lost = 0;
	int err = 0;
	if (L->gap_lost) {
		char ts[32], marker[512];
		rfc3339_ms(wall_ns(), ts);
		int mn = snprintf(marker, sizeof(marker),
		                  "{\"time\":\"%s\",\"gap\":{\"lost\":%llu,\"reason\":\"%s\",\"since\":\"%s\"}}\n",
		                  ts, (unsigned long long)L->gap_lost, strerror(L->gap_err), L->gap_since);
		if (write_lines(L, fd, marker, (size_t)mn, &lost, &err) < 0) {
			lost = count_lines(buf, n);
			lost_lines(L, lost);
			L->gap_lost += lost;
			return;
		}
		log_kv(LOG_WARN, "decision log writable again; a gap line records the lines lost",
		       LS("log", L->what), LS("path", L->path), LU("lost", L->gap_lost), LS("reason", strerror(L->gap_err)),
		       LS("since", L->gap_since), LOG_END);
		L->gap_lost = 0;
	}
	if (write_lines(L, fd, buf, n, &lost, &err) == 0)
		return;
	lost_lines(L, lost);
	if (!L->gap_lost) {
		L->gap_err = err;
		rfc3339_ms(wall_ns(), L->gap_since);
		log_kv(LOG_ERROR, "decision log write failed; lines are lost until a write works again "
		       "(then a gap line says how many)", LS("log", L->what), LS("path", L->path), LS("error", strerror(err)),
		       LU("lines", lost), LOG_END);
	}
	L->gap_lost += lost;
}

static void *writer(void *arg)
{
	dlog *L = arg;
	pthread_mutex_lock(&L->mu);
	for (;;) {
		if (!L->stop && !L->flush_now && L->active_len < HIGH_WATER) {
			struct timespec ts;
			realtime_after_ms(&ts, L->interval_ms);
			pthread_cond_timedwait(&L->wake, &L->mu, &ts);
		}
		if (L->active_len) {
			char *buf = L->active;
			size_t n = L->active_len;
			int fd = L->fd;
			L->active = L->spare;
			L->spare = buf;
			L->active_len = 0;
			L->writing = 1;
			L->kicked = 0;
			pthread_mutex_unlock(&L->mu);
			write_out(L, fd, buf, n);
			pthread_mutex_lock(&L->mu);
			L->writing = 0;
			L->written += n;
		}
		L->flush_now = 0;
		pthread_cond_broadcast(&L->done);
		if (L->stop && !L->active_len)
			break;
	}
	pthread_mutex_unlock(&L->mu);
	return NULL;
}

dlog *dlog_new(const char *path, unsigned interval_ms, const char *what, int counted, char *err,
               size_t errlen)
{
	dlog *L = calloc(1, sizeof(*L));
	if (!L) {
		snprintf(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	pthread_mutex_init(&L->mu, NULL);
	L->what = what;
	L->counted = counted;
	L->fd = open_file(what, path, err, errlen);
	if (L->fd < 0) {
		pthread_mutex_destroy(&L->mu);
		free(L);
		return NULL;
	}
	L->path = strdup(path);
	L->active = malloc(BUF_CAP);
	L->spare = malloc(BUF_CAP);
	L->interval_ms = interval_ms;
	pthread_cond_init(&L->wake, NULL);
	pthread_cond_init(&L->done, NULL);
	if (!L->path || !L->active || !L->spare ||
	    pthread_create(&L->thread, NULL, writer, L) != 0) {
		snprintf(err, errlen, "%s: cannot start the writer", what);
		free(L->path);
		free(L->active);
		free(L->spare);
		close(L->fd);
		pthread_mutex_destroy(&L->mu);
		free(L);
		return NULL;
	}
	L->open = 1;
	return L;
}

/* Append under mu (the caller holds it), waiting for room. */
static void append_locked(dlog *L, const char *line, size_t len)
{
	while (L->active_len + len > BUF_CAP) {
		/* Both buffers full: the disk is the bottleneck, wait for it. */
		L->flush_now = 1;
		pthread_cond_signal(&L->wake);
		pthread_cond_wait(&L->done, &L->mu);
	}
	memcpy(L->active + L->active_len, line, len);
	L->active_len += len;
	L->appended += len;
}

void dlog_write(dlog *L, const char *line, size_t len)
{
	if (!L || !L->open || len > BUF_CAP)
		return;
	pthread_mutex_lock(&L->mu);
	append_locked(L, line, len);
	/* Wake the writer once per high-water crossing; below it, its timed
	 * wait picks the lines up, so appending costs no system call. */
	if (L->active_len >= HIGH_WATER && !L->kicked) {
		L->kicked = 1;
		pthread_cond_signal(&L->wake);
	}
	pthread_mutex_unlock(&L->mu);
}

/* Wait until every line appended before the call is written, and the
 * writer is between writes. Holds mu. Lines appended meanwhile do not
 * hold it up, so a reopen under steady traffic still finishes. */
static void drain_locked(dlog *L)
{
	uint64_t target = L->appended;
	while (L->written < target || L->writing) {
		L->flush_now = 1;
		pthread_cond_signal(&L->wake);
		pthread_cond_wait(&L->done, &L->mu);
	}
}

int dlog_reopen_file(dlog *L, const char *first, size_t firstlen, char *err, size_t errlen)
{
	if (!L || !L->open)
		return 0;
	pthread_mutex_lock(&L->mu);
	drain_locked(L);
	int fd = open_file(L->what, L->path, err, errlen), old = -1;
	if (fd >= 0) {
		old = L->fd;
		L->fd = fd;
		/* Before any line a request appends to the new file. */
		if (first && firstlen <= BUF_CAP)
			append_locked(L, first, firstlen);
	}
	pthread_mutex_unlock(&L->mu);
	/* The writer is done with the old file (drain_locked); syncing it can
	 * take a while on a busy disk, and request threads must not wait. */
	if (old >= 0) {
		fsync(old);
		close(old);
	}
	return fd < 0 ? -1 : 0;
}

void dlog_free(dlog *L)
{
	if (!L || !L->open)
		return;
	pthread_mutex_lock(&L->mu);
	L->stop = 1;
	pthread_cond_signal(&L->wake);
	pthread_mutex_unlock(&L->mu);
	pthread_join(L->thread, NULL);
	if (L->gap_lost)
		log_kv(LOG_ERROR, "decision log closed with lines lost and no gap line written",
		       LS("log", L->what), LS("path", L->path), LU("lost", L->gap_lost), LS("reason", strerror(L->gap_err)), LOG_END);
	if (fsync(L->fd) < 0 && errno != EINVAL)
		log_kv(LOG_ERROR, "decision log fsync failed", LS("log", L->what), LS("path", L->path),
		       LS("error", strerror(errno)), LOG_END);
	close(L->fd);
	L->fd = -1;
	L->open = 0;
	free(L->active);
	free(L->spare);
	free(L->path);
	pthread_cond_destroy(&L->wake);
	pthread_cond_destroy(&L->done);
	pthread_mutex_destroy(&L->mu);
	free(L);
}

/* ---- the decision log ------------------------------------------------------- */

static dlog *decisions;  /* set at start, before any request thread */

int dlog_open(const char *path, unsigned interval_ms, char *err, size_t errlen)
{
	decisions = dlog_new(path, interval_ms, "decision_log", 1, err, errlen);
	return decisions ? 0 : -1;
}

int dlog_enabled(void)
{
	return decisions != NULL;
}

void dlog_append(const char *line, size_t len)
{
	dlog_write(decisions, line, len);
}

void dlog_close(void)
{
	dlog_free(decisions);
	decisions = NULL;
}

int dlog_replay_safe(void)
{
	return decisions && APP.boot->decision_log.replay_safe;
}

stepup_facts *dlog_facts_plan(const stepup_engine *e, const stepupd_config *boot)
{
	stepup_facts *f = NULL;
	char err[128];
	if (stepup_facts_new(stepup_engine_ruleset(e), boot->decision_log.facts_mode,
	                     boot->decision_log.hash_key_len ? boot->decision_log.hash_key : NULL,
	                     boot->decision_log.hash_key_len, &f, err, sizeof(err)) != STEPUP_OK)
		log_kv(LOG_ERROR, "cannot prepare the facts of a replay-safe log", LS("error", err), LOG_END);
	return f;
}

void dlog_put_facts(dbuf *b, const stepup_facts *f, const stepup_request *r)
{
	if (!f)
		return;
	dbuf_putc(b, ',');
	if (dbuf_reserve(b, 1024) < 0)
		return;
	size_t n = stepup_facts_write(f, r, b->s + b->len, b->cap - b->len);
	if (n >= b->cap - b->len) {
		if (dbuf_reserve(b, n) < 0)
			return;
		stepup_facts_write(f, r, b->s + b->len, b->cap - b->len);
	}
	b->len += n;
}

void dlog_put_replay(dbuf *b, const gen *g, const stepup_request *r, const stepup_decision *d)
{
	if (!g->facts)
		return;
	dbuf_puts(b, ",\"line\":\"");
	dbuf_puts(b, stepup_cs_line_name(stepup_decision_cs_line(d)));
	dbuf_putc(b, '"');
	dlog_put_facts(b, g->facts, r);
}

/* The revision record of g: what replaying its decisions needs to know
 * (docs/change-control.md). Rules are listed with what they do, up to a
 * bound that keeps the line well inside a buffer. */
#define RECORD_MAX_RULES 10000

static void revision_record(dbuf *b, const gen *g, const char *via, const char *who)
{
	const stepup_ruleset *rs = stepup_engine_ruleset(g->engine);
	char ts[32], effect[128];
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(b, "{\"time\":\"");
	dbuf_puts(b, ts);
	dbuf_puts(b, "\",\"revision_record\":{\"ruleset\":");
	dbuf_json(b, g->name);
	dbuf_puts(b, ",\"revision\":");
	dbuf_json(b, g->revision);
	dbuf_puts(b, ",\"signer\":");
	dbuf_json(b, g->signer);
	dbuf_puts(b, ",\"via\":");
	dbuf_json(b, via);
	if (who) {
		dbuf_puts(b, ",\"who\":");
		dbuf_json(b, who);
	}
	size_t n = stepup_ruleset_rule_count(rs);
	if (n <= RECORD_MAX_RULES) {
		dbuf_puts(b, ",\"rules\":{");
		for (size_t i = 0; i < n; i++) {
			stepup_rule_info ri;
			if (stepup_ruleset_rule(rs, i, &ri) != STEPUP_OK)
				continue;
			rep_effect_text(rep_effect(&ri), effect, sizeof(effect));
			if (i)
				dbuf_putc(b, ',');
			dbuf_json(b, ri.name);
			dbuf_putc(b, ':');
			dbuf_json(b, effect);
		}
		dbuf_putc(b, '}');
	}
	dbuf_puts(b, ",\"facts\":");
	dbuf_puts(b, g->facts ? stepup_facts_plan(g->facts) : "null");
	dbuf_puts(b, "}}\n");
}

void dlog_revision_record(const gen *g, const char *via, const char *who)
{
	dbuf b = { 0 };
	if (!dlog_replay_safe() || !g)
		return;
	revision_record(&b, g, via, who);
	if (!b.failed)
		dlog_append(b.s, b.len);
	dbuf_free(&b);
}

int dlog_reopen(char *err, size_t errlen)
{
	dbuf b = { 0 };
	gen *g = dlog_replay_safe() ? gen_acquire() : NULL;
	/* A rotated file starts with the record of the revision deciding, so
	 * each file replays on its own. */
	if (g)
		revision_record(&b, g, "reopen", NULL);
	gen_release(g);
	int rc = dlog_reopen_file(decisions, b.failed ? NULL : b.s, b.len, err, errlen);
	dbuf_free(&b);
	return rc;
}
