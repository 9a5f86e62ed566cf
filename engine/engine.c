/* engine.c: building an engine from a ruleset and issuer settings, and the
 * JSON-in/JSON-out entry point. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision.h"
#include "engine.h"
#include "eval.h"
#include "plugins.h"
#include "request.h"
#include "util.h"

/* A settings file is read whole, at most this much. */
#define SU_SETTINGS_MAX (16u << 20)

static int cfg_err(char *err, size_t n, const char *fmt, const char *a)
{
	if (err && n)
		snprintf(err, n, fmt, a);
	return STEPUP_ECONFIG;
}

/* A non-empty printable string of at most `max` bytes, copied. */
static int take_string(json_t *v, const char *what, size_t max, char **out, char *err, size_t n)
{
	const char *s;
	if (!json_is_string(v))
		return cfg_err(err, n, "settings: %s must be a string", what);
	s = json_string_value(v);
	if (!s[0] || strlen(s) > max)
		return cfg_err(err, n, "settings: %s must be 1 to 64 characters", what);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20)
			return cfg_err(err, n, "settings: %s contains a control character", what);
	*out = strdup(s);
	return *out ? STEPUP_OK : STEPUP_ENOMEM;
}

static int load_settings(stepup_engine *e, json_t *root, char *err, size_t n)
{
	json_t *issuer, *v;
	const char *key;
	int rc;

	if (!json_is_object(root))
		return cfg_err(err, n, "settings: %s", "the top level must be an object");
	/* Other top-level sections belong to other components (plugins, the
	 * daemon); the issuer section is ours and is checked strictly. */
	issuer = json_object_get(root, "issuer");
	if (!issuer)
		return STEPUP_OK;
	if (!json_is_object(issuer))
		return cfg_err(err, n, "settings: %s must be an object", "issuer");
	json_object_foreach(issuer, key, v) {
		if (strcmp(key, "name") == 0)
			rc = take_string(v, "issuer.name", 64, &e->issuer_name, err, n);
		else if (strcmp(key, "app_id") == 0)
			rc = take_string(v, "issuer.app_id", 64, &e->app_id, err, n);
		else if (strcmp(key, "customer_service") == 0) {
			json_t *lv;
			const char *line;
			if (!json_is_object(v))
				return cfg_err(err, n, "settings: %s must be an object", "issuer.customer_service");
			rc = STEPUP_OK;
			json_object_foreach(v, line, lv) {
				if (strcmp(line, "standard") == 0)
					rc = take_string(lv, "issuer.customer_service.standard", 64, &e->cs[0], err, n);
				else if (strcmp(line, "fraud") == 0)
					rc = take_string(lv, "issuer.customer_service.fraud", 64, &e->cs[1], err, n);
				else
					rc = cfg_err(err, n, "settings: unknown key issuer.customer_service.%s "
					             "(expected standard or fraud)", line);
				if (rc)
					return rc;
			}
		} else
			rc = cfg_err(err, n, "settings: unknown key issuer.%s "
			             "(expected name, app_id or customer_service)", key);
		if (rc)
			return rc;
	}
	return STEPUP_OK;
}

static int import_err(char *err, size_t n, const stepup_ruleset *rs, const su_import *im,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int import_err(char *err, size_t n, const stepup_ruleset *rs, const su_import *im,
                      const char *fmt, ...)
{
	char why[256];
	va_list ap;
	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		snprintf(err, n, "ruleset imports %s.%s(%s): %s", SU_STR(rs, im->plugin), SU_STR(rs, im->fn),
		         SU_STR(rs, im->sig), why);
	}
	return STEPUP_ECONFIG;
}

/* Bind every plugin function the ruleset imports to the loaded plugin of
 * that (configured) name, once, so a decision calls through a table: the
 * same function name with the same signature, since the ruleset's program
 * was verified against that signature. */
static int bind_imports(stepup_engine *e, char *err, size_t n)
{
	const stepup_ruleset *rs = e->rs;
	su_bound *b;

	if (!rs->nimports)
		return STEPUP_OK;
	b = calloc(rs->nimports, sizeof(*b));
	if (!b)
		return STEPUP_ENOMEM;
	e->imports = b;
	for (uint32_t i = 0; i < rs->nimports; i++) {
		const su_import *im = &rs->imports[i];
		const char *pname = SU_STR(rs, im->plugin), *fname = SU_STR(rs, im->fn);
		const su_plugin *p;
		int k;

		if (!e->plugins || stepup_plugins_count(e->plugins) == 0)
			return import_err(err, n, rs, im, "no plugins are loaded");
		if (!(p = su_plugins_find(e->plugins, pname)))
			return import_err(err, n, rs, im, "no plugin named '%s' is loaded", pname);
		if ((k = su_plugin_find(p, fname)) < 0)
			return import_err(err, n, rs, im, "plugin '%s' (%s) has no function '%s'", pname,
			                  su_plugin_path(p), fname);
		if (su_import_sig(rs, i, b[i].args, &b[i].ret) < 0)  /* verified: cannot happen */
			return import_err(err, n, rs, im, "bad signature");
		if (strcmp(b[i].args, su_plugin_fn_args(p, (unsigned)k)) != 0 ||
		    b[i].ret != su_plugin_fn_ret(p, (unsigned)k)) {
			char sig[STEPUP_PLUGIN_MAX_ARGS + 4];
			snprintf(sig, sizeof(sig), "%s->%c", su_plugin_fn_args(p, (unsigned)k),
			         su_plugin_fn_ret(p, (unsigned)k));
			return import_err(err, n, rs, im, "the loaded plugin declares it as %s (%s); recompile the rules",
			                  sig, su_plugin_path(p));
		}
		b[i].p = p;
		b[i].fn = (unsigned)k;
		b[i].nargs = (unsigned)strlen(b[i].args);
	}
	return STEPUP_OK;
}

/* The summary plan: at each level, its summary fields, then its objects
 * that hold some (in slot order of first use); "line" after the top
 * level's fields. */
static int plan_level(stepup_engine *e, const su_schema *sc, const char *prefix, size_t plen, uint32_t *cap)
{
#define STEP(...)                                                                   \
	do {                                                                            \
		if (e->nsummary == *cap) {                                                  \
			*cap = *cap ? *cap * 2 : 16;                                            \
			su_sumstep *p_ = realloc(e->summary, *cap * sizeof(*p_));               \
			if (!p_)                                                                \
				return -1;                                                          \
			e->summary = p_;                                                        \
		}                                                                           \
		e->summary[e->nsummary++] = (su_sumstep){ __VA_ARGS__ };                    \
	} while (0)
	for (uint32_t s = 0; s < sc->nfields; s++) {
		const char *p = SU_FPATH(sc, s);
		if (!(sc->fields[s].flags & SU_FF_SUMMARY) || strncmp(p, prefix, plen) != 0 ||
		    strchr(p + plen, '.'))
			continue;
		STEP(SU_SUM_LEAF, (uint16_t)s, p + plen, (uint32_t)strlen(p + plen));
	}
	if (plen == 0)
		STEP(SU_SUM_LINE, 0, NULL, 0);
	for (uint32_t s = 0; s < sc->nfields; s++) {
		const char *p = SU_FPATH(sc, s);
		/* p + plen is inside p only once p starts with the prefix. */
		if (!(sc->fields[s].flags & SU_FF_SUMMARY) || strncmp(p, prefix, plen) != 0)
			continue;
		const char *dot = strchr(p + plen, '.');
		if (!dot)
			continue;
		size_t klen = (size_t)(dot - (p + plen));
		int seen = 0;  /* an earlier summary field opened this object */
		for (uint32_t o = 0; o < s && !seen; o++) {
			const char *q = SU_FPATH(sc, o);
			seen = (sc->fields[o].flags & SU_FF_SUMMARY) && strncmp(q, p, plen + klen + 1) == 0;
		}
		if (seen)
			continue;
		STEP(SU_SUM_OPEN, 0, p + plen, (uint32_t)klen);
		if (plan_level(e, sc, p, plen + klen + 1, cap) < 0)
			return -1;
		STEP(SU_SUM_CLOSE, 0, NULL, 0);
	}
	return 0;
#undef STEP
}

/* The revision decisions carry: the ruleset's, unless plugins decide
 * with data of a version they reported (plugin.h 1.3): then a digest of
 * the ruleset's revision and, per such plugin in load order, its name,
 * module version and data version, so a changed BIN table or country
 * list gives another revision. 0, or -1 on a failure of the digest. */
static int set_revision(stepup_engine *e)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned mdlen = 0;
	int any = 0, ok;
	EVP_MD_CTX *h;

	memcpy(e->revision_hex, e->rs->revision_hex, sizeof(e->rs->revision_hex));
	for (size_t i = 0; i < stepup_plugins_count(e->plugins); i++) {
		stepup_plugin_runtime rt = { .size = sizeof(rt) };
		any |= stepup_plugins_runtime(e->plugins, i, &rt) == STEPUP_OK && rt.data_version[0];
	}
	if (!any)
		return 0;
	if (!(h = EVP_MD_CTX_new()))
		return -1;
	ok = EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(h, e->rs->revision_hex, strlen(e->rs->revision_hex) + 1) == 1;
	for (size_t i = 0; ok && i < stepup_plugins_count(e->plugins); i++) {
		stepup_plugin_runtime rt = { .size = sizeof(rt) };
		stepup_plugin_info info;
		if (stepup_plugins_runtime(e->plugins, i, &rt) != STEPUP_OK || !rt.data_version[0] ||
		    stepup_plugins_info(e->plugins, i, &info) != STEPUP_OK)
			continue;
		ok = EVP_DigestUpdate(h, info.name, strlen(info.name) + 1) == 1 &&
		     EVP_DigestUpdate(h, info.version, strlen(info.version) + 1) == 1 &&
		     EVP_DigestUpdate(h, rt.data_version, strlen(rt.data_version) + 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(h, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(h);
	if (!ok)
		return -1;
	memcpy(e->revision_hex, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		e->revision_hex[7 + 2 * i] = hex[md[i] >> 4];
		e->revision_hex[8 + 2 * i] = hex[md[i] & 15];
	}
	e->revision_hex[71] = '\0';
	return 0;
}

static int engine_new(stepup_ruleset *rs, stepup_plugins *pl, json_t *root, stepup_engine **out,
                      char *err, size_t n)
{
	static uint64_t serials;
	stepup_engine *e;
	int rc = STEPUP_OK;

	if (!rs || !out)
		return STEPUP_EINVAL;
	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return STEPUP_ENOMEM;
	e->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
	e->rs = stepup_ruleset_ref(rs);
	e->plugins = pl ? stepup_plugins_ref(pl) : NULL;
	uint32_t cap = 0;
	if (plan_level(e, rs->schema, "", 0, &cap) < 0)
		rc = STEPUP_ENOMEM;
	e->plugin_methods = su_methods_plugin_mask(e);
	if (rc == STEPUP_OK)
		rc = bind_imports(e, err, n);
	if (rc == STEPUP_OK && root)
		rc = load_settings(e, root, err, n);
	if (rc == STEPUP_OK && set_revision(e) < 0)
		rc = STEPUP_ENOMEM;
	if (rc == STEPUP_OK && su_engine_prepare_json(e) < 0)
		rc = STEPUP_ENOMEM;
	if (rc != STEPUP_OK) {
		stepup_engine_free(e);
		return rc;
	}
	*out = e;
	return STEPUP_OK;
}

int stepup_engine_new(stepup_ruleset *rs, const char *settings_json, stepup_engine **out,
                      char *err, size_t errlen)
{
	return stepup_engine_new_with_plugins(rs, NULL, settings_json, out, err, errlen);
}

int stepup_engine_new_with_plugins(stepup_ruleset *rs, stepup_plugins *plugins,
                                   const char *settings_json, stepup_engine **out,
                                   char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = NULL;
	int rc;

	if (settings_json && settings_json[0]) {
		root = json_loads(settings_json, JSON_REJECT_DUPLICATES, &je);
		if (!root) {
			if (err && errlen)
				snprintf(err, errlen, "settings: line %d column %d: %s", je.line, je.column, je.text);
			return STEPUP_ECONFIG;
		}
	}
	rc = engine_new(rs, plugins, root, out, err, errlen);
	json_decref(root);
	return rc;
}

int stepup_engine_new_from_file(stepup_ruleset *rs, const char *path, stepup_engine **out,
                                char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = NULL;
	int rc;

	if (path) {
		/* Never json_load_file(): it would block on a FIFO. */
		char *text;
		size_t len;
		rc = su_read_file(path, SU_SETTINGS_MAX, &text, &len, err, errlen);
		if (rc != STEPUP_OK)
			return rc == STEPUP_ENOMEM ? rc : STEPUP_ECONFIG;
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
		free(text);
		if (!root) {
			if (err && errlen)
				snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
			return STEPUP_ECONFIG;
		}
	}
	rc = engine_new(rs, NULL, root, out, err, errlen);
	json_decref(root);
	return rc;
}

void stepup_engine_free(stepup_engine *e)
{
	if (!e)
		return;
	stepup_ruleset_unref(e->rs);
	free(e->imports);
	stepup_plugins_unref(e->plugins);
	free(e->issuer_name);
	free(e->app_id);
	free(e->cs[0]);
	free(e->cs[1]);
	free(e->frag);
	free(e->reason_at);
	free(e->summary);
	free(e);
}

stepup_plugins *stepup_engine_plugins(const stepup_engine *e)
{
	return e ? e->plugins : NULL;
}

const stepup_ruleset *stepup_engine_ruleset(const stepup_engine *e)
{
	return e ? e->rs : NULL;
}

const char *stepup_engine_revision(const stepup_engine *e)
{
	return e ? e->revision_hex : NULL;
}

int stepup_decide_json(const stepup_engine *e, stepup_request *r, stepup_decision *d,
                       const char *json, size_t len, unsigned flags, const char **out,
                       size_t *outlen)
{
	return stepup_decide_json_until(e, r, d, json, len, flags, 0, out, outlen);
}

int stepup_decide_json_until(const stepup_engine *e, stepup_request *r, stepup_decision *d,
                             const char *json, size_t len, unsigned flags, int64_t deadline_ms,
                             const char **out, size_t *outlen)
{
	char msg[256];
	int rc;

	if (!e || !r || !d || !out)
		return STEPUP_EINVAL;
	rc = stepup_request_parse(r, e, json, len, msg, sizeof(msg));
	if (rc == STEPUP_OK) {
		/* The plugin calls of this decision: its deadline, its memo of
		 * rule functions, and whether one would have blocked. */
		int plugged = e->plugins != NULL;
		if (plugged)
			su_plugins_decision_begin(deadline_ms, flags);
		rc = stepup_decide(e, r, d, flags & STEPUP_DECIDE_EXPLAIN);
		if (plugged && su_plugins_decision_end() && rc == STEPUP_OK)
			return STEPUP_ESTATE;
	}
	if (rc == STEPUP_OK) {
		*out = stepup_decision_json(e, r, d, outlen);
		return *out ? STEPUP_OK : STEPUP_ENOMEM;
	}
	if (rc == STEPUP_ENOMEM || rc == STEPUP_EINVAL)
		return rc;
	*out = su_error_json(d, r, rc == STEPUP_ETOOBIG ? "too_large" : "bad_request", msg, outlen);
	return *out ? rc : STEPUP_ENOMEM;
}
