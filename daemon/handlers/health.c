/* health.c: GET /health/live and GET /health/ready. */
#include <stdio.h>

#include "../app.h"
#include "../gen.h"
#include "../lifecycle.h"
#include "../metrics.h"
#include "handlers.h"

void h_live(const http_req *rq, http_resp *rs)
{
	(void)rq;
	dbuf_puts(&rs->body, "{\"status\":\"live\"}");
}

/* Ready: a ruleset is loaded, every required plugin is healthy, the case
 * store (when the lifecycle is on) can acknowledge writes, and the daemon
 * is not shutting down (so a load balancer stops sending). */
void h_ready(const http_req *rq, http_resp *rs)
{
	char why[300];
	(void)rq;
	if (app_draining()) {
		http_error(rs, 503, RJ_NOT_READY, "not_ready", "shutting down");
		return;
	}
	gen *g = gen_acquire();
	if (!g) {
		http_error(rs, 503, RJ_NOT_READY, "not_ready", "no ruleset loaded");
		return;
	}
	if (!gen_ready(g, why, sizeof(why))) {
		char msg[340];
		snprintf(msg, sizeof(msg), "required plugin not healthy: %s", why);
		http_error(rs, 503, RJ_NOT_READY, "not_ready", msg);
	} else if (lc_health(why, sizeof(why)) < 0) {
		/* YELLOW decisions and lifecycle writes are answered 503 meanwhile. */
		http_error(rs, 503, RJ_NOT_READY, "not_ready", why);
	} else {
		dbuf_puts(&rs->body, "{\"status\":\"ready\",\"ruleset\":{\"name\":");
		dbuf_json(&rs->body, g->name);
		dbuf_puts(&rs->body, ",\"revision\":");
		dbuf_json(&rs->body, g->revision);
		dbuf_printf(&rs->body, "},\"generation\":%llu}", (unsigned long long)g->seq);
	}
	gen_release(g);
}
