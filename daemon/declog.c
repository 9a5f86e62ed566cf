/* declog.c: double-buffered decision log writer. Lines go to the file
 * whole or not at all: a failed write is cut back to the last complete
 * line and the loss is recorded in the file once writing works again. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "declog.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define BUF_CAP (1u << 20)
#define HIGH_WATER (64u * 1024)

static struct {
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
} L = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
};

static int open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		snprintf(err, errlen, "decision_log: cannot open %s: %s", path, strerror(errno));
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
static int write_lines(int fd, const char *p, size_t n, uint64_t *lost, int *err)
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
		       LS("path", L.path), LS("error", strerror(errno)), LOG_END);
	*lost = count_lines(p + keep, n - keep);
	return -1;
}

/* The writer's one job per buffer: while writes fail, count the lines
 * lost (one log line per episode, with the error); once a write works
 * again, a gap marker line goes first, so the log itself says what it is
 * missing:
 *   {"time":"...","gap":{"lost":12,"reason":"File too large","since":"..."}} */
static void write_out(int fd, const char *buf, size_t n)
{
	uint64_t lost = 0;
	int err = 0;
	if (L.gap_lost) {
		char ts[32], marker[512];
		rfc3339_ms(wall_ns(), ts);
		int mn = snprintf(marker, sizeof(marker),
		                  "{\"time\":\"%s\",\"gap\":{\"lost\":%llu,\"reason\":\"%s\",\"since\":\"%s\"}}\n",
		                  ts, (unsigned long long)L.gap_lost, strerror(L.gap_err), L.gap_since);
		if (write_lines(fd, marker, (size_t)mn, &lost, &err) < 0) {
			lost = count_lines(buf, n);
			met_declog_error();
			met_declog_lost(lost);
			L.gap_lost += lost;
			return;
		}
		log_kv(LOG_WARN, "decision log writable again; a gap line records the lines lost",
		       LS("path", L.path), LU("lost", L.gap_lost), LS("reason", strerror(L.gap_err)),
		       LS("since", L.gap_since), LOG_END);
		L.gap_lost = 0;
	}
	if (write_lines(fd, buf, n, &lost, &err) == 0)
		return;
	met_declog_error();
	met_declog_lost(lost);
	if (!L.gap_lost) {
		L.gap_err = err;
		rfc3339_ms(wall_ns(), L.gap_since);
		log_kv(LOG_ERROR, "decision log write failed; lines are lost until a write works again "
		       "(then a gap line says how many)", LS("path", L.path), LS("error", strerror(err)),
		       LU("lines", lost), LOG_END);
	}
	L.gap_lost += lost;
}

static void *writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&L.mu);
	for (;;) {
		if (!L.stop && !L.flush_now && L.active_len < HIGH_WATER) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)L.interval_ms * 1000000u;
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&L.wake, &L.mu, &ts);
		}
		if (L.active_len) {
			char *buf = L.active;
			size_t n = L.active_len;
			int fd = L.fd;
			L.active = L.spare;
			L.spare = buf;
			L.active_len = 0;
			L.writing = 1;
			L.kicked = 0;
			pthread_mutex_unlock(&L.mu);
			write_out(fd, buf, n);
			pthread_mutex_lock(&L.mu);
			L.writing = 0;
			L.written += n;
		}
		L.flush_now = 0;
		pthread_cond_broadcast(&L.done);
		if (L.stop && !L.active_len)
			break;
	}
	pthread_mutex_unlock(&L.mu);
	return NULL;
}

int dlog_open(const char *path, unsigned interval_ms, char *err, size_t errlen)
{
	L.fd = open_file(path, err, errlen);
	if (L.fd < 0)
		return -1;
	L.path = strdup(path);
	L.active = malloc(BUF_CAP);
	L.spare = malloc(BUF_CAP);
	L.interval_ms = interval_ms;
	pthread_cond_init(&L.wake, NULL);
	pthread_cond_init(&L.done, NULL);
	if (!L.path || !L.active || !L.spare ||
	    pthread_create(&L.thread, NULL, writer, NULL) != 0) {
		snprintf(err, errlen, "decision_log: cannot start the writer");
		free(L.path);
		free(L.active);
		free(L.spare);
		close(L.fd);
		L.fd = -1;
		return -1;
	}
	L.open = 1;
	return 0;
}

int dlog_enabled(void)
{
	return L.open;
}

void dlog_append(const char *line, size_t len)
{
	if (!L.open || len > BUF_CAP)
		return;
	pthread_mutex_lock(&L.mu);
	while (L.active_len + len > BUF_CAP) {
		/* Both buffers full: the disk is the bottleneck, wait for it. */
		L.flush_now = 1;
		pthread_cond_signal(&L.wake);
		pthread_cond_wait(&L.done, &L.mu);
	}
	memcpy(L.active + L.active_len, line, len);
	L.active_len += len;
	L.appended += len;
	/* Wake the writer once per high-water crossing; below it, its timed
	 * wait picks the lines up, so appending costs no system call. */
	if (L.active_len >= HIGH_WATER && !L.kicked) {
		L.kicked = 1;
		pthread_cond_signal(&L.wake);
	}
	pthread_mutex_unlock(&L.mu);
}

/* Wait until every line appended before the call is written, and the
 * writer is between writes. Holds mu. Lines appended meanwhile do not
 * hold it up, so a reopen under steady traffic still finishes. */
static void drain_locked(void)
{
	uint64_t target = L.appended;
	while (L.written < target || L.writing) {
		L.flush_now = 1;
		pthread_cond_signal(&L.wake);
		pthread_cond_wait(&L.done, &L.mu);
	}
}

int dlog_reopen(char *err, size_t errlen)
{
	if (!L.open)
		return 0;
	pthread_mutex_lock(&L.mu);
	drain_locked();
	int fd = open_file(L.path, err, errlen), old = -1;
	if (fd >= 0) {
		old = L.fd;
		L.fd = fd;
	}
	pthread_mutex_unlock(&L.mu);
	/* The writer is done with the old file (drain_locked); syncing it can
	 * take a while on a busy disk, and request threads must not wait. */
	if (old >= 0) {
		fsync(old);
		close(old);
	}
	return fd < 0 ? -1 : 0;
}

void dlog_close(void)
{
	if (!L.open)
		return;
	pthread_mutex_lock(&L.mu);
	L.stop = 1;
	pthread_cond_signal(&L.wake);
	pthread_mutex_unlock(&L.mu);
	pthread_join(L.thread, NULL);
	if (L.gap_lost)
		log_kv(LOG_ERROR, "decision log closed with lines lost and no gap line written",
		       LS("path", L.path), LU("lost", L.gap_lost), LS("reason", strerror(L.gap_err)), LOG_END);
	if (fsync(L.fd) < 0 && errno != EINVAL)
		log_kv(LOG_ERROR, "decision log fsync failed", LS("path", L.path),
		       LS("error", strerror(errno)), LOG_END);
	close(L.fd);
	L.fd = -1;
	L.open = 0;
	free(L.active);
	free(L.spare);
	free(L.path);
	pthread_cond_destroy(&L.wake);
	pthread_cond_destroy(&L.done);
}
