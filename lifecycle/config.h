/* config.h (internal): the "cases" section of the configuration
 * (include/stepup/lifecycle.h shows it; docs/lifecycle.md documents it). */
#ifndef SU_LC_CONFIG_H
#define SU_LC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct su_retry {
	unsigned max_attempts;
	unsigned backoff_ms;      /* first delay; doubles per attempt */
	unsigned max_backoff_ms;
} su_retry;

typedef struct su_template {
	char *language;           /* "en", "fr-CA" */
	char *text;
} su_template;

typedef struct su_name {
	char *key, *value;
} su_name;

typedef struct su_lc_config {
	char *path;               /* absolute or relative to the working directory */
	int synchronous_full;
	unsigned ttl_seconds;
	unsigned max_otp_sends;
	unsigned busy_timeout_ms;
	unsigned sweep_interval_ms;
	unsigned retention_days;  /* 0: keep closed cases */
	int background;

	struct {
		char *url;            /* NULL: no webhook */
		char *secret;         /* HMAC key, NULL: unsigned */
		char **headers;       /* "Name: value", NULL-terminated */
		char *ca_file;
		unsigned timeout_ms;
		su_retry retry;
	} webhook;

	struct {
		int enabled;
		int methods[2];       /* OTP methods to try, in order; -1 = none */
		char *default_language;
		su_template *templates;
		size_t ntemplates;
		su_name *wallet_names;
		size_t nwallet_names;
		su_retry retry;
	} end_user;

	su_retry inapp_retry;

	/* Codes the issuer makes (codes.c); enabled with a key. */
	struct {
		int enabled;
		unsigned char key[64];
		size_t keylen;
		unsigned length;        /* digits */
		unsigned max_attempts;  /* wrong tries before it is void */
	} codes;
} su_lc_config;

/* Parse the "cases" section of config_json. STEPUP_ENOTFOUND when there is
 * none; STEPUP_ECONFIG / STEPUP_EIO (a secret_file) with "cases.<key>: why"
 * in err. On success the caller owns *cfg (su_lc_config_free). */
int su_lc_config_parse(const char *config_json, const char *base_dir, su_lc_config *cfg,
                       char *err, size_t errlen);
void su_lc_config_free(su_lc_config *cfg);

/* language.c: tag with an ISO 639-2/3 primary subtag that has a two-letter
 * equivalent rewritten to it ("jpn" -> "ja", "fre-CA" -> "fr-CA"), into
 * buf; other tags copied. Returns buf, or "" when tag is NULL or does not
 * fit. */
const char *su_lc_language(const char *tag, char *buf, size_t size);

/* The template for `language` ("fr-CA" -> "fr-CA", else "fr", else the
 * default language), or NULL. */
const char *su_lc_template(const su_lc_config *cfg, const char *language);
/* The display name of a token requestor ("APPLE_PAY" -> "Apple Pay"). */
const char *su_lc_wallet_name(const su_lc_config *cfg, const char *tr_name);

#endif
