/* fmt.c - signal-safe formatting for one-line messages (no stdio, no
 * allocation): the fault path and the shim say what went wrong with these. */
#include "model/model.h"

char *pm_fmt_str(char *dst, char *end, const char *s)
{
	while (*s && dst < end - 1)
		*dst++ = *s++;
	*dst = 0;
	return dst;
}

/* The digits of v in base (10 or 16), most significant first. */
static char *fmt_base(char *dst, char *end, uint64_t v, unsigned base)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i && dst < end - 1)
		*dst++ = tmp[--i];
	*dst = 0;
	return dst;
}

char *pm_fmt_u64(char *dst, char *end, uint64_t v)
{
	return fmt_base(dst, end, v, 10);
}

char *pm_fmt_hex(char *dst, char *end, uint64_t v)
{
	return fmt_base(dst, end, v, 16);
}

char *pm_fmt_size(char *dst, char *end, uint64_t v)
{
	static const char suffix[] = "KMGT";
	int k = 0;

	while (v && k < 4 && (v & 1023) == 0) {
		v >>= 10;
		k++;
	}
	dst = fmt_base(dst, end, v, 10);
	return k ? pm_fmt_str(dst, end, (char[]){ suffix[k - 1], 0 }) : dst;
}
