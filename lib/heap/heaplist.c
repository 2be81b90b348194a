/* heaplist.c - the segregated free lists of an arena (CSAPP 9.9.14): a
 * class per block size, a bitmap of the non-empty classes, first fit in a
 * range class. Every function: called with the arena's lock held. */
#include "heap/heap_impl.h"

/* ---- size classes of the free lists --------------------------------------------- */

static inline void mark(struct arena *a, unsigned c)   { a->nonempty[c / 64] |= 1ULL << (c % 64); }
static inline void unmark(struct arena *a, unsigned c) { a->nonempty[c / 64] &= ~(1ULL << (c % 64)); }

/* The first non-empty class >= c, or NCLASSES. */
static unsigned next_class(const struct arena *a, unsigned c)
{
	for (unsigned w = c / 64; w < NCLASSES / 64; w++) {
		uint64_t bits = a->nonempty[w] & (w == c / 64 ? ~0ULL << (c % 64) : ~0ULL);
		if (bits)
			return w * 64 + (unsigned)__builtin_ctzll(bits);
	}
	return NCLASSES;
}

/* Called with the arena lock held (all list and block functions below). */
void pm_heap_list_insert(struct arena *a, char *bp, size_t size)
{
	unsigned c = size_class(size);
	char *head = a->lists[c];

	*link_next(bp) = head;
	*link_prev(bp) = NULL;
	if (head)
		*link_prev(head) = bp;
	a->lists[c] = bp;
	mark(a, c);
	a->free_bytes += size;
	a->free_blocks++;
}

void pm_heap_list_remove(struct arena *a, char *bp, size_t size)
{
	unsigned c = size_class(size);
	char *next = *link_next(bp), *prev = *link_prev(bp);

	if (prev)
		*link_next(prev) = next;
	else if ((a->lists[c] = next) == NULL)
		unmark(a, c);
	if (next)
		*link_prev(next) = prev;
	a->free_bytes -= size;
	a->free_blocks--;
}

/* A free block of at least asize bytes, taken off its list; NULL if none. */
char *pm_heap_find_fit(struct arena *a, size_t asize)
{
	unsigned c = size_class(asize);

	if (c >= NEXACT) {
		/* A range class: first fit inside it. */
		for (char *bp = a->lists[c]; bp; bp = *link_next(bp)) {
			size_t sz = tag_size(*hdrp(bp));
			if (sz >= asize) {
				pm_heap_list_remove(a, bp, sz);
				return bp;
			}
		}
		c++;
	}
	/* Exact classes, and every class above a range class, fit whatever
	 * block they hold: take the head. */
	c = c < NCLASSES ? next_class(a, c) : NCLASSES;
	if (c == NCLASSES)
		return NULL;
	char *bp = a->lists[c];
	pm_heap_list_remove(a, bp, tag_size(*hdrp(bp)));
	return bp;
}
