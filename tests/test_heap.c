/* test_heap.c - the malloc family over emulated memory (heap.c): content
 * under eviction, splitting and coalescing seen through the statistics,
 * alignment, calloc, realloc, threads, and the user errors that abort. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "heap/heap.h"
#include "testutil.h"

#define FRAMES 256

static pagemu_t *open_vm(size_t frames)
{
	pagemu_config_t cfg;
	pagemu_t *vm = NULL;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	return vm;
}

static void close_vm(pagemu_t *vm)
{
	ck_assert_int_eq(pm_heap_check(vm), 0);
	pm_heap_close(vm);               /* until pagemu_close calls it */
	pagemu_close(vm);
}

/* A byte of block i at offset k. */
static inline unsigned char fill(size_t i, size_t k) { return (unsigned char)(i * 131 + k * 7 + 1); }

static void put(unsigned char *p, size_t i, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] = fill(i, k);
}

static int verify(const unsigned char *p, size_t i, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != fill(i, k))
			return 0;
	return 1;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mixed sizes, tens of MB through 1 MiB of frames: every block keeps its
 * content while the heap (metadata included) is paged out and back. */
START_TEST(content_under_eviction)
{
	pagemu_t *vm = open_vm(FRAMES);
	enum { N = 24000 };
	static unsigned char *p[N];
	static size_t sz[N];
	uint64_t seed = 42, total = 0;
	pagemu_stats_t st;

	for (size_t i = 0; i < N; i++) {
		sz[i] = 1 + rng(&seed) % 1500;
		if (i % 500 == 0)
			sz[i] = 200000 + rng(&seed) % 100000;      /* large blocks too */
		p[i] = pagemu_malloc(vm, sz[i]);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
		put(p[i], i, sz[i]);
		total += sz[i];
		if (i % 3 == 2) {                            /* churn: free an older block */
			size_t j = rng(&seed) % i;
			if (p[j]) {
				ck_assert_msg(verify(p[j], j, sz[j]), "block %zu corrupted", j);
				pagemu_free(vm, p[j]);
				p[j] = NULL;
			}
		}
	}
	ck_assert_uint_gt(total, 20u << 20);
	for (size_t i = 0; i < N; i++)
		if (p[i]) {
			ck_assert_msg(verify(p[i], i, sz[i]), "block %zu corrupted", i);
			pagemu_free(vm, p[i]);
		}
	pagemu_get_stats(vm, &st);
	ck_assert_uint_gt(st.evictions, 1000);
	ck_assert_uint_gt(st.faults_major, 100);
	pagemu_heap_stats_t hs;
	pagemu_heap_stats(vm, &hs);
	ck_assert_uint_eq(hs.allocated, 0);
	ck_assert_uint_eq(hs.blocks, 0);
	ck_assert_uint_eq(hs.free_blocks, 1);               /* everything coalesced */
	ck_assert_uint_eq(hs.free_bytes, hs.break_size - 32);
	close_vm(vm);
}
END_TEST

/* Exact splitting and coalescing in an arena, read from the statistics.
 * Blocks larger than a thread cache holds (CACHE_MAX) go straight to the
 * arena: each malloc and free below is one CSAPP step. */
START_TEST(split_and_coalesce)
{
	pagemu_t *vm = open_vm(FRAMES);
	pagemu_heap_stats_t s;
	char *a, *b, *c, *guard, *again;
	enum { S = 20000, B = 20016 };                       /* 20000 + 16 of tags */

	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.heap_size, 0);                  /* no heap before the first malloc */
	a = pagemu_malloc(vm, S);
	b = pagemu_malloc(vm, S);
	c = pagemu_malloc(vm, S);
	guard = pagemu_malloc(vm, S);
	ck_assert_ptr_eq(b, a + B);
	ck_assert_ptr_eq(c, b + B);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.blocks, 4);
	ck_assert_uint_eq(s.allocated, 4 * S);
	ck_assert_uint_eq(s.internal_frag, 4 * 16);          /* the tags */
	ck_assert_uint_eq(s.free_blocks, 0);

	pagemu_free(vm, a);
	pagemu_free(vm, c);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 2);
	ck_assert_uint_eq(s.free_bytes, 2 * B);
	ck_assert_uint_eq(s.largest_free, B);
	ck_assert(s.external_frag > 0.49 && s.external_frag < 0.51);

	pagemu_free(vm, b);                                  /* merges with both neighbours */
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 1);
	ck_assert_uint_eq(s.free_bytes, 3 * B);
	ck_assert(s.external_frag == 0.0);
	ck_assert_int_eq(pm_heap_check(vm), 0);

	again = pagemu_malloc(vm, 17000);                    /* 17024 bytes split off the front */
	ck_assert_ptr_eq(again, a);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 1);
	ck_assert_uint_eq(s.free_bytes, 3 * B - 17024);
	ck_assert_uint_eq(s.peak, 4 * S);
	ck_assert_uint_eq(s.allocated, S + 17000);                  /* guard + again */
	ck_assert(s.utilization > 0.99 * 4 * S / (double)s.heap_peak && s.utilization <= 1.0);
	pagemu_free(vm, again);
	pagemu_free(vm, guard);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 1);
	ck_assert_uint_eq(s.mallocs, 5);
	ck_assert_uint_eq(s.frees, 5);
	close_vm(vm);
}
END_TEST

/* ---- thread caches ---- */

/* Every block freed, all caches involved flushed: ops mallocs and as many
 * frees counted, and the arena one free block again. */
static void assert_all_back(pagemu_t *vm, uint64_t ops)
{
	pagemu_heap_stats_t s;

	pagemu_heap_stats(vm, &s);                           /* flushes the caller's cache */
	ck_assert_uint_gt(s.break_size, 0);
	ck_assert_uint_eq(s.allocated, 0);
	ck_assert_uint_eq(s.blocks, 0);
	ck_assert_uint_eq(s.mallocs, ops);
	ck_assert_uint_eq(s.frees, ops);
	ck_assert_uint_eq(s.free_blocks, 1);                 /* coalesced */
	ck_assert_uint_eq(s.free_bytes, s.break_size - 32);
	ck_assert_uint_eq(s.internal_frag, 0);
	ck_assert_int_eq(pm_heap_check(vm), 0);
}

/* Small blocks go through the thread's cache: a freed block is the next
 * one of its size handed out, no lock taken; the counters are exact at
 * every step, and once the cache is flushed (pagemu_heap_stats flushes the
 * caller's) every block is back in the arena, coalesced. */
START_TEST(cache_reuse_and_exact_stats)
{
	pagemu_t *vm = open_vm(FRAMES);
	pagemu_heap_stats_t s;
	enum { N = 300 };
	static char *p[N];
	uint64_t want = 0, peak = 0;

	for (int i = 0; i < N; i++) {
		p[i] = pagemu_malloc(vm, (size_t)(1 + i * 7 % 900));
		want += (uint64_t)(1 + i * 7 % 900);
	}
	peak = want;
	ck_assert_ptr_eq(p[1], p[0] + 32);                   /* a refill hands out blocks in address order */
	char *q = p[10];
	pagemu_free(vm, q);
	ck_assert_ptr_eq(pagemu_malloc(vm, 1 + 10 * 7 % 900), q);   /* LIFO reuse */
	for (int i = 0; i < N; i += 2) {
		pagemu_free(vm, p[i]);
		want -= (uint64_t)(1 + i * 7 % 900);
	}
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.allocated, want);
	ck_assert_uint_eq(s.peak, peak);
	ck_assert_uint_eq(s.blocks, N / 2);
	ck_assert_uint_eq(s.mallocs, N + 1);
	ck_assert_uint_eq(s.frees, N / 2 + 1);
	ck_assert_int_eq(pm_heap_check(vm), 0);
	for (int i = 1; i < N; i += 2)
		pagemu_free(vm, p[i]);
	assert_all_back(vm, N + 1);
	close_vm(vm);
}
END_TEST

struct handoff {
	pagemu_t *vm;
	char **blocks;
	int n;
};

static void *free_them(void *arg)
{
	struct handoff *ho = arg;

	for (int i = 0; i < ho->n; i++)
		pagemu_free(ho->vm, ho->blocks[i]);
	return NULL;                                         /* exit: the cache goes back */
}

/* Blocks malloc'ed by one thread and freed by another go through the
 * freeing thread's cache back to the arena they came from. */
START_TEST(cross_thread_free)
{
	pagemu_t *vm = open_vm(FRAMES);
	enum { N = 2000 };
	static char *blocks[N];
	struct handoff ho = { vm, blocks, N };
	pthread_t t;

	for (int i = 0; i < N; i++) {
		blocks[i] = pagemu_malloc(vm, (size_t)(8 + i % 500));
		memset(blocks[i], 0x5a, (size_t)(8 + i % 500));
	}
	pthread_create(&t, NULL, free_them, &ho);
	pthread_join(t, NULL);
	assert_all_back(vm, N);
	close_vm(vm);
}
END_TEST

static void *churn_and_exit(void *arg)
{
	pagemu_t *vm = arg;
	char *p[64] = { 0 };
	uint64_t seed = 9;

	for (int i = 0; i < 20000; i++) {
		int k = (int)(rng(&seed) % 64);
		pagemu_free(vm, p[k]);
		p[k] = pagemu_malloc(vm, 1 + rng(&seed) % 3000);
	}
	for (int k = 0; k < 64; k++)
		pagemu_free(vm, p[k]);
	return NULL;
}

/* A thread's exit gives its cached blocks back (the key destructor): the
 * heap is one free block again, and the counters of the thread survive it. */
START_TEST(thread_exit_returns_blocks)
{
	pagemu_t *vm = open_vm(FRAMES);
	pthread_t t;

	pthread_create(&t, NULL, churn_and_exit, vm);
	pthread_join(t, NULL);
	assert_all_back(vm, 20000);
	close_vm(vm);
}
END_TEST

static pthread_barrier_t forked, cached;

static void *cache_and_wait(void *arg)
{
	pagemu_t *vm = arg;
	char *p[100];

	for (int i = 0; i < 100; i++)
		p[i] = pagemu_malloc(vm, 48);
	for (int i = 0; i < 100; i++)
		pagemu_free(vm, p[i]);                       /* in this thread's cache */
	pthread_barrier_wait(&cached);
	pthread_barrier_wait(&forked);
	return NULL;
}

/* fork() while another thread's cache holds blocks: the child, which has
 * only the forking thread, gets them back in its arenas and goes on. */
START_TEST(fork_with_cached_blocks)
{
	pagemu_t *vm = open_vm(FRAMES);
	pthread_t t;
	int st;
	pid_t pid;

	pthread_barrier_init(&cached, NULL, 2);
	pthread_barrier_init(&forked, NULL, 2);
	pthread_create(&t, NULL, cache_and_wait, vm);
	pthread_barrier_wait(&cached);
	pid = fork();
	if (pid == 0) {
		pagemu_heap_stats_t s;
		char *p = pagemu_malloc(vm, 100);
		memset(p, 1, 100);
		pagemu_free(vm, p);
		pagemu_heap_stats(vm, &s);
		_exit(s.allocated == 0 && s.blocks == 0 && s.mallocs == 101 && s.frees == 101 &&
		      s.free_blocks == 1 && s.free_bytes == s.break_size - 32 && pm_heap_check(vm) == 0 ? 0 : 1);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pthread_barrier_wait(&forked);
	pthread_join(t, NULL);
	close_vm(vm);
}
END_TEST

START_TEST(alignment)
{
	pagemu_t *vm = open_vm(FRAMES);
	void *p;

	for (size_t align = 16; align <= 65536; align *= 2)
		for (size_t n = 1; n < 5000; n = n * 3 + 7) {
			char *q = pagemu_memalign(vm, align, n);
			ck_assert_ptr_nonnull(q);
			ck_assert_uint_eq((uintptr_t)q % align, 0);
			memset(q, 0xab, n);
			ck_assert_uint_ge(pagemu_malloc_usable_size(vm, q), n);
			ck_assert_int_eq(pagemu_posix_memalign(vm, &p, align, n), 0);
			ck_assert_uint_eq((uintptr_t)p % align, 0);
			memset(p, 0xcd, n);
			ck_assert_uint_eq((unsigned char)q[n - 1], 0xab);
			pagemu_free(vm, p);
			pagemu_free(vm, q);
		}
	p = pagemu_memalign(vm, 1 << 20, 3 << 20);           /* a large block */
	ck_assert_uint_eq((uintptr_t)p % (1 << 20), 0);
	memset(p, 1, 3 << 20);
	pagemu_free(vm, p);
	p = pagemu_aligned_alloc(vm, 256, 1000);
	ck_assert_uint_eq((uintptr_t)p % 256, 0);
	pagemu_free(vm, p);
	ck_assert_int_eq(pagemu_posix_memalign(vm, &p, 24, 10), EINVAL);
	ck_assert_int_eq(pagemu_posix_memalign(vm, &p, 4, 10), EINVAL);
	errno = 0;
	ck_assert_ptr_null(pagemu_aligned_alloc(vm, 48, 10));
	ck_assert_int_eq(errno, EINVAL);
	close_vm(vm);
}
END_TEST

START_TEST(calloc_zero_and_overflow)
{
	pagemu_t *vm = open_vm(FRAMES);
	unsigned char *p;

	p = pagemu_malloc(vm, 1000);
	memset(p, 0xff, 1000);
	pagemu_free(vm, p);
	p = pagemu_calloc(vm, 10, 100);                      /* reuses the dirty block */
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(p[i], 0);
	pagemu_free(vm, p);
	p = pagemu_calloc(vm, 1, 5 << 20);                   /* large: fresh pages */
	for (size_t i = 0; i < (5u << 20); i += 4093)
		ck_assert_uint_eq(p[i], 0);
	pagemu_free(vm, p);

	errno = 0;
	ck_assert_ptr_null(pagemu_calloc(vm, SIZE_MAX / 2, 3));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(pagemu_malloc(vm, SIZE_MAX - 8));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(pagemu_realloc(vm, NULL, SIZE_MAX - 100));
	ck_assert_int_eq(errno, ENOMEM);
	close_vm(vm);
}
END_TEST

START_TEST(realloc_keeps_data)
{
	pagemu_t *vm = open_vm(FRAMES);
	unsigned char *p = NULL, *q;
	size_t n = 0;
	static const size_t steps[] = { 1, 17, 100, 4000, 60000, 300000, 2000000, 150000, 5000, 33, 1 };

	for (size_t s = 0; s < PM_ARRAY_LEN(steps); s++) {
		size_t m = steps[s];
		p = pagemu_realloc(vm, p, m);
		ck_assert_ptr_nonnull(p);
		ck_assert(verify(p, 7, n < m ? n : m));
		put(p, 7, m);
		n = m;
		ck_assert_int_eq(pm_heap_check(vm), 0);
	}
	/* Grow in place into a free right neighbour, and shrink in place. */
	p = pagemu_realloc(vm, p, 64);
	q = pagemu_malloc(vm, 500);
	pagemu_free(vm, q);                                  /* frees the block right after p? */
	put(p, 9, 64);
	q = pagemu_realloc(vm, p, 300);
	ck_assert(verify(q, 9, 64));
	q = pagemu_realloc(vm, q, 20);
	ck_assert(verify(q, 9, 20));
	ck_assert_ptr_null(pagemu_realloc(vm, q, 0));        /* frees */
	pagemu_heap_stats_t s;
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.allocated, 0);
	ck_assert_uint_eq(s.blocks, 0);
	close_vm(vm);
}
END_TEST

struct worker {
	pagemu_t *vm;
	uint64_t seed;
	int ok;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	enum { LIVE = 512 };
	unsigned char *p[LIVE] = { 0 };
	size_t sz[LIVE] = { 0 }, id[LIVE] = { 0 };

	w->ok = 1;
	for (size_t it = 0; it < 40000; it++) {
		size_t k = rng(&w->seed) % LIVE;
		if (p[k]) {
			if (!verify(p[k], id[k], sz[k]))
				w->ok = 0;
			if (it % 7 == 0) {
				size_t m = 1 + rng(&w->seed) % 3000;
				p[k] = pagemu_realloc(w->vm, p[k], m);
				if (!p[k] || !verify(p[k], id[k], sz[k] < m ? sz[k] : m))
					w->ok = 0;
				sz[k] = m;
				put(p[k], id[k], m);
				continue;
			}
			pagemu_free(w->vm, p[k]);
		}
		sz[k] = 1 + rng(&w->seed) % 2000;
		id[k] = it + w->seed;
		p[k] = pagemu_malloc(w->vm, sz[k]);
		if (!p[k])
			w->ok = 0;
		else
			put(p[k], id[k], sz[k]);
	}
	for (size_t k = 0; k < LIVE; k++)
		if (p[k]) {
			if (!verify(p[k], id[k], sz[k]))
				w->ok = 0;
			pagemu_free(w->vm, p[k]);
		}
	return NULL;
}

START_TEST(two_threads)
{
	pagemu_t *vm = open_vm(FRAMES);
	struct worker w[2] = { { vm, 1, 0 }, { vm, 2, 0 } };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, work, &w[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert(w[0].ok && w[1].ok);
	pagemu_heap_stats_t s;
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.blocks, 0);
	ck_assert_uint_eq(s.allocated, 0);
	close_vm(vm);
}
END_TEST

START_TEST(heap_close_and_reopen)
{
	for (int i = 0; i < 3; i++) {
		pagemu_t *vm = open_vm(64);
		char *p = pagemu_malloc(vm, 1000), *big = pagemu_malloc(vm, 1 << 20);
		memset(p, 1, 1000);
		memset(big, 2, 1 << 20);
		close_vm(vm);                                    /* blocks still live: given back */
	}
}
END_TEST

/* A block larger than the instance can ever hold (frames + swap) fails at
 * once with ENOMEM, as the kernel refuses one larger than memory + swap,
 * instead of a SIGBUS at a later touch. */
START_TEST(larger_than_capacity_is_enomem)
{
	pagemu_t *vm = open_vm(64);
	uint64_t cap = pagemu_capacity(vm);
	void *p;

	ck_assert_uint_ge(cap, 64 * pagemu_page_size(vm));
	errno = 0;
	ck_assert_ptr_null(pagemu_malloc(vm, cap + 1));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(pagemu_malloc(vm, 64ULL << 40));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(pagemu_calloc(vm, 1 << 20, 1 << 20));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(pagemu_aligned_alloc(vm, 1ULL << 40, 16));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(pagemu_realloc(vm, pagemu_malloc(vm, 100), cap + 1));
	p = pagemu_malloc(vm, cap / 2);                  /* within capacity: fine */
	ck_assert_ptr_nonnull(p);
	pagemu_free(vm, p);
	close_vm(vm);
}
END_TEST

/* ---- user errors: a message and abort() ---- */

START_TEST(double_free_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 64);

	pagemu_malloc(vm, 64);
	pagemu_free(vm, p);
	pagemu_free(vm, p);
}
END_TEST

START_TEST(double_free_coalesced_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *a = pagemu_malloc(vm, 64), *b = pagemu_malloc(vm, 64);

	pagemu_malloc(vm, 64);
	pagemu_free(vm, a);
	pagemu_free(vm, b);                                  /* b merges into a */
	pagemu_free(vm, b);
}
END_TEST

START_TEST(double_free_large_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 1 << 20);

	pagemu_free(vm, p);
	pagemu_free(vm, p);
}
END_TEST

START_TEST(foreign_pointer_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	static char not_ours[64];

	pagemu_free(vm, pagemu_malloc(vm, 10));
	pagemu_free(vm, not_ours + 16);
}
END_TEST

START_TEST(interior_pointer_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 256);

	memset(p, 0, 256);
	pagemu_free(vm, p + 64);
}
END_TEST

/* A cached block's footer is checked when it goes back to its arena. */
START_TEST(overflow_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 24);                     /* 48-byte block: 32 usable */
	pagemu_heap_stats_t s;

	pagemu_malloc(vm, 24);
	memset(p, 'x', pagemu_malloc_usable_size(vm, p) + 4);   /* into the footer */
	pagemu_free(vm, p);
	pagemu_heap_stats(vm, &s);                           /* flushes the cache */
}
END_TEST

/* A block no cache holds is checked at free. */
START_TEST(overflow_large_block_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 20000);

	pagemu_malloc(vm, 20000);
	memset(p, 'x', pagemu_malloc_usable_size(vm, p) + 4);
	pagemu_free(vm, p);
}
END_TEST

/* Run fn in a child process: it must die of SIGABRT at once, saying
 * `says` on stderr (a user error is caught where it happens, with a
 * message, as glibc's checks are). */
static void expect_abort(void (*fn)(size_t, size_t), size_t n, size_t over, const char *says)
{
	char err[4096] = "";
	int fds[2], st;
	ssize_t got, len = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		fn(n, over);
		_exit(0);                                    /* not caught: the test fails */
	}
	close(fds[1]);
	while ((got = read(fds[0], err + len, sizeof(err) - 1 - (size_t)len)) > 0)
		len += got;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "n=%zu over=%zu: not aborted (status %#x)", n, over, st);
	ck_assert_msg(strstr(err, says), "n=%zu over=%zu: stderr \"%s\" lacks \"%s\"", n, over, err, says);
}

/* Write over bytes past the n-byte block, free it: the free itself aborts
 * (the thread cache checks the tags before it takes a block). */
static void overflow_then_free(size_t n, size_t over)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, n);

	pagemu_malloc(vm, n);
	memset(p, 'x', n + over);
	pagemu_free(vm, p);
}

static void double_free_big(size_t n, size_t over)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, n);

	(void)over;
	pagemu_free(vm, p);
	pagemu_free(vm, p);
}

START_TEST(overflow_caught_at_free)
{
	expect_abort(overflow_then_free, 100, 16, "heap corruption");
	expect_abort(overflow_then_free, 5000, 64, "heap corruption");
	expect_abort(overflow_then_free, 40, 24, "heap corruption");
	expect_abort(double_free_big, 10 << 20, 0, "double free");
}
END_TEST

/* A double free across threads: the second free finds the block cached. */
static void *free_one(void *arg)
{
	struct handoff *ho = arg;

	pagemu_free(ho->vm, ho->blocks[0]);
	return NULL;
}

START_TEST(double_free_other_thread_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 64);
	struct handoff ho = { vm, &p, 1 };
	pthread_t t;

	pagemu_free(vm, p);                                  /* in this thread's cache */
	pthread_create(&t, NULL, free_one, &ho);
	pthread_join(t, NULL);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("alloc");
	TCase *te = tcase_create("errors");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, content_under_eviction);
	tcase_add_test(tc, split_and_coalesce);
	tcase_add_test(tc, alignment);
	tcase_add_test(tc, calloc_zero_and_overflow);
	tcase_add_test(tc, larger_than_capacity_is_enomem);
	tcase_add_test(tc, realloc_keeps_data);
	tcase_add_test(tc, two_threads);
	tcase_add_test(tc, cache_reuse_and_exact_stats);
	tcase_add_test(tc, cross_thread_free);
	tcase_add_test(tc, thread_exit_returns_blocks);
	tcase_add_test(tc, fork_with_cached_blocks);
	tcase_add_test(tc, heap_close_and_reopen);
	suite_add_tcase(s, tc);
	tcase_set_timeout(te, 30);
	tcase_add_test_raise_signal(te, double_free_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, double_free_coalesced_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, double_free_large_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, foreign_pointer_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, interior_pointer_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, overflow_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, overflow_large_block_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, double_free_other_thread_aborts, SIGABRT);
	tcase_add_test(te, overflow_caught_at_free);
	suite_add_tcase(s, te);
	return s;
}

PM_TEST_MAIN(make_suite)
