/* heap_impl.h - private to heap.c (the arenas: CSAPP's allocator) and
 * heapcache.c (the thread caches in front of them, and malloc/free),
 * heaplarge.c (blocks in regions of their own), heapstats.c (counters,
 * statistics, the invariant checker) and heaptable.c (a heap per instance).
 *
 * Glossary:
 *   block     header + payload + footer; bp points at the payload
 *   tag       a header or footer word: size, allocated bit, magic
 *   arena     one CSAPP heap (lock, segregated free lists, a break) in its
 *             own span of the heap's reservation
 *   pair      two arenas a thread allocates from: one for the block sizes
 *             caches hold, one for larger blocks, so that small blocks
 *             held in caches do not break up the free space large blocks
 *             need (measured: 12.3 MiB of heap for 5.2 MiB live without
 *             the split, 7.6 MiB with it)
 *   bin       a thread cache's list of free blocks of one size
 *   cached    a block in a bin: allocated to its arena, free to the program
 */
#ifndef PAGEMU_HEAP_IMPL_H
#define PAGEMU_HEAP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "model/model.h"
#include "engine/engine_api.h"
#include "heap/heap.h"

#define HEAP_RESERVE  (1ULL << 40)        /* address space of the break heaps (less under RLIMIT_AS) */
#define NPAIRS        4u                  /* arena pairs per heap: threads spread over them */
#define NARENAS       (2 * NPAIRS)        /* arenas per heap: pair p = arenas p and NPAIRS + p */
#define HEAP_RESERVE_MIN (NARENAS * (16ULL << 20))  /* the least a heap reserves: 16 MiB an arena */
#define LARGE_MIN     (128u * 1024)       /* blocks this big get their own region */
#define ALIGN         16u                 /* payload alignment */
#define WSIZE         8u                  /* a boundary tag */
#define OVERHEAD      16u                 /* header + footer */
#define MIN_BLOCK     32u                 /* header, two list links, footer */
#define EXACT_MAX     1024u               /* largest size of an exact class */
#define NEXACT        (EXACT_MAX / ALIGN - 1)   /* classes 32, 48, ..., 1024 */
#define NCLASSES      128u

/* Thread caches: a bin per block size, 16 bytes apart up to 256 (15 bins),
 * then eight per power of two up to CACHE_MAX (48 bins): a block is at most
 * 1/8 larger than asked, and each bin sees enough traffic to hit. */
#define NBINS         63u
#define BIN_EXACT     256u                /* largest size of a 16-byte bin */
#define NBIN_EXACT    (BIN_EXACT / ALIGN - 1)
#define CACHE_MAX     16384u              /* largest block a cache holds */
#define BIN_BYTES     (32u * 1024)        /* a bin holds at most this much ... */
#define BIN_COUNT     16u                 /* ... and at most this many blocks */
#define CACHE_BYTES   (512u * 1024)       /* a cache holds at most this much */
#define PEAK_GRAIN    (64 * 1024)         /* see peak_sample */

/* ---- boundary tags ----------------------------------------------------------
 * One 64-bit word:
 *   bit 0       allocated
 *   bit 1       pinned (pm_heap_pin): unpinned at free        (header only)
 *   bit 2       cached: in a thread cache's bin                (header only)
 *   bits 4-43   block size in bytes (a multiple of 16, < 16 TiB)
 *   bits 44-55  slack: block size - 16 - requested size        (header only)
 *   bits 56-63  magic: TAG_USED or TAG_FREE, so that a stray pointer or an
 *               overwrite is recognised.
 * The footer holds the header's magic, size and allocated bit, so that a
 * cached block changes hands with one store to its header. */
#define TAG_ALLOC     1ULL
#define TAG_PINNED    2ULL
#define TAG_CACHED    4ULL
#define TAG_SIZE_MASK 0x00000FFFFFFFFFF0ULL
#define TAG_SLACK_SHIFT 44
#define TAG_SLACK_MAX 0xFFFULL
#define TAG_MAGIC_SHIFT 56
#define TAG_MAGIC_MASK (0xFFULL << TAG_MAGIC_SHIFT)
#define TAG_USED      0xA5ULL
#define TAG_FREE      0x5EULL
#define TAG_FTR_MASK  (TAG_MAGIC_MASK | TAG_SIZE_MASK | TAG_ALLOC)
/* What free checks before caching a block: an allocated block, not pinned,
 * not already cached. */
#define TAG_STATE_MASK (TAG_MAGIC_MASK | TAG_ALLOC | TAG_PINNED | TAG_CACHED)
#define TAG_STATE_USED ((TAG_USED << TAG_MAGIC_SHIFT) | TAG_ALLOC)

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
static inline void   set_tags(char *bp, tag_t t)
{
	*hdrp(bp) = t;
	*ftrp(bp, tag_size(t)) = t & TAG_FTR_MASK;
}
/* A canary byte right after the payload of an allocated block whose slack
 * has room for it: a write past the end of the payload is seen at free
 * even when it stays inside the block (glibc sees those through its chunk
 * sizes). Set with every allocated header; malloc_usable_size gives the
 * slack to the program and drops the canary. */
#define CANARY 0xC5
static inline void set_canary(char *bp, tag_t t)
{
	if (tag_slack(t))
		bp[tag_size(t) - OVERHEAD - tag_slack(t)] = (char)CANARY;
}

/* A block handed back (header t) still has its canary and its own footer, and both
 * neighbours' boundary tags next to it are intact: a write past the end of
 * the payload overwrites the footer and then the next header, one before
 * its start the left neighbour's footer. Checked on every free and
 * realloc, the thread caches' included, before the block is reused. */
static inline int block_intact(char *bp, tag_t t)
{
	size_t size = tag_size(t);

	return *ftrp(bp, size) == (t & TAG_FTR_MASK) && tag_valid(*hdrp(next_blkp(bp, size))) &&
	       tag_valid(*(tag_t *)(bp - OVERHEAD)) &&
	       (!tag_slack(t) || (unsigned char)bp[size - OVERHEAD - tag_slack(t)] == CANARY);
}

/* Free-list links, in the first 16 bytes of a free block's payload (a
 * cached block uses the first only). */
static inline char **link_next(char *bp) { return (char **)bp; }
static inline char **link_prev(char *bp) { return (char **)(bp + 8); }

/* The free-list class of a block size: one class per 16 bytes up to 1 KiB
 * (any block there fits exactly), then one per power of two. */
static inline unsigned size_class(size_t size)
{
	unsigned c;

	if (size <= EXACT_MAX)
		return (unsigned)(size / ALIGN) - 2;
	/* (1K, 2K] -> NEXACT, (2K, 4K] -> NEXACT + 1, ... */
	c = NEXACT + (unsigned)(63 - __builtin_clzll((uint64_t)size - 1)) - 10;
	return c < NCLASSES ? c : NCLASSES - 1;
}

/* Block size for n bytes of payload; 0 when n is too large. */
/* What pinning [p, p+n) costs the pool: the bytes of the pages it spans
 * (a pinned 48-byte block holds a whole frame). */
static inline size_t pm_heap_pin_charge(pagemu_t *vm, const void *p, size_t n)
{
	size_t page = pagemu_page_size(vm);
	uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(page - 1), hi = ((uintptr_t)p + n + page - 1) & ~(uintptr_t)(page - 1);

	return hi - lo;
}

static inline size_t pm_heap_adjust(size_t n)
{
	if (n > SIZE_MAX / 2)
		return 0;
	if (n == 0)
		n = 1;
	size_t a = (n + OVERHEAD + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	return a < MIN_BLOCK ? MIN_BLOCK : a;
}

/* ---- counters a thread writes and others read --------------------------------
 * Relaxed atomics: plain loads and stores on x86, no locked instruction;
 * one writer (the owner), readers tolerate a value a moment old. */
typedef _Atomic int64_t tcount_t;
static inline int64_t tc_get(tcount_t *x)            { return atomic_load_explicit(x, memory_order_relaxed); }
static inline void    tc_set(tcount_t *x, int64_t v) { atomic_store_explicit(x, v, memory_order_relaxed); }
static inline void    tc_add(tcount_t *x, int64_t d) { tc_set(x, tc_get(x) + d); }

/* ---- a thread's cache (heapcache.c) ------------------------------------------ */

struct pm_heap;

struct tcache {
	struct pagemu  *vm;               /* the heap's instance; TC_NO_VM = unbound */
	char           *base;             /* the heap's reservation */
	size_t          reserve;          /* and its bytes */
	struct pm_heap *heap;             /* bound heap, NULL = none */
	unsigned        pair;             /* arena pair it allocates from */
	uint16_t        count[NBINS];     /* blocks per bin */
	char           *head[NBINS];      /* bins: lists through the first payload word */
	uint64_t        bytes;            /* bytes of cached blocks */
	tcount_t        payload;          /* P share: requested bytes malloc'd - freed here */
	tcount_t        mallocs, frees;   /* counted here */
	tcount_t        limit;            /* payload past which the peak is sampled */
	struct tcache  *next, **pprev;    /* the heap's list of caches (heap lock) */
};

extern size_t   pm_bin_size[NBINS];   /* block size of each bin */
extern uint16_t pm_bin_max[NBINS];    /* blocks a bin holds at most */

/* The bin of a block size in [MIN_BLOCK, CACHE_MAX]: the smallest whose
 * size holds it. */
static inline unsigned pm_bin_of(size_t size)
{
	if (size <= BIN_EXACT)
		return (unsigned)(size / ALIGN) - 2;
	unsigned e = 63u - (unsigned)__builtin_clzll((uint64_t)size - 1);      /* 8..13 */
	return NBIN_EXACT + (e - 8) * 8 + (unsigned)(((size - 1) >> (e - 3)) & 7);
}

/* The calling thread's cache if it is bound to h, else NULL. */
struct tcache *pm_tcache_of(struct pm_heap *h);
/* The calling thread's cache bound to h (made and bound on first use), or
 * NULL: the thread is exiting, or its cache serves another heap. */
struct tcache *pm_tcache_bind(struct pm_heap *h);
/* Give every block of c (NULL: nothing) back to the arenas. */
void pm_tcache_flush(struct pm_heap *h, struct tcache *c);
/* pm_heap_close: every cache bound to h forgets it (its blocks go with
 * the reservation). Called with pm_heaps.lock held. */
void pm_tcache_unbind_all(struct pm_heap *h);

/* The arena of pair for blocks of asize bytes. */
static inline unsigned pm_arena_for(unsigned pair, size_t asize)
{
	return asize <= CACHE_MAX ? pair : NPAIRS + pair;
}

/* ---- the heap (heap.c) ------------------------------------------------------------ */

typedef struct large_ent {
	uintptr_t p;                      /* payload; 0 = empty, 1 = deleted */
	uintptr_t base;                   /* region start */
	size_t    maplen;                 /* region length */
	size_t    req;                    /* bytes requested */
	int       pinned;                 /* 1 = pm_heap_pin'ed */
} large_ent_t;

#define LARGE_DELETED ((uintptr_t)1)

struct arena {
	pthread_mutex_t lock;             /* the arena lock */
	char           *base;             /* start of its span */
	char           *end;              /* end of its span */
	char           *first;            /* payload of the first block; NULL until first use */
	char           *brk;              /* the break: end of the epilogue header */
	char           *lists[NCLASSES];  /* free-list heads, by class */
	uint64_t        nonempty[NCLASSES / 64]; /* bit c = lists[c] non-empty */
	uint64_t        block_bytes;      /* sizes of allocated blocks (cached ones too) */
	uint64_t        free_bytes, free_blocks; /* in the free lists */
	uint64_t        grows;            /* times the break moved */
	unsigned        users;            /* caches on this pair, in its first arena (heap lock) */
} __attribute__((aligned(64)));

struct pm_heap {
	struct pagemu  *vm;               /* owner */
	char           *base;             /* start of the reservation */
	size_t          reserve;          /* its bytes: HEAP_RESERVE, less under a limit on address space */
	unsigned        arena_shift;      /* log2(reserve / NARENAS) */
	struct arena    arena[NARENAS];
	pthread_mutex_t lock;             /* the heap lock: everything below */
	large_ent_t    *large;            /* large-block table */
	size_t          large_cap;        /* slots (power of two) */
	size_t          large_used;       /* live + deleted slots */
	uint64_t        large_blocks, large_bytes; /* live large blocks, their mapped bytes */
	uint64_t        break_bytes;      /* bytes below the arenas' breaks */
	uint64_t        heap_peak;        /* max H: break bytes + large bytes */
	int64_t         payload;          /* P share of calls no cache counted, and of exited threads */
	uint64_t        mallocs, frees;   /* the same for the counters */
	int64_t         peak;             /* max P, as sampled (peak_sample) */
	struct tcache  *caches;           /* caches bound to this heap */
	unsigned        ncaches;
	_Atomic uint64_t pinned;          /* bytes of the pages pm_heap_pin holds (pm_heap_pin_charge) */
};

#define HEAP_TABLE_MAX 64u
struct heap_table {
	pthread_mutex_t lock;             /* creation and removal */
	struct pagemu *_Atomic vm[HEAP_TABLE_MAX];
	struct pm_heap *heap[HEAP_TABLE_MAX];
};
extern struct heap_table pm_heaps;

/* heap.c: the arenas */
/* malloc and free without a cache (counted in c when not NULL). */
void *pm_heap_alloc(struct pm_heap *h, struct tcache *c, size_t n);
void  pm_heap_free_block(struct pm_heap *h, struct tcache *c, char *p);
/* A block of bin k holding n for the caller, and up to half of the bin's
 * room more into c's bin; NULL with errno = ENOMEM. Not counted. */
char *pm_heap_refill(struct pm_heap *h, struct tcache *c, unsigned k, size_t n);
/* Cached blocks, linked through their first word, back to their arenas. */
void  pm_heap_release_list(struct pm_heap *h, char *list);

/* heaplist.c: an arena's free lists. Called with the arena's lock held. */
void  pm_heap_list_insert(struct arena *a, char *bp, size_t size);
void  pm_heap_list_remove(struct arena *a, char *bp, size_t size);
/* A free block of at least asize bytes, taken off its list; NULL if none. */
char *pm_heap_find_fit(struct arena *a, size_t asize);

/* heapcheck.c: a pointer handed back */
/* A user error: "pagemu: " + the message on stderr (no stdio), abort. */
void pm_heap_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* The arena whose span holds p, or NULL (not in the break heap). */
static inline struct arena *arena_of(struct pm_heap *h, const char *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)h->base;

	return off < h->reserve ? &h->arena[off >> h->arena_shift] : NULL;
}

/* Called with a's lock held. */
static inline int in_break(const struct arena *a, const char *p)
{
	return a->first && p >= a->first && p < a->brk;
}

/* The header of bp, checked (its tags and its neighbours'); aborts on a
 * user error. who = "free", ... Called with the lock of bp's arena held;
 * bp is below its break. */
tag_t pm_heap_check_block(struct arena *a, char *bp, const char *who);
/* Where a pointer handed back lives, found with the lock that guards it
 * taken: a block below an arena's break (a locked, t its checked header),
 * or a large block (h->lock held, e its entry, NULL when p is no block of
 * this heap). Aborts on a user error. pm_heap_unlocate drops the lock. */
struct pm_where {
	struct arena *a;                  /* the arena, or NULL: large */
	tag_t         t;                  /* the block's header (arena) */
	large_ent_t  *e;                  /* the large block's entry (large) */
};
void pm_heap_locate(struct pm_heap *h, char *p, const char *who, struct pm_where *w);
void pm_heap_unlocate(struct pm_heap *h, struct pm_where *w);

/* heaptable.c: one heap per instance */
struct pm_heap *pm_heap_find(struct pagemu *vm);
/* The heap of vm, created on first use; NULL with errno = ENOMEM. */
struct pm_heap *pm_heap_get(struct pagemu *vm);
/* fork(): pm_heap_fork_prepare, _release and _child are in heap.h. */

/* heaplarge.c: large blocks. All but pm_large_alloc with the heap lock held. */
/* A block of its own region holding n, payload aligned to align, counted
 * in c; NULL with errno = ENOMEM. */
void *pm_large_alloc(struct pm_heap *h, struct tcache *c, size_t n, size_t align);
/* The entry of payload p, or NULL. */
large_ent_t *pm_large_find(struct pm_heap *h, uintptr_t p);
/* Unmap the block; returns the bytes it held (not counted). */
size_t pm_large_free(struct pm_heap *h, large_ent_t *e);
/* Every large block and the table go (pm_heap_close). */
void  pm_large_release_all(struct pm_heap *h);

/* heapstats.c: counting */
/* Count dp payload bytes, dm mallocs, df frees in c (NULL: the heap). */
void pm_heap_count(struct pm_heap *h, struct tcache *c, int64_t dp, int dm, int df);
/* Sample P for the peak (takes the heap lock). */
void pm_heap_peak(struct pm_heap *h);

#endif
