/* declog.c: double-buffered decision log writer. */
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
	uint64_t last_error_log_ns;
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

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			met_declog_error();
			/* A full disk fails every write: say so every 10 s, not 1000 times a second. */
			uint64_t now = mono_ns();
			if (!L.last_error_log_ns || now - L.last_error_log_ns > 10000000000u) {
				L.last_error_log_ns = now;
				log_kv(LOG_ERROR, "decision log write failed; lines lost",
				       LS("path", L.path), LS("error", strerror(e)), LU("bytes", n), LOG_END);
			}
			return;
		}
		p += w;
		n -= (size_t)w;
	}
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
			write_all(fd, buf, n);
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
