/* test_request_wipe.c: stepup_request_wipe (engine/request.c) leaves no
 * byte of the request it decoded in the request object: not the text
 * (inline or on the heap), not the normalised copies, not the decoded
 * values. A host decoding card data (stepupd's MDES facts: the card
 * number, the CVC2, the holder's data) calls it once decided. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "request.h"

/* The secrets of the request, and what is derived from them. */
static const char *const secrets[] = { "4111111111111111", "\"987\"", "+14155559876", "4155559876",
	                               "hanako.secret@example.jp" };

/* Whether any secret is in the n bytes at p. */
static const char *holds(const void *p, size_t n)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (p && n && memmem(p, n, secrets[i], strlen(secrets[i])))
			return secrets[i];
	return NULL;
}

/* Every byte the object holds: itself and what it points to (of the heap
 * buffer, `heap_bytes`: before a wipe the part written, valgrind's
 * uninitialised rest aside; after it, all of it). */
static const char *object_holds(const stepup_request *r, size_t heap_bytes)
{
	const char *s;
	if ((s = holds(r, sizeof(*r))) || (s = holds(r->heap, heap_bytes < r->heapcap ? heap_bytes : r->heapcap)) ||
	    (s = holds(r->fheap, (size_t)r->nslots * sizeof(*r->fheap))) || (s = holds(r->hasheap, r->nslots)))
		return s;
	return NULL;
}

static char *request_text(size_t pad)
{
	char *pad_text = malloc(pad + 1), *out = NULL;
	memset(pad_text, 'x', pad);
	pad_text[pad] = '\0';
	/* card.pan and card.csc secret, end_user contacts; an unknown field
	 * (ignored by the decoder, still in its copy of the text) grows the
	 * request past the inline buffer when pad is large. */
	char *patch = NULL;
	assert_true(asprintf(&patch,
	         "{\"card\":{\"pan\":\"4111111111111111\",\"csc\":\"987\"},"
	         "\"end_user\":{\"phone\":\"+14155559876\",\"email\":\"hanako.secret@example.jp\"},"
	         "\"padding\":\"%s\"}", pad_text) > 0);
	out = th_patched(patch);
	free(patch);
	free(pad_text);
	return out;
}

static void wipe_after(size_t pad)
{
	char err[256];
	stepup_engine *e = th_default_engine();
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	char *text = request_text(pad);
	assert_int_equal(stepup_request_parse(r, e, text, strlen(text), err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_decide(e, r, d, 0), STEPUP_OK);
	stepup_outcome outcome = stepup_decision_outcome(d);
	size_t methods = stepup_decision_method_count(d);
	/* The object holds the secrets while decoded (the test would see them). */
	assert_non_null(object_holds(r, r->defaults_at));
	assert_string_equal(stepup_request_id(r), "req-1");
	if (pad > 2000)
		assert_true(r->buf == r->heap);
	else
		assert_true(r->buf == r->inline_buf);

	stepup_request_wipe(r);
	const char *left = object_holds(r, r->heapcap);
	if (left)
		fail_msg("%s left in the request object after the wipe", left);
	assert_string_equal(stepup_request_id(r), "");
	/* The decision made from it is intact (it keeps no pointer into r). */
	assert_int_equal(stepup_decision_outcome(d), outcome);
	assert_int_equal(stepup_decision_method_count(d), methods);

	/* Still usable: the same text decodes again, to the same decision. */
	assert_int_equal(stepup_request_parse(r, e, text, strlen(text), err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_request_id(r), "req-1");
	stepup_request_wipe(r);
	assert_null(object_holds(r, r->heapcap));
	explicit_bzero(text, strlen(text));
	free(text);
	stepup_decision_free(d);
	stepup_request_free(r);
	stepup_engine_free(e);
}

static void test_wipe_inline(void **s)
{
	(void)s;
	wipe_after(0);
}

static void test_wipe_heap(void **s)
{
	(void)s;
	wipe_after(4000);
}

/* A request refused half-way leaves its text in the object too. */
static void test_wipe_refused(void **s)
{
	(void)s;
	char err[256];
	stepup_engine *e = th_default_engine();
	stepup_request *r = stepup_request_new();
	const char *bad = "{\"request_id\":\"r\",\"card\":{\"pan\":\"4111111111111111\",\"csc\":\"987\"},"
	                  "\"end_user\":{\"phone\":\"+14155559876\"},\"wallet\":{\"device_score\":\"high\"}}";
	assert_int_equal(stepup_request_parse(r, e, bad, strlen(bad), err, sizeof(err)), STEPUP_EBADREQ);
	assert_non_null(object_holds(r, r->defaults_at));
	stepup_request_wipe(r);
	assert_null(object_holds(r, r->heapcap));
	stepup_request_wipe(NULL);
	stepup_request_free(r);
	stepup_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wipe_inline),
		cmocka_unit_test(test_wipe_heap),
		cmocka_unit_test(test_wipe_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
