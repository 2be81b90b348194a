/* heapstats.c - the heap's statistics (pagemu_heap_stats), the counters
 * behind them, and the invariant checker tests call.
 *
 * Who counts what: the arenas count bytes of blocks (allocated, free, the
 * breaks) under their locks; the payload P, mallocs and frees are counted
 * by the calling thread's cache without a lock (heapcache.c), or by the
 * heap under its lock for a thread without one, and for exited threads.
 *
 * How the caches count: a cached block is free for P, blocks, mallocs and
 * frees (exact at any time the threads are quiet), and allocated for the
 * arenas: it is in internal_frag, not in free_blocks / free_bytes, until
 * its cache is flushed (the caller's cache by pagemu_heap_stats, every
 * cache at its thread's exit). The peak of P is exact with one thread;
 * with several it is sampled (peak_sample) and can miss a short-lived
 * maximum. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "heap/heap_impl.h"

/* P now: the heap's own count plus every cache's. Called with the heap lock
 * held; raises the peak and gives every cache its new threshold: the
 * payload at which, the others unchanged, P would pass the peak (exact
 * with one thread; with several, PEAK_GRAIN more, so that a thread whose
 * blocks another frees does not sample on every malloc). */
static void peak_sample(struct pm_heap *h)
{
	int64_t p = h->payload, grain = h->ncaches > 1 ? PEAK_GRAIN : 0;

	for (struct tcache *c = h->caches; c; c = c->next)
		p += tc_get(&c->payload);
	if (p > h->peak)
		h->peak = p;
	for (struct tcache *c = h->caches; c; c = c->next)
		tc_set(&c->limit, h->peak - (p - tc_get(&c->payload)) + grain);
}

void pm_heap_peak(struct pm_heap *h)
{
	pthread_mutex_lock(&h->lock);
	peak_sample(h);
	pthread_mutex_unlock(&h->lock);
}

/* Count dp payload bytes, dm mallocs and df frees: in the caller's cache c
 * (no lock), or in the heap (c NULL; takes the heap lock). */
void pm_heap_count(struct pm_heap *h, struct tcache *c, int64_t dp, int dm, int df)
{
	if (c) {
		tc_add(&c->payload, dp);
		tc_add(&c->mallocs, dm);
		tc_add(&c->frees, df);
		if (dp > 0 && tc_get(&c->payload) > tc_get(&c->limit))
			pm_heap_peak(h);
		return;
	}
	pthread_mutex_lock(&h->lock);
	h->payload += dp;
	h->mallocs += (uint64_t)dm;
	h->frees += (uint64_t)df;
	if (dp > 0)
		peak_sample(h);
	pthread_mutex_unlock(&h->lock);
}

/* ---- statistics and the invariant checker ----------------------------------------------- */

/* The caller's own cache is flushed first, so that one thread reads exact
 * numbers (see the top of this file for the other threads' caches). */
int pagemu_heap_stats(pagemu_t *vm, pagemu_heap_stats_t *out)
{
	struct pm_heap *h;
	uint64_t block_bytes = 0, breaks = 0;

	if (!vm || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!(h = pm_heap_find(vm)))
		return 0;
	pm_tcache_flush(h, pm_tcache_of(h));
	for (unsigned i = 0; i < NARENAS; i++) {
		struct arena *a = &h->arena[i];
		pthread_mutex_lock(&a->lock);
		if (a->first)
			breaks += (uint64_t)(a->brk - a->base);
		block_bytes += a->block_bytes;
		out->free_blocks += a->free_blocks;
		out->free_bytes += a->free_bytes;
		out->grows += a->grows;
		/* The largest free block is in the highest non-empty class. */
		for (unsigned c = NCLASSES; c-- > 0;) {
			if (!a->lists[c])
				continue;
			for (char *bp = a->lists[c]; bp; bp = *link_next(bp))
				if (tag_size(*hdrp(bp)) > out->largest_free)
					out->largest_free = tag_size(*hdrp(bp));
			break;
		}
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_lock(&h->lock);
	peak_sample(h);
	int64_t payload = h->payload;
	uint64_t mallocs = h->mallocs, frees = h->frees;
	for (struct tcache *c = h->caches; c; c = c->next) {
		payload += tc_get(&c->payload);
		mallocs += (uint64_t)tc_get(&c->mallocs);
		frees += (uint64_t)tc_get(&c->frees);
	}
	out->break_size = breaks;
	out->heap_size = breaks + h->large_bytes;
	out->heap_peak = h->heap_peak;
	out->allocated = (uint64_t)payload;
	out->peak = (uint64_t)h->peak;
	out->blocks = mallocs - frees;
	out->large_blocks = h->large_blocks;
	out->large_bytes = h->large_bytes;
	/* Internal fragmentation: bytes of allocated blocks that are not
	 * payload (tags, alignment padding, the unsplit rest of a block, the
	 * page rounding of large regions, blocks in other threads' caches). */
	out->internal_frag = block_bytes + h->large_bytes > (uint64_t)payload ?
			     block_bytes + h->large_bytes - (uint64_t)payload : 0;   /* other threads move on meanwhile */
	/* Peak utilization U = max P / H (CSAPP 9.9.3). The book's H only
	 * grows; large regions are given back, so H is taken at its peak. */
	out->utilization = h->heap_peak ? (double)h->peak / (double)h->heap_peak : 0.0;
	/* External fragmentation: the share of free memory that a request as
	 * large as all free memory together could not use, 1 - largest free
	 * block / free bytes (0 = all free memory in one block). */
	out->external_frag = out->free_bytes ? 1.0 - (double)out->largest_free / (double)out->free_bytes : 0.0;
	out->mallocs = mallocs;
	out->frees = frees;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int pm_heap_stats_json_object(const pagemu_heap_stats_t *s, FILE *f)
{
	int n = 0;

	fputc('{', f);
#define X(name, type, desc) PM_JSON_MEMBER(f, &n, #name, s->name);
	PAGEMU_HEAP_STATS_LIST(X)
#undef X
	fputc('}', f);
	return ferror(f) ? -EIO : 0;
}

int pagemu_heap_stats_write_json(const pagemu_heap_stats_t *s, FILE *f)
{
	pm_heap_stats_json_object(s, f);
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

int pagemu_heap_stats_write_text(const pagemu_heap_stats_t *s, FILE *f)
{
#define X(name, type, desc) fprintf(f, "  %-16s %16.*f  %s\n", #name, _Generic(s->name, double: 4, default: 0), (double)s->name, desc);
	PAGEMU_HEAP_STATS_LIST(X)
#undef X
	return ferror(f) ? -EIO : 0;
}

/* One arena: tags, coalescing, lists and counters agree. Lock held. */
static int arena_check(struct arena *a)
{
	uint64_t nfree = 0, free_bytes = 0, listed = 0, alloc_bytes = 0;
	int prev_free = 0;

	if (!a->first)
		return 0;
	for (char *bp = a->first; bp < a->brk;) {
		tag_t t = *hdrp(bp);
		size_t sz = tag_size(t);
		if (sz == 0)                            /* the epilogue */
			break;
		if (!tag_valid(t) || sz % ALIGN || sz < MIN_BLOCK || *ftrp(bp, sz) != (t & TAG_FTR_MASK))
			return -1;
		if (!tag_alloc(t)) {
			if (prev_free)
				return -1;              /* two free neighbours: missed coalescing */
			nfree++;
			free_bytes += sz;
		} else {
			alloc_bytes += sz;
		}
		prev_free = !tag_alloc(t);
		bp += sz;
	}
	for (unsigned c = 0; c < NCLASSES; c++) {
		int bit = (a->nonempty[c / 64] >> (c % 64)) & 1;
		if (bit != (a->lists[c] != NULL))
			return -1;
		for (char *bp = a->lists[c]; bp; bp = *link_next(bp)) {
			tag_t t = *hdrp(bp);
			if (tag_alloc(t) || size_class(tag_size(t)) != c)
				return -1;
			listed++;
		}
	}
	if (nfree != a->free_blocks || listed != nfree || free_bytes != a->free_bytes || alloc_bytes != a->block_bytes)
		return -1;
	return 0;
}

int pm_heap_check(struct pagemu *vm)
{
	struct pm_heap *h = pm_heap_find(vm);
	int rc = 0;

	if (!h)
		return 0;
	for (unsigned i = 0; i < NARENAS && rc == 0; i++) {
		pthread_mutex_lock(&h->arena[i].lock);
		rc = arena_check(&h->arena[i]);
		pthread_mutex_unlock(&h->arena[i].lock);
	}
	return rc;
}
