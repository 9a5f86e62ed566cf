/* geo.c: the reference rule-function plugin (issue 3): country facts for
 * rules, from configuration.
 *
 *   geo.country_risk(s) -> i         risk score of a country (0..100), the
 *                                    configured default for one not listed
 *   geo.region(s) -> s               its region code ("EU"), absent if none
 *   geo.in_region(s, s) -> b         is the country in that region?
 *   geo.distance_km(d, d, d, d) -> d great-circle distance between two
 *                                    points (lat1, lon1, lat2, lon2, degrees)
 *   geo.country_distance_km(s, s) -> d
 *                                    distance between two countries'
 *                                    reference points; -1 when either is
 *                                    unknown or has no coordinates
 *
 * Countries are ISO 3166-1 alpha-2 codes, matched ASCII case-insensitively
 * ("us" is "US"); anything else is a country not listed. See README.md for
 * the configuration, which init() validates strictly.
 *
 * The plugin includes only <stepup/plugin.h> of stepup and links jansson
 * (for its configuration) and libm; plugins/common/plugin_util.c is
 * compiled in for the error buffer and host-owned strings. Its state is read-only after init(),
 * so every function is safe from any number of threads; none blocks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <stepup/plugin.h>

#include "plugin_util.h"

#define GEO_VERSION "1.0.0"
#define GEO_MAX_RISK 100
#define GEO_MAX_REGION 32
#define GEO_EARTH_RADIUS_KM 6371.0088  /* mean radius (IUGG) */
#define GEO_PI 3.14159265358979323846

typedef struct geo_country {
	int listed;
	int has_coords;
	int64_t risk;
	double lat, lon;
	char region[GEO_MAX_REGION + 1];  /* "" when none */
} geo_country;

typedef struct geo_state {
	const stepup_host_api *host;
	int64_t default_risk;
	geo_country c[26 * 26];  /* by code: (first letter) * 26 + second */
} geo_state;

static int upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* Index of a two-letter code (either case), or -1. */
static int code_index(const char *s)
{
	int a = upper((unsigned char)s[0]), b = a ? upper((unsigned char)s[1]) : 0;
	if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z' || s[2] != '\0')
		return -1;
	return (a - 'A') * 26 + (b - 'A');
}

static const geo_country *lookup(const geo_state *st, const char *code)
{
	int k = code_index(code);
	return k >= 0 && st->c[k].listed ? &st->c[k] : NULL;
}

/* ---- configuration ----------------------------------------------------------- */

static int valid_region(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > GEO_MAX_REGION)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int get_risk(json_t *v, const char *what, int64_t *out, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > GEO_MAX_RISK) {
		spc_set_err(err, errlen, "%s must be an integer from 0 to %d", what, GEO_MAX_RISK);
		return -1;
	}
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int get_degrees(json_t *v, const char *what, double max, double *out, char *err, size_t errlen)
{
	if (!json_is_number(v) || fabs(json_number_value(v)) > max) {
		spc_set_err(err, errlen, "%s must be a number from %g to %g", what, -max, max);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

static int parse_country(geo_state *st, const char *code, json_t *obj, char *err, size_t errlen)
{
	int k = code_index(code);
	json_t *v;
	const char *key;
	char what[64];
	int has_lat = 0, has_lon = 0;

	/* Codes are written as ISO does, upper case, so "us" and "US" cannot
	 * both be listed and disagree. */
	if (k < 0 || code[0] != upper(code[0]) || code[1] != upper(code[1])) {
		spc_set_err(err, errlen, "countries: '%.8s' is not an ISO 3166-1 alpha-2 code (two upper-case letters)",
		            code);
		return -1;
	}
	geo_country *c = &st->c[k];
	if (!json_is_object(obj)) {
		spc_set_err(err, errlen, "countries.%s must be an object", code);
		return -1;
	}
	c->listed = 1;
	c->risk = st->default_risk;
	json_object_foreach(obj, key, v) {
		snprintf(what, sizeof(what), "countries.%s.%.16s", code, key);
		if (strcmp(key, "risk") == 0) {
			if (get_risk(v, what, &c->risk, err, errlen) < 0)
				return -1;
		} else if (strcmp(key, "region") == 0) {
			if (!json_is_string(v) || !valid_region(json_string_value(v))) {
				spc_set_err(err, errlen, "%s must be 1 to %d letters, digits, '_' or '-'", what,
				            GEO_MAX_REGION);
				return -1;
			}
			snprintf(c->region, sizeof(c->region), "%s", json_string_value(v));
		} else if (strcmp(key, "lat") == 0) {
			if (get_degrees(v, what, 90, &c->lat, err, errlen) < 0)
				return -1;
			has_lat = 1;
		} else if (strcmp(key, "lon") == 0) {
			if (get_degrees(v, what, 180, &c->lon, err, errlen) < 0)
				return -1;
			has_lon = 1;
		} else {
			spc_set_err(err, errlen, "unknown key %s (expected risk, region, lat or lon)", what);
			return -1;
		}
	}
	if (has_lat != has_lon) {
		spc_set_err(err, errlen, "countries.%s: give both lat and lon, or neither", code);
		return -1;
	}
	c->has_coords = has_lat;
	return 0;
}

static int configure(geo_state *st, json_t *root, char *err, size_t errlen)
{
	json_t *countries = NULL, *def = NULL, *v;
	const char *key;

	if (!json_is_object(root)) {
		spc_set_err(err, errlen, "configuration must be a JSON object");
		return -1;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "countries") == 0)
			countries = v;
		else if (strcmp(key, "default_risk") == 0)
			def = v;
		else {
			spc_set_err(err, errlen, "unknown key '%.32s' (expected countries and default_risk)", key);
			return -1;
		}
	}
	/* No silent default: whether an unlisted country is safe or risky is
	 * the issuer's call. */
	if (!def) {
		spc_set_err(err, errlen, "\"default_risk\" is required (the risk of a country not listed)");
		return -1;
	}
	if (get_risk(def, "default_risk", &st->default_risk, err, errlen) < 0)
		return -1;
	if (!countries || !json_is_object(countries) || json_object_size(countries) == 0) {
		spc_set_err(err, errlen, "\"countries\" must be a non-empty object of country codes");
		return -1;
	}
	json_object_foreach(countries, key, v)
		if (parse_country(st, key, v, err, errlen) < 0)
			return -1;
	return 0;
}

static int geo_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	geo_state *st;
	char line[96];

	/* log and alloc are used; every 1.0 host table has them. */
	if (!host || host->size < offsetof(stepup_host_api, alloc) + sizeof(host->alloc)) {
		spc_set_err(err, errlen, "host API table too small");
		return STEPUP_PLUGIN_EINVAL;
	}
	root = json_loads(config_json ? config_json : "{}", JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		spc_set_err(err, errlen, "configuration: line %d column %d: %s", je.line, je.column, je.text);
		return STEPUP_PLUGIN_EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		json_decref(root);
		spc_set_err(err, errlen, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	st->host = host;
	if (configure(st, root, err, errlen) < 0) {
		json_decref(root);
		free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	snprintf(line, sizeof(line), "geo %s: %zu countries, default risk %lld", GEO_VERSION,
	         json_object_size(json_object_get(root, "countries")), (long long)st->default_risk);
	json_decref(root);
	host->log(host_ctx, STEPUP_PLUGIN_LOG_INFO, line);
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void geo_fini(void *state)
{
	free(state);
}

/* ---- rule functions ------------------------------------------------------------- */

static int64_t geo_country_risk(void *state, const char *country)
{
	const geo_state *st = state;
	const geo_country *c = lookup(st, country);
	return c ? c->risk : st->default_risk;
}

static char *geo_region(void *state, const char *country)
{
	const geo_state *st = state;
	const geo_country *c = lookup(st, country);
	if (!c || !c->region[0])
		return NULL;  /* absent for the rules */
	return spc_host_strdup(st->host, c->region);
}

static int geo_in_region(void *state, const char *country, const char *region)
{
	const geo_country *c = lookup(state, country);
	return c && c->region[0] && strcmp(c->region, region) == 0;
}

static double haversine_km(double lat1, double lon1, double lat2, double lon2)
{
	const double rad = GEO_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double a = sin(dlat / 2) * sin(dlat / 2) +
	           cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	if (a > 1)
		a = 1;
	return 2 * GEO_EARTH_RADIUS_KM * asin(sqrt(a));
}

/* Out-of-range coordinates are a caller's mistake the rules cannot see:
 * -1, like an unknown country, rather than a made-up distance. */
static double geo_distance_km(void *state, double lat1, double lon1, double lat2, double lon2)
{
	(void)state;
	if (!(fabs(lat1) <= 90 && fabs(lat2) <= 90 && fabs(lon1) <= 180 && fabs(lon2) <= 180))
		return -1;
	return haversine_km(lat1, lon1, lat2, lon2);
}

static double geo_country_distance_km(void *state, const char *a, const char *b)
{
	const geo_country *ca = lookup(state, a), *cb = lookup(state, b);
	if (!ca || !cb || !ca->has_coords || !cb->has_coords)
		return -1;
	return haversine_km(ca->lat, ca->lon, cb->lat, cb->lon);
}

static const stepup_plugin_fn geo_functions[] = {
	{ "country_risk", "s->i", (stepup_plugin_fn_ptr)geo_country_risk },
	{ "region", "s->s", (stepup_plugin_fn_ptr)geo_region },
	{ "in_region", "ss->b", (stepup_plugin_fn_ptr)geo_in_region },
	{ "distance_km", "dddd->d", (stepup_plugin_fn_ptr)geo_distance_km },
	{ "country_distance_km", "ss->d", (stepup_plugin_fn_ptr)geo_country_distance_km },
	{ NULL, NULL, NULL },
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "geo",
	.version = GEO_VERSION,
	.init = geo_init,
	.fini = geo_fini,
	.functions = geo_functions,
};
