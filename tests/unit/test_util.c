/* test_util.c: the small helpers of engine/util.c that libstepup, the
 * lifecycle, stepupd and the account_file plugin share: the one ISO 8601
 * time parser and the one reader of files holding secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <stepup/error.h>

#include "helpers.h"
#include "util.h"

static void test_parse_time(void **s)
{
	(void)s;
	/* MDES's forms (YYYY-MM-DDThh:mm:ss[.sss]Z or ±hh:mm) and RFC 3339's. */
	int64_t t = su_parse_time("2026-07-04T19:09:56Z");
	assert_int_equal(t, 1783192196);
	assert_int_equal(su_parse_time("2026-07-04T12:09:56.123-07:00"), t);
	assert_int_equal(su_parse_time("2026-07-04T21:09:56+02:00"), t);
	assert_int_equal(su_parse_time("2026-07-04t19:09:56.5z"), t);
	assert_int_equal(su_parse_time("2026-07-04 19:09:56.123456789Z"), t);
	assert_int_equal(su_parse_time("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(su_parse_time("2000-02-29T00:00:00Z"), 951782400);
	/* Malformed: named -1, never a crash or a read past the end. */
	static const char *const bad[] = {
		"", "2026-07-04", "2026-07-04T12:09:56", "2026-13-04T12:09:56Z", "2026-07-32T12:09:56Z",
		"2026-07-04T24:00:00Z", "2026-07-04T12:60:00Z", "2026-07-04T12:09:61Z", "2026-07-04T12:09:56.Z",
		"2026-07-04T12:09:56+07", "2026-07-04T12:09:56+0700", "2026-07-04T12:09:56+07:0",
		"2026-07-04T12:09:56+24:00", "2026-07-04T12:09:56Zjunk", "2026-07-04T12:09:56+07:00x",
		"2026/07/04T12:09:56Z", "20a6-07-04T12:09:56Z", "2026-07-04X12:09:56Z", "1969-12-31T23:59:59Z",
		"+026-07-04T12:09:56Z", "2026-07-04T12:09:56-",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (su_parse_time(bad[i]) != -1)
			fail_msg("\"%s\" parsed", bad[i]);
	assert_int_equal(su_parse_time(NULL), -1);
}

static char dir[64];

static void test_secret_file(void **s)
{
	(void)s;
	char path[128], err[256], *out = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/key", dir);
	th_write_file(path, "00112233445566778899aabbccddeeff\n", 0600);
	assert_int_equal(su_read_secret_file(path, 4096, 1, &out, &len, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(len, 33);
	assert_string_equal(out, "00112233445566778899aabbccddeeff\n");
	free(out);
	/* Group or others may read it: refused, saying why and how to fix it. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(su_read_secret_file(path, 4096, 1, &out, &len, err, sizeof(err)), STEPUP_EIO);
	assert_null(out);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "mode 0640"));
	assert_non_null(strstr(err, "chmod 600"));
	/* Not a secret (a certificate): any mode. */
	assert_int_equal(su_read_secret_file(path, 4096, 0, &out, &len, err, sizeof(err)), STEPUP_OK);
	free(out);
	/* Over the limit; absent; not a regular file (never blocks on a FIFO). */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(su_read_secret_file(path, 10, 1, &out, &len, err, sizeof(err)), STEPUP_ETOOBIG);
	assert_non_null(strstr(err, "larger than 10 bytes"));
	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(su_read_secret_file(path, 4096, 1, &out, &len, err, sizeof(err)), STEPUP_EIO);
	assert_non_null(strstr(err, "cannot open"));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(su_read_secret_file(path, 4096, 1, &out, &len, err, sizeof(err)), STEPUP_EIO);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(su_read_secret_file(dir, 4096, 0, &out, &len, err, sizeof(err)), STEPUP_EIO);
	assert_null(out);
	/* Empty: read, NUL-terminated. */
	snprintf(path, sizeof(path), "%s/empty", dir);
	th_write_file(path, "", 0600);
	assert_int_equal(su_read_secret_file(path, 4096, 1, &out, &len, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_hex_key(void **s)
{
	(void)s;
	char path[128], err[256];
	unsigned char key[64];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/hexkey", dir);
	th_write_file(path, "  00112233445566778899AABBCCDDEEFF\r\n", 0600);
	assert_int_equal(su_read_hex_key(path, key, 16, 64, &len, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(len, 16);
	assert_int_equal(key[0], 0x00);
	assert_int_equal(key[15], 0xff);
	/* Too short, odd, not hex: refused naming the file and the sizes. */
	static const char *const bad[] = { "00112233", "0011223344556677889", "00112233445566778899aabbccddeegg",
		                           "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		th_write_file(path, bad[i], 0600);
		assert_int_equal(su_read_hex_key(path, key, 16, 64, &len, err, sizeof(err)), STEPUP_ECONFIG);
		assert_non_null(strstr(err, "the key must be 16 to 64 bytes as hex"));
	}
	/* Its mode is checked: a key anyone may read is refused. */
	th_write_file(path, "00112233445566778899aabbccddeeff", 0644);
	assert_int_equal(su_read_hex_key(path, key, 16, 64, &len, err, sizeof(err)), STEPUP_EIO);
	assert_non_null(strstr(err, "chmod 600"));
}

static int setup(void **s)
{
	(void)s;
	snprintf(dir, sizeof(dir), "/tmp/test_util.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_hex_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
