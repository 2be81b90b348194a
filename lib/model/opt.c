/* opt.c - offline analyses of a reference string (model; no system calls).
 *
 * OPT (Belady's MIN): on a fault with all frames full, evict the resident
 * page whose next reference is farthest in the future (or never). With
 * the next-use time of every reference known in advance (one backward
 * pass), a max-heap of (next use, page) gives each victim in O(log n);
 * entries made stale by a later reference are skipped when they surface.
 *
 * LRU sweep (Mattson et al., 1970): LRU is a stack algorithm, so one pass
 * computing every reference's stack distance (distinct pages touched since
 * the last reference to the same page, itself included) gives the faults
 * for all frame counts: faults(F) = references with distance > F (first
 * references have infinite distance). The distance is a count of "last
 * reference" marks between two times, kept in a Fenwick tree. */
#include <errno.h>
#include <stdlib.h>

#include "model/model.h"

#define NEVER UINT64_MAX                  /* next use of a page never referenced again */

int pm_refs_densify(const uint64_t *pages, size_t n, uint32_t *ids, uint64_t *distinct)
{
	size_t cap = 16, mask, i;
	uint64_t *keys;
	uint32_t *vals, next = 0;

	while (cap < 2 * n)
		cap *= 2;
	mask = cap - 1;
	keys = malloc(cap * sizeof(*keys));
	vals = malloc(cap * sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (i = 0; i < cap; i++)
		vals[i] = UINT32_MAX;
	for (i = 0; i < n; i++) {
		size_t h = (size_t)((pages[i] * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
		while (vals[h] != UINT32_MAX && keys[h] != pages[i])
			h = (h + 1) & mask;
		if (vals[h] == UINT32_MAX) {
			keys[h] = pages[i];
			vals[h] = next++;
		}
		ids[i] = vals[h];
	}
	free(keys);
	free(vals);
	*distinct = next;
	return 0;
}

int pm_refs_distinct(const uint64_t *pages, size_t n, uint64_t *distinct)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	int err;

	if (!ids)
		return -ENOMEM;
	err = pm_refs_densify(pages, n, ids, distinct);
	free(ids);
	return err;
}

/* ---- OPT -------------------------------------------------------------- */

typedef struct heap_item {
	uint64_t next;                    /* time of the page's next reference */
	uint32_t id;                      /* dense page id */
} heap_item_t;

static void heap_push(heap_item_t *h, size_t *len, heap_item_t it)
{
	size_t i = (*len)++;

	while (i > 0 && h[(i - 1) / 2].next < it.next) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = it;
}

static heap_item_t heap_pop(heap_item_t *h, size_t *len)
{
	heap_item_t top = h[0], last = h[--(*len)];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *len)
			break;
		if (c + 1 < *len && h[c + 1].next > h[c].next)
			c++;
		if (h[c].next <= last.next)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*len)
		h[i] = last;
	return top;
}

/* OPT faults over dense ids with next-use times precomputed. */
static uint64_t opt_run(const uint32_t *ids, const uint64_t *nextuse, size_t n, uint64_t distinct,
			uint64_t frames, uint64_t *cur, heap_item_t *heap)
{
	uint64_t faults = 0, resident = 0;
	size_t len = 0, i;

	/* cur[id] = 1 + the next use the resident page was pushed with;
	 * 0 = not resident. Heap entries that disagree with cur are stale. */
	for (i = 0; i < distinct; i++)
		cur[i] = 0;
	for (i = 0; i < n; i++) {
		uint32_t id = ids[i];
		if (!cur[id]) {
			faults++;
			if (resident == frames) {
				for (;;) {
					heap_item_t v = heap_pop(heap, &len);
					if (cur[v.id] && cur[v.id] - 1 == v.next) {
						cur[v.id] = 0;
						break;
					}
				}
			} else {
				resident++;
			}
		}
		cur[id] = nextuse[i] + 1;
		heap_push(heap, &len, (heap_item_t){ nextuse[i], id });
	}
	return faults;
}

int pm_opt_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	uint64_t *nextuse = malloc((n ? n : 1) * sizeof(*nextuse));
	heap_item_t *heap = malloc((n ? n : 1) * sizeof(*heap));
	uint64_t *cur = NULL, distinct = 0;
	int err = -ENOMEM;
	size_t i, j;

	if (!ids || !nextuse || !heap || pm_refs_densify(pages, n, ids, &distinct) < 0)
		goto free_arrays;
	if (!(cur = malloc((distinct ? distinct : 1) * sizeof(*cur))))
		goto free_arrays;
	/* Backward pass: next-use time of every reference. NEVER - 1 keeps
	 * the +1 encoding of opt_run from overflowing. */
	for (i = 0; i < distinct; i++)
		cur[i] = NEVER - 1;
	for (i = n; i-- > 0;) {
		nextuse[i] = cur[ids[i]];
		cur[ids[i]] = i;
	}
	for (j = 0; j < k; j++)
		faults[j] = frames[j] ? opt_run(ids, nextuse, n, distinct, frames[j], cur, heap) : n;
	err = 0;
free_arrays:
	free(cur);
	free(heap);
	free(nextuse);
	free(ids);
	return err;
}

int pm_opt_faults(const uint64_t *pages, size_t n, uint64_t frames, uint64_t *faults)
{
	return pm_opt_sweep(pages, n, &frames, 1, faults);
}

/* ---- LRU stack distances ---------------------------------------------- */

int pm_lru_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	uint32_t *fen = calloc(n + 1, sizeof(*fen));       /* Fenwick tree over times 1..n */
	uint64_t *hist = calloc(n + 2, sizeof(*hist));     /* hist[d]: refs at distance d; hist[n+1]: first refs */
	uint64_t *last = NULL, distinct = 0;
	int err = -ENOMEM;
	size_t i, j;

	if (!ids || !fen || !hist || pm_refs_densify(pages, n, ids, &distinct) < 0)
		goto free_arrays;
	if (!(last = calloc(distinct ? distinct : 1, sizeof(*last))))   /* 0 = never referenced */
		goto free_arrays;
	for (i = 1; i <= n; i++) {
		uint32_t id = ids[i - 1];
		uint64_t l = last[id];
		if (l) {
			/* marks in (l, i): distinct pages since; +1 for the page itself */
			uint64_t above = 0;
			for (size_t p = i - 1; p; p -= p & -p)
				above += fen[p];
			for (size_t p = l; p; p -= p & -p)
				above -= fen[p];
			hist[above + 1]++;
			for (size_t p = l; p <= n; p += p & -p)
				fen[p]--;
		} else {
			hist[n + 1]++;
		}
		for (size_t p = i; p <= n; p += p & -p)
			fen[p]++;
		last[id] = i;
	}
	/* faults(F) = sum of hist[d] for d > F */
	for (j = 0; j < k; j++) {
		uint64_t f = 0;
		for (i = (frames[j] < n ? frames[j] : n) + 1; i <= n + 1; i++)
			f += hist[i];
		faults[j] = f;
	}
	err = 0;
free_arrays:
	free(last);
	free(hist);
	free(fen);
	free(ids);
	return err;
}
