/* replay.h: authorizeService is idempotent by requestId (docs/mdes.md,
 * "Repeated requests"): the first answer to a requestId is kept, and a
 * request repeating the id gets those bytes again instead of a second
 * decision (a second case, a second CVC2 check at the issuer).
 *
 * In memory, bounded: at most mdes.idempotency.entries answers, each kept
 * mdes.idempotency.ttl_seconds (defaults 10,000 and 900 s: a retry of
 * MDES comes within seconds); the oldest goes first when full. Lost at a
 * restart (the retry is then decided again, as a new request would be).
 * A repeat that arrives while the first is still being decided waits for
 * its answer, up to the decision deadline. Answers hold no card data:
 * they are what was sent. */
#ifndef STEPUPD_MDES_REPLAY_H
#define STEPUPD_MDES_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "../util.h"

typedef struct mdes_replay mdes_replay;

mdes_replay *mdes_replay_new(unsigned entries, unsigned ttl_seconds);
void mdes_replay_free(mdes_replay *rp);

enum { MDES_REPLAY_MINE = 0, MDES_REPLAY_HIT, MDES_REPLAY_BUSY };

/* Begin key: MDES_REPLAY_MINE (the caller decides and must call
 * mdes_replay_end), MDES_REPLAY_HIT (the first answer's status and body in
 * *status and out), or MDES_REPLAY_BUSY (the first is still being decided
 * after waiting until deadline_ns, CLOCK_MONOTONIC). */
int mdes_replay_begin(mdes_replay *rp, const char *key, uint64_t deadline_ns, unsigned *status, dbuf *out);
/* The answer to key (body NULL: none to keep, e.g. the decision failed;
 * a repeat then decides again). */
void mdes_replay_end(mdes_replay *rp, const char *key, unsigned status, const char *body, size_t len);

/* The process's store, sized by the configuration stepupd started with
 * (authorize.c); NULL without an "mdes" section. authorizeService keys it
 * by requestId, validateActivationCode by "validateActivationCode:" and
 * its requestId. */
mdes_replay *mdes_replay_process(void);

/* Entries kept now, for metrics. */
size_t mdes_replay_size(mdes_replay *rp);

#endif
