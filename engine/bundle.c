/* bundle.c: the on-disk form of a compiled ruleset.
 *
 *   offset  size  field
 *   0       8     magic "STEPUPB\x1a"
 *   8       4     format version (SU_BUNDLE_VERSION), little endian
 *   12      4     reserved, 0
 *   16      8     body length
 *   24      32    SHA-256 of the body
 *   56      ...   body: the program's arrays, each as a u32 count then
 *                 fixed-size little-endian records (see put_program)
 *
 * Format 2 ends the body with the plugin functions the rules call
 * (imports: u32 count, then u32 plugin, function and signature string
 * indices each). Format 1 had the same layout with the count always 0, so
 * a format 1 bundle still loads (it imports nothing).
 *
 * Format 3 starts the body with the schema the rules were compiled against
 * (the fields, their roles and the value of every code bit:
 * su_schema_write) and its SHA-256 fingerprint, so a bundle decides as it was
 * compiled whatever this build's default schema is; instructions name
 * slots and enum kinds in 16 bits; the list of extra reason codes is gone
 * (each list field's codes are in the schema). Formats 1 and 2 carry no
 * schema: su_bundle_parse says so, and the loader (dsl/compiler.c) gives
 * them the default schema in the layout of their day.
 *
 * Format 4 has the layout of format 3. Its code may hold the fused tests
 * starts_with, ends_with and contains on a field and a constant, and
 * length(field) against an integer (opcodes.def), and its flat (CNF)
 * form may name VM literals (SU_LIT_VM, program.h): a format 3 bundle
 * loads as it is.
 *
 * Loading checks the magic, the version, the length and the digest before
 * reading a byte of the body, then bounds-checks every read, then runs the
 * program verifier. A bundle is refused with a message, never trusted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_sign.h"
#include "program.h"
#include "util.h"

#define SU_BUNDLE_MAGIC "STEPUPB\x1a"
#define SU_BUNDLE_VERSION 4u
#define SU_BUNDLE_OLDEST 1u  /* oldest format this build still reads */
#define SU_HEADER_SIZE 56u
#define SU_BUNDLE_MAX (256u << 20)

typedef struct rbuf {
	const uint8_t *p;
	size_t n, at;
	int bad;
} rbuf;

static int need(rbuf *r, size_t n)
{
	if (r->bad || r->n - r->at < n) {
		r->bad = 1;
		return 0;
	}
	return 1;
}
static uint8_t r8(rbuf *r)
{
	return need(r, 1) ? r->p[r->at++] : 0;
}
static uint16_t r16(rbuf *r)
{
	if (!need(r, 2))
		return 0;
	const uint8_t *b = r->p + r->at;
	r->at += 2;
	return (uint16_t)(b[0] | b[1] << 8);
}
static uint32_t r32(rbuf *r)
{
	if (!need(r, 4))
		return 0;
	const uint8_t *b = r->p + r->at;
	r->at += 4;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t r64(rbuf *r)
{
	uint64_t lo = r32(r);
	return lo | (uint64_t)r32(r) << 32;
}

/* Read a count and allocate count * size bytes, refusing counts the rest of
 * the buffer could not possibly hold (so garbage cannot ask for 4 GiB). */
static void *rarray(rbuf *r, uint32_t *count, size_t min_record, size_t elem)
{
	uint32_t n = r32(r);
	if (r->bad || (uint64_t)n * min_record > r->n - r->at) {
		r->bad = 1;
		return NULL;
	}
	*count = n;
	return calloc(n ? n : 1, elem);
}

static void put_program(su_wbuf *w, const struct stepup_ruleset *rs)
{
	/* The schema first: the program is typed against it. */
	su_wbuf sw = {0};
	su_schema_write(&sw, rs->schema);
	if (sw.oom)
		w->oom = 1;
	su_wbytes(w, sw.p, sw.len);
	free(sw.p);
	su_wbytes(w, rs->schema->fingerprint, 32);
	su_w32(w, rs->strtab_len);
	su_wbytes(w, rs->strtab, rs->strtab_len);
	su_w32(w, rs->nstrs);
	for (uint32_t i = 0; i < rs->nstrs; i++) {
		su_w32(w, rs->strs[i].off);
		su_w32(w, rs->strs[i].len);
	}
	su_w32(w, rs->name);
	su_wbytes(w, rs->revision, 32);
	su_w32(w, rs->nfiles);
	for (uint32_t i = 0; i < rs->nfiles; i++)
		su_w32(w, rs->files[i]);
	su_w32(w, rs->nints);
	for (uint32_t i = 0; i < rs->nints; i++)
		su_w64(w, (uint64_t)rs->ints[i]);
	su_w32(w, rs->nfloats);
	for (uint32_t i = 0; i < rs->nfloats; i++) {
		uint64_t bits;
		memcpy(&bits, &rs->floats[i], 8);
		su_w64(w, bits);
	}
	su_w32(w, rs->nmasks);
	for (uint32_t i = 0; i < rs->nmasks; i++)
		su_w64(w, rs->masks[i]);
	su_w32(w, rs->nstrsets);
	for (uint32_t i = 0; i < rs->nstrsets; i++) {
		su_w32(w, rs->strsets[i].start);
		su_w32(w, rs->strsets[i].count);
	}
	su_w32(w, rs->nsetitems);
	for (uint32_t i = 0; i < rs->nsetitems; i++)
		su_w32(w, rs->setitems[i]);
	su_w32(w, rs->nmethods);
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		su_w8(w, rs->methods[i].type);
		su_w32(w, rs->methods[i].code);
		su_w32(w, rs->methods[i].line);
		su_w32(w, rs->methods[i].cnf.start);
		su_w32(w, rs->methods[i].cnf.count);
	}
	su_w32(w, rs->nrules);
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *r = &rs->rules[i];
		su_w32(w, r->name);
		su_w32(w, r->desc);
		su_w32(w, r->file);
		su_w32(w, r->line);
		su_w32(w, r->col);
		su_w8(w, r->outcome);
		su_w8(w, r->fraud);
		su_w8(w, r->allowed);
		su_w32(w, r->code);
		su_w32(w, r->cnf.start);
		su_w32(w, r->cnf.count);
	}
	su_w32(w, rs->natoms);
	for (uint32_t i = 0; i < rs->natoms; i++) {
		su_w32(w, rs->atoms[i].text);
		su_w32(w, rs->atoms[i].file);
		su_w32(w, rs->atoms[i].line);
		su_w32(w, rs->atoms[i].col);
	}
	su_w32(w, rs->nclauses);
	for (uint32_t i = 0; i < rs->nclauses; i++) {
		su_w32(w, rs->clauses[i].start);
		su_w32(w, rs->clauses[i].count);
	}
	su_w32(w, rs->nlits);
	for (uint32_t i = 0; i < rs->nlits; i++) {
		su_w32(w, rs->lits[i].insn);
		su_w32(w, rs->lits[i].neg);
	}
	su_w32(w, rs->ncode);
	for (uint32_t i = 0; i < rs->ncode; i++) {
		const su_insn *in = &rs->code[i];
		su_w8(w, in->op);
		su_w16(w, in->a);
		su_w8(w, in->cmp);
		su_w32(w, in->c);
		su_w32(w, in->atom);
	}
	su_w8(w, rs->merchant_policy);
	su_w8(w, rs->merchant_policy_set);
	su_w32(w, rs->max_tri);
	su_w32(w, rs->max_val);
	su_w32(w, rs->nimports);
	for (uint32_t i = 0; i < rs->nimports; i++) {
		su_w32(w, rs->imports[i].plugin);
		su_w32(w, rs->imports[i].fn);
		su_w32(w, rs->imports[i].sig);
	}
}

static int get_schema(rbuf *r, su_schema *sc)
{
	uint32_t n = r32(r);
	if (!need(r, n))
		return -1;
	sc->strtab = malloc(n ? n : 1);
	if (!sc->strtab)
		return -1;
	memcpy(sc->strtab, r->p + r->at, n);
	sc->strtab_len = sc->strtab_cap = n;
	r->at += n;
	if (!(sc->strs = rarray(r, &sc->nstrs, 8, sizeof(*sc->strs))))
		return -1;
	sc->capstrs = sc->nstrs;
	for (uint32_t i = 0; i < sc->nstrs; i++) {
		sc->strs[i].off = r32(r);
		sc->strs[i].len = r32(r);
	}
	if (!(sc->items = rarray(r, &sc->nitems, 4, sizeof(*sc->items))))
		return -1;
	sc->capitems = sc->nitems;
	for (uint32_t i = 0; i < sc->nitems; i++)
		sc->items[i] = r32(r);
	if (!(sc->fields = rarray(r, &sc->nfields, 72, sizeof(*sc->fields))))
		return -1;
	sc->capfields = sc->nfields;
	for (uint32_t i = 0; i < sc->nfields; i++) {
		su_field *f = &sc->fields[i];
		f->path = r32(r);
		f->desc = r32(r);
		f->type = r8(r);
		f->format = r8(r);
		f->role = r8(r);
		f->derive = r8(r);
		f->flags = r32(r);
		f->source = r32(r);
		f->ekind = r32(r);
		f->min = (int64_t)r64(r);
		f->max = (int64_t)r64(r);
		f->dflt = (int64_t)r64(r);
		f->values.start = r32(r);
		f->values.count = r32(r);
		f->bits.start = r32(r);
		f->bits.count = r32(r);
		f->merchant = r64(r);
	}
	if (!need(r, 32))
		return -1;
	memcpy(sc->fingerprint, r->p + r->at, 32);
	r->at += 32;
	return r->bad ? -1 : 0;
}

static int get_program(rbuf *r, struct stepup_ruleset *rs, uint32_t version, su_legacy *legacy)
{
	uint32_t n;

#define ARRAY(field, count, rec) \
	if (!(rs->field = rarray(r, &rs->count, (rec), sizeof(*rs->field)))) return -1

	if (version >= 3) {
		if (!(rs->schema = su_schema_new()) || get_schema(r, rs->schema) < 0)
			return -1;
	}

	n = r32(r);
	if (!need(r, n))
		return -1;
	rs->strtab = malloc(n ? n : 1);
	if (!rs->strtab)
		return -1;
	memcpy(rs->strtab, r->p + r->at, n);
	rs->strtab_len = n;
	r->at += n;
	ARRAY(strs, nstrs, 8);
	for (uint32_t i = 0; i < rs->nstrs; i++) {
		rs->strs[i].off = r32(r);
		rs->strs[i].len = r32(r);
	}
	rs->name = r32(r);
	if (!need(r, 32))
		return -1;
	memcpy(rs->revision, r->p + r->at, 32);
	r->at += 32;
	ARRAY(files, nfiles, 4);
	for (uint32_t i = 0; i < rs->nfiles; i++)
		rs->files[i] = r32(r);
	ARRAY(ints, nints, 8);
	for (uint32_t i = 0; i < rs->nints; i++)
		rs->ints[i] = (int64_t)r64(r);
	ARRAY(floats, nfloats, 8);
	for (uint32_t i = 0; i < rs->nfloats; i++) {
		uint64_t bits = r64(r);
		memcpy(&rs->floats[i], &bits, 8);
	}
	ARRAY(masks, nmasks, 8);
	for (uint32_t i = 0; i < rs->nmasks; i++)
		rs->masks[i] = r64(r);
	ARRAY(strsets, nstrsets, 8);
	for (uint32_t i = 0; i < rs->nstrsets; i++) {
		rs->strsets[i].start = r32(r);
		rs->strsets[i].count = r32(r);
	}
	ARRAY(setitems, nsetitems, 4);
	for (uint32_t i = 0; i < rs->nsetitems; i++)
		rs->setitems[i] = r32(r);
	if (version < 3) {
		if (!(legacy->reasons = rarray(r, &legacy->nreasons, 4, sizeof(uint32_t))))
			return -1;
		for (uint32_t i = 0; i < legacy->nreasons; i++)
			legacy->reasons[i] = r32(r);
	}
	ARRAY(methods, nmethods, 17);
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		rs->methods[i].type = r8(r);
		rs->methods[i].code = r32(r);
		rs->methods[i].line = r32(r);
		rs->methods[i].cnf.start = r32(r);
		rs->methods[i].cnf.count = r32(r);
	}
	ARRAY(rules, nrules, 35);
	for (uint32_t i = 0; i < rs->nrules; i++) {
		su_rule *ru = &rs->rules[i];
		ru->name = r32(r);
		ru->desc = r32(r);
		ru->file = r32(r);
		ru->line = r32(r);
		ru->col = r32(r);
		ru->outcome = r8(r);
		ru->fraud = r8(r);
		ru->allowed = r8(r);
		ru->code = r32(r);
		ru->cnf.start = r32(r);
		ru->cnf.count = r32(r);
	}
	ARRAY(atoms, natoms, 16);
	for (uint32_t i = 0; i < rs->natoms; i++) {
		rs->atoms[i].text = r32(r);
		rs->atoms[i].file = r32(r);
		rs->atoms[i].line = r32(r);
		rs->atoms[i].col = r32(r);
	}
	ARRAY(clauses, nclauses, 8);
	for (uint32_t i = 0; i < rs->nclauses; i++) {
		rs->clauses[i].start = r32(r);
		rs->clauses[i].count = r32(r);
	}
	ARRAY(lits, nlits, 8);
	for (uint32_t i = 0; i < rs->nlits; i++) {
		rs->lits[i].insn = r32(r);
		rs->lits[i].neg = r32(r);
	}
	ARRAY(code, ncode, version < 3 ? 11 : 12);
	for (uint32_t i = 0; i < rs->ncode; i++) {
		su_insn *in = &rs->code[i];
		in->op = r8(r);
		in->a = version < 3 ? r8(r) : r16(r);
		in->cmp = r8(r);
		in->c = r32(r);
		in->atom = r32(r);
	}
	rs->merchant_policy = r8(r);
	rs->merchant_policy_set = r8(r);
	rs->max_tri = r32(r);
	rs->max_val = r32(r);
	ARRAY(imports, nimports, 12);
	if (version < 2 && rs->nimports)  /* format 1 had no imports */
		return -1;
	for (uint32_t i = 0; i < rs->nimports; i++) {
		rs->imports[i].plugin = r32(r);
		rs->imports[i].fn = r32(r);
		rs->imports[i].sig = r32(r);
	}
#undef ARRAY
	return r->bad ? -1 : 0;
}

static int sha256(const void *d, size_t n, uint8_t out[32])
{
	unsigned len = 0;
	return EVP_Digest(d, n, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

int stepup_ruleset_serialize(const stepup_ruleset *rs, void **data, size_t *len)
{
	su_wbuf w = {0};
	uint8_t digest[32];

	if (!rs || !data || !len)
		return STEPUP_EINVAL;
	su_wbytes(&w, SU_BUNDLE_MAGIC, 8);
	su_w32(&w, SU_BUNDLE_VERSION);
	su_w32(&w, 0);
	su_w64(&w, 0);                   /* length, patched below */
	su_wbytes(&w, digest, 0);
	for (int i = 0; i < 32; i++)  /* digest, patched below */
		su_w8(&w, 0);
	put_program(&w, rs);
	if (w.oom) {
		free(w.p);
		return STEPUP_ENOMEM;
	}
	uint64_t body = w.len - SU_HEADER_SIZE;
	for (int i = 0; i < 8; i++)
		w.p[16 + i] = (uint8_t)(body >> (8 * i));
	if (sha256(w.p + SU_HEADER_SIZE, body, w.p + 24) < 0) {
		free(w.p);
		return STEPUP_ENOMEM;
	}
	*data = w.p;
	*len = w.len;
	return STEPUP_OK;
}

static int errf(char *err, size_t n, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t n, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[256];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Lengths come from the (untrusted) header: one that spells a card
	 * number is not repeated (docs/pci.md). */
	if (err && n)
		stepup_scrub(msg, strlen(msg), STEPUP_SCRUB_CARD, err, n);
	return code;
}

int su_bundle_parse(const void *data, size_t len, struct stepup_ruleset **out, su_legacy *legacy,
                    char *err, size_t errlen)
{
	const uint8_t *p = data;
	uint8_t digest[32];
	char why[200];

	*out = NULL;
	memset(legacy, 0, sizeof(*legacy));
	if (!data || len < 8 || memcmp(p, SU_BUNDLE_MAGIC, 8) != 0)
		return errf(err, errlen, STEPUP_EBUNDLE, "not a stepup bundle (bad magic)");
	if (len < SU_HEADER_SIZE)
		return errf(err, errlen, STEPUP_EBUNDLE, "bundle truncated: %zu bytes, header needs %u",
		            len, SU_HEADER_SIZE);
	rbuf h = { p, len, 8, 0 };
	uint32_t version = r32(&h);
	uint32_t reserved = r32(&h);
	uint64_t body = r64(&h);
	if (version < SU_BUNDLE_OLDEST || version > SU_BUNDLE_VERSION)
		return errf(err, errlen, STEPUP_EVERSION,
		            "bundle format version %u is not supported (this build reads versions 1 to %u); "
		            "recompile the rules",
		            version, SU_BUNDLE_VERSION);
	if (reserved != 0)
		return errf(err, errlen, STEPUP_EBUNDLE, "bundle corrupted: reserved header bytes are set");
	/* A signature trailer (bundle_sign.h) follows the body of a signed
	 * bundle; whoever asks checks it (stepup_ruleset_load_trusted). */
	if (len - SU_HEADER_SIZE - body == SU_SIGN_TRAILER && body < len && su_sign_has_trailer(p, len))
		len -= SU_SIGN_TRAILER;
	if (body > SU_BUNDLE_MAX || body != len - SU_HEADER_SIZE) {
		/* Lengths are 64-bit: print them whole (a header may claim 5 GiB). */
		if (body > len - SU_HEADER_SIZE)
			return errf(err, errlen, STEPUP_EBUNDLE, "bundle truncated: body has %zu of %" PRIu64 " bytes",
			            len - SU_HEADER_SIZE, body);
		if (body > SU_BUNDLE_MAX)
			return errf(err, errlen, STEPUP_EBUNDLE, "bundle body of %" PRIu64 " bytes is over the limit of %u",
			            body, SU_BUNDLE_MAX);
		return errf(err, errlen, STEPUP_EBUNDLE, "bundle has %" PRIu64 " bytes of trailing data",
		            (uint64_t)(len - SU_HEADER_SIZE) - body);
	}
	if (sha256(p + SU_HEADER_SIZE, (size_t)body, digest) < 0)
		return STEPUP_ENOMEM;
	if (memcmp(digest, p + 24, 32) != 0)
		return errf(err, errlen, STEPUP_EBUNDLE, "bundle corrupted: checksum mismatch");

	struct stepup_ruleset *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return STEPUP_ENOMEM;
	rs->refs = 1;
	rbuf r = { p + SU_HEADER_SIZE, (size_t)body, 0, 0 };
	if (get_program(&r, rs, version, legacy) < 0 || r.at != r.n) {
		su_program_free(rs);
		free(legacy->reasons);
		legacy->reasons = NULL;
		return errf(err, errlen, STEPUP_EBUNDLE, "bundle corrupted: malformed body");
	}
	if (version >= 3) {
		uint8_t fp[32];
		memcpy(fp, rs->schema->fingerprint, 32);
		if (su_schema_prepare(rs->schema, why, sizeof(why)) < 0) {
			su_program_free(rs);
			if (err && errlen)
				snprintf(err, errlen, "bundle corrupted: malformed schema (%s)", why);
			return STEPUP_EBUNDLE;
		}
		if (memcmp(fp, rs->schema->fingerprint, 32) != 0) {
			su_program_free(rs);
			return errf(err, errlen, STEPUP_EBUNDLE, "bundle corrupted: schema fingerprint mismatch");
		}
	} else {
		legacy->version = version;
	}
	*out = rs;
	return STEPUP_OK;
}

int su_bundle_finish(struct stepup_ruleset *rs, unsigned flags, char *err, size_t errlen)
{
	char why[200];

	if (su_program_verify(rs, why, sizeof(why)) < 0) {
		su_program_free(rs);
		if (err && errlen)
			snprintf(err, errlen, "bundle rejected by the verifier: %s", why);
		return STEPUP_EBUNDLE;
	}
	/* Fail closed: no rules would approve every request. */
	if (rs->nrules == 0 && !(flags & STEPUP_LOAD_ALLOW_EMPTY)) {
		su_program_free(rs);
		return errf(err, errlen, STEPUP_ECOMPILE,
		            "the bundle has no rules: it would approve every request "
		            "(an empty ruleset must be allowed explicitly)");
	}
	if (su_program_prepare(rs) < 0) {
		su_program_free(rs);
		return errf(err, errlen, STEPUP_ENOMEM, "out of memory preparing the bundle");
	}
	su_program_set_revision_hex(rs);
	return STEPUP_OK;
}

/* Write data to path through a temporary file renamed over it, so a
 * reader never sees half a bundle. Takes data (freed). */
int su_bundle_write_file(const char *path, void *data, size_t len, char *err, size_t errlen)
{
	char tmp[4096];

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		free(data);
		return errf(err, errlen, STEPUP_EINVAL, "path too long");
	}
	/* O_NONBLOCK: a FIFO planted at the temporary path fails at once
	 * instead of blocking; anything but a regular file is refused. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
	struct stat st;
	int regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode), ok = regular;
	for (size_t at = 0; ok && at < len;) {
		ssize_t k = write(fd, (const char *)data + at, len - at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			ok = 0;
		else
			at += (size_t)k;
	}
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	free(data);
	if (!ok || rename(tmp, path) != 0) {
		su_set_err(err, errlen, "cannot write %s", path);
		if (regular)  /* ours to remove; anything else is left alone */
			unlink(tmp);
		return STEPUP_EIO;
	}
	return STEPUP_OK;
}

int stepup_ruleset_save(const stepup_ruleset *rs, const char *path, char *err, size_t errlen)
{
	void *data;
	size_t len;
	int rc = stepup_ruleset_serialize(rs, &data, &len);

	if (rc != STEPUP_OK)
		return rc;
	return su_bundle_write_file(path, data, len, err, errlen);
}
