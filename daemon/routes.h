/* routes.h: the route table, method + path template -> handler.
 * A template segment "{name}" matches one non-empty path segment, which the
 * handler reads from http_req.params (e.g. "/v1/cases/{decision_id}"). */
#ifndef STEPUPD_ROUTES_H
#define STEPUPD_ROUTES_H

#include "http.h"

enum {
	ROUTE_JSON_BODY = 1,  /* reads a JSON body: 415 unless Content-Type is JSON */
	ROUTE_ADMIN = 2,      /* loopback client or admin bearer token only */
	ROUTE_ISSUER = 4,     /* loopback client or lifecycle bearer token only */
	ROUTE_OPT_BODY = 8,   /* may read a JSON body: 415 if one comes that is not JSON */
	ROUTE_MDES = 16,      /* path "/mdes/x": x under mdes.base_path (mdes.h) */
};

typedef struct route {
	const char *method;
	const char *path;
	http_handler fn;
	unsigned flags;
} route;

/* The route for method + path, with its {params} set in rq. NULL when none:
 * then *allow lists the methods the path does accept ("GET, POST"), or is
 * "" when no route has this path (404 rather than 405). */
const route *route_find(const char *method, const char *path, http_req *rq,
                        char *allow, size_t allowlen);

/* The table, for per-route metrics: route_at(i) for i < route_count(),
 * and the index of a route of the table. */
size_t route_count(void);
const route *route_at(size_t i);
size_t route_index(const route *r);

/* "POST /v1/decisions, GET /health/live, ..." for 404 messages. */
const char *route_list(void);

#endif
