/* language.c: language tags as the lifecycle uses them (config.h).
 *
 * Token services send ISO 639-1 ("ja": MDES's consumerLanguage), ISO 639-3
 * ("jpn": MDES 2.0.33's deviceAcceptLanguage) or BCP 47 ("ja-JP"). Templates
 * are configured by BCP 47 tag, whose primary subtag is the two-letter code
 * where one exists: so a three-letter code with a two-letter equivalent is
 * turned into it ("jpn" -> "ja", "fre" and "fra" -> "fr"), region and
 * script subtags kept ("jpn-JP" -> "ja-JP"). Three-letter codes without
 * one ("haw") stay as they are, as BCP 47 says.
 *
 * The table below: every ISO 639-3 code with an ISO 639-1 equivalent and
 * the ISO 639-2/B (bibliographic) variants, from Debian's iso-codes 4.15
 * (iso_639-3.json, iso_639-2.json), sorted for bsearch. */
#include <stdlib.h>
#include <string.h>

#include "config.h"

typedef struct lang3 {
	char a3[4], a2[3];
} lang3;

static const lang3 table[] = {
	{ "aar", "aa" }, { "abk", "ab" }, { "afr", "af" }, { "aka", "ak" }, { "alb", "sq" },
	{ "amh", "am" }, { "ara", "ar" }, { "arg", "an" }, { "arm", "hy" }, { "asm", "as" },
	{ "ava", "av" }, { "ave", "ae" }, { "aym", "ay" }, { "aze", "az" }, { "bak", "ba" },
	{ "bam", "bm" }, { "baq", "eu" }, { "bel", "be" }, { "ben", "bn" }, { "bis", "bi" },
	{ "bod", "bo" }, { "bos", "bs" }, { "bre", "br" }, { "bul", "bg" }, { "bur", "my" },
	{ "cat", "ca" }, { "ces", "cs" }, { "cha", "ch" }, { "che", "ce" }, { "chi", "zh" },
	{ "chu", "cu" }, { "chv", "cv" }, { "cor", "kw" }, { "cos", "co" }, { "cre", "cr" },
	{ "cym", "cy" }, { "cze", "cs" }, { "dan", "da" }, { "deu", "de" }, { "div", "dv" },
	{ "dut", "nl" }, { "dzo", "dz" }, { "ell", "el" }, { "eng", "en" }, { "epo", "eo" },
	{ "est", "et" }, { "eus", "eu" }, { "ewe", "ee" }, { "fao", "fo" }, { "fas", "fa" },
	{ "fij", "fj" }, { "fin", "fi" }, { "fra", "fr" }, { "fre", "fr" }, { "fry", "fy" },
	{ "ful", "ff" }, { "geo", "ka" }, { "ger", "de" }, { "gla", "gd" }, { "gle", "ga" },
	{ "glg", "gl" }, { "glv", "gv" }, { "gre", "el" }, { "grn", "gn" }, { "guj", "gu" },
	{ "hat", "ht" }, { "hau", "ha" }, { "hbs", "sh" }, { "heb", "he" }, { "her", "hz" },
	{ "hin", "hi" }, { "hmo", "ho" }, { "hrv", "hr" }, { "hun", "hu" }, { "hye", "hy" },
	{ "ibo", "ig" }, { "ice", "is" }, { "ido", "io" }, { "iii", "ii" }, { "iku", "iu" },
	{ "ile", "ie" }, { "ina", "ia" }, { "ind", "id" }, { "ipk", "ik" }, { "isl", "is" },
	{ "ita", "it" }, { "jav", "jv" }, { "jpn", "ja" }, { "kal", "kl" }, { "kan", "kn" },
	{ "kas", "ks" }, { "kat", "ka" }, { "kau", "kr" }, { "kaz", "kk" }, { "khm", "km" },
	{ "kik", "ki" }, { "kin", "rw" }, { "kir", "ky" }, { "kom", "kv" }, { "kon", "kg" },
	{ "kor", "ko" }, { "kua", "kj" }, { "kur", "ku" }, { "lao", "lo" }, { "lat", "la" },
	{ "lav", "lv" }, { "lim", "li" }, { "lin", "ln" }, { "lit", "lt" }, { "ltz", "lb" },
	{ "lub", "lu" }, { "lug", "lg" }, { "mac", "mk" }, { "mah", "mh" }, { "mal", "ml" },
	{ "mao", "mi" }, { "mar", "mr" }, { "may", "ms" }, { "mkd", "mk" }, { "mlg", "mg" },
	{ "mlt", "mt" }, { "mon", "mn" }, { "mri", "mi" }, { "msa", "ms" }, { "mya", "my" },
	{ "nau", "na" }, { "nav", "nv" }, { "nbl", "nr" }, { "nde", "nd" }, { "ndo", "ng" },
	{ "nep", "ne" }, { "nld", "nl" }, { "nno", "nn" }, { "nob", "nb" }, { "nor", "no" },
	{ "nya", "ny" }, { "oci", "oc" }, { "oji", "oj" }, { "ori", "or" }, { "orm", "om" },
	{ "oss", "os" }, { "pan", "pa" }, { "per", "fa" }, { "pli", "pi" }, { "pol", "pl" },
	{ "por", "pt" }, { "pus", "ps" }, { "que", "qu" }, { "roh", "rm" }, { "ron", "ro" },
	{ "rum", "ro" }, { "run", "rn" }, { "rus", "ru" }, { "sag", "sg" }, { "san", "sa" },
	{ "sin", "si" }, { "slk", "sk" }, { "slo", "sk" }, { "slv", "sl" }, { "sme", "se" },
	{ "smo", "sm" }, { "sna", "sn" }, { "snd", "sd" }, { "som", "so" }, { "sot", "st" },
	{ "spa", "es" }, { "sqi", "sq" }, { "srd", "sc" }, { "srp", "sr" }, { "ssw", "ss" },
	{ "sun", "su" }, { "swa", "sw" }, { "swe", "sv" }, { "tah", "ty" }, { "tam", "ta" },
	{ "tat", "tt" }, { "tel", "te" }, { "tgk", "tg" }, { "tgl", "tl" }, { "tha", "th" },
	{ "tib", "bo" }, { "tir", "ti" }, { "ton", "to" }, { "tsn", "tn" }, { "tso", "ts" },
	{ "tuk", "tk" }, { "tur", "tr" }, { "twi", "tw" }, { "uig", "ug" }, { "ukr", "uk" },
	{ "urd", "ur" }, { "uzb", "uz" }, { "ven", "ve" }, { "vie", "vi" }, { "vol", "vo" },
	{ "wel", "cy" }, { "wln", "wa" }, { "wol", "wo" }, { "xho", "xh" }, { "yid", "yi" },
	{ "yor", "yo" }, { "zha", "za" }, { "zho", "zh" }, { "zul", "zu" },
};

static int cmp(const void *k, const void *e)
{
	return strcmp(k, ((const lang3 *)e)->a3);
}

const char *su_lc_language(const char *tag, char *buf, size_t size)
{
	char a3[4];
	size_t n = tag ? strcspn(tag, "-_") : 0;
	if (!tag || size == 0)
		return "";
	if (n == 3) {
		for (size_t i = 0; i < 3; i++)
			a3[i] = (char)(tag[i] >= 'A' && tag[i] <= 'Z' ? tag[i] + 32 : tag[i]);
		a3[3] = '\0';
		const lang3 *l = bsearch(a3, table, sizeof(table) / sizeof(table[0]), sizeof(table[0]), cmp);
		if (l && strlen(l->a2) + strlen(tag + 3) < size) {
			strcpy(buf, l->a2);
			strcat(buf, tag + 3);
			return buf;
		}
	}
	if (strlen(tag) >= size)
		return "";
	strcpy(buf, tag);
	return buf;
}
