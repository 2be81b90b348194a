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
#include <stdarg.h>
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

/* ---- reading a trace: a stream, in bounded memory ------------------------
 *
 * The input is read through one buffer (STREAM_CHUNK bytes, more only for a
 * line longer than that); references come out a batch at a time, so a
 * trace of any length replays in the same memory. pm_trace_load is the
 * stream read to its end. */

#define STREAM_CHUNK (64u * 1024)

static void stream_err(pm_trace_stream_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stream_err(pm_trace_stream_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

/* Read more input after the unconsumed bytes [pos, len), moving them to
 * the front; grows the buffer when it is full of them. 1 = read some,
 * 0 = end of input, -errno with the message set. */
static int stream_fill(pm_trace_stream_t *s)
{
	size_t got;

	if (s->eof)
		return 0;
	if (s->pos) {
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->len -= s->pos;
		s->pos = 0;
	}
	if (s->len == s->cap) {
		char *nb = realloc(s->buf, 2 * s->cap + 1);
		if (!nb) {
			stream_err(s, "%s: out of memory", s->name);
			return -ENOMEM;
		}
		s->buf = nb;
		s->cap *= 2;
	}
	got = fread(s->buf + s->len, 1, s->cap - s->len, s->f);
	if (got == 0) {
		if (ferror(s->f)) {
			stream_err(s, "%s: read error", s->name);
			return -EIO;
		}
		s->eof = 1;
		s->buf[s->len] = '\0';
		return 0;
	}
	/* Text traces are text: NUL bytes are a wrong --format, or no trace. */
	if (s->fmt != PM_FMT_PAGEMU && s->fmt != PM_FMT_AUTO && memchr(s->buf + s->len, '\0', got)) {
		stream_err(s, "%s: binary data in a %s trace", s->name, fmt_names[s->fmt]);
		return -EINVAL;
	}
	s->len += got;
	s->buf[s->len] = '\0';
	return 1;
}

/* At least want unconsumed bytes, unless the input ends first: 0, or
 * -errno. */
static int stream_want(pm_trace_stream_t *s, size_t want)
{
	int e;

	while (s->len - s->pos < want)
		if ((e = stream_fill(s)) <= 0)
			return e;
	return 0;
}

/* The next line, NUL-terminated in place (without its '\n'), or NULL at
 * the end of the input; *err set on failure. */
static char *stream_line(pm_trace_stream_t *s, int *err)
{
	char *line, *nl;
	int e;

	*err = 0;
	while (!(nl = memchr(s->buf + s->pos, '\n', s->len - s->pos))) {
		if ((e = stream_fill(s)) < 0) {
			*err = e;
			return NULL;
		}
		if (e == 0) {
			if (s->pos == s->len)
				return NULL;
			line = s->buf + s->pos;    /* the last line, without a newline */
			s->pos = s->len;
			return line;
		}
	}
	line = s->buf + s->pos;
	*nl = '\0';
	s->pos = (size_t)(nl - s->buf) + 1;
	return line;
}

/* The first line that is neither blank nor valgrind's, among the complete
 * lines buffered: lackey or not, or -1 when none has decided yet. */
static int sniff_text(const pm_trace_stream_t *s)
{
	const char *line = s->buf + s->pos, *end = s->buf + s->len;
	uint64_t va;
	int access;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		char tmp[256];
		int r;

		if (!nl && !s->eof)
			return -1;                 /* a line still being read */
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
	return s->eof ? PM_FMT_ADDRS : -1;
}

int pm_trace_open(pm_trace_stream_t *s, FILE *f, const char *name, enum pm_trace_fmt fmt, unsigned page_bits,
		  int skip_instr)
{
	pm_trace_hdr_t h;
	int e, sniffed;

	memset(s, 0, sizeof(*s));
	s->f = f;
	s->name = name;
	s->fmt = PM_FMT_AUTO;              /* no NUL check until the format is known */
	s->page_bits = page_bits;
	s->skip_instr = skip_instr;
	s->cap = STREAM_CHUNK;
	if (!(s->buf = malloc(s->cap + 1))) {
		stream_err(s, "%s: out of memory", name);
		return -ENOMEM;
	}
	if ((e = stream_want(s, PM_TRACE_HDR_SIZE)) < 0)
		return e;
	if (fmt == PM_FMT_AUTO)
		fmt = s->len >= 8 && memcmp(s->buf, PM_TRACE_MAGIC, 8) == 0 ? PM_FMT_PAGEMU : PM_FMT_AUTO;
	if (fmt == PM_FMT_PAGEMU) {
		s->fmt = fmt;
		if ((e = pm_trace_decode_header((const uint8_t *)s->buf, s->len, &h)) < 0) {
			stream_err(s, "%s: %s", name, e == -EINVAL ? "not a pagemu trace (bad magic or short header)"
				   : "unsupported trace version or record size");
			return e;
		}
		s->page_size = h.page_size;
		s->pos = PM_TRACE_HDR_SIZE;
		return 0;
	}
	/* Text: what was read so far must be text, and an auto format is
	 * decided by the first line that says. */
	if (memchr(s->buf, '\0', s->len)) {
		stream_err(s, "%s: binary data in a %s trace", name, fmt_names[fmt == PM_FMT_AUTO ? PM_FMT_ADDRS : fmt]);
		return -EINVAL;
	}
	while (fmt == PM_FMT_AUTO) {
		if ((sniffed = sniff_text(s)) >= 0)
			fmt = (enum pm_trace_fmt)sniffed;
		else if ((e = stream_fill(s)) < 0)
			return e;
		else if (memchr(s->buf, '\0', s->len)) {
			stream_err(s, "%s: binary data in a %s trace", name, fmt_names[PM_FMT_ADDRS]);
			return -EINVAL;
		}
	}
	s->fmt = fmt;
	return 0;
}

static int read_binary(pm_trace_stream_t *s, pm_refs_t *out, size_t max)
{
	pm_trace_rec_t r;
	int e;

	while (out->n < max) {
		if ((e = stream_want(s, PM_TRACE_REC_SIZE)) < 0)
			return e;
		if (s->len - s->pos < PM_TRACE_REC_SIZE) {
			if (s->len > s->pos) {
				stream_err(s, "%s:record %zu: truncated record", s->name, s->lineno + 1);
				return -EINVAL;
			}
			s->done = 1;
			break;
		}
		s->lineno++;
		if (pm_trace_decode((const uint8_t *)s->buf + s->pos, &r) < 0) {
			stream_err(s, "%s:record %zu: unknown kind %u", s->name, s->lineno, r.kind);
			return -EINVAL;
		}
		s->pos += PM_TRACE_REC_SIZE;
		if (pm_trace_is_ref(r.kind) && pm_refs_push(out, r.va, r.access ? r.access : PM_PROT_READ) < 0) {
			stream_err(s, "%s: out of memory", s->name);
			return -ENOMEM;
		}
	}
	return 0;
}

/* The numbers of s->rest (an address or page list line, perhaps begun by
 * an earlier call) while out has room. */
static int read_numbers(pm_trace_stream_t *s, pm_refs_t *out, size_t max)
{
	uint64_t v;
	int r = 0;

	while (out->n < max && (r = pm_trace_next_number(&s->rest, &v)) > 0) {
		if (s->fmt == PM_FMT_PAGES) {
			if (v > (UINT64_MAX >> s->page_bits))
				return -EINVAL;
			v <<= s->page_bits;
		}
		if (pm_refs_push(out, v, PM_PROT_READ) < 0)
			return -ENOMEM;
	}
	if (out->n < max) {
		if (r < 0)
			return r;
		s->rest = NULL;            /* the line is done */
	}
	return 0;
}

static int read_text(pm_trace_stream_t *s, pm_refs_t *out, size_t max)
{
	uint64_t v;
	int access, r, e;

	while (out->n < max) {
		if (!s->rest) {
			if (!(s->line = stream_line(s, &e))) {
				if (e < 0)
					return e;
				s->done = 1;
				break;
			}
			s->lineno++;
			s->rest = s->line;
		}
		if (s->fmt == PM_FMT_LACKEY) {
			r = pm_trace_parse_lackey(s->line, &v, &access);
			s->rest = NULL;
			if (r > 0 && !(s->skip_instr && access == PM_PROT_EXEC) && pm_refs_push(out, v, access) < 0)
				r = -ENOMEM;
		} else {
			r = read_numbers(s, out, max);
		}
		if (r == -ENOMEM) {
			stream_err(s, "%s:%zu: out of memory", s->name, s->lineno);
			return r;
		}
		if (r < 0) {
			stream_err(s, "%s:%zu: malformed %s line: \"%.60s\"", s->name, s->lineno, fmt_names[s->fmt],
				   s->line);
			return -EINVAL;
		}
	}
	return 0;
}

int pm_trace_read(pm_trace_stream_t *s, pm_refs_t *out, size_t max)
{
	out->n = 0;
	if (s->done)
		return 0;
	return s->fmt == PM_FMT_PAGEMU ? read_binary(s, out, max) : read_text(s, out, max);
}

void pm_trace_close(pm_trace_stream_t *s)
{
	free(s->buf);
	s->buf = NULL;
}

int pm_trace_load(FILE *f, const char *name, enum pm_trace_fmt fmt, unsigned page_bits,
		  int skip_instr, pm_refs_t *out, char *err, size_t errlen)
{
	pm_trace_stream_t s;
	size_t n0 = out->n;
	int e;

	/* One read to the end, appending (out->n counts from where it was). */
	if ((e = pm_trace_open(&s, f, name, fmt, page_bits, skip_instr)) == 0) {
		out->n = n0;
		e = s.fmt == PM_FMT_PAGEMU ? read_binary(&s, out, SIZE_MAX) : read_text(&s, out, SIZE_MAX);
		out->page_size = s.page_size;
	}
	if (e < 0)
		snprintf(err, errlen, "%s", s.err);
	pm_trace_close(&s);
	return e;
}
