/* heapcache.c - malloc and free through per-thread caches of small blocks.
 *
 * Each thread keeps, per block size up to CACHE_MAX, a bin: a list of free
 * blocks linked through their first payload word. malloc pops a block
 * from its bin and free pushes one, with no lock and no call into the
 * engine: one header store each. The arenas (heap.c) stay the allocator
 * behind them:
 *   - an empty bin is refilled from the first arena of the thread's pair
 *     (one lock for half a bin); a full bin gives half its blocks back,
 *     where they coalesce at once as CSAPP's free does;
 *   - bins are bounded (BIN_COUNT blocks, BIN_BYTES bytes) and so is the
 *     cache (CACHE_BYTES: past it, every bin gives half back): cached
 *     blocks keep their neighbours from coalescing, so a cache must stay
 *     small next to the heap;
 *   - a cached block is an allocated block to its arena, marked TAG_CACHED
 *     in its header: a second free of it is a double free, caught at once;
 *     a free checks the header's magic and state; the footer, and the
 *     pointer itself when it is not a cached-size block, are checked when
 *     the block reaches the arena (a flush, or the slow path);
 *   - a block freed by another thread goes to that thread's cache, and from
 *     there back to the arena its address lies in;
 *   - a thread's exit (a pthread key destructor) gives its blocks back; a
 *     forked child gives back the caches of the threads fork left behind.
 * Counting: each cache counts the payload, mallocs and frees of its thread
 * (relaxed atomics only it writes); pagemu_heap_stats adds them up. See
 * peak_sample in heapstats.c for the peak.
 *
 * Thread-local state is one pointer in the initial-exec TLS model: no
 * __tls_get_addr call on the fast path. It works in the LD_PRELOAD shim
 * (loaded at start, static TLS) and in libpagemu.so linked by a program;
 * a dlopen'ed libpagemu.so uses 8 bytes of glibc's static TLS surplus.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "heap/heap_impl.h"

#define IE __attribute__((tls_model("initial-exec")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define TC_DEAD ((struct tcache *)1)      /* the thread is exiting: no cache */
/* The vm of an unbound cache: equal to no instance, NULL included (a
 * pagemu_free(NULL, p) must not take the fast path). */
#define TC_NO_VM ((struct pagemu *)1)

static __thread struct tcache *tc_self IE;
static pthread_key_t tc_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;
static int tc_key_ok;

size_t   pm_bin_size[NBINS];
uint16_t pm_bin_max[NBINS];

/* ---- making, binding and ending caches ------------------------------------------- */

static void tc_exit(void *arg);

static void tc_init(void)
{
	for (unsigned k = 0; k < NBINS; k++) {
		size_t size = k < NBIN_EXACT ? (k + 2) * ALIGN
					     : (size_t)(9 + (k - NBIN_EXACT) % 8) << (5 + (k - NBIN_EXACT) / 8);
		size_t max = BIN_BYTES / size;
		pm_bin_size[k] = size;
		pm_bin_max[k] = (uint16_t)(max > BIN_COUNT ? BIN_COUNT : max < 2 ? 2 : max);
	}
	tc_key_ok = pthread_key_create(&tc_key, tc_exit) == 0;
	/* After the engine's handlers (pagemu_open installed them): the heap's
	 * prepare runs before vm->lock is taken, its child after the child
	 * has its private memory. */
	pthread_atfork(pm_heap_fork_prepare, pm_heap_fork_release, pm_heap_fork_child);
}

struct tcache *pm_tcache_of(struct pm_heap *h)
{
	struct tcache *c = tc_self;

	return c > TC_DEAD && c->heap == h ? c : NULL;
}

/* Link c to h (heap lock): on the fewest-used arena pair. */
static void tc_link(struct pm_heap *h, struct tcache *c)
{
	unsigned best = 0;

	pthread_mutex_lock(&h->lock);
	for (unsigned i = 1; i < NPAIRS; i++)
		if (h->arena[i].users < h->arena[best].users)
			best = i;
	h->arena[best].users++;
	c->pair = best;
	c->heap = h;
	c->base = h->base;
	c->reserve = h->reserve;
	c->next = h->caches;
	c->pprev = &h->caches;
	if (h->caches)
		h->caches->pprev = &c->next;
	h->caches = c;
	h->ncaches++;
	tc_set(&c->limit, INT64_MIN);      /* sample on the first malloc */
	pthread_mutex_unlock(&h->lock);
	c->vm = h->vm;
}

/* Unlink c from h, its counters going to the heap. Heap lock held. */
static void tc_unlink(struct pm_heap *h, struct tcache *c)
{
	h->payload += tc_get(&c->payload);
	h->mallocs += (uint64_t)tc_get(&c->mallocs);
	h->frees += (uint64_t)tc_get(&c->frees);
	tc_set(&c->payload, 0);
	tc_set(&c->mallocs, 0);
	tc_set(&c->frees, 0);
	if ((*c->pprev = c->next))
		c->next->pprev = c->pprev;
	h->arena[c->pair].users--;
	h->ncaches--;
	c->vm = TC_NO_VM;
	c->heap = NULL;
}

struct tcache *pm_tcache_bind(struct pm_heap *h)
{
	struct tcache *c = tc_self;

	if (c == TC_DEAD)
		return NULL;
	if (c && c->heap)
		return c->heap == h ? c : NULL;
	if (!c) {
		pthread_once(&tc_once, tc_init);
		if (!tc_key_ok || !(c = pm_prim_alloc_tables(sizeof(*c))))
			return NULL;
		if (pthread_setspecific(tc_key, c) != 0) {
			pm_prim_release(c, sizeof(*c));
			return NULL;
		}
		c->vm = TC_NO_VM;
		tc_self = c;
	}
	tc_link(h, c);
	return c;
}

void pm_tcache_flush(struct pm_heap *h, struct tcache *c)
{
	if (!c)
		return;
	for (unsigned k = 0; k < NBINS; k++) {
		char *list = c->head[k];
		if (!list)
			continue;
		c->head[k] = NULL;
		c->count[k] = 0;
		pm_heap_release_list(h, list);
	}
	c->bytes = 0;
}

/* Thread exit (the key's destructor): blocks back, counters to the heap. */
static void tc_exit(void *arg)
{
	struct tcache *c = arg;
	struct pm_heap *h = c->heap;

	tc_self = TC_DEAD;                 /* free() in later destructors: no cache */
	if (h) {
		pm_tcache_flush(h, c);
		pthread_mutex_lock(&h->lock);
		tc_unlink(h, c);
		pthread_mutex_unlock(&h->lock);
	}
	pm_prim_release(c, sizeof(*c));
}

void pm_tcache_unbind_all(struct pm_heap *h)
{
	pthread_mutex_lock(&h->lock);
	while (h->caches) {
		struct tcache *c = h->caches;
		tc_unlink(h, c);
		memset(c->head, 0, sizeof(c->head));
		memset(c->count, 0, sizeof(c->count));
		c->bytes = 0;
	}
	pthread_mutex_unlock(&h->lock);
}

/* The forked child has only the thread that forked: the other threads'
 * caches are given back (their lists may be half-changed:
 * pm_heap_release_list takes only blocks still marked cached). Runs after
 * the engine's child handler, so emulated memory is usable. */
void pm_heap_fork_child(void)
{
	pm_heap_fork_release();
	pthread_mutex_lock(&pm_heaps.lock);
	for (unsigned i = 0; i < HEAP_TABLE_MAX; i++) {
		struct pm_heap *h = pm_heaps.heap[i];
		if (!h)
			continue;
		for (struct tcache *c = h->caches, *next; c; c = next) {
			next = c->next;
			if (c == tc_self)
				continue;
			for (unsigned k = 0; k < NBINS; k++)
				pm_heap_release_list(h, c->head[k]);
			pthread_mutex_lock(&h->lock);
			tc_unlink(h, c);
			pthread_mutex_unlock(&h->lock);
			pm_prim_release(c, sizeof(*c));
		}
	}
	pthread_mutex_unlock(&pm_heaps.lock);
}

/* ---- the bins ------------------------------------------------------------------------- */

/* Give back the older half of bin k. */
static void bin_trim(struct pm_heap *h, struct tcache *c, unsigned k)
{
	unsigned keep = c->count[k] / 2;
	char *bp = c->head[k], *rest;

	if (keep == 0) {
		rest = bp;
		c->head[k] = NULL;
	} else {
		for (unsigned i = 1; i < keep; i++)
			bp = *(char **)bp;
		rest = *(char **)bp;
		*(char **)bp = NULL;
	}
	c->bytes -= (uint64_t)(c->count[k] - keep) * pm_bin_size[k];
	c->count[k] = (uint16_t)keep;
	pm_heap_release_list(h, rest);
}

static inline void bin_push(struct tcache *c, unsigned k, char *bp, tag_t t)
{
	/* A cached block holds no request: no slack, and no canary (the link
	 * below may cover it). */
	*hdrp(bp) = (t & ~(TAG_SLACK_MAX << TAG_SLACK_SHIFT)) | TAG_CACHED;
	*(char **)bp = c->head[k];
	c->head[k] = bp;
	c->count[k]++;
	c->bytes += tag_size(t);
	tc_add(&c->payload, -(int64_t)(tag_size(t) - OVERHEAD - tag_slack(t)));
	tc_add(&c->frees, 1);
}

static inline void count_malloc(struct pm_heap *h, struct tcache *c, size_t n)
{
	tc_add(&c->payload, (int64_t)n);
	tc_add(&c->mallocs, 1);
	if (unlikely(tc_get(&c->payload) > tc_get(&c->limit)))
		pm_heap_peak(h);
}

/* ---- malloc and free ---------------------------------------------------------------- */

static __attribute__((noinline)) void *malloc_slow(pagemu_t *vm, size_t n)
{
	struct pm_heap *h;
	struct tcache *c;
	size_t asize = pm_heap_adjust(n);
	char *bp;

	if (!vm || !asize) {
		errno = vm ? ENOMEM : EINVAL;
		return NULL;
	}
	if (!(h = pm_heap_get(vm)))
		return NULL;
	c = pm_tcache_bind(h);
	if (!c || asize > CACHE_MAX)
		return pm_heap_alloc(h, c, n);
	unsigned k = pm_bin_of(asize);
	if (!(bp = c->head[k])) {
		if (!(bp = pm_heap_refill(h, c, k, n ? n : 1)))
			return NULL;
		count_malloc(h, c, n ? n : 1);
		return bp;
	}
	/* The cache was bound just now, or the fast path was not inlined. */
	c->head[k] = *(char **)bp;
	c->count[k]--;
	c->bytes -= pm_bin_size[k];
	*hdrp(bp) = tag_make(pm_bin_size[k], 1, pm_bin_size[k] - OVERHEAD - (n ? n : 1));
	set_canary(bp, *hdrp(bp));
	count_malloc(h, c, n ? n : 1);
	return bp;
}

void *pagemu_malloc(pagemu_t *vm, size_t n)
{
	struct tcache *c = tc_self;

	if (likely(c > TC_DEAD && c->vm == vm && n <= CACHE_MAX - OVERHEAD)) {
		size_t m = n + !n;
		unsigned k = pm_bin_of((m + OVERHEAD + ALIGN - 1) & ~(size_t)(ALIGN - 1));
		char *bp = c->head[k];
		if (likely(bp)) {
			size_t size = pm_bin_size[k];
			c->head[k] = *(char **)bp;
			c->count[k]--;
			c->bytes -= size;
			*hdrp(bp) = tag_make(size, 1, size - OVERHEAD - m);
			set_canary(bp, *hdrp(bp));
			count_malloc(c->heap, c, m);
			return bp;
		}
	}
	return malloc_slow(vm, n);
}

static __attribute__((noinline)) void free_slow(pagemu_t *vm, void *p)
{
	struct pm_heap *h;
	struct tcache *c;

	if (!p)
		return;
	if (!vm || !(h = pm_heap_find(vm)))
		pm_heap_die("free(%p): not a pointer pagemu_malloc returned (this instance has no heap)", p);
	c = pm_tcache_bind(h);
	if (c && (uintptr_t)p - (uintptr_t)c->base < c->reserve && (uintptr_t)p % ALIGN == 0) {
		tag_t t = *hdrp(p);
		size_t size = tag_size(t);
		if ((t & TAG_STATE_MASK) == TAG_STATE_USED && size - MIN_BLOCK <= CACHE_MAX - MIN_BLOCK &&
		    block_intact(p, t)) {
			unsigned k = pm_bin_of(size);
			if (pm_bin_size[k] == size) {
				if (c->count[k] >= pm_bin_max[k])
					bin_trim(h, c, k);
				if (c->bytes + size > CACHE_BYTES)
					for (unsigned i = 0; i < NBINS; i++)
						if (c->count[i])
							bin_trim(h, c, i);
				bin_push(c, k, p, t);
				return;
			}
		}
	}
	pm_heap_free_block(h, c, p);
}

void pagemu_free(pagemu_t *vm, void *p)
{
	struct tcache *c = tc_self;

	if (likely(c > TC_DEAD && c->vm == vm && (uintptr_t)p - (uintptr_t)c->base < c->reserve &&
		   (uintptr_t)p % ALIGN == 0)) {
		tag_t t = *hdrp(p);
		size_t size = tag_size(t);
		/* An allocated block, not pinned, not cached, of a bin's size. */
		if (likely((t & TAG_STATE_MASK) == TAG_STATE_USED && size - MIN_BLOCK <= CACHE_MAX - MIN_BLOCK &&
			   block_intact(p, t))) {
			unsigned k = pm_bin_of(size);
			if (likely(pm_bin_size[k] == size && c->count[k] < pm_bin_max[k] &&
				   c->bytes + size <= CACHE_BYTES)) {
				bin_push(c, k, p, t);
				return;
			}
		}
	}
	free_slow(vm, p);
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
	if (pm_heap_adjust(total) < LARGE_MIN)
		memset(p, 0, total);
	return p;
}
