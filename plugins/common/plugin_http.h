/* plugin_http.h: an HTTPS endpoint a plugin POSTs to (otp_sms_http's
 * gateway, inapp_http's issuer backend): its configuration keys and the
 * POST itself, with the answer mapped to a STEPUP_PLUGIN_* status and a
 * reason that never quotes the answer (gateways echo numbers back).
 *
 * Configuration keys, read at the top level:
 *   url          required; https://, or http:// with allow_http; no
 *                credentials in it (they would end up in logs)
 *   allow_http   bool, default false
 *   auth         {"type": "basic", "user", "password"},
 *                {"type": "bearer", "token"} or
 *                {"type": "header", "name", "value"}
 *   proxy        proxy URL; none otherwise, whatever the environment says
 *   ca_file      absolute path of a CA bundle */
#ifndef STEPUP_PLUGIN_COMMON_HTTP_H
#define STEPUP_PLUGIN_COMMON_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "plugin_util.h"

enum { SPC_AUTH_NONE, SPC_AUTH_BASIC, SPC_AUTH_HEADER };

typedef struct spc_http {
	char *url;
	char *host_name; /* for log lines: never the full URL (it may hold a key) */
	int allow_http;
	char *proxy, *ca_file;
	int auth;              /* SPC_AUTH_* */
	char *user, *password; /* SPC_AUTH_BASIC */
	char *auth_header;     /* SPC_AUTH_HEADER: "Name: value" (bearer too) */
} spc_http;

/* Free what the configure functions set (not ep itself). */
SPC_HIDDEN void spc_http_free(spc_http *ep);

/* allow_http, url and auth. */
SPC_HIDDEN int spc_http_configure(json_t *root, spc_http *ep, char *err, size_t errlen);
/* proxy and ca_file: apart, so that each plugin keeps the order in which
 * its refusals are reported. */
SPC_HIDDEN int spc_http_configure_transport(json_t *root, spc_http *ep, char *err, size_t errlen);

typedef struct spc_http_post {
	const char *peer;           /* "gateway", "backend": names it in reasons */
	const char *sent;           /* debug line on success: "<sent> (HTTP 200, 12 ms)" */
	const char *failed;         /* warning on failure: "<failed> after 12 ms: <why>" */
	const char *const *headers; /* request headers; NULL entries are skipped */
	size_t nheaders;
	const char *body;
	int64_t start_ms, left_ms;  /* the call's start and spc_curl_budget() */
} spc_http_post;

/* POST body to ep with h (a fresh easy handle the caller cleans up),
 * giving up after left_ms: a STEPUP_PLUGIN_* status, the reason in ctx->err
 * and the log. *systemic_out (may be NULL) is set when the failure
 * says the peer is in trouble (5xx, 408, 429, 401/403, timeout,
 * unreachable) rather than refusing this one request: what a circuit
 * breaker should count. Redirects
 * are never followed: a 3xx could send the body to another host. */
SPC_HIDDEN int spc_http_send(const spc_plugin *p, const spc_http *ep, CURL *h, const stepup_call_ctx *ctx,
			     const spc_http_post *post, int *systemic_out);

#endif
