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

#include "plugin_text.h"
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

/* A list of strings read from a JSON array. */
typedef struct spc_strlist {
	size_t n;
	char **v;
} spc_strlist;

SPC_HIDDEN void spc_strlist_free(spc_strlist *l);

/* Optional (or required) non-empty array `key` of strings each accepted
 * by check (may be NULL), described as `what` ("a prefix like \"+44\"")
 * and all together as `what_list` ("prefixes like \"+44\""): "<key>:
 * must be a non-empty array of <what_list>", "<key>[2]: must be <what>".
 * Absent and not required: l stays empty. */
SPC_HIDDEN int spc_cfg_strings(json_t *obj, const char *where, const char *key, int required,
			       int (*check)(const char *), const char *what, const char *what_list,
			       spc_strlist *l, char *err, size_t errlen);

/* ---- a configuration as a table ------------------------------------------
 * The shortest way to read a plugin's configuration: describe each key
 * once, in a table, and read the whole object in one call. Unknown keys,
 * missing required keys, wrong types and values out of range are refused
 * with a message naming the key; the host prefixes the module. E.g.
 *
 *     typedef struct my_state { spc_plugin base; char *url; unsigned retries;
 *                               int verbose; spc_strlist prefixes; } my_state;
 *     static const spc_cfg_key my_keys[] = {
 *         SPC_CFG_STRING(my_state, url, "url", 1, spc_is_line, "a URL"),
 *         SPC_CFG_UINT(my_state, retries, "retries", 0, 5, 2),
 *         SPC_CFG_BOOL(my_state, verbose, "verbose", 0),
 *         SPC_CFG_PREFIXES(my_state, prefixes, "allowed_prefixes", 0),
 *         SPC_CFG_END,
 *     };
 *     ...in init():
 *     if (spc_cfg_read(config_json, my_keys, st, err, errlen) != 0) ...
 *     ...in fini(): spc_cfg_free(my_keys, st);
 */
typedef enum spc_cfg_type {
	SPC_CFG_T_END,
	SPC_CFG_T_STRING,   /* char *, malloc'd; NULL when absent */
	SPC_CFG_T_BOOL,     /* int */
	SPC_CFG_T_UINT,     /* unsigned, from lo to hi */
	SPC_CFG_T_STRINGS,  /* spc_strlist */
} spc_cfg_type;

typedef struct spc_cfg_key {
	const char *key;
	spc_cfg_type type;
	size_t offset;                /* of the field in the struct read into */
	int required;
	unsigned lo, hi, def;         /* UINT: range and default; BOOL: default */
	int (*check)(const char *);   /* STRING, STRINGS: accepted values, or NULL */
	const char *what;             /* STRING, STRINGS: "must be <what>" */
	const char *what_list;        /* STRINGS: "must be a non-empty array of <what_list>" */
} spc_cfg_key;

#define SPC_CFG_STRING(T, field, key, required, check, what) \
	{ (key), SPC_CFG_T_STRING, offsetof(T, field), (required), 0, 0, 0, (check), (what), NULL }
#define SPC_CFG_BOOL(T, field, key, def) \
	{ (key), SPC_CFG_T_BOOL, offsetof(T, field), 0, 0, 1, (def), NULL, NULL, NULL }
#define SPC_CFG_UINT(T, field, key, lo, hi, def) \
	{ (key), SPC_CFG_T_UINT, offsetof(T, field), 0, (lo), (hi), (def), NULL, NULL, NULL }
#define SPC_CFG_UINT_REQUIRED(T, field, key, lo, hi) \
	{ (key), SPC_CFG_T_UINT, offsetof(T, field), 1, (lo), (hi), 0, NULL, NULL, NULL }
#define SPC_CFG_STRINGS(T, field, key, required, check, what, what_list) \
	{ (key), SPC_CFG_T_STRINGS, offsetof(T, field), (required), 0, 0, 0, (check), (what), (what_list) }
/* An E.164 number ("+447700900123") and a list of calling-code prefixes.
 * (The messages never show an example number: the host replaces phone
 * numbers in what plugins say.) */
#define SPC_CFG_E164(T, field, key, required) \
	SPC_CFG_STRING(T, field, key, required, spc_is_e164, "an E.164 number (\"+\" and 7 to 15 digits)")
#define SPC_CFG_PREFIXES(T, field, key, required) \
	SPC_CFG_STRINGS(T, field, key, required, spc_is_e164_prefix, "a prefix like \"+44\"", \
			"prefixes like \"+44\"")
#define SPC_CFG_END { NULL, SPC_CFG_T_END, 0, 0, 0, 0, 0, NULL, NULL, NULL }

/* Read config_json (a JSON object) into the struct at out, as keys says:
 * 0, or -1 with the reason in err (and what was read freed). */
SPC_HIDDEN int spc_cfg_read(const char *config_json, const spc_cfg_key *keys, void *out, char *err,
			    size_t errlen);
/* Free what spc_cfg_read allocated in out (strings and lists). */
SPC_HIDDEN void spc_cfg_free(const spc_cfg_key *keys, void *out);

#endif
