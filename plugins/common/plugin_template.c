/* plugin_template.c: see plugin_template.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "plugin_template.h"
#include "plugin_text.h"

/* "{a}, {b}, {c}" into buf, for the unknown-placeholder reason. */
static void expected_list(const char *const *names, size_t nnames, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < nnames && used < len; k++) {
		int n = snprintf(buf + used, len - used, "%s{%s}", k ? ", " : "", names[k]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Walk t: literal runs and placeholders. With out, render (vals may be
 * NULL only when checking); always check, with the reason in why. */
static int walk(const char *t, const char *const *names, size_t nnames, const char *const *vals,
		spc_buf *out, unsigned *uses, char *why, size_t whylen)
{
	if (uses)
		*uses = 0;
	while (*t) {
		if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
			if (out)
				spc_buf_add(out, t, 1);
			t += 2;
			continue;
		}
		if (*t == '}') {
			spc_set_err(why, whylen, "stray '}' (write '}}' for a literal brace)");
			return -1;
		}
		if (*t != '{') {
			const char *e = t;
			while (*e && *e != '{' && *e != '}')
				e++;
			if (out)
				spc_buf_add(out, t, (size_t)(e - t));
			t = e;
			continue;
		}
		const char *close = strchr(t, '}');
		if (!close) {
			spc_set_err(why, whylen, "unclosed '{' (write '{{' for a literal brace)");
			return -1;
		}
		size_t n = (size_t)(close - t - 1), v;
		for (v = 0; v < nnames; v++)
			if (strlen(names[v]) == n && memcmp(names[v], t + 1, n) == 0)
				break;
		if (v == nnames) {
			char expected[256];
			expected_list(names, nnames, expected, sizeof(expected));
			spc_set_err(why, whylen, "unknown placeholder '{%.*s}' (expected %s)",
				    n > 32 ? 32 : (int)n, t + 1, expected);
			return -1;
		}
		if (uses)
			*uses |= 1u << v;
		if (out && vals)
			spc_buf_adds(out, vals[v]);
		t = close + 1;
	}
	return 0;
}

int spc_tpl_check(const char *t, const char *const *names, size_t nnames, unsigned *uses, char *why,
		  size_t whylen)
{
	return walk(t, names, nnames, NULL, NULL, uses, why, whylen);
}

int spc_tpl_render(const char *t, const char *const *names, size_t nnames, const char *const *vals,
		   spc_buf *out)
{
	walk(t, names, nnames, vals, out, NULL, NULL, 0);
	return out->oom ? -1 : 0;
}

/* The lang of items[k]: the first member of each struct. */
static const char *lang_at(const void *items, size_t size, size_t k)
{
	return *(char *const *)(const void *)((const char *)items + k * size);
}

static const void *item_at(const void *items, size_t size, size_t k)
{
	return (const char *)items + k * size;
}

const void *spc_lang_pick(const void *items, size_t n, size_t size, const char *language)
{
	if (!language || !*language)
		return NULL;
	for (size_t k = 0; k < n; k++)
		if (spc_same_ci(lang_at(items, size, k), language))
			return item_at(items, size, k);
	size_t primary = strcspn(language, "-_");
	for (size_t k = 0; k < n; k++) {
		const char *l = lang_at(items, size, k);
		if (strlen(l) == primary && strncasecmp(l, language, primary) == 0)
			return item_at(items, size, k);
	}
	return NULL;
}

int spc_lang_key_check(const char *where, const char *key, const char *example, const void *items,
		       size_t n, size_t size, char *err, size_t errlen)
{
	if (!spc_is_language(key)) {
		spc_set_err(err, errlen, "%s: '%.32s' is not a language tag like \"%s\" or \"pt-BR\"", where,
			    key, example);
		return -1;
	}
	for (size_t k = 0; k < n; k++)
		if (spc_same_ci(lang_at(items, size, k), key)) {
			spc_set_err(err, errlen, "%s: '%.32s' given twice", where, key);
			return -1;
		}
	return 0;
}

int spc_cfg_lang_variants(json_t *obj, const char *where, const char *example, void *items, size_t size,
			  size_t *n, spc_variant_fn parse, void *arg, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		if (spc_lang_key_check(where, key, example, items, *n, size, err, errlen) != 0)
			return -1;
		void *item = (char *)items + *n * size;
		char *lang = spc_strdup(key);
		memcpy(item, &lang, sizeof(lang));
		++*n;
		if (!lang) {
			spc_set_err(err, errlen, "out of memory");
			return -1;
		}
		if (parse(arg, obj, key, item, err, errlen) != 0)
			return -1;
	}
	return 0;
}

const void *spc_lang_default(const void *items, size_t n, size_t size, const char *def, char *err,
			     size_t errlen)
{
	const char *want = def ? def : "en";
	for (size_t k = 0; k < n; k++)
		if (spc_same_ci(lang_at(items, size, k), want))
			return item_at(items, size, k);
	if (def)
		spc_set_err(err, errlen, "default_language: no template for '%s'", def);
	else
		spc_set_err(err, errlen, "templates: no template for the default language 'en' "
			    "(add one or set default_language)");
	return NULL;
}
