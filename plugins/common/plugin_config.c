/* plugin_config.c: see plugin_config.h. */
#include <stdio.h>
#include <stdlib.h>
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

void spc_strlist_free(spc_strlist *l)
{
	for (size_t k = 0; k < l->n; k++)
		free(l->v[k]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int spc_cfg_strings(json_t *obj, const char *where, const char *key, int required,
		    int (*check)(const char *), const char *what, const char *what_list, spc_strlist *l, char *err,
		    size_t errlen)
{
	char path[128];
	key_path(path, sizeof(path), where, key);
	json_t *a = json_object_get(obj, key);
	if (!a) {
		if (required) {
			spc_set_err(err, errlen, "%s: missing", path);
			return -1;
		}
		return 0;
	}
	if (!json_is_array(a) || json_array_size(a) == 0) {
		spc_set_err(err, errlen, "%s: must be a non-empty array of %s", path, what_list);
		return -1;
	}
	if (!(l->v = calloc(json_array_size(a), sizeof(*l->v)))) {
		spc_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < json_array_size(a); k++) {
		json_t *v = json_array_get(a, k);
		const char *s = json_string_value(v);
		if (!s || strlen(s) != json_string_length(v) || (check && !check(s))) {
			spc_set_err(err, errlen, "%s[%zu]: must be %s", path, k, what);
			return -1;
		}
		if (!(l->v[k] = spc_strdup(s))) {
			spc_set_err(err, errlen, "out of memory");
			return -1;
		}
		l->n++;
	}
	return 0;
}

int spc_cfg_read(const char *config_json, const spc_cfg_key *keys, void *out, char *err, size_t errlen)
{
	const char *names[128];
	size_t nk = 0;
	char *base = out;
	int rc = -1;
	json_t *root = spc_cfg_load(config_json, err, errlen);
	if (!root)
		return -1;
	for (const spc_cfg_key *k = keys; k->type != SPC_CFG_T_END && nk < 127; k++)
		names[nk++] = k->key;
	names[nk] = NULL;
	if (spc_cfg_only_keys(root, NULL, names, err, errlen) != 0)
		goto out;
	for (const spc_cfg_key *k = keys; k->type != SPC_CFG_T_END; k++) {
		void *field = base + k->offset;
		int r = 0;
		switch (k->type) {
		case SPC_CFG_T_STRING:
			*(char **)field = NULL;
			r = spc_cfg_string(root, NULL, k->key, k->required, k->check, k->what, (char **)field, err,
					   errlen);
			break;
		case SPC_CFG_T_BOOL:
			*(int *)field = (int)k->def;
			r = spc_cfg_bool(root, NULL, k->key, (int *)field, err, errlen);
			break;
		case SPC_CFG_T_UINT:
			*(unsigned *)field = k->def;
			if (k->required || json_object_get(root, k->key))
				r = spc_cfg_uint(root, NULL, k->key, k->lo, k->hi, (unsigned *)field, err, errlen);
			break;
		case SPC_CFG_T_STRINGS:
			memset(field, 0, sizeof(spc_strlist));
			r = spc_cfg_strings(root, NULL, k->key, k->required, k->check, k->what, k->what_list, field, err,
					    errlen);
			break;
		case SPC_CFG_T_END:
			break;
		}
		if (r != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		spc_cfg_free(keys, out);
	return rc;
}

void spc_cfg_free(const spc_cfg_key *keys, void *out)
{
	char *base = out;
	for (const spc_cfg_key *k = keys; k->type != SPC_CFG_T_END; k++) {
		void *field = base + k->offset;
		if (k->type == SPC_CFG_T_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (k->type == SPC_CFG_T_STRINGS) {
			spc_strlist_free(field);
		}
	}
}
