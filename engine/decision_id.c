/* decision_id.c: decision ids (decision_id.h): made on first use, never
 * holding a card number. A leaf: the decider and the response writer call
 * it, it calls only the card-number policy. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cardnum.h"
#include "decision.h"
#include "decision_id.h"

/* Decision ids: "dcs_" + 16 Crockford base32 characters of 48 bits of
 * milliseconds and 32 random bits, so ids sort by time and do not collide
 * across threads or restarts. An id is logged, stored and quoted back, so
 * it must never hold a card number (docs/pci.md): digits-only runs of 13
 * or more characters can happen, and such an id gets new random bits. */
int su_decision_id_encode(uint64_t ms, uint32_t rnd, char out[24])
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	/* 80 bits: 48 of time, 32 of randomness. */
	uint64_t hi = ms & 0xffffffffffffULL, lo = rnd;

	memcpy(out, "dcs_", 4);
	for (int i = 0; i < 16; i++) {
		int shift = 75 - 5 * i;  /* bit offset in the 80-bit number */
		unsigned v;
		if (shift >= 32)
			v = (unsigned)(hi >> (shift - 32)) & 31;
		else if (shift > 27)
			v = (unsigned)(((hi << (32 - shift)) | (lo >> shift)) & 31);
		else
			v = (unsigned)(lo >> shift) & 31;
		out[4 + i] = b32[v];
	}
	out[20] = '\0';
	return su_card_find(out, 20, NULL, NULL) ? -1 : 0;
}

/* The five base32 characters the random bits alone fill (the last 25
 * bits) set to letters: the longest digit run left is the 11 characters
 * before them, too short for a card number. */
#define SU_ID_LETTERS 0xa5294au  /* five groups of 01010: "AAAAA" */

void su_decision_id_make(uint64_t ms, uint32_t (*rnd)(void *), void *ctx, char out[24])
{
	/* Each draw fails with a probability far below 1e-6; after a few,
	 * force letters rather than loop on a broken generator. */
	for (int tries = 0; tries < 8; tries++)
		if (su_decision_id_encode(ms, rnd(ctx), out) == 0)
			return;
	su_decision_id_encode(ms, (rnd(ctx) & ~0x1ffffffu) | SU_ID_LETTERS, out);
}

/* The 32 low bits of a thread's ids: a random start, then one more per
 * id. Random bits per id made two ids of the same millisecond collide
 * (birthday odds: a few times an hour at 80,000 decisions a second, each
 * a case that cannot be opened); a counter never repeats within a thread,
 * and threads start far apart. */
static uint32_t next_low(void *ctx)
{
	uint64_t *state = ctx;
	return (uint32_t)(*state)++;
}

static void new_id(char out[24])
{
	static _Thread_local uint64_t state;
	static _Thread_local int seeded;
	struct timespec ts;

	if (!seeded) {
		if (getrandom(&state, sizeof(state), 0) != sizeof(state))
			state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL);
		seeded = 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	su_decision_id_make((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, next_low, &state, out);
}

const char *su_decision_id(stepup_decision *d)
{
	if (!d->id[0])
		new_id(d->id);
	return d->id;
}

const char *stepup_decision_id(const stepup_decision *d)
{
	/* The decision is the caller's per-thread scratch; filling its id
	 * lazily is not a visible mutation. */
	return su_decision_id((stepup_decision *)d);
}
