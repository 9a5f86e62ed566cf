/* test_cases_store.c: the case store when its database goes wrong, through
 * the public API against a real SQLite file:
 *
 *   - disk full, in a statement (PRAGMA max_page_count, set on the
 *     library's own connection by an auto-extension) and at COMMIT (a VFS
 *     shim over the default one whose WAL writes fail as a full disk's
 *     do): the caller is told "database or disk is full", never what a
 *     rollback said afterwards; the store works again once there is room;
 *   - the database file deleted, moved or replaced under an open handle:
 *     writes are refused (stepup_cases_record fails, the JSON calls
 *     answer 503 store_unavailable), stepup_cases_health says why, and a
 *     file moved back makes it healthy again;
 *   - a corrupt file: stepup_cases_open and stepup_cases_check_store
 *     refuse it naming the corruption; the check changes nothing and
 *     creates nothing beside a good file, open or closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "cases_fixture.h"

static int setup(void **state)
{
	tc_env *t = calloc(1, sizeof(*t));
	tc_setup(t);
	*state = t;
	return 0;
}

static void faults_off(void);

static int teardown(void **state)
{
	tc_env *t = *state;
	tc_teardown(t);
	faults_off();  /* a test that failed half-way left them on */
	free(t);
	return 0;
}

/* Decide a YELLOW request and record its case: the status, and the
 * library's message in err. */
static int record(tc_env *t, char *err, size_t errlen)
{
	char *req = th_patched(TC_YELLOW_ALL);
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out = NULL;
	size_t len = 0;
	err[0] = '\0';
	assert_int_equal(stepup_decide_json(t->e, r, d, req, strlen(req), 0, &out, &len), STEPUP_OK);
	assert_int_equal(stepup_decision_outcome(d), STEPUP_YELLOW);
	int rc = stepup_cases_record(t->c, t->e, r, d, err, errlen);
	stepup_decision_free(d);
	stepup_request_free(r);
	free(req);
	return rc;
}

/* One integer from a query on the file (a connection of the test's). */
static long long query_int(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	long long v = -1;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- disk full in a statement: max_page_count ----------------------------- */

/* Every connection opened in this process while it is non-zero gets
 * PRAGMA max_page_count = max_pages (the library's among them). */
static atomic_int max_pages;

static int limit_pages(sqlite3 *db, char **err, const void *api)
{
	char sql[64];
	(void)err;
	(void)api;
	if (atomic_load(&max_pages) > 0) {
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %d", atomic_load(&max_pages));
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	return SQLITE_OK;
}

static void full_in_statement(void **state)
{
	tc_env *t = *state;
	char err[512];
	tc_open(t, "{\"background\":false}");
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);
	tc_close(t);
	long long pages = query_int(t->db, "PRAGMA page_count");
	assert_true(pages > 0);

	sqlite3_auto_extension((void (*)(void))limit_pages);
	atomic_store(&max_pages, (int)pages + 2);
	tc_open(t, "{\"background\":false}");
	tc_log_clear();
	int rc = STEPUP_OK, n = 0;
	while (n < 5000 && (rc = record(t, err, sizeof(err))) == STEPUP_OK)
		n++;
	assert_int_equal(rc, STEPUP_EIO);
	assert_true(n > 0);
	if (!strstr(err, "database or disk is full"))
		fail_msg("after %d cases the caller was told: %s", n, err);
	assert_null(strstr(tc_log_text(), "cannot rollback"));
	assert_non_null(strstr(tc_log_text(), "database or disk is full"));

	/* Room again: the same handle goes on. */
	atomic_store(&max_pages, 0);
	tc_close(t);
	tc_open(t, "{\"background\":false}");
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(query_int(t->db, "SELECT count(*) FROM cases"), n + 2);
	sqlite3_cancel_auto_extension((void (*)(void))limit_pages);
}

/* ---- disk full at COMMIT: a VFS whose WAL writes fail ---------------------- */

/* The shim forwards everything to the default VFS, except that writes to
 * a WAL file fail with SQLITE_FULL while wal_full is set: what the unix
 * VFS answers when write() says ENOSPC. WAL frames are written at COMMIT,
 * so the statements succeed and the commit fails, after which SQLite
 * has rolled the transaction back by itself. */
typedef struct shim_file {
	sqlite3_file base;
	sqlite3_file *real;  /* right after this struct */
	int wal;
} shim_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static atomic_int wal_full;

#define REAL(f) (((shim_file *)(f))->real)

static int s_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	if (((shim_file *)f)->wal && atomic_load(&wal_full))
		return SQLITE_FULL;
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int s_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int s_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int s_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int s_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int s_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int s_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int s_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int s_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int s_shmmap(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, p);
}
static int s_shmlock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void s_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int s_shmunmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods shim_io = {
	3, s_close, s_read, s_write, s_truncate, s_sync, s_size, s_lock, s_unlock, s_reserved,
	s_fcntl, s_sector, s_devchar, s_shmmap, s_shmlock, s_shmbarrier, s_shmunmap, s_fetch,
	s_unfetch,
};

static int s_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
	shim_file *sf = (shim_file *)f;
	(void)v;
	sf->real = (sqlite3_file *)(sf + 1);
	sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
	int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
	/* SQLite closes a file whose open failed iff pMethods is set. */
	f->pMethods = sf->real->pMethods ? &shim_io : NULL;
	return rc;
}

static int shim_on;

static void shim_install(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	assert_non_null(real_vfs);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "stepup-test-full";
	shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = s_open;
	shim_vfs.pNext = NULL;
	assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
	shim_on = 1;
}

static void shim_remove(void)
{
	if (!shim_on)
		return;
	sqlite3_vfs_unregister(&shim_vfs);
	sqlite3_vfs_register(real_vfs, 1);
	shim_on = 0;
}

static void faults_off(void)
{
	atomic_store(&wal_full, 0);
	shim_remove();
	atomic_store(&max_pages, 0);
	sqlite3_cancel_auto_extension((void (*)(void))limit_pages);
}

static void full_at_commit(void **state)
{
	tc_env *t = *state;
	char err[512];
	shim_install();
	tc_open(t, "{\"background\":false}");
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_log_clear();

	atomic_store(&wal_full, 1);
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_EIO);
	if (!strstr(err, "commit: database or disk is full"))
		fail_msg("the caller was told: %s", err);
	/* An activation commits too: 503, and the log has the real reason. */
	tc_reply r = tc_activate(t->c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\","
	                         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}",
	                         id);
	assert_int_equal(r.http, 503);
	assert_int_equal(r.rc, STEPUP_EIO);
	assert_string_equal(tc_code(&r), "store_unavailable");
	tc_reply_free(&r);
	const char *log = tc_log_text();
	assert_non_null(strstr(log, "open case: commit: database or disk is full"));
	/* The same reason again within a minute: counted, not logged again. */
	assert_int_equal(count(log, "database or disk is full"), 1);
	assert_null(strstr(log, "cannot rollback"));
	assert_null(strstr(log, "no transaction is active"));
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_true(st.store_errors >= 2);

	/* Room again: the same handle goes on, and nothing half-done stayed. */
	atomic_store(&wal_full, 0);
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);
	tc_activate_cs(t->c, id, "D1", "a");
	tc_close(t);
	shim_remove();
	assert_int_equal(query_int(t->db, "SELECT count(*) FROM cases"), 3);
	assert_int_equal(query_int(t->db, "SELECT count(*) FROM cases WHERE status = 'ACTIVATED'"), 1);
	free(id);
}

/* ---- the file under an open handle -------------------------------------------- */

static void expect_unhealthy(tc_env *t, const char *why)
{
	char err[512] = "";
	assert_int_equal(stepup_cases_health(t->c, err, sizeof(err)), STEPUP_EIO);
	if (!strstr(err, why))
		fail_msg("health: %s (wanted \"%s\")", err, why);
	assert_non_null(strstr(err, t->db));
}

/* Every write refused while the path does not name our file. */
static void expect_writes_refused(tc_env *t, const char *id, const char *why)
{
	char err[512];
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_EIO);
	if (!strstr(err, why))
		fail_msg("record: %s (wanted \"%s\")", err, why);
	tc_reply r = tc_activate(t->c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\","
	                         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}",
	                         id);
	assert_int_equal(r.http, 503);
	assert_string_equal(tc_code(&r), "store_unavailable");
	tc_reply_free(&r);
	r = tc_deliver(t->c,
	               "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"845120\","
	               "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	               id, (long long)time(NULL) + 300);
	assert_int_equal(r.http, 503);
	assert_string_equal(tc_code(&r), "store_unavailable");
	tc_reply_free(&r);
	/* Nothing was handed to the channel for a send that was not counted. */
	assert_int_equal(tc_calls(t, "deliver_otp"), 0);
}

static void file_deleted_or_replaced(void **state)
{
	tc_env *t = *state;
	char err[512], moved[256], copy[256];
	tc_open(t, "{\"background\":false}");
	assert_int_equal(stepup_cases_health(t->c, err, sizeof(err)), STEPUP_OK);
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);

	/* Moved away (as deleted): refused, said so; moved back: fine. */
	snprintf(moved, sizeof(moved), "%s.moved", t->db);
	assert_int_equal(rename(t->db, moved), 0);
	expect_unhealthy(t, "is gone");
	expect_writes_refused(t, id, "is gone");
	assert_non_null(strstr(tc_log_text(), "writes are refused"));
	assert_int_equal(rename(moved, t->db), 0);
	assert_int_equal(stepup_cases_health(t->c, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);

	/* Replaced by a consistent copy of itself: another file all the same. */
	sqlite3 *src, *dst;
	snprintf(copy, sizeof(copy), "%s.copy", t->db);
	assert_int_equal(sqlite3_open(t->db, &src), SQLITE_OK);
	assert_int_equal(sqlite3_open(copy, &dst), SQLITE_OK);
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	assert_non_null(b);
	assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
	sqlite3_backup_finish(b);
	sqlite3_close(dst);
	sqlite3_close(src);
	assert_int_equal(rename(copy, t->db), 0);
	expect_unhealthy(t, "was replaced");
	expect_writes_refused(t, id, "was replaced");
	/* The case reads from what the handle has; nothing was acknowledged
	 * into the old file since: the new file holds the two recorded cases. */
	tc_reply r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	tc_reply_free(&r);
	tc_close(t);
	assert_int_equal(query_int(t->db, "SELECT count(*) FROM cases"), 2);

	/* Deleted outright: refused; a new handle starts a new file. */
	tc_open(t, "{\"background\":false}");
	assert_int_equal(unlink(t->db), 0);
	expect_unhealthy(t, "is gone");
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_EIO);
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_true(st.store_errors >= 1);
	assert_int_equal(st.opened, 0);
	tc_close(t);
	tc_open(t, "{\"background\":false}");
	assert_int_equal(stepup_cases_health(t->c, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_cases_health(NULL, err, sizeof(err)), STEPUP_EINVAL);
	free(id);
}

/* The background thread fails every pass on a lost file: one log line a
 * minute for the same reason, every failure counted. */
static void lost_file_logged_once(void **state)
{
	tc_env *t = *state;
	char err[512];
	tc_open(t, NULL);
	/* Cleared first: the background pass may be the one that sees the
	 * loss first (and then the records' failures are the repeats). */
	tc_log_clear();
	assert_int_equal(unlink(t->db), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(record(t, err, sizeof(err)), STEPUP_EIO);
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_true(st.store_errors >= 5);
	assert_int_equal(count(tc_log_text(), ": the database file"), 1);
	tc_close(t);
}

/* ---- corruption ------------------------------------------------------------------ */

/* Names of the files in dir, sorted, one per line (malloc'd). */
static char *listing(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t len = 0;
	char *s = calloc(1, 1);
	for (int i = 0; i < n; i++) {
		size_t k = strlen(names[i]->d_name);
		s = realloc(s, len + k + 2);
		memcpy(s + len, names[i]->d_name, k);
		len += k;
		s[len++] = '\n';
		s[len] = '\0';
		free(names[i]);
	}
	free(names);
	return s;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	char *b = malloc(*len + 1);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

/* The check leaves the file and its directory exactly as they were. */
static void check_changes_nothing(tc_env *t)
{
	char err[512] = "";
	char *cfg = tc_config(t, NULL);
	char *before = listing(t->dir);
	size_t n0, n1;
	char *b0 = slurp(t->db, &n0);
	int rc = stepup_cases_check_store(cfg, NULL, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("check_store: %d %s", rc, err);
	char *after = listing(t->dir);
	char *b1 = slurp(t->db, &n1);
	assert_string_equal(before, after);
	assert_int_equal(n0, n1);
	assert_memory_equal(b0, b1, n0);
	free(before);
	free(after);
	free(b0);
	free(b1);
	free(cfg);
}

static void corrupt_file_refused(void **state)
{
	tc_env *t = *state;
	char err[512] = "";
	char *cfg = tc_config(t, NULL);

	/* No file yet: nothing to check, nothing created. */
	assert_int_equal(stepup_cases_check_store(cfg, NULL, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(access(t->db, F_OK), -1);
	assert_int_equal(stepup_cases_check_store("{}", NULL, err, sizeof(err)), STEPUP_ENOTFOUND);

	/* Enough cases for several pages; checked while open (WAL in use)
	 * and after a clean close (no -wal, no -shm, and none created). */
	tc_open(t, "{\"background\":false}");
	for (int i = 0; i < 60; i++)
		assert_int_equal(record(t, err, sizeof(err)), STEPUP_OK);
	check_changes_nothing(t);
	tc_close(t);
	char wal[256];
	snprintf(wal, sizeof(wal), "%s-wal", t->db);
	assert_int_equal(access(wal, F_OK), -1);
	check_changes_nothing(t);

	/* Overwrite pages 2 and 3 (the header page stays a database's). */
	long long pages = query_int(t->db, "PRAGMA page_count");
	long long psize = query_int(t->db, "PRAGMA page_size");
	assert_true(pages >= 4);
	int fd = open(t->db, O_WRONLY);
	assert_true(fd >= 0);
	char *junk = malloc((size_t)psize * 2);
	for (long long i = 0; i < psize * 2; i++)
		junk[i] = (char)(0xA5 ^ (i * 31));
	assert_int_equal(pwrite(fd, junk, (size_t)psize * 2, psize), psize * 2);
	close(fd);
	free(junk);
	size_t n0, n1;
	char *b0 = slurp(t->db, &n0);

	int rc = stepup_cases_check_store(cfg, NULL, err, sizeof(err));
	assert_int_equal(rc, STEPUP_EIO);
	if (!strstr(err, "the database is corrupt") || !strstr(err, t->db))
		fail_msg("check_store: %s", err);
	err[0] = '\0';
	stepup_cases *c = NULL;
	rc = stepup_cases_open(cfg, NULL, NULL, NULL, NULL, &c, err, sizeof(err));
	assert_int_equal(rc, STEPUP_EIO);
	assert_null(c);
	if (!strstr(err, "the database is corrupt"))
		fail_msg("open: %s", err);
	char *b1 = slurp(t->db, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(b0, b1, n0);
	free(b0);
	free(b1);

	/* Not a database at all. */
	FILE *f = fopen(t->db, "w");
	fputs("this is not a database, but it is long enough to have a header of sorts......"
	      "..............................................................................",
	      f);
	fclose(f);
	assert_int_equal(stepup_cases_check_store(cfg, NULL, err, sizeof(err)), STEPUP_EIO);
	if (!strstr(err, "the database is corrupt"))
		fail_msg("check_store: %s", err);
	assert_int_equal(stepup_cases_open(cfg, NULL, NULL, NULL, NULL, &c, err, sizeof(err)), STEPUP_EIO);
	if (!strstr(err, "the database is corrupt"))
		fail_msg("open: %s", err);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_in_statement, setup, teardown),
		cmocka_unit_test_setup_teardown(full_at_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(file_deleted_or_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_file_logged_once, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_file_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
