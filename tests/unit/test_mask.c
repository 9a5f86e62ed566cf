/* test_mask.c: stepup_mask_phone / stepup_mask_email, the only forms in
 * which contact data leaves the engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "helpers.h"

typedef size_t (*mask_fn)(const char *in, size_t len, char *out, size_t size);

/* Mask into a roomy buffer and compare; also checks the returned length. */
static void check_mask(mask_fn mask, const char *name, const char *in, const char *want)
{
	char buf[128];
	memset(buf, 'X', sizeof(buf));
	size_t n = mask(in, strlen(in), buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s(\"%s\") = \"%s\", expected \"%s\"", name, in, buf, want);
	assert_int_equal(n, strlen(want));
}

static void check_phone(const char *in, const char *want)
{
	check_mask(stepup_mask_phone, "mask_phone", in, want);
}

static void check_email(const char *in, const char *want)
{
	check_mask(stepup_mask_email, "mask_email", in, want);
}

/* An input and its masked form. Lists end with { NULL, NULL }. */
typedef struct mask_case {
	const char *in, *want;
} mask_case;

/* Tests that are nothing but such a list (registered with PHONE_TEST and
 * EMAIL_TEST; *state is the list). */
static void phone_cases(void **state)
{
	for (const mask_case *c = *state; c->in; c++)
		check_phone(c->in, c->want);
}

static void email_cases(void **state)
{
	for (const mask_case *c = *state; c->in; c++)
		check_email(c->in, c->want);
}

#define PHONE_TEST(cases) { #cases, phone_cases, NULL, NULL, (void *)(cases) }
#define EMAIL_TEST(cases) { #cases, email_cases, NULL, NULL, (void *)(cases) }

/* Mask the first `len` bytes of `in` into buffers of every size from 1 to
 * `bufsize` (and 0): snprintf semantics, where `full` is the whole result. */
static void check_truncation(mask_fn mask, const char *in, size_t len, const char *full, size_t bufsize)
{
	char buf[64];
	size_t want = strlen(full);
	assert_true(bufsize <= sizeof(buf));

	for (size_t size = 1; size <= bufsize; size++) {
		memset(buf, 'X', sizeof(buf));
		size_t n = mask(in, len, buf, size);
		assert_int_equal(n, want);
		/* NUL-terminated within size, holding the prefix that fits. */
		assert_int_equal(strnlen(buf, size), size - 1 < want ? size - 1 : want);
		assert_memory_equal(buf, full, strnlen(buf, size));
		/* Nothing written past size. */
		for (size_t k = size; k < bufsize; k++)
			assert_int_equal(buf[k], 'X');
	}
	/* size 0: nothing written at all, full length returned. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(mask(in, len, buf, 0), want);
	assert_int_equal(buf[0], 'X');
	assert_int_equal(mask(in, len, NULL, 0), want);
}

/* ---- phone ------------------------------------------------------------ */

static const mask_case phone_nanp[] = {
	{ "+14155551234", "+1 *** *** 1234" },
	{ "+12125550000", "+1 *** *** 0000" },
	{ NULL, NULL },
};

static const mask_case phone_uk_two_digit_code[] = {
	{ "+447911123456", "+44 *** *** 3456" },
	{ "+4915112345678", "+49 *** *** 5678" },
	{ "+33612345678", "+33 *** *** 5678" },
	{ "+27821234567", "+27 *** *** 4567" },
	{ "+61412345678", "+61 *** *** 5678" },
	{ NULL, NULL },
};

static const mask_case phone_russia_one_digit_code[] = {
	{ "+79161234567", "+7 *** *** 4567" },
	{ NULL, NULL },
};

static const mask_case phone_three_digit_codes[] = {
	{ "+353861234567", "+353 *** *** 4567" },
	{ "+380501234567", "+380 *** *** 4567" },
	{ "+971501234567", "+971 *** *** 4567" },
	{ "+886912345678", "+886 *** *** 5678" },
	{ NULL, NULL },
};

static const mask_case phone_without_plus[] = {
	/* Without '+', no country code can be told apart: none is shown. */
	{ "4155551234", "*** *** 1234" },
	{ "14155551234", "*** *** 1234" },
	{ "(415) 555-1234", "*** *** 1234" },
	{ NULL, NULL },
};

static const mask_case phone_short_numbers[] = {
	{ "", "***" },
	{ "1", "***" },
	{ "12", "***" },
	{ "123", "***" },
	{ "+123", "***" },
	{ "+", "***" },
	{ "abc", "***" },
	/* Under seven digits, the last four would be most of the number. */
	{ "1234", "***" },
	{ "+12345", "***" },
	{ "123456", "***" },
	/* Seven digits: the suffix alone, no room for a country code. */
	{ "5551234", "*** *** 1234" },
	{ "+15551234", "+1 *** *** 1234" },
	{ NULL, NULL },
};

static const mask_case phone_formatted[] = {
	{ "+1 (415) 555-1234", "+1 *** *** 1234" },
	{ "+1.415.555.1234", "+1 *** *** 1234" },
	{ "+44 7911 123 456", "+44 *** *** 3456" },
	{ "+7 916 123-45-67", "+7 *** *** 4567" },
	{ "+353 (86) 123 4567", "+353 *** *** 4567" },
	{ NULL, NULL },
};

static void phone_never_shows_middle_digits(void **state)
{
	(void)state;
	char buf[64];
	stepup_mask_phone("+14155551234", 12, buf, sizeof(buf));
	assert_null(strstr(buf, "415"));
	assert_null(strstr(buf, "555"));
}

static void phone_len_bounds_input(void **state)
{
	(void)state;
	char buf[64];
	/* Only `len` bytes are read: the tail after len must be ignored. */
	const char *s = "+14155551234999";
	stepup_mask_phone(s, 12, buf, sizeof(buf));
	assert_string_equal(buf, "+1 *** *** 1234");
}

static void phone_truncation(void **state)
{
	(void)state;
	check_truncation(stepup_mask_phone, "+14155551234", 12, "+1 *** *** 1234", 16);
}

/* ---- email ------------------------------------------------------------ */

static const mask_case email_basic[] = {
	{ "jane.doe@example.com", "ja******@example.com" },
	{ "john@example.org", "jo**@example.org" },
	{ NULL, NULL },
};

static const mask_case email_short_local_parts[] = {
	{ "j@example.com", "*@example.com" },
	{ "jd@example.com", "j*@example.com" },
	{ "jan@example.com", "ja*@example.com" },
	{ NULL, NULL },
};

static const mask_case email_utf8_local_part[] = {
	/* One star per character, not per byte; never split a character. */
	{ "\xc3\xa9mile@example.com", "\xc3\xa9m***@example.com" },
	{ "\xc3\xa9\xc3\xa9@example.com", "\xc3\xa9*@example.com" },
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e@example.jp", "\xe6\x97\xa5\xe6\x9c\xac*@example.jp" },
	{ "\xf0\x9f\x98\x80\xf0\x9f\x98\x81xyz@example.com", "\xf0\x9f\x98\x80\xf0\x9f\x98\x81***@example.com" },
	/* A single multibyte character: fully hidden. */
	{ "\xc3\xa9@example.com", "*@example.com" },
	{ NULL, NULL },
};

static void email_missing_at(void **state)
{
	(void)state;
	char buf[64];
	size_t n = stepup_mask_email("janedoe", 7, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_null(strstr(buf, "janedoe"));
	assert_null(strstr(buf, "nedoe"));
	assert_string_equal(buf, "ja*****");
	check_email("", "*");
}

static const mask_case email_empty_local[] = {
	{ "@example.com", "*@example.com" },
	{ NULL, NULL },
};

static void email_truncation(void **state)
{
	(void)state;
	check_truncation(stepup_mask_email, "jane.doe@example.com", 20, "ja******@example.com", 24);
}

static void email_len_bounds_input(void **state)
{
	(void)state;
	char buf[64];
	stepup_mask_email("jane.doe@example.comEXTRA", 20, buf, sizeof(buf));
	assert_string_equal(buf, "ja******@example.com");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PHONE_TEST(phone_nanp),
		PHONE_TEST(phone_uk_two_digit_code),
		PHONE_TEST(phone_russia_one_digit_code),
		PHONE_TEST(phone_three_digit_codes),
		PHONE_TEST(phone_without_plus),
		PHONE_TEST(phone_short_numbers),
		PHONE_TEST(phone_formatted),
		cmocka_unit_test(phone_never_shows_middle_digits),
		cmocka_unit_test(phone_len_bounds_input),
		cmocka_unit_test(phone_truncation),
		EMAIL_TEST(email_basic),
		EMAIL_TEST(email_short_local_parts),
		EMAIL_TEST(email_utf8_local_part),
		cmocka_unit_test(email_missing_at),
		EMAIL_TEST(email_empty_local),
		cmocka_unit_test(email_truncation),
		cmocka_unit_test(email_len_bounds_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
