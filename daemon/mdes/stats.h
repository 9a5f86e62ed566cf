/* stats.h: the MDES counters (rendered by mdes_metrics_render, mdes.h). */
#ifndef STEPUPD_MDES_STATS_H
#define STEPUPD_MDES_STATS_H

#include "spec.h"

/* An answer to operation op: its errorCode, or NULL for a success. */
void mdes_stat_answer(mdes_op op, const char *error_code);
/* A payload that did not decrypt (enum mdes_crypto_status). */
void mdes_stat_decrypt(int status);
/* The account data source's answer (MDES_ACCOUNT_*). */
void mdes_stat_account(int lookup);
/* An authorizeService answered again from the idempotency store. */
void mdes_stat_replay(void);
/* notifyServiceActivated: 1 closed a case, 0 found it activated, -1 found
 * it closed otherwise, -2 found no case. */
void mdes_stat_activation(int outcome);
/* notifyTokenUpdated, by its reasonCode (others counted as OTHER). */
void mdes_stat_token_update(const char *reason);
/* A code the issuer made and sent (deliverActivationCode without one). */
void mdes_stat_code_sent(void);
/* validateActivationCode's result (stepup_code_result). */
void mdes_stat_code_checked(int result);
/* notifySuspiciousEvents, per event by its eventName (others: OTHER). */
void mdes_stat_suspicious(const char *event);

#endif
