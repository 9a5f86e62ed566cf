/* answer.h: stepup's decisions in MDES's words (docs/mdes.md, "Answers").
 *
 *   GREEN   APPROVED
 *   YELLOW  REQUIRE_ADDITIONAL_AUTHENTICATION, activationMethods in the
 *           offered order: OTP_SMS -> TEXT_TO_CARDHOLDER_NUMBER (masked
 *           phone), OTP_EMAIL -> EMAIL_TO_CARDHOLDER_ADDRESS (masked
 *           e-mail), IN_APP -> CARDHOLDER_TO_USE_MOBILE_APP (the app),
 *           CUSTOMER_SERVICE -> CARDHOLDER_TO_CALL_MANNED_NUMBER (the
 *           number of the line served)
 *   RED     DECLINED, with declineReasonCode when a fired rule has one
 *           (mdes.decline_reasons)
 *
 * and every failure as the spec's error body {responseId, errorCode,
 * errorDescription}, whose description names a field but never quotes a
 * value. */
#ifndef STEPUPD_MDES_ANSWER_H
#define STEPUPD_MDES_ANSWER_H

#include <jansson.h>
#include <stepup/stepup.h>

#include "../http.h"
#include "config.h"

/* A fresh responseId for an answer that is not a decision: "rsp_" and 16
 * random base-32 characters. */
void mdes_response_id(char out[32]);

/* rs = the MDES error body with `status`; `cause` is the metric's reason
 * (enum reject_cause, -1 for none). */
void mdes_error(http_resp *rs, unsigned status, int cause, const char *code, const char *desc);

/* The activationMethods of decision d (YELLOW) as a JSON array, in offer
 * order; only the methods of the case (`allowed`, bit per stepup_method;
 * ~0u for all). NULL on allocation failure. */
json_t *mdes_activation_methods(const stepup_engine *e, const stepup_request *r, stepup_decision *d,
                                unsigned allowed);

/* The authorizeService answer to a decision, into b. */
typedef struct mdes_as_answer {
	const char *response_id;
	json_t *services;          /* the request's (borrowed) */
	const char *cvc_response;  /* may be NULL */
} mdes_as_answer;

int mdes_authorize_answer(dbuf *b, const mdes_cfg *cfg, const stepup_engine *e, const stepup_request *r,
                          stepup_decision *d, const mdes_as_answer *a);
/* A DECLINED answer made without the rules (the account data source
 * failed and mdes.on_account_failure says DECLINED). */
int mdes_declined_answer(dbuf *b, const char *response_id, const char *cvc_response);
/* {"responseId": id} and, with methods (stolen), "activationMethods". */
int mdes_plain_answer(dbuf *b, const char *response_id, json_t *methods);

#endif
