/* plugins.h (internal): a loaded set of plugins (struct stepup_plugins),
 * the method -> plugin map, and every call into a plugin interface under a
 * deadline, with counters.
 *
 * The public face is the "Plugins" section of <stepup/stepup.h>; the
 * loader of one plugin is plugin_loader.h. */
#ifndef SU_PLUGINS_H
#define SU_PLUGINS_H

#include <stepup/stepup.h>

#include "plugin_loader.h"

/* The loaded plugin configured as `name` (the prefix of its rule
 * functions), or NULL. Borrowed from the set. */
const su_plugin *su_plugins_find(const stepup_plugins *ps, const char *name);

/* Results of the calls the decide path makes. */
typedef struct su_pcall {
	int status;          /* STEPUP_OK, STEPUP_EPLUGIN, STEPUP_ETIMEOUT */
	int plugin;          /* index of the plugin called, -1 if none */
	char why[192];       /* "<plugin>: <op>: <reason>", no PII */
} su_pcall;

/* can_deliver(destination) of the channel serving m (OTP_SMS / OTP_EMAIL). */
void su_plugins_can_deliver(stepup_plugins *ps, stepup_method m, const char *destination,
                            su_pcall *res);
/* describe(language) of the in-app plugin; *app_json malloc'd on success
 * (a JSON object as text, checked). */
void su_plugins_describe(stepup_plugins *ps, const char *language, char **app_json,
                         su_pcall *res);
/* route() of the customer-service plugin; *number / *hours malloc'd. */
void su_plugins_route(stepup_plugins *ps, const char *request_json, stepup_cs_line line,
                      char **number, char **hours, su_pcall *res);

/* A rule function of p (a plugin of a set: su_plugins_find) with args,
 * under its isolation and the decision-time deadline, counted, and
 * remembered for the rest of the decision. STEPUP_OK with *ret (a string
 * result malloc'd, or NULL: absent), or a failure: the rules see it
 * absent. */
int su_plugins_call_fn(const su_plugin *p, unsigned fn, const su_plugin_arg *args, su_plugin_arg *ret);

/* The decision this thread is about to make: its deadline
 * (CLOCK_MONOTONIC milliseconds, 0 for none) cuts every decision-time
 * call short, and with STEPUP_DECIDE_NONBLOCK no call that may block is
 * made (it is noted instead). _end forgets the decision's memo and
 * returns 1 when a call was not made for that reason. */
void su_plugins_decision_begin(int64_t deadline_ms, unsigned flags);
int su_plugins_decision_end(void);

#endif
