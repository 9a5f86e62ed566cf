/* config.h: the stepupd configuration file (docs/operations.md).
 *
 * One JSON document. The daemon's own sections are parsed and checked here,
 * each by one entry of a section table in config.c (add a section there).
 * "plugins", "issuer" and "cases" belong to libstepup: the whole text is
 * handed to stepup_plugins_load(), stepup_engine_new_with_plugins() and
 * stepup_cases_open(), which read their own section and check it. Unknown
 * top-level keys are errors: a misspelt "limts" must not silently leave
 * the defaults in place. */
#ifndef STEPUPD_CONFIG_H
#define STEPUPD_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

#include <stepup/stepup.h>

struct cfg_limits {
	size_t max_body_bytes;           /* 413 past it */
	unsigned max_json_depth;         /* 400 past it */
	unsigned connection_timeout_ms;  /* a whole request must arrive within it */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned decision_deadline_ms;   /* request start to decision; plugin calls
	                                    made while deciding stop there too */
	unsigned decision_workers;       /* threads deciding what needs a plugin call */
	unsigned shutdown_grace_ms;      /* in-flight requests get this long */
};

typedef struct stepupd_config {
	char *path;       /* the file, as given */
	char *base_dir;   /* its directory: relative paths start here */
	char *text;       /* the whole document (the library reads its sections) */
	size_t text_len;

	char *listen;     /* "127.0.0.1:8080" as written */
	struct sockaddr_storage listen_addr;
	socklen_t listen_addr_len;

	unsigned threads;  /* MHD worker threads */
	char *rules;       /* absolute path: rule sources or a bundle */
	int has_plugins;

	struct cfg_limits limits;

	/* --check-config: plugins are loaded to be checked only
	 * (STEPUP_PLUGINS_CHECK_ONLY), not started. */
	int check_only;

	/* Opt-in for a ruleset with no rules (tests, a deliberate allow-all):
	 * otherwise start and reload refuse one, as the library does. */
	int allow_empty_ruleset;

	/* Hot reload (reload.h): the deadline of one reload (reading the
	 * configuration, rules and plugins) and the guards against a ruleset
	 * that decides less than the serving one. */
	struct {
		unsigned timeout_ms;
		unsigned max_rule_drop_percent;
	} reload;

	struct {
		int allow_loopback;
		char *token;       /* NULL: no token accepted */
		char *token_file;
	} admin;

	/* The lifecycle endpoints (daemon side; "cases" is the library's). */
	struct {
		unsigned workers;  /* threads running lifecycle calls (start only) */
		int allow_loopback;
		char *token;       /* bearer token of the issuer endpoints, NULL: none */
		char *token_file;
	} lifecycle;

	/* "cases": checked in depth by libstepup; the daemon keeps what it
	 * needs to check the database path and to see a change on reload. */
	int has_cases;
	char *cases_path;      /* "cases.path" resolved, NULL when not a string */
	char *cases_canon;     /* the section as canonical JSON (may hold a secret) */

	struct {
		char *path;        /* NULL: decision log off */
		unsigned flush_interval_ms;
		/* Replay-safe (docs/change-control.md): each line carries the
		 * facts its ruleset read, and a revision record goes before the
		 * decisions of each revision. */
		int replay_safe;
		unsigned facts_mode;     /* STEPUP_FACTS_READ / _DECLARED */
		unsigned char hash_key[64];
		size_t hash_key_len;     /* 0: no key file (equality not kept) */
		char *hash_key_file;
	} decision_log;

	/* Shadow mode (daemon/shadow.h): a candidate ruleset decides every
	 * request beside the serving one, off the response path. */
	struct {
		char *rules;       /* NULL: shadow mode off */
		char *log;         /* divergences, NULL: not written */
		unsigned queue;    /* requests waiting for the candidate, at most */
		unsigned threads;
	} shadow;

	/* Signed bundles: the keys trusted for "rules" and "shadow.rules",
	 * and whether an unsigned one is refused. */
	struct {
		stepup_keyring *trust;   /* NULL: no key trusted */
		int require_signature;
	} bundles;

	struct {
		int level;
	} log;

	/* Mastercard MDES's issuer API (daemon/mdes/config.h), NULL when the
	 * "mdes" section is absent (its endpoints then do not exist). */
	struct mdes_cfg *mdes;
} stepupd_config;

/* Read, parse and check the file. On failure returns -1 with one line in
 * err naming the file and the key ("config /etc/x.json: limits.max_body_bytes:
 * must be an integer from 1024 to 1048576"). */
int cfg_load(const char *path, stepupd_config **out, char *err, size_t errlen);
void cfg_free(stepupd_config *c);

/* Names of the settings that differ between a and b and only take effect
 * at start ("listen, limits"), for the reload warning; "" when none. */
void cfg_restart_only_changes(const stepupd_config *a, const stepupd_config *b,
                              char *buf, size_t size);

#endif
