/* test_policy.c - replacement policies on the textbook reference strings
 * (../shared/fixtures/csapp-9.6.4.md): FIFO, LRU and CLOCK run online in
 * the model (every reference seen), OPT offline (lib/opt.c); the one-pass
 * LRU stack sweep must agree with the online LRU at every frame count. */
#include <errno.h>
#include <sys/mman.h>

#include "testutil.h"
#include "engine/engine.h"
#include "heap/heap.h"

static const uint64_t belady[] = { 1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5 };
static const uint64_t silberschatz[] = { 7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1 };

/* Faults of an online policy over a page string, through the model. */
static uint64_t run(pagemu_policy_t p, const uint64_t *pages, size_t n, uint64_t frames)
{
	pagemu_model_config_t cfg;
	pagemu_model_t *m;
	pagemu_model_stats_t s;

	pagemu_model_config_default(&cfg);
	cfg.policy = p;
	cfg.frames = frames;
	ck_assert_int_eq(pagemu_model_new(&cfg, &m), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ge(pagemu_model_access(m, pages[i] << 12, PROT_READ), 0);
	pagemu_model_get_stats(m, &s);
	ck_assert_uint_eq(s.refs, n);
	ck_assert_uint_eq(s.evictions, s.faults > frames ? s.faults - frames : 0);
	pagemu_model_free(m);
	return s.faults;
}

static uint64_t opt(const uint64_t *pages, size_t n, uint64_t frames)
{
	uint64_t f = 0;

	ck_assert_int_eq(pm_opt_faults(pages, n, frames, &f), 0);
	return f;
}

#define N(a) PM_ARRAY_LEN(a)

START_TEST(belady_string)
{
	ck_assert_uint_eq(run(PAGEMU_POLICY_FIFO, belady, N(belady), 3), 9);
	ck_assert_uint_eq(run(PAGEMU_POLICY_FIFO, belady, N(belady), 4), 10);
	ck_assert_uint_eq(run(PAGEMU_POLICY_LRU, belady, N(belady), 3), 10);
	ck_assert_uint_eq(run(PAGEMU_POLICY_LRU, belady, N(belady), 4), 8);
	ck_assert_uint_eq(opt(belady, N(belady), 3), 7);
	ck_assert_uint_eq(opt(belady, N(belady), 4), 6);
}
END_TEST

START_TEST(belady_anomaly)
{
	/* FIFO: more frames, more faults */
	ck_assert_uint_gt(run(PAGEMU_POLICY_FIFO, belady, N(belady), 4),
			  run(PAGEMU_POLICY_FIFO, belady, N(belady), 3));
}
END_TEST

START_TEST(silberschatz_string)
{
	ck_assert_uint_eq(run(PAGEMU_POLICY_FIFO, silberschatz, N(silberschatz), 3), 15);
	ck_assert_uint_eq(run(PAGEMU_POLICY_LRU, silberschatz, N(silberschatz), 3), 12);
	ck_assert_uint_eq(opt(silberschatz, N(silberschatz), 3), 9);
}
END_TEST

/* CLOCK, with the fixture's convention (frames fill in order, a load or a
 * hit sets the bit, the hand clears set bits as it passes, evicts the first
 * clear one, loads there with the bit set and moves one past it).
 * Frames written [F0 F1 F2], * = bit set, h = hand after the step.
 *
 * Belady, 3 frames:
 *   1 2 3  miss x3        [1* 2* 3*] h0           3
 *   4  clear 1,2,3; evict 1 [4* 2 3] h1           4
 *   1  evict 2            [4* 1* 3] h2            5
 *   2  evict 3            [4* 1* 2*] h0           6
 *   5  clear all; evict 4 [5* 1 2] h1             7
 *   1  hit [5* 1* 2]   2 hit [5* 1* 2*]
 *   3  clear 1,2,5; evict 1 [5 3* 2] h2           8
 *   4  evict 2            [5 3* 4*] h0            9
 *   5  hit                                    => 9
 * Belady, 4 frames:
 *   1 2 3 4 miss x4; 1 2 hit   [1* 2* 3* 4*] h0   4
 *   5  clear all; evict 1 [5* 2 3 4] h1           5
 *   1 evict 2, 2 evict 3, 3 evict 4  [5* 1* 2* 3*] h0  8
 *   4  clear all; evict 5 [4* 1 2 3] h1           9
 *   5  evict 1                                   10  => 10
 * Silberschatz, 3 frames:
 *   7 0 1  miss x3        [7* 0* 1*] h0           3
 *   2  clear all; evict 7 [2* 0 1] h1             4
 *   0  hit                [2* 0* 1]
 *   3  clear 0; evict 1   [2* 0 3*] h0            5
 *   0  hit                [2* 0* 3*]
 *   4  clear all; evict 2 [4* 0 3] h1             6
 *   2  evict 0            [4* 2* 3] h2            7
 *   3  hit                [4* 2* 3*]
 *   0  clear all; evict 3 [4 2 0*] h0             8
 *   3  evict 4            [3* 2 0*] h1            9
 *   2  hit                [3* 2* 0*]
 *   1  clear all; evict 2 [3 1* 0] h2            10
 *   2  evict 0            [3 1* 2*] h0           11
 *   0  evict 3            [0* 1* 2*] h1          12
 *   1  hit
 *   7  clear all; evict 1 [0 7* 2] h2            13
 *   0  hit                [0* 7* 2]
 *   1  evict 2            [0* 7* 1*] h0          14  => 14 */
START_TEST(clock_strings)
{
	ck_assert_uint_eq(run(PAGEMU_POLICY_CLOCK, belady, N(belady), 3), 9);
	ck_assert_uint_eq(run(PAGEMU_POLICY_CLOCK, belady, N(belady), 4), 10);
	ck_assert_uint_eq(run(PAGEMU_POLICY_CLOCK, silberschatz, N(silberschatz), 3), 14);
}
END_TEST

/* The CLOCK ops alone: the hand and the bits, step by step. */
START_TEST(clock_ops)
{
	const pm_policy_ops_t *ops = pm_policy_get(PAGEMU_POLICY_CLOCK);
	pm_policy_env_t env = { 0 };
	static uint64_t st[64];

	ck_assert_uint_le(ops->state_size(3), sizeof(st));
	ops->init(st, 3, 1);
	for (uint64_t f = 0; f < 3; f++)
		ops->loaded(st, f, 1);
	ck_assert_uint_eq(ops->victim(st, &env), 0);     /* clears 0, 1, 2, evicts 0 */
	ck_assert_int_eq(ops->is_referenced(st, 1), 0);
	ops->loaded(st, 0, 1);
	ops->referenced(st, 1);
	ck_assert_uint_eq(ops->victim(st, &env), 2);     /* clears 1, evicts 2 */
	ck_assert_ptr_null(pm_policy_get(PAGEMU_POLICY_OPT));
}
END_TEST

START_TEST(random_is_reproducible)
{
	uint64_t a = run(PAGEMU_POLICY_RANDOM, silberschatz, N(silberschatz), 3);
	uint64_t b = run(PAGEMU_POLICY_RANDOM, silberschatz, N(silberschatz), 3);

	ck_assert_uint_eq(a, b);
	ck_assert_uint_ge(a, 9);
}
END_TEST

/* One pass for every frame count, equal to the online runs; OPT never
 * worse than any online policy. */
START_TEST(sweeps)
{
	static const uint64_t frames[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint64_t lru[N(frames)], optf[N(frames)], distinct = 0;
	uint64_t pages[2000];
	uint64_t x = 88172645463325252ULL;

	/* a string with locality: a drifting window plus random jumps */
	for (size_t i = 0; i < N(pages); i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		pages[i] = x % 10 < 8 ? i / 50 + x % 5 : x % 40;
	}
	ck_assert_int_eq(pm_lru_sweep(pages, N(pages), frames, N(frames), lru), 0);
	ck_assert_int_eq(pm_opt_sweep(pages, N(pages), frames, N(frames), optf), 0);
	ck_assert_int_eq(pm_refs_distinct(pages, N(pages), &distinct), 0);
	for (size_t j = 0; j < N(frames); j++) {
		ck_assert_uint_eq(lru[j], run(PAGEMU_POLICY_LRU, pages, N(pages), frames[j]));
		ck_assert_uint_le(optf[j], lru[j]);
		ck_assert_uint_le(optf[j], run(PAGEMU_POLICY_FIFO, pages, N(pages), frames[j]));
		ck_assert_uint_le(optf[j], run(PAGEMU_POLICY_CLOCK, pages, N(pages), frames[j]));
		ck_assert_uint_ge(optf[j], distinct);
		if (j) {
			ck_assert_uint_le(lru[j], lru[j - 1]);
			ck_assert_uint_le(optf[j], optf[j - 1]);
		}
	}
	/* the textbook numbers from the sweeps too */
	ck_assert_int_eq(pm_lru_sweep(belady, N(belady), frames + 2, 2, lru), 0);
	ck_assert_uint_eq(lru[0], 10);
	ck_assert_uint_eq(lru[1], 8);
	ck_assert_int_eq(pm_opt_sweep(belady, N(belady), frames + 2, 2, optf), 0);
	ck_assert_uint_eq(optf[0], 7);
	ck_assert_uint_eq(optf[1], 6);
	/* empty string, zero frames */
	ck_assert_int_eq(pm_opt_faults(pages, 0, 3, &optf[0]), 0);
	ck_assert_uint_eq(optf[0], 0);
	ck_assert_int_eq(pm_opt_faults(belady, N(belady), 0, &optf[0]), 0);
	ck_assert_uint_eq(optf[0], N(belady));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, belady_string);
	tcase_add_test(tc, belady_anomaly);
	tcase_add_test(tc, silberschatz_string);
	tcase_add_test(tc, clock_strings);
	tcase_add_test(tc, clock_ops);
	tcase_add_test(tc, random_is_reproducible);
	tcase_add_test(tc, sweeps);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
