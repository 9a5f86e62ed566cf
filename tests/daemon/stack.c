/* stack.c: the configuration of stack.h. Retries are many and quick: on
 * a loaded machine (sanitizers, parallel tests) a first attempt may time
 * out, and the tests wait for deliveries, not for a number of attempts. */
#include <stdio.h>
#include <stdlib.h>

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
