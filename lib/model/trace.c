/* trace.c - traces (model; C library only).
 *
 * pagemu's binary event trace (doc/TRACE.md has the full description):
 *
 *   header, 32 bytes            record, 32 bytes
 *    0 char[8] "PAGEMUTR"        0 u64 time_ns   monotonic clock
 *    8 u32 version (1)           8 u64 va        faulting / evicted address
 *   12 u32 record size (32)     16 u32 ppn       frame, 0xffffffff = none
 *   16 u32 page size            20 u8  kind      enum pm_trace_kind
 *   20 u32 flags (0)            21 u8  access    1 read, 2 write, 4 exec, 0 ?
 *   24 u64 start time (ns)      22 u16 flags     0
 *                               24 u32 slot      swap slot, 0xffffffff = none
 *                               28 u32 ns        handler time, saturated
 *
 * Every field little-endian. Records are fixed size so that the engine can
 * encode one into a stack buffer in the fault handler and write(2) it, and
 * a reader can seek to record i. A reader must reject a record size it does
 * not know and ignore flags it does not know.
 *
 * The simulator also reads valgrind lackey output and plain lists of
 * addresses or page numbers. Malformed input is reported with its line
 * number, never guessed at. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* ---- binary ------------------------------------------------------------ */

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *b)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static uint64_t get64(const uint8_t *b)
{
	return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

void pm_trace_encode_header(const pm_trace_hdr_t *h, uint8_t *buf)
{
	memcpy(buf, PM_TRACE_MAGIC, 8);
	put32(buf + 8, h->version);
	put32(buf + 12, PM_TRACE_REC_SIZE);
	put32(buf + 16, h->page_size);
	put32(buf + 20, h->flags);
	put64(buf + 24, h->start_ns);
}

int pm_trace_decode_header(const uint8_t *buf, size_t len, pm_trace_hdr_t *h)
{
	if (len < PM_TRACE_HDR_SIZE || memcmp(buf, PM_TRACE_MAGIC, 8) != 0)
		return -EINVAL;
	h->version = get32(buf + 8);
	if (h->version != PM_TRACE_VERSION || get32(buf + 12) != PM_TRACE_REC_SIZE)
		return -EPROTONOSUPPORT;
	h->page_size = get32(buf + 16);
	h->flags = get32(buf + 20);
	h->start_ns = get64(buf + 24);
	return 0;
}

void pm_trace_encode(const pm_trace_rec_t *r, uint8_t *buf)
{
	put64(buf, r->time_ns);
	put64(buf + 8, r->va);
	put32(buf + 16, r->ppn);
	buf[20] = r->kind;
	buf[21] = r->access;
	buf[22] = (uint8_t)r->flags;
	buf[23] = (uint8_t)(r->flags >> 8);
	put32(buf + 24, r->slot);
	put32(buf + 28, r->ns);
}

int pm_trace_decode(const uint8_t *buf, pm_trace_rec_t *r)
{
	r->time_ns = get64(buf);
	r->va = get64(buf + 8);
	r->ppn = get32(buf + 16);
	r->kind = buf[20];
	r->access = buf[21];
	r->flags = (uint16_t)(buf[22] | buf[23] << 8);
	r->slot = get32(buf + 24);
	r->ns = get32(buf + 28);
	return r->kind < PM_TRACE_KIND_COUNT ? 0 : -EINVAL;
}

static const char *const kind_names[PM_TRACE_KIND_COUNT] = {
	[PM_TRACE_REF] = "ref",
	[PM_TRACE_ZERO] = "zero",
	[PM_TRACE_MINOR] = "minor",
	[PM_TRACE_WRITE] = "write",
	[PM_TRACE_MAJOR] = "major",
	[PM_TRACE_EVICT] = "evict",
	[PM_TRACE_TLB_MISS] = "tlb_miss",
};

const char *pm_trace_kind_name(unsigned kind)
{
	return kind < PM_TRACE_KIND_COUNT ? kind_names[kind] : NULL;
}

/* ---- text -------------------------------------------------------------- */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Digits of base 10 or 16 at *p into *v; -EINVAL when there are none or
 * the value overflows. */
static int parse_digits(const char **p, unsigned base, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int d;

	while ((d = hexval(*s)) >= 0 && (unsigned)d < base) {
		if (x > (UINT64_MAX - (unsigned)d) / base)
			return -EINVAL;
		x = x * base + (unsigned)d;
		s++;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*v = x;
	return 0;
}

int pm_trace_parse_lackey(const char *line, uint64_t *va, int *access)
{
	const char *p = line;
	uint64_t size;

	if (p[0] == '=' && p[1] == '=')
		return 0;                  /* valgrind's own messages */
	while (*p == ' ')
		p++;
	if (*p == '\0' || *p == '\n' || (*p == '\r' && p[1] == '\n'))
		return 0;
	switch (*p) {
	case 'I': *access = PM_PROT_EXEC; break;
	case 'L': *access = PM_PROT_READ; break;
	case 'S':
	case 'M': *access = PM_PROT_WRITE; break;   /* modify = load + store: one write reference */
	default: return -EINVAL;
	}
	p++;
	if (*p != ' ')
		return -EINVAL;
	while (*p == ' ')
		p++;
	if (parse_digits(&p, 16, va) < 0 || *p++ != ',' || parse_digits(&p, 10, &size) < 0)
		return -EINVAL;
	while (is_blank(*p))
		p++;
	return *p ? -EINVAL : 1;
}

int pm_trace_next_number(const char **pp, uint64_t *v)
{
	const char *p = *pp;

	while (is_blank(*p) || *p == ',')
		p++;
	if (*p == '\0' || *p == '#') {
		*pp = p;
		return 0;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (parse_digits(&p, 16, v) < 0)
			return -EINVAL;
	} else if (parse_digits(&p, 10, v) < 0) {
		return -EINVAL;
	}
	/* "12ab" is an error, not 12 */
	if (*p && !is_blank(*p) && *p != ',' && *p != '#')
		return -EINVAL;
	*pp = p;
	return 1;
}

/* ---- reference strings -------------------------------------------------- */

int pm_refs_push(pm_refs_t *r, uint64_t va, int access)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4096;
		uint64_t *v = realloc(r->va, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->va = v;
		uint8_t *a = realloc(r->access, cap);
		if (!a)
			return -ENOMEM;
		r->access = a;
		r->cap = cap;
	}
	r->va[r->n] = va;
	r->access[r->n++] = (uint8_t)access;
	return 0;
}

void pm_refs_free(pm_refs_t *r)
{
	free(r->va);
	free(r->access);
	memset(r, 0, sizeof(*r));
}

static const char *const fmt_names[] = {
	[PM_FMT_AUTO] = "auto", [PM_FMT_PAGEMU] = "pagemu", [PM_FMT_LACKEY] = "lackey",
	[PM_FMT_ADDRS] = "addrs", [PM_FMT_PAGES] = "pages",
};

int pm_trace_fmt_parse(const char *name, enum pm_trace_fmt *out)
{
	for (unsigned i = 0; i < PM_ARRAY_LEN(fmt_names); i++)
		if (strcmp(name, fmt_names[i]) == 0) {
			*out = (enum pm_trace_fmt)i;
			return 0;
		}
	return -EINVAL;
}

/* The whole stream in memory, NUL-terminated. */
static int slurp(FILE *f, char **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap + 1), *nb;

	if (!buf)
		return -ENOMEM;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			if (!(nb = realloc(buf, 2 * cap + 1))) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int load_binary(const char *buf, size_t len, const char *name, pm_refs_t *out, char *err, size_t errlen)
{
	const uint8_t *b = (const uint8_t *)buf;
	pm_trace_hdr_t h;
	pm_trace_rec_t r;
	size_t i, nrec;
	int e;

	if ((e = pm_trace_decode_header(b, len, &h)) < 0) {
		snprintf(err, errlen, "%s: %s", name, e == -EINVAL ? "not a pagemu trace (bad magic or short header)"
			 : "unsupported trace version or record size");
		return e;
	}
	out->page_size = h.page_size;
	nrec = (len - PM_TRACE_HDR_SIZE) / PM_TRACE_REC_SIZE;
	for (i = 0; i < nrec; i++) {
		if (pm_trace_decode(b + PM_TRACE_HDR_SIZE + i * PM_TRACE_REC_SIZE, &r) < 0) {
			snprintf(err, errlen, "%s:record %zu: unknown kind %u", name, i + 1, r.kind);
			return -EINVAL;
		}
		if (pm_trace_is_ref(r.kind) && pm_refs_push(out, r.va, r.access ? r.access : PM_PROT_READ) < 0)
			goto nomem;
	}
	if ((len - PM_TRACE_HDR_SIZE) % PM_TRACE_REC_SIZE) {
		snprintf(err, errlen, "%s:record %zu: truncated record", name, nrec + 1);
		return -EINVAL;
	}
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of memory", name);
	return -ENOMEM;
}

/* The first line that is neither blank nor valgrind's: lackey or not? */
static enum pm_trace_fmt sniff_text(const char *buf)
{
	uint64_t va;
	int access;

	for (const char *line = buf; *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char tmp[256];
		int r;

		if (n >= sizeof(tmp))
			return PM_FMT_ADDRS;
		memcpy(tmp, line, n);
		tmp[n] = '\0';
		r = pm_trace_parse_lackey(tmp, &va, &access);
		if (r != 0)
			return r > 0 ? PM_FMT_LACKEY : PM_FMT_ADDRS;
		if (!nl)
			break;
		line = nl + 1;
	}
	return PM_FMT_ADDRS;
}

static int load_text(char *buf, enum pm_trace_fmt fmt, unsigned page_bits, int skip_instr,
		     const char *name, pm_refs_t *out, char *err, size_t errlen)
{
	size_t lineno = 0;
	char *line = buf;

	while (*line) {
		char *nl = strchr(line, '\n');
		uint64_t v;
		int access = PM_PROT_READ, r;

		lineno++;
		if (nl)
			*nl = '\0';
		if (fmt == PM_FMT_LACKEY) {
			r = pm_trace_parse_lackey(line, &v, &access);
			if (r > 0 && !(skip_instr && access == PM_PROT_EXEC) && pm_refs_push(out, v, access) < 0)
				goto nomem;
		} else {
			const char *p = line;
			while ((r = pm_trace_next_number(&p, &v)) > 0) {
				if (fmt == PM_FMT_PAGES) {
					if (v > (UINT64_MAX >> page_bits)) {
						r = -EINVAL;
						break;
					}
					v <<= page_bits;
				}
				if (pm_refs_push(out, v, access) < 0)
					goto nomem;
			}
		}
		if (r < 0) {
			snprintf(err, errlen, "%s:%zu: malformed %s line: \"%.60s\"", name, lineno,
				 fmt_names[fmt], line);
			return -EINVAL;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "%s:%zu: out of memory", name, lineno);
	return -ENOMEM;
}

int pm_trace_load(FILE *f, const char *name, enum pm_trace_fmt fmt, unsigned page_bits,
		  int skip_instr, pm_refs_t *out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int e;

	if ((e = slurp(f, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", name, e == -EIO ? "read error" : "out of memory");
		return e;
	}
	if (fmt == PM_FMT_AUTO)
		fmt = len >= 8 && memcmp(buf, PM_TRACE_MAGIC, 8) == 0 ? PM_FMT_PAGEMU : sniff_text(buf);
	if (fmt == PM_FMT_PAGEMU)
		e = load_binary(buf, len, name, out, err, errlen);
	else if (memchr(buf, '\0', len)) {
		snprintf(err, errlen, "%s: binary data in a %s trace", name, fmt_names[fmt]);
		e = -EINVAL;
	} else
		e = load_text(buf, fmt, page_bits, skip_instr, name, out, err, errlen);
	free(buf);
	return e;
}
