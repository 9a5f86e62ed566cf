/* schema.c: tables generated from schema.def / enums.def / reasons.def. */
#include "schema.h"

#include <string.h>

#define ENUM(K, NAME, ...) static const char *const su_enum_values_##K[] = { __VA_ARGS__ };
#include "enums.def"
#undef ENUM

const su_enum su_enums[SU_E_COUNT] = {
#define ENUM(K, NAME, ...) \
	[SU_E_##K] = { NAME, sizeof(su_enum_values_##K) / sizeof(char *), su_enum_values_##K },
#include "enums.def"
#undef ENUM
};

const su_field su_fields[SU_SLOT_COUNT] = {
#define FIELD(SLOT, PATH, T, E, MIN, MAX, FL) [SU_SLOT_##SLOT] = { PATH, T, E, MIN, MAX, FL },
#include "schema.def"
#undef FIELD
};

const char *const su_reason_names[SU_R_KNOWN_COUNT] = {
#define REASON(NAME) #NAME,
#include "reasons.def"
#undef REASON
};

static int name_eq(const char *a, const char *b, size_t blen)
{
	return strncmp(a, b, blen) == 0 && a[blen] == '\0';
}

int su_field_lookup(const char *path, size_t len)
{
	for (int i = 0; i < SU_SLOT_COUNT; i++)
		if (name_eq(su_fields[i].path, path, len))
			return i;
	return -1;
}

int su_enum_lookup(int kind, const char *name, size_t len)
{
	if (kind < 0 || kind >= SU_E_COUNT)
		return -1;
	for (unsigned i = 0; i < su_enums[kind].count; i++)
		if (name_eq(su_enums[kind].values[i], name, len))
			return (int)i;
	return -1;
}

int su_reason_lookup(const char *name, size_t len)
{
	for (int i = 0; i < SU_R_KNOWN_COUNT; i++)
		if (name_eq(su_reason_names[i], name, len))
			return i;
	return -1;
}

unsigned su_edit_distance(const char *a, const char *b, unsigned cap)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (lb >= 64 || la >= 64)
		return cap + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0], best;
		row[0] = (unsigned)i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned v = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			if (up + 1 < v)
				v = up + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
	}
	return row[lb];
}

static const char *suggest(const char *const *names, size_t n, size_t stride,
                           const char *word)
{
	const char *best = NULL;
	unsigned best_d = 4;

	for (size_t i = 0; i < n; i++) {
		const char *cand = *(const char *const *)((const char *)names + i * stride);
		unsigned d = su_edit_distance(word, cand, 3);
		if (d < best_d) {
			best_d = d;
			best = cand;
		}
	}
	return best;
}

const char *su_field_suggest(const char *path)
{
	return suggest(&su_fields[0].path, SU_SLOT_COUNT, sizeof(su_field), path);
}

const char *su_enum_suggest(int kind, const char *name)
{
	if (kind < 0 || kind >= SU_E_COUNT)
		return NULL;
	return suggest(su_enums[kind].values, su_enums[kind].count, sizeof(char *), name);
}
