/* handlers.h: one function per endpoint (daemon/routes.c maps them). */
#ifndef STEPUPD_HANDLERS_H
#define STEPUPD_HANDLERS_H

#include "../http.h"

void h_decisions(const http_req *rq, http_resp *rs);
void h_live(const http_req *rq, http_resp *rs);
void h_ready(const http_req *rq, http_resp *rs);
void h_metrics(const http_req *rq, http_resp *rs);
void h_admin_reload(const http_req *rq, http_resp *rs);
void h_admin_promote(const http_req *rq, http_resp *rs);
void h_admin_shadow_reload(const http_req *rq, http_resp *rs);
void h_otp_deliveries(const http_req *rq, http_resp *rs);
void h_activations(const http_req *rq, http_resp *rs);
void h_case(const http_req *rq, http_resp *rs);

/* Whether a client may use the admin endpoints: from loopback when
 * admin.allow_loopback, or with "Authorization: Bearer <admin token>". */
int admin_check(int loopback, const char *authorization);
/* Whether a client may use the issuer endpoints (activation, case read):
 * from loopback when lifecycle.allow_loopback, or with
 * "Authorization: Bearer <lifecycle token>". */
int issuer_check(int loopback, const char *authorization);

/* Whether JSON text nests deeper than max (brackets in strings do not
 * count); for limits.max_json_depth. */
int json_too_deep(const char *s, size_t n, unsigned max);

#endif
