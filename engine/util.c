/* util.c: small helpers shared inside libstepup. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stepup/error.h>

void su_vset_err(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void su_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vset_err(err, errlen, fmt, ap);
	va_end(ap);
}

int su_open_file(const char *path, int *fd, char *err, size_t errlen)
{
	struct stat st;
	int k, flags;

	*fd = -1;
	/* O_NONBLOCK: opening a FIFO nobody writes, or a device, must not
	 * wedge the caller (a reload on the daemon's main thread). */
	k = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (k < 0) {
		su_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return STEPUP_EIO;
	}
	if (fstat(k, &st) != 0) {
		su_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		close(k);
		return STEPUP_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		su_set_err(err, errlen, "%s: not a regular file", path);
		close(k);
		return STEPUP_EIO;
	}
	/* A regular file never blocks the way a FIFO does; clear the flag so
	 * reads behave as usual on every file system. */
	flags = fcntl(k, F_GETFL);
	if (flags < 0 || fcntl(k, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		su_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		close(k);
		return STEPUP_EIO;
	}
	*fd = k;
	return STEPUP_OK;
}

int su_read_fd(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	*out = NULL;
	*len = 0;
	for (;;) {
		if (n + 1 >= cap) {
			size_t want = cap ? cap * 2 : 65536;
			if (want > max + 2)
				want = max + 2;
			if (want <= n + 1)
				break;  /* read max + 1 bytes: enough to say "too large" */
			char *b = realloc(buf, want);
			if (!b) {
				free(buf);
				return -1;
			}
			buf = b;
			cap = want;
		}
		ssize_t k = read(fd, buf + n, cap - n - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			free(buf);
			return -2;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (!buf && !(buf = malloc(1)))
		return -1;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int su_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
	int fd, rc;

	*out = NULL;
	*len = 0;
	rc = su_open_file(path, &fd, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	rc = su_read_fd(fd, max, out, len);
	close(fd);
	if (rc == -1) {
		su_set_err(err, errlen, "%s: out of memory", path);
		return STEPUP_ENOMEM;
	}
	if (rc < 0) {
		su_set_err(err, errlen, "%s: read error", path);
		return STEPUP_EIO;
	}
	if (*len > max) {
		free(*out);
		*out = NULL;
		*len = 0;
		su_set_err(err, errlen, "%s: larger than %zu bytes", path, max);
		return STEPUP_ETOOBIG;
	}
	return STEPUP_OK;
}

int su_read_secret_file(const char *path, size_t max, int owner_only, char **out, size_t *len, char *err,
                        size_t errlen)
{
	struct stat st;
	int fd, rc;

	*out = NULL;
	*len = 0;
	if ((rc = su_open_file(path, &fd, err, errlen)) != STEPUP_OK)
		return rc;
	if (fstat(fd, &st) != 0) {
		su_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		close(fd);
		return STEPUP_EIO;
	}
	if (owner_only && (st.st_mode & 077)) {
		su_set_err(err, errlen,
		           "%s: readable by group or others (mode %04o): a file holding a secret must be mode 0600 "
		           "(chmod 600)", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return STEPUP_EIO;
	}
	if ((uint64_t)st.st_size > max) {
		su_set_err(err, errlen, "%s: larger than %zu bytes", path, max);
		close(fd);
		return STEPUP_ETOOBIG;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		su_set_err(err, errlen, "%s: out of memory", path);
		close(fd);
		return STEPUP_ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			su_set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
			explicit_bzero(buf, got);
			free(buf);
			close(fd);
			return STEPUP_EIO;
		}
		if (k == 0)
			break;  /* shrank under us: what is there */
		got += (size_t)k;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return STEPUP_OK;
}

void su_hex(const unsigned char *in, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = h[in[i] >> 4];
		out[2 * i + 1] = h[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int su_hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int su_read_hex_key(const char *path, unsigned char *key, size_t min, size_t max, size_t *len, char *err,
                    size_t errlen)
{
	char *t = NULL;
	size_t n = 0, k = 0;
	int rc = su_read_secret_file(path, 4 * max + 64, 1, &t, &n, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	size_t a = 0, b = n;
	while (a < b && (t[a] == ' ' || t[a] == '\n' || t[a] == '\r' || t[a] == '\t'))
		a++;
	while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\n' || t[b - 1] == '\r' || t[b - 1] == '\t'))
		b--;
	rc = STEPUP_ECONFIG;
	if ((b - a) % 2 == 0 && (b - a) / 2 >= min && (b - a) / 2 <= max) {
		for (size_t i = a; i < b; i += 2) {
			int hi = su_hexval((unsigned char)t[i]), lo = su_hexval((unsigned char)t[i + 1]);
			if (hi < 0 || lo < 0)
				break;
			key[k++] = (unsigned char)(hi << 4 | lo);
		}
		if (k == (b - a) / 2)
			rc = STEPUP_OK;
	}
	explicit_bzero(t, n);
	free(t);
	if (rc != STEPUP_OK) {
		explicit_bzero(key, k);
		su_set_err(err, errlen, "%s: the key must be %zu to %zu bytes as hex", path, min, max);
		return rc;
	}
	*len = k;
	return STEPUP_OK;
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int two(const char *s)
{
	return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' ? (s[0] - '0') * 10 + s[1] - '0' : -1;
}

int64_t su_parse_time(const char *s)
{
	if (!s || strlen(s) < 20)
		return -1;
	int c = two(s), yy = two(s + 2), mo = two(s + 5), d = two(s + 8), h = two(s + 11), mi = two(s + 14),
	    sec = two(s + 17);
	if (c < 0 || yy < 0 || s[4] != '-' || s[7] != '-' || !(s[10] == 'T' || s[10] == 't' || s[10] == ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = two(p + 1), om = two(p + 4);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	int64_t t = days_from_civil(c * 100 + yy, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
	return t < 0 ? -1 : t;
}

int su_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; }
		else return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* ---- the byte writer ------------------------------------------------------ */

void su_wbytes(su_wbuf *w, const void *d, size_t n)
{
	if (w->oom)
		return;
	if (n > SIZE_MAX / 2 - w->len) {
		w->oom = 1;
		return;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		while (cap < w->len + n)
			cap *= 2;
		unsigned char *q;
		if (w->wipe) {
			if ((q = malloc(cap)) && w->len)
				memcpy(q, w->p, w->len);
			if (q && w->p) {
				explicit_bzero(w->p, w->cap);
				free(w->p);
			}
		} else {
			q = realloc(w->p, cap);
		}
		if (!q) {
			w->oom = 1;
			return;
		}
		w->p = q;
		w->cap = cap;
	}
	if (n)  /* d may be NULL then (an empty table) */
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

void su_w8(su_wbuf *w, uint8_t v)
{
	su_wbytes(w, &v, 1);
}

void su_w16(su_wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	su_wbytes(w, b, 2);
}

void su_w32(su_wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	su_wbytes(w, b, 4);
}

void su_w64(su_wbuf *w, uint64_t v)
{
	su_w32(w, (uint32_t)v);
	su_w32(w, (uint32_t)(v >> 32));
}
