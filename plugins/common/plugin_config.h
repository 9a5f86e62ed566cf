/* plugin_config.h: reading a plugin's JSON configuration with jansson,
 * strictly, so that every refusal names the key exactly: "url: missing",
 * "auth.type: must be a string", "fields: unknown key 'phone'". The host
 * prefixes the file and "init failed: ", so messages never repeat the
 * plugin's name.
 *
 * `where` is the dotted path of the object a key is read from ("auth",
 * "templates.en"), NULL at the top level. Each function returns 0, or -1
 * with the reason in err; strings come back malloc'd. */
#ifndef STEPUP_PLUGIN_COMMON_CONFIG_H
#define STEPUP_PLUGIN_COMMON_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "plugin_util.h"

/* config_json as a JSON object (new reference), duplicate keys refused;
 * NULL with "configuration is not valid JSON (line L, column C): ..." or
 * "configuration must be a JSON object". Seeds jansson's hash first:
 * init() runs alone, calls may then run on several threads. */
SPC_HIDDEN json_t *spc_cfg_load(const char *config_json, char *err, size_t errlen);

/* Refuse a key of obj not in keys (NULL-terminated):
 * "[where: ]unknown key 'k'". */
SPC_HIDDEN int spc_cfg_only_keys(json_t *obj, const char *where, const char *const *keys, char *err,
				 size_t errlen);

/* String `key` of obj into *out (NULL when absent and not required),
 * accepted by check (may be NULL) and described as `what` in
 * "<path>: must be <what>". An embedded NUL is refused. */
SPC_HIDDEN int spc_cfg_string(json_t *obj, const char *where, const char *key, int required,
			      int (*check)(const char *), const char *what, char **out, char *err,
			      size_t errlen);

/* Optional boolean: *out is left alone when absent. */
SPC_HIDDEN int spc_cfg_bool(json_t *obj, const char *where, const char *key, int *out, char *err,
			    size_t errlen);

/* Required integer from lo to hi. */
SPC_HIDDEN int spc_cfg_uint(json_t *obj, const char *where, const char *key, unsigned lo, unsigned hi,
			    unsigned *out, char *err, size_t errlen);

/* Optional top-level object: *out is NULL when absent (borrowed). */
SPC_HIDDEN int spc_cfg_object(json_t *root, const char *key, json_t **out, char *err, size_t errlen);

/* Required non-empty object `key` of obj (borrowed): "<key>: missing",
 * or "<key>: must be <what>" when it is not an object or is empty. */
SPC_HIDDEN int spc_cfg_nonempty_object(json_t *obj, const char *key, const char *what, json_t **out,
				       char *err, size_t errlen);

/* Optional "ca_file": an absolute path the plugin can read now, so a typo
 * fails at load rather than at the first TLS handshake. */
SPC_HIDDEN int spc_cfg_ca_file(json_t *root, char **out, char *err, size_t errlen);

#endif
