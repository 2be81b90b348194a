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
#include <string.h>

#include "model/model.h"

#define NEVER PM_NEVER

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

/* ---- OPT over a stream ------------------------------------------------- */

/* The pages resident with s->frames frames in a max-heap by next use,
 * each page's place in it kept by id (pos), so that a hit moves its own
 * entry and the heap never holds more than the resident pages: memory
 * bounded by the frames and the distinct pages, whatever the length. */
static void opt_place(pm_opt_stream_t *s, size_t i, uint64_t next, uint32_t id)
{
	s->hnext[i] = next;
	s->hid[i] = id;
	s->pos[id] = (uint32_t)i + 1;
}

static void opt_sift_up(pm_opt_stream_t *s, size_t i)
{
	uint64_t next = s->hnext[i];
	uint32_t id = s->hid[i];

	while (i > 0 && s->hnext[(i - 1) / 2] < next) {
		opt_place(s, i, s->hnext[(i - 1) / 2], s->hid[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	opt_place(s, i, next, id);
}

static void opt_sift_down(pm_opt_stream_t *s, size_t i)
{
	uint64_t next = s->hnext[i];
	uint32_t id = s->hid[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->len)
			break;
		if (c + 1 < s->len && s->hnext[c + 1] > s->hnext[c])
			c++;
		if (s->hnext[c] <= next)
			break;
		opt_place(s, i, s->hnext[c], s->hid[c]);
		i = c;
	}
	opt_place(s, i, next, id);
}

/* Room for page id in pos and, when it is new, for one more heap entry. */
static int opt_reserve(pm_opt_stream_t *s, uint32_t id)
{
	if (id >= s->pcap) {
		size_t cap = s->pcap ? s->pcap : 1024;
		uint32_t *pos;
		while (cap <= id)
			cap *= 2;
		if (!(pos = realloc(s->pos, cap * sizeof(*pos))))
			return -ENOMEM;
		memset(pos + s->pcap, 0, (cap - s->pcap) * sizeof(*pos));
		s->pos = pos;
		s->pcap = cap;
	}
	if (s->len == s->hcap) {
		size_t cap = s->hcap ? 2 * s->hcap : 1024;
		uint64_t *hnext = realloc(s->hnext, cap * sizeof(*hnext));
		uint32_t *hid;
		if (hnext)
			s->hnext = hnext;
		if (!hnext || !(hid = realloc(s->hid, cap * sizeof(*hid))))
			return -ENOMEM;
		s->hid = hid;
		s->hcap = cap;
	}
	return 0;
}

void pm_opt_stream_init(pm_opt_stream_t *s, uint64_t frames)
{
	memset(s, 0, sizeof(*s));
	s->frames = frames;
}

int pm_opt_stream_push(pm_opt_stream_t *s, const uint32_t *ids, const uint64_t *next, size_t n)
{
	int e;

	if (!s->frames) {
		s->faults += n;                   /* nothing is ever resident */
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t id = ids[i];
		if ((e = opt_reserve(s, id)) < 0)
			return e;
		if (s->pos[id]) {
			/* its next use was this reference: it only moves later */
			s->hnext[s->pos[id] - 1] = next[i];
			opt_sift_up(s, s->pos[id] - 1);
			continue;
		}
		s->faults++;
		if (s->len == s->frames) {       /* the victim: used farthest ahead */
			s->pos[s->hid[0]] = 0;
			opt_place(s, 0, next[i], id);
			opt_sift_down(s, 0);
		} else {
			opt_place(s, s->len++, next[i], id);
			opt_sift_up(s, s->len - 1);
		}
	}
	return 0;
}

void pm_opt_stream_free(pm_opt_stream_t *s)
{
	free(s->hnext);
	free(s->hid);
	free(s->pos);
	memset(s, 0, sizeof(*s));
}

/* ---- LRU stack distances ---------------------------------------------- */

/* The pass reads the string once and keeps what is bounded by its
 * distinct pages, not its length, so a stream of any length goes through:
 * page ids (pm_pageid_t) and per id the time of its last reference, the
 * Fenwick tree over times (renumbered 1..distinct when it fills: only the
 * order of the last references matters), and per frame count its faults. */
static int lru_cmp_time(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Renumber the last references 1..distinct in their order and rebuild the
 * tree, at least twice the distinct pages big. */
static int lru_compact(pm_lru_stream_t *s)
{
	uint64_t *order = malloc((s->distinct ? s->distinct : 1) * sizeof(*order));
	size_t cap = s->tcap, d = (size_t)s->distinct;

	if (!order)
		return -ENOMEM;
	/* (time << 32 | its id) sorts by time: times stay below 2^32 as they
	 * are at most tcap, and ids are 32 bits. */
	for (size_t id = 0; id < d; id++)
		order[id] = s->last[id] << 32 | id;
	qsort(order, d, sizeof(*order), lru_cmp_time);
	while (cap < 2 * d + 2)
		cap *= 2;
	if (cap != s->tcap) {
		uint32_t *fen = realloc(s->fen, (cap + 1) * sizeof(*fen));
		if (!fen) {
			free(order);
			return -ENOMEM;
		}
		s->fen = fen;
		s->tcap = cap;
	}
	for (size_t i = 0; i <= s->tcap; i++)
		s->fen[i] = 0;
	for (size_t i = 0; i < d; i++) {
		s->last[order[i] & 0xffffffffu] = i + 1;
		for (size_t p = i + 1; p <= s->tcap; p += p & -p)
			s->fen[p]++;
	}
	s->now = d;
	free(order);
	return 0;
}

/* Room for page id's time. */
static int lru_reserve(pm_lru_stream_t *s, uint32_t id)
{
	size_t cap = s->lcap ? s->lcap : 1024;
	uint64_t *last;

	while (cap <= id)
		cap *= 2;
	if (!(last = realloc(s->last, cap * sizeof(*last))))
		return -ENOMEM;
	s->last = last;
	s->lcap = cap;
	return 0;
}

int pm_lru_stream_init(pm_lru_stream_t *s, const uint64_t *frames, size_t k)
{
	memset(s, 0, sizeof(*s));
	s->k = k;
	s->tcap = 1024;
	s->frames = malloc((k ? k : 1) * sizeof(*s->frames));
	s->faults = calloc(k ? k : 1, sizeof(*s->faults));
	s->fen = calloc(s->tcap + 1, sizeof(*s->fen));
	if (!s->frames || !s->faults || !s->fen || pm_pageid_init(&s->ids) < 0) {
		pm_lru_stream_free(s);
		return -ENOMEM;
	}
	for (size_t j = 0; j < k; j++)
		s->frames[j] = frames[j];
	return 0;
}

int pm_lru_stream_push(pm_lru_stream_t *s, const uint64_t *pages, size_t n)
{
	int err;

	for (size_t i = 0; i < n; i++) {
		uint64_t dist = UINT64_MAX;       /* a first reference: infinitely far */
		uint32_t id;

		if (s->now == s->tcap && (err = lru_compact(s)) < 0)
			return err;
		if ((err = pm_pageid_get(&s->ids, pages[i], &id)) < 0 ||
		    (id >= s->lcap && (err = lru_reserve(s, id)) < 0))
			return err;
		if (id < s->distinct) {
			/* marks after its last reference: distinct pages since;
			 * +1 for the page itself */
			uint64_t l = s->last[id], above = 0;
			for (size_t p = s->now; p; p -= p & -p)
				above += s->fen[p];
			for (size_t p = l; p; p -= p & -p)
				above -= s->fen[p];
			dist = above + 1;
			for (size_t p = l; p <= s->tcap; p += p & -p)
				s->fen[p]--;
		} else {
			s->distinct++;
		}
		s->now++;
		for (size_t p = s->now; p <= s->tcap; p += p & -p)
			s->fen[p]++;
		s->last[id] = s->now;
		for (size_t j = 0; j < s->k; j++)
			s->faults[j] += dist > s->frames[j];
	}
	s->refs += n;
	return 0;
}

void pm_lru_stream_free(pm_lru_stream_t *s)
{
	free(s->frames);
	free(s->faults);
	free(s->last);
	free(s->fen);
	pm_pageid_free(&s->ids);
	memset(s, 0, sizeof(*s));
}

int pm_lru_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults)
{
	pm_lru_stream_t s;
	int err;

	if ((err = pm_lru_stream_init(&s, frames, k)) < 0)
		return err;
	if ((err = pm_lru_stream_push(&s, pages, n)) == 0)
		for (size_t j = 0; j < k; j++)
			faults[j] = s.faults[j];
	pm_lru_stream_free(&s);
	return err;
}
