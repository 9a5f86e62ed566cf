/* routes.c: the route table and its matcher. */
#include <string.h>

#include "handlers/handlers.h"
#include "routes.h"

/* The TSP's endpoints (decisions, Deliver OTP) are open to whoever
 * reaches the socket (mutual TLS in front of it decides who does); the
 * issuer's (activation, case read) and the admin's need a loopback client
 * or their bearer token. */
static const route table[] = {
	{ "POST", "/v1/decisions", h_decisions, ROUTE_JSON_BODY },
	{ "POST", "/v1/otp-deliveries", h_otp_deliveries, ROUTE_JSON_BODY },
	{ "POST", "/v1/activations", h_activations, ROUTE_JSON_BODY | ROUTE_ISSUER },
	{ "GET", "/v1/cases/{decision_id}", h_case, ROUTE_ISSUER },
	{ "GET", "/health/live", h_live, 0 },
	{ "GET", "/health/ready", h_ready, 0 },
	{ "GET", "/metrics", h_metrics, 0 },
	{ "POST", "/v1/admin/reload", h_admin_reload, ROUTE_ADMIN | ROUTE_OPT_BODY },
	{ "POST", "/v1/admin/promote", h_admin_promote, ROUTE_ADMIN | ROUTE_OPT_BODY },
	{ "POST", "/v1/admin/shadow/reload", h_admin_shadow_reload, ROUTE_ADMIN | ROUTE_OPT_BODY },
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

/* Match path against a template; params collected in rq (may be NULL). */
static int match(const char *tpl, const char *path, http_req *rq)
{
	int np = 0;
	while (*tpl && *path) {
		if (tpl[0] == '{') {
			const char *te = strchr(tpl, '}');
			size_t n = strcspn(path, "/");
			if (!te || n == 0 || np >= HTTP_MAX_PARAMS)
				return 0;
			if (rq) {
				rq->params[np] = path;
				rq->param_len[np] = n;
			}
			np++;
			tpl = te + 1;
			path += n;
			continue;
		}
		if (*tpl != *path)
			return 0;
		tpl++;
		path++;
	}
	return *tpl == '\0' && *path == '\0';
}

const route *route_find(const char *method, const char *path, http_req *rq,
                        char *allow, size_t allowlen)
{
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++)
		if (strcmp(table[i].method, method) == 0 && match(table[i].path, path, rq))
			return &table[i];
	for (size_t i = 0; i < NROUTES; i++) {
		if (!match(table[i].path, path, NULL) || strstr(allow, table[i].method))
			continue;
		if (allow[0])
			strncat(allow, ", ", allowlen - strlen(allow) - 1);
		strncat(allow, table[i].method, allowlen - strlen(allow) - 1);
	}
	return NULL;
}

size_t route_count(void)
{
	return NROUTES;
}

const route *route_at(size_t i)
{
	return i < NROUTES ? &table[i] : NULL;
}

size_t route_index(const route *r)
{
	return (size_t)(r - table);
}

const char *route_list(void)
{
	static char list[512];
	static int done;
	/* Built once from the table, by server_start() before any thread. */
	if (!done) {
		for (size_t i = 0; i < NROUTES; i++) {
			if (i)
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			strncat(list, table[i].method, sizeof(list) - strlen(list) - 1);
			strncat(list, " ", sizeof(list) - strlen(list) - 1);
			strncat(list, table[i].path, sizeof(list) - strlen(list) - 1);
		}
		done = 1;
	}
	return list;
}
