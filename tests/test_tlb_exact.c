/* test_tlb_exact.c - exact-TLB mode on real faults: only the modeled L1
 * TLB's translations are mapped, so every modeled miss is a real fault
 * and the counts are exact for the real instruction stream. */
#include <sys/mman.h>

#include "engine/engine.h"
#include "heap/heap.h"
#include "testutil.h"

/* L1 16 sets x 4 ways (64 entries), L2 128 sets x 12 ways (1536). */
static pagemu_t *open_exact(size_t frames)
{
	pagemu_config_t cfg;
	pagemu_t *vm;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	cfg.tlb_exact = 1;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	return vm;
}

/* Touch n consecutive pages round-robin for `passes` passes. */
static void round_robin(pagemu_t *vm, size_t n, int passes, pagemu_stats_t *s)
{
	volatile char *a = pagemu_map(vm, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_nonnull((const void *)a);
	for (int p = 0; p < passes; p++)
		for (size_t i = 0; i < n; i++)
			a[i * 4096] += 1;
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(a[i * 4096], passes);
	pagemu_get_stats(vm, s);
}

START_TEST(test_within_l1_reach_misses_once)
{
	pagemu_t *vm = open_exact(4096);
	pagemu_stats_t s;

	round_robin(vm, 32, 10, &s);            /* 2 pages a set: fits L1 */
	ck_assert_uint_eq(s.faults_zero, 32);
	ck_assert_uint_eq(s.tlb_misses_l1, 32);        /* cold misses only, checks included */
	ck_assert_uint_eq(s.tlb_misses_l2, 32);
	pagemu_close(vm);
}
END_TEST

START_TEST(test_beyond_l1_within_l2)
{
	pagemu_t *vm = open_exact(4096);
	pagemu_stats_t s;

	/* 128 pages: 8 a set in L1 (4 ways, LRU, cyclic: always a miss),
	 * 1 a set in L2 (always a hit after the first pass). */
	round_robin(vm, 128, 10, &s);
	ck_assert_uint_eq(s.tlb_misses_l1, 128 * 11);
	ck_assert_uint_eq(s.tlb_misses_l2, 128);
	ck_assert_uint_eq(s.tlb_hits_l2, 128 * 10);
	ck_assert_uint_eq(s.page_walks, 128);
	ck_assert_uint_eq(s.walk_levels, 128 * 4);
	ck_assert_uint_le(s.mapped, 64);
	pagemu_close(vm);
}
END_TEST

START_TEST(test_beyond_l2_misses_always)
{
	pagemu_t *vm = open_exact(4096);
	pagemu_stats_t s;

	/* 2048 pages: 16 a set in L2 (12 ways): every reference walks. */
	round_robin(vm, 2048, 3, &s);
	ck_assert_uint_eq(s.tlb_misses_l1, 2048 * 4);
	ck_assert_uint_eq(s.tlb_misses_l2, 2048 * 4);
	ck_assert_uint_eq(s.faults_zero, 2048);
	pagemu_close(vm);
}
END_TEST

/* Eviction shoots the translation down; the TLB never holds a page that
 * is not resident, and contents survive. */
START_TEST(test_exact_with_eviction)
{
	pagemu_t *vm = open_exact(64);
	pagemu_stats_t s;
	pagemu_xlate_t x;
	volatile uint64_t *a = pagemu_map(vm, 512 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	for (size_t p = 0; p < 512; p++)
		a[p * 512] = pm_test_pattern(p, 4);
	for (size_t p = 0; p < 512; p++)
		ck_assert(a[p * 512] == pm_test_pattern(p, 4));
	pagemu_get_stats(vm, &s);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_le(s.mapped, 64);
	for (size_t p = 0; p < 512; p++) {
		ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)(a + p * 512), PROT_READ, &x), 0);
		if (x.tlb_hit)
			ck_assert_int_eq(x.page_fault, 0);
	}
	/* The last page touched is in L1 and resident. */
	ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)(a + 511 * 512), PROT_READ, &x), 0);
	ck_assert_int_eq(x.tlb_hit, 1);
	ck_assert_int_eq(x.accessed, 1);
	pagemu_close(vm);
}
END_TEST

/* Two pages of one L1 set (16 sets: pages 0 and 16), touched in turn.
 * LRU and PLRU: the set's order changes on every touch, so only its most
 * recently used way is mapped and each touch of the other way is a real
 * fault counted as the L1 hit it is. FIFO and random: hits change
 * nothing; both ways stay mapped, no fault after the two cold misses. */
static void alternate(pagemu_tlb_policy_t p, pagemu_stats_t *s)
{
	pagemu_config_t cfg;
	pagemu_t *vm;
	volatile char *a;

	pagemu_config_default(&cfg);
	cfg.frames = 64;
	cfg.tlb_exact = 1;
	cfg.tlb_policy[0] = cfg.tlb_policy[1] = p;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	a = pagemu_map(vm, 32 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((const void *)a);
	/* the region may start anywhere in the set order: pages i and i + 16
	 * share a set whatever the base */
	for (int i = 0; i < 100; i++)
		a[(i & 1) * 16 * 4096] = (char)i;
	pagemu_get_stats(vm, s);
	ck_assert_uint_le(s->mapped, 16);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	pagemu_close(vm);
}

START_TEST(hits_on_hidden_ways_are_hits)
{
	pagemu_stats_t s;

	for (unsigned p = 0; p < PAGEMU_TLB_POLICY_COUNT; p++) {
		alternate((pagemu_tlb_policy_t)p, &s);
		ck_assert_uint_eq(s.tlb_misses_l1, 2);
		ck_assert_uint_eq(s.faults_zero, 2);
		ck_assert_uint_eq(s.faults, 2);             /* hit faults are no page faults */
		if (p == PAGEMU_TLB_LRU || p == PAGEMU_TLB_PLRU) {
			ck_assert_uint_eq(s.tlb_hit_faults, 98);
			ck_assert_uint_eq(s.mapped, 1);
		} else {
			ck_assert_uint_eq(s.tlb_hit_faults, 0);
			ck_assert_uint_eq(s.mapped, 2);
		}
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("tlb_exact");
	TCase *tc = tcase_create("exact TLB on real faults");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_within_l1_reach_misses_once);
	tcase_add_test(tc, test_beyond_l1_within_l2);
	tcase_add_test(tc, test_beyond_l2_misses_always);
	tcase_add_test(tc, test_exact_with_eviction);
	tcase_add_test(tc, hits_on_hidden_ways_are_hits);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
