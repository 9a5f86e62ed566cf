/* decision_id.h: how decide.c makes decision ids, exposed for tests.
 *
 * An id is "dcs_" + 16 Crockford base32 characters of 48 bits of
 * milliseconds and 32 random bits. Ids are quoted back, logged and stored,
 * so none may hold a card number by the one policy (docs/pci.md). */
#ifndef SU_DECISION_ID_H
#define SU_DECISION_ID_H

#include <stdint.h>

/* Write the id of (ms, rnd) into out (21 bytes with the NUL); 0, or -1
 * when it holds a card number (out is written all the same). */
int su_decision_id_encode(uint64_t ms, uint32_t rnd, char out[24]);

/* An id for ms that holds no card number: draws rnd(ctx) until the id is
 * clean, and after a few failed draws forces the characters only the
 * random bits fill to letters. */
void su_decision_id_make(uint64_t ms, uint32_t (*rnd)(void *), void *ctx, char out[24]);

#endif
