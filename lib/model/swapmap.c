/* swapmap.c - swap slot allocator (model; no system calls).
 * A bitmap with a next-fit cursor: consecutive allocations get consecutive
 * slots, and a hint (the slot after a neighbouring page's) keeps virtual
 * neighbours together so that swap-in can read a cluster in one request. */
#include <string.h>

#include "model/model.h"

size_t pm_swapmap_mem_size(uint64_t nslots)
{
	return (nslots + 63) / 64 * sizeof(uint64_t);
}

void pm_swapmap_init(pm_swapmap_t *s, uint64_t nslots, void *mem)
{
	s->bits = mem;
	s->nslots = nslots;
	s->used = 0;
	s->cursor = 0;
	memset(s->bits, 0, pm_swapmap_mem_size(nslots));
}

int pm_swapmap_test(const pm_swapmap_t *s, uint64_t slot)
{
	return slot < s->nslots && (s->bits[slot / 64] >> (slot % 64)) & 1;
}

static uint64_t take(pm_swapmap_t *s, uint64_t slot)
{
	PM_ASSERT(!pm_swapmap_test(s, slot));
	s->bits[slot / 64] |= 1ULL << (slot % 64);
	s->used++;
	s->cursor = slot + 1 < s->nslots ? slot + 1 : 0;
	return slot;
}

/* First free slot in [from, to), word at a time. */
static uint64_t scan(const pm_swapmap_t *s, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t w = ~s->bits[from / 64] & (~0ULL << (from % 64));
		if (w) {
			uint64_t slot = (from & ~63ULL) + (uint64_t)__builtin_ctzll(w);
			return slot < to ? slot : PM_NONE;
		}
		from = (from & ~63ULL) + 64;
	}
	return PM_NONE;
}

uint64_t pm_swapmap_alloc(pm_swapmap_t *s, uint64_t hint)
{
	uint64_t slot;

	if (s->used == s->nslots)
		return PM_NONE;
	if (hint < s->nslots && !pm_swapmap_test(s, hint))
		return take(s, hint);
	slot = scan(s, s->cursor, s->nslots);
	if (slot == PM_NONE)
		slot = scan(s, 0, s->cursor);
	return slot == PM_NONE ? PM_NONE : take(s, slot);
}

void pm_swapmap_free(pm_swapmap_t *s, uint64_t slot)
{
	PM_ASSERT(pm_swapmap_test(s, slot));     /* a slot is freed once */
	if (!pm_swapmap_test(s, slot))
		return;
	s->bits[slot / 64] &= ~(1ULL << (slot % 64));
	s->used--;
}

int pm_swapmap_check(const pm_swapmap_t *s)
{
	uint64_t used = 0;

	for (uint64_t w = 0; w < (s->nslots + 63) / 64; w++)
		used += (uint64_t)__builtin_popcountll(s->bits[w]);
	return used == s->used ? 0 : -1;
}
