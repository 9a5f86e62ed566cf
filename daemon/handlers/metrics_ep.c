/* metrics_ep.c: GET /metrics (Prometheus text format 0.0.4). */
#include "../app.h"
#include "../conns.h"
#include "../gen.h"
#include "../lifecycle.h"
#include "../metrics.h"
#include "../workq.h"
#include "handlers.h"

void h_metrics(const http_req *rq, http_resp *rs)
{
	char why[256];
	(void)rq;
	met_gauges gg = {
		.connections = conns_count(),
		.inflight = conns_inflight(),
		.draining = app_draining(),
		.store_healthy = -1,
		.dec_queued = APP.decide_q ? workq_queued(APP.decide_q) : 0,
		.dec_running = APP.decide_q ? workq_running(APP.decide_q) : 0,
	};
	stepup_cases_stats cs;
	if (APP.cases) {
		stepup_cases_stats_get(APP.cases, &cs);
		gg.cases = &cs;
		gg.lc_queued = workq_queued(APP.lifecycle_q);
		gg.lc_running = workq_running(APP.lifecycle_q);
		gg.rec_queued = workq_queued(APP.record_q);
		gg.rec_running = workq_running(APP.record_q);
	}
	if (APP.cases)
		gg.store_healthy = lc_health(why, sizeof(why)) == 0;
	/* The same verdict as GET /health/ready (health.c). */
	gen *g = gen_acquire();
	gg.ready = g && !gg.draining && gen_ready(g, why, sizeof(why)) && gg.store_healthy != 0;
	gen_release(g);
	met_render(&rs->body, &gg);
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
