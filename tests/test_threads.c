/* test_threads.c - faults from several threads at once over shared and
 * private regions, with eviction and swap-in; content is never torn. */
#include <pthread.h>
#include <sys/mman.h>

#include "engine/engine.h"
#include "heap/heap.h"
#include "testutil.h"

#define WORDS 512
enum { THREADS = 4, SHARED_PAGES = 2048, PRIVATE_PAGES = 512, FRAMES = 256 };

static pagemu_t *vm;
static volatile uint64_t *shared;
static pthread_barrier_t barrier;
static int errors;

static void *worker(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg, x = t + 1;
	volatile uint64_t *mine = pagemu_map(vm, PRIVATE_PAGES * 4096, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int bad = 0;

	if (!mine)
		return (void *)1;
	/* Interleaved writes: thread t owns the shared pages p % THREADS == t. */
	for (uint64_t p = t; p < SHARED_PAGES; p += THREADS) {
		shared[p * WORDS] = pm_test_pattern(p, 0);
		shared[p * WORDS + WORDS - 1] = ~pm_test_pattern(p, 0);
	}
	for (uint64_t p = 0; p < PRIVATE_PAGES; p++)
		mine[p * WORDS + t] = pm_test_pattern(p, 100 + t);
	pthread_barrier_wait(&barrier);
	/* Everyone reads everything, in random order, while others fault. */
	for (int i = 0; i < 3 * SHARED_PAGES; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		uint64_t p = (x >> 33) % SHARED_PAGES;
		if (shared[p * WORDS] != pm_test_pattern(p, 0) || shared[p * WORDS + WORDS - 1] != ~pm_test_pattern(p, 0))
			bad++;
	}
	for (uint64_t p = 0; p < PRIVATE_PAGES; p++)
		if (mine[p * WORDS + t] != pm_test_pattern(p, 100 + t))
			bad++;
	if (bad)
		__atomic_add_fetch(&errors, bad, __ATOMIC_RELAXED);
	return NULL;
}

START_TEST(test_threads_shared_and_private)
{
	pagemu_config_t cfg;
	pthread_t th[THREADS];
	pagemu_stats_t s;

	pagemu_config_default(&cfg);
	cfg.frames = FRAMES;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	shared = pagemu_map(vm, SHARED_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((const void *)shared);
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (uintptr_t t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, worker, (void *)t), 0);
	for (int t = 0; t < THREADS; t++) {
		void *rv;
		pthread_join(th[t], &rv);
		ck_assert_ptr_null(rv);
	}
	ck_assert_int_eq(errors, 0);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_zero, SHARED_PAGES + THREADS * PRIVATE_PAGES);
	ck_assert_uint_ge(s.evictions, SHARED_PAGES + THREADS * PRIVATE_PAGES - FRAMES);
	ck_assert_uint_gt(s.faults_major, 0);
	ck_assert_uint_le(s.resident, FRAMES);
	ck_assert_uint_eq(s.faults_declined, 0);
	pthread_barrier_destroy(&barrier);
	pagemu_close(vm);
}
END_TEST

/* Many threads racing to the same few pages: every racer sees the data. */
static volatile uint64_t *hot;

static void *racer(void *arg)
{
	int bad = 0;

	(void)arg;
	for (int round = 0; round < 200; round++)
		for (uint64_t p = 0; p < 64; p++)
			if (hot[p * WORDS] != pm_test_pattern(p, 9))
				bad++;
	return (void *)(uintptr_t)bad;
}

START_TEST(test_threads_race_same_pages)
{
	pagemu_config_t cfg;
	pthread_t th[THREADS];
	pagemu_stats_t s1, s2;

	pagemu_config_default(&cfg);
	cfg.frames = 16;                      /* 64 hot pages, 16 frames: constant eviction */
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	hot = pagemu_map(vm, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((const void *)hot);
	for (uint64_t p = 0; p < 64; p++)
		hot[p * WORDS] = pm_test_pattern(p, 9);
	ck_assert_int_eq(pagemu_protect(vm, (void *)hot, 64 * 4096, PROT_READ), 0);   /* racing readers on RO pages */
	pagemu_get_stats(vm, &s1);
	for (uintptr_t t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, racer, NULL), 0);
	for (int t = 0; t < THREADS; t++) {
		void *rv;
		pthread_join(th[t], &rv);
		ck_assert_ptr_null(rv);
	}
	pagemu_get_stats(vm, &s2);
	ck_assert_uint_ge(s1.evictions, 64 - 16);
	/* The races were over pages coming back from swap, again and again. */
	ck_assert_uint_gt(s2.faults_major - s1.faults_major, 64);
	ck_assert_uint_gt(s2.evictions - s1.evictions, 64);
	ck_assert_uint_eq(s2.faults_declined, 0);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	pagemu_close(vm);
}
END_TEST

/* Debug and sanitizer builds: the invariant checkers after every fault. */
__attribute__((constructor)) static void ask_for_checks(void)
{
	setenv("PAGEMU_CHECK", "1", 0);
}

static Suite *make_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("concurrent faults");

	tcase_set_timeout(tc, pm_test_stress() ? 1800 : 120);
	/* make stress: the same races, many times over. */
	tcase_add_loop_test(tc, test_threads_shared_and_private, 0, pm_test_stress() ? 20 : 1);
	tcase_add_loop_test(tc, test_threads_race_same_pages, 0, pm_test_stress() ? 20 : 1);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
