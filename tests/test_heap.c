/* test_heap.c - the malloc family over emulated memory (heap.c): content
 * under eviction, splitting and coalescing seen through the statistics,
 * alignment, calloc, realloc, threads, and the user errors that abort. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "internal.h"
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

/* Exact splitting and coalescing, read from the statistics. */
START_TEST(split_and_coalesce)
{
	pagemu_t *vm = open_vm(FRAMES);
	pagemu_heap_stats_t s;
	char *a, *b, *c, *guard, *again;

	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.heap_size, 0);                  /* no heap before the first malloc */
	a = pagemu_malloc(vm, 100);                          /* block: 100 + 16 -> 128 */
	b = pagemu_malloc(vm, 100);
	c = pagemu_malloc(vm, 100);
	guard = pagemu_malloc(vm, 100);
	ck_assert_ptr_eq(b, a + 128);
	ck_assert_ptr_eq(c, b + 128);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.blocks, 4);
	ck_assert_uint_eq(s.allocated, 400);
	ck_assert_uint_eq(s.internal_frag, 4 * 28);          /* 16 of tags + 12 of padding each */
	ck_assert_uint_eq(s.free_blocks, 0);

	pagemu_free(vm, a);
	pagemu_free(vm, c);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 2);
	ck_assert_uint_eq(s.free_bytes, 256);
	ck_assert_uint_eq(s.largest_free, 128);
	ck_assert(s.external_frag > 0.49 && s.external_frag < 0.51);

	pagemu_free(vm, b);                                  /* merges with both neighbours */
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 1);
	ck_assert_uint_eq(s.free_bytes, 384);
	ck_assert(s.external_frag == 0.0);
	ck_assert_int_eq(pm_heap_check(vm), 0);

	again = pagemu_malloc(vm, 40);                       /* 64 bytes split off the front */
	ck_assert_ptr_eq(again, a);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 1);
	ck_assert_uint_eq(s.free_bytes, 320);
	ck_assert_uint_eq(s.peak, 400);
	ck_assert_uint_eq(s.allocated, 140);
	ck_assert(s.utilization > 0.99 * 400.0 / (double)s.heap_peak && s.utilization <= 1.0);
	pagemu_free(vm, again);
	pagemu_free(vm, guard);
	pagemu_heap_stats(vm, &s);
	ck_assert_uint_eq(s.free_blocks, 1);
	ck_assert_uint_eq(s.mallocs, 5);
	ck_assert_uint_eq(s.frees, 5);
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

START_TEST(overflow_aborts)
{
	pagemu_t *vm = open_vm(FRAMES);
	char *p = pagemu_malloc(vm, 24);                     /* 48-byte block: 32 usable */

	pagemu_malloc(vm, 24);
	memset(p, 'x', pagemu_malloc_usable_size(vm, p) + 4);   /* into the footer */
	pagemu_free(vm, p);
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
	tcase_add_test(tc, realloc_keeps_data);
	tcase_add_test(tc, two_threads);
	tcase_add_test(tc, heap_close_and_reopen);
	suite_add_tcase(s, tc);
	tcase_set_timeout(te, 30);
	tcase_add_test_raise_signal(te, double_free_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, double_free_coalesced_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, double_free_large_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, foreign_pointer_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, interior_pointer_aborts, SIGABRT);
	tcase_add_test_raise_signal(te, overflow_aborts, SIGABRT);
	suite_add_tcase(s, te);
	return s;
}

PM_TEST_MAIN(make_suite)
