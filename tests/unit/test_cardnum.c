/* test_cardnum.c: the one card-number policy (stepup_card_number_find) and
 * the scrubber built on it (stepup_scrub). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static int has_card(const char *s)
{
	return stepup_card_number_find(s, strlen(s), NULL, NULL);
}

/* Every spelling the hardening review pushed through the daemon, and
 * the test numbers of the major networks. */
static void card_numbers_found(void **state)
{
	static const char *const yes[] = {
		"4111111111111111", "DWSPMC4111111111111111", "4111-1111-1111-1111",
		"req4111111111111111", "4111111111111111x", "4111/1111/1111/1111",
		"4111:1111:1111:1111", "4111+1111+1111+1111", "4111_1111_1111_1111",
		"4111.1111.1111.1111", "4111 1111 1111 1111", "4111 - 1111 - 1111 - 1111",
		"jane4111111111111111@example.com", "card: 4111111111111111.",
		"4111 1111 1111 1111 0",                 /* a stray digit group after it */
		"7 4111 1111 1111 1111",                 /* and before it */
		"4111-1111-1111-1111 2026-12-07",        /* a date after it */
		"5555555555554444", "2223003122003222", "378282246310005",
		"3782-822463-10005", "6011111111111117", "3530111333300000", "30569309025904",
		"DWSPMC4111-1111-1111-1111",             /* letters before a grouped number */
		"ab4111111111111111cd",                  /* hex, but too short for a digest */
		"ab4111111111111111cdabcdef0123456789g", /* a longer run that is not all hex */
		"6200000000000005", "4222222222222",     /* 13-digit Visa */
		"4000000000000000006",                   /* 19-digit Visa */
	};
	(void)state;
	for (size_t i = 0; i < TH_N(yes); i++)
		if (!has_card(yes[i]))
			fail_msg("not found in \"%s\"", yes[i]);
}

static void harmless_numbers_pass(void **state)
{
	static const char *const no[] = {
		"", "4111", "4111111111111112",          /* Luhn fails */
		"0000000000000000",                      /* no network issues 0 */
		"7111111111111111",                      /* 7: petroleum, not a card network here */
		"41111111111111111111",                  /* 20 digits, unbroken */
		"12345678901234567890123456",            /* a long reference */
		"4111a1111b1111c1111",                   /* letters split it */
		"4111    1111    1111    1111",          /* 4 separators: not one run */
		"7c0b6f9e-1d2a-4e55-9a0e-3f1f2a8c9d10",  /* a UUID */
		"57f206ba-be52-4fcf-88f4-861460384002",  /* its last group and the 4 before: Luhn-valid */
		"4-861460384002",                        /* not grouped as cards are printed */
		"8186ed77-4496-3006-6519-87745f083191",  /* a UUID, though 4-4-4-5 in it pass Luhn */
		"25575316-0573-1444-2124-f70399626603",  /* 8-4-4: neither */
		"41111111 11111111",                     /* 8-8: neither */
		"+14155551234", "+44 20 7946 0958", "2026-12-07T00:20:56.314Z",
		"192.168.100.200:8080", "1765000000000000000",
		"sha256:ab4111111111111111cd7a3d5f60812e9c4b7d1a3f5e6c8b0a2d4f6e8c1a3b",  /* a digest */
	};
	(void)state;
	for (size_t i = 0; i < TH_N(no); i++)
		if (has_card(no[i]))
			fail_msg("\"%s\" taken for a card number", no[i]);
}

static unsigned luhn_digit(const char *d, size_t n)
{
	/* The check digit that makes d followed by it Luhn-valid. */
	unsigned sum = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned x = (unsigned)(d[n - 1 - k] - '0');
		if (!(k & 1)) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return (10 - sum % 10) % 10;
}

/* Nanosecond, microsecond and millisecond timestamps of this decade, made
 * Luhn-valid on purpose (the case that tripped one id in ten before):
 * none is a card number. */
static void timestamps_pass(void **state)
{
	char buf[32];
	unsigned seed = 12345;
	(void)state;
	for (int i = 0; i < 20000; i++) {
		static const size_t lens[] = { 13, 16, 19 };
		size_t len = lens[i % 3];
		snprintf(buf, sizeof(buf), "17");
		for (size_t k = 2; k + 1 < len; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[k] = (char)('0' + (seed >> 16) % 10);
		}
		buf[len - 1] = (char)('0' + luhn_digit(buf, len - 1));
		buf[len] = '\0';
		char id[48];
		snprintf(id, sizeof(id), "req-%s", buf);
		if (has_card(id))
			fail_msg("timestamp id \"%s\" taken for a card number", id);
	}
}

/* Random UUIDs, the most common request ids: none is a card number. */
static void uuids_pass(void **state)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t x = 88172645463325252ull;
	char id[40];
	(void)state;
	for (int i = 0; i < 200000; i++) {
		for (int k = 0, o = 0; k < 32; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (k == 8 || k == 12 || k == 16 || k == 20)
				id[o++] = '-';
			/* Digits more often than hex has them, to hit the edge cases. */
			id[o++] = (x >> 40) % 4 ? hex[(x >> 20) % 10] : hex[(x >> 20) % 16];
			id[o] = '\0';
		}
		if (has_card(id))
			fail_msg("UUID \"%s\" taken for a card number", id);
	}
}

static void span_of_first(void **state)
{
	size_t s = 99, e = 99;
	const char *t = "id=DWSPMC4111-1111-1111-1111, next 5555555555554444";
	(void)state;
	assert_true(stepup_card_number_find(t, strlen(t), &s, &e));
	assert_int_equal(s, 9);
	assert_int_equal(e, 28);
	/* A length bound, not a NUL, ends the text. */
	assert_false(stepup_card_number_find(t, 20, NULL, NULL));
	assert_false(stepup_card_number_find(NULL, 0, NULL, NULL));
}

/* Strings of random digits and separators: the policy agrees with a
 * brute-force reading of its definition (every window of whole groups). */
static int brute(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9'))
			continue;
		/* A window starts at a group start i; walk groups. */
		char d[32];
		size_t nd = 0, j = i, ng = 0, sizes[20];
		for (;;) {
			size_t g = j;
			while (j < n && s[j] >= '0' && s[j] <= '9')
				j++;
			if (nd + (j - g) > 19)
				break;
			memcpy(d + nd, s + g, j - g);
			nd += j - g;
			sizes[ng++] = j - g;
			/* Several groups: printed as cards are (4, then 4-6..., last 1-6). */
			int ok = ng == 1;
			if (!ok) {
				ok = sizes[0] == 4 && sizes[ng - 1] >= 1 && sizes[ng - 1] <= 6;
				for (size_t q = 1; q + 1 < ng; q++)
					ok = ok && sizes[q] >= 4 && sizes[q] <= 6;
			}
			if (nd >= 13 && ok) {
				char tmp[32];
				memcpy(tmp, d, nd);
				tmp[nd] = '\0';
				if (stepup_card_number_find(tmp, nd, NULL, NULL))
					return 1;
			}
			size_t k = j;
			while (k < n && k - j <= 3 && strchr(" -./:+_", s[k]))
				k++;
			if (!(k > j && k - j <= 3 && k < n && s[k] >= '0' && s[k] <= '9'))
				break;
			j = k;
		}
	}
	return 0;
}

static void random_agrees_with_definition(void **state)
{
	unsigned seed = 777, hits = 0;
	char buf[64];
	(void)state;
	for (int i = 0; i < 50000; i++) {
		size_t n = 20 + (size_t)(i % 40);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = (seed >> 16) % 16;
			buf[k] = r < 11 ? (char)('0' + (r < 10 ? r : 4)) : " -x/_"[r - 11];
		}
		buf[n] = '\0';
		if (has_card(buf) != brute(buf))
			fail_msg("\"%s\": policy %d, definition %d", buf, has_card(buf), brute(buf));
		hits += (unsigned)has_card(buf);
	}
	/* Both answers occur often enough for the comparison to mean something. */
	assert_in_range(hits, 100, 49000);
}

static void scrub_markers(void **state)
{
	char out[256];
	const char *in = "sent to jane.doe@example.com and +1 415 555 1234 for 4111-1111-1111-1111.";
	(void)state;
	size_t n = stepup_scrub(in, strlen(in), STEPUP_SCRUB_ALL, out, sizeof(out));
	assert_string_equal(out, "sent to [e-mail] and [phone] for [card number].");
	assert_int_equal(n, strlen(out));
	stepup_scrub(in, strlen(in), STEPUP_SCRUB_CARD, out, sizeof(out));
	assert_string_equal(out, "sent to jane.doe@example.com and +1 415 555 1234 for [card number].");
	/* Masked forms stay as they are. */
	const char *masked = "+1 *** *** 1234 ja******@example.com";
	stepup_scrub(masked, strlen(masked), STEPUP_SCRUB_CARD | STEPUP_SCRUB_PHONE, out, sizeof(out));
	assert_string_equal(out, masked);
	/* snprintf semantics at every size. */
	const char *full = "sent to [e-mail] and [phone] for [card number].";
	for (size_t size = 0; size <= strlen(full) + 1; size++) {
		char small[64];
		memset(small, 'X', sizeof(small));
		assert_int_equal(stepup_scrub(in, strlen(in), STEPUP_SCRUB_ALL, size ? small : NULL, size),
		                 strlen(full));
		if (size) {
			assert_int_equal(strlen(small), size - 1 < strlen(full) ? size - 1 : strlen(full));
			assert_memory_equal(small, full, strlen(small));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(card_numbers_found),
		cmocka_unit_test(harmless_numbers_pass),
		cmocka_unit_test(timestamps_pass),
		cmocka_unit_test(uuids_pass),
		cmocka_unit_test(span_of_first),
		cmocka_unit_test(random_agrees_with_definition),
		cmocka_unit_test(scrub_markers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
