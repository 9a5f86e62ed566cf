/* test_otp_email_smtp.c: plugins/otp_email_smtp loaded from the build
 * tree, real SMTP round trips against tests/servers/smtp_sink on
 * 127.0.0.1: the envelope, every RFC 5322 header (Subject as RFC 2047
 * encoded words when not ASCII, folded), the quoted-printable or 8bit body
 * with the OTP and PAN suffix in the language chosen, CRLF line ends and
 * dot-stuffing, login, STARTTLS required but not offered, server failures
 * and deadlines mapped to statuses within deadline + slack, can_deliver
 * without network, PII never in an error or a log line, configuration
 * refusals, the standalone sinkd and the public plugin-set API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stepup/error.h>
#include <stepup/stepup.h>

#include "plugin_fixture.h"
#include "smtp_sink.h"

#ifndef PLUGIN_SO_DIR
#error "PLUGIN_SO_DIR must name the built plugins/.libs"
#endif
#define SO PLUGIN_SO_DIR "/otp_email_smtp.so"

#define EMAIL "jane.doe@example.com"
#define OTP "428913"
static const char *const secrets[] = { EMAIL, "jane.doe", "example.com", OTP, NULL };

static smtp_sink *sink;
static su_plugin *plugin;
static const stepup_plugin_desc *desc;

/* ---- helpers ------------------------------------------------------------------- */

#define BASE_CONFIG                                                                               \
	"{\"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\","                                   \
	" \"from\": \"otp@examplebank.com\", \"from_name\": \"Example Bank\","                    \
	" \"issuer_name\": \"Banque Exemple\"%s,"                                                 \
	" \"templates\": {"                                                                       \
	"  \"en\": {\"subject\": \"Your {issuer} code\","                                         \
	"           \"body\": \"Hello,\\n\\nYour code for the card ending {pan_suffix} is {otp}.\\n" \
	"It expires in {expiry_minutes} minutes.\\n.\\n..two dots\\n\","                         \
	"           \"notify_subject\": \"Your card\"},"                                           \
	"  \"fr\": {\"subject\": \"Votre code de v\\u00e9rification {issuer}\","                  \
	"           \"body\": \"Votre code : {otp} \\u2014 carte {pan_suffix}.\\n\","             \
	"           \"notify_subject\": \"Votre carte\"},"                                         \
	"  \"de\": {\"subject\": \"Ihr Best\\u00e4tigungscode\", \"body\": \"Ihr Code: {otp}\"}}}"

static char *config_for(const char *extra)
{
	char *c = NULL;
	if (asprintf(&c, BASE_CONFIG, (unsigned)smtp_sink_port(sink), extra ? extra : "") < 0)
		abort();
	return c;
}

static stepup_otp_message message(const char *to, const char *language)
{
	stepup_otp_message m = { sizeof(m), to, OTP, (int64_t)time(NULL) + 600, "CARD_DIGITIZATION",
				 "1234", language };
	return m;
}

static const smtp_sink_message *last_message(void)
{
	size_t n = smtp_sink_count(sink);
	assert_true(n > 0);
	return smtp_sink_get(sink, n - 1);
}

static void behave(const smtp_sink_behaviour *b)
{
	smtp_sink_behaviour none = { 0 };
	smtp_sink_set_behaviour(sink, b ? b : &none);
}

static int b64v(int c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;
	return p ? (int)(p - a) : -1;
}

/* Decode an unfolded header value made of RFC 2047 "B" words (blanks
 * between words dropped) or plain text: malloc'd. */
static char *decode_2047(const char *v)
{
	char *out = calloc(1, strlen(v) + 1);
	size_t o = 0;
	if (!pf_starts_with(v, "=?")) {
		strcpy(out, v);
		return out;
	}
	while (*v) {
		while (*v == ' ' || *v == '\t')
			v++;
		if (!*v)
			break;
		assert_true(pf_starts_with(v, "=?UTF-8?B?"));
		v += 10;
		const char *end = strstr(v, "?=");
		assert_non_null(end);
		unsigned acc = 0;
		int bits = 0;
		for (; v < end && *v != '='; v++) {
			int x = b64v((unsigned char)*v);
			assert_true(x >= 0);
			acc = (acc << 6) | (unsigned)x;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[o++] = (char)((acc >> bits) & 0xff);
			}
		}
		v = end + 2;
	}
	out[o] = '\0';
	return out;
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Quoted-printable decoding (soft breaks removed): malloc'd. */
static char *decode_qp(const char *s)
{
	char *out = calloc(1, strlen(s) + 1);
	size_t o = 0;
	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			int hi = hexv((unsigned char)s[1]), lo = hi >= 0 ? hexv((unsigned char)s[2]) : -1;
			assert_true(hi >= 0 && lo >= 0);
			out[o++] = (char)(hi << 4 | lo);
			s += 3;
		} else {
			out[o++] = *s++;
		}
	}
	return out;
}

/* Every line of the message ends in CRLF, header lines are ASCII and at
 * most 78 columns, QP body lines at most 76. */
static void assert_well_formed(const smtp_sink_message *m, int qp)
{
	assert_int_equal(m->bare_lf, 0);
	const char *p = m->data, *end = m->data + m->data_len;
	int in_body = 0;
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		assert_non_null(eol);
		size_t len = (size_t)(eol - p);
		for (size_t k = 0; k < len; k++)
			if (!in_body || qp)
				assert_true((unsigned char)p[k] >= 0x20 && (unsigned char)p[k] < 0x7f);
		if (!in_body && len > 78)
			fail_msg("header line of %zu columns: %.*s", len, (int)len, p);
		if (in_body && qp && len > 76)
			fail_msg("QP line of %zu columns: %.*s", len, (int)len, p);
		if (len == 0)
			in_body = 1;
		p = eol + 2;
	}
	assert_true(in_body);
}

static void expect_header(const smtp_sink_message *m, const char *name, const char *want)
{
	char *v = smtp_sink_header(m, name);
	if (!v)
		fail_msg("no %s header", name);
	if (strcmp(v, want) != 0)
		fail_msg("%s: got '%s', want '%s'", name, v, want);
	free(v);
}

static void expect_subject(const smtp_sink_message *m, const char *want)
{
	char *raw = smtp_sink_header(m, "Subject");
	assert_non_null(raw);
	char *s = decode_2047(raw);
	if (strcmp(s, want) != 0)
		fail_msg("Subject: decoded '%s' (raw '%s'), want '%s'", s, raw, want);
	free(s);
	free(raw);
}

static void expect_body_qp(const smtp_sink_message *m, const char *want)
{
	char *b = decode_qp(smtp_sink_body(m));
	if (strcmp(b, want) != 0)
		fail_msg("body:\n  got  '%s'\n  want '%s'", b, want);
	free(b);
}

static int group_setup(void **state)
{
	(void)state;
	char err[256];
	if (smtp_sink_start(NULL, 0, &sink, err, sizeof(err)) != 0) {
		fprintf(stderr, "smtp_sink: %s\n", err);
		return -1;
	}
	return pf_group_load(SO, config_for(NULL), secrets, &plugin, &desc);
}

static int group_teardown(void **state)
{
	(void)state;
	su_plugin_unload(plugin);
	smtp_sink_stop(sink);
	return 0;
}

static int test_setup(void **state)
{
	(void)state;
	behave(NULL);
	smtp_sink_clear(sink);
	return 0;
}

/* ---- round trips -------------------------------------------------------------------- */

static void test_descriptor(void **unused)
{
	(void)unused;
	assert_string_equal(su_plugin_name(plugin), "otp_email_smtp");
	assert_string_equal(su_plugin_version(plugin), "1.0.0");
	assert_non_null(desc->otp);
	assert_null(desc->inapp);
	assert_null(desc->cs);
}

static void test_round_trip(void **unused)
{
	(void)unused;
	char err[160] = "";
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 3000);
	stepup_otp_message msg = message(EMAIL, "en-GB");
	int rc = desc->otp->deliver_otp(su_plugin_state(plugin), &ctx, &msg);
	if (rc != STEPUP_PLUGIN_OK)
		fail_msg("deliver: %d %s", rc, err);

	const smtp_sink_message *m = last_message();
	assert_string_equal(m->mail_from, "otp@examplebank.com");
	assert_int_equal(m->nrcpt, 1);
	assert_string_equal(m->rcpt[0], EMAIL);
	assert_string_equal(m->commands, "EHLO MAIL RCPT DATA");
	assert_null(m->auth_user);
	assert_well_formed(m, 1);

	expect_header(m, "From", "Example Bank <otp@examplebank.com>");
	expect_header(m, "To", EMAIL);
	expect_header(m, "Subject", "Your Banque Exemple code");
	expect_header(m, "MIME-Version", "1.0");
	expect_header(m, "Content-Type", "text/plain; charset=UTF-8");
	expect_header(m, "Content-Transfer-Encoding", "quoted-printable");
	expect_header(m, "Auto-Submitted", "auto-generated");
	char *date = smtp_sink_header(m, "Date");
	char day[4], mon[4], zone[6];
	int dd, yyyy, hh, mi, ss;
	assert_int_equal(sscanf(date, "%3s, %d %3s %d %d:%d:%d %5s", day, &dd, mon, &yyyy, &hh, &mi, &ss, zone), 8);
	assert_non_null(strstr("Sun,Mon,Tue,Wed,Thu,Fri,Sat,", day));
	assert_non_null(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon));
	assert_string_equal(zone, "+0000");
	assert_true(yyyy >= 2024);
	free(date);
	char *id = smtp_sink_header(m, "Message-ID");
	assert_true(id[0] == '<' && id[strlen(id) - 1] == '>');
	assert_non_null(strstr(id, "@examplebank.com>"));
	/* 600 s from now: 10 minutes; the lone "." and ".." lines survive
	 * curl's dot-stuffing and the sink's unstuffing */
	expect_body_qp(m, "Hello,\r\n\r\nYour code for the card ending 1234 is " OTP ".\r\n"
			  "It expires in 10 minutes.\r\n.\r\n..two dots\r\n");

	/* a second message gets another Message-ID */
	test_host_ctx(&ctx, err, sizeof(err), 3000);
	assert_int_equal(desc->otp->deliver_otp(su_plugin_state(plugin), &ctx, &msg), STEPUP_PLUGIN_OK);
	char *id2 = smtp_sink_header(last_message(), "Message-ID");
	assert_string_not_equal(id, id2);
	free(id);
	free(id2);
}

static void test_languages_and_encoding(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	static const struct {
		const char *lang, *subject, *body;
	} cases[] = {
		{ "fr", "Votre code de v\xc3\xa9rification Banque Exemple",
		  "Votre code : " OTP " \xe2\x80\x94 carte 1234.\r\n" },
		{ "fr-CA", "Votre code de v\xc3\xa9rification Banque Exemple",
		  "Votre code : " OTP " \xe2\x80\x94 carte 1234.\r\n" },
		{ "DE_at", "Ihr Best\xc3\xa4tigungscode", "Ihr Code: " OTP "\r\n" },
		{ "es", "Your Banque Exemple code", NULL },
		{ NULL, "Your Banque Exemple code", NULL },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		stepup_otp_message msg = message(EMAIL, cases[k].lang);
		assert_int_equal(pf_deliver(&in, &msg, 3000, err, sizeof(err)), STEPUP_PLUGIN_OK);
		const smtp_sink_message *m = last_message();
		assert_well_formed(m, 1);
		expect_subject(m, cases[k].subject);
		if (cases[k].body)
			expect_body_qp(m, cases[k].body);
	}
	/* the non-ASCII subject is B-encoded, the em dash quoted-printable */
	smtp_sink_clear(sink);
	stepup_otp_message msg = message(EMAIL, "fr");
	assert_int_equal(pf_deliver(&in, &msg, 3000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	char *raw = smtp_sink_header(last_message(), "Subject");
	assert_string_equal(raw, "=?UTF-8?B?Vm90cmUgY29kZSBkZSB2w6lyaWZpY2F0aW9uIEJhbnF1ZSBFeGVt?= "
				 "=?UTF-8?B?cGxl?=");
	free(raw);
	assert_non_null(strstr(smtp_sink_body(last_message()), "=E2=80=94 carte 1234."));
	assert_non_null(test_host_log_find(&in.host, "DEBUG otp_email_smtp: OTP message in 'fr'"));
	pf_close(&in);
}

static void test_long_headers_and_8bit(void **unused)
{
	(void)unused;
	/* A long non-ASCII subject folds into several encoded words; a
	 * non-ASCII sender name is encoded too; 8bit keeps the body as is. */
	pf_inst in;
	char *c = NULL;
	assert_true(asprintf(&c,
			     "{\"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\", \"from\": \"otp@examplebank.com\","
			     " \"from_name\": \"Cr\\u00e9dit Exemple \\u2014 S\\u00e9curit\\u00e9\","
			     " \"transfer_encoding\": \"8bit\", \"message_id_domain\": \"mail.examplebank.com\","
			     " \"templates\": {\"en\": {\"subject\": \"\\u00c9l\\u00e9ments de v\\u00e9rification "
			     "\\u00e0 usage unique pour l'ajout de votre carte \\u00e0 votre portefeuille num\\u00e9rique\","
			     " \"body\": \"Code\\u00a0: {otp}\\r\\nLigne 2\\rLigne 3\"}}}",
			     (unsigned)smtp_sink_port(sink)) > 0);
	pf_open_and_free(&in, desc, c);
	char err[160];
	stepup_otp_message msg = message(EMAIL, "en");
	assert_int_equal(pf_deliver(&in, &msg, 3000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	const smtp_sink_message *m = last_message();
	assert_well_formed(m, 0);
	expect_subject(m, "\xc3\x89l\xc3\xa9ments de v\xc3\xa9rification \xc3\xa0 usage unique pour l'ajout de "
			  "votre carte \xc3\xa0 votre portefeuille num\xc3\xa9rique");
	char *raw = smtp_sink_header(m, "Subject");
	size_t words = 0;
	for (const char *p = raw; (p = strstr(p, "=?UTF-8?B?")); p++)
		words++;
	assert_true(words >= 2);
	free(raw);
	char *from = smtp_sink_header(m, "From");
	assert_true(pf_starts_with(from, "=?UTF-8?B?"));
	const char *lt = strrchr(from, '<');
	assert_string_equal(lt, "<otp@examplebank.com>");
	char *name = strndup(from, (size_t)(lt - from - 1));
	char *dec = decode_2047(name);
	assert_string_equal(dec, "Cr\xc3\xa9" "dit Exemple \xe2\x80\x94 S\xc3\xa9" "curit\xc3\xa9");
	free(dec);
	free(name);
	free(from);
	expect_header(m, "Content-Transfer-Encoding", "8bit");
	char *id = smtp_sink_header(m, "Message-ID");
	assert_non_null(strstr(id, "@mail.examplebank.com>"));
	free(id);
	/* every line end became CRLF */
	assert_string_equal(smtp_sink_body(m), "Code\xc2\xa0: " OTP "\r\nLigne 2\r\nLigne 3\r\n");

	/* 8bit cannot carry a line over 998 bytes */
	char *longtext = malloc(1200);
	memset(longtext, 'a', 1199);
	longtext[1199] = '\0';
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 3000);
	size_t before = smtp_sink_count(sink);
	assert_int_equal(desc->otp->notify(in.state, &ctx, EMAIL, longtext, "en"), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_email_smtp: a line of the text is longer than 998 bytes (use quoted-printable)");
	assert_int_equal(smtp_sink_count(sink), before);
	pf_close(&in);

	/* quoted-printable carries it in soft-broken lines */
	pf_open_and_free(&in, desc, config_for(NULL));
	test_host_ctx(&ctx, err, sizeof(err), 3000);
	assert_int_equal(desc->otp->notify(in.state, &ctx, EMAIL, longtext, "en"), STEPUP_PLUGIN_OK);
	m = last_message();
	assert_well_formed(m, 1);
	char *b = decode_qp(smtp_sink_body(m));
	assert_int_equal(strlen(b), 1201);
	assert_int_equal(memcmp(b, longtext, 1199), 0);
	free(b);
	free(longtext);
	pf_close(&in);
}

static void test_notify(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 3000);
	const char *text = "Votre carte a \xc3\xa9t\xc3\xa9 ajout\xc3\xa9" "e \xc3\xa0 Apple Pay.\nCe n'est pas vous ? "
			   "Appelez le +33 1 23 45 67 89.  \n";
	assert_int_equal(desc->otp->notify(in.state, &ctx, EMAIL, text, "fr-FR"), STEPUP_PLUGIN_OK);
	const smtp_sink_message *m = last_message();
	assert_well_formed(m, 1);
	expect_subject(m, "Votre carte");
	/* trailing blanks are encoded so that transport cannot strip them */
	assert_non_null(strstr(smtp_sink_body(m), "89. =20\r\n"));
	expect_body_qp(m, "Votre carte a \xc3\xa9t\xc3\xa9 ajout\xc3\xa9" "e \xc3\xa0 Apple Pay.\r\nCe n'est pas vous ? "
			  "Appelez le +33 1 23 45 67 89.  \r\n");
	/* German has no notify_subject: the default language's */
	test_host_ctx(&ctx, err, sizeof(err), 3000);
	assert_int_equal(desc->otp->notify(in.state, &ctx, EMAIL, "Hallo", "de"), STEPUP_PLUGIN_OK);
	expect_subject(last_message(), "Your card");

	size_t before = smtp_sink_count(sink);
	assert_int_equal(desc->otp->notify(in.state, &ctx, EMAIL, "", "en"), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_email_smtp: text must be 1 to 65536 bytes of UTF-8");
	assert_int_equal(desc->otp->notify(in.state, &ctx, EMAIL, "a\x01z", "en"), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_email_smtp: text has control characters");
	assert_int_equal(desc->otp->notify(in.state, &ctx, "jane", "hi", "en"), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_email_smtp: destination is not an e-mail address");
	assert_int_equal(smtp_sink_count(sink), before);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

static void test_login(void **unused)
{
	(void)unused;
	smtp_sink_behaviour b = { .auth = 1, .password = "pa55" };
	behave(&b);
	pf_inst in;
	char *c = config_for(", \"login\": {\"user\": \"stepup\", \"password\": \"pa55\"},"
			     " \"allow_insecure_login\": true");
	pf_open_and_free(&in, desc, c);
	char err[160];
	stepup_otp_message msg = message(EMAIL, "en");
	assert_int_equal(pf_deliver(&in, &msg, 3000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	const smtp_sink_message *m = last_message();
	assert_string_equal(m->auth_user, "stepup");
	assert_string_equal(m->auth_password, "pa55");
	assert_string_equal(m->commands, "EHLO AUTH MAIL RCPT DATA");
	pf_close(&in);

	c = config_for(", \"login\": {\"user\": \"stepup\", \"password\": \"wrong\"},"
		       " \"allow_insecure_login\": true");
	pf_open_and_free(&in, desc, c);
	size_t before = smtp_sink_count(sink);
	assert_int_equal(pf_deliver(&in, &msg, 3000, err, sizeof(err)), STEPUP_PLUGIN_ERROR);
	assert_string_equal(err, "otp_email_smtp: server refused the login (SMTP 535)");
	assert_int_equal(smtp_sink_count(sink), before);
	pf_close(&in);

	/* STARTTLS required, not offered: nothing goes out in clear */
	c = NULL;
	assert_true(asprintf(&c, "{\"url\": \"smtp://127.0.0.1:%u\", \"from\": \"otp@examplebank.com\","
				 " \"login\": {\"user\": \"stepup\", \"password\": \"pa55\"},"
				 " \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp}\"}}}",
			     (unsigned)smtp_sink_port(sink)) > 0);
	pf_open_and_free(&in, desc, c);
	assert_int_equal(pf_deliver(&in, &msg, 3000, err, sizeof(err)), STEPUP_PLUGIN_ERROR);
	assert_string_equal(err, "otp_email_smtp: server does not offer STARTTLS");
	assert_int_equal(smtp_sink_count(sink), before);
	assert_non_null(test_host_log_find(&in.host, "INFO otp_email_smtp: ready: host 127.0.0.1 with STARTTLS and login"));
	pf_close(&in);
}

/* ---- no network ----------------------------------------------------------------------- */

static void test_can_deliver(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	static const char *const good[] = { EMAIL, "a@b.co", "first.last+tag@sub.example.org",
					    "o'brien@example.ie", "x_y-z@a-b.example", NULL };
	static const char *const bad[] = { "jane", "@example.com", "jane@", "jane@example", "jane@@example.com",
					   "jane..doe@example.com", ".jane@example.com", "jane.@example.com",
					   "jane doe@example.com", "\"jane\"@example.com", "jane@[192.0.2.1]",
					   "jane@-example.com", "jane@example-.com", "jane@example.123",
					   "j\xc3\xa9@example.com", "jane@example.com\r\nBcc: x@y.z",
					   "jane@exa_mple.com", "" };
	for (size_t k = 0; k < sizeof(good) / sizeof(*good); k++)
		if (desc->otp->can_deliver(in.state, &ctx, good[k]) != STEPUP_PLUGIN_OK)
			fail_msg("can_deliver(%s): %s", good[k] ? good[k] : "NULL", err);
	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		if (desc->otp->can_deliver(in.state, &ctx, bad[k]) != STEPUP_PLUGIN_UNAVAILABLE)
			fail_msg("can_deliver(%s) accepted", bad[k]);
		assert_string_equal(err, "otp_email_smtp: destination is not an e-mail address");
	}
	/* 64-byte local part is the limit */
	char big[128];
	memset(big, 'a', 65);
	strcpy(big + 65, "@example.com");
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, big), STEPUP_PLUGIN_UNAVAILABLE);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, big + 1), STEPUP_PLUGIN_OK);
	assert_int_equal(smtp_sink_sessions(sink), 0);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

static void test_refused_messages(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	static const struct {
		const char *dest, *otp, *suffix;
		int64_t expires_in;
		const char *want;
	} cases[] = {
		{ "jane", OTP, "1234", 300, "otp_email_smtp: destination is not an e-mail address" },
		{ EMAIL, "", "1234", 300, "otp_email_smtp: the OTP must be 1 to 32 printable ASCII characters" },
		{ EMAIL, "4289\r\n13", "1234", 300,
		  "otp_email_smtp: the OTP must be 1 to 32 printable ASCII characters" },
		{ EMAIL, OTP, "x", 300, "otp_email_smtp: pan_suffix must be at most 8 digits" },
		{ EMAIL, OTP, "1234", -1, "otp_email_smtp: the OTP has already expired" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		stepup_otp_message m = message(cases[k].dest, "en");
		m.otp = cases[k].otp;
		m.pan_suffix = cases[k].suffix;
		m.expires_at = (int64_t)time(NULL) + cases[k].expires_in;
		assert_int_equal(pf_deliver(&in, &m, 3000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
		assert_string_equal(err, cases[k].want);
	}
	stepup_otp_message m = message(EMAIL, "en");
	m.size = 8;
	assert_int_equal(pf_deliver(&in, &m, 3000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_email_smtp: incomplete OTP message");
	assert_int_equal(smtp_sink_sessions(sink), 0);
	pf_close(&in);
}

/* ---- server failures and deadlines ---------------------------------------------------------- */

static pf_outcome run(pf_inst *in, uint32_t timeout_ms)
{
	stepup_otp_message m = message(EMAIL, "en");
	return pf_run(in, &m, timeout_ms);
}

static void test_server_errors(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	static const struct {
		int at, code, rc;
		const char *want;
	} cases[] = {
		{ SMTP_SINK_AT_RCPT, 550, STEPUP_PLUGIN_ERROR, "otp_email_smtp: server answered SMTP 550" },
		{ SMTP_SINK_AT_RCPT, 451, STEPUP_PLUGIN_UNAVAILABLE,
		  "otp_email_smtp: server answered SMTP 451 (temporary failure)" },
		{ SMTP_SINK_AT_MAIL, 553, STEPUP_PLUGIN_ERROR, "otp_email_smtp: server answered SMTP 553" },
		{ SMTP_SINK_AT_DATA, 554, STEPUP_PLUGIN_ERROR, "otp_email_smtp: server answered SMTP 554" },
		{ SMTP_SINK_AT_END, 552, STEPUP_PLUGIN_ERROR, "otp_email_smtp: server answered SMTP 552" },
		{ SMTP_SINK_AT_END, 452, STEPUP_PLUGIN_UNAVAILABLE,
		  "otp_email_smtp: server answered SMTP 452 (temporary failure)" },
		{ SMTP_SINK_AT_GREETING, 421, STEPUP_PLUGIN_UNAVAILABLE,
		  "otp_email_smtp: server answered SMTP 421 (temporary failure)" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		smtp_sink_behaviour b = { .fail_at = cases[k].at, .fail_code = cases[k].code };
		behave(&b);
		pf_outcome o = run(&in, 3000);
		if (o.rc != cases[k].rc || strcmp(o.err, cases[k].want) != 0)
			fail_msg("fail at %d with %d: status %d '%s', want %d '%s'", cases[k].at, cases[k].code,
				 o.rc, o.err, cases[k].rc, cases[k].want);
	}
	assert_int_equal(smtp_sink_count(sink), 0);
	assert_non_null(test_host_log_find(&in.host, "WARNING otp_email_smtp: send failed after "));

	/* the server hangs up without a greeting */
	smtp_sink_behaviour hang = { .close_on_connect = 1 };
	behave(&hang);
	pf_outcome o = run(&in, 3000);
	assert_int_equal(o.rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_true(pf_starts_with(o.err, "otp_email_smtp: server unreachable: "));
	pf_close(&in);

	/* nothing listens */
	char *cfg = NULL;
	assert_true(asprintf(&cfg, "{\"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\", \"from\": \"a@b.example\","
				   " \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp}\"}}}",
			     (unsigned)test_host_closed_port()) > 0);
	pf_open_and_free(&in, desc, cfg);
	o = run(&in, 3000);
	assert_int_equal(o.rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(o.err, "otp_email_smtp: server unreachable: Couldn't connect to server");
	pf_close(&in);
}

static void test_deadline(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(", \"circuit_breaker\": {\"failures\": 2, \"open_seconds\": 10}"));
	/* the greeting comes after 10 s; the call gives up at 300 ms */
	smtp_sink_behaviour slow = { .greeting_delay_ms = 10000 };
	behave(&slow);
	int64_t t0 = test_host_real_ms();
	pf_outcome o = run(&in, 300);
	assert_int_equal(o.rc, STEPUP_PLUGIN_TIMEOUT);
	if (!pf_starts_with(o.err, "otp_email_smtp: no answer from the server within the deadline ("))
		fail_msg("got '%s'", o.err);
	pf_expect_elapsed(t0, 250, 300);

	/* deadline already passed: no connection at all */
	behave(NULL);
	size_t sessions = smtp_sink_sessions(sink);
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 0);
	ctx.deadline_ms = test_host_now_ms() - 5;
	stepup_otp_message m = message(EMAIL, "en");
	assert_int_equal(desc->otp->deliver_otp(in.state, &ctx, &m), STEPUP_PLUGIN_TIMEOUT);
	assert_string_equal(err, "otp_email_smtp: deadline passed before sending");
	assert_int_equal(smtp_sink_sessions(sink), sessions);

	/* a second systemic failure opens the breaker */
	smtp_sink_behaviour down = { .fail_at = SMTP_SINK_AT_GREETING, .fail_code = 421 };
	behave(&down);
	assert_int_equal(run(&in, 3000).rc, STEPUP_PLUGIN_UNAVAILABLE);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, EMAIL), STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(err, "otp_email_smtp: circuit open after 2 consecutive server failures");
	behave(NULL);
	test_host_advance_ms(10001);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, EMAIL), STEPUP_PLUGIN_OK);
	assert_int_equal(run(&in, 3000).rc, STEPUP_PLUGIN_OK);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

static void test_threads(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	enum { N = 6 };
	stepup_otp_message m = message(EMAIL, "de");
	pf_deliver_threads(&in, &m, N, 8000);
	assert_int_equal(smtp_sink_count(sink), N);
	pf_close(&in);
}

/* ---- configuration -------------------------------------------------------------------------- */

#define S "\"url\": \"smtp://127.0.0.1:1\", \"tls\": \"none\", \"from\": \"otp@bank.example\""
#define T "\"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp}\"}}"

static void test_refusals(void **unused)
{
	(void)unused;
	static const struct {
		const char *config, *want;
	} cases[] = {
		{ "[]", "configuration must be a JSON object" },
		{ "{}", "url: missing" },
		{ "{" S ", " T ", \"port\": 25}", "unknown key 'port'" },
		{ "{\"url\": \"http://mail.example\", \"from\": \"a@b.example\", " T "}",
		  "url: must be an smtp:// or smtps:// URL" },
		{ "{\"url\": \"smtp://u:p@mail.example\", \"from\": \"a@b.example\", " T "}",
		  "url: must not carry credentials (use \"login\")" },
		{ "{\"url\": \"smtps://mail.example\", \"tls\": \"starttls\", \"from\": \"a@b.example\", " T "}",
		  "tls: must be \"implicit\" with smtps://" },
		{ "{\"url\": \"smtp://mail.example\", \"tls\": \"implicit\", \"from\": \"a@b.example\", " T "}",
		  "tls: must be \"starttls\" or \"none\" with smtp:// (use smtps:// for implicit TLS)" },
		{ "{" S ", " T ", \"login\": {\"user\": \"u\", \"password\": \"p\"}}",
		  "login: refused over a connection without TLS (set \"allow_insecure_login\": true to allow it)" },
		{ "{" S ", " T ", \"login\": {\"user\": \"u\"}, \"allow_insecure_login\": true}", "login.password: missing" },
		{ "{" S ", " T ", \"login\": {\"user\": \"u\", \"password\": \"p\", \"mech\": \"PLAIN\"},"
		  " \"allow_insecure_login\": true}",
		  "login: unknown key 'mech'" },
		{ "{" S ", " T ", \"login\": \"u:p\"}", "login: must be an object" },
		{ "{" S ", " T ", \"allow_insecure_login\": \"yes\"}", "allow_insecure_login: must be true or false" },
		{ "{\"url\": \"smtp://mail.example\", " T "}", "from: missing" },
		{ "{\"url\": \"smtp://mail.example\", \"from\": \"Bank <otp@bank.example>\", " T "}",
		  "from: must be an e-mail address like \"otp@bank.example\"" },
		{ "{" S ", " T ", \"from_name\": \"\"}", "from_name: must be 1 to 64 bytes of text without controls" },
		{ "{" S ", " T ", \"message_id_domain\": \"-bad-\"}",
		  "message_id_domain: must be a domain name like \"bank.example\"" },
		{ "{" S ", " T ", \"transfer_encoding\": \"base64\"}",
		  "transfer_encoding: must be \"quoted-printable\" or \"8bit\"" },
		{ "{" S "}", "templates: missing" },
		{ "{" S ", \"templates\": {\"en\": \"{otp}\"}}", "templates.en: must be an object with subject and body" },
		{ "{" S ", \"templates\": {\"en\": {\"body\": \"{otp}\"}}}", "templates.en.subject: missing" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code\"}}}", "templates.en.body: missing" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp}\", \"html\": \"\"}}}",
		  "templates.en: unknown key 'html'" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code {otp}\", \"body\": \"{otp}\"}}}",
		  "templates.en.subject: must not contain {otp} (subjects show on lock screens and in mail logs)" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"no code\"}}}",
		  "templates.en.body: must contain {otp}" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code\\nBcc: x@y.z\", \"body\": \"{otp}\"}}}",
		  "templates.en.subject: must be one line of at most 200 bytes" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"{issuer}\", \"body\": \"{otp}\"}}}",
		  "templates.en.subject: uses {issuer} but issuer_name is not set" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp} {when}\"}}}",
		  "templates.en.body: unknown placeholder '{when}' (expected {otp}, {pan_suffix}, "
		  "{expiry_minutes}, {issuer})" },
		{ "{" S ", \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp}\","
		  " \"notify_subject\": \"Hi {issuer}\"}}}",
		  "templates.en.notify_subject: takes no placeholders" },
		{ "{" S ", \"templates\": {\"de\": {\"subject\": \"Code\", \"body\": \"{otp}\"}}}",
		  "templates: no template for the default language 'en' (add one or set default_language)" },
		{ "{" S ", " T ", \"default_language\": \"fr\"}", "default_language: no template for 'fr'" },
		{ "{" S ", " T ", \"circuit_breaker\": {\"failures\": 2, \"open_seconds\": 0}}",
		  "circuit_breaker.open_seconds: must be an integer from 1 to 86400" },
		{ "{" S ", " T ", \"ca_file\": \"/nonexistent.pem\"}", "ca_file: cannot read '/nonexistent.pem'" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++)
		pf_expect_refused(SO, cases[k].config, cases[k].want);
	pf_expect_refused(SO, NULL, "url: missing");
	char err[512];
	su_plugin *p = NULL;
	assert_int_equal(su_plugin_load(SO, NULL, "{" S ", " S "}", &p, err, sizeof(err)), STEPUP_EPLUGIN);
	assert_non_null(strstr(err, ": init failed: configuration is not valid JSON (line "));
}

static void test_example_config(void **unused)
{
	(void)unused;
	char *text = pf_read_file(SRCDIR "/plugins/otp_email_smtp/otp_email_smtp.example.json");
	pf_inst in;
	pf_open_and_free(&in, desc, text);
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, EMAIL), STEPUP_PLUGIN_OK);
	pf_close(&in);
}

/* ---- the SMTP sink itself, driven by hand ------------------------------------------------- */

/* Read one reply (all its lines): malloc'd. */
static char *raw_reply(int fd)
{
	char *buf = calloc(1, 4096);
	size_t n = 0;
	for (;;) {
		ssize_t k = recv(fd, buf + n, 4095 - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
		/* complete when the last line is "ddd " ... CRLF */
		char *last = n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n' ? buf + n - 2 : NULL;
		if (last) {
			while (last > buf && last[-1] != '\n')
				last--;
			if (last[3] == ' ')
				break;
		}
	}
	return buf;
}

/* Send `cmd` and expect a reply starting with `code`. */
static void chat(int fd, const char *cmd, const char *code)
{
	if (cmd)
		assert_int_equal(send(fd, cmd, strlen(cmd), MSG_NOSIGNAL), (ssize_t)strlen(cmd));
	char *r = raw_reply(fd);
	if (!pf_starts_with(r, code))
		fail_msg("after %s: '%s', want %s", cmd ? cmd : "connect", r, code);
	free(r);
}

static void test_smtp_sink_by_hand(void **unused)
{
	(void)unused;
	smtp_sink_behaviour b = { .auth = 1 };
	behave(&b);
	int fd = pf_raw_connect(smtp_sink_port(sink));
	chat(fd, NULL, "220 ");
	chat(fd, "HELO client.test\r\n", "250 ");
	chat(fd, "NOOP\r\n", "250 ");
	chat(fd, "RCPT TO:<x@y.example>\r\n", "503 ");
	chat(fd, "MAIL FROM:<a@b.example> SIZE=10\r\n", "250 ");
	chat(fd, "RCPT TO:<x@y.example>\r\n", "250 ");
	chat(fd, "RSET\r\n", "250 ");
	chat(fd, "DATA\r\n", "503 ");
	chat(fd, "EHLO client.test\r\n", "250-sink.test");
	chat(fd, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6");
	chat(fd, "dXNlcg==\r\n", "334 UGFzc3dvcmQ6");
	chat(fd, "c2VjcmV0\r\n", "235 ");
	chat(fd, "mail from:<a@b.example> SIZE=10\r\n", "250 ");
	chat(fd, "RCPT TO:<x@y.example>\r\n", "250 ");
	chat(fd, "RCPT TO:<w@y.example>\r\n", "250 ");
	chat(fd, "RCPT TO:w@y.example\r\n", "501 ");
	chat(fd, "DATA\r\n", "354 ");
	chat(fd, "Subject: t\r\n\r\n..dot\r\n.\r\n", "250 ");
	chat(fd, "VRFY x\r\n", "252 ");
	chat(fd, "BOGUS\r\n", "500 ");
	chat(fd, "QUIT\r\n", "221 ");
	close(fd);
	assert_true(smtp_sink_wait(sink, 1, 1000));
	const smtp_sink_message *m = smtp_sink_get(sink, 0);
	assert_string_equal(m->helo, "client.test");
	assert_string_equal(m->commands, "HELO NOOP RCPT MAIL RCPT RSET DATA EHLO AUTH MAIL RCPT RCPT RCPT DATA");
	assert_string_equal(m->auth_user, "user");
	assert_string_equal(m->auth_password, "secret");
	assert_string_equal(m->mail_from, "a@b.example");
	assert_string_equal(m->mail_params, "SIZE=10");
	assert_int_equal(m->nrcpt, 2);
	assert_string_equal(m->rcpt[1], "w@y.example");
	assert_int_equal(m->data_len, strlen("Subject: t\r\n\r\n.dot\r\n"));
	assert_string_equal(m->data, "Subject: t\r\n\r\n.dot\r\n");
	assert_string_equal(smtp_sink_body(m), ".dot\r\n");
	char *subj = smtp_sink_header(m, "subject");
	assert_string_equal(subj, "t");
	free(subj);
	assert_null(smtp_sink_header(m, "From"));
	assert_int_equal(smtp_sink_sessions(sink), 1);

	/* AUTH PLAIN with the initial response; a bare-LF line is counted */
	b.password = "pw";
	behave(&b);
	fd = pf_raw_connect(smtp_sink_port(sink));
	chat(fd, NULL, "220 ");
	chat(fd, "EHLO c\r\n", "250");
	chat(fd, "AUTH PLAIN AHUAbm8=\r\n", "535 "); /* "\0u\0no" */
	chat(fd, "AUTH PLAIN AHUAcHc=\r\n", "235 "); /* "\0u\0pw" */
	chat(fd, "MAIL FROM:<>\r\n", "250 ");
	chat(fd, "RCPT TO:<x@y.example>\r\n", "250 ");
	chat(fd, "DATA\r\n", "354 ");
	chat(fd, "a\nb\r\n.\r\n", "250 ");
	close(fd);
	assert_true(smtp_sink_wait(sink, 2, 1000));
	m = smtp_sink_get(sink, 1);
	assert_string_equal(m->mail_from, "");
	assert_int_equal(m->bare_lf, 1);
	assert_string_equal(m->auth_password, "pw");
}

/* ---- sinkd smtp, and the public plugin-set API ------------------------------------------------- */

static void test_sinkd_process(void **unused)
{
	(void)unused;
	pf_sinkd sd;
	pf_sinkd_start(&sd, SINKD, "smtp", NULL);
	char *cfg = NULL;
	assert_true(asprintf(&cfg, "{\"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\", \"from\": \"otp@bank.example\","
				   " \"templates\": {\"en\": {\"subject\": \"Code\", \"body\": \"{otp}\"}}}",
			     sd.port) > 0);
	pf_inst in;
	pf_open_and_free(&in, desc, cfg);
	char err[160];
	stepup_otp_message m = message(EMAIL, "en");
	assert_int_equal(pf_deliver(&in, &m, 3000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	pf_close(&in);

	char *rec = pf_sinkd_finish(&sd, "0001.eml");
	assert_true(pf_starts_with(rec, "MAIL FROM:<otp@bank.example>\nRCPT TO:<" EMAIL ">\n\nDate: "));
	assert_non_null(strstr(rec, "\r\nSubject: Code\r\n"));
	assert_non_null(strstr(rec, "\r\n\r\n" OTP "\r\n"));
	free(rec);
}

static void test_plugin_set(void **unused)
{
	(void)unused;
	pf_logsink logs = PF_LOGSINK_INIT;
	char *config = NULL, err[256] = "";
	assert_true(asprintf(&config,
			     "{\"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\","
			     " \"from\": \"otp@bank.example\", \"templates\": {"
			     "  \"en\": {\"subject\": \"Code\", \"body\": \"{otp} for {pan_suffix}\"},"
			     "  \"fr\": {\"subject\": \"Code\", \"body\": \"{otp} pour {pan_suffix}\"}}}",
			     (unsigned)smtp_sink_port(sink)) > 0);
	stepup_plugins *ps = pf_plugins_load("email", SO, 400, "OTP_EMAIL", config, &logs);
	free(config);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_OTP_EMAIL), 0);

	stepup_otp otp = { EMAIL, OTP, (int64_t)time(NULL) + 300, "CARD_DIGITIZATION", "1234", "fr" };
	int rc = stepup_plugins_deliver_otp(ps, STEPUP_OTP_EMAIL, &otp, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("deliver_otp: %d: %s", rc, err);
	const smtp_sink_message *m = last_message();
	assert_string_equal(m->rcpt[0], EMAIL);
	expect_body_qp(m, OTP " pour 1234\r\n");
	assert_int_equal(stepup_plugins_notify(ps, STEPUP_OTP_EMAIL, EMAIL, "Carte ajout\xc3\xa9" "e", "fr", err,
					       sizeof(err)),
			 STEPUP_OK);
	expect_body_qp(last_message(), "Carte ajout\xc3\xa9" "e\r\n");

	smtp_sink_behaviour b = { .fail_at = SMTP_SINK_AT_RCPT, .fail_code = 550 };
	behave(&b);
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_EMAIL, &otp, err, sizeof(err)), STEPUP_EPLUGIN);
	assert_non_null(strstr(err, "server answered SMTP 550"));
	pf_assert_clean(NULL, err);
	smtp_sink_behaviour slow = { .greeting_delay_ms = 10000 };
	behave(&slow);
	int64_t t0 = test_host_real_ms();
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_EMAIL, &otp, err, sizeof(err)), STEPUP_ETIMEOUT);
	pf_assert_clean(NULL, err);
	pf_expect_elapsed(t0, 0, 400);
	pf_plugins_unload(ps, &logs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_descriptor, test_setup),
		cmocka_unit_test_setup(test_round_trip, test_setup),
		cmocka_unit_test_setup(test_languages_and_encoding, test_setup),
		cmocka_unit_test_setup(test_long_headers_and_8bit, test_setup),
		cmocka_unit_test_setup(test_notify, test_setup),
		cmocka_unit_test_setup(test_login, test_setup),
		cmocka_unit_test_setup(test_can_deliver, test_setup),
		cmocka_unit_test_setup(test_refused_messages, test_setup),
		cmocka_unit_test_setup(test_server_errors, test_setup),
		cmocka_unit_test_setup(test_deadline, test_setup),
		cmocka_unit_test_setup(test_threads, test_setup),
		cmocka_unit_test_setup(test_refusals, test_setup),
		cmocka_unit_test_setup(test_example_config, test_setup),
		cmocka_unit_test_setup(test_sinkd_process, test_setup),
		cmocka_unit_test_setup(test_smtp_sink_by_hand, test_setup),
		cmocka_unit_test_setup(test_plugin_set, test_setup),
	};
	return cmocka_run_group_tests_name("otp_email_smtp", tests, group_setup, group_teardown);
}
