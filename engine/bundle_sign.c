/* bundle_sign.c: Ed25519 signatures of bundles (bundle_sign.h has the
 * trailer's layout), trusted keys, key pairs.
 *
 * Keys are OpenSSL's PEM files, so operators can make and inspect them
 * with the openssl command as well as with `stepup keygen`. A private key
 * is read only from a file nobody but its owner can read (mode 0600 or
 * stricter), as ssh does; the bytes read are wiped once parsed. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stepup/stepup.h>

#include "bundle_sign.h"
#include "util.h"

#define SIGN_MAGIC "STEPUPS\x1a"
#define SIGN_FORMAT 1u
#define SIGN_ED25519 1u
#define SIGNED_PREFIX 48u       /* trailer bytes covered by the signature */
#define KEY_FILE_MAX (64u << 10)
#define BUNDLE_MAGIC "STEPUPB\x1a"

typedef struct trusted {
	EVP_PKEY *key;
	uint8_t id[32];
	char fp[STEPUP_FINGERPRINT_SIZE];
} trusted;

struct stepup_keyring {
	trusted *keys;
	size_t n;
};

int su_sign_has_trailer(const void *data, size_t len)
{
	return data && len >= SU_SIGN_TRAILER &&
	       memcmp((const uint8_t *)data + len - SU_SIGN_TRAILER, SIGN_MAGIC, 8) == 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Key id (SHA-256 of the raw public key) and fingerprint of an Ed25519
 * key, public or private. 0, or -1 when it is not an Ed25519 key. */
static int key_id(EVP_PKEY *k, uint8_t id[32], char fp[STEPUP_FINGERPRINT_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];
	size_t rawlen = sizeof(raw);
	unsigned dl = 0;
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(k, raw, &rawlen) != 1 ||
	    rawlen != 32 || EVP_Digest(raw, rawlen, id, &dl, EVP_sha256(), NULL) != 1)
		return -1;
	memcpy(fp, "ed25519:", 8);
	for (int i = 0; i < 16; i++) {
		fp[8 + 2 * i] = hex[id[i] >> 4];
		fp[9 + 2 * i] = hex[id[i] & 15];
	}
	fp[40] = '\0';
	return 0;
}

/* PEM pass phrases are not supported: never let OpenSSL prompt on a
 * terminal from inside a library (or a daemon). */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf, (void)size, (void)rw, (void)u;
	return -1;
}

/* Read a PEM key file. want_private: the file must be mode 0600 or
 * stricter. STEPUP_OK and *out, or a status with "<path>: <why>". */
static int read_key(const char *path, int want_private, EVP_PKEY **out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	rc = su_open_file(path, &fd, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	if (fstat(fd, &st) != 0) {
		su_set_err(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return STEPUP_EIO;
	}
	rc = su_read_fd(fd, KEY_FILE_MAX, &text, &len);
	close(fd);
	if (rc < 0 || len > KEY_FILE_MAX) {
		su_set_err(err, errlen, "%s: %s", path, rc == -1 ? "out of memory" : rc < 0 ? "read error"
		                                                                       : "too large for a key");
		if (text)
			explicit_bzero(text, len);
		free(text);
		return rc == -1 ? STEPUP_ENOMEM : STEPUP_EIO;
	}
	int has_private = strstr(text, "PRIVATE KEY-----") != NULL;
	int has_public = strstr(text, "PUBLIC KEY-----") != NULL;
	if (want_private && (st.st_mode & 077) && !(has_public && !has_private)) {
		su_set_err(err, errlen, "%s: a private key readable by group or others is refused (chmod 600 %s)",
		           path, path);
		explicit_bzero(text, len);
		free(text);
		return STEPUP_ECONFIG;
	}
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *k = NULL;
	if (bio)
		k = want_private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
		                 : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	explicit_bzero(text, len);
	free(text);
	if (!k) {
		if (!want_private && has_private)
			su_set_err(err, errlen, "%s: holds a private key; give the public key (openssl pkey -in KEY "
			           "-pubout, or the .pub file of stepup keygen)", path);
		else if (want_private && has_public)
			su_set_err(err, errlen, "%s: holds a public key; sign with the private one", path);
		else
			su_set_err(err, errlen, "%s: not a PEM %s key (an encrypted one is not supported)", path,
			           want_private ? "private" : "public");
		return STEPUP_ECONFIG;
	}
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		su_set_err(err, errlen, "%s: not an Ed25519 key (openssl genpkey -algorithm ed25519)", path);
		EVP_PKEY_free(k);
		return STEPUP_ECONFIG;
	}
	*out = k;
	return STEPUP_OK;
}

stepup_keyring *stepup_keyring_new(void)
{
	return calloc(1, sizeof(stepup_keyring));
}

void stepup_keyring_free(stepup_keyring *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		EVP_PKEY_free(k->keys[i].key);
	free(k->keys);
	free(k);
}

int stepup_keyring_add_file(stepup_keyring *k, const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key;
	trusted t;

	if (!k || !path)
		return STEPUP_EINVAL;
	int rc = read_key(path, 0, &key, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	if (key_id(key, t.id, t.fp) < 0) {
		EVP_PKEY_free(key);
		su_set_err(err, errlen, "%s: not an Ed25519 key", path);
		return STEPUP_ECONFIG;
	}
	for (size_t i = 0; i < k->n; i++)
		if (memcmp(k->keys[i].id, t.id, 32) == 0) {  /* the same key twice: once is enough */
			EVP_PKEY_free(key);
			return STEPUP_OK;
		}
	trusted *keys = realloc(k->keys, (k->n + 1) * sizeof(*keys));
	if (!keys) {
		EVP_PKEY_free(key);
		return STEPUP_ENOMEM;
	}
	t.key = key;
	keys[k->n++] = t;
	k->keys = keys;
	return STEPUP_OK;
}

size_t stepup_keyring_count(const stepup_keyring *k)
{
	return k ? k->n : 0;
}

const char *stepup_keyring_fingerprint(const stepup_keyring *k, size_t i)
{
	return k && i < k->n ? k->keys[i].fp : NULL;
}

/* Write a PEM file that must not exist yet (O_EXCL: never over a key). */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *k, int private, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		su_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return STEPUP_EIO;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		su_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return STEPUP_EIO;
	}
	int ok = private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1
	                 : PEM_write_PUBKEY(f, k) == 1;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		su_set_err(err, errlen, "%s: cannot write the key", path);
		return STEPUP_EIO;
	}
	return STEPUP_OK;
}

int stepup_key_generate(const char *key_path, const char *pub_path, char *fp, char *err, size_t errlen)
{
	EVP_PKEY *k = NULL;
	uint8_t id[32];
	char f[STEPUP_FINGERPRINT_SIZE];

	if (!key_path || !pub_path)
		return STEPUP_EINVAL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1 || key_id(k, id, f) < 0) {
		EVP_PKEY_CTX_free(ctx);
		EVP_PKEY_free(k);
		su_set_err(err, errlen, "cannot generate an Ed25519 key");
		return STEPUP_ENOMEM;
	}
	EVP_PKEY_CTX_free(ctx);
	int rc = write_pem(key_path, 0600, k, 1, err, errlen);
	if (rc == STEPUP_OK) {
		rc = write_pem(pub_path, 0644, k, 0, err, errlen);
		if (rc != STEPUP_OK)
			unlink(key_path);
	}
	EVP_PKEY_free(k);
	if (rc == STEPUP_OK && fp)
		memcpy(fp, f, sizeof(f));
	return rc;
}

int stepup_bundle_sign(const void *bundle, size_t len, const char *key_path, void **out, size_t *outlen,
                       char *fp, char *err, size_t errlen)
{
	EVP_PKEY *k;
	uint8_t id[32];
	char f[STEPUP_FINGERPRINT_SIZE];

	if (!bundle || !key_path || !out || !outlen)
		return STEPUP_EINVAL;
	*out = NULL;
	*outlen = 0;
	if (len < 8 || memcmp(bundle, BUNDLE_MAGIC, 8) != 0) {
		su_set_err(err, errlen, "not a stepup bundle: only bundles are signed");
		return STEPUP_EBUNDLE;
	}
	if (su_sign_has_trailer(bundle, len))  /* signed again: the old signature goes */
		len -= SU_SIGN_TRAILER;
	int rc = read_key(key_path, 1, &k, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	if (key_id(k, id, f) < 0) {
		EVP_PKEY_free(k);
		su_set_err(err, errlen, "%s: not an Ed25519 key", key_path);
		return STEPUP_ECONFIG;
	}
	uint8_t *p = malloc(len + SU_SIGN_TRAILER);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!p || !md) {
		free(p);
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(k);
		return STEPUP_ENOMEM;
	}
	memcpy(p, bundle, len);
	uint8_t *t = p + len;
	memcpy(t, SIGN_MAGIC, 8);
	put32(t + 8, SIGN_FORMAT);
	put32(t + 12, SIGN_ED25519);
	memcpy(t + 16, id, 32);
	size_t siglen = 64;
	/* Ed25519 signs the message itself (no digest): the bundle and the
	 * signed part of the trailer, contiguous in p. */
	int ok = EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestSign(md, t + SIGNED_PREFIX, &siglen, p, len + SIGNED_PREFIX) == 1 && siglen == 64;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	if (!ok) {
		free(p);
		su_set_err(err, errlen, "%s: signing failed", key_path);
		return STEPUP_ECONFIG;
	}
	*out = p;
	*outlen = len + SU_SIGN_TRAILER;
	if (fp)
		memcpy(fp, f, sizeof(f));
	return STEPUP_OK;
}

int stepup_bundle_verify(const void *data, size_t len, const stepup_keyring *k, char *fp, char *err,
                         size_t errlen)
{
	const uint8_t *p = data;

	if (fp)
		fp[0] = '\0';
	if (!data)
		return STEPUP_EINVAL;
	if (!su_sign_has_trailer(data, len)) {
		su_set_err(err, errlen, "not signed");
		return STEPUP_ENOTFOUND;
	}
	const uint8_t *t = p + len - SU_SIGN_TRAILER;
	uint32_t format = get32(t + 8), alg = get32(t + 12);
	if (format != SIGN_FORMAT || alg != SIGN_ED25519) {
		su_set_err(err, errlen, "signature trailer format %u, algorithm %u: not supported (this build "
		           "reads format %u, Ed25519)", format, alg, SIGN_FORMAT);
		return STEPUP_EBUNDLE;
	}
	const trusted *key = NULL;
	for (size_t i = 0; k && i < k->n && !key; i++)
		if (memcmp(k->keys[i].id, t + 16, 32) == 0)
			key = &k->keys[i];
	if (!key) {
		static const char hex[] = "0123456789abcdef";
		char who[STEPUP_FINGERPRINT_SIZE] = "ed25519:";
		for (int i = 0; i < 16; i++) {
			who[8 + 2 * i] = hex[t[16 + i] >> 4];
			who[9 + 2 * i] = hex[t[16 + i] & 15];
		}
		who[40] = '\0';
		su_set_err(err, errlen, "signed by %s, which is not a trusted key (%zu trusted)", who,
		           stepup_keyring_count(k));
		return STEPUP_EBUNDLE;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return STEPUP_ENOMEM;
	int ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, key->key) == 1 &&
	         EVP_DigestVerify(md, t + SIGNED_PREFIX, 64, p, len - SU_SIGN_TRAILER + SIGNED_PREFIX) == 1;
	EVP_MD_CTX_free(md);
	if (!ok) {
		su_set_err(err, errlen, "the signature by %s does not verify: the bundle was changed after it "
		           "was signed", key->fp);
		return STEPUP_EBUNDLE;
	}
	if (fp)
		memcpy(fp, key->fp, STEPUP_FINGERPRINT_SIZE);
	return STEPUP_OK;
}
