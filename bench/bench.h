/* bench.h: what bench.c shares with the realistic generator
 * (realistic.c): growing strings, the deterministic PRNG, and the request
 * generator. */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);
double now_s(void);

typedef struct sbuf {
	char *s;
	size_t len, cap;
} sbuf;

void sb_reserve(sbuf *b, size_t extra);
void sb_put(sbuf *b, const char *s, size_t n);
void sb_cat(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* splitmix64 seeding xoshiro256** */
typedef struct rng {
	uint64_t s[4];
} rng;

void rng_seed(rng *g, uint64_t seed);
uint64_t rng_next(rng *g);
unsigned rnd(rng *g, unsigned n);            /* uniform in [0, n) */
int chance(rng *g, double pct);              /* true with probability pct/100 */
int pick(rng *g, const unsigned *w, int n);  /* an index from a table of weights */
#define PICK(g, w) pick((g), (w), (int)(sizeof(w) / sizeof((w)[0])))
void rnd_digits(rng *g, char *out, int n);   /* n digits and a NUL */
void luhn_complete(char *pan, int n);        /* set pan[n-1] to the check digit */

/* The request as a plain struct: what the hand-written baseline reads.
 * -1 (or 0 for scores and lengths) is "absent". */
typedef struct plain {
	int8_t channel, state, capture, csc, recommended;
	int8_t app_enrolled, otp_exhausted, device_suspicious;
	int8_t device_score, account_score, phone_score;
	int8_t has_email, has_reasons;
	uint8_t phone_len, suffix_len;
	int32_t active_tokens, csc_failures;
	uint32_t reasons;        /* bit per known reason code */
	char phone[20];          /* normalised: leading '+' and digits */
	char suffix[8];          /* digits */
} plain;

/* What a generated request takes from a ruleset's world instead of the
 * generator's draws (NULL members: drawn as usual). */
typedef struct gen_over {
	const char *bin;         /* the card number starts so (16 digits) */
	const char *tr;          /* token_requestor.id */
	const char *country;     /* wallet.device_country, when it is sent */
	const char *product;     /* card.product */
	const char *segment;     /* customer.segment */
} gen_over;

/* One request (DESIGN §3): its JSON text appended to `out`, its plain form
 * in *q. Both come from the same draws. ov may be NULL. */
void gen_request(rng *g, sbuf *out, plain *q, const gen_over *ov);

/* A rule's `then` part: decline, approve, step_up, step_up only some
 * methods, step_up only CUSTOMER_SERVICE line FRAUD, by the 5 weights w. */
void gen_outcome(rng *g, sbuf *b, const unsigned *w);

/* The realistic large-ruleset generator (realistic.c): a processor's
 * rules over its issuers' BIN ranges, token requestors, device countries,
 * products and segments, and requests drawn from the same world so each
 * one meets a few rules. */
typedef struct world world;
world *world_new(unsigned nrules, uint64_t seed);
void world_free(world *w);
void world_rules(const world *w, sbuf *out);
void world_request(const world *w, rng *g, sbuf *out, plain *q);

#endif
