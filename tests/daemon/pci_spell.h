/* pci_spell.h: the spellings of a card number that issue 9 found leaking,
 * for tests/daemon/test_pci.c: write them, tell them apart in what the
 * daemon wrote, and put them in a URL. Plain C, no cmocka. */
#ifndef STEPUP_PCI_SPELL_H
#define STEPUP_PCI_SPELL_H

#include <stddef.h>

enum pci_spelling {
	PCI_SP_PLAIN,      /* 4111111111111111 */
	PCI_SP_DWSPMC,     /* DWSPMC4111111111111111 (a token reference) */
	PCI_SP_DASH,       /* 4111-1111-1111-1111 (15 digits: 4-6-5) */
	PCI_SP_SPACE,      /* 4111 1111 1111 1111 */
	PCI_SP_SLASH,      /* 4111/1111/1111/1111 */
	PCI_SP_COLON,      /* 4111:1111:1111:1111 */
	PCI_SP_PLUS,       /* 4111+1111+1111+1111 */
	PCI_SP_DOT,        /* 4111.1111.1111.1111 */
	PCI_SP_UNDERSCORE, /* 4111_1111_1111_1111 */
	PCI_SP_REQ,        /* req4111111111111111 */
	PCI_SP_X,          /* 4111111111111111x */
	PCI_SP_EMAIL,      /* jane4111111111111111@example.com */
	PCI_NSPELLINGS
};

/* "plain", "DWSPMC<pan>", "grouped '-'", ... */
const char *pci_spelling_name(int sp);
/* The number pan spelt as sp, into out. */
void pci_spell(const char *pan, int sp, char *out, size_t outlen);
/* Which spelling the bytes around the digits at [off, end) of d look like
 * (separators escaped as %XX, \/ or \u00XX count as the separator); -1
 * when none does. */
int pci_spelling_guess(const unsigned char *d, size_t len, size_t off, size_t end);

/* s percent-encoded for a URL path segment or query value: every byte but
 * A-Z a-z 0-9 - . _ ~ (all: every byte) becomes %XX. */
void pci_url_encode(const char *s, int all, char *out, size_t outlen);

#endif
