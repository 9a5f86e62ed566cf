/* config.h: the "mdes" section of stepupd's configuration (docs/mdes.md):
 *
 *   "mdes": {
 *     "base_path": "/mdes",                  where the endpoints live (restart)
 *     "keys": [ {"file": "issuer-key.pem",   RSA private keys, mode 0600;
 *                "certificate": "...",       optional: its certificate;
 *                "fingerprint": "..."} ],    optional: one more fingerprint
 *     "on_account_failure": "DECLINED",      or "ERROR", or "DECIDE"
 *     "decline_reasons": {"card_lost": "LOST"},   fired RED rule -> declineReasonCode
 *     "idempotency": {"entries": 10000, "ttl_seconds": 900},   (restart)
 *     "activation_code_ttl_seconds": 1800,   codes sent without expirationDateTime,
 *                                             and codes the issuer makes
 *     "mastercard_key": {"file": "mc.pem",   Mastercard's public key or certificate:
 *                        "fingerprint": "...",  getAccountInformation's answer is
 *                        "oaep_hash": "SHA512"} encrypted for it (optional)
 *     "facts_map": {"card.state": "account.state", ...}   for a ruleset on
 *                                             another schema (docs/mdes.md)
 *   }
 *
 * Parsed with the rest of the file (config.c calls mdes_cfg_parse): keys
 * are loaded then, so a reload rotates them and a bad key fails the reload
 * with its file named. */
#ifndef STEPUPD_MDES_CONFIG_H
#define STEPUPD_MDES_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "crypto.h"

enum mdes_on_failure {
	MDES_FAIL_DECLINE = 0,  /* answer DECLINED (fail closed) */
	MDES_FAIL_ERROR,        /* answer an error: MDES applies its stand-in */
	MDES_FAIL_DECIDE,       /* decide with account.lookup = FAILED */
};

typedef struct mdes_reason {
	char *rule;  /* a rule's name */
	char *code;  /* its declineReasonCode */
} mdes_reason;

/* One fact of a mapped document: `to` gets the value at `from` in the MDES
 * facts (converted by `as`), or the constant `value`. */
typedef struct mdes_map_entry {
	char *to, *from;
	int as;            /* MDES_AS_* */
	json_t *value;     /* constant, or NULL */
} mdes_map_entry;

enum { MDES_AS_IS = 0, MDES_AS_INT, MDES_AS_STRING, MDES_AS_BOOL };

typedef struct mdes_cfg {
	char *base_path;
	mdes_keyring *keys;
	int on_account_failure;      /* enum mdes_on_failure */
	mdes_reason *reasons;
	size_t nreasons;
	unsigned replay_entries, replay_ttl_seconds;
	unsigned code_ttl_seconds;
	mdes_map_entry *map;         /* NULL: decide on the MDES facts */
	size_t nmap;
	mdes_pubkey *mastercard;     /* NULL: getAccountInformation is not served */
	char *mastercard_oaep;       /* "SHA256" or "SHA512" */
} mdes_cfg;

/* Parse the section v (paths relative to base_dir). 0, or -1 with
 * "mdes.<key>: why" in err. */
int mdes_cfg_parse(json_t *v, const char *base_dir, mdes_cfg **out, char *err, size_t errlen);
void mdes_cfg_free(mdes_cfg *c);
/* Whether a and b (either may be NULL) differ in what takes effect at
 * start only: the base path and the idempotency store. */
int mdes_cfg_restart_differs(const mdes_cfg *a, const mdes_cfg *b);

/* The declineReasonCode values of MDES 2.0.33. */
int mdes_decline_code_known(const char *code);

#endif
