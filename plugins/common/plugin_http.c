/* plugin_http.c: see plugin_http.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_config.h"
#include "plugin_curl.h"
#include "plugin_http.h"
#include "plugin_text.h"

void spc_http_free(spc_http *ep)
{
	free(ep->url);
	free(ep->host_name);
	free(ep->proxy);
	free(ep->ca_file);
	free(ep->user);
	free(ep->password);
	free(ep->auth_header);
}

static int configure_url(json_t *root, spc_http *ep, char *err, size_t errlen)
{
	if (spc_cfg_bool(root, NULL, "allow_http", &ep->allow_http, err, errlen) != 0 ||
	    spc_cfg_string(root, NULL, "url", 1, spc_is_line, "a URL", &ep->url, err, errlen) != 0)
		return -1;
	char *scheme = NULL;
	int has_user = 0, rc = -1;
	int split = spc_url_split(ep->url, &scheme, &ep->host_name, &has_user);
	if (split == SPC_URL_NOMEM)
		spc_set_err(err, errlen, "out of memory");
	else if (split != SPC_URL_OK)
		spc_set_err(err, errlen, "url: must be an absolute http(s) URL");
	else if (strcmp(scheme, "https") != 0 && !(ep->allow_http && strcmp(scheme, "http") == 0))
		spc_set_err(err, errlen, "%s",
			    strcmp(scheme, "http") == 0
				    ? "url: http:// needs \"allow_http\": true (https:// is expected)"
				    : "url: must be an https:// URL");
	else if (has_user)
		spc_set_err(err, errlen, "url: must not carry credentials (use \"auth\")");
	else
		rc = 0;
	free(scheme);
	return rc;
}

/* "<name><sep><value>" into *out (malloc'd). */
static int make_header(const char *name, const char *sep, const char *value, char **out, char *err,
		       size_t errlen)
{
	size_t n = strlen(name) + strlen(sep) + strlen(value) + 1;
	if (!(*out = malloc(n))) {
		spc_set_err(err, errlen, "out of memory");
		return -1;
	}
	snprintf(*out, n, "%s%s%s", name, sep, value);
	return 0;
}

static int configure_auth(json_t *root, spc_http *ep, char *err, size_t errlen)
{
	static const char *const text = "non-empty text without controls";
	json_t *a;
	if (spc_cfg_object(root, "auth", &a, err, errlen) != 0)
		return -1;
	if (!a)
		return 0;
	char *type = NULL, *x = NULL, *y = NULL;
	int rc = -1;
	if (spc_cfg_string(a, "auth", "type", 1, spc_is_any, "a string", &type, err, errlen) != 0)
		return -1;
	if (strcmp(type, "basic") == 0) {
		static const char *const keys[] = { "type", "user", "password", NULL };
		ep->auth = SPC_AUTH_BASIC;
		if (spc_cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    spc_cfg_string(a, "auth", "user", 1, spc_is_line, "non-empty text without ':' or controls",
				   &ep->user, err, errlen) != 0 ||
		    spc_cfg_string(a, "auth", "password", 1, spc_is_line, text, &ep->password, err, errlen) != 0)
			goto out;
		/* Basic auth joins user and password with ':'. */
		if (strchr(ep->user, ':')) {
			spc_set_err(err, errlen, "auth.user: must be non-empty text without ':' or controls");
			goto out;
		}
	} else if (strcmp(type, "bearer") == 0) {
		static const char *const keys[] = { "type", "token", NULL };
		ep->auth = SPC_AUTH_HEADER;
		if (spc_cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    spc_cfg_string(a, "auth", "token", 1, spc_is_line, text, &x, err, errlen) != 0 ||
		    make_header("Authorization: Bearer", " ", x, &ep->auth_header, err, errlen) != 0)
			goto out;
	} else if (strcmp(type, "header") == 0) {
		static const char *const keys[] = { "type", "name", "value", NULL };
		ep->auth = SPC_AUTH_HEADER;
		if (spc_cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    spc_cfg_string(a, "auth", "name", 1, spc_is_header_name,
				   "an HTTP header name like \"X-Api-Key\"", &x, err, errlen) != 0 ||
		    spc_cfg_string(a, "auth", "value", 1, spc_is_line, text, &y, err, errlen) != 0 ||
		    make_header(x, ": ", y, &ep->auth_header, err, errlen) != 0)
			goto out;
	} else {
		spc_set_err(err, errlen, "auth.type: must be \"basic\", \"bearer\" or \"header\"");
		goto out;
	}
	rc = 0;
out:
	free(type);
	free(x);
	free(y);
	return rc;
}

int spc_http_configure(json_t *root, spc_http *ep, char *err, size_t errlen)
{
	return configure_url(root, ep, err, errlen) != 0 || configure_auth(root, ep, err, errlen) != 0 ? -1 : 0;
}

int spc_http_configure_transport(json_t *root, spc_http *ep, char *err, size_t errlen)
{
	if (spc_cfg_string(root, NULL, "proxy", 0, spc_is_line, "a proxy URL", &ep->proxy, err, errlen) != 0 ||
	    spc_cfg_ca_file(root, &ep->ca_file, err, errlen) != 0)
		return -1;
	return 0;
}

/* The answer's body is not ours to read: it may echo PII. */
static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * n;
}

int spc_http_send(const spc_plugin *p, const spc_http *ep, CURL *h, const stepup_call_ctx *ctx,
		  const spc_http_post *post, int *systemic_out)
{
	struct curl_slist *hdrs = NULL, *tmp;
	int systemic = 0;
	if (systemic_out)
		*systemic_out = 0;
	for (size_t k = 0; k < post->nheaders; k++) {
		if (!post->headers[k])
			continue;
		if (!(tmp = curl_slist_append(hdrs, post->headers[k]))) {
			curl_slist_free_all(hdrs);
			spc_ctx_err(p->name, ctx, "out of memory");
			return STEPUP_PLUGIN_ERROR;
		}
		hdrs = tmp;
	}
	char agent[128];
	snprintf(agent, sizeof(agent), "stepup-%s/%s", p->name, p->version);
	spc_curl_setup(h, ep->url, post->left_ms, ep->allow_http ? "http,https" : "https", ep->proxy,
		       ep->ca_file);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, post->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(post->body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (ep->auth == SPC_AUTH_BASIC) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, ep->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, ep->password);
	}

	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	int64_t took = p->host->now_ms() - post->start_ms;
	const char *peer = post->peer;
	int rc = STEPUP_PLUGIN_ERROR;
	char why[160] = "";
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, sizeof(why), "no answer from the %s within the deadline (%lld ms)", peer,
			 (long long)post->left_ms);
		rc = STEPUP_PLUGIN_TIMEOUT;
		systemic = 1;
	} else if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s unreachable: %s", peer, curl_easy_strerror(cc));
		rc = STEPUP_PLUGIN_UNAVAILABLE;
		systemic = 1;
	} else if (status >= 200 && status < 300) {
		rc = STEPUP_PLUGIN_OK;
	} else if (status >= 300 && status < 400) {
		snprintf(why, sizeof(why), "%s answered HTTP %ld (redirects are not followed)", peer, status);
	} else if (status == 401 || status == 403) {
		snprintf(why, sizeof(why), "%s refused the credentials (HTTP %ld)", peer, status);
		systemic = 1;
	} else if (status == 408 || status == 429 || status >= 500) {
		snprintf(why, sizeof(why), "%s answered HTTP %ld", peer, status);
		rc = STEPUP_PLUGIN_UNAVAILABLE;
		systemic = 1;
	} else {
		snprintf(why, sizeof(why), "%s answered HTTP %ld", peer, status);
	}
	if (rc == STEPUP_PLUGIN_OK)
		spc_log(p, STEPUP_PLUGIN_LOG_DEBUG, "%s (HTTP %ld, %lld ms)", post->sent, status, (long long)took);
	else
		spc_report_failure(p, ctx, post->failed, took, why);
	curl_slist_free_all(hdrs);
	if (systemic_out)
		*systemic_out = systemic;
	return rc;
}
