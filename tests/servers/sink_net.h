/* sink_net.h: the socket plumbing shared by the test servers (http_sink,
 * smtp_sink): a listener on 127.0.0.1, a stop pipe every wait also
 * watches (so a stop interrupts any read or delay at once), a buffered
 * line reader with a per-read timeout, and writes that never raise
 * SIGPIPE. Plain POSIX; test code only. */
#ifndef STEPUP_SINK_NET_H
#define STEPUP_SINK_NET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Longest a peer may stay silent before a server drops it. */
#define SINK_IO_TIMEOUT_MS 5000

/* Listen on addr:port (addr NULL = "127.0.0.1", port 0 = ephemeral).
 * Returns the socket (non-blocking off, close-on-exec) and *bound, or -1
 * with a reason in err. */
int sink_listen(const char *addr, uint16_t port, uint16_t *bound, char *err, size_t errlen);

/* Wait until fd is readable: 1 readable, 0 timed out, -1 stop requested
 * (stopfd readable) or poll error. timeout_ms < 0 waits forever. */
int sink_wait(int fd, int stopfd, int timeout_ms);

/* Sleep up to delay_ms, ending early when the peer on fd closes or a stop
 * is requested: 0 slept fully, 1 peer gone, -1 stop. Bytes the peer sent
 * meanwhile are left unread. */
int sink_delay(int fd, int stopfd, int delay_ms);

/* Write everything (MSG_NOSIGNAL): 0, or -1 when the peer is gone. */
int sink_write_all(int fd, const void *buf, size_t len);

typedef struct sink_reader {
	int fd, stopfd;
	size_t pos, len;
	char buf[4096];
} sink_reader;

void sink_reader_init(sink_reader *r, int fd, int stopfd);
/* One line without its "\r\n" (or bare "\n") into line (NUL-terminated):
 * its length, -1 on EOF / timeout / stop, -2 when longer than max - 1
 * (the rest of that line is consumed). */
long sink_read_line(sink_reader *r, char *line, size_t max);
/* Same, but the line keeps its terminator ("\n" or "\r\n"); a line
 * longer than max - 1 is returned in pieces. */
long sink_read_raw_line(sink_reader *r, char *line, size_t max);
/* Exactly n bytes: 0, or -1. */
int sink_read_n(sink_reader *r, char *dst, size_t n);

/* The stop pipe: sink_stop_init makes it, sink_stop_signal makes its read
 * end readable for good, sink_stop_close closes both ends. */
int sink_stop_init(int fds[2]);
void sink_stop_signal(int fds[2]);
void sink_stop_close(int fds[2]);

/* What every test server is made of: a listener, a stop pipe, the thread
 * that serves, and a lock + condition for what it records. */
typedef struct sink_server {
	int lfd;
	int stop[2];
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} sink_server;

/* Listen on addr:port and run run(arg) on a new thread: 0, or -1 with a
 * reason in err and nothing left open. */
int sink_server_start(sink_server *sv, const char *addr, uint16_t port, void *(*run)(void *),
		      void *arg, char *err, size_t errlen);
/* Stop the thread (it sees the stop pipe), join it, close everything. */
void sink_server_stop(sink_server *sv);

/* Small string helpers (malloc; abort on out of memory: test code). */
char *sink_strdup(const char *s);
char *sink_memdup(const void *p, size_t n); /* adds a NUL after n bytes */
int sink_strcaseeq(const char *a, const char *b);
int sink_strncaseeq(const char *a, const char *b, size_t n);

#endif
