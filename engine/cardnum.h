/* cardnum.h: the one card-number policy (cardnum.c, docs/pci.md) and the
 * scrubber built on it (scrub.c). The public names are stepup_card_number_find
 * and stepup_scrub in <stepup/stepup.h>. */
#ifndef SU_CARDNUM_H
#define SU_CARDNUM_H

#include <stddef.h>

/* 1 when s[0..n) holds a card number; *start and *end (either may be NULL)
 * get the byte span of the first one, from its first digit to one past
 * its last. */
int su_card_find(const char *s, size_t n, size_t *start, size_t *end);

/* 1 when digits[0..n) (digits only) is a card number: 13 to 19 digits, a
 * network's prefix for that length, Luhn. */
int su_card_digits_ok(const char *digits, size_t n);

#endif
