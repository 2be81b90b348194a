/* swapmap.c - the swap slots (model; no system calls).
 *
 * Two bitmaps and a table over the slots: `bits`, the slots in use;
 * `freed`, the slots freed since their blocks were last given back (the
 * engine punches them out of the file in runs, pm_swapmap_take_freed);
 * `sums`, the crc32c of what was written to each slot (checksums on);
 * `refs`, a slot's references beyond the first (a page in swap when an
 * address space forked is the slot of both spaces' PTEs: freeing it then
 * drops one reference, and the last frees the slot).
 *
 * Allocation is first fit: the lowest free slot, found from a low-water
 * mark, unless the caller's hint is free (the slot after the previous one
 * of a write-back batch, so that the batch stays one run and one writev).
 * Freed slots are thus the first to be used again, and the swap file
 * holds about as many blocks as there are slots in use. (A next-fit
 * cursor walks through the whole swap_size before it comes back to a
 * freed slot: every slot it passes keeps its disk blocks, and a small
 * file system fills up.) */
#include <string.h>

#include "model/model.h"

static size_t words_of(uint64_t nslots)
{
	return (nslots + 63) / 64;
}

size_t pm_swapmap_mem_size(uint64_t nslots, int sums)
{
	return 2 * words_of(nslots) * sizeof(uint64_t) + (sums ? nslots * sizeof(uint32_t) : 0) +
	       nslots * sizeof(uint16_t);
}

void pm_swapmap_init(pm_swapmap_t *s, uint64_t nslots, void *mem, int sums)
{
	size_t words = words_of(nslots);

	s->bits = mem;
	s->freed = s->bits + words;
	/* The sums are read only for slots written since: not cleared, so
	 * that a large table stays untouched (lazily backed) until used. */
	s->sums = sums ? (uint32_t *)(s->freed + words) : NULL;
	/* (Untouched too: a slot's count is set to 0 when it is taken.) */
	s->refs = (uint16_t *)((char *)(s->freed + words) + (sums ? nslots * sizeof(uint32_t) : 0));
	s->nslots = nslots;
	s->used = 0;
	s->nfreed = 0;
	s->low = 0;
	s->freed_low = nslots;
	/* (mem is zero-filled: the bitmaps too stay untouched until used.) */
}

static int bit(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

int pm_swapmap_test(const pm_swapmap_t *s, uint64_t slot)
{
	return slot < s->nslots && bit(s->bits, slot);
}

static uint64_t take(pm_swapmap_t *s, uint64_t slot)
{
	PM_ASSERT(!pm_swapmap_test(s, slot));
	s->bits[slot / 64] |= 1ULL << (slot % 64);
	s->used++;
	if (bit(s->freed, slot)) {               /* about to be written: keep its blocks */
		s->freed[slot / 64] &= ~(1ULL << (slot % 64));
		s->nfreed--;
	}
	if (slot == s->low)
		s->low = slot + 1;
	return slot;
}

/* First slot in [from, nslots) whose bit in map is `set`, else PM_NONE. */
static uint64_t scan(const uint64_t *map, int set, uint64_t from, uint64_t nslots)
{
	while (from < nslots) {
		uint64_t w = (set ? map[from / 64] : ~map[from / 64]) & (~0ULL << (from % 64));
		if (w) {
			uint64_t slot = (from & ~63ULL) + (uint64_t)__builtin_ctzll(w);
			return slot < nslots ? slot : PM_NONE;
		}
		from = (from & ~63ULL) + 64;
	}
	return PM_NONE;
}

uint64_t pm_swapmap_next_used(const pm_swapmap_t *s, uint64_t from)
{
	return scan(s->bits, 1, from, s->nslots);
}

uint64_t pm_swapmap_alloc(pm_swapmap_t *s, uint64_t hint)
{
	uint64_t slot;

	if (s->used == s->nslots)
		return PM_NONE;
	if (hint < s->nslots && !pm_swapmap_test(s, hint))
		return take(s, hint);
	slot = scan(s->bits, 0, s->low, s->nslots);
	PM_ASSERT(slot != PM_NONE);              /* used < nslots, none free below low */
	s->low = slot;
	return take(s, slot);
}

int pm_swapmap_dup(pm_swapmap_t *s, uint64_t slot)
{
	PM_ASSERT(pm_swapmap_test(s, slot));
	if (s->refs[slot] == UINT16_MAX)
		return -1;
	s->refs[slot]++;
	return 0;
}

void pm_swapmap_free(pm_swapmap_t *s, uint64_t slot)
{
	PM_ASSERT(pm_swapmap_test(s, slot));     /* a slot is freed once */
	if (!pm_swapmap_test(s, slot))
		return;
	if (s->refs[slot]) {
		s->refs[slot]--;                 /* another reference remains */
		return;
	}
	s->bits[slot / 64] &= ~(1ULL << (slot % 64));
	s->used--;
	s->freed[slot / 64] |= 1ULL << (slot % 64);
	s->nfreed++;
	if (slot < s->low)
		s->low = slot;
	if (slot < s->freed_low)
		s->freed_low = slot;
}

/* Consecutive set bits of map from start, at most max (max >= 1), below
 * nslots. */
static uint64_t ones_from(const uint64_t *map, uint64_t start, uint64_t max, uint64_t nslots)
{
	uint64_t n = 0;

	while (n < max && start + n < nslots) {
		uint64_t i = start + n, w = ~(map[i / 64] >> (i % 64)), room = 64 - i % 64;
		uint64_t k = w ? (uint64_t)__builtin_ctzll(w) : 64;
		if (k > room)
			k = room;
		n += k;
		if (k < room)
			break;                           /* the run ends inside this word */
	}
	if (n > max)
		n = max;
	if (start + n > nslots)
		n = nslots - start;
	return n;
}

int pm_swapmap_take_freed(pm_swapmap_t *s, uint64_t max, uint64_t *start, uint64_t *len)
{
	uint64_t first, n;

	if (!s->nfreed) {
		s->freed_low = s->nslots;
		return 0;
	}
	first = scan(s->freed, 1, s->freed_low, s->nslots);
	PM_ASSERT(first != PM_NONE);             /* nfreed > 0, none below freed_low */
	n = ones_from(s->freed, first, max, s->nslots);
	for (uint64_t i = first; i < first + n;) {
		if (i % 64 == 0 && first + n - i >= 64) {
			s->freed[i / 64] = 0;
			i += 64;
		} else {
			s->freed[i / 64] &= ~(1ULL << (i % 64));
			i++;
		}
	}
	s->nfreed -= n;
	s->freed_low = first + n;
	*start = first;
	*len = n;
	return 1;
}

int pm_swapmap_check(const pm_swapmap_t *s)
{
	uint64_t used = 0, nfreed = 0;

	for (uint64_t w = 0; w < words_of(s->nslots); w++) {
		used += (uint64_t)__builtin_popcountll(s->bits[w]);
		nfreed += (uint64_t)__builtin_popcountll(s->freed[w]);
		if (s->bits[w] & s->freed[w])
			return -1;
	}
	if (used != s->used || nfreed != s->nfreed)
		return -1;
	if (scan(s->bits, 0, 0, s->nslots) < s->low)
		return -1;
	if (s->nfreed && scan(s->freed, 1, 0, s->nslots) < s->freed_low)
		return -1;
	return 0;
}
