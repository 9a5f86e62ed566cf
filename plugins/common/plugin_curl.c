/* plugin_curl.c: see plugin_curl.h. */
#include <stdlib.h>
#include <string.h>

#include "plugin_curl.h"

void *spc_curl_state_new(const stepup_plugin_desc *desc, const stepup_host_api *host, void *host_ctx,
			 void **state, size_t size, int *rc, char *err, size_t errlen)
{
	if (!state || !spc_host_ok(host, 1)) {
		spc_set_err(err, errlen, "incomplete host API");
		*rc = STEPUP_PLUGIN_EINVAL;
		return NULL;
	}
	*state = NULL;
	spc_plugin *p = calloc(1, size);
	if (!p) {
		spc_set_err(err, errlen, "out of memory");
		*rc = STEPUP_PLUGIN_ERROR;
		return NULL;
	}
	spc_plugin_set(p, desc, host, host_ctx);
	/* libcurl counts init/cleanup pairs, so this pairs with the cleanup in
	 * spc_curl_state_free(). plugin.h keeps init() apart from calls on this
	 * instance only: a host loading a new plugin set while the old one
	 * still sends relies on libcurl >= 7.84 making global init thread-safe
	 * (CURL_VERSION_THREADSAFE). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(p);
		spc_set_err(err, errlen, "libcurl initialisation failed");
		*rc = STEPUP_PLUGIN_ERROR;
		return NULL;
	}
	*rc = STEPUP_PLUGIN_OK;
	return p;
}

void spc_curl_state_free(spc_plugin *p)
{
	curl_global_cleanup();
	free(p);
}

int spc_curl_budget(const char *name, const stepup_call_ctx *ctx, int64_t start, int64_t *left)
{
	*left = ctx->deadline_ms - start;
	if (*left <= 0) {
		spc_ctx_err(name, ctx, "deadline passed before sending");
		return STEPUP_PLUGIN_TIMEOUT;
	}
	if (*left > SPC_CURL_MAX_CALL_MS)
		*left = SPC_CURL_MAX_CALL_MS;
	return STEPUP_PLUGIN_OK;
}

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: string form, the bitmask is deprecated */
static void set_protocols(CURL *h, const char *protocols)
{
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
}
#else
static void set_protocols(CURL *h, const char *protocols)
{
	static const struct {
		const char *name;
		long bit;
	} known[] = { { "http", CURLPROTO_HTTP },
		      { "https", CURLPROTO_HTTPS },
		      { "smtp", CURLPROTO_SMTP },
		      { "smtps", CURLPROTO_SMTPS } };
	long mask = 0;
	for (const char *p = protocols; *p;) {
		size_t n = strcspn(p, ",");
		for (size_t k = 0; k < sizeof(known) / sizeof(*known); k++)
			if (strlen(known[k].name) == n && strncmp(known[k].name, p, n) == 0)
				mask |= known[k].bit;
		p += n;
		if (*p)
			p++;
	}
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, mask);
}
#endif

void spc_curl_setup(CURL *h, const char *url, int64_t left_ms, const char *protocols, const char *proxy,
		    const char *ca_file)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left_ms);
	set_protocols(h, protocols);
	curl_easy_setopt(h, CURLOPT_PROXY, proxy ? proxy : "");
	if (ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
}

int spc_url_split(const char *url, char **scheme, char **host, int *has_user)
{
	CURLU *u = curl_url();
	char *s = NULL, *h = NULL, *user = NULL;
	int rc = SPC_URL_BAD;
	*scheme = *host = NULL;
	*has_user = 0;
	if (!u)
		return SPC_URL_NOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
		goto out;
	*has_user = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK;
	rc = SPC_URL_NOMEM;
	if (!(*scheme = spc_strdup(s)) || !(*host = spc_strdup(h))) {
		free(*scheme);
		*scheme = NULL;
		goto out;
	}
	rc = SPC_URL_OK;
out:
	curl_free(s);
	curl_free(h);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}
