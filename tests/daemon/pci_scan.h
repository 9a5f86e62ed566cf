/* pci_scan.h: find given card numbers in bytes, in any separator form,
 * for tests/daemon/test_pci.c (issue 9's acceptance test).
 *
 * On purpose this is NOT stepup_card_number_find: the test checks that
 * policy, so it must not depend on it. It looks for KNOWN numbers (the
 * ones the test pushed), whatever the daemon did to their spelling:
 *
 *   - the number's digits, in order, with zero to three separator units
 *     between any two of them; a unit is one of  space - . / : + _  or
 *     one of those escaped as a URL would (%2D, %20, ...) or as JSON may
 *     (\/ or \u002d ...). So "4111 1111 1111 1111", "4111%2D1111...",
 *     "4.111111111111111e+15" and "jane4111111111111111@example.com"
 *     are all found, whatever surrounds them;
 *   - with `binary`, also the number as SQLite stores an INTEGER or a
 *     REAL (big-endian, the size SQLite would use), for database files.
 *
 * Plain C, no cmocka. */
#ifndef STEPUP_PCI_SCAN_H
#define STEPUP_PCI_SCAN_H

#include <stddef.h>

enum pci_form {
	PCI_FORM_TEXT,   /* digits, maybe with separators */
	PCI_FORM_INT,    /* SQLite integer, big-endian */
	PCI_FORM_REAL,   /* IEEE double, big-endian */
};

typedef struct pci_hit {
	size_t pan;      /* index in the list given to pci_scan */
	size_t off, end; /* the bytes [off, end) hold it (first digit to last) */
	enum pci_form form;
} pci_hit;

/* Called for every hit (text ones in order of offset, then binary ones);
 * return non-zero to stop. */
typedef int (*pci_hit_fn)(void *arg, const unsigned char *data, size_t len, const pci_hit *h);

/* Scan data for each of pans[0..npans) (digit strings, 12 to 19 digits).
 * Every occurrence is reported, overlapping ones included. Returns the
 * number of hits (those reported before a stop included). */
size_t pci_scan(const char *const *pans, size_t npans, const void *data, size_t len, int binary,
                pci_hit_fn fn, void *arg);

/* A printable excerpt of data around [off, end) with `ctx` bytes either
 * side: bytes outside printable ASCII become '.', and in every run of
 * nine or more digits (separators allowed, as above) all digits but the
 * first four and the last four become '#'. So a card number is never
 * printed in clear, while the spelling around it stays readable. */
void pci_excerpt(const void *data, size_t len, size_t off, size_t end, size_t ctx, char *out,
                 size_t outlen);

/* "4111…1111": a number as a failure message may name it. */
void pci_mask_pan(const char *pan, char *out, size_t outlen);

#endif
