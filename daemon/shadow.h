/* shadow.h: shadow mode (docs/change-control.md). A candidate ruleset
 * (config "shadow") decides every request the serving one decided,
 * beside it and off the response path: the request thread copies the
 * body and the serving decision into a work item for a bounded pool
 * (workq.h, detached items) and answers at once; when the pool's queue is
 * full the shadow decision is skipped and counted, never waited for. The
 * candidate's decision is compared with the serving one the way `stepup
 * diff` compares (tools/report.h); divergences are counted in /metrics by
 * transition and written, with both outcomes and the facts masked as in
 * the replay-safe decision log, to the shadow log.
 *
 * The candidate is loaded with each generation (start, SIGHUP, admin
 * reload), on that generation's plugins and settings, under the same
 * signing policy as the rules; a candidate that does not load fails the
 * start, and at a reload keeps the previous candidate (the serving rules
 * reload regardless). POST /v1/admin/shadow/reload reloads the candidate
 * alone. POST /v1/admin/promote makes it the serving ruleset at once
 * (gen_adopt + gen_publish: requests in flight finish on the generation
 * they started with, none fails) and records who and when. */
#ifndef STEPUPD_SHADOW_H
#define STEPUPD_SHADOW_H

#include <stddef.h>

#include <stepup/stepup.h>

#include "config.h"
#include "util.h"

struct gen;

/* gen.c: a generation's part: the serving ruleset's rules by name, and the
 * candidate its configuration names, loaded now (a failure is recorded,
 * see shadow_gen_error). -1 only when out of memory. */
int shadow_gen_built(struct gen *g, char *err, size_t errlen);
void shadow_gen_free(struct gen *g);
/* Why g's candidate did not load, or NULL. */
const char *shadow_gen_error(const struct gen *g);
/* g's candidate "name revision", or NULL (--check-config). */
const char *shadow_gen_candidate(const struct gen *g, char *buf, size_t size);

/* main.c, after the first generation is published: the pool, the shadow
 * log and g's candidate, when the boot configuration has "shadow". -1 and
 * err when the pool or the log cannot start. */
int shadow_start(const stepupd_config *boot, struct gen *g, char *err, size_t errlen);
/* reload.c, after publishing g: g's candidate becomes the shadow's, or why
 * it did not load is logged and the running candidate stays. */
void shadow_published(struct gen *g, const char *trigger);
/* decisions.c, a decision answered 200 by g: hand it to the candidate. */
void shadow_post(struct gen *g, const stepup_request *r, const stepup_decision *d, const char *body,
                 size_t len);

/* The admin endpoints (handlers/admin.c). Reload the candidate alone from
 * the serving generation's configuration, on the caller's thread (it
 * reads a file: run it off the HTTP threads). 0, or -1 and err; the
 * candidate's name and revision in name, rev. */
int shadow_reload(char *name, size_t namelen, char *rev, size_t revlen, char *err, size_t errlen);
/* The pool admin reloads run on (NULL when shadow mode is off). */
struct workq *shadow_admin_pool(void);
/* Promote the candidate: the HTTP status and the JSON body in out. who:
 * the caller (address and how it was let in); revision (may be NULL):
 * refuse unless the candidate is that one. */
int shadow_promote(const char *who, const char *revision, dbuf *out);

/* /metrics: the shadow series. */
void shadow_render_metrics(dbuf *b);
/* SIGUSR1: reopen the shadow log. */
int shadow_reopen_log(char *err, size_t errlen);
/* At exit, after the HTTP server stopped: decide what still waits (at most
 * 2 s), stop the pools, close the log, drop the candidate. */
void shadow_stop(void);

#endif
