/* trusted.c: loading a ruleset under a signing policy
 * (stepup_ruleset_load_trusted): the signature is checked on the very
 * bytes that are then loaded, read once, so a file replaced between the
 * check and the load cannot slip through. */
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "bundle.h"
#include "util.h"

/* As the loader's own bound on a bundle read (compiler.c). */
#define TRUSTED_READ_MAX (512u << 20)

int stepup_ruleset_load_trusted(const char *path, const stepup_plugins *plugins, unsigned flags,
                                const stepup_keyring *trust, stepup_ruleset **out, char *fp,
                                char *err, size_t errlen)
{
	char *buf, why[512];
	size_t len;
	int rc, require = (flags & STEPUP_LOAD_SIGNED) != 0;

	if (fp)
		fp[0] = '\0';
	if (!path || !out)
		return STEPUP_EINVAL;
	*out = NULL;
	flags &= ~STEPUP_LOAD_SIGNED;
	rc = su_read_file(path, TRUSTED_READ_MAX, &buf, &len, why, sizeof(why));
	if (rc != STEPUP_OK) {
		su_set_err(err, errlen, "%s", why);
		return rc;
	}
	int bundle = len >= 8 && memcmp(buf, "STEPUPB", 7) == 0;
	if (!bundle) {
		free(buf);
		if (require) {
			su_set_err(err, errlen, "%s: rule sources are refused: a bundle signed by a trusted key is "
			           "required (stepup compile --sign KEY)", path);
			return STEPUP_EBUNDLE;
		}
		/* Sources carry no signature to check: the ordinary loader reads
		 * them (again; whatever it finds, nothing was promised about it). */
		return stepup_ruleset_load_flags(path, plugins, flags, out, err, errlen);
	}
	rc = stepup_bundle_verify(buf, len, trust, fp, why, sizeof(why));
	if (rc == STEPUP_ENOTFOUND && !require) {
		rc = STEPUP_OK;  /* unsigned, and that is allowed */
	} else if (rc == STEPUP_ENOTFOUND) {
		su_set_err(err, errlen, "%s: not signed: a bundle signed by a trusted key is required "
		           "(stepup compile --sign KEY)", path);
		free(buf);
		return STEPUP_EBUNDLE;
	} else if (rc != STEPUP_OK && stepup_keyring_count(trust) == 0 && !require) {
		rc = STEPUP_OK;  /* no key trusted, none required: signatures are not checked */
		if (fp)
			fp[0] = '\0';
	} else if (rc != STEPUP_OK) {
		su_set_err(err, errlen, "%s: %s", path, why);
		free(buf);
		return rc;
	}
	rc = stepup_ruleset_load_bundle_flags(buf, len, flags, out, why, sizeof(why));
	free(buf);
	if (rc != STEPUP_OK) {
		su_set_err(err, errlen, "%s: %s", path, why);
		if (fp)
			fp[0] = '\0';
	}
	return rc;
}

int stepup_ruleset_save_signed(const stepup_ruleset *rs, const char *path, const char *key_path, char *fp,
                               char *err, size_t errlen)
{
	void *data, *signed_data;
	size_t len, slen;
	char why[512];

	if (!rs || !path || !key_path)
		return STEPUP_EINVAL;
	int rc = stepup_ruleset_serialize(rs, &data, &len);
	if (rc != STEPUP_OK)
		return rc;
	rc = stepup_bundle_sign(data, len, key_path, &signed_data, &slen, fp, why, sizeof(why));
	free(data);
	if (rc != STEPUP_OK) {
		su_set_err(err, errlen, "%s", why);
		return rc;
	}
	return su_bundle_write_file(path, signed_data, slen, err, errlen);
}
