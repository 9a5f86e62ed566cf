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

/* The same, counting only card numbers of at least min_digits digits: a
 * phone field (E.164: at most 15 digits) holds a 13- or 14-digit run as
 * often as a real mobile number does (+49 151..., +55 11 9...), which one
 * time in ten passes Luhn with a Visa or Maestro prefix. */
int su_card_find_min(const char *s, size_t n, unsigned min_digits, size_t *start, size_t *end);

/* 1 when digits[0..n) (digits only) is a card number: 13 to 19 digits, a
 * network's prefix for that length, Luhn. */
int su_card_digits_ok(const char *digits, size_t n);

#endif
