/* metrics_ep.c: GET /metrics (Prometheus text format 0.0.4). */
#include "../app.h"
#include "../conns.h"
#include "../gen.h"
#include "../metrics.h"
#include "handlers.h"

void h_metrics(const http_req *rq, http_resp *rs)
{
	char why[8];
	(void)rq;
	met_gauges gg = {
		.connections = conns_count(),
		.inflight = conns_inflight(),
		.draining = app_draining(),
	};
	gen *g = gen_acquire();
	gg.ready = g && !gg.draining && gen_ready(g, why, sizeof(why));
	gen_release(g);
	met_render(&rs->body, &gg);
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
