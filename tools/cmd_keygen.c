/* cmd_keygen.c: signing keys for bundles (`stepup keygen`) and the signed
 * save behind `stepup compile --sign KEY` (docs/change-control.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_keygen(int argc, char **argv)
{
	const char *key = NULL, *pub = NULL;
	char pubbuf[4096], fp[STEPUP_FINGERPRINT_SIZE], err[512];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc)
			pub = argv[++i];
		else if (argv[i][0] != '-' && !key)
			key = argv[i];
		else {
			fprintf(stderr, "usage: stepup keygen KEY [--pub PUBLIC_KEY]   (public key: KEY.pub by default)\n");
			return 2;
		}
	}
	if (!key) {
		fprintf(stderr, "usage: stepup keygen KEY [--pub PUBLIC_KEY]   (public key: KEY.pub by default)\n");
		return 2;
	}
	if (!pub) {
		snprintf(pubbuf, sizeof(pubbuf), "%s.pub", key);
		pub = pubbuf;
	}
	int rc = stepup_key_generate(key, pub, fp, err, sizeof(err));
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup keygen: %s\n", err);
		return 1;
	}
	printf("wrote %s (private, mode 0600: keep it off the servers) and %s (public: the daemons' "
	       "bundles.trusted_keys)\nfingerprint %s\n", key, pub, fp);
	return 0;
}

int cli_save_signed(const stepup_ruleset *rs, const char *out, const char *key)
{
	char err[600], fp[STEPUP_FINGERPRINT_SIZE];
	int rc = stepup_ruleset_save_signed(rs, out, key, fp, err, sizeof(err));
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup compile: --sign: %s\n", err);
		return -1;
	}
	fprintf(stderr, "signed %s by %s\n", out, fp);
	return 0;
}
