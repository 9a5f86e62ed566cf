/* spec.h: MDES requests checked against Mastercard's own field table
 * (spec_table.c, generated from the OpenAPI documents by
 * tools/mdes-spec-table.py: make update-mdes-spec-table MDES_SPEC_DIR=...): required fields, JSON types, lengths. And the
 * card-number policy of docs/pci.md on every value the table names, so
 * nothing stepupd keeps or logs from a request (correlationId,
 * tokenUniqueReference...) can be a card number. Unknown fields are
 * ignored, as MDES asks ("new values can be added at any time"). */
#ifndef STEPUPD_MDES_SPEC_H
#define STEPUPD_MDES_SPEC_H

#include <stddef.h>

#include <jansson.h>

typedef enum mdes_op {
	MDES_OP_AUTHORIZE = 0,
	MDES_OP_METHODS,       /* requestActivationMethods */
	MDES_OP_DELIVER,       /* deliverActivationCode */
	MDES_OP_ACTIVATED,     /* notifyServiceActivated */
	MDES_OP_TOKEN_UPDATED, /* notifyTokenUpdated */
	MDES_OP_VALIDATE,      /* validateActivationCode */
	MDES_OP_ACCOUNT_INFO,  /* getAccountInformation */
	MDES_OP_SUSPICIOUS,    /* notifySuspiciousEvents */
	MDES_OP_COUNT
} mdes_op;

typedef enum mdes_kind {
	MDES_STR, MDES_INT, MDES_NUM, MDES_OBJ, MDES_ARR_STR, MDES_ARR_OBJ,
	MDES_OBJ_OR_ARR,  /* an object in one document, an array of them in the other */
} mdes_kind;

/* One field: its path ("a.b", "tokens[].c"), its kind, its bounds
 * (characters of a string, the value of a number) and whether its object
 * requires it. */
typedef struct mdes_spec_row {
	const char *path;
	mdes_kind kind;
	long long min, max;
	int required;
} mdes_spec_row;

typedef struct mdes_spec_op {
	const char *name;   /* "authorizeService": the path after the base */
	const mdes_spec_row *rows;
	size_t nrows;
} mdes_spec_op;

extern const mdes_spec_op mdes_spec_ops[MDES_OP_COUNT];

/* Check root (the request, an object) against op's table. 0, or -1 with
 * the MDES error code in *code (MISSING_REQUIRED_FIELD,
 * INVALID_FIELD_FORMAT, INVALID_FIELD_LENGTH, INVALID_FIELD_VALUE), the
 * field ("tokens[1].status") in field and a description naming it in why;
 * never a value. */
int mdes_spec_check(mdes_op op, json_t *root, const char **code, char *field, size_t fieldlen,
                    char *why, size_t whylen);

#endif
