/* mdes.h: Mastercard MDES's issuer API in stepupd (docs/mdes.md): what the
 * rest of the daemon sees of daemon/mdes/.
 *
 *   POST <base>/authorizeService          decrypt, look the card up, decide
 *   POST <base>/requestActivationMethods  the methods, again
 *   POST <base>/deliverActivationCode     the code, through the case's channel
 *   POST <base>/notifyServiceActivated    the case ACTIVATED, once
 *   POST <base>/notifyTokenUpdated        acknowledged and recorded
 *   POST <base>/validateActivationCode    a code the issuer made, checked
 *   POST <base>/getAccountInformation     the account's status, encrypted
 *   POST <base>/notifySuspiciousEvents    acknowledged, recorded, webhook
 *
 * <base> is mdes.base_path (default /mdes) of the configuration stepupd
 * started with; without an "mdes" section these paths do not exist. */
#ifndef STEPUPD_MDES_H
#define STEPUPD_MDES_H

#include <stddef.h>

#include "../http.h"
#include "../util.h"

void h_mdes_authorize(const http_req *rq, http_resp *rs);
void h_mdes_methods(const http_req *rq, http_resp *rs);
void h_mdes_deliver(const http_req *rq, http_resp *rs);
void h_mdes_activated(const http_req *rq, http_resp *rs);
void h_mdes_token_updated(const http_req *rq, http_resp *rs);
void h_mdes_validate(const http_req *rq, http_resp *rs);
void h_mdes_account_info(const http_req *rq, http_resp *rs);
void h_mdes_suspicious(const http_req *rq, http_resp *rs);

/* The route table names the endpoints under "/mdes" (also their label in
 * metrics); the request's path matches when it is the configured base
 * path followed by tpl's part after "/mdes". 0 when the MDES API is off. */
int mdes_route_match(const char *tpl, const char *path);
/* mdes.base_path of the configuration stepupd started with, NULL when the
 * MDES API is off. */
const char *mdes_base_path(void);

/* The MDES series of GET /metrics. */
void mdes_metrics_render(dbuf *b);

#endif
