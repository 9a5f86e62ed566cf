#!/bin/sh
# tools/embed-schema.sh SCHEMA.rules OUT.c [SYMBOL]: a built-in schema's
# text as a C string (SYMBOL, default su_schema_tokenization; see
# dsl/declare.h), for the library and the fuzz build alike. The rules file
# stays the one source of truth.
set -e
in=$1
out=$2
sym=${3:-su_schema_tokenization}
{
	echo "/* Generated from $(basename "$in") by tools/embed-schema.sh: do not edit. */"
	echo "extern const char $sym[];"
	echo "const char $sym[] ="
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$in"
	echo ';'
} >"$out.tmp"
mv "$out.tmp" "$out"
