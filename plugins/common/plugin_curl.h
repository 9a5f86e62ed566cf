/* plugin_curl.h: libcurl as every reference plugin uses it: one easy
 * handle per call (no shared connection state, so any number of threads
 * may call at once), the host's deadline as the transfer's timeout, no
 * signals, no proxy from the environment.
 *
 * PII: libcurl's error buffer is never used (it quotes URLs, which may
 * carry an API key); reasons are fixed texts plus curl_easy_strerror(),
 * which is generic. */
#ifndef STEPUP_PLUGIN_COMMON_CURL_H
#define STEPUP_PLUGIN_COMMON_CURL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "plugin_util.h"

/* Whatever the host's deadline says, one call never blocks longer. */
#define SPC_CURL_MAX_CALL_MS 60000

/* The start of init(): check state and host ("incomplete host API",
 * EINVAL), set *state to NULL, allocate a zeroed state of `size` bytes that
 * begins with an spc_plugin (filled from desc, the plugin's own
 * descriptor, and host), and take a reference on libcurl's global state
 * ("libcurl initialisation failed"). NULL with *rc the status to return
 * and the reason in err. */
SPC_HIDDEN void *spc_curl_state_new(const stepup_plugin_desc *desc, const stepup_host_api *host,
				    void *host_ctx, void **state, size_t size, int *rc, char *err,
				    size_t errlen);
/* Drop the libcurl reference and free a state from spc_curl_state_new. */
SPC_HIDDEN void spc_curl_state_free(spc_plugin *p);

/* The time left for a call that started at `start` (host clock), capped at
 * SPC_CURL_MAX_CALL_MS, into *left: STEPUP_PLUGIN_OK, or
 * STEPUP_PLUGIN_TIMEOUT with "<name>: deadline passed before sending" when
 * nothing may be sent any more. */
SPC_HIDDEN int spc_curl_budget(const char *name, const stepup_call_ctx *ctx, int64_t start,
			       int64_t *left);

/* The options every call sets: url; left_ms as both the whole transfer's
 * and the connect timeout; NOSIGNAL (calls come from several threads and
 * libcurl's alarm()-based DNS timeout is not thread-safe); only the
 * protocols in `protocols` ("https", "http,https", "smtp"...), so a URL
 * cannot switch scheme; `proxy` or none at all (the environment must not
 * reroute OTPs); ca_file when set. */
SPC_HIDDEN void spc_curl_setup(CURL *h, const char *url, int64_t left_ms, const char *protocols,
			       const char *proxy, const char *ca_file);

enum { SPC_URL_OK = 0, SPC_URL_BAD = -1, SPC_URL_NOMEM = -2 };

/* Split an absolute URL: its scheme and host (malloc'd: *host is kept for
 * log lines, never the whole URL), and whether it carries credentials.
 * SPC_URL_BAD when it does not parse. */
SPC_HIDDEN int spc_url_split(const char *url, char **scheme, char **host, int *has_user);

#endif
