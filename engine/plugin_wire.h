/* plugin_wire.h (internal): the framing between stepup and a plugin's
 * child process (plugin_proc.h, host/plugin_host.c).
 *
 * A frame is a 4-byte little-endian body length, then the body: a 1-byte
 * kind (SU_W_*), then fields in an order the kind fixes. A field is a
 * 1-byte tag and its payload:
 *
 *     's'  u32 length, the bytes, a NUL (not counted)   a string
 *     'n'                                              a NULL string
 *     'i'  i64                                         an integer
 *     'd'  f64 (its IEEE bits)                         a double
 *
 * all little-endian. A reader checks every tag, length and terminator, so
 * a child that writes garbage (or dies halfway through a frame) is a
 * failed call, never a crash or an overread in the host. Frames are at
 * most SU_WIRE_MAX bytes. Buffers that carried a frame are wiped before
 * they are reused or freed: OTPs, destinations and card data cross here.
 *
 * Library code: no logging; never blocks longer than the deadline it is
 * given. */
#ifndef SU_PLUGIN_WIRE_H
#define SU_PLUGIN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SU_WIRE_MAX (4u << 20)

/* Frame kinds. Host to child: INIT, CALL, FN, FINI. Child to host: the
 * answers, and LOG lines on the log channel. */
enum {
	SU_W_INIT = 1,    /* s display path, s name, s config, i flags */
	SU_W_INIT_OK,     /* s name, s version, i abi_minor, i provides, s data version|n,
	                     i nfn, then nfn x (s name, s signature) */
	SU_W_INIT_ERR,    /* i status, s reason */
	SU_W_CALL,        /* i op, i deadline_ms, i timeout_ms, then the op's arguments */
	SU_W_RESULT,      /* i status, s err, s|n out1, s|n out2 */
	SU_W_FN,          /* i fn, i deadline_ms, then one field per argument */
	SU_W_FN_RESULT,   /* i ok, then the value as its type (s|n for a string) */
	SU_W_FINI,        /* nothing; answered with SU_W_RESULT */
	SU_W_LOG,         /* i level, s text */
};

/* Calls (SU_W_CALL's op), in the order of their names below. */
enum {
	SU_POP_CAN_DELIVER, SU_POP_DELIVER, SU_POP_NOTIFY, SU_POP_DESCRIBE, SU_POP_START, SU_POP_VERIFY,
	SU_POP_ROUTE, SU_POP_ACCOUNT, SU_POP_COUNT
};
/* "can_deliver", "deliver_otp", "notify", "describe", "start", "verify",
 * "route", "lookup". */
extern const char *const su_pop_names[SU_POP_COUNT];

/* A datagram on the log channel is one host->log() line when it starts
 * with this byte, then the level byte, then the text; anything else is
 * what the plugin wrote to its stdout or stderr. */
#define SU_WIRE_LOG_MARK 0x01

/* Frames are written into an su_wbuf (util.h): su_wire_begin before each
 * frame; it keeps the buffer wiping (card data, OTPs). */

void su_wire_begin(su_wbuf *w, int kind);
void su_wire_str(su_wbuf *w, const char *s);  /* NULL writes 'n' */
void su_wire_i64(su_wbuf *w, int64_t v);
void su_wire_f64(su_wbuf *w, double v);
/* Patch the length in; 0, or -1 when out of memory or over SU_WIRE_MAX. */
int su_wire_end(su_wbuf *w);
/* Zero the bytes written and forget them (keeps the allocation). */
void su_wire_wipe(su_wbuf *w);
/* Zero and free. */
void su_wire_free(su_wbuf *w);

/* A frame being read: the body as received (kind at p[0]). */
typedef struct su_rbuf {
	unsigned char *p;
	size_t len, at;
	int bad;           /* a field was missing or malformed */
} su_rbuf;

int su_wire_kind(const su_rbuf *r);
/* The next field; on a mismatch r->bad is set and NULL / 0 returned.
 * Strings point into the frame (NUL-terminated, no NUL inside). */
const char *su_wire_get_str(su_rbuf *r);
int64_t su_wire_get_i64(su_rbuf *r);
double su_wire_get_f64(su_rbuf *r);

/* Write a whole frame to fd (blocking descriptors are fine; EINTR is
 * retried). With deadline_ms > 0 the fd must be non-blocking and the write
 * gives up at that CLOCK_MONOTONIC millisecond. 0, -1 (errno set; ETIMEDOUT
 * at the deadline, EPIPE when the peer is gone). */
int su_wire_send(int fd, const su_wbuf *w, int64_t deadline_ms);

/* Read one frame from fd into buf (grown as needed; wiped and reused by the
 * caller). deadline_ms as above (0: wait for ever). 0 with r set to the
 * body, -1 with errno: ETIMEDOUT, ECONNRESET when the peer closed (even
 * halfway through a frame), EPROTO for a length over SU_WIRE_MAX or zero,
 * ENOMEM. */
int su_wire_recv(int fd, su_wbuf *buf, su_rbuf *r, int64_t deadline_ms);

/* Milliseconds on CLOCK_MONOTONIC (the clock of every deadline). */
int64_t su_wire_now_ms(void);

#endif
