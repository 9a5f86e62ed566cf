/* declog.h: the decision log, one JSON line per decision (format in
 * docs/operations.md), appended to a file.
 *
 * Request threads copy their line into a shared memory buffer under a
 * mutex (a memcpy, no system call); a writer thread moves full buffers to
 * disk every flush interval or sooner when a buffer fills. A request
 * thread only waits for the disk when both buffers are full, i.e. when the
 * disk cannot keep up at all. */
#ifndef STEPUPD_DECLOG_H
#define STEPUPD_DECLOG_H

#include <stddef.h>

/* Open (create, mode 0640) the file and start the writer. -1 and a message
 * naming the file on failure. */
int dlog_open(const char *path, unsigned flush_interval_ms, char *err, size_t errlen);
/* 1 when a decision log is open. */
int dlog_enabled(void);
/* Append one complete line (with its '\n'). */
void dlog_append(const char *line, size_t len);
/* Write out what is buffered, close the file and open the path again (log
 * rotation, SIGUSR1). On failure the old file stays in use. */
int dlog_reopen(char *err, size_t errlen);
/* Write out everything, fsync, close, stop the writer. */
void dlog_close(void);

#endif
