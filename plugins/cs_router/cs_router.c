/* cs_router.c: the reference customer-service routing plugin (issue 3).
 *
 * Configuration-driven: a default entry plus an ordered list of routes,
 * each selected by the wallet device country or by the end user's
 * language, each giving a STANDARD number, an optional FRAUD number and
 * opening hours. See plugins/cs_router/README.md for the reference.
 *
 * Matching (route()):
 *   1. the first route whose "country" equals wallet.device_country
 *      (ASCII case-insensitive);
 *   2. else the first route whose "language" is a prefix, on a subtag
 *      boundary, of end_user.language ("fr" matches "fr", "fr-FR",
 *      "fr_CA"; not "fra");
 *   3. else the default entry.
 * Line FRAUD uses the entry's fraud number, else its standard number;
 * when the matched route has neither for that line, the default entry is
 * used the same way. The hours returned are those of the entry that gave
 * the number (may be absent: NULL).
 *
 * The plugin parses JSON with jansson and links nothing of stepup; the
 * helpers it shares with the other reference plugins are compiled in from
 * plugins/common. The state is read-only after init(), so route() is safe
 * from any number of threads. Logs and error messages never contain
 * request contents beyond the configured country/language that matched;
 * numbers configured here are service numbers, yet they are not echoed
 * either. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <stepup/plugin.h>

#include "plugin_config.h"
#include "plugin_text.h"
#include "plugin_util.h"

#define CSR_NAME "cs_router"
#define CSR_VERSION "1.0.0"
/* Limits that keep a mistyped configuration from being accepted. */
#define CSR_MAX_ROUTES 1024
#define CSR_MAX_HOURS 256
#define CSR_MIN_DIGITS 3
#define CSR_MAX_DIGITS 15

typedef struct csr_entry {
	char *country;  /* routes only: ISO 3166-1 alpha-2, upper case; or NULL */
	char *language; /* routes only: BCP 47 prefix, or NULL */
	char *standard; /* may be NULL in a route, never in the default */
	char *fraud;    /* may be NULL */
	char *hours;    /* may be NULL */
} csr_entry;

typedef struct csr_state {
	spc_plugin base;
	csr_entry def;
	size_t nroutes;
	csr_entry *routes;
} csr_state;

/* ---- helpers -------------------------------------------------------------- */

static void entry_free(csr_entry *e)
{
	free(e->country);
	free(e->language);
	free(e->standard);
	free(e->fraud);
	free(e->hours);
	memset(e, 0, sizeof(*e));
}

static void state_free(csr_state *st)
{
	if (!st)
		return;
	entry_free(&st->def);
	for (size_t k = 0; k < st->nroutes; k++)
		entry_free(&st->routes[k]);
	free(st->routes);
	free(st);
}

/* ---- validation --------------------------------------------------------- */

/* "+" then digits, with single spaces or hyphens between digits (e.g.
 * "+1-800-555-0100", "+44 800 000 0000"), 3 to 15 digits. */
static int valid_number(const char *s)
{
	if (*s++ != '+')
		return 0;
	size_t digits = 0;
	int prev_digit = 0;
	for (; *s; s++) {
		if (spc_is_digit(*s)) {
			digits++;
			prev_digit = 1;
		} else if ((*s == ' ' || *s == '-') && prev_digit) {
			prev_digit = 0;
		} else {
			return 0;
		}
	}
	return prev_digit && digits >= CSR_MIN_DIGITS && digits <= CSR_MAX_DIGITS;
}

static int valid_country(const char *s)
{
	return spc_is_alpha(s[0]) && spc_is_alpha(s[1]) && s[2] == '\0';
}

static int valid_hours(const char *s)
{
	return spc_is_line(s) && strlen(s) <= CSR_MAX_HOURS;
}

/* Read one entry object at `where` ("default" or "routes[N]"). */
static int parse_entry(json_t *obj, const char *where, int is_default, csr_entry *e, char *err,
		       size_t errlen)
{
	if (!json_is_object(obj)) {
		spc_set_err(err, errlen, "%s: must be an object", where);
		return -1;
	}
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val)
	{
		char **slot;
		int (*check)(const char *);
		const char *what;
		if (strcmp(key, "standard") == 0) {
			slot = &e->standard, check = valid_number, what = "a phone number like \"+1-800-555-0100\"";
		} else if (strcmp(key, "fraud") == 0) {
			slot = &e->fraud, check = valid_number, what = "a phone number like \"+1-800-555-0100\"";
		} else if (strcmp(key, "hours") == 0) {
			slot = &e->hours, check = valid_hours, what = "non-empty text of at most 256 printable characters";
		} else if (!is_default && strcmp(key, "country") == 0) {
			slot = &e->country, check = valid_country, what = "a two-letter country code like \"GB\"";
		} else if (!is_default && strcmp(key, "language") == 0) {
			slot = &e->language, check = spc_is_language, what = "a language tag like \"fr\" or \"pt-BR\"";
		} else {
			spc_set_err(err, errlen, "%s: unknown key '%.64s'", where, key);
			return -1;
		}
		if (spc_cfg_string(obj, where, key, 1, check, what, slot, err, errlen) != 0)
			return -1;
	}
	if (is_default && !e->standard) {
		spc_set_err(err, errlen, "default.standard: missing");
		return -1;
	}
	if (!is_default) {
		if (!e->country && !e->language) {
			spc_set_err(err, errlen, "%s: needs a 'country' or a 'language'", where);
			return -1;
		}
		if (e->country && e->language) {
			spc_set_err(err, errlen, "%s: has both 'country' and 'language'; use one route for each",
				    where);
			return -1;
		}
		if (!e->standard && !e->fraud) {
			spc_set_err(err, errlen, "%s: needs a 'standard' or a 'fraud' number", where);
			return -1;
		}
	}
	if (e->country)
		for (char *p = e->country; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	return 0;
}

static int parse_config(const char *config_json, csr_state *st, char *err, size_t errlen)
{
	json_t *root = spc_cfg_load(config_json, err, errlen);
	int rc = -1;
	if (!root)
		return -1;
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val)
	{
		if (strcmp(key, "default") != 0 && strcmp(key, "routes") != 0) {
			spc_set_err(err, errlen, "unknown key '%.64s' (expected 'default', 'routes')", key);
			goto out;
		}
	}
	json_t *def = json_object_get(root, "default");
	if (!def) {
		spc_set_err(err, errlen, "default: missing");
		goto out;
	}
	if (parse_entry(def, "default", 1, &st->def, err, errlen) != 0)
		goto out;

	json_t *routes = json_object_get(root, "routes");
	if (routes) {
		if (!json_is_array(routes)) {
			spc_set_err(err, errlen, "routes: must be an array");
			goto out;
		}
		size_t n = json_array_size(routes);
		if (n > CSR_MAX_ROUTES) {
			spc_set_err(err, errlen, "routes: more than %d entries", CSR_MAX_ROUTES);
			goto out;
		}
		if (n && !(st->routes = calloc(n, sizeof(*st->routes)))) {
			spc_set_err(err, errlen, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			char where[32];
			snprintf(where, sizeof(where), "routes[%zu]", k);
			csr_entry *e = &st->routes[k];
			st->nroutes = k + 1; /* so that state_free releases it */
			if (parse_entry(json_array_get(routes, k), where, 0, e, err, errlen) != 0)
				goto out;
			/* A second route for the same selector could never match. */
			for (size_t j = 0; j < k; j++) {
				const csr_entry *o = &st->routes[j];
				if (e->country && o->country && spc_same_ci(e->country, o->country)) {
					spc_set_err(err, errlen, "%s: country '%s' already routed by routes[%zu]",
						    where, e->country, j);
					goto out;
				}
				if (e->language && o->language && spc_same_ci(e->language, o->language)) {
					spc_set_err(err, errlen, "%s: language '%s' already routed by routes[%zu]",
						    where, e->language, j);
					goto out;
				}
			}
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- init / fini ---------------------------------------------------------- */

static int csr_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	if (!state || !spc_host_ok(host, 0)) {
		spc_set_err(err, errlen, "incomplete host API");
		return STEPUP_PLUGIN_EINVAL;
	}
	*state = NULL;
	csr_state *st = calloc(1, sizeof(*st));
	if (!st) {
		spc_set_err(err, errlen, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	st->base = (spc_plugin){ CSR_NAME, CSR_VERSION, host, host_ctx };
	if (parse_config(config_json, st, err, errlen) != 0) {
		state_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready, %zu route(s) and a default", st->nroutes);
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void csr_fini(void *state)
{
	state_free(state);
}

/* ---- route ---------------------------------------------------------------- */

/* "fr" matches "fr", "fr-FR", "fr_FR" but not "fra". */
static int language_matches(const char *prefix, const char *tag)
{
	for (; *prefix; prefix++, tag++)
		if (!*tag || spc_lower(*prefix) != spc_lower(*tag))
			return 0;
	return *tag == '\0' || *tag == '-' || *tag == '_';
}

/* wallet.device_country / end_user.language as strings, or NULL. */
static const char *get_path(json_t *root, const char *obj, const char *field)
{
	json_t *o = json_object_get(root, obj);
	json_t *v = o ? json_object_get(o, field) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The number of `e` for `line`, or NULL. */
static const char *line_number(const csr_entry *e, int line)
{
	if (line == STEPUP_CS_LINE_FRAUD && e->fraud)
		return e->fraud;
	return e->standard;
}

static const csr_entry *match(const csr_state *st, const char *country, const char *language)
{
	if (country)
		for (size_t k = 0; k < st->nroutes; k++)
			if (st->routes[k].country && spc_same_ci(st->routes[k].country, country))
				return &st->routes[k];
	if (language)
		for (size_t k = 0; k < st->nroutes; k++)
			if (st->routes[k].language && language_matches(st->routes[k].language, language))
				return &st->routes[k];
	return NULL;
}

static int csr_route(void *state, const stepup_call_ctx *ctx, const char *request_json, int line,
		     stepup_cs_route *out)
{
	const csr_state *st = state;
	if (!st || !out) {
		spc_ctx_err(CSR_NAME, ctx, "no state or no output");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (line != STEPUP_CS_LINE_STANDARD && line != STEPUP_CS_LINE_FRAUD) {
		spc_ctx_err(CSR_NAME, ctx, "unknown line");
		return STEPUP_PLUGIN_EINVAL;
	}

	const char *country = NULL, *language = NULL;
	json_t *req = NULL;
	if (request_json) {
		/* No jansson error text here: it may quote the request (PII). */
		req = json_loads(request_json, 0, NULL);
		if (!json_is_object(req)) {
			json_decref(req);
			spc_ctx_err(CSR_NAME, ctx, "request is not a JSON object");
			return STEPUP_PLUGIN_EINVAL;
		}
		country = get_path(req, "wallet", "device_country");
		language = get_path(req, "end_user", "language");
	}

	const csr_entry *e = match(st, country, language);
	const char *number = e ? line_number(e, line) : NULL;
	if (!number) {
		e = &st->def;
		number = line_number(e, line); /* default.standard is never NULL */
	}
	json_decref(req);

	if (e == &st->def)
		spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "%s line: default", line ? "fraud" : "standard");
	else
		spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "%s line: route for %s '%s'",
			line ? "fraud" : "standard", e->country ? "country" : "language",
			e->country ? e->country : e->language);

	const stepup_host_api *host = st->base.host;
	char *n = spc_host_strdup(host, number);
	char *h = e->hours ? spc_host_strdup(host, e->hours) : NULL;
	if (!n || (e->hours && !h)) {
		host->free(n);
		host->free(h);
		spc_ctx_err(CSR_NAME, ctx, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	out->number = n;
	out->hours = h;
	return STEPUP_PLUGIN_OK;
}

static const stepup_cs_router csr_cs = {
	.size = sizeof(stepup_cs_router),
	.route = csr_route,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = CSR_NAME,
	.version = CSR_VERSION,
	.init = csr_init,
	.fini = csr_fini,
	.functions = NULL,
	.cs = &csr_cs,
};
