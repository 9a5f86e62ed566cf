/* pci_walk.h: every place in a JSON request where a test can put a value,
 * derived from a valid request, so a field added to a request later is
 * covered without editing a list (tests/daemon/test_pci.c). Plain C on
 * jansson, no cmocka. */
#ifndef STEPUP_PCI_WALK_H
#define STEPUP_PCI_WALK_H

#include <jansson.h>
#include <stddef.h>

enum pci_slot_kind {
	PCI_SLOT_LEAF,   /* replace the value at path (a string, number, boolean, null) */
	PCI_SLOT_MEMBER, /* add an unknown member PCI_UNKNOWN_MEMBER to the object at path */
	PCI_SLOT_KEY,    /* add a member whose NAME is the value, to the object at path */
};

#define PCI_UNKNOWN_MEMBER "x_pci_note"
#define PCI_MAX_DEPTH 8

typedef struct pci_slot {
	enum pci_slot_kind kind;
	int type;                       /* LEAF: the json_type of the value replaced */
	char path[160];                 /* "card.pan", "wallet.reason_codes[0]"; MEMBER:
	                                   "card.x_pci_note"; KEY: "card.{key}" ("{key}" at the top) */
	size_t nsteps;
	char key[PCI_MAX_DEPTH][48];    /* step i: a member name, or "" with */
	size_t index[PCI_MAX_DEPTH];    /* an array index */
} pci_slot;

/* The slots of doc, in document order: each leaf, then for each object
 * (the document first) an unknown member and a key. *out is malloc'd;
 * returns how many, or 0 if doc is not an object. */
size_t pci_walk(const json_t *doc, pci_slot **out);

/* doc with value (a string) put at slot, as compact JSON (malloc'd). */
char *pci_put_string(const json_t *doc, const pci_slot *slot, const char *value);
/* The same with a JSON number written as digits (a number leaf only). */
char *pci_put_number(const json_t *doc, const pci_slot *slot, const char *digits);

#endif
