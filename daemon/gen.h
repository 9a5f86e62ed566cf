/* gen.h: a generation is everything a reload replaces, built beside the
 * running one and swapped in whole: the configuration it came from, the
 * plugins, the compiled ruleset and the engine deciding with them.
 *
 * A request borrows the current generation for its whole life
 * (gen_acquire ... gen_release) and decides with it alone, so it is decided
 * entirely by the ruleset revision its response names, however many reloads
 * happen meanwhile. A replaced generation is freed once its last borrower
 * has released it; the freeing itself (plugin fini() may block) happens on
 * the main thread in gen_collect(), never on a request thread. */
#ifndef STEPUPD_GEN_H
#define STEPUPD_GEN_H

#include <pthread.h>
#include <stdint.h>

#include <stepup/stepup.h>

#include "config.h"

struct rev_stats;
struct shadow_gen;

typedef struct gen {
	unsigned refs;               /* atomic */
	uint64_t seq;                /* 1 for the first generation, +1 per reload */
	stepupd_config *cfg;         /* owned when own_cfg */
	int own_cfg;
	stepup_plugins *plugins;     /* owned reference, NULL without plugins */
	stepup_engine *engine;       /* owned */
	const char *name, *revision; /* borrowed from the engine's ruleset */
	struct rev_stats *stats;     /* metrics of this revision (metrics.c) */
	char signer[STEPUP_FINGERPRINT_SIZE];  /* the bundle's signer, "" unsigned */
	stepup_facts *facts;         /* a replay-safe decision log's facts writer */
	struct shadow_gen *shadow;   /* shadow mode's part (shadow.h), or NULL */
	struct gen *cfg_owner;       /* promote: the generation whose cfg this one
	                                borrows, held while this one lives */

	/* Readiness is asked of the plugins at most once a second. */
	pthread_mutex_t ready_mu;
	uint64_t ready_at_ns;
	int ready_ok;
	char ready_err[256];

	struct gen *next;            /* every generation not yet freed */
} gen;

/* Build a generation from cfg. With `own`, cfg passes to the generation on
 * success (a reload's); without, the caller keeps it alive longer than the
 * generation (the boot configuration).
 * -1 with one line in err naming what failed ("rules: default.rules:12:5:
 * error: ...", "plugins: sms: ..."); nothing stays loaded then. */
int gen_build(stepupd_config *cfg, int own, gen **out, char *err, size_t errlen);
/* A generation deciding with ruleset rs (promote, shadow.h) on base's
 * configuration and plugins: an engine is built for it there; the new
 * generation holds base (whose configuration it borrows) until it is
 * freed. signer: rs's signer ("" unsigned). -1 with a message in err. */
int gen_adopt(gen *base, stepup_ruleset *rs, const char *signer, gen **out, char *err, size_t errlen);
/* Free a generation that was never published (check-config). */
void gen_discard(gen *g);

/* Make g the current generation (takes the caller's reference). The
 * previous one is released and freed after its last request. */
void gen_publish(gen *g);
/* The current generation with one more reference, or NULL before the first
 * gen_publish(). Lock-free: three atomic operations. */
gen *gen_acquire(void);
void gen_release(gen *g);
/* Free generations whose last reference is gone. Main thread only. */
void gen_collect(void);
/* Drop the current generation and free everything (at exit). */
void gen_shutdown(void);

/* Call fn on every generation not yet freed (current first), under the
 * generations lock: fn must not acquire or release generations. */
void gen_foreach(void (*fn)(gen *g, int current, void *ctx), void *ctx);

/* 1 when every required plugin of g is healthy (cached for one second);
 * else 0 with the reason in err. */
int gen_ready(gen *g, char *err, size_t errlen);

#endif
