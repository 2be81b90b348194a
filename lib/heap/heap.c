/* heap.c - the backing allocator of the malloc family over emulated memory.
 *
 * CSAPP 9.9's allocator, as the book builds it:
 *   - the heap is one large pagemu region reserved at first use (HEAP_RESERVE
 *     bytes of address space, nothing committed), cut into NARENAS arenas;
 *     each arena is a heap of its own with its own lock, free lists and
 *     break, which moves up inside the arena's span as it grows, like brk(2):
 *     pages below the break fault in (as demand-zero pages) when first
 *     touched. A thread allocates from one pair of arenas (the pair with
 *     the fewest threads): blocks up to CACHE_MAX from the first, larger
 *     ones from the second; a block goes back to the arena its address
 *     lies in, whoever frees it;
 *   - every block carries a boundary tag at both ends (header and footer:
 *     size, allocated bit, a magic byte), so free coalesces with both
 *     neighbours at once (immediate coalescing), and both tags are checked
 *     when a block comes back (an overwritten footer is a heap overflow);
 *   - free blocks sit in segregated lists by size class: one class per
 *     16 bytes up to 1 KiB (any block there fits exactly), then one per
 *     power of two (first fit inside the class); a bitmap of non-empty
 *     classes finds the next class holding a block in one instruction; a
 *     block bigger than the request is split;
 *   - blocks of LARGE_MIN bytes and more get a pagemu region of their own,
 *     given back with pagemu_unmap at free, as glibc does with mmap
 *     (heaplarge.c).
 * In front of the arenas, each thread keeps a cache of small blocks
 * (heapcache.c): most malloc and free calls take no lock at all. The
 * counters and statistics are in heapstats.c, the heap of each instance
 * in heaptable.c, the definitions they share in heap.h.
 *
 * Block layout (bp = the payload pointer, 16-byte aligned):
 *
 *   bp-8       bp                         bp+size-16   bp+size-8
 *   | header  | payload: size-16 bytes   | footer     | next block's header
 *
 * The headers and the free-list links live in emulated memory, so the
 * allocator itself takes page faults: that is the point. The heap's control
 * block (locks, list heads, statistics, the table of large blocks) lives in
 * real memory from pm_prim_alloc_tables, never from malloc, because the
 * LD_PRELOAD shim builds the process's malloc on these files.
 *
 * Locking: an arena lock per arena, and the heap lock (large blocks, the
 * counters, the peaks, the list of caches). Order: the table's lock, an
 * arena lock, the heap lock, vm->lock (pagemu_map, pagemu_pin and
 * pagemu_unmap take it inside); two arena locks at once only in fork's
 * prepare handler, in index order. pagemu's own code never touches
 * emulated memory with vm->lock held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "heap/heap_impl.h"

/* The heap grew by bytes; keeps its peak size. Takes the heap lock
 * (called with an arena lock held, or none). */
static void heap_grew(struct pm_heap *h, size_t bytes)
{
	pthread_mutex_lock(&h->lock);
	h->break_bytes += bytes;
	if (h->break_bytes + h->large_bytes > h->heap_peak)
		h->heap_peak = h->break_bytes + h->large_bytes;
	pthread_mutex_unlock(&h->lock);
}

/* Lay down the arena's padding word, prologue block and epilogue header
 * on its first use. Called with the arena lock held. */
static void arena_ready(struct pm_heap *h, struct arena *a)
{
	tag_t *w = (tag_t *)a->base;

	if (a->first)
		return;
	w[1] = w[2] = tag_make(OVERHEAD, 1, 0);
	w[3] = tag_make(0, 1, 0);
	a->first = a->base + 4 * WSIZE;
	a->brk = a->first;
	heap_grew(h, 4 * WSIZE);
}

/* Move the break up so that a free block of at least asize bytes ends at it;
 * the block is returned off the lists (merged with a free last block).
 * NULL when the arena's span is used up. */
static char *extend(struct pm_heap *h, struct arena *a, size_t asize)
{
	char *bp = a->brk, *last = NULL;
	tag_t lastf = *(tag_t *)(a->brk - 2 * WSIZE);     /* footer of the last block */
	size_t have = 0, grow;

	if (!tag_alloc(lastf)) {
		have = tag_size(lastf);
		last = a->brk - have;                        /* its payload */
	}
	grow = asize - have;
	if ((size_t)(a->end - a->brk) < grow)
		return NULL;
	if (last)
		pm_heap_list_remove(a, last, have);
	/* The old epilogue header becomes the new block's header. */
	a->brk += grow;
	a->grows++;
	heap_grew(h, grow);
	*(tag_t *)(a->brk - WSIZE) = tag_make(0, 1, 0);  /* new epilogue */
	if (last) {
		set_tags(last, tag_make(asize, 0, 0));
		return last;
	}
	set_tags(bp, tag_make(grow, 0, 0));
	return bp;
}

/* Allocate n bytes in the free block bp (off the lists) as a block of
 * asize bytes, splitting off the rest when it can make a block; bits are
 * or'ed into the header (TAG_CACHED). Returns the block's size. */
static size_t place(struct arena *a, char *bp, size_t asize, size_t n, tag_t bits)
{
	size_t csize = tag_size(*hdrp(bp));

	if (csize - asize >= MIN_BLOCK) {
		char *rest = next_blkp(bp, asize);
		set_tags(rest, tag_make(csize - asize, 0, 0));
		pm_heap_list_insert(a, rest, csize - asize);   /* its right neighbour is allocated */
		csize = asize;
	}
	set_tags(bp, tag_make(csize, 1, csize - OVERHEAD - n) | bits);
	set_canary(bp, *hdrp(bp));
	a->block_bytes += csize;
	return csize;
}

/* Free bp (tags already checked), coalescing with free neighbours. */
static void release(struct arena *a, char *bp)
{
	size_t size = tag_size(*hdrp(bp));
	tag_t prevf = *(tag_t *)(bp - OVERHEAD);
	char *next = next_blkp(bp, size);
	tag_t nexth = *hdrp(next);

	if (!tag_valid(nexth) || !tag_valid(prevf))
		pm_heap_die("heap corruption next to %p: a neighbour's boundary tag is overwritten (heap overflow?)",
			    (void *)bp);
	if (!tag_alloc(nexth)) {
		pm_heap_list_remove(a, next, tag_size(nexth));
		size += tag_size(nexth);
	}
	if (!tag_alloc(prevf)) {
		size_t psize = tag_size(prevf);
		/* The block being freed keeps a FREE header inside the merged
		 * block, so that freeing it again is still seen as a double free
		 * until its memory is handed out again. */
		*hdrp(bp) = tag_make(tag_size(*hdrp(bp)), 0, 0);
		bp -= psize;
		pm_heap_list_remove(a, bp, psize);
		size += psize;
	}
	set_tags(bp, tag_make(size, 0, 0));
	pm_heap_list_insert(a, bp, size);
}

/* One block of asize bytes holding n from arena a (lock held), with bits
 * in its header; NULL when the arena is full. *csize = its size. */
static char *arena_take(struct pm_heap *h, struct arena *a, size_t asize, size_t n, tag_t bits, size_t *csize)
{
	char *bp;

	arena_ready(h, a);
	if (!(bp = pm_heap_find_fit(a, asize)) && !(bp = extend(h, a, asize)))
		return NULL;
	*csize = place(a, bp, asize, n, bits);
	return bp;
}

/* ---- what the caches and the malloc family ask of the arenas ----------------------- */

char *pm_heap_take(struct pm_heap *h, unsigned arena, size_t asize, size_t n)
{
	struct arena *a = &h->arena[arena];
	size_t csize;
	char *bp;

	pthread_mutex_lock(&a->lock);
	bp = arena_take(h, a, asize, n, 0, &csize);
	pthread_mutex_unlock(&a->lock);
	if (!bp)
		errno = ENOMEM;
	return bp;
}

char *pm_heap_refill(struct pm_heap *h, struct tcache *c, unsigned k, size_t n)
{
	struct arena *a = &h->arena[c->pair];
	size_t cs = pm_bin_size[k], csize;
	unsigned want = pm_bin_max[k] / 2, got = 0;
	char *user, *bp, *blocks[BIN_COUNT];

	if (want > (unsigned)(pm_bin_max[k] - c->count[k]))
		want = (unsigned)(pm_bin_max[k] - c->count[k]);
	pthread_mutex_lock(&a->lock);
	/* The first block is the caller's, whatever its size; the others go
	 * to the cache when they have the bin's size (a block the arena does
	 * not split may be 16 bytes larger). */
	if (!(user = arena_take(h, a, cs, n, 0, &csize)))
		goto out;
	while (got < want) {
		if (!(bp = arena_take(h, a, cs, cs - OVERHEAD, TAG_CACHED, &csize)))
			break;
		if (csize != cs) {
			a->block_bytes -= csize;
			release(a, bp);
			break;
		}
		blocks[got++] = bp;
	}
out:
	pthread_mutex_unlock(&a->lock);
	/* Pushed last first: malloc takes them in address order. */
	while (got--) {
		*(char **)blocks[got] = c->head[k];
		c->head[k] = blocks[got];
		c->count[k]++;
		c->bytes += cs;
	}
	if (!user)
		errno = ENOMEM;
	return user;
}

/* Give a NULL-terminated list of cached blocks back to their arenas, one
 * arena lock at a time. A block must carry TAG_CACHED: flush_orphans
 * meets lists a thread may have been changing at fork. */
void pm_heap_release_list(struct pm_heap *h, char *list)
{
	struct arena *locked = NULL;

	while (list) {
		char *bp = list;
		struct arena *a = arena_of(h, bp);
		list = *(char **)bp;
		if (a != locked) {
			if (locked)
				pthread_mutex_unlock(&locked->lock);
			if ((locked = a))
				pthread_mutex_lock(&a->lock);
		}
		if (!a || !in_break(a, bp) || !(*hdrp(bp) & TAG_CACHED))
			continue;
		*hdrp(bp) &= ~TAG_CACHED;
		pm_heap_check_block(a, bp, "free");
		a->block_bytes -= tag_size(*hdrp(bp));
		release(a, bp);
	}
	if (locked)
		pthread_mutex_unlock(&locked->lock);
}

/* free() of a block no cache takes: back to its arena, or a large block. */
void pm_heap_free_block(struct pm_heap *h, struct tcache *c, char *p)
{
	struct pm_where w;
	size_t n;

	pm_heap_locate(h, p, "free", &w);
	if (w.a) {
		size_t size = tag_size(w.t);
		if (w.t & TAG_PINNED) {
			pagemu_unpin(h->vm, p, size - OVERHEAD);
			h->pinned -= pm_heap_pin_charge(h->vm, p, size - OVERHEAD);
		}
		w.a->block_bytes -= size;
		release(w.a, p);
		n = size - OVERHEAD - tag_slack(w.t);
	} else if (w.e) {
		n = pm_large_free(h, w.e);
	} else {
		pm_heap_unlocate(h, &w);
		pm_heap_die("free(%p): not a pointer pagemu_malloc returned (double free of a large block, or a foreign pointer)",
			    (void *)p);
	}
	pm_heap_unlocate(h, &w);
	pm_heap_count(h, c, -(int64_t)n, 0, 1);
}

void *pm_heap_alloc(struct pm_heap *h, struct tcache *c, size_t n)
{
	size_t asize = pm_heap_adjust(n);
	char *bp;

	if (!asize) {
		errno = ENOMEM;
		return NULL;
	}
	if (asize >= LARGE_MIN)
		return pm_large_alloc(h, c, n ? n : 1, ALIGN);
	if (!(bp = pm_heap_take(h, pm_arena_for(c ? c->pair : 0, asize), asize, n ? n : 1)))
		return NULL;
	pm_heap_count(h, c, (int64_t)(n ? n : 1), 1, 0);
	return bp;
}

/* ---- the rest of the malloc family ----------------------------------------------------- */

size_t pagemu_malloc_usable_size(pagemu_t *vm, void *p)
{
	struct pm_heap *h;
	struct pm_where w;
	size_t n = 0;

	if (!p || !vm || !(h = pm_heap_find(vm)))
		return 0;
	pm_heap_locate(h, p, "malloc_usable_size", &w);
	if (w.a && tag_slack(w.t)) {
		/* The program may use all of it now: no slack, no canary. */
		set_tags(p, (w.t & ~(TAG_SLACK_MAX << TAG_SLACK_SHIFT)));
		pm_heap_count(h, pm_tcache_of(h), (int64_t)tag_slack(w.t), 0, 0);
	}
	if (w.a)
		n = tag_size(w.t) - OVERHEAD;
	else if (w.e)
		n = w.e->base + w.e->maplen - w.e->p;
	pm_heap_unlocate(h, &w);
	if (!w.a && !w.e)
		pm_heap_die("malloc_usable_size(%p): not a pointer pagemu_malloc returned", p);
	return n;
}

/* Resize the break block bp in place to asize bytes holding n; 1 when done.
 * Called with the arena lock held. */
static int resize_in_place(struct pm_heap *h, struct arena *a, char *bp, tag_t t, size_t asize, size_t n)
{
	size_t csize = tag_size(t);
	char *next = next_blkp(bp, csize);
	tag_t nt = *hdrp(next);

	if (asize > csize) {
		size_t want = asize - csize;
		if (!tag_alloc(nt) && tag_size(nt) >= want) {
			pm_heap_list_remove(a, next, tag_size(nt));
			csize += tag_size(nt);
		} else if (next == a->brk) {
			/* The last block: move the break. */
			if ((size_t)(a->end - a->brk) < want)
				return 0;
			a->brk += want;
			a->grows++;
			heap_grew(h, want);
			*(tag_t *)(a->brk - WSIZE) = tag_make(0, 1, 0);
			csize += want;
		} else {
			return 0;
		}
	}
	a->block_bytes -= tag_size(t);
	if (csize - asize >= MIN_BLOCK) {
		char *rest = next_blkp(bp, asize);
		set_tags(bp, tag_make(asize, 1, asize - OVERHEAD - n) | (t & TAG_PINNED));
		set_canary(bp, *hdrp(bp));
		set_tags(rest, tag_make(csize - asize, 1, 0));
		release(a, rest);                       /* coalesces with a free right neighbour */
		csize = asize;
	} else {
		set_tags(bp, tag_make(csize, 1, csize - OVERHEAD - n) | (t & TAG_PINNED));
		set_canary(bp, *hdrp(bp));
	}
	a->block_bytes += csize;
	return 1;
}

void *pagemu_realloc(pagemu_t *vm, void *p, size_t n)
{
	struct pm_heap *h;
	struct pm_where w;
	size_t asize = pm_heap_adjust(n), old = 0;
	int in_place = 0;
	void *np;

	if (!p)
		return pagemu_malloc(vm, n);
	if (n == 0) {
		pagemu_free(vm, p);
		return NULL;
	}
	if (!asize) {
		errno = ENOMEM;
		return NULL;
	}
	if (!vm || !(h = pm_heap_find(vm)))
		pm_heap_die("realloc(%p): not a pointer pagemu_malloc returned (this instance has no heap)", p);
	pm_heap_locate(h, p, "realloc", &w);
	if (w.a) {
		old = tag_size(w.t) - OVERHEAD - tag_slack(w.t);
		/* Pinned blocks move, so that the pins cover exactly one block. */
		in_place = asize < LARGE_MIN && !(w.t & TAG_PINNED) && resize_in_place(h, w.a, p, w.t, asize, n);
	} else if (w.e) {
		size_t room = w.e->base + w.e->maplen - w.e->p;
		old = w.e->req;
		in_place = n <= room && n >= room / 2 && !w.e->pinned;
		if (in_place)
			w.e->req = n;
	} else {
		pm_heap_unlocate(h, &w);
		pm_heap_die("realloc(%p): not a pointer pagemu_malloc returned", p);
	}
	pm_heap_unlocate(h, &w);
	if (in_place) {
		pm_heap_count(h, pm_tcache_of(h), (int64_t)n - (int64_t)old, 0, 0);
		return p;
	}
	if (!(np = pagemu_malloc(vm, n)))
		return NULL;
	memcpy(np, p, old < n ? old : n);
	pagemu_free(vm, p);
	return np;
}

void *pagemu_memalign(pagemu_t *vm, size_t align, size_t n)
{
	struct pm_heap *h;
	struct tcache *c;
	struct arena *a;
	size_t asize = pm_heap_adjust(n), req, csize;
	char *bp, *p;

	if (!vm) {
		errno = EINVAL;
		return NULL;
	}
	if (align <= ALIGN)
		return pagemu_malloc(vm, n);
	if (!pm_is_pow2(align)) {
		if (align > SIZE_MAX / 2) {
			errno = EINVAL;
			return NULL;
		}
		align = 1ULL << (64 - __builtin_clzll(align));   /* as glibc: the next power of two */
	}
	if (!asize || asize > SIZE_MAX / 2 - align) {
		errno = ENOMEM;
		return NULL;
	}
	if (!(h = pm_heap_get(vm)))
		return NULL;
	c = pm_tcache_bind(h);
	if (asize + align >= LARGE_MIN)
		return pm_large_alloc(h, c, n ? n : 1, align);
	/* A block big enough to hold an aligned block after a free front gap
	 * of 0 or >= MIN_BLOCK bytes. */
	req = asize + align + MIN_BLOCK;
	a = &h->arena[pm_arena_for(c ? c->pair : 0, req)];
	pthread_mutex_lock(&a->lock);
	arena_ready(h, a);
	if (!(bp = pm_heap_find_fit(a, req)) && !(bp = extend(h, a, req))) {
		pthread_mutex_unlock(&a->lock);
		errno = ENOMEM;
		return NULL;
	}
	p = (char *)(((uintptr_t)bp + align - 1) & ~(uintptr_t)(align - 1));
	if (p != bp && (size_t)(p - bp) < MIN_BLOCK)
		p += align;
	if (p != bp) {
		size_t gap = (size_t)(p - bp);
		csize = tag_size(*hdrp(bp));
		set_tags(bp, tag_make(gap, 0, 0));
		pm_heap_list_insert(a, bp, gap);                /* its left neighbour is allocated */
		set_tags(p, tag_make(csize - gap, 0, 0));
	}
	place(a, p, asize, n ? n : 1, 0);
	pthread_mutex_unlock(&a->lock);
	pm_heap_count(h, c, (int64_t)(n ? n : 1), 1, 0);
	return p;
}

int pagemu_posix_memalign(pagemu_t *vm, void **out, size_t align, size_t n)
{
	void *p;

	if (!pm_is_pow2(align) || align % sizeof(void *))
		return EINVAL;
	if (!(p = pagemu_memalign(vm, align, n)))
		return errno ? errno : ENOMEM;
	*out = p;
	return 0;
}

void *pagemu_aligned_alloc(pagemu_t *vm, size_t align, size_t n)
{
	if (!pm_is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return pagemu_memalign(vm, align, n);
}

/* ---- for the shim: ownership and pinning ---------------------------------------------- */

int pm_heap_owns(struct pagemu *vm, const void *p)
{
	struct pm_heap *h = pm_heap_find(vm);

	if (!h)
		return 0;
	if ((const char *)p >= h->base && (const char *)p < h->base + h->reserve)
		return 1;
	/* Not the heap lock: the shim asks from signal handlers too. */
	return pagemu_owner(p) == vm;
}

int pm_heap_pin(struct pagemu *vm, void *p, size_t limit)
{
	struct pm_heap *h = pm_heap_find(vm);
	struct pm_where w;
	int pinned, rc;
	size_t n;

	if (!h || !p)
		return -EINVAL;
	pm_heap_locate(h, p, "pin", &w);
	if (!w.a && !w.e) {
		pm_heap_unlocate(h, &w);
		return -EINVAL;
	}
	n = w.a ? tag_size(w.t) - OVERHEAD : w.e->base + w.e->maplen - w.e->p;
	pinned = w.a ? (w.t & TAG_PINNED) != 0 : w.e->pinned;
	/* limit is on frames held, not bytes: scattered small blocks pinned
	 * a whole pool with a quarter of it in bytes. */
	rc = pinned ? 0 : h->pinned + pm_heap_pin_charge(vm, p, n) > limit ? -ENOSPC : pagemu_pin(vm, p, n);
	if (!pinned && rc == 0) {
		if (w.a)
			set_tags(p, w.t | TAG_PINNED);
		else
			w.e->pinned = 1;
		h->pinned += pm_heap_pin_charge(vm, p, n);
	}
	pm_heap_unlocate(h, &w);
	return rc;
}
