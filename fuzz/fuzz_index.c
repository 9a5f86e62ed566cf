/* fuzz_index.c: libFuzzer target for the rule index and the flat (CNF)
 * fast path: a differential check (fuzz/index_diff.h). The input's bytes
 * are choices that build a ruleset of up to 120 rules and up to 8
 * requests; the index forced on, forced off, left to decide and read back
 * from a bundle must answer every request byte for byte alike (with and
 * without explain), and fire exactly the rules whose bytecode is TRUE, in
 * rule order. Any difference aborts, so libFuzzer reports it. */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "index_diff.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[4096];
	if (index_diff_check(data, size, why, sizeof(why), NULL, NULL) == 1) {
		fprintf(stderr, "fuzz_index: %s\n", why);
		abort();
	}
	return 0;
}
