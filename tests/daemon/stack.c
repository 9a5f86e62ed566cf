/* stack.c: the configuration of stack.h. Retries are many and quick: on
 * a loaded machine (sanitizers, parallel tests) a first attempt may time
 * out, and the tests wait for deliveries, not for a number of attempts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "stack.h"

char *stack_config(const char *plugin_dir, const char *dir, unsigned sms_port, unsigned smtp_port,
                   unsigned backend_port, unsigned hook_port)
{
	char *s;
	int n = asprintf(&s,
		"\"plugins\": {\"path\": [\"%s\"], \"timeout_ms\": 4000, \"load\": ["
		"{\"name\": \"sms\", \"module\": \"otp_sms_http\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"http://127.0.0.1:%u/sms\", \"allow_http\": true, \"issuer_name\": \"Test Bank\","
		"  \"templates\": {\"en\": \"{otp} is your {issuer} code for the card ending {pan_suffix}.\"}}},"
		"{\"name\": \"email\", \"module\": \"otp_email_smtp\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\", \"from\": \"no-reply@testbank.example\","
		"  \"templates\": {\"en\": {\"subject\": \"Your code for the card ending {pan_suffix}\","
		"                 \"body\": \"Your code is {otp}.\\n\"}}}},"
		"{\"name\": \"inapp\", \"module\": \"inapp_http\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"http://127.0.0.1:%u/inapp\", \"allow_http\": true,"
		"  \"app\": {\"app_id\": \"com.examplebank.mobile\", \"name\": \"Test Bank\"},"
		"  \"hmac_key_hex\": \"" STACK_INAPP_KEY_HEX "\"}},"
		"{\"name\": \"cs\", \"module\": \"cs_router\", \"isolation\": \"inline\", \"config\": {"
		"  \"default\": {\"standard\": \"+1-800-555-0100\", \"fraud\": \"+1-800-555-0199\"}}}],"
		" \"methods\": {\"IN_APP\": \"inapp\", \"OTP_SMS\": \"sms\", \"OTP_EMAIL\": \"email\","
		"               \"CUSTOMER_SERVICE\": \"cs\"}},\n"
		"  \"cases\": {\"path\": \"%s/cases.db\", \"ttl_seconds\": 900, \"max_otp_sends\": 100,"
		" \"sweep_interval_ms\": 100, \"busy_timeout_ms\": 2000,"
		" \"webhook\": {\"url\": \"http://127.0.0.1:%u/hooks/stepup\", \"secret\": \"" STACK_WEBHOOK_SECRET "\","
		"   \"timeout_ms\": 2000, \"backoff_ms\": 50, \"max_backoff_ms\": 200, \"max_attempts\": 200},"
		" \"notify_end_user\": {\"enabled\": true, \"method\": \"OTP_SMS\", \"templates\": {"
		"   \"en\": \"Your card ending {pan_suffix} was added to {wallet}.\"}}}",
		plugin_dir, sms_port, smtp_port, backend_port, dir, hook_port);
	return n < 0 ? NULL : s;
}

int stack_change_control(const char *config_path, const char *dir, const char *rules_path)
{
	static const char extra_rule[] =
		"\nrule reads_secrets \"A candidate that reads the secrets and the contacts\"\n"
		"  when card.pan is present and (starts_with(card.pan, \"4\") or card.csc is present\n"
		"   or ends_with(end_user.email, \"@example.com\") or end_user.phone == wallet.phone_suffix)\n"
		"  then decline\n";
	char cand[256], key[256], slog[256];
	json_error_t e;
	int rc = -1;
	snprintf(cand, sizeof(cand), "%s/candidate.rules", dir);
	snprintf(key, sizeof(key), "%s/hash.key", dir);
	snprintf(slog, sizeof(slog), "%s/shadow.log", dir);
	char *rules = hd_slurp(rules_path, NULL), *both = NULL;
	json_t *c = json_load_file(config_path, 0, &e);
	if (!rules || !c || asprintf(&both, "%s%s", rules, extra_rule) < 0)
		goto out;
	if (hd_write(cand, both) < 0 || hd_write(key, "a-hash-key-for-the-leak-sweeps\n") < 0 || chmod(key, 0600) < 0)
		goto out;
	json_t *dl = json_object_get(c, "decision_log");
	json_object_set_new(dl, "replay_safe", json_true());
	json_object_set_new(dl, "facts", json_string("declared"));
	json_object_set_new(dl, "hash_key_file", json_string(key));
	json_object_set_new(c, "shadow", json_pack("{s:s,s:s}", "rules", cand, "log", slog));
	rc = json_dump_file(c, config_path, JSON_INDENT(2)) == 0 ? 0 : -1;
out:
	free(rules);
	free(both);
	json_decref(c);
	return rc;
}
