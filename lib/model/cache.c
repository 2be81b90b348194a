/* cache.c - a physically addressed, set-associative cache with line data
 * (model; no system calls). Enough for the textbook's d-cache: CO, CI and
 * CT of a PA, hit or miss, and the byte a hit returns. */
#include <errno.h>
#include <string.h>

#include "model/model.h"

int pm_cache_mem_size(unsigned sets, unsigned ways, unsigned line, size_t *bytes)
{
	size_t n, per_line;

	if (__builtin_mul_overflow((size_t)sets, (size_t)ways, &n) ||
	    __builtin_add_overflow(sizeof(pm_cache_line_t), (size_t)line, &per_line) ||
	    __builtin_mul_overflow(n, per_line, bytes))
		return -EOVERFLOW;
	return 0;
}

int pm_cache_init(pm_cache_t *c, unsigned sets, unsigned ways, unsigned line, void *mem)
{
	size_t i, n = (size_t)sets * ways;

	if (!pm_is_pow2(sets) || !ways || !pm_is_pow2(line))
		return -EINVAL;
	c->sets = sets;
	c->ways = ways;
	c->line = line;
	c->set_bits = pm_log2(sets);
	c->off_bits = pm_log2(line);
	c->l = mem;
	c->data = (uint8_t *)(c->l + n);
	c->tick = 0;
	for (i = 0; i < n; i++) {
		c->l[i].tag = PM_NONE;
		c->l[i].used = 0;
	}
	memset(c->data, 0, n * line);
	return 0;
}

/* The line holding pa, or NULL. */
static pm_cache_line_t *find(const pm_cache_t *c, uint64_t pa)
{
	pm_cache_line_t *s = c->l + (size_t)pm_cache_ci(c, pa) * c->ways;
	uint64_t tag = pm_cache_ct(c, pa);

	for (unsigned w = 0; w < c->ways; w++)
		if (s[w].tag == tag)
			return &s[w];
	return NULL;
}

int pm_cache_access(pm_cache_t *c, uint64_t pa, uint8_t *byte)
{
	pm_cache_line_t *s, *v, *e = find(c, pa);

	if (e) {
		e->used = ++c->tick;
		if (byte)
			*byte = c->data[(size_t)(e - c->l) * c->line + pm_cache_co(c, pa)];
		return 1;
	}
	/* Miss: allocate the lowest empty way, else the LRU one. */
	s = c->l + (size_t)pm_cache_ci(c, pa) * c->ways;
	v = &s[0];
	for (unsigned w = 0; w < c->ways; w++) {
		if (s[w].tag == PM_NONE) {
			v = &s[w];
			break;
		}
		if (s[w].used < v->used)
			v = &s[w];
	}
	v->tag = pm_cache_ct(c, pa);
	v->used = ++c->tick;
	memset(c->data + (size_t)(v - c->l) * c->line, 0, c->line);
	return 0;
}

int pm_cache_load(pm_cache_t *c, unsigned set, unsigned way, uint64_t tag, const uint8_t *bytes)
{
	size_t i = (size_t)set * c->ways + way;

	if (set >= c->sets || way >= c->ways || tag == PM_NONE)
		return -EINVAL;
	c->l[i].tag = tag;
	c->l[i].used = ++c->tick;
	if (bytes)
		memcpy(c->data + i * c->line, bytes, c->line);
	else
		memset(c->data + i * c->line, 0, c->line);
	return 0;
}

void pm_cache_invalidate(pm_cache_t *c, uint64_t pa, uint64_t len)
{
	uint64_t a, end = pa + len;

	for (a = pa & ~(uint64_t)(c->line - 1); a < end; a += c->line) {
		pm_cache_line_t *e = find(c, a);
		if (e) {
			e->tag = PM_NONE;
			e->used = 0;
		}
	}
}
