/* facts.h: what the rules decide on, from an MDES request (docs/mdes.md,
 * "Facts").
 *
 *   request JSON ──mdes_payload_open──> the decrypted fundingAccountData
 *   (card data for the account data source) ──mdes_facts_build──> one
 *   JSON document on the MDES schema's paths (or, with facts_map, on the
 *   ruleset's own schema), for stepup_request_parse.
 *
 * Card data lives in memory only for the decision: the decrypted text,
 * the JSON tree made of it and the facts document are wiped when freed
 * (jansson's allocator wipes what it frees in stepupd, mdes_wipe_init).
 * The paths of the MDES schema this file reads or fills are listed once,
 * at its top: the protocol's own names, as the adapter must know them. */
#ifndef STEPUPD_MDES_FACTS_H
#define STEPUPD_MDES_FACTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <stepup/stepup.h>

#include "config.h"

/* Make jansson wipe every block it frees, for the whole process: decrypted
 * card data goes through it. Once; before threads use jansson. */
void mdes_wipe_init(void);

/* The decrypted payload: its JSON and the card data the account data
 * source gets (pointers into data). */
typedef struct mdes_card {
	json_t *data;                 /* fundingAccountData */
	stepup_card_data card;        /* pan, expiry, csc, request id */
	int has_csc;
} mdes_card;

/* Parse plain (the decrypted text) into c. 0, or -1 with the MDES error
 * code, the field and a description (never a value). now_s: Unix seconds,
 * against dataValidUntilTimestamp. */
int mdes_payload_open(const char *plain, size_t len, const char *request_id, int64_t now_s,
                      mdes_card *c, const char **code, char *field, size_t fieldlen, char *why,
                      size_t whylen);
void mdes_payload_close(mdes_card *c);

/* The account data source's answer. */
enum { MDES_ACCOUNT_FOUND = 0, MDES_ACCOUNT_NOT_FOUND, MDES_ACCOUNT_FAILED };

/* The facts document: the request (without its encrypted payload), the
 * payload's members beside it, the account facts (JSON text, may be NULL)
 * merged in, account.lookup and cardholder.language; mapped by cfg->map
 * when configured. Malloc'd text in *out (wipe it: mdes_facts_free).
 * 0, or -1 (out of memory). */
int mdes_facts_build(const mdes_cfg *cfg, json_t *request, const mdes_card *c, const char *account_json,
                     int lookup, char **out, size_t *outlen);
void mdes_facts_free(char *facts, size_t len);

/* The issuer's CVC2 check as MDES's cvcResponse (MATCH, INVALID,
 * NOT_PROCESSED) from the account facts; NULL when no CVC2 was sent. */
const char *mdes_cvc_response(const mdes_card *c, const char *account_json, int lookup);

#endif
