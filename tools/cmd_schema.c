/* cmd_schema.c: `stepup schema`, the field catalogue of a ruleset (the
 * default schema, or the one rule files declare), as text, JSON, or the
 * markdown table docs/language.md §6 is generated from. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SCHEMA_USAGE \
	"usage: stepup schema [--rules FILE...] [--json | --format text|json|markdown] [--plugins CONFIG.json]\n"

/* The type as an analyst writes it, with its values or range. */
static void type_text(const stepup_ruleset *rs, size_t i, const stepup_field_info *f, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s%s", (f->flags & STEPUP_FIELD_OPEN) ? "open " : "", f->type);
	if (f->nvalues) {
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, " {");
		for (size_t k = 0; k < f->nvalues && n < size; k++)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", k ? ", " : "", stepup_ruleset_field_value(rs, i, k));
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "}");
	}
	if (n < size && strcmp(f->type, "int") == 0 && (f->min != INT64_MIN || f->max != INT64_MAX))
		snprintf(buf + n, size - n, " %" PRId64 "..%" PRId64, f->min, f->max);
}

/* Roles and options, comma-separated. */
static void notes_text(const stepup_field_info *f, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
#define ADD(...) \
	do { if (n < size) n += (size_t)snprintf(buf + n, size - n, "%s", n ? ", " : ""); \
	     if (n < size) n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__); } while (0)
	if (f->flags & STEPUP_FIELD_SECRET)
		ADD("secret");
	if (f->flags & STEPUP_FIELD_REQUIRED)
		ADD("required");
	if (f->role[0])
		ADD("role %s", f->role);
	if (f->format[0])
		ADD("format %s", f->format);
	if (strcmp(f->type, "string") == 0 && (f->min || f->max != 256))
		ADD("length %" PRId64 "..%" PRId64, f->min, f->max);
	if (f->flags & STEPUP_FIELD_FROM_STRING)
		ADD("from string");
	if (f->derived[0])
		ADD("derived %s", f->derived);
	if (f->default_text[0])
		ADD("default %s", f->default_text);
	if (f->flags & STEPUP_FIELD_SUMMARY)
		ADD("summary");
#undef ADD
}

static int print_text(const stepup_ruleset *rs)
{
	size_t n = stepup_ruleset_field_count(rs);
	printf("schema %s, %zu fields\n\n", stepup_ruleset_schema_fingerprint(rs), n);
	for (size_t i = 0; i < n; i++) {
		stepup_field_info f;
		char type[2048], notes[512];
		if (stepup_ruleset_field(rs, i, &f) != STEPUP_OK)
			return 2;
		type_text(rs, i, &f, type, sizeof(type));
		notes_text(&f, notes, sizeof(notes));
		printf("%-32s %s\n", f.path, type);
		if (notes[0])
			printf("%-32s   %s\n", "", notes);
		if (f.description[0])
			printf("%-32s   %s\n", "", f.description);
	}
	return 0;
}

static int print_json(const stepup_ruleset *rs)
{
	json_t *root = json_object(), *fields = json_array();
	size_t n = stepup_ruleset_field_count(rs);
	json_object_set_new(root, "fingerprint", json_string(stepup_ruleset_schema_fingerprint(rs)));
	json_object_set_new(root, "fields", fields);
	for (size_t i = 0; i < n; i++) {
		stepup_field_info f;
		if (stepup_ruleset_field(rs, i, &f) != STEPUP_OK)
			return 2;
		json_t *o = json_object(), *flags = json_array();
		json_object_set_new(o, "path", json_string(f.path));
		json_object_set_new(o, "type", json_string(f.type));
		if (f.nvalues) {
			json_t *v = json_array();
			for (size_t k = 0; k < f.nvalues; k++)
				json_array_append_new(v, json_string(stepup_ruleset_field_value(rs, i, k)));
			json_object_set_new(o, strcmp(f.type, "enum") == 0 ? "values" : "codes", v);
		}
		if (strcmp(f.type, "int") == 0 && (f.min != INT64_MIN || f.max != INT64_MAX)) {
			json_object_set_new(o, "min", json_integer(f.min));
			json_object_set_new(o, "max", json_integer(f.max));
		}
		if (strcmp(f.type, "string") == 0) {
			json_object_set_new(o, "min_length", json_integer(f.min));
			json_object_set_new(o, "max_length", json_integer(f.max));
		}
		if (f.format[0])
			json_object_set_new(o, "format", json_string(f.format));
		if (f.role[0])
			json_object_set_new(o, "role", json_string(f.role));
		if (f.derived[0])
			json_object_set_new(o, "derived", json_string(f.derived));
		if (f.default_text[0])
			json_object_set_new(o, "default", json_string(f.default_text));
		static const struct { unsigned bit; const char *name; } names[] = {
			{ STEPUP_FIELD_SECRET, "secret" }, { STEPUP_FIELD_REQUIRED, "required" },
			{ STEPUP_FIELD_SUMMARY, "summary" }, { STEPUP_FIELD_OPEN, "open" },
			{ STEPUP_FIELD_FROM_STRING, "from string" },
		};
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (f.flags & names[k].bit)
				json_array_append_new(flags, json_string(names[k].name));
		json_object_set_new(o, "flags", flags);
		if (f.description[0])
			json_object_set_new(o, "description", json_string(f.description));
		json_array_append_new(fields, o);
	}
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		return 2;
	puts(text);
	free(text);
	return 0;
}

/* A markdown cell: pipes escaped. */
static void md(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', stdout);
		fputc(*s, stdout);
	}
}

static int print_markdown(const stepup_ruleset *rs)
{
	size_t n = stepup_ruleset_field_count(rs);
	printf("| field | type | values / range | notes |\n|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		stepup_field_info f;
		char notes[512];
		if (stepup_ruleset_field(rs, i, &f) != STEPUP_OK)
			return 2;
		notes_text(&f, notes, sizeof(notes));
		printf("| `%s` | %s%s | ", f.path, (f.flags & STEPUP_FIELD_OPEN) ? "open " : "", f.type);
		for (size_t k = 0; k < f.nvalues; k++)
			printf("%s`%s`", k ? " " : "", stepup_ruleset_field_value(rs, i, k));
		if (strcmp(f.type, "int") == 0 && (f.min != INT64_MIN || f.max != INT64_MAX))
			printf("%" PRId64 " – %" PRId64, f.min, f.max);
		printf(" | ");
		md(f.description);
		if (notes[0]) {
			printf("%s", f.description[0] ? " (" : "(");
			md(notes);
			printf(")");
		}
		printf(" |\n");
	}
	return 0;
}

int cmd_schema(int argc, char **argv)
{
	const char *format = "text", *plugins = NULL;
	cli_rules files = { 0 };
	int rc = 2;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc) {
			/* One or more files follow; --rules may be repeated too. */
			while (i + 1 < argc && argv[i + 1][0] != '-')
				if (cli_rules_add(&files, argv[++i]) < 0)
					return 2;
		} else if (strcmp(argv[i], "--json") == 0) {
			format = "json";
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			format = argv[++i];
		} else if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc) {
			plugins = argv[++i];
		} else {
			fprintf(stderr, "stepup schema: unexpected argument %s\n" SCHEMA_USAGE, argv[i]);
			cli_rules_free(&files);
			return 2;
		}
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "markdown") != 0) {
		fprintf(stderr, "stepup schema: unknown format '%s'\n" SCHEMA_USAGE, format);
		cli_rules_free(&files);
		return 2;
	}
	stepup_plugins *pl = NULL;
	stepup_ruleset *rs = NULL;
	if (cli_plugins(plugins, &pl) < 0) {
		cli_rules_free(&files);
		return 2;
	}
	/* A schema file may declare fields and no rules. */
	if (files.n) {
		cli_loaded info;
		rs = cli_ruleset(&files, pl, STEPUP_LOAD_ALLOW_EMPTY, &info);
	} else {
		stepup_compiler *c = stepup_compiler_new();
		if (c) {
			stepup_compiler_set_flags(c, STEPUP_LOAD_ALLOW_EMPTY);
			stepup_compiler_add_source(c, "(default schema)", "", 0);
			if (stepup_compiler_compile(c, &rs) != STEPUP_OK)
				cli_print_diags(c);
			stepup_compiler_free(c);
		}
	}
	if (rs)
		rc = strcmp(format, "json") == 0 ? print_json(rs)
		   : strcmp(format, "markdown") == 0 ? print_markdown(rs) : print_text(rs);
	else
		rc = 1;
	stepup_ruleset_unref(rs);
	stepup_plugins_unref(pl);
	cli_rules_free(&files);
	return rc;
}
