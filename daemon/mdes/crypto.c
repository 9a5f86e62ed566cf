/* crypto.c: MDES field-level encryption (crypto.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stepup/error.h>

#include "../../engine/util.h"
#include "crypto.h"

#define MAX_FPS 6          /* fingerprints accepted per key */
#define MAX_PEM 65536
#define FP_MAX 128         /* hex digits of a fingerprint we keep */

typedef struct mkey {
	EVP_PKEY *pkey;
	char fp[MAX_FPS][FP_MAX + 1];
	unsigned nfp;
} mkey;

struct mdes_keyring {
	mkey *keys;
	size_t n;
};

void mdes_hex(const unsigned char *in, size_t n, char *out)
{
	su_hex(in, n, out);
}

/* Hex (either case) to bytes: n bytes into a malloc'd buffer, or NULL
 * (*bad set when the text is not an even run of hex digits). */
static unsigned char *unhex(const char *s, size_t *n, int *bad)
{
	size_t len = strlen(s);
	*bad = 0;
	if (len == 0 || len % 2) {
		*bad = 1;
		return NULL;
	}
	unsigned char *out = malloc(len / 2 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = su_hexval((unsigned char)s[i]), lo = su_hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(out, i / 2);
			free(out);
			*bad = 1;
			return NULL;
		}
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return out;
}

/* ---- keys ----------------------------------------------------------------- */

mdes_keyring *mdes_keyring_new(void)
{
	return calloc(1, sizeof(mdes_keyring));
}

void mdes_keyring_free(mdes_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++)
		EVP_PKEY_free(kr->keys[i].pkey);
	free(kr->keys);
	free(kr);
}

size_t mdes_keyring_count(const mdes_keyring *kr)
{
	return kr ? kr->n : 0;
}

const char *mdes_keyring_fingerprint(const mdes_keyring *kr, size_t i)
{
	return kr && i < kr->n ? kr->keys[i].fp[0] : NULL;
}

/* The file's bytes, if it is a regular file of at most MAX_PEM bytes; with
 * `private`, only when no one but its owner can read or change it. */
static char *read_pem(const char *path, int private, size_t *len, char *err, size_t errlen)
{
	char *pem = NULL;
	return su_read_secret_file(path, MAX_PEM, private, &pem, len, err, errlen) == STEPUP_OK ? pem : NULL;
}

static void wipe_free(char *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

static int digest_hex(const EVP_MD *md, const unsigned char *der, size_t n, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dn = 0;
	if (EVP_Digest(der, n, d, &dn, md, NULL) != 1)
		return -1;
	mdes_hex(d, dn, out);
	return 0;
}

static void add_fp(mkey *k, const char *hex)
{
	if (k->nfp < MAX_FPS && strlen(hex) <= FP_MAX) {
		for (char *o = k->fp[k->nfp]; (*o = (char)((*hex >= 'A' && *hex <= 'F') ? *hex + 32 : *hex)); o++, hex++)
			;
		k->nfp++;
	}
}

/* SHA-256 and SHA-1 of a DER encoding, as fingerprints of k. */
static int add_der_fps(mkey *k, const unsigned char *der, int n)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	if (n <= 0 || digest_hex(EVP_sha256(), der, (size_t)n, hex) < 0)
		return -1;
	add_fp(k, hex);
	if (digest_hex(EVP_sha1(), der, (size_t)n, hex) < 0)
		return -1;
	add_fp(k, hex);
	return 0;
}

static int spki_fps(mkey *k, EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pkey, &der);
	int rc = add_der_fps(k, der, n);
	OPENSSL_free(der);
	return rc;
}

static int is_hex_fp(const char *s)
{
	size_t n = strlen(s);
	if (n < 32 || n > FP_MAX)
		return 0;
	for (; *s; s++)
		if (su_hexval((unsigned char)*s) < 0)
			return 0;
	return 1;
}

int mdes_keyring_add_file(mdes_keyring *kr, const char *path, const char *cert_path,
                          const char *fingerprint, char *err, size_t errlen)
{
	size_t len = 0, clen = 0;
	char *pem = NULL, *cpem = NULL;
	BIO *bio = NULL;
	X509 *cert = NULL;
	mkey k;
	int rc = -1;

	memset(&k, 0, sizeof(k));
	if (fingerprint && !is_hex_fp(fingerprint)) {
		snprintf(err, errlen, "%s: the fingerprint must be 32 to %d hex digits", path, FP_MAX);
		return -1;
	}
	if (!(pem = read_pem(path, 1, &len, err, errlen)))
		return -1;
	if (!(bio = BIO_new_mem_buf(pem, (int)len)) ||
	    !(k.pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)""))) {
		snprintf(err, errlen, "%s: not a PEM private key (without a passphrase)", path);
		goto out;
	}
	if (EVP_PKEY_base_id(k.pkey) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "%s: not an RSA key (MDES wraps its AES keys with RSA)", path);
		goto out;
	}
	if (EVP_PKEY_get_bits(k.pkey) < 2048) {
		snprintf(err, errlen, "%s: an RSA key of %d bits; MDES needs at least 2048", path,
		         EVP_PKEY_get_bits(k.pkey));
		goto out;
	}
	if (spki_fps(&k, k.pkey) < 0) {
		snprintf(err, errlen, "%s: cannot compute the key's fingerprint", path);
		goto out;
	}
	if (cert_path) {
		BIO_free(bio);
		bio = NULL;
		if (!(cpem = read_pem(cert_path, 0, &clen, err, errlen)))
			goto out;
		if (!(bio = BIO_new_mem_buf(cpem, (int)clen)) || !(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			snprintf(err, errlen, "%s: not a PEM certificate", cert_path);
			goto out;
		}
		EVP_PKEY *pub = X509_get0_pubkey(cert);
		if (!pub || EVP_PKEY_eq(pub, k.pkey) != 1) {
			snprintf(err, errlen, "%s: the certificate is not for the key in %s", cert_path, path);
			goto out;
		}
		unsigned char *der = NULL;
		int n = i2d_X509(cert, &der);
		int bad = add_der_fps(&k, der, n);
		OPENSSL_free(der);
		if (bad) {
			snprintf(err, errlen, "%s: cannot compute the certificate's fingerprint", cert_path);
			goto out;
		}
	}
	if (fingerprint)
		add_fp(&k, fingerprint);
	/* One fingerprint must not name two keys: the payload would be
	 * tried with the wrong one. */
	for (size_t i = 0; i < kr->n; i++)
		for (unsigned a = 0; a < kr->keys[i].nfp; a++)
			for (unsigned b = 0; b < k.nfp; b++)
				if (strcmp(kr->keys[i].fp[a], k.fp[b]) == 0) {
					snprintf(err, errlen, "%s: fingerprint %s is already another key's (key %zu)", path,
					         k.fp[b], i + 1);
					goto out;
				}
	mkey *grown = realloc(kr->keys, (kr->n + 1) * sizeof(*grown));
	if (!grown) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	kr->keys = grown;
	kr->keys[kr->n++] = k;
	k.pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(k.pkey);
	X509_free(cert);
	BIO_free(bio);
	wipe_free(pem, len);
	free(cpem);
	return rc;
}

static const mkey *find_key(const mdes_keyring *kr, const char *fp)
{
	char want[FP_MAX + 1];
	size_t n = strlen(fp);
	if (n > FP_MAX)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		want[i] = (char)((fp[i] >= 'A' && fp[i] <= 'F') ? fp[i] + 32 : fp[i]);
	for (size_t i = 0; i < kr->n; i++)
		for (unsigned j = 0; j < kr->keys[i].nfp; j++)
			if (strcmp(kr->keys[i].fp[j], want) == 0)
				return &kr->keys[i];
	return NULL;
}

/* ---- decryption ------------------------------------------------------------- */

static const EVP_MD *oaep_md(const char *name)
{
	if (strcmp(name, "SHA256") == 0)
		return EVP_sha256();
	if (strcmp(name, "SHA512") == 0)
		return EVP_sha512();
	return NULL;
}

/* The one-time AES key, unwrapped with the private key. */
static int unwrap(const mkey *k, const unsigned char *wrapped, size_t wn, const EVP_MD *md,
                  unsigned char *key, size_t *keylen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	unsigned char out[512];
	size_t outlen = sizeof(out);
	int ok = ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
	         EVP_PKEY_CTX_set_rsa_padding(ctx, md ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) == 1 &&
	         (!md || (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 &&
	                  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1)) &&
	         wn <= sizeof(out) && EVP_PKEY_decrypt(ctx, out, &outlen, wrapped, wn) == 1 &&
	         (outlen == 16 || outlen == 24 || outlen == 32);
	if (ok) {
		memcpy(key, out, outlen);
		*keylen = outlen;
	}
	OPENSSL_cleanse(out, sizeof(out));
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

static const EVP_CIPHER *aes(size_t keylen, int gcm)
{
	switch (keylen) {
	case 16: return gcm ? EVP_aes_128_gcm() : EVP_aes_128_cbc();
	case 24: return gcm ? EVP_aes_192_gcm() : EVP_aes_192_cbc();
	default: return gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
	}
}

/* Decrypt data with key; the plaintext into a malloc'd buffer (NUL added). */
static int aes_decrypt(const unsigned char *key, size_t keylen, int gcm, const unsigned char *iv,
                       size_t ivlen, const unsigned char *tag, size_t taglen, const unsigned char *aad,
                       size_t aadlen, const unsigned char *data, size_t n, char **out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *buf = malloc(n + 32);
	int l1 = 0, l2 = 0, ok = 0;
	if (!c || !buf)
		goto out;
	if (EVP_DecryptInit_ex(c, aes(keylen, gcm), NULL, NULL, NULL) != 1)
		goto out;
	if (gcm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen, NULL) != 1)
		goto out;
	if (EVP_DecryptInit_ex(c, NULL, NULL, key, iv) != 1)
		goto out;
	if (gcm && aadlen && EVP_DecryptUpdate(c, NULL, &l1, aad, (int)aadlen) != 1)
		goto out;
	if (EVP_DecryptUpdate(c, buf, &l1, data, (int)n) != 1)
		goto out;
	if (gcm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, (int)taglen, (void *)tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(c, buf + l1, &l2) != 1)
		goto out;
	buf[l1 + l2] = '\0';
	*out = (char *)buf;
	*outlen = (size_t)(l1 + l2);
	buf = NULL;
	ok = 1;
out:
	if (buf) {
		OPENSSL_cleanse(buf, n + 32);
		free(buf);
	}
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

void mdes_plain_free(char *plain, size_t len)
{
	if (plain) {
		OPENSSL_cleanse(plain, len);
		free(plain);
	}
}

#define FAIL(st, f, ...)                                  \
	do {                                              \
		*field = (f);                             \
		snprintf(why, whylen, __VA_ARGS__);       \
		rc = (st);                                \
		goto out;                                 \
	} while (0)

int mdes_decrypt(const mdes_keyring *kr, const mdes_payload *p, char **plain, size_t *plain_len,
                 const char **field, char *why, size_t whylen)
{
	unsigned char *wrapped = NULL, *data = NULL, *iv = NULL, *tag = NULL, *aad = NULL;
	size_t wn = 0, dn = 0, ivn = 0, tagn = 0, aadn = 0, keylen = 0;
	unsigned char key[32], zero_iv[16] = { 0 };
	const EVP_MD *md = NULL;
	int rc = MDES_C_OK, bad, gcm = 0;

	*plain = NULL;
	*plain_len = 0;
	*field = "";
	why[0] = '\0';
	if (!p->fingerprint || !p->encrypted_key || !p->encrypted_data)
		FAIL(MDES_C_BAD_FORMAT, !p->fingerprint ? "publicKeyFingerprint" : !p->encrypted_key ? "encryptedKey" : "encryptedData",
		     "is required");
	const mkey *k = find_key(kr, p->fingerprint);
	if (!k)
		FAIL(MDES_C_UNKNOWN_KEY, "publicKeyFingerprint", "names no key of this issuer");
	if (p->oaep && !(md = oaep_md(p->oaep)))
		FAIL(MDES_C_BAD_VALUE, "oaepHashingAlgorithm", "must be SHA256 or SHA512 (absent: PKCS#1 v1.5)");
	if (p->mode && strcmp(p->mode, "GCM") == 0)
		gcm = 1;
	else if (p->mode && strcmp(p->mode, "CBC") != 0)
		FAIL(MDES_C_BAD_VALUE, "algorithmCipherMode", "must be CBC or GCM");
	if (!(wrapped = unhex(p->encrypted_key, &wn, &bad)))
		FAIL(bad ? MDES_C_BAD_FORMAT : MDES_C_NOMEM, "encryptedKey", "must be an even number of hex digits");
	if (p->iv) {
		if (!(iv = unhex(p->iv, &ivn, &bad)))
			FAIL(bad ? MDES_C_BAD_FORMAT : MDES_C_NOMEM, "iv", "must be hex");
		if (ivn != (gcm ? 12u : 16u))
			FAIL(MDES_C_BAD_FORMAT, "iv", "must be %u bytes (%u hex digits) with %s", gcm ? 12u : 16u,
			     gcm ? 24u : 32u, gcm ? "GCM" : "CBC");
	} else {
		ivn = gcm ? 12 : 16;
	}
	if (gcm) {
		if (!p->tag || !(tag = unhex(p->tag, &tagn, &bad)) || tagn < 12 || tagn > 16)
			FAIL(MDES_C_BAD_FORMAT, "tag", "must be 12 to 16 bytes of hex with GCM");
		if (p->aad && !(aad = unhex(p->aad, &aadn, &bad)))
			FAIL(MDES_C_BAD_FORMAT, "aad", "must be hex");
	}
	if (!(data = unhex(p->encrypted_data, &dn, &bad)))
		FAIL(bad ? MDES_C_BAD_FORMAT : MDES_C_NOMEM, "encryptedData", "must be an even number of hex digits");
	if (!gcm && dn % 16)
		FAIL(MDES_C_BAD_FORMAT, "encryptedData", "is not a whole number of AES blocks (truncated?)");
	if (dn > (size_t)1 << 30)
		FAIL(MDES_C_BAD_FORMAT, "encryptedData", "is too long");
	if (unwrap(k, wrapped, wn, md, key, &keylen) < 0)
		FAIL(MDES_C_BAD_KEY, "encryptedKey", "does not decrypt with the key named by publicKeyFingerprint%s",
		     md ? " and this oaepHashingAlgorithm" : " (PKCS#1 v1.5: oaepHashingAlgorithm is absent)");
	if (aes_decrypt(key, keylen, gcm, iv ? iv : zero_iv, ivn, tag, tagn, aad, aadn, data, dn, plain,
	                plain_len) < 0)
		FAIL(MDES_C_BAD_DATA, "encryptedData", "%s", gcm ? "does not decrypt: the GCM tag does not match"
		                                                 : "does not decrypt: bad padding (wrong key, IV or truncated data)");
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (wrapped)
		OPENSSL_cleanse(wrapped, wn);
	free(wrapped);
	free(data);
	free(iv);
	free(tag);
	free(aad);
	return rc;
}

/* ---- encryption (CLI and tests) ---------------------------------------------- */

struct mdes_pubkey {
	EVP_PKEY *pkey;
	char fp[2 * EVP_MAX_MD_SIZE + 1];  /* SPKI SHA-256, or as given */
};

mdes_pubkey *mdes_pubkey_load(const char *path, const char *fingerprint, char *err, size_t errlen)
{
	size_t len;
	char *pem = read_pem(path, 0, &len, err, errlen);
	EVP_PKEY *k = NULL;
	mdes_pubkey *pk = NULL;
	if (!pem)
		return NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (bio && strstr(pem, "BEGIN CERTIFICATE")) {
		X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (c)
			k = X509_get_pubkey(c);
		X509_free(c);
	} else if (bio) {
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	free(pem);
	if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "%s: not a PEM RSA public key or certificate", path);
		goto fail;
	}
	if (fingerprint && !is_hex_fp(fingerprint)) {
		snprintf(err, errlen, "%s: the fingerprint must be 32 to %d hex digits", path, FP_MAX);
		goto fail;
	}
	if (!(pk = calloc(1, sizeof(*pk)))) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (fingerprint) {
		snprintf(pk->fp, sizeof(pk->fp), "%s", fingerprint);
	} else {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(k, &der);
		int bad = n <= 0 || digest_hex(EVP_sha256(), der, (size_t)n, pk->fp) < 0;
		OPENSSL_free(der);
		if (bad) {
			snprintf(err, errlen, "%s: cannot compute the fingerprint", path);
			goto fail;
		}
	}
	pk->pkey = k;
	return pk;
fail:
	free(pk);
	EVP_PKEY_free(k);
	return NULL;
}

void mdes_pubkey_free(mdes_pubkey *pk)
{
	if (pk) {
		EVP_PKEY_free(pk->pkey);
		free(pk);
	}
}

int mdes_pubkey_bits(const mdes_pubkey *pk)
{
	return pk ? EVP_PKEY_get_bits(pk->pkey) : 0;
}

static void put_hex_field(char **o, const char *name, const unsigned char *b, size_t n, int *first)
{
	*o += sprintf(*o, "%s\"%s\":\"", *first ? "" : ",", name);
	mdes_hex(b, n, *o);
	*o += 2 * n;
	*o += sprintf(*o, "\"");
	*first = 0;
}

int mdes_encrypt(const char *pub_path, const char *plain, size_t len, const mdes_encrypt_opts *o,
                 char **out, char *err, size_t errlen)
{
	mdes_pubkey *pk = mdes_pubkey_load(pub_path, o->fingerprint, err, errlen);
	*out = NULL;
	if (!pk)
		return -1;
	int rc = mdes_encrypt_for(pk, plain, len, o, out, err, errlen);
	mdes_pubkey_free(pk);
	return rc;
}

int mdes_encrypt_for(const mdes_pubkey *pk, const char *plain, size_t len, const mdes_encrypt_opts *o,
                     char **out, char *err, size_t errlen)
{
	unsigned char key[32], iv[16] = { 0 }, tag[16], aad[8], wrapped[1024], *data = NULL;
	size_t keylen = o->aes_bits == 256 ? 32 : 16, wn = sizeof(wrapped), ivn = o->gcm ? 12 : 16;
	const EVP_MD *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_CIPHER_CTX *c = NULL;
	const char *fp = pk->fp;
	int l1 = 0, l2 = 0, rc = -1;

	*out = NULL;
	if (o->oaep && !(md = oaep_md(o->oaep))) {
		snprintf(err, errlen, "the OAEP hash must be SHA256 or SHA512");
		return -1;
	}
	EVP_PKEY *pub = pk->pkey;
	if (RAND_bytes(key, (int)keylen) != 1 || (o->with_iv && RAND_bytes(iv, (int)ivn) != 1) ||
	    RAND_bytes(aad, sizeof(aad)) != 1) {
		snprintf(err, errlen, "no random bytes");
		goto done;
	}
	if (!(pctx = EVP_PKEY_CTX_new(pub, NULL)) || EVP_PKEY_encrypt_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, md ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) != 1 ||
	    (md && (EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)) ||
	    EVP_PKEY_encrypt(pctx, wrapped, &wn, key, keylen) != 1) {
		snprintf(err, errlen, "RSA encryption failed");
		goto done;
	}
	if (!(data = malloc(len + 32)) || !(c = EVP_CIPHER_CTX_new()) ||
	    EVP_EncryptInit_ex(c, aes(keylen, o->gcm), NULL, NULL, NULL) != 1 ||
	    (o->gcm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivn, NULL) != 1) ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, iv) != 1 ||
	    (o->gcm && EVP_EncryptUpdate(c, NULL, &l1, aad, sizeof(aad)) != 1) ||
	    EVP_EncryptUpdate(c, data, &l1, (const unsigned char *)plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, data + l1, &l2) != 1 ||
	    (o->gcm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag) != 1)) {
		snprintf(err, errlen, "AES encryption failed");
		goto done;
	}
	size_t dn = (size_t)(l1 + l2);
	char *s = malloc(2 * dn + 2 * wn + 512 + strlen(fp));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	char *w = s;
	int first = 1;
	w += sprintf(w, "{");
	put_hex_field(&w, "encryptedData", data, dn, &first);
	put_hex_field(&w, "encryptedKey", wrapped, wn, &first);
	w += sprintf(w, ",\"publicKeyFingerprint\":\"%s\"", fp);
	if (md)
		w += sprintf(w, ",\"oaepHashingAlgorithm\":\"%s\"", o->oaep);
	if (o->with_iv)
		put_hex_field(&w, "iv", iv, ivn, &first);
	if (o->gcm) {
		w += sprintf(w, ",\"algorithmCipherMode\":\"GCM\"");
		put_hex_field(&w, "tag", tag, sizeof(tag), &first);
		put_hex_field(&w, "aad", aad, sizeof(aad), &first);
	}
	sprintf(w, "}");
	*out = s;
	rc = 0;
done:
	OPENSSL_cleanse(key, sizeof(key));
	if (data) {
		OPENSSL_cleanse(data, len + 32);
		free(data);
	}
	EVP_CIPHER_CTX_free(c);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}
