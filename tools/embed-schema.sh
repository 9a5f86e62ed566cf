#!/bin/sh
# tools/embed-schema.sh SCHEMA.rules OUT.c: the default schema's text as a
# C string (su_schema_tokenization, dsl/declare.h), for the library and
# the fuzz build alike. The rules file stays the one source of truth.
set -e
in=$1
out=$2
{
	echo '/* Generated from rules/schema/tokenization.rules by tools/embed-schema.sh: do not edit. */'
	echo 'extern const char su_schema_tokenization[];'
	echo 'const char su_schema_tokenization[] ='
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$in"
	echo ';'
} >"$out.tmp"
mv "$out.tmp" "$out"
