/* plugin_template.h: message templates with {placeholders}, and texts
 * configured per language with a fallback from the holder's tag to its
 * primary subtag to a default (fr-CA -> fr -> default). Needs jansson
 * only for spc_cfg_lang_variants.
 *
 * Templates: literal text and {name} placeholders from a fixed list;
 * "{{" and "}}" stand for literal braces. Any other brace is an error, so
 * a typo fails at load rather than reaching a holder. */
#ifndef STEPUP_PLUGIN_COMMON_TEMPLATE_H
#define STEPUP_PLUGIN_COMMON_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

#include "plugin_util.h"

/* Check template t against the placeholder names (at most 32): 0 with a
 * bit per placeholder used in *uses (bit k for names[k]; uses may be
 * NULL), or -1 with why: "unknown placeholder '{code}' (expected {otp},
 * ...)", "unclosed '{' ...", "stray '}' ...". */
SPC_HIDDEN int spc_tpl_check(const char *t, const char *const *names, size_t nnames, unsigned *uses,
			     char *why, size_t whylen);

/* Append t to out with names[k] replaced by vals[k]. t must have passed
 * spc_tpl_check. Returns -1 if out ran out of memory. */
SPC_HIDDEN int spc_tpl_render(const char *t, const char *const *names, size_t nnames,
			      const char *const *vals, spc_buf *out);

/* Per-language variants are arrays of structs whose FIRST member is
 * `char *lang` (a BCP 47 tag), `size` bytes apart; the functions below
 * take such an array as (items, n, size), e.g.
 *     spc_lang_pick(st->templates, st->ntemplates, sizeof(*st->templates), tag)
 * Plugins _Static_assert the offset of lang is 0. */

/* The variant for `language`: its exact tag, else its primary subtag
 * (ASCII case-insensitive, "-" or "_" separating), else NULL (the
 * caller's default). */
SPC_HIDDEN const void *spc_lang_pick(const void *items, size_t n, size_t size, const char *language);

/* A key of a language-keyed object at `where` ("templates", "app.names"),
 * before it joins items[0..n): "<where>: 'x' is not a language tag like
 * "<example>" or "pt-BR"" or "<where>: 'x' given twice" (a tag differing
 * only in case is the same tag). */
SPC_HIDDEN int spc_lang_key_check(const char *where, const char *key, const char *example,
				  const void *items, size_t n, size_t size, char *err, size_t errlen);

/* Reads the value of obj's key `lang` into item (whose lang is set). */
typedef int (*spc_variant_fn)(void *arg, json_t *obj, const char *lang, void *item, char *err,
			      size_t errlen);

/* Read obj, an object of language tag -> variant at `where` ("templates",
 * "app.names"), into items (room for json_object_size(obj) variants): for
 * each key, spc_lang_key_check (with `example`), a copy in the next item's
 * lang, then parse(). *n counts the items started, so the caller frees
 * them whether this succeeds or not. */
SPC_HIDDEN int spc_cfg_lang_variants(json_t *obj, const char *where, const char *example, void *items,
				     size_t size, size_t *n, spc_variant_fn parse, void *arg, char *err,
				     size_t errlen);

/* The template for default_language `def` (NULL: "en"), or NULL with
 * "default_language: no template for 'x'" or "templates: no template
 * for the default language 'en' (add one or set default_language)". */
SPC_HIDDEN const void *spc_lang_default(const void *items, size_t n, size_t size, const char *def,
					char *err, size_t errlen);

#endif
