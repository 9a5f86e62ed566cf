/* bench_plugins.c: what serving methods through plugins costs a decision.
 *
 * The same step-up request (IN_APP, OTP_SMS, OTP_EMAIL, CUSTOMER_SERVICE
 * offered) decided JSON in / JSON out, single thread, with the methods
 * served from issuer settings (no plugins), then through the fake channel
 * plugin (tests/plugins/channel.so: can_deliver, describe, route, no I/O)
 * configured "inline", "thread" and "process" (its own child processes,
 * stepup-plugin-host: STEPUP_PLUGIN_HOST names it). The difference
 * divided by the three calls a decision makes is the cost of one plugin
 * call in each mode.
 *
 *   bench/bench_plugins PLUGIN_DIR [seconds]   (make bench-plugins) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stepup/stepup.h>

static const char request[] =
	"{\"request_id\":\"bench-1\",\"tsp\":\"MDES\",\"channel\":\"XPAY_WALLET\","
	"\"token_requestor\":{\"id\":\"50110030273\",\"name\":\"APPLE_PAY\"},"
	"\"card\":{\"pan_suffix\":\"1234\",\"state\":\"ACTIVE\",\"capture_method\":\"BANK_APP\","
	"\"csc_result\":\"MATCH\",\"active_tokens\":1,\"csc_failures_24h\":0},"
	"\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\","
	"\"app_enrolled\":true,\"language\":\"en-US\",\"otp_exhausted\":false},"
	"\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":2,\"account_score\":5,\"phone_score\":5,"
	"\"recommended_decision\":\"APPROVED\",\"device_suspicious\":false,\"device_country\":\"US\"}}";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns per decision, best of 3 runs of `secs` each. */
static double measure(const stepup_engine *e, double secs, size_t *methods)
{
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	double best = 1e30;
	for (int round = 0; round < 3; round++) {
		long n = 0;
		double t0 = now_s(), t;
		do {
			for (int k = 0; k < 256; k++) {
				const char *out;
				size_t len;
				if (stepup_decide_json(e, r, d, request, sizeof(request) - 1, 0, &out, &len) != STEPUP_OK) {
					fprintf(stderr, "decision failed\n");
					exit(1);
				}
			}
			n += 256;
		} while ((t = now_s() - t0) < secs);
		if (t / (double)n * 1e9 < best)
			best = t / (double)n * 1e9;
	}
	*methods = stepup_decision_method_count(d);
	stepup_request_free(r);
	stepup_decision_free(d);
	return best;
}

static stepup_engine *engine(const char *config, stepup_plugins **ps)
{
	char err[512];
	stepup_ruleset *rs;
	stepup_engine *e;
	if (stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err)) != STEPUP_OK ||
	    stepup_plugins_load(config, NULL, NULL, NULL, ps, err, sizeof(err)) != STEPUP_OK ||
	    stepup_engine_new_with_plugins(rs, *ps, config, &e, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "bench_plugins: %s\n", err);
		exit(1);
	}
	stepup_ruleset_unref(rs);
	return e;
}

/* A rule function: the default rules plus one rule calling good.add()
 * (tests/plugins/good.so) on every request, against the same rules with
 * the call replaced by a constant test. */
static stepup_engine *fn_engine(const char *plugin_dir, const char *mode, stepup_plugins **ps)
{
	char err[512], config[1024], *src = NULL;
	FILE *f = fopen(SRCDIR "/rules/default.rules", "r");
	size_t n = 0, cap = 0;
	int c;
	stepup_compiler *cc = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	stepup_engine *e = NULL;
	while (f && (c = fgetc(f)) != EOF) {
		if (n + 2 >= cap && !(src = realloc(src, cap = cap ? cap * 2 : 65536)))
			exit(1);
		src[n++] = (char)c;
	}
	if (f)
		fclose(f);
	src[n] = '\0';
	const char *extra = mode ? "\nrule many_tokens \"Too many tokens\" when good.add(card.active_tokens, 1) > 100 then decline\n"
	                         : "\nrule many_tokens \"Too many tokens\" when card.active_tokens > 99 then decline\n";
	src = realloc(src, n + strlen(extra) + 1);
	strcpy(src + n, extra);
	*ps = NULL;
	if (mode) {
		snprintf(config, sizeof(config), "{\"plugins\":{\"path\":[\"%s\"],\"load\":[{\"module\":\"good\","
		         "\"isolation\":\"%s\",\"trusted\":true}]}}", plugin_dir, mode);
		if (stepup_plugins_load(config, NULL, NULL, NULL, ps, err, sizeof(err)) != STEPUP_OK) {
			fprintf(stderr, "bench_plugins: %s\n", err);
			exit(1);
		}
		stepup_compiler_set_plugins(cc, *ps);
	}
	stepup_compiler_add_source(cc, "bench.rules", src, strlen(src));
	if (stepup_compiler_compile(cc, &rs) != STEPUP_OK ||
	    stepup_engine_new_with_plugins(rs, *ps, NULL, &e, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "bench_plugins: the rule function ruleset does not build\n");
		exit(1);
	}
	stepup_compiler_free(cc);
	stepup_ruleset_unref(rs);
	free(src);
	return e;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { NULL, "inline", "thread", "process" };
	char config[2048];
	double secs = argc > 2 ? atof(argv[2]) : 0.5, base = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_plugins PLUGIN_DIR [seconds]\n");
		return 2;
	}
	printf("bench_plugins: one step-up request (4 methods), JSON in/out, single thread, best of 3 x %.1fs\n\n",
	       secs);
	printf("  %-34s %12s %10s %14s\n", "methods served by", "ns/decision", "methods", "ns/plugin call");
	for (int m = 0; m < 4; m++) {
		stepup_plugins *ps = NULL;
		size_t nm = 0;
		if (!modes[m])
			snprintf(config, sizeof(config),
			         "{\"issuer\":{\"app_id\":\"com.examplebank.mobile\",\"customer_service\":"
			         "{\"standard\":\"+1-800-555-0100\",\"fraud\":\"+1-800-555-0199\"}}}");
		else
			snprintf(config, sizeof(config),
			         "{\"plugins\":{\"path\":[\"%s\"],\"load\":[{\"module\":\"channel\",\"isolation\":\"%s\",\"trusted\":true,"
			         "\"config\":{\"hours\":\"24/7\"}}],\"methods\":{\"OTP_SMS\":\"channel\","
			         "\"IN_APP\":\"channel\",\"CUSTOMER_SERVICE\":\"channel\"}}}",
			         argv[1], modes[m]);
		stepup_engine *e = engine(config, &ps);
		double ns = measure(e, secs, &nm);
		if (!modes[m]) {
			base = ns;
			printf("  %-34s %12.0f %10zu %14s\n", "issuer settings (no plugins)", ns, nm, "-");
		} else {
			char what[64];
			snprintf(what, sizeof(what), "fake channel plugin, \"%s\"", modes[m]);
			printf("  %-34s %12.0f %10zu %14.0f\n", what, ns, nm, (ns - base) / 3);
		}
		stepup_engine_free(e);
		stepup_plugins_unref(ps);
	}
	printf("\n  %-34s %12s %10s %14s\n", "one rule function call", "ns/decision", "", "ns/call");
	for (int m = 0; m < 4; m++) {
		stepup_plugins *ps = NULL;
		size_t nm = 0;
		stepup_engine *e = fn_engine(argv[1], modes[m], &ps);
		double ns = measure(e, secs, &nm);
		if (!modes[m]) {
			base = ns;
			printf("  %-34s %12.0f %10s %14s\n", "a constant test instead", ns, "", "-");
		} else {
			char what[64];
			snprintf(what, sizeof(what), "good.add(), \"%s\"", modes[m]);
			printf("  %-34s %12.0f %10s %14.0f\n", what, ns, "", ns - base);
		}
		stepup_engine_free(e);
		stepup_plugins_unref(ps);
	}
	printf("\n(a shared 2-core machine: compare modes within one run)\n");
	return 0;
}
