/* plugin_config.c: see plugin_config.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin_config.h"
#include "plugin_text.h"

/* "<where>.<key>" or "<key>". */
static const char *key_path(char *buf, size_t len, const char *where, const char *key)
{
	if (where)
		snprintf(buf, len, "%s.%s", where, key);
	else
		snprintf(buf, len, "%s", key);
	return buf;
}

json_t *spc_cfg_load(const char *config_json, char *err, size_t errlen)
{
	json_object_seed(0);
	json_error_t jerr;
	json_t *root = json_loads(config_json ? config_json : "", JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		spc_set_err(err, errlen, "configuration is not valid JSON (line %d, column %d): %.120s",
			    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		spc_set_err(err, errlen, "configuration must be a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

int spc_cfg_only_keys(json_t *obj, const char *where, const char *const *keys, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		size_t k = 0;
		while (keys[k] && strcmp(keys[k], key) != 0)
			k++;
		if (!keys[k]) {
			if (where)
				spc_set_err(err, errlen, "%s: unknown key '%.64s'", where, key);
			else
				spc_set_err(err, errlen, "unknown key '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

int spc_cfg_string(json_t *obj, const char *where, const char *key, int required,
		   int (*check)(const char *), const char *what, char **out, char *err, size_t errlen)
{
	char path[128];
	key_path(path, sizeof(path), where, key);
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (required) {
			spc_set_err(err, errlen, "%s: missing", path);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		spc_set_err(err, errlen, "%s: must be a string", path);
		return -1;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || (check && !check(s))) {
		spc_set_err(err, errlen, "%s: must be %s", path, what);
		return -1;
	}
	if (!(*out = spc_strdup(s))) {
		spc_set_err(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int spc_cfg_bool(json_t *obj, const char *where, const char *key, int *out, char *err, size_t errlen)
{
	char path[128];
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		spc_set_err(err, errlen, "%s: must be true or false", key_path(path, sizeof(path), where, key));
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int spc_cfg_uint(json_t *obj, const char *where, const char *key, unsigned lo, unsigned hi,
		 unsigned *out, char *err, size_t errlen)
{
	char path[128];
	key_path(path, sizeof(path), where, key);
	json_t *v = json_object_get(obj, key);
	if (!v) {
		spc_set_err(err, errlen, "%s: missing", path);
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		spc_set_err(err, errlen, "%s: must be an integer from %u to %u", path, lo, hi);
		return -1;
	}
	*out = (unsigned)json_integer_value(v);
	return 0;
}

int spc_cfg_object(json_t *root, const char *key, json_t **out, char *err, size_t errlen)
{
	*out = json_object_get(root, key);
	if (*out && !json_is_object(*out)) {
		spc_set_err(err, errlen, "%s: must be an object", key);
		return -1;
	}
	return 0;
}

int spc_cfg_nonempty_object(json_t *obj, const char *key, const char *what, json_t **out, char *err,
			    size_t errlen)
{
	*out = json_object_get(obj, key);
	if (!*out) {
		spc_set_err(err, errlen, "%s: missing", key);
		return -1;
	}
	if (!json_is_object(*out) || json_object_size(*out) == 0) {
		spc_set_err(err, errlen, "%s: must be %s", key, what);
		return -1;
	}
	return 0;
}

int spc_cfg_ca_file(json_t *root, char **out, char *err, size_t errlen)
{
	if (spc_cfg_string(root, NULL, "ca_file", 0, spc_is_path, "an absolute path", out, err, errlen) != 0)
		return -1;
	if (*out && access(*out, R_OK) != 0) {
		spc_set_err(err, errlen, "ca_file: cannot read '%.128s'", *out);
		return -1;
	}
	return 0;
}
