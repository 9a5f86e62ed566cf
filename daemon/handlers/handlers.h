/* handlers.h: one function per endpoint (daemon/routes.c maps them). */
#ifndef STEPUPD_HANDLERS_H
#define STEPUPD_HANDLERS_H

#include "../http.h"

void h_decisions(const http_req *rq, http_resp *rs);
void h_live(const http_req *rq, http_resp *rs);
void h_ready(const http_req *rq, http_resp *rs);
void h_metrics(const http_req *rq, http_resp *rs);
void h_admin_reload(const http_req *rq, http_resp *rs);

/* Free the calling thread's decision scratch (also done at thread exit). */
void decisions_thread_cleanup(void);

/* Whether a client may use the admin endpoints: from loopback when
 * admin.allow_loopback, or with "Authorization: Bearer <admin token>". */
int admin_check(int loopback, const char *authorization);

#endif
