/* genjob.h: building a generation (gen.h) on a thread of its own, so that
 * the thread taking the signals never waits on a file.
 *
 * Reading the configuration, the plugins and the rules can block for ever:
 * open() and read() of a FIFO or of a file on a hung network mount have no
 * timeout. A build therefore runs on its own (detached) thread; the caller
 * polls it and gives up at its deadline. A build given up on runs on until
 * the kernel lets it go; then it frees what it built, which is never
 * published. */
#ifndef STEPUPD_GENJOB_H
#define STEPUPD_GENJOB_H

#include <stddef.h>

#include "config.h"
#include "gen.h"

typedef struct genjob genjob;

/* Start a build. With `path`, a reload's: the configuration file is read
 * on the thread (a changed "cases" section is checked, lifecycle.h) and
 * the generation owns it. Without, a start's: from `cfg`, which the caller
 * keeps alive as long as the job may run. `wake` (may be NULL) is called
 * on the job's thread once it finished, to wake whoever polls.
 * NULL and err when no thread could be started. */
genjob *genjob_start(const char *path, stepupd_config *cfg, void (*wake)(void),
                     char *err, size_t errlen);
/* 1 once the build finished (genjob_take then returns at once). */
int genjob_finished(genjob *j);
/* What the job is doing ("loading the rules /etc/stepup/default.rules"),
 * for a timeout message. */
void genjob_stage(genjob *j, char *buf, size_t size);
/* The result of a finished job, which is freed: 0 and *out, or -1 and one
 * line in err. */
int genjob_take(genjob *j, gen **out, char *err, size_t errlen);
/* Give up on a running job (its deadline passed). The caller must not use
 * j again; the job frees itself and what it built when it finishes. */
void genjob_abandon(genjob *j);
/* Jobs given up on and still running (blocked in the kernel). While any
 * is, state they may still touch (the boot configuration, the metrics
 * registry) must not be freed at exit. */
unsigned genjob_stuck(void);

#endif
