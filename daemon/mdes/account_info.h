/* account_info.h: the answer of getAccountInformation (account_info.c). */
#ifndef STEPUPD_MDES_ACCOUNT_INFO_H
#define STEPUPD_MDES_ACCOUNT_INFO_H

#include "../util.h"
#include "config.h"

/* MDES's accountStatus for the account data source's answer (facts JSON,
 * may be NULL; lookup MDES_ACCOUNT_*): ACTIVE, EXPIRED, CANCELLED,
 * UNKNOWN, or INVALID for a card the issuer does not know. */
const char *mdes_account_status(const char *account_json, int lookup);

/* {"responseId", "encryptedPayload"} into out: the account's status (and
 * balance) encrypted for cfg->mastercard, which must be set. 0, or -1
 * with err (no value quoted). */
int mdes_account_info_answer(dbuf *out, const mdes_cfg *cfg, const char *response_id, const char *account_json,
                             int lookup, char *err, size_t errlen);

#endif
