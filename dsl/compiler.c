/* compiler.c: the public stepup_compiler — sources in, diagnostics and a
 * verified ruleset out. Runs parse -> check -> compile -> verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compile.h"
#include "declare.h"
#include "diag.h"
#include "fmt.h"
#include "lint.h"
#include "parse_ctx.h"
#include "../engine/bundle.h"
#include "../engine/util.h"

#define SU_MAX_SOURCE (16u << 20)

struct stepup_compiler {
	su_diags diags;
	const stepup_plugins *plugins;  /* borrowed; rule functions callable */
	unsigned flags;                 /* STEPUP_LOAD_* */
};

/* A location naming a whole file (line 0: no source line to show). */
static su_loc file_loc(unsigned file)
{
	su_loc l = { .file = file };
	return l;
}

stepup_compiler *stepup_compiler_new(void)
{
	stepup_compiler *c = calloc(1, sizeof(*c));
	if (c)
		su_diags_init(&c->diags);
	return c;
}

void stepup_compiler_free(stepup_compiler *c)
{
	if (!c)
		return;
	su_diags_fini(&c->diags);
	free(c);
}

int stepup_compiler_set_plugins(stepup_compiler *c, const stepup_plugins *p)
{
	if (!c)
		return STEPUP_EINVAL;
	c->plugins = p;
	return STEPUP_OK;
}

int stepup_compiler_set_flags(stepup_compiler *c, unsigned flags)
{
	if (!c || (flags & ~(STEPUP_LOAD_ALLOW_EMPTY | STEPUP_COMPILE_STRICT)))
		return STEPUP_EINVAL;
	c->flags = flags;
	return STEPUP_OK;
}

int stepup_compiler_add_source(stepup_compiler *c, const char *name, const char *text, size_t len)
{
	if (!c || !name || (!text && len))
		return STEPUP_EINVAL;
	if (len > SU_MAX_SOURCE) {
		int k = su_diags_add_source(&c->diags, name, "", 0);
		if (k < 0)
			return STEPUP_ENOMEM;
		su_error(&c->diags, file_loc((unsigned)k), "source larger than %u bytes", SU_MAX_SOURCE);
		return STEPUP_ETOOBIG;
	}
	if (memchr(text ? text : "", '\0', len)) {
		int k = su_diags_add_source(&c->diags, name, "", 0);
		if (k < 0)
			return STEPUP_ENOMEM;
		su_error(&c->diags, file_loc((unsigned)k), "source contains a NUL byte");
		return STEPUP_ECOMPILE;
	}
	return su_diags_add_source(&c->diags, name, text ? text : "", len) < 0 ? STEPUP_ENOMEM : STEPUP_OK;
}

/* A diagnostic about a whole file that could not be read. */
static void file_error(stepup_compiler *c, const char *path, const char *why)
{
	int k = su_diags_add_source(&c->diags, path, "", 0);
	if (k >= 0)
		su_error(&c->diags, file_loc((unsigned)k), "%s", why);
}

/* why = "<path>: <reason>" from su_read_file; the diagnostic names the
 * file already. */
static const char *reason_of(const char *path, const char *why)
{
	size_t n = strlen(path);
	return strncmp(why, path, n) == 0 && why[n] == ':' && why[n + 1] == ' ' ? why + n + 2 : why;
}

int stepup_compiler_add_file(stepup_compiler *c, const char *path)
{
	char *buf, why[512];
	size_t len;
	int rc;

	if (!c || !path)
		return STEPUP_EINVAL;
	rc = su_read_file(path, SU_MAX_SOURCE, &buf, &len, why, sizeof(why));
	if (rc == STEPUP_ENOMEM)
		return rc;
	if (rc == STEPUP_ETOOBIG)
		snprintf(why, sizeof(why), "source larger than %u bytes", SU_MAX_SOURCE);
	if (rc != STEPUP_OK) {
		file_error(c, path, reason_of(path, why));
		return rc;
	}
	rc = stepup_compiler_add_source(c, path, buf, len);
	free(buf);
	return rc;
}

int stepup_compiler_compile(stepup_compiler *c, stepup_ruleset **out)
{
	su_file **files;
	su_checked chk;
	size_t n;
	int rc = STEPUP_OK;

	if (!c || !out)
		return STEPUP_EINVAL;
	*out = NULL;
	n = c->diags.nsrc;
	files = calloc(n ? n : 1, sizeof(*files));
	if (!files)
		return STEPUP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		files[i] = su_parse(&c->diags, (unsigned)i);
		if (!files[i])
			c->diags.oom = 1;
	}
	if (n == 0)
		su_error(&c->diags, file_loc(0), "no rule sources given");
	/* Checking a file whose syntax is broken would only add noise. */
	su_schema *sc = NULL;
	if (c->diags.nerrors == 0 && !c->diags.oom)
		sc = su_declare(&c->diags, files, n);
	if (sc && c->diags.nerrors == 0 && !c->diags.oom) {
		char why[256];
		su_check(&c->diags, files, n, sc, c->plugins, &chk);
		if ((c->flags & STEPUP_COMPILE_STRICT) && c->diags.nerrors == 0 && !c->diags.oom)
			su_lint(&c->diags, files, n, &chk, sc);
		if (c->diags.nerrors == 0 && !c->diags.oom && su_checked_apply(&chk, sc) < 0)
			c->diags.oom = 1;
		if (c->diags.nerrors == 0 && !c->diags.oom && su_schema_prepare(sc, why, sizeof(why)) < 0)
			su_error(&c->diags, file_loc(0), "internal error: the schema does not prepare: %s", why);
		if (c->diags.nerrors == 0 && !c->diags.oom) {
			stepup_ruleset *rs = su_compile(&c->diags, files, n, &chk, sc);
			sc = NULL;
			if (rs && su_program_verify(rs, why, sizeof(why)) < 0) {
				/* A compiler bug, not the analyst's: say so plainly. */
				su_error(&c->diags, file_loc(0),
				         "internal error: compiled program failed verification: %s", why);
				su_program_free(rs);
				rs = NULL;
			} else if (rs && rs->nrules == 0 && !(c->flags & STEPUP_LOAD_ALLOW_EMPTY)) {
				/* Fail closed: an emptied or comment-only file must
				 * not become a policy that approves everything. */
				su_error(&c->diags, file_loc(0),
				         "the ruleset has no rules: it would approve every request "
				         "(an empty ruleset must be allowed explicitly)");
				su_program_free(rs);
				rs = NULL;
			} else if (rs && su_program_prepare(rs) < 0) {
				c->diags.oom = 1;
				su_program_free(rs);
				rs = NULL;
			}
			*out = rs;
		}
		su_checked_fini(&chk);
	}
	su_schema_free(sc);
	for (size_t i = 0; i < n; i++)
		su_file_free(files[i]);
	free(files);
	if (c->diags.oom)
		rc = STEPUP_ENOMEM;
	else if (!*out)
		rc = STEPUP_ECOMPILE;
	if (rc != STEPUP_OK && *out) {
		stepup_ruleset_unref(*out);
		*out = NULL;
	}
	return rc;
}

int stepup_compiler_format(stepup_compiler *c, const char *name, const char *text, size_t len,
                           char **out, size_t *outlen)
{
	if (!c || !out || !outlen)
		return STEPUP_EINVAL;
	*out = NULL;
	*outlen = 0;
	int rc = stepup_compiler_add_source(c, name, text, len);
	if (rc != STEPUP_OK)
		return rc;
	return su_fmt_source(&c->diags, (unsigned)(c->diags.nsrc - 1), out, outlen);
}

size_t stepup_compiler_diag_count(const stepup_compiler *c)
{
	return c ? c->diags.n : 0;
}

size_t stepup_compiler_error_count(const stepup_compiler *c)
{
	return c ? c->diags.nerrors : 0;
}

const stepup_diag *stepup_compiler_diag(const stepup_compiler *c, size_t i)
{
	return c && i < c->diags.n ? &c->diags.items[i] : NULL;
}

size_t stepup_compiler_render_diag(const stepup_compiler *c, size_t i, char *buf, size_t size)
{
	return c ? su_diag_render(&c->diags, i, buf, size) : 0;
}

/* Bundles of formats 1 and 2 carry no schema: theirs was the default one
 * of the day, whose 26 fields the default schema still has, in the same
 * slots. Their list field's mask bits were its declared codes, then the
 * codes the bundle added; their enum constants named one of the six enums
 * of the day, by number (tsp, channel, card state, capture method, CSC
 * result, recommended decision), now the slot of a field of that enum. */
static const uint16_t legacy_enum_slot[] = { 1, 0, 2, 3, 4, 10 };

static int legacy_schema(stepup_ruleset *rs, const su_legacy *lg, char *err, size_t errlen)
{
	su_schema *sc = su_default_schema(err, errlen);
	if (!sc)
		return STEPUP_ENOMEM;
	for (uint32_t slot = 0; slot < sc->nfields; slot++) {
		su_field *f = &sc->fields[slot];
		if (f->type != SU_T_REASONS)
			continue;
		uint32_t bits[SU_MAX_CODE_BITS], n = 0;
		for (uint32_t i = 0; i < f->values.count && n < SU_MAX_CODE_BITS; i++)
			bits[n++] = sc->items[f->values.start + i];
		for (uint32_t i = 0; i < lg->nreasons; i++) {
			if (n == SU_MAX_CODE_BITS || lg->reasons[i] >= rs->nstrs) {
				su_schema_free(sc);
				su_set_err(err, errlen, "bundle corrupted: bad reason code list");
				return STEPUP_EBUNDLE;
			}
			bits[n++] = su_schema_str(sc, SU_STR(rs, lg->reasons[i]), SU_STRLEN(rs, lg->reasons[i]));
		}
		f->bits = su_schema_items(sc, bits, n);
		break;  /* the layout of the day had one list */
	}
	for (uint32_t pc = 0; pc < rs->ncode; pc++) {
		su_insn *in = &rs->code[pc];
		if (in->op != SU_OP_V_ENUM)
			continue;
		if (in->a >= sizeof(legacy_enum_slot) / sizeof(legacy_enum_slot[0])) {
			su_schema_free(sc);
			su_set_err(err, errlen, "bundle rejected by the verifier: bad enum at %u", pc);
			return STEPUP_EBUNDLE;
		}
		in->a = legacy_enum_slot[in->a];
	}
	char why[200];
	if (su_schema_prepare(sc, why, sizeof(why)) < 0) {
		su_schema_free(sc);
		su_set_err(err, errlen, "the default schema does not prepare: %s", why);
		return STEPUP_ENOMEM;
	}
	rs->schema = sc;
	return STEPUP_OK;
}

int stepup_ruleset_load_bundle(const void *data, size_t len, stepup_ruleset **out, char *err, size_t errlen)
{
	return stepup_ruleset_load_bundle_flags(data, len, 0, out, err, errlen);
}

int stepup_ruleset_load_bundle_flags(const void *data, size_t len, unsigned flags, stepup_ruleset **out,
                                     char *err, size_t errlen)
{
	su_legacy lg;
	stepup_ruleset *rs;

	if (!out)
		return STEPUP_EINVAL;
	*out = NULL;
	int rc = su_bundle_parse(data, len, &rs, &lg, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	if (lg.version) {
		rc = legacy_schema(rs, &lg, err, errlen);
		free(lg.reasons);
		if (rc != STEPUP_OK) {
			su_program_free(rs);
			return rc;
		}
	}
	rc = su_bundle_finish(rs, flags, err, errlen);
	if (rc == STEPUP_OK)
		*out = rs;
	return rc;
}

int stepup_ruleset_load(const char *path, stepup_ruleset **out, char *err, size_t errlen)
{
	return stepup_ruleset_load_with_plugins(path, NULL, out, err, errlen);
}

int stepup_ruleset_load_with_plugins(const char *path, const stepup_plugins *plugins,
                                     stepup_ruleset **out, char *err, size_t errlen)
{
	return stepup_ruleset_load_flags(path, plugins, 0, out, err, errlen);
}

/* A bundle is read whole, at most this much (the loader's own limit on the
 * body is lower; this bounds the read). */
#define SU_BUNDLE_READ_MAX (512u << 20)

int stepup_ruleset_load_flags(const char *path, const stepup_plugins *plugins, unsigned flags,
                              stepup_ruleset **out, char *err, size_t errlen)
{
	char *buf, why[512];
	size_t len;
	int rc;

	if (!path || !out)
		return STEPUP_EINVAL;
	*out = NULL;
	/* One read of the file decides what it is and feeds the loader or
	 * the compiler: no second open that could see another file. */
	rc = su_read_file(path, SU_BUNDLE_READ_MAX, &buf, &len, why, sizeof(why));
	if (rc != STEPUP_OK) {
		su_set_err(err, errlen, "%s", why);
		return rc;
	}
	if (len >= 8 && memcmp(buf, "STEPUPB", 7) == 0) {
		rc = stepup_ruleset_load_bundle_flags(buf, len, flags, out, why, sizeof(why));
		free(buf);
		if (rc != STEPUP_OK)
			su_set_err(err, errlen, "%s: %s", path, why);
		return rc;
	}

	stepup_compiler *c = stepup_compiler_new();
	if (!c) {
		free(buf);
		return STEPUP_ENOMEM;
	}
	c->plugins = plugins;
	c->flags = flags;
	rc = stepup_compiler_add_source(c, path, buf, len);
	free(buf);
	if (rc == STEPUP_OK)
		rc = stepup_compiler_compile(c, out);
	if (rc != STEPUP_OK && err && errlen) {
		err[0] = '\0';
		for (size_t i = 0; i < c->diags.n; i++)
			if (c->diags.items[i].severity == STEPUP_DIAG_ERROR) {
				const stepup_diag *g = &c->diags.items[i];
				if (g->line)
					snprintf(err, errlen, "%s:%u:%u: error: %s (%zu error%s in all)", g->file,
					         g->line, g->col, g->message, c->diags.nerrors,
					         c->diags.nerrors == 1 ? "" : "s");
				else
					snprintf(err, errlen, "%s: error: %s", g->file, g->message);
				break;
			}
	}
	stepup_compiler_free(c);
	return rc;
}
