/* routes.c: the route table and its matcher. */
#include <string.h>

#include "handlers/handlers.h"
#include "mdes/mdes.h"
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
	/* Mastercard MDES (docs/mdes.md): under mdes.base_path, TSP side. */
	{ "POST", "/mdes/authorizeService", h_mdes_authorize, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/requestActivationMethods", h_mdes_methods, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/deliverActivationCode", h_mdes_deliver, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/notifyServiceActivated", h_mdes_activated, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/notifyTokenUpdated", h_mdes_token_updated, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/validateActivationCode", h_mdes_validate, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/getAccountInformation", h_mdes_account_info, ROUTE_JSON_BODY | ROUTE_MDES },
	{ "POST", "/mdes/notifySuspiciousEvents", h_mdes_suspicious, ROUTE_JSON_BODY | ROUTE_MDES },
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

/* Match path against a route; params collected in rq (may be NULL). */
static int match_route(const route *r, const char *path, http_req *rq);

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

static int match_route(const route *r, const char *path, http_req *rq)
{
	/* The MDES routes live under the configured base path. */
	if (r->flags & ROUTE_MDES)
		return mdes_route_match(r->path, path);
	return match(r->path, path, rq);
}

const route *route_find(const char *method, const char *path, http_req *rq,
                        char *allow, size_t allowlen)
{
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++)
		if (strcmp(table[i].method, method) == 0 && match_route(&table[i], path, rq))
			return &table[i];
	for (size_t i = 0; i < NROUTES; i++) {
		if (!match_route(&table[i], path, NULL) || strstr(allow, table[i].method))
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
	static char list[1024];
	static int done;
	/* Built once from the table, by server_start() before any thread. */
	if (!done) {
		for (size_t i = 0; i < NROUTES; i++) {
			/* MDES's only when on, under their configured base. */
			const char *base = (table[i].flags & ROUTE_MDES) ? mdes_base_path() : "";
			if (!base)
				continue;
			if (i)
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			strncat(list, table[i].method, sizeof(list) - strlen(list) - 1);
			strncat(list, " ", sizeof(list) - strlen(list) - 1);
			strncat(list, base, sizeof(list) - strlen(list) - 1);
			strncat(list, table[i].path + (base[0] ? 5 : 0), sizeof(list) - strlen(list) - 1);
		}
		done = 1;
	}
	return list;
}
