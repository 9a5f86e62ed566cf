/* declog.h: the decision log, one JSON line per decision (format in
 * docs/operations.md), appended to a file; and the writer behind it,
 * which the shadow log (shadow.h) uses too.
 *
 * Request threads copy their line into a shared memory buffer under a
 * mutex (a memcpy, no system call); a writer thread moves full buffers to
 * disk every flush interval or sooner when a buffer fills. A request
 * thread only waits for the disk when both buffers are full, i.e. when the
 * disk cannot keep up at all.
 *
 * A replay-safe decision log (decision_log.replay_safe,
 * docs/change-control.md) adds to each line the facts its ruleset read
 * (stepup_facts_write: no secret, contacts reduced) and the customer-
 * service line, and writes a revision record before the first decision of
 * each revision (at start, reload, promote, and at the top of a rotated
 * file): the ruleset, its signer, what each rule does, what the log keeps. */
#ifndef STEPUPD_DECLOG_H
#define STEPUPD_DECLOG_H

#include <stddef.h>

#include <stepup/stepup.h>

#include "config.h"
#include "util.h"

struct gen;

/* One log file and its writer thread. */
typedef struct dlog dlog;
/* Open (create, mode 0640) the file and start the writer. `what` names it
 * in messages ("decision_log"); `counted`: its losses are the decision
 * log metrics'. NULL and a message naming the file on failure. */
dlog *dlog_new(const char *path, unsigned flush_interval_ms, const char *what, int counted, char *err,
               size_t errlen);
/* Append one complete line (with its '\n'). l may be NULL (no log). */
void dlog_write(dlog *l, const char *line, size_t len);
/* Write out what is buffered, close the file and open the path again (log
 * rotation, SIGUSR1), then append `first` (may be NULL) before any other
 * line. On failure the old file stays in use. */
int dlog_reopen_file(dlog *l, const char *first, size_t firstlen, char *err, size_t errlen);
/* Write out everything, fsync, close, stop the writer, free l. */
void dlog_free(dlog *l);

/* The decision log of the process. Open (create, mode 0640) the file and
 * start the writer. -1 and a message naming the file on failure. */
int dlog_open(const char *path, unsigned flush_interval_ms, char *err, size_t errlen);
/* 1 when a decision log is open. */
int dlog_enabled(void);
/* Append one complete line (with its '\n'). */
void dlog_append(const char *line, size_t len);
/* Reopen (rotation); a replay-safe log's new file starts with the revision
 * record of the serving generation. */
int dlog_reopen(char *err, size_t errlen);
/* Write out everything, fsync, close, stop the writer. */
void dlog_close(void);

/* 1 when the decision log is open and replay-safe. */
int dlog_replay_safe(void);
/* The facts writer for decisions of e, as the boot configuration's
 * decision_log section says (mode, hash key); NULL on failure (logged). */
stepup_facts *dlog_facts_plan(const stepup_engine *e, const stepupd_config *boot);
/* Append ,"facts":{..}[,"reduced":{..}] for r to a line being built;
 * nothing when f is NULL. */
void dlog_put_facts(dbuf *b, const stepup_facts *f, const stepup_request *r);
/* A replay-safe decision line's part: ,"line":.. and the facts of r by
 * g's facts writer; nothing when g has none (not replay-safe). */
void dlog_put_replay(dbuf *b, const struct gen *g, const stepup_request *r, const stepup_decision *d);
/* Write g's revision record (replay-safe logs only). via: "start",
 * "reload", "promote"; who: who asked (may be NULL). Call it before g is
 * published, so that it precedes every decision of g. */
void dlog_revision_record(const struct gen *g, const char *via, const char *who);

#endif
