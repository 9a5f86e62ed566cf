/* common.h: what the libFuzzer targets share (fuzz/README.md). */
#ifndef STEPUP_FUZZ_COMMON_H
#define STEPUP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry points the targets define. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Report a broken invariant as "<target>: invariant failed at
 * FILE:LINE: COND" (the target named after FILE) and abort(), so that
 * libFuzzer reports a crash. */
__attribute__((noreturn)) void fuzz_invariant_failed(const char *file, int line, const char *cond);

#define CHECK(cond)                                                  \
	do {                                                         \
		if (!(cond))                                         \
			fuzz_invariant_failed(__FILE__, __LINE__, #cond); \
	} while (0)

/* The card-number oracle, the same for every target and without excuses:
 * abort when `out` (an output of any kind: response, error object,
 * explain, disassembly, diagnostic, message) holds a card number by the
 * one policy (stepup_card_number_find, docs/pci.md) whose digits the input
 * `in` also holds, in any spelling (the input's digits are compared with
 * separators, letters and everything else dropped). `what` names the
 * output in the report. */
void check_no_card_echo(const char *what, const void *in, size_t inlen, const char *out, size_t outlen);

/* Copy of the response s (len bytes) with the "decision_id" value blanked
 * (every character replaced by 'x'), for comparing responses. malloc'd. */
char *strip_decision_id(const char *s, size_t len);

#endif
