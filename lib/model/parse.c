/* parse.c - the one strict parser for what people type: the PAGEMU_*
 * variables, the options of pagemu run and of pagemu-sim (model; no system
 * calls).
 *
 * A number is the whole string: decimal digits, or 0x and hex digits; a
 * decimal number may end in K, M, G or T (powers of 1024), optionally
 * followed by "iB" or "B". No sign, no blanks, no empty string, nothing
 * after it. A value past 2^64-1 is out of range, never wrapped or cut.
 * Lists and geometries are numbers joined by one separator: an empty item
 * (",1", "1,,2", "16xx4", "16x4x") is an error, never skipped.
 *
 * Every function returns 0, -EINVAL when the text is not what it parses
 * (syntax), or -ERANGE when it is but a value is outside the limits, so a
 * caller can say which. Outputs are set only on success (the array of
 * pm_parse_counts excepted: it is scratch until *n is set). */
#include <errno.h>
#include <string.h>

#include "model/model.h"

static int digit(char c, unsigned base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned suffix_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	default:            return 0;
	}
}

/* The number that is exactly [s, end). */
static int parse_span(const char *s, const char *end, uint64_t *out)
{
	const char *p = s;
	unsigned base = 10, shift = 0;
	int d, overflow = 0;
	uint64_t v = 0;

	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (p == end || digit(*p, base) < 0)
		return -EINVAL;
	for (; p < end && (d = digit(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (unsigned)d) / base)
			overflow = 1;
		else
			v = v * base + (unsigned)d;
	}
	if (base == 10 && p < end && (shift = suffix_shift(*p))) {
		p++;
		if (p < end && (*p == 'i' || *p == 'I'))
			p++;
		if (p < end && (*p == 'b' || *p == 'B'))
			p++;
	}
	if (p != end)
		return -EINVAL;
	if (overflow || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int pm_parse_u64(const char *s, uint64_t *out)
{
	return s ? parse_span(s, s + strlen(s), out) : -EINVAL;
}

int pm_parse_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;
	int err = pm_parse_u64(s, &v);

	if (err < 0)
		return err;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

int pm_parse_bool(const char *s, int *out)
{
	if (!s || (strcmp(s, "0") != 0 && strcmp(s, "1") != 0))
		return -EINVAL;
	*out = s[0] == '1';
	return 0;
}

/* The next item of a list at *p, up to sep or the end: [*p, *item_end). */
static const char *item_end(const char *p, char sep)
{
	const char *e = strchr(p, sep);

	return e ? e : p + strlen(p);
}

int pm_parse_geom(const char *s, char sep, unsigned n, uint64_t lo, uint64_t hi, uint64_t *v)
{
	uint64_t tmp[8];
	int range = 0, err;
	unsigned i = 0;

	if (!s || n == 0 || n > PM_ARRAY_LEN(tmp))
		return -EINVAL;
	for (const char *p = s;; i++) {
		const char *e = item_end(p, sep);
		if (i == n || (err = parse_span(p, e, &tmp[i])) == -EINVAL)
			return -EINVAL;
		if (err < 0 || tmp[i] < lo || tmp[i] > hi)
			range = 1;
		if (!*e)
			break;
		p = e + 1;
	}
	if (i + 1 != n)
		return -EINVAL;
	if (range)
		return -ERANGE;
	memcpy(v, tmp, n * sizeof(*v));
	return 0;
}

int pm_parse_tlb(const char *s, unsigned sets[2], unsigned ways[2])
{
	uint64_t l1[2] = { 0, 0 }, l2[2] = { 0, 0 };
	const char *comma;
	char first[64];
	int err = 0, err2 = 0;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "none") != 0) {
		comma = item_end(s, ',');
		if ((size_t)(comma - s) >= sizeof(first))
			return -EINVAL;
		memcpy(first, s, (size_t)(comma - s));
		first[comma - s] = '\0';
		err = pm_parse_geom(first, 'x', 2, 1, UINT32_MAX, l1);
		if (*comma && strcmp(comma + 1, "none") != 0 && strcmp(comma + 1, "0") != 0)
			err2 = pm_parse_geom(comma + 1, 'x', 2, 1, UINT32_MAX, l2);
		if (err == -EINVAL || err2 == -EINVAL)
			return -EINVAL;
		if (err < 0 || err2 < 0)
			return -ERANGE;
	}
	sets[0] = (unsigned)l1[0];
	ways[0] = (unsigned)l1[1];
	sets[1] = (unsigned)l2[0];
	ways[1] = (unsigned)l2[1];
	return 0;
}

int pm_parse_name(const char *s, const char *const *names, unsigned n)
{
	for (unsigned i = 0; s && i < n; i++)
		if (names[i] && strcmp(s, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

int pm_parse_tlb_policy(const char *s, pagemu_tlb_policy_t out[2])
{
	const char *comma;
	char first[16];
	pagemu_tlb_policy_t p[2];

	if (!s)
		return -EINVAL;
	comma = item_end(s, ',');
	if ((size_t)(comma - s) >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, (size_t)(comma - s));
	first[comma - s] = '\0';
	if (pagemu_tlb_policy_parse(first, &p[0]) < 0)
		return -EINVAL;
	p[1] = p[0];
	if (*comma && pagemu_tlb_policy_parse(comma + 1, &p[1]) < 0)
		return -EINVAL;
	out[0] = p[0];
	out[1] = p[1];
	return 0;
}

int pm_parse_counts(const char *s, uint64_t lo, uint64_t hi, uint64_t *v, size_t max, size_t *n)
{
	size_t k = 0;
	int range = 0;

	if (!s)
		return -EINVAL;
	for (const char *p = s;;) {
		const char *e = item_end(p, ','), *dash = memchr(p, '-', (size_t)(e - p));
		uint64_t a = 0, b = 0;
		int ea, eb;
		ea = parse_span(p, dash ? dash : e, &a);
		eb = dash ? parse_span(dash + 1, e, &b) : ea;
		if (ea == -EINVAL || eb == -EINVAL)
			return -EINVAL;
		if (!dash)
			b = a;
		if (ea < 0 || eb < 0 || a < lo || b > hi || a > b || b - a >= max - k)
			range = 1;
		else
			for (uint64_t x = a; x <= b; x++)
				v[k++] = x;
		if (!*e)
			break;
		p = e + 1;
	}
	if (range)
		return -ERANGE;
	*n = k;
	return 0;
}
