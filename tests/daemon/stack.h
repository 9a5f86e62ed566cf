/* stack.h: stepupd with everything on: the reference plugins
 * (otp_sms_http, otp_email_smtp, inapp_http, cs_router) pointed at
 * loopback receivers, the case store on a SQLite file in the daemon's
 * directory, the webhook, the end-user notification. Shared by the tests
 * that look for data where it must never be (test_pci, test_secrets).
 * Plain C, no cmocka. */
#ifndef STEPUPD_TEST_STACK_H
#define STEPUPD_TEST_STACK_H

#define STACK_WEBHOOK_SECRET "pci-webhook-secret"
#define STACK_INAPP_KEY "key-for-the-in-app-plugin-test!!"
#define STACK_INAPP_KEY_HEX "6b65792d666f722d7468652d696e2d6170702d706c7567696e2d746573742121"

/* The members to append to the default test configuration
 * (hd_write_default_config's extra), malloc'd; plugins from plugin_dir. */
char *stack_config(const char *plugin_dir, const char *dir, unsigned sms_port, unsigned smtp_port,
                   unsigned backend_port, unsigned hook_port);

/* Turn on what change control adds to the outputs (issue 13) in the
 * configuration file at config_path (written by hd_write_default_config):
 * a replay-safe decision log keeping every declared field, with a hash
 * key, and a candidate in shadow (the rules in rules_path plus a rule
 * reading the secrets and the contacts) writing dir/shadow.log. 0 or -1. */
int stack_change_control(const char *config_path, const char *dir, const char *rules_path);

#endif
