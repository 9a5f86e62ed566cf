/* store_sqlite.c: the case store on SQLite (store.h).
 *
 * One connection per store, serialised by a mutex. SQLite lets one writer
 * in at a time whatever we do, and our transactions are a few rows (tens
 * of microseconds with synchronous=NORMAL), so a connection per thread
 * would buy concurrent *reads* only, at the price of SQLITE_BUSY between
 * our own threads and a set of prepared statements per thread. Other
 * processes opening the same file are handled by WAL and busy_timeout.
 *
 * Durability: WAL with synchronous=NORMAL loses no committed transaction
 * when the process dies (kill -9): the commit is in the WAL file, in the
 * kernel's page cache. A power loss may lose the last commits; "full"
 * syncs the WAL at every commit for that.
 *
 * Writes start with BEGIN IMMEDIATE, so a transaction that reads then
 * writes never has to upgrade its lock (the upgrade is where two writers
 * deadlock and one gets SQLITE_BUSY at once, ignoring busy_timeout).
 *
 * The schema is versioned with PRAGMA user_version; a database written by
 * a newer schema is refused rather than misread, and a corrupt one (PRAGMA
 * quick_check) is refused at open rather than found by the first write.
 *
 * Errors: the message a caller gets (`error`) is the first failure of its
 * call, taken from SQLite at the failing step, before a rollback can
 * replace it ("database or disk is full", not "cannot rollback - no
 * transaction is active"). It is kept per thread, so another thread's
 * failure in between cannot replace it either.
 *
 * The file under us: SQLite keeps writing to the file it opened, so a
 * database deleted, moved or replaced by another file under a running
 * process would take every later commit with it into an unlinked inode.
 * The device and inode of the path are recorded at open and compared with
 * the path before and after every write: when they differ the write is
 * refused (or, found after the commit, reported failed), so nothing is
 * acknowledged that a restart would not find. A stat() costs about a
 * microsecond next to a commit. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define SCHEMA_VERSION 3

static const char schema_v1[] =
	"CREATE TABLE cases ("
	" decision_id TEXT PRIMARY KEY NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('PENDING_IDV','ACTIVATED','DECLINED','EXPIRED')),"
	" created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
	" methods TEXT NOT NULL,"
	" phone TEXT, email TEXT, phone_masked TEXT, email_masked TEXT,"
	" cs_number TEXT, cs_hours TEXT, cs_line TEXT,"
	" language TEXT, pan_suffix TEXT, tr_id TEXT, tr_name TEXT,"
	" otp_sends INTEGER NOT NULL DEFAULT 0, otp_used INTEGER NOT NULL DEFAULT 0,"
	" card_id TEXT, act_method TEXT, agent_id TEXT, proof_sha256 TEXT, closed_ms INTEGER"
	") WITHOUT ROWID;"
	"CREATE INDEX cases_due ON cases(expires_ms) WHERE status = 'PENDING_IDV';"
	"CREATE INDEX cases_closed ON cases(updated_ms) WHERE status <> 'PENDING_IDV';"
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY,"
	" notification_id TEXT NOT NULL UNIQUE,"
	" decision_id TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('webhook','end_user','inapp_start')),"
	" event TEXT NOT NULL, payload TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','done','failed')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, done_ms INTEGER, last_error TEXT"
	");"
	"CREATE INDEX outbox_due ON outbox(next_ms) WHERE state = 'pending';"
	"CREATE INDEX outbox_case ON outbox(decision_id);";

/* Version 2: the token service's references of a case (MDES's
 * correlationId and tokenUniqueReference), to find it by them. */
static const char schema_v2[] =
	"ALTER TABLE cases ADD COLUMN network_ref TEXT;"
	"ALTER TABLE cases ADD COLUMN token_ref TEXT;"
	"CREATE INDEX cases_network_ref ON cases(network_ref, created_ms) WHERE network_ref IS NOT NULL;"
	"CREATE INDEX cases_token_ref ON cases(token_ref, created_ms) WHERE token_ref IS NOT NULL;";

/* Version 3: an activation code the issuer makes (its nonce and keyed
 * hash, never the code; wrong tries; expiry), and the token events the
 * token service reported about the case's token. */
static const char schema_v3[] =
	"ALTER TABLE cases ADD COLUMN code_nonce TEXT;"
	"ALTER TABLE cases ADD COLUMN code_hash TEXT;"
	"ALTER TABLE cases ADD COLUMN code_expires_ms INTEGER;"
	"ALTER TABLE cases ADD COLUMN code_attempts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cases ADD COLUMN token_events INTEGER NOT NULL DEFAULT 0;";

#define CASE_COLUMNS                                                                   \
	"decision_id, status, created_ms, updated_ms, expires_ms, methods, phone, email," \
	" phone_masked, email_masked, cs_number, cs_hours, cs_line, language, pan_suffix," \
	" tr_id, tr_name, otp_sends, otp_used, card_id, act_method, agent_id, proof_sha256," \
	" closed_ms, network_ref, token_ref, code_nonce, code_hash, code_expires_ms,"       \
	" code_attempts, token_events"

/* One X-macro line per prepared statement. */
#define STATEMENTS(X)                                                                          \
	X(BEGIN, "BEGIN IMMEDIATE")                                                            \
	X(COMMIT, "COMMIT")                                                                    \
	X(ROLLBACK, "ROLLBACK")                                                                \
	X(INSERT_CASE, "INSERT INTO cases (" CASE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6,"  \
	               " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"  \
	               " ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)")              \
	X(GET_CASE, "SELECT " CASE_COLUMNS " FROM cases WHERE decision_id = ?1")               \
	X(CLOSE_CASE, "UPDATE cases SET status = ?2, updated_ms = ?3, closed_ms = ?3,"         \
	              " card_id = ?4, act_method = ?5, agent_id = ?6, proof_sha256 = ?7"      \
	              " WHERE decision_id = ?1 AND status = 'PENDING_IDV'"                    \
	              " AND (?8 OR expires_ms > ?3)")                                          \
	X(RESERVE, "UPDATE cases SET otp_sends = otp_sends + 1, updated_ms = ?2"               \
	           " WHERE decision_id = ?1 AND status = 'PENDING_IDV' AND expires_ms > ?2"   \
	           " AND otp_sends < ?3 AND instr(',' || methods || ',', ',' || ?4 || ',') > 0") \
	X(MARK_SENT, "UPDATE cases SET otp_used = otp_used | ?2 WHERE decision_id = ?1")       \
	X(RELEASE, "UPDATE cases SET otp_sends = otp_sends - 1"                                \
	           " WHERE decision_id = ?1 AND otp_sends > 0")                               \
	X(FIND_NET, "SELECT decision_id FROM cases WHERE network_ref = ?1"                    \
	            " ORDER BY created_ms DESC LIMIT 1")                                       \
	X(FIND_TOKEN, "SELECT decision_id FROM cases WHERE token_ref = ?1"                    \
	              " ORDER BY created_ms DESC LIMIT 1")                                     \
	X(SET_TOKEN, "UPDATE cases SET token_ref = ?2 WHERE decision_id = ?1 AND token_ref IS NULL") \
	X(SET_CODE, "UPDATE cases SET code_nonce = ?2, code_hash = ?3, code_expires_ms = ?4,"   \
	            " code_attempts = 0, updated_ms = ?6 WHERE decision_id = ?1"                 \
	            " AND status = 'PENDING_IDV' AND expires_ms > ?6 AND (code_hash IS NULL"    \
	            " OR code_expires_ms <= ?6 OR code_attempts >= ?5)")                         \
	X(CODE_RIGHT, "UPDATE cases SET code_nonce = NULL, code_hash = NULL, updated_ms = ?4"  \
	              " WHERE decision_id = ?1 AND status = 'PENDING_IDV' AND expires_ms > ?4" \
	              " AND code_hash = ?2 AND code_expires_ms > ?4 AND code_attempts < ?3")   \
	X(CODE_WRONG, "UPDATE cases SET code_attempts = code_attempts + 1, updated_ms = ?3"    \
	              " WHERE decision_id = ?1 AND status = 'PENDING_IDV' AND expires_ms > ?3" \
	              " AND code_hash IS NOT NULL AND code_expires_ms > ?3 AND code_attempts < ?2") \
	X(COUNT_EVENT, "UPDATE cases SET token_events = token_events + 1 WHERE decision_id = ?1") \
	X(LIST_DUE, "SELECT decision_id FROM cases WHERE status = 'PENDING_IDV'"               \
	            " AND expires_ms <= ?1 ORDER BY expires_ms LIMIT ?2")                     \
	X(INSERT_OB, "INSERT OR IGNORE INTO outbox (notification_id, decision_id, kind, event," \
	             " payload, next_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")     \
	X(CLAIM, "SELECT id, notification_id, decision_id, kind, event, payload, attempts,"    \
	         " next_ms, created_ms FROM outbox WHERE state = 'pending' AND next_ms <= ?1"  \
	         " ORDER BY next_ms, id LIMIT ?2")                                             \
	X(CLAIM_ALL, "SELECT id, notification_id, decision_id, kind, event, payload, attempts," \
	             " next_ms, created_ms FROM outbox WHERE state = 'pending' AND id > ?1"     \
	             " ORDER BY id LIMIT ?2")                                                   \
	X(LEASE, "UPDATE outbox SET next_ms = ?2 WHERE id = ?1")                               \
	X(ACK, "UPDATE outbox SET state = 'done', attempts = ?2, done_ms = ?3,"                \
	       " last_error = NULL WHERE id = ?1")                                             \
	X(RETRY, "UPDATE outbox SET attempts = ?2, next_ms = ?3, last_error = ?4 WHERE id = ?1") \
	X(GIVE_UP, "UPDATE outbox SET state = 'failed', attempts = ?2, done_ms = ?3,"          \
	           " last_error = ?4 WHERE id = ?1")                                           \
	X(NEXT_DUE, "SELECT MIN(next_ms) FROM outbox WHERE state = 'pending'")                 \
	X(PENDING, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")                      \
	X(ERASE, "UPDATE cases SET phone = NULL, email = NULL WHERE status <> 'PENDING_IDV'"   \
	         " AND (phone IS NOT NULL OR email IS NOT NULL) AND NOT EXISTS (SELECT 1"      \
	         " FROM outbox o WHERE o.decision_id = cases.decision_id"                      \
	         " AND o.kind = 'end_user' AND o.state = 'pending')")                          \
	X(DELETE_OB, "DELETE FROM outbox WHERE state <> 'pending' AND (decision_id IN"         \
	             " (SELECT decision_id FROM cases WHERE status <> 'PENDING_IDV'"           \
	             " AND updated_ms < ?1) OR (decision_id = '' AND done_ms < ?1))")         \
	X(DELETE_CASES, "DELETE FROM cases WHERE status <> 'PENDING_IDV' AND updated_ms < ?1"  \
	                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE"                         \
	                " o.decision_id = cases.decision_id AND o.state = 'pending')")

enum {
#define X(name, sql) S_##name,
	STATEMENTS(X)
#undef X
	S_COUNT
};

static const char *const statement_sql[S_COUNT] = {
#define X(name, sql) sql,
	STATEMENTS(X)
#undef X
};

typedef struct sq_store {
	su_store base;
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
	pthread_mutex_t mu;
	int failed;        /* the call under mu has recorded its error */
	char *path;        /* as configured, made absolute */
	dev_t dev;         /* the file opened, for same_file() */
	ino_t ino;
} sq_store;

/* The reason of the last STEPUP_EIO a store call returned on this thread
 * (callers read it right after the call, on the same thread). */
static _Thread_local char last_err[256];

static const char *const kind_names[] = { "webhook", "end_user", "inapp_start" };

/* ---- plumbing -------------------------------------------------------------- */

/* Take the connection for one call: its first failure is yet to come. */
static void lock(sq_store *s)
{
	pthread_mutex_lock(&s->mu);
	s->failed = 0;
}

static void unlock(sq_store *s)
{
	pthread_mutex_unlock(&s->mu);
}

/* Record the call's failure, unless it already has one (a failed
 * rollback after a failed commit must not hide why the commit failed);
 * always STEPUP_EIO. Caller holds mu. */
static int fail_msg(sq_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail_msg(sq_store *s, const char *fmt, ...)
{
	va_list ap;
	if (s->failed)
		return STEPUP_EIO;
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	return STEPUP_EIO;
}

/* A failure of the statement just stepped (before it is reset). */
static int fail(sq_store *s, const char *what)
{
	return fail_msg(s, "%s: %s (SQLite error %d)", what, sqlite3_errmsg(s->db),
	                sqlite3_extended_errcode(s->db));
}

/* Whether the path still names the file we opened (see the top). */
static int same_file(const sq_store *s, char *why, size_t size)
{
	struct stat st;
	if (stat(s->path, &st) != 0) {
		snprintf(why, size, "the database file %s is gone (%s): it was deleted or moved under the running process; writes are refused until it is back or the store is reopened",
		         s->path, strerror(errno));
		return 0;
	}
	if (st.st_dev != s->dev || st.st_ino != s->ino) {
		snprintf(why, size, "the database file %s was replaced by another file under the running process; writes are refused until the store is reopened",
		         s->path);
		return 0;
	}
	return 1;
}

/* Before and after a write: STEPUP_OK while the file is ours. */
static int check_file(sq_store *s)
{
	char why[sizeof(last_err)];
	if (same_file(s, why, sizeof(why)))
		return STEPUP_OK;
	return fail_msg(s, "%s", why);
}

static sqlite3_stmt *stmt(sq_store *s, int k)
{
	sqlite3_stmt *st = s->st[k];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Run a statement that returns no row. */
static int exec(sq_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fail(s, what);
		sqlite3_reset(st);
		return STEPUP_EIO;
	}
	sqlite3_reset(st);
	return STEPUP_OK;
}

/* A write outside a transaction (one statement is its own): the file
 * checked before it and after it. */
static int exec_write(sq_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = check_file(s);
	if (rc == STEPUP_OK && (rc = exec(s, st, what)) == STEPUP_OK)
		rc = check_file(s);
	return rc;
}

/* Leave a failed transaction, if SQLite has not already (it rolls back by
 * itself on some errors, disk full among them); keeps the first error. */
static int rollback(sq_store *s, int rc)
{
	if (!sqlite3_get_autocommit(s->db)) {
		sqlite3_stmt *st = stmt(s, S_ROLLBACK);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	return rc;
}

/* A write transaction starts only on our own file. */
static int begin(sq_store *s)
{
	int rc = check_file(s);
	return rc == STEPUP_OK ? exec(s, stmt(s, S_BEGIN), "begin") : rc;
}

/* Commit, and acknowledge only if the file is still ours afterwards: a
 * commit into a file deleted or replaced meanwhile is lost at restart. */
static int commit(sq_store *s)
{
	int rc = exec(s, stmt(s, S_COMMIT), "commit");
	if (rc != STEPUP_OK)
		return rollback(s, rc);
	return check_file(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v && v[0])
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	snprintf(dst, size, "%s", v ? (const char *)v : "");
}

static int method_parse(const char *s)
{
	for (int m = 0; m < STEPUP_METHOD_COUNT; m++)
		if (strcmp(s, stepup_method_name((stepup_method)m)) == 0)
			return m;
	return -1;
}

/* "IN_APP,OTP_SMS" in offer order. */
static void methods_text(const su_case *c, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < c->nmethods && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "",
		                      stepup_method_name((stepup_method)c->methods[i]));
}

static void methods_parse(su_case *c, const char *text)
{
	char buf[128], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", text);
	c->nmethods = 0;
	for (char *t = strtok_r(buf, ",", &save); t && c->nmethods < STEPUP_METHOD_COUNT;
	     t = strtok_r(NULL, ",", &save)) {
		int m = method_parse(t);
		if (m >= 0)
			c->methods[c->nmethods++] = (uint8_t)m;
	}
}

static void row_to_case(sqlite3_stmt *st, su_case *c)
{
	char buf[128];
	memset(c, 0, sizeof(*c));
	col_text(st, 0, c->decision_id, sizeof(c->decision_id));
	col_text(st, 1, buf, sizeof(buf));
	int status = su_case_status_parse(buf);
	c->status = status < 0 ? SU_CASE_EXPIRED : (su_case_status)status;
	c->created_ms = sqlite3_column_int64(st, 2);
	c->updated_ms = sqlite3_column_int64(st, 3);
	c->expires_ms = sqlite3_column_int64(st, 4);
	col_text(st, 5, buf, sizeof(buf));
	methods_parse(c, buf);
	col_text(st, 6, c->phone, sizeof(c->phone));
	col_text(st, 7, c->email, sizeof(c->email));
	col_text(st, 8, c->phone_masked, sizeof(c->phone_masked));
	col_text(st, 9, c->email_masked, sizeof(c->email_masked));
	col_text(st, 10, c->cs_number, sizeof(c->cs_number));
	col_text(st, 11, c->cs_hours, sizeof(c->cs_hours));
	col_text(st, 12, buf, sizeof(buf));
	c->cs_line = strcmp(buf, "FRAUD") == 0 ? STEPUP_LINE_FRAUD : STEPUP_LINE_STANDARD;
	col_text(st, 13, c->language, sizeof(c->language));
	col_text(st, 14, c->pan_suffix, sizeof(c->pan_suffix));
	col_text(st, 15, c->tr_id, sizeof(c->tr_id));
	col_text(st, 16, c->tr_name, sizeof(c->tr_name));
	c->otp_sends = (unsigned)sqlite3_column_int64(st, 17);
	c->otp_used = (unsigned)sqlite3_column_int64(st, 18);
	col_text(st, 19, c->card_id, sizeof(c->card_id));
	col_text(st, 20, buf, sizeof(buf));
	c->act_method = buf[0] ? method_parse(buf) : -1;
	col_text(st, 21, c->agent_id, sizeof(c->agent_id));
	col_text(st, 22, c->proof_sha256, sizeof(c->proof_sha256));
	c->closed_ms = sqlite3_column_int64(st, 23);
	col_text(st, 24, c->network_ref, sizeof(c->network_ref));
	col_text(st, 25, c->token_ref, sizeof(c->token_ref));
	col_text(st, 26, c->code_nonce, sizeof(c->code_nonce));
	col_text(st, 27, c->code_hash, sizeof(c->code_hash));
	c->code_expires_ms = sqlite3_column_int64(st, 28);
	c->code_attempts = (unsigned)sqlite3_column_int64(st, 29);
	c->token_events = (unsigned)sqlite3_column_int64(st, 30);
}

/* Read one case; caller holds mu. */
static int get_locked(sq_store *s, const char *id, su_case *out)
{
	sqlite3_stmt *st = stmt(s, S_GET_CASE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_to_case(st, out);
	rc = rc == SQLITE_ROW ? STEPUP_OK : rc == SQLITE_DONE ? STEPUP_ENOTFOUND : fail(s, "read case");
	sqlite3_reset(st);
	return rc;
}

static int insert_outbox(sq_store *s, const su_outbox *ob, size_t nob)
{
	for (size_t i = 0; i < nob; i++) {
		sqlite3_stmt *st = stmt(s, S_INSERT_OB);
		sqlite3_bind_text(st, 1, ob[i].notification_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ob[i].decision_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, kind_names[ob[i].kind], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, ob[i].event, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, ob[i].payload ? ob[i].payload : "{}", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, ob[i].next_ms);
		sqlite3_bind_int64(st, 7, ob[i].created_ms);
		int rc = exec(s, st, "queue notification");
		if (rc != STEPUP_OK)
			return rc;
	}
	return STEPUP_OK;
}

/* ---- operations ------------------------------------------------------------ */

#define SQ(s) ((sq_store *)(s))

static void sq_error(su_store *base, char *buf, size_t size)
{
	(void)base;
	snprintf(buf, size, "%s", last_err[0] ? last_err : "no error");
}

static int sq_health(su_store *base, char *buf, size_t size)
{
	return same_file(SQ(base), buf, size) ? STEPUP_OK : STEPUP_EIO;
}

static int sq_insert(su_store *base, const su_case *c, const su_outbox *ob, size_t nob)
{
	sq_store *s = SQ(base);
	char methods[128];
	int rc;

	methods_text(c, methods, sizeof(methods));
	lock(s);
	if ((rc = begin(s)) != STEPUP_OK)
		goto out;
	sqlite3_stmt *st = stmt(s, S_INSERT_CASE);
	sqlite3_bind_text(st, 1, c->decision_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, su_case_status_name(c->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->created_ms);
	sqlite3_bind_int64(st, 4, c->updated_ms);
	sqlite3_bind_int64(st, 5, c->expires_ms);
	sqlite3_bind_text(st, 6, methods, -1, SQLITE_STATIC);
	bind_text(st, 7, c->phone);
	bind_text(st, 8, c->email);
	bind_text(st, 9, c->phone_masked);
	bind_text(st, 10, c->email_masked);
	bind_text(st, 11, c->cs_number);
	bind_text(st, 12, c->cs_hours);
	sqlite3_bind_text(st, 13, stepup_cs_line_name(c->cs_line), -1, SQLITE_STATIC);
	bind_text(st, 14, c->language);
	bind_text(st, 15, c->pan_suffix);
	bind_text(st, 16, c->tr_id);
	bind_text(st, 17, c->tr_name);
	sqlite3_bind_int64(st, 18, c->otp_sends);
	sqlite3_bind_int64(st, 19, c->otp_used);
	bind_text(st, 20, c->card_id);
	if (c->act_method >= 0)
		sqlite3_bind_text(st, 21, stepup_method_name((stepup_method)c->act_method), -1,
		                  SQLITE_STATIC);
	bind_text(st, 22, c->agent_id);
	bind_text(st, 23, c->proof_sha256);
	if (c->closed_ms)
		sqlite3_bind_int64(st, 24, c->closed_ms);
	bind_text(st, 25, c->network_ref);
	bind_text(st, 26, c->token_ref);
	bind_text(st, 27, c->code_nonce);
	bind_text(st, 28, c->code_hash);
	if (c->code_hash[0])
		sqlite3_bind_int64(st, 29, c->code_expires_ms);
	sqlite3_bind_int64(st, 30, c->code_attempts);
	sqlite3_bind_int64(st, 31, c->token_events);
	int step = sqlite3_step(st);
	if (step != SQLITE_DONE && step != SQLITE_CONSTRAINT)
		fail(s, "insert case");
	sqlite3_reset(st);
	if (step == SQLITE_CONSTRAINT) {
		rc = rollback(s, STEPUP_ECONFLICT);
		goto out;
	}
	if (step != SQLITE_DONE) {
		rc = rollback(s, STEPUP_EIO);
		goto out;
	}
	if ((rc = insert_outbox(s, ob, nob)) != STEPUP_OK) {
		rc = rollback(s, rc);
		goto out;
	}
	rc = commit(s);
out:
	unlock(s);
	return rc;
}

static int sq_get(su_store *base, const char *id, su_case *out)
{
	sq_store *s = SQ(base);
	lock(s);
	int rc = get_locked(s, id, out);
	unlock(s);
	return rc;
}

static int sq_close_case(su_store *base, const su_case *c, const su_outbox *ob, size_t nob,
                         su_case *cur)
{
	sq_store *s = SQ(base);
	int rc;

	lock(s);
	if ((rc = begin(s)) != STEPUP_OK)
		goto out;
	sqlite3_stmt *st = stmt(s, S_CLOSE_CASE);
	sqlite3_bind_text(st, 1, c->decision_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, su_case_status_name(c->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->closed_ms);
	bind_text(st, 4, c->card_id);
	if (c->act_method >= 0)
		sqlite3_bind_text(st, 5, stepup_method_name((stepup_method)c->act_method), -1,
		                  SQLITE_STATIC);
	bind_text(st, 6, c->agent_id);
	bind_text(st, 7, c->proof_sha256);
	sqlite3_bind_int(st, 8, c->status == SU_CASE_EXPIRED);
	if ((rc = exec(s, st, "close case")) != STEPUP_OK) {
		rc = rollback(s, rc);
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		/* Lost the race, or it was never pending: tell the caller what
		 * is there, read in the same transaction. */
		rc = get_locked(s, c->decision_id, cur);
		rc = rollback(s, rc == STEPUP_OK ? STEPUP_ECONFLICT : rc);
		goto out;
	}
	if ((rc = insert_outbox(s, ob, nob)) != STEPUP_OK) {
		rc = rollback(s, rc);
		goto out;
	}
	if ((rc = commit(s)) == STEPUP_OK && cur)
		get_locked(s, c->decision_id, cur);
out:
	unlock(s);
	return rc;
}

static int sq_reserve_send(su_store *base, const char *id, stepup_method m, unsigned limit,
                           int64_t now_ms, su_case *cur)
{
	sq_store *s = SQ(base);
	int rc;

	lock(s);
	sqlite3_stmt *st = stmt(s, S_RESERVE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, limit);
	sqlite3_bind_text(st, 4, stepup_method_name(m), -1, SQLITE_STATIC);
	/* One statement is its own transaction: the check and the count are
	 * atomic, so concurrent sends can never exceed the limit. */
	if ((rc = exec_write(s, st, "count OTP send")) == STEPUP_OK) {
		int changed = sqlite3_changes(s->db) > 0;
		rc = get_locked(s, id, cur);
		if (rc == STEPUP_OK && !changed)
			rc = STEPUP_ECONFLICT;
	}
	unlock(s);
	return rc;
}

static int sq_finish_send(su_store *base, const char *id, stepup_method m, int ok)
{
	sq_store *s = SQ(base);
	lock(s);
	sqlite3_stmt *st = stmt(s, ok ? S_MARK_SENT : S_RELEASE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (ok)
		sqlite3_bind_int64(st, 2, 1u << m);
	int rc = exec_write(s, st, ok ? "mark OTP sent" : "give back OTP send");
	unlock(s);
	return rc;
}

static int sq_set_code(su_store *base, const char *id, const char *nonce, const char *hash,
                       int64_t expires_ms, unsigned max_attempts, int64_t now_ms, su_case *cur)
{
	sq_store *s = SQ(base);
	int rc;

	lock(s);
	sqlite3_stmt *st = stmt(s, S_SET_CODE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, nonce, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, expires_ms);
	sqlite3_bind_int64(st, 5, max_attempts);
	sqlite3_bind_int64(st, 6, now_ms);
	/* One statement: two deliveries at once agree on one code. */
	if ((rc = exec_write(s, st, "set activation code")) == STEPUP_OK &&
	    (rc = get_locked(s, id, cur)) == STEPUP_OK &&
	    (cur->status != SU_CASE_PENDING || cur->expires_ms <= now_ms))
		rc = STEPUP_ECONFLICT;
	unlock(s);
	return rc;
}

static int sq_try_code(su_store *base, const char *id, const char *hash, unsigned max_attempts,
                       int64_t now_ms, su_code_try *result, unsigned *attempts)
{
	sq_store *s = SQ(base);
	su_case cur;
	int rc;

	*result = SU_CODE_VOID;
	*attempts = 0;
	lock(s);
	if ((rc = begin(s)) != STEPUP_OK)
		goto out;
	/* Keyed hashes are compared: how long it takes says nothing of the
	 * code. */
	sqlite3_stmt *st = stmt(s, S_CODE_RIGHT);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, max_attempts);
	sqlite3_bind_int64(st, 4, now_ms);
	if ((rc = exec(s, st, "use activation code")) != STEPUP_OK)
		goto undo;
	int right = sqlite3_changes(s->db) > 0, wrong = 0;
	if (!right) {
		st = stmt(s, S_CODE_WRONG);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, max_attempts);
		sqlite3_bind_int64(st, 3, now_ms);
		if ((rc = exec(s, st, "count activation code try")) != STEPUP_OK)
			goto undo;
		wrong = sqlite3_changes(s->db) > 0;
	}
	if ((rc = get_locked(s, id, &cur)) != STEPUP_OK)
		goto undo;
	if ((rc = commit(s)) != STEPUP_OK)
		goto out;
	*attempts = cur.code_attempts;
	*result = right ? SU_CODE_RIGHT : !wrong ? SU_CODE_VOID
	                                         : cur.code_attempts >= max_attempts ? SU_CODE_WRONG_LAST : SU_CODE_WRONG;
	explicit_bzero(&cur, sizeof(cur));
	goto out;
undo:
	rollback(s, rc);
out:
	unlock(s);
	return rc;
}

static int sq_token_event(su_store *base, const char *id, const su_outbox *ob, int *fresh)
{
	sq_store *s = SQ(base);
	int rc;

	*fresh = 0;
	lock(s);
	if ((rc = begin(s)) != STEPUP_OK)
		goto out;
	int inserted = 1;
	if (ob) {
		if ((rc = insert_outbox(s, ob, 1)) != STEPUP_OK)
			goto undo;
		inserted = sqlite3_changes(s->db) > 0;
	}
	if (id && id[0] && inserted) {
		sqlite3_stmt *st = stmt(s, S_COUNT_EVENT);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if ((rc = exec(s, st, "count token event")) != STEPUP_OK)
			goto undo;
	}
	if ((rc = commit(s)) == STEPUP_OK)
		*fresh = inserted;
	goto out;
undo:
	rollback(s, rc);
out:
	unlock(s);
	return rc;
}

static int sq_list_due(su_store *base, int64_t now_ms, char (*ids)[SU_DECISION_ID_MAX + 1],
                       size_t max, size_t *n)
{
	sq_store *s = SQ(base);
	int rc = STEPUP_OK, step;

	*n = 0;
	lock(s);
	sqlite3_stmt *st = stmt(s, S_LIST_DUE);
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		col_text(st, 0, ids[(*n)++], SU_DECISION_ID_MAX + 1);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = fail(s, "list due cases");
	sqlite3_reset(st);
	unlock(s);
	return rc;
}

static int kind_parse(const char *k)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(k, kind_names[i]) == 0)
			return i;
	return SU_OB_WEBHOOK;
}

static int sq_claim(su_store *base, int64_t now_ms, int64_t after_id, int64_t lease_ms,
                    su_outbox *out, size_t max, size_t *n)
{
	sq_store *s = SQ(base);
	int rc, step;
	char buf[32];

	*n = 0;
	lock(s);
	if ((rc = begin(s)) != STEPUP_OK)
		goto out;
	sqlite3_stmt *st = stmt(s, after_id < 0 ? S_CLAIM : S_CLAIM_ALL);
	sqlite3_bind_int64(st, 1, after_id < 0 ? now_ms : after_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		su_outbox *o = &out[*n];
		const unsigned char *p = sqlite3_column_text(st, 5);
		memset(o, 0, sizeof(*o));
		o->id = sqlite3_column_int64(st, 0);
		col_text(st, 1, o->notification_id, sizeof(o->notification_id));
		col_text(st, 2, o->decision_id, sizeof(o->decision_id));
		col_text(st, 3, buf, sizeof(buf));
		o->kind = (su_ob_kind)kind_parse(buf);
		col_text(st, 4, o->event, sizeof(o->event));
		o->payload = strdup(p ? (const char *)p : "{}");
		o->attempts = (unsigned)sqlite3_column_int64(st, 6);
		o->next_ms = sqlite3_column_int64(st, 7);
		o->created_ms = sqlite3_column_int64(st, 8);
		(*n)++;
		if (!o->payload) {
			step = SQLITE_NOMEM;
			break;
		}
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = step == SQLITE_NOMEM ? STEPUP_ENOMEM : fail(s, "claim notifications");
	sqlite3_reset(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		goto undo;
	for (size_t i = 0; i < *n; i++) {
		st = stmt(s, S_LEASE);
		sqlite3_bind_int64(st, 1, out[i].id);
		sqlite3_bind_int64(st, 2, now_ms + lease_ms);
		if ((rc = exec(s, st, "lease notification")) != STEPUP_OK)
			goto undo;
	}
	if ((rc = commit(s)) == STEPUP_OK)
		goto out;
undo:
	rollback(s, rc);
	for (size_t i = 0; i < *n; i++)
		su_outbox_clear(&out[i]);
	*n = 0;
out:
	unlock(s);
	return rc;
}

static int finish_row(su_store *base, int k, int64_t id, unsigned attempts, int64_t ms,
                      const char *why, const char *what)
{
	sq_store *s = SQ(base);
	lock(s);
	sqlite3_stmt *st = stmt(s, k);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, attempts);
	sqlite3_bind_int64(st, 3, ms);
	if (k != S_ACK)
		bind_text(st, 4, why);
	int rc = exec_write(s, st, what);
	unlock(s);
	return rc;
}

static int sq_ack(su_store *s, int64_t id, unsigned attempts, int64_t now_ms)
{
	return finish_row(s, S_ACK, id, attempts, now_ms, NULL, "acknowledge notification");
}

static int sq_retry(su_store *s, int64_t id, unsigned attempts, int64_t next_ms, const char *why)
{
	return finish_row(s, S_RETRY, id, attempts, next_ms, why, "reschedule notification");
}

static int sq_give_up(su_store *s, int64_t id, unsigned attempts, int64_t now_ms, const char *why)
{
	return finish_row(s, S_GIVE_UP, id, attempts, now_ms, why, "fail notification");
}

/* A query with one integer result: STEPUP_ENOTFOUND when it is NULL. */
static int one_int(sq_store *s, int k, int64_t *v, const char *what)
{
	lock(s);
	sqlite3_stmt *st = stmt(s, k);
	int step = sqlite3_step(st), rc = STEPUP_OK;
	if (step != SQLITE_ROW)
		rc = fail(s, what);
	else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		rc = STEPUP_ENOTFOUND;
	else
		*v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	unlock(s);
	return rc;
}

static int sq_next_due(su_store *base, int64_t *next_ms)
{
	return one_int(SQ(base), S_NEXT_DUE, next_ms, "next notification");
}

static int sq_pending(su_store *base, uint64_t *n)
{
	int64_t v = 0;
	int rc = one_int(SQ(base), S_PENDING, &v, "count notifications");
	*n = rc == STEPUP_OK ? (uint64_t)v : 0;
	return rc;
}

static int sq_purge(su_store *base, int64_t before_ms, unsigned *erased, unsigned *deleted)
{
	sq_store *s = SQ(base);
	int rc;
	unsigned e = 0, d = 0;

	lock(s);
	if ((rc = begin(s)) != STEPUP_OK)
		goto out;
	if ((rc = exec(s, stmt(s, S_ERASE), "erase contacts")) != STEPUP_OK)
		goto undo;
	e = (unsigned)sqlite3_changes(s->db);
	if (before_ms > 0) {
		sqlite3_stmt *st = stmt(s, S_DELETE_OB);
		sqlite3_bind_int64(st, 1, before_ms);
		if ((rc = exec(s, st, "delete old notifications")) != STEPUP_OK)
			goto undo;
		st = stmt(s, S_DELETE_CASES);
		sqlite3_bind_int64(st, 1, before_ms);
		if ((rc = exec(s, st, "delete old cases")) != STEPUP_OK)
			goto undo;
		d = (unsigned)sqlite3_changes(s->db);
	}
	if ((rc = commit(s)) == STEPUP_OK)
		goto out;
undo:
	rollback(s, rc);
	e = d = 0;
out:
	unlock(s);
	if (erased)
		*erased = e;
	if (deleted)
		*deleted = d;
	return rc;
}

static void sq_close(su_store *base)
{
	sq_store *s = SQ(base);
	if (!s)
		return;
	for (int k = 0; k < S_COUNT; k++)
		sqlite3_finalize(s->st[k]);
	/* The last connection to close checkpoints the WAL and removes it. */
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s->path);
	free(s);
}

static int sq_find_ref(su_store *base, const char *network_ref, const char *token_ref,
                       char id[SU_DECISION_ID_MAX + 1])
{
	sq_store *s = SQ(base);
	int rc = STEPUP_ENOTFOUND;
	lock(s);
	for (int k = 0; k < 2 && rc == STEPUP_ENOTFOUND; k++) {
		const char *ref = k ? token_ref : network_ref;
		if (!ref || !ref[0])
			continue;
		sqlite3_stmt *st = stmt(s, k ? S_FIND_TOKEN : S_FIND_NET);
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			col_text(st, 0, id, SU_DECISION_ID_MAX + 1);
			rc = STEPUP_OK;
		} else if (step != SQLITE_DONE)
			rc = fail(s, "find case");
		sqlite3_reset(st);
	}
	unlock(s);
	return rc;
}

static int sq_set_token_ref(su_store *base, const char *id, const char *token_ref)
{
	sq_store *s = SQ(base);
	lock(s);
	sqlite3_stmt *st = stmt(s, S_SET_TOKEN);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, token_ref, -1, SQLITE_STATIC);
	int rc = exec_write(s, st, "record token reference");
	unlock(s);
	return rc;
}

static const su_store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.error = sq_error,
	.insert = sq_insert,
	.get = sq_get,
	.close_case = sq_close_case,
	.reserve_send = sq_reserve_send,
	.finish_send = sq_finish_send,
	.find_ref = sq_find_ref,
	.set_token_ref = sq_set_token_ref,
	.set_code = sq_set_code,
	.try_code = sq_try_code,
	.token_event = sq_token_event,
	.list_due = sq_list_due,
	.claim = sq_claim,
	.ack = sq_ack,
	.retry = sq_retry,
	.give_up = sq_give_up,
	.next_due = sq_next_due,
	.pending = sq_pending,
	.purge = sq_purge,
	.health = sq_health,
};

/* ---- opening ---------------------------------------------------------------- */

/* Why the database cannot be used, worded so an operator knows what to
 * do: a corrupt file is told apart from everything else. */
static void open_error(sqlite3 *db, const char *path, const char *what, char *err, size_t errlen)
{
	int code = db ? sqlite3_extended_errcode(db) : SQLITE_CANTOPEN;
	const char *msg = db ? sqlite3_errmsg(db) : "cannot open";
	if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB)
		su_set_err(err, errlen,
		           "%s: the database is corrupt (%s: %s): restore it from a backup or move it away",
		           path, what, msg);
	else
		su_set_err(err, errlen, "%s: %s: %s (SQLite error %d)", path, what, msg, code);
}

/* PRAGMA quick_check (the b-trees and their indexes, without the costlier
 * cross-checks of integrity_check): STEPUP_OK, or STEPUP_EIO with what it
 * found. Its findings name pages, tables and indexes, never a value. */
static int quick_check(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char found[400] = "";
	size_t n = 0;
	int step, rows = 0, ok = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &st, NULL) != SQLITE_OK) {
		open_error(db, path, "quick_check", err, errlen);
		return STEPUP_EIO;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		rows++;
		if (v && strcmp((const char *)v, "ok") == 0)
			ok = 1;
		else if (n < sizeof(found))
			n += (size_t)snprintf(found + n, sizeof(found) - n, "%s%s", n ? "; " : "",
			                      v ? (const char *)v : "?");
	}
	if (step != SQLITE_DONE) {
		open_error(db, path, "quick_check", err, errlen);
		sqlite3_finalize(st);
		return STEPUP_EIO;
	}
	sqlite3_finalize(st);
	if (rows == 1 && ok)
		return STEPUP_OK;
	for (char *p = found; *p; p++)
		if (*p == '\n')
			*p = ' ';
	su_set_err(err, errlen,
	           "%s: the database is corrupt (quick_check: %s): restore it from a backup or move it away",
	           path, found[0] ? found : "no answer");
	return STEPUP_EIO;
}

/* A pragma whose answer we check, e.g. journal_mode -> "wal". */
static int pragma_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	buf[0] = '\0';
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		snprintf(buf, size, "%s", v ? (const char *)v : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(st);
	return rc;
}

/* The schema version of db: STEPUP_OK, STEPUP_EVERSION (newer than ours)
 * or STEPUP_EIO, with the reason in err. */
static int schema_version(sqlite3 *db, const char *path, long *version, char *err, size_t errlen)
{
	char v[32];
	if (pragma_text(db, "PRAGMA user_version", v, sizeof(v)) != SQLITE_OK) {
		open_error(db, path, "read schema version", err, errlen);
		return STEPUP_EIO;
	}
	*version = strtol(v, NULL, 10);
	if (*version > SCHEMA_VERSION) {
		su_set_err(err, errlen,
		           "%s: schema version %ld was written by a newer stepup (this one knows %d)", path,
		           *version, SCHEMA_VERSION);
		return STEPUP_EVERSION;
	}
	return STEPUP_OK;
}

/* Create or check the schema, under a write lock so that two processes
 * opening a new file at once do not both create it. */
static int setup_schema(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	long version;
	int rc;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		open_error(db, path, "lock for schema", err, errlen);
		return STEPUP_EIO;
	}
	if ((rc = schema_version(db, path, &version, err, errlen)) != STEPUP_OK)
		goto undo;
	if (version == 0) {
		if (sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL) != SQLITE_OK) {
			open_error(db, path, "create schema", err, errlen);
			rc = STEPUP_EIO;
			goto undo;
		}
	}
	/* Later versions migrate here, one step at a time, in this transaction. */
	if (version < 2 && (sqlite3_exec(db, schema_v2, NULL, NULL, NULL) != SQLITE_OK ||
	                    sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL) != SQLITE_OK)) {
		open_error(db, path, "migrate schema to version 2", err, errlen);
		rc = STEPUP_EIO;
		goto undo;
	}
	if (version < 3 && (sqlite3_exec(db, schema_v3, NULL, NULL, NULL) != SQLITE_OK ||
	                    sqlite3_exec(db, "PRAGMA user_version = 3", NULL, NULL, NULL) != SQLITE_OK)) {
		open_error(db, path, "migrate schema to version 3", err, errlen);
		rc = STEPUP_EIO;
		goto undo;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		open_error(db, path, "commit schema", err, errlen);
		rc = STEPUP_EIO;
		goto undo;
	}
	return STEPUP_OK;
undo:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* path, absolute (the process may change directory later); malloc'd. */
static char *absolute(const char *path)
{
	char cwd[4096];
	char *abs = NULL;
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	return asprintf(&abs, "%s/%s", cwd, path) < 0 ? NULL : abs;
}

int su_store_sqlite_open(const su_store_config *cfg, su_store **out, char *err, size_t errlen)
{
	sq_store *s;
	char v[32];
	struct stat st;
	int rc = STEPUP_EIO, fd;

	*out = NULL;
	/* Contact data lives here: the file (and the -wal/-shm files, which
	 * SQLite gives the same mode) must not be world-readable. */
	fd = open(cfg->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		su_set_err(err, errlen, "%s: %s", cfg->path, strerror(errno));
		return STEPUP_EIO;
	}
	close(fd);
	if (!(s = calloc(1, sizeof(*s))))
		return STEPUP_ENOMEM;
	s->base.ops = &sq_ops;
	pthread_mutex_init(&s->mu, NULL);
	if (!(s->path = absolute(cfg->path))) {
		rc = STEPUP_ENOMEM;
		goto fail;
	}
	/* NOMUTEX: our own mutex serialises the connection. */
	if (sqlite3_open_v2(cfg->path, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		open_error(s->db, cfg->path, "open", err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, (int)cfg->busy_timeout_ms);
	sqlite3_extended_result_codes(s->db, 0);
	/* Before anything writes: a corrupt file is refused with a reason at
	 * start, not found by the first case that lands on a bad page. */
	if ((rc = quick_check(s->db, cfg->path, err, errlen)) != STEPUP_OK)
		goto fail;
	rc = STEPUP_EIO;
	if (pragma_text(s->db, "PRAGMA journal_mode = WAL", v, sizeof(v)) != SQLITE_OK) {
		open_error(s->db, cfg->path, "cannot use WAL mode", err, errlen);
		goto fail;
	}
	if (strcmp(v, "wal") != 0) {
		su_set_err(err, errlen, "%s: cannot use WAL mode (%s)", cfg->path, v);
		goto fail;
	}
	if (sqlite3_exec(s->db, cfg->synchronous_full ? "PRAGMA synchronous = FULL"
	                                              : "PRAGMA synchronous = NORMAL",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    /* Erased contacts are overwritten, not just unlinked from the b-tree. */
	    sqlite3_exec(s->db, "PRAGMA secure_delete = ON", NULL, NULL, NULL) != SQLITE_OK) {
		open_error(s->db, cfg->path, "settings", err, errlen);
		goto fail;
	}
	if ((rc = setup_schema(s->db, cfg->path, err, errlen)) != STEPUP_OK)
		goto fail;
	rc = STEPUP_EIO;
	for (int k = 0; k < S_COUNT; k++)
		if (sqlite3_prepare_v3(s->db, statement_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->st[k],
		                       NULL) != SQLITE_OK) {
			open_error(s->db, cfg->path, "prepare", err, errlen);
			goto fail;
		}
	/* The file SQLite has open (it is open, so the path names it now). */
	if (stat(s->path, &st) != 0) {
		su_set_err(err, errlen, "%s: %s", cfg->path, strerror(errno));
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	*out = &s->base;
	return STEPUP_OK;
fail:
	sq_close(&s->base);
	return rc;
}

/* "file:" URI of path with query (SQLite's URI rules: %, ? and # escaped). */
static char *file_uri(const char *path, const char *query)
{
	size_t n = strlen(path), o = 0;
	char *u = malloc(5 + 3 * n + strlen(query) + 1);
	if (!u)
		return NULL;
	memcpy(u, "file:", 5);
	o = 5;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)path[i];
		if (ch == '%' || ch == '?' || ch == '#') {
			o += (size_t)sprintf(u + o, "%%%02X", ch);
		} else
			u[o++] = (char)ch;
	}
	strcpy(u + o, query);
	return u;
}

static int exists(const char *path, const char *suffix)
{
	char p[4200];
	struct stat st;
	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &st) == 0;
}

int su_store_sqlite_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	sqlite3 *db = NULL;
	char *uri;
	long version;
	int rc;

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return STEPUP_OK;  /* created at the first open */
		su_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return STEPUP_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		su_set_err(err, errlen, "%s: not a regular file", path);
		return STEPUP_EIO;
	}
	/* Commits not yet checkpointed are in the -wal file, read through the
	 * -shm index: with both there (a process has it open, or crashed),
	 * open read-only through them. Without them the main file is the
	 * whole database (a clean close removes both), and it is opened
	 * immutable: a read-only open would create a -wal and a -shm beside
	 * it, owned by whoever runs the check. */
	int live = exists(path, "-wal") && exists(path, "-shm");
	if (!(uri = file_uri(path, live ? "?mode=ro" : "?immutable=1")))
		return STEPUP_ENOMEM;
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		open_error(db, path, "open read-only", err, errlen);
		sqlite3_close(db);
		return STEPUP_EIO;
	}
	/* Never checkpoint into the file we only check. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(db, 2000);
	rc = quick_check(db, path, err, errlen);
	if (rc == STEPUP_OK)
		rc = schema_version(db, path, &version, err, errlen);
	sqlite3_close(db);
	return rc;
}
