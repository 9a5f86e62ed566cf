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

/* Mask into a roomy buffer and compare; also checks the returned length. */
static void check_phone(const char *in, const char *want)
{
	char buf[128];
	memset(buf, 'X', sizeof(buf));
	size_t n = stepup_mask_phone(in, strlen(in), buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("mask_phone(\"%s\") = \"%s\", expected \"%s\"", in, buf, want);
	assert_int_equal(n, strlen(want));
}

static void check_email(const char *in, const char *want)
{
	char buf[128];
	memset(buf, 'X', sizeof(buf));
	size_t n = stepup_mask_email(in, strlen(in), buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("mask_email(\"%s\") = \"%s\", expected \"%s\"", in, buf, want);
	assert_int_equal(n, strlen(want));
}

/* ---- phone ------------------------------------------------------------ */

static void phone_nanp(void **state)
{
	(void)state;
	check_phone("+14155551234", "+1 *** *** 1234");
	check_phone("+12125550000", "+1 *** *** 0000");
}

static void phone_uk_two_digit_code(void **state)
{
	(void)state;
	check_phone("+447911123456", "+44 *** *** 3456");
	check_phone("+4915112345678", "+49 *** *** 5678");
	check_phone("+33612345678", "+33 *** *** 5678");
	check_phone("+27821234567", "+27 *** *** 4567");
	check_phone("+61412345678", "+61 *** *** 5678");
}

static void phone_russia_one_digit_code(void **state)
{
	(void)state;
	check_phone("+79161234567", "+7 *** *** 4567");
}

static void phone_three_digit_codes(void **state)
{
	(void)state;
	check_phone("+353861234567", "+353 *** *** 4567");
	check_phone("+380501234567", "+380 *** *** 4567");
	check_phone("+971501234567", "+971 *** *** 4567");
	check_phone("+886912345678", "+886 *** *** 5678");
}

static void phone_without_plus(void **state)
{
	(void)state;
	/* Without '+', no country code can be told apart: none is shown. */
	check_phone("4155551234", "*** *** 1234");
	check_phone("14155551234", "*** *** 1234");
	check_phone("(415) 555-1234", "*** *** 1234");
}

static void phone_short_numbers(void **state)
{
	(void)state;
	check_phone("", "***");
	check_phone("1", "***");
	check_phone("12", "***");
	check_phone("123", "***");
	check_phone("+123", "***");
	check_phone("+", "***");
	check_phone("abc", "***");
	/* Under seven digits, the last four would be most of the number. */
	check_phone("1234", "***");
	check_phone("+12345", "***");
	check_phone("123456", "***");
	/* Seven digits: the suffix alone, no room for a country code. */
	check_phone("5551234", "*** *** 1234");
	check_phone("+15551234", "+1 *** *** 1234");
}

static void phone_formatted(void **state)
{
	(void)state;
	check_phone("+1 (415) 555-1234", "+1 *** *** 1234");
	check_phone("+1.415.555.1234", "+1 *** *** 1234");
	check_phone("+44 7911 123 456", "+44 *** *** 3456");
	check_phone("+7 916 123-45-67", "+7 *** *** 4567");
	check_phone("+353 (86) 123 4567", "+353 *** *** 4567");
}

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
	char buf[16];
	const char *full = "+1 *** *** 1234";
	size_t want = strlen(full);

	for (size_t size = 1; size <= sizeof(buf); size++) {
		memset(buf, 'X', sizeof(buf));
		size_t n = stepup_mask_phone("+14155551234", 12, buf, size);
		assert_int_equal(n, want);
		/* NUL-terminated within size, holding the prefix that fits. */
		assert_int_equal(strnlen(buf, size), size - 1 < want ? size - 1 : want);
		assert_memory_equal(buf, full, strnlen(buf, size));
		/* Nothing written past size. */
		for (size_t k = size; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 'X');
	}
	/* size 0: nothing written at all, full length returned. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(stepup_mask_phone("+14155551234", 12, buf, 0), want);
	assert_int_equal(buf[0], 'X');
	assert_int_equal(stepup_mask_phone("+14155551234", 12, NULL, 0), want);
}

/* ---- email ------------------------------------------------------------ */

static void email_basic(void **state)
{
	(void)state;
	check_email("jane.doe@example.com", "ja******@example.com");
	check_email("john@example.org", "jo**@example.org");
}

static void email_short_local_parts(void **state)
{
	(void)state;
	check_email("j@example.com", "*@example.com");
	check_email("jd@example.com", "j*@example.com");
	check_email("jan@example.com", "ja*@example.com");
}

static void email_utf8_local_part(void **state)
{
	(void)state;
	/* One star per character, not per byte; never split a character. */
	check_email("\xc3\xa9mile@example.com", "\xc3\xa9m***@example.com");
	check_email("\xc3\xa9\xc3\xa9@example.com", "\xc3\xa9*@example.com");
	check_email("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e@example.jp", "\xe6\x97\xa5\xe6\x9c\xac*@example.jp");
	check_email("\xf0\x9f\x98\x80\xf0\x9f\x98\x81xyz@example.com", "\xf0\x9f\x98\x80\xf0\x9f\x98\x81***@example.com");
	/* A single multibyte character: fully hidden. */
	check_email("\xc3\xa9@example.com", "*@example.com");
}

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

static void email_empty_local(void **state)
{
	(void)state;
	check_email("@example.com", "*@example.com");
}

static void email_truncation(void **state)
{
	(void)state;
	char buf[24];
	const char *full = "ja******@example.com";
	size_t want = strlen(full);

	for (size_t size = 1; size <= sizeof(buf); size++) {
		memset(buf, 'X', sizeof(buf));
		size_t n = stepup_mask_email("jane.doe@example.com", 20, buf, size);
		assert_int_equal(n, want);
		assert_int_equal(strnlen(buf, size), size - 1 < want ? size - 1 : want);
		assert_memory_equal(buf, full, strnlen(buf, size));
		for (size_t k = size; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 'X');
	}
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(stepup_mask_email("jane.doe@example.com", 20, buf, 0), want);
	assert_int_equal(buf[0], 'X');
	assert_int_equal(stepup_mask_email("jane.doe@example.com", 20, NULL, 0), want);
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
		cmocka_unit_test(phone_nanp),
		cmocka_unit_test(phone_uk_two_digit_code),
		cmocka_unit_test(phone_russia_one_digit_code),
		cmocka_unit_test(phone_three_digit_codes),
		cmocka_unit_test(phone_without_plus),
		cmocka_unit_test(phone_short_numbers),
		cmocka_unit_test(phone_formatted),
		cmocka_unit_test(phone_never_shows_middle_digits),
		cmocka_unit_test(phone_len_bounds_input),
		cmocka_unit_test(phone_truncation),
		cmocka_unit_test(email_basic),
		cmocka_unit_test(email_short_local_parts),
		cmocka_unit_test(email_utf8_local_part),
		cmocka_unit_test(email_missing_at),
		cmocka_unit_test(email_empty_local),
		cmocka_unit_test(email_truncation),
		cmocka_unit_test(email_len_bounds_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
