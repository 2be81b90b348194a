/* heap.c - malloc, free, calloc, realloc and memalign over emulated memory.
 *
 * CSAPP 9.9's allocator, as the book builds it:
 *   - the heap is one large pagemu region reserved at first use (HEAP_RESERVE
 *     bytes of address space, nothing committed); a break moves up inside it
 *     as the heap grows, like brk(2): pages below the break fault in (as
 *     demand-zero pages) when they are first touched;
 *   - every block carries a boundary tag at both ends (header and footer:
 *     size, allocated bit, a magic byte), so free coalesces with both
 *     neighbours at once (immediate coalescing), and both tags are checked
 *     on free (an overwritten footer is a heap overflow);
 *   - free blocks sit in segregated lists by size class: one class per
 *     16 bytes up to 1 KiB (any block there fits exactly), then one per
 *     power of two (first fit inside the class); a bitmap of non-empty
 *     classes finds the next class holding a block in one instruction; a
 *     block bigger than the request is split;
 *   - blocks of LARGE_MIN bytes and more get a pagemu region of their own,
 *     given back with pagemu_unmap at free (as glibc does with mmap).
 *
 * Block layout (bp = the payload pointer, 16-byte aligned):
 *
 *   bp-8       bp                         bp+size-16   bp+size-8
 *   | header  | payload: size-16 bytes   | footer     | next block's header
 *
 * The headers and the free-list links live in emulated memory, so the
 * allocator itself takes page faults: that is the point. The heap's control
 * block (lock, list heads, statistics, the table of large blocks) lives in
 * real memory from pm_prim_alloc_tables, never from malloc, because the
 * LD_PRELOAD shim builds the process's malloc on this file.
 *
 * Locking: one mutex per heap. pagemu's own code never touches emulated
 * memory with vm->lock held; the heap lock is a different lock, and when
 * both are held the heap lock is taken first (pagemu_map, pagemu_pin and
 * pagemu_unmap take vm->lock inside).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define HEAP_RESERVE  (1ULL << 40)        /* address space of the break heap */
#define LARGE_MIN     (128u * 1024)       /* blocks this big get their own region */
#define ALIGN         16u                 /* payload alignment */
#define WSIZE         8u                  /* a boundary tag */
#define OVERHEAD      16u                 /* header + footer */
#define MIN_BLOCK     32u                 /* header, two list links, footer */
#define EXACT_MAX     1024u               /* largest size of an exact class */
#define NEXACT        (EXACT_MAX / ALIGN - 1)   /* classes 32, 48, ..., 1024 */
#define NCLASSES      128u
#define HEAPS_MAX     64u                 /* instances with a heap at once */

/* ---- boundary tags ----------------------------------------------------------
 * One 64-bit word, the same in header and footer:
 *   bit 0       allocated
 *   bit 1       pinned (pm_heap_pin): unpinned at free
 *   bits 4-43   block size in bytes (a multiple of 16, < 16 TiB)
 *   bits 44-55  slack: block size - 16 - requested size (for the statistics)
 *   bits 56-63  magic: TAG_USED or TAG_FREE, so that a stray pointer or an
 *               overwrite is recognised. */
#define TAG_ALLOC     1ULL
#define TAG_PINNED    2ULL
#define TAG_SIZE_MASK 0x00000FFFFFFFFFF0ULL
#define TAG_SLACK_SHIFT 44
#define TAG_SLACK_MAX 0xFFFULL
#define TAG_MAGIC_SHIFT 56
#define TAG_USED      0xA5ULL
#define TAG_FREE      0x5EULL

typedef uint64_t tag_t;

static inline tag_t tag_make(size_t size, int alloc, size_t slack)
{
	return ((alloc ? TAG_USED : TAG_FREE) << TAG_MAGIC_SHIFT) | ((uint64_t)slack << TAG_SLACK_SHIFT) |
	       ((uint64_t)size & TAG_SIZE_MASK) | (alloc ? TAG_ALLOC : 0);
}
static inline size_t tag_size(tag_t t)   { return (size_t)(t & TAG_SIZE_MASK); }
static inline int    tag_alloc(tag_t t)  { return (int)(t & TAG_ALLOC); }
static inline size_t tag_slack(tag_t t)  { return (size_t)((t >> TAG_SLACK_SHIFT) & TAG_SLACK_MAX); }
static inline unsigned tag_magic(tag_t t){ return (unsigned)(t >> TAG_MAGIC_SHIFT); }
static inline int    tag_valid(tag_t t)
{
	return (tag_magic(t) == TAG_USED && tag_alloc(t)) || (tag_magic(t) == TAG_FREE && !tag_alloc(t));
}

static inline tag_t *hdrp(char *bp)            { return (tag_t *)(bp - WSIZE); }
static inline tag_t *ftrp(char *bp, size_t sz) { return (tag_t *)(bp + sz - OVERHEAD); }
static inline char  *next_blkp(char *bp, size_t sz) { return bp + sz; }
static inline void   set_tags(char *bp, tag_t t)    { *hdrp(bp) = t; *ftrp(bp, tag_size(t)) = t; }

/* Free-list links, in the first 16 bytes of a free block's payload. */
static inline char **link_next(char *bp) { return (char **)bp; }
static inline char **link_prev(char *bp) { return (char **)(bp + 8); }

/* ---- large blocks: an open-addressing table in real memory ------------------- */

typedef struct large_ent {
	uintptr_t p;                      /* payload; 0 = empty, 1 = deleted */
	uintptr_t base;                   /* region start */
	size_t    maplen;                 /* region length */
	size_t    req;                    /* bytes requested */
	int       pinned;                 /* 1 = pm_heap_pin'ed */
} large_ent_t;

#define LARGE_DELETED ((uintptr_t)1)

/* ---- the heap ---------------------------------------------------------------- */

struct pm_heap {
	struct pagemu  *vm;               /* owner */
	pthread_mutex_t lock;             /* the heap lock (never vm->lock) */
	char           *base;             /* start of the reservation */
	char           *first;            /* payload of the first block */
	char           *brk;              /* the break: end of the epilogue header */
	char           *lists[NCLASSES];  /* free-list heads, by class */
	uint64_t        nonempty[NCLASSES / 64]; /* bit c = lists[c] non-empty */

	large_ent_t    *large;            /* large-block table */
	size_t          large_cap;        /* slots (power of two) */
	size_t          large_used;       /* live + deleted slots */

	/* Statistics, under the lock (see pagemu_heap_stats). */
	uint64_t payload;                 /* P: bytes requested and not freed */
	uint64_t peak;                    /* max P */
	uint64_t heap_peak;               /* max H: break bytes + large bytes */
	uint64_t block_bytes;             /* sizes of allocated break blocks */
	uint64_t blocks;                  /* live allocations (break + large) */
	uint64_t free_bytes, free_blocks; /* in the free lists */
	uint64_t large_blocks, large_bytes; /* live large blocks, their mapped bytes */
	uint64_t mallocs, frees, grows;   /* counters */
	uint64_t pinned;                  /* bytes of blocks pinned by pm_heap_pin */
};

static struct {
	pthread_mutex_t lock;             /* creation and removal */
	struct pagemu *_Atomic vm[HEAPS_MAX];
	struct pm_heap *heap[HEAPS_MAX];
} heaps = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- user errors: a message, then abort --------------------------------------- */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "pagemu: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	pm_prim_say(msg);         /* no stdio: the shim's malloc may be broken here */
	abort();
}

/* ---- size classes -------------------------------------------------------------- */

static inline unsigned size_class(size_t size)
{
	unsigned c;

	if (size <= EXACT_MAX)
		return (unsigned)(size / ALIGN) - 2;
	/* (1K, 2K] -> NEXACT, (2K, 4K] -> NEXACT + 1, ... */
	c = NEXACT + (unsigned)(63 - __builtin_clzll((uint64_t)size - 1)) - 10;
	return c < NCLASSES ? c : NCLASSES - 1;
}

static inline void mark(struct pm_heap *h, unsigned c)   { h->nonempty[c / 64] |= 1ULL << (c % 64); }
static inline void unmark(struct pm_heap *h, unsigned c) { h->nonempty[c / 64] &= ~(1ULL << (c % 64)); }

/* The first non-empty class >= c, or NCLASSES. */
static unsigned next_class(const struct pm_heap *h, unsigned c)
{
	for (unsigned w = c / 64; w < NCLASSES / 64; w++) {
		uint64_t bits = h->nonempty[w] & (w == c / 64 ? ~0ULL << (c % 64) : ~0ULL);
		if (bits)
			return w * 64 + (unsigned)__builtin_ctzll(bits);
	}
	return NCLASSES;
}

/* Called with the heap lock held (all list and block functions below). */
static void list_insert(struct pm_heap *h, char *bp, size_t size)
{
	unsigned c = size_class(size);
	char *head = h->lists[c];

	*link_next(bp) = head;
	*link_prev(bp) = NULL;
	if (head)
		*link_prev(head) = bp;
	h->lists[c] = bp;
	mark(h, c);
	h->free_bytes += size;
	h->free_blocks++;
}

static void list_remove(struct pm_heap *h, char *bp, size_t size)
{
	unsigned c = size_class(size);
	char *next = *link_next(bp), *prev = *link_prev(bp);

	if (prev)
		*link_next(prev) = next;
	else if ((h->lists[c] = next) == NULL)
		unmark(h, c);
	if (next)
		*link_prev(next) = prev;
	h->free_bytes -= size;
	h->free_blocks--;
}

/* A free block of at least asize bytes, taken off its list; NULL if none. */
static char *find_fit(struct pm_heap *h, size_t asize)
{
	unsigned c = size_class(asize);

	if (c >= NEXACT) {
		/* A range class: first fit inside it. */
		for (char *bp = h->lists[c]; bp; bp = *link_next(bp)) {
			size_t sz = tag_size(*hdrp(bp));
			if (sz >= asize) {
				list_remove(h, bp, sz);
				return bp;
			}
		}
		c++;
	}
	/* Exact classes, and every class above a range class, fit whatever
	 * block they hold: take the head. */
	c = c < NCLASSES ? next_class(h, c) : NCLASSES;
	if (c == NCLASSES)
		return NULL;
	char *bp = h->lists[c];
	list_remove(h, bp, tag_size(*hdrp(bp)));
	return bp;
}

static inline void heap_grew(struct pm_heap *h)
{
	uint64_t size = (uint64_t)(h->brk - h->base) + h->large_bytes;

	if (size > h->heap_peak)
		h->heap_peak = size;
}

/* Move the break up so that a free block of at least asize bytes ends at it;
 * the block is returned off the lists (merged with a free last block).
 * NULL when the reservation is used up. */
static char *extend(struct pm_heap *h, size_t asize)
{
	char *bp = h->brk, *last = NULL;
	tag_t lastf = *(tag_t *)(h->brk - 2 * WSIZE);     /* footer of the last block */
	size_t have = 0, grow;

	if (!tag_alloc(lastf)) {
		have = tag_size(lastf);
		last = h->brk - WSIZE - have + WSIZE;        /* its payload */
		list_remove(h, last, have);
	}
	grow = asize - have;
	if ((size_t)(h->base + HEAP_RESERVE - h->brk) < grow)
		return NULL;
	/* The old epilogue header becomes the new block's header. */
	h->brk += grow;
	h->grows++;
	heap_grew(h);
	*(tag_t *)(h->brk - WSIZE) = tag_make(0, 1, 0);  /* new epilogue */
	if (last) {
		set_tags(last, tag_make(asize, 0, 0));
		return last;
	}
	set_tags(bp, tag_make(grow, 0, 0));
	return bp;
}

/* Allocate n bytes in the free block bp (off the lists) as a block of
 * asize bytes, splitting off the rest when it can make a block. */
static void place(struct pm_heap *h, char *bp, size_t asize, size_t n)
{
	size_t csize = tag_size(*hdrp(bp));

	if (csize - asize >= MIN_BLOCK) {
		char *rest = next_blkp(bp, asize);
		set_tags(rest, tag_make(csize - asize, 0, 0));
		list_insert(h, rest, csize - asize);   /* its right neighbour is allocated */
		csize = asize;
	}
	set_tags(bp, tag_make(csize, 1, csize - OVERHEAD - n));
	h->block_bytes += csize;
	h->blocks++;
	h->payload += n;
	if (h->payload > h->peak)
		h->peak = h->payload;
	h->mallocs++;
}

/* Free bp (tags already checked), coalescing with free neighbours. */
static void release(struct pm_heap *h, char *bp)
{
	size_t size = tag_size(*hdrp(bp));
	tag_t prevf = *(tag_t *)(bp - OVERHEAD);
	char *next = next_blkp(bp, size);
	tag_t nexth = *hdrp(next);

	if (!tag_valid(nexth) || !tag_valid(prevf))
		die("heap corruption next to %p: a neighbour's boundary tag is overwritten (heap overflow?)", (void *)bp);
	if (!tag_alloc(nexth)) {
		list_remove(h, next, tag_size(nexth));
		size += tag_size(nexth);
	}
	if (!tag_alloc(prevf)) {
		size_t psize = tag_size(prevf);
		/* The block being freed keeps a FREE header inside the merged
		 * block, so that freeing it again is still seen as a double free
		 * until its memory is handed out again. */
		*hdrp(bp) = tag_make(tag_size(*hdrp(bp)), 0, 0);
		bp -= psize;
		list_remove(h, bp, psize);
		size += psize;
	}
	set_tags(bp, tag_make(size, 0, 0));
	list_insert(h, bp, size);
}

/* ---- the table of heaps --------------------------------------------------------- */

static struct pm_heap *heap_find(struct pagemu *vm)
{
	for (unsigned i = 0; i < HEAPS_MAX; i++)
		if (atomic_load_explicit(&heaps.vm[i], memory_order_acquire) == vm)
			return heaps.heap[i];
	return NULL;
}

static struct pm_heap *heap_create(struct pagemu *vm)
{
	struct pm_heap *h;
	unsigned slot = HEAPS_MAX;

	pthread_mutex_lock(&heaps.lock);
	if ((h = heap_find(vm)))
		goto out;
	for (unsigned i = 0; i < HEAPS_MAX && slot == HEAPS_MAX; i++)
		if (!atomic_load(&heaps.vm[i]))
			slot = i;
	if (slot == HEAPS_MAX)
		goto out;
	h = pm_prim_alloc_tables(sizeof(*h));
	if (!h)
		goto out;
	h->base = pagemu_map(vm, HEAP_RESERVE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!h->base) {
		pm_prim_release(h, sizeof(*h));
		h = NULL;
		goto out;
	}
	h->vm = vm;
	pthread_mutex_init(&h->lock, NULL);
	/* Padding word, prologue block (header + footer), epilogue header. */
	tag_t *w = (tag_t *)h->base;
	w[1] = w[2] = tag_make(OVERHEAD, 1, 0);
	w[3] = tag_make(0, 1, 0);
	h->first = h->base + 4 * WSIZE;
	h->brk = h->first;
	heaps.heap[slot] = h;
	atomic_store_explicit(&heaps.vm[slot], vm, memory_order_release);
out:
	pthread_mutex_unlock(&heaps.lock);
	return h;
}

/* The heap of vm, created on first use; NULL with errno = ENOMEM. */
static struct pm_heap *heap_get(struct pagemu *vm)
{
	struct pm_heap *h = heap_find(vm);

	if (!h && !(h = heap_create(vm)))
		errno = ENOMEM;
	return h;
}

static void large_release_all(struct pm_heap *h);

void pm_heap_close(struct pagemu *vm)
{
	struct pm_heap *h;

	pthread_mutex_lock(&heaps.lock);
	for (unsigned i = 0; i < HEAPS_MAX; i++) {
		if (atomic_load(&heaps.vm[i]) != vm)
			continue;
		h = heaps.heap[i];
		atomic_store(&heaps.vm[i], NULL);
		heaps.heap[i] = NULL;
		large_release_all(h);
		pagemu_unmap(vm, h->base, HEAP_RESERVE);
		pthread_mutex_destroy(&h->lock);
		pm_prim_release(h, sizeof(*h));
	}
	pthread_mutex_unlock(&heaps.lock);
}

/* ---- large blocks ------------------------------------------------------------------ */

static size_t large_hash(uintptr_t p, size_t cap)
{
	return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
}

/* The entry of payload p, or NULL. Called with the heap lock held. */
static large_ent_t *large_find(struct pm_heap *h, uintptr_t p)
{
	if (!h->large)
		return NULL;
	for (size_t i = large_hash(p, h->large_cap);; i = (i + 1) & (h->large_cap - 1)) {
		if (h->large[i].p == p)
			return &h->large[i];
		if (h->large[i].p == 0)
			return NULL;
	}
}

static int large_insert(struct pm_heap *h, const large_ent_t *e)
{
	if ((h->large_used + 1) * 2 > h->large_cap) {
		size_t ncap = h->large_cap ? h->large_cap * 2 : 256;
		large_ent_t *old = h->large, *nt = pm_prim_alloc_tables(ncap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		h->large = nt;
		h->large_used = 0;
		size_t ocap = h->large_cap;
		h->large_cap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].p > LARGE_DELETED)
				large_insert(h, &old[i]);
		if (old)
			pm_prim_release(old, ocap * sizeof(*old));
	}
	size_t i = large_hash(e->p, h->large_cap);
	while (h->large[i].p > LARGE_DELETED)
		i = (i + 1) & (h->large_cap - 1);
	if (h->large[i].p == 0)
		h->large_used++;
	h->large[i] = *e;
	return 0;
}

/* A block of its own region, payload aligned to align. */
static void *large_alloc(struct pagemu *vm, struct pm_heap *h, size_t n, size_t align)
{
	size_t len = n + (align > ALIGN ? align : 0);
	large_ent_t e = { 0 };
	char *base;

	if (len < n) {
		errno = ENOMEM;
		return NULL;
	}
	base = pagemu_map(vm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!base) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&h->lock);
	e.base = (uintptr_t)base;
	e.maplen = (len + vm->page - 1) & ~(vm->page - 1);
	e.p = (e.base + align - 1) & ~(uintptr_t)(align - 1);
	e.req = n;
	if (large_insert(h, &e) < 0) {
		pthread_mutex_unlock(&h->lock);
		pagemu_unmap(vm, base, len);
		errno = ENOMEM;
		return NULL;
	}
	h->large_blocks++;
	h->large_bytes += e.maplen;
	heap_grew(h);
	h->blocks++;
	h->payload += n;
	if (h->payload > h->peak)
		h->peak = h->payload;
	h->mallocs++;
	pthread_mutex_unlock(&h->lock);
	return (void *)e.p;
}

/* Called with the heap lock held. */
static void large_free(struct pm_heap *h, large_ent_t *e)
{
	if (e->pinned) {
		pagemu_unpin(h->vm, (void *)e->p, e->base + e->maplen - e->p);
		h->pinned -= e->base + e->maplen - e->p;
	}
	pagemu_unmap(h->vm, (void *)e->base, e->maplen);
	h->large_blocks--;
	h->large_bytes -= e->maplen;
	h->blocks--;
	h->payload -= e->req;
	h->frees++;
	e->p = LARGE_DELETED;
}

static void large_release_all(struct pm_heap *h)
{
	for (size_t i = 0; i < h->large_cap; i++)
		if (h->large[i].p > LARGE_DELETED)
			large_free(h, &h->large[i]);
	if (h->large)
		pm_prim_release(h->large, h->large_cap * sizeof(*h->large));
	h->large = NULL;
}

/* ---- checking a pointer handed back ---------------------------------------------- */

static inline int in_break(const struct pm_heap *h, const char *p)
{
	return p >= h->first && p < h->brk;
}

/* The header of bp, checked; aborts on a user error. who = "free", ...
 * Called with the heap lock held; bp is inside the break heap. */
static tag_t check_block(struct pm_heap *h, char *bp, const char *who)
{
	tag_t t;
	size_t size;

	if ((uintptr_t)bp % ALIGN)
		die("%s(%p): not a pointer pagemu_malloc returned (misaligned, inside the heap)", who, (void *)bp);
	t = *hdrp(bp);
	if (tag_magic(t) == TAG_FREE && !tag_alloc(t))
		die("%s(%p): double free (the block is already free)", who, (void *)bp);
	if (!tag_valid(t))
		die("%s(%p): not a block pagemu_malloc returned, or its header was overwritten (heap underflow?)",
		    who, (void *)bp);
	size = tag_size(t);
	if (size < MIN_BLOCK || bp + size - WSIZE > h->brk - WSIZE)
		die("%s(%p): heap corruption: the block header holds an impossible size %zu", who, (void *)bp, size);
	if (*ftrp(bp, size) != t)
		die("%s(%p): heap corruption: the boundary tag after the block (%zu bytes) is overwritten "
		    "(heap overflow: a write past the end of the block)", who, (void *)bp, size - OVERHEAD - tag_slack(t));
	return t;
}

static void heap_free_locked(struct pm_heap *h, char *bp, const char *who)
{
	tag_t t = check_block(h, bp, who);

	if (t & TAG_PINNED) {
		pagemu_unpin(h->vm, bp, tag_size(t) - OVERHEAD);
		h->pinned -= tag_size(t) - OVERHEAD;
	}
	h->block_bytes -= tag_size(t);
	h->blocks--;
	h->payload -= tag_size(t) - OVERHEAD - tag_slack(t);
	h->frees++;
	release(h, bp);
}

/* ---- the malloc family --------------------------------------------------------------- */

/* Block size for n bytes of payload; 0 when n is too large. */
static inline size_t adjust(size_t n)
{
	if (n > SIZE_MAX / 2)
		return 0;
	if (n == 0)
		n = 1;
	size_t a = (n + OVERHEAD + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	return a < MIN_BLOCK ? MIN_BLOCK : a;
}

void *pagemu_malloc(pagemu_t *vm, size_t n)
{
	struct pm_heap *h;
	size_t asize = adjust(n);
	char *bp;

	if (!vm || !asize) {
		errno = vm ? ENOMEM : EINVAL;
		return NULL;
	}
	if (!(h = heap_get(vm)))
		return NULL;
	if (asize >= LARGE_MIN)
		return large_alloc(vm, h, n ? n : 1, ALIGN);
	pthread_mutex_lock(&h->lock);
	if (!(bp = find_fit(h, asize)) && !(bp = extend(h, asize))) {
		pthread_mutex_unlock(&h->lock);
		errno = ENOMEM;
		return NULL;
	}
	place(h, bp, asize, n ? n : 1);
	pthread_mutex_unlock(&h->lock);
	return bp;
}

void pagemu_free(pagemu_t *vm, void *p)
{
	struct pm_heap *h;
	large_ent_t *e;

	if (!p)
		return;
	if (!vm || !(h = heap_find(vm)))
		die("free(%p): not a pointer pagemu_malloc returned (this instance has no heap)", p);
	pthread_mutex_lock(&h->lock);
	if (in_break(h, p)) {
		heap_free_locked(h, p, "free");
	} else if ((e = large_find(h, (uintptr_t)p))) {
		large_free(h, e);
	} else {
		pthread_mutex_unlock(&h->lock);
		die("free(%p): not a pointer pagemu_malloc returned (double free of a large block, or a foreign pointer)", p);
	}
	pthread_mutex_unlock(&h->lock);
}

void *pagemu_calloc(pagemu_t *vm, size_t nmemb, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!(p = pagemu_malloc(vm, total)))
		return NULL;
	/* A large block is a fresh region: its pages are demand-zero, and
	 * not touching them keeps them unfaulted. Blocks from the break may
	 * reuse freed memory. */
	if (adjust(total) < LARGE_MIN)
		memset(p, 0, total);
	return p;
}

size_t pagemu_malloc_usable_size(pagemu_t *vm, void *p)
{
	struct pm_heap *h;
	large_ent_t *e;
	size_t n = 0;

	if (!p || !vm || !(h = heap_find(vm)))
		return 0;
	pthread_mutex_lock(&h->lock);
	if (in_break(h, p))
		n = tag_size(check_block(h, p, "malloc_usable_size")) - OVERHEAD;
	else if ((e = large_find(h, (uintptr_t)p)))
		n = e->base + e->maplen - e->p;
	else {
		pthread_mutex_unlock(&h->lock);
		die("malloc_usable_size(%p): not a pointer pagemu_malloc returned", p);
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* Resize the break block bp in place to asize bytes holding n; 1 when done.
 * Called with the heap lock held. */
static int resize_in_place(struct pm_heap *h, char *bp, tag_t t, size_t asize, size_t n)
{
	size_t csize = tag_size(t), old_n = csize - OVERHEAD - tag_slack(t);
	char *next = next_blkp(bp, csize);
	tag_t nt = *hdrp(next);

	if (asize > csize) {
		size_t want = asize - csize;
		if (!tag_alloc(nt) && tag_size(nt) >= want) {
			list_remove(h, next, tag_size(nt));
			csize += tag_size(nt);
		} else if (next == h->brk) {
			/* The last block: move the break. */
			if ((size_t)(h->base + HEAP_RESERVE - h->brk) < want)
				return 0;
			h->brk += want;
			h->grows++;
			heap_grew(h);
			*(tag_t *)(h->brk - WSIZE) = tag_make(0, 1, 0);
			csize += want;
		} else {
			return 0;
		}
	}
	h->block_bytes -= tag_size(t);
	h->payload -= old_n;
	if (csize - asize >= MIN_BLOCK) {
		char *rest = next_blkp(bp, asize);
		set_tags(bp, tag_make(asize, 1, asize - OVERHEAD - n) | (t & TAG_PINNED));
		set_tags(rest, tag_make(csize - asize, 1, 0));
		release(h, rest);                       /* coalesces with a free right neighbour */
		csize = asize;
	} else {
		set_tags(bp, tag_make(csize, 1, csize - OVERHEAD - n) | (t & TAG_PINNED));
	}
	h->block_bytes += csize;
	h->payload += n;
	if (h->payload > h->peak)
		h->peak = h->payload;
	return 1;
}

void *pagemu_realloc(pagemu_t *vm, void *p, size_t n)
{
	struct pm_heap *h;
	size_t asize = adjust(n), old;
	large_ent_t *e;
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
	if (!vm || !(h = heap_find(vm)))
		die("realloc(%p): not a pointer pagemu_malloc returned (this instance has no heap)", p);
	pthread_mutex_lock(&h->lock);
	if (in_break(h, p)) {
		tag_t t = check_block(h, p, "realloc");
		/* Pinned blocks move, so that the pins cover exactly one block. */
		if (asize < LARGE_MIN && !(t & TAG_PINNED) && resize_in_place(h, p, t, asize, n)) {
			pthread_mutex_unlock(&h->lock);
			return p;
		}
		old = tag_size(t) - OVERHEAD - tag_slack(t);
	} else if ((e = large_find(h, (uintptr_t)p))) {
		size_t room = e->base + e->maplen - e->p;
		if (n <= room && n >= room / 2 && !e->pinned) {
			h->payload += n - e->req;       /* wraps correctly when shrinking */
			if (h->payload > h->peak)
				h->peak = h->payload;
			e->req = n;
			pthread_mutex_unlock(&h->lock);
			return p;
		}
		old = e->req;
	} else {
		pthread_mutex_unlock(&h->lock);
		die("realloc(%p): not a pointer pagemu_malloc returned", p);
	}
	pthread_mutex_unlock(&h->lock);
	if (!(np = pagemu_malloc(vm, n)))
		return NULL;
	memcpy(np, p, old < n ? old : n);
	pagemu_free(vm, p);
	return np;
}

void *pagemu_memalign(pagemu_t *vm, size_t align, size_t n)
{
	struct pm_heap *h;
	size_t asize = adjust(n), req;
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
	if (!(h = heap_get(vm)))
		return NULL;
	if (asize + align >= LARGE_MIN)
		return large_alloc(vm, h, n ? n : 1, align);
	/* A block big enough to hold an aligned block after a free front gap
	 * of 0 or >= MIN_BLOCK bytes. */
	req = asize + align + MIN_BLOCK;
	pthread_mutex_lock(&h->lock);
	if (!(bp = find_fit(h, req)) && !(bp = extend(h, req))) {
		pthread_mutex_unlock(&h->lock);
		errno = ENOMEM;
		return NULL;
	}
	p = (char *)(((uintptr_t)bp + align - 1) & ~(uintptr_t)(align - 1));
	if (p != bp && (size_t)(p - bp) < MIN_BLOCK)
		p += align;
	if (p != bp) {
		size_t csize = tag_size(*hdrp(bp)), gap = (size_t)(p - bp);
		set_tags(bp, tag_make(gap, 0, 0));
		list_insert(h, bp, gap);                /* its left neighbour is allocated */
		set_tags(p, tag_make(csize - gap, 0, 0));
	}
	place(h, p, asize, n ? n : 1);
	pthread_mutex_unlock(&h->lock);
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
	struct pm_heap *h = heap_find(vm);

	if (!h)
		return 0;
	if ((const char *)p >= h->base && (const char *)p < h->base + HEAP_RESERVE)
		return 1;
	/* Not the heap lock: the shim asks from signal handlers too. */
	return pagemu_owner(p) == vm;
}

int pm_heap_pin(struct pagemu *vm, void *p, size_t limit)
{
	struct pm_heap *h = heap_find(vm);
	large_ent_t *e;
	size_t n;
	int rc = -EINVAL;

	if (!h || !p)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (in_break(h, p)) {
		tag_t t = check_block(h, p, "pin");
		n = tag_size(t) - OVERHEAD;
		if (t & TAG_PINNED)
			rc = 0;
		else if (h->pinned + n > limit)
			rc = -ENOSPC;
		else if ((rc = pagemu_pin(vm, p, n)) == 0) {
			set_tags(p, t | TAG_PINNED);
			h->pinned += n;
		}
	} else if ((e = large_find(h, (uintptr_t)p))) {
		n = e->base + e->maplen - e->p;
		if (e->pinned)
			rc = 0;
		else if (h->pinned + n > limit)
			rc = -ENOSPC;
		else if ((rc = pagemu_pin(vm, p, n)) == 0) {
			e->pinned = 1;
			h->pinned += n;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---- statistics and the invariant checker ----------------------------------------------- */

int pagemu_heap_stats(pagemu_t *vm, pagemu_heap_stats_t *out)
{
	struct pm_heap *h;

	if (!vm || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!(h = heap_find(vm)))
		return 0;
	pthread_mutex_lock(&h->lock);
	out->break_size = (uint64_t)(h->brk - h->base);
	out->heap_size = out->break_size + h->large_bytes;
	out->heap_peak = h->heap_peak;
	out->allocated = h->payload;
	out->peak = h->peak;
	out->blocks = h->blocks;
	out->large_blocks = h->large_blocks;
	out->large_bytes = h->large_bytes;
	out->free_blocks = h->free_blocks;
	out->free_bytes = h->free_bytes;
	/* The largest free block is in the highest non-empty class. */
	for (unsigned c = NCLASSES; c-- > 0;) {
		if (!h->lists[c])
			continue;
		for (char *bp = h->lists[c]; bp; bp = *link_next(bp))
			if (tag_size(*hdrp(bp)) > out->largest_free)
				out->largest_free = tag_size(*hdrp(bp));
		break;
	}
	/* Internal fragmentation: bytes of allocated blocks that are not
	 * payload (tags, alignment padding, the unsplit rest of a block, the
	 * page rounding of large regions). */
	out->internal_frag = h->block_bytes + h->large_bytes - h->payload;
	/* Peak utilization U = max P / H (CSAPP 9.9.3). The book's H only
	 * grows; large regions are given back, so H is taken at its peak. */
	out->utilization = h->heap_peak ? (double)h->peak / (double)h->heap_peak : 0.0;
	/* External fragmentation: the share of free memory that a request as
	 * large as all free memory together could not use, 1 - largest free
	 * block / free bytes (0 = all free memory in one block). */
	out->external_frag = h->free_bytes ? 1.0 - (double)out->largest_free / (double)h->free_bytes : 0.0;
	out->mallocs = h->mallocs;
	out->frees = h->frees;
	out->grows = h->grows;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int pm_heap_check(struct pagemu *vm)
{
	struct pm_heap *h = heap_find(vm);
	uint64_t nfree = 0, free_bytes = 0, listed = 0, alloc_bytes = 0;
	int prev_free = 0, rc = 0;

	if (!h)
		return 0;
	pthread_mutex_lock(&h->lock);
	for (char *bp = h->first; bp < h->brk;) {
		tag_t t = *hdrp(bp);
		size_t sz = tag_size(t);
		if (sz == 0)                            /* the epilogue */
			break;
		if (!tag_valid(t) || sz % ALIGN || sz < MIN_BLOCK || *ftrp(bp, sz) != t)
			goto bad;
		if (!tag_alloc(t)) {
			if (prev_free)
				goto bad;               /* two free neighbours: missed coalescing */
			nfree++;
			free_bytes += sz;
		} else {
			alloc_bytes += sz;
		}
		prev_free = !tag_alloc(t);
		bp += sz;
	}
	for (unsigned c = 0; c < NCLASSES; c++) {
		int bit = (h->nonempty[c / 64] >> (c % 64)) & 1;
		if (bit != (h->lists[c] != NULL))
			goto bad;
		for (char *bp = h->lists[c]; bp; bp = *link_next(bp)) {
			tag_t t = *hdrp(bp);
			if (tag_alloc(t) || size_class(tag_size(t)) != c)
				goto bad;
			listed++;
		}
	}
	if (nfree != h->free_blocks || listed != nfree || free_bytes != h->free_bytes || alloc_bytes != h->block_bytes)
		goto bad;
	goto out;
bad:
	rc = -1;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}
