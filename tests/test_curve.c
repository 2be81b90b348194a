/* test_curve.c - fault curves and working sets of the model
 * (lib/model/curve.c, lib/model/workingset.c): OPT's one-pass stack
 * against a replay per frame count, textbook strings, Denning's knee,
 * Belady's anomaly, and Silberschatz's working-set example. */
#include <errno.h>

#include "testutil.h"
#include "model/model.h"

/* Silberschatz, Galvin and Gagne, Operating System Concepts, the
 * working-set model figure (section "Thrashing", "Working-Set Model"):
 * this reference string with the window Delta = 10 gives
 * WS(t1) = {1, 2, 5, 6, 7} at t1 = 10 and WS(t2) = {3, 4} at t2 = 26.
 * (The fact belongs in /work/shared/fixtures; until it is there, it lives
 * here.) */
static const uint64_t silberschatz_ws[] = { 2, 6, 1, 5, 7, 7, 7, 7, 5, 1, 6, 2, 3, 4, 1, 2, 3, 4, 4,
					    4, 3, 4, 3, 4, 4, 4, 1, 3, 2, 3, 4, 4, 4, 3, 4, 4, 4 };

/* Silberschatz's replacement string (OPT with 3 frames: 9 faults; LRU 12). */
static const uint64_t silberschatz_opt[] = { 7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1 };

/* Belady's string: FIFO 9 faults with 3 frames, 10 with 4. */
static const uint64_t belady_string[] = { 1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5 };

START_TEST(working_set_textbook)
{
	const size_t n = PM_ARRAY_LEN(silberschatz_ws);
	uint32_t w[PM_ARRAY_LEN(silberschatz_ws)];
	uint64_t set[8];
	size_t count;

	ck_assert_int_eq(n, 37);
	ck_assert_int_eq(pm_ws_set(silberschatz_ws, n, 10, 10, set, 8, &count), 0);
	ck_assert_uint_eq(count, 5);
	ck_assert_uint_eq(set[0], 1);
	ck_assert_uint_eq(set[1], 2);
	ck_assert_uint_eq(set[2], 5);
	ck_assert_uint_eq(set[3], 6);
	ck_assert_uint_eq(set[4], 7);
	ck_assert_int_eq(pm_ws_set(silberschatz_ws, n, 26, 10, set, 8, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(set[0], 3);
	ck_assert_uint_eq(set[1], 4);
	/* the sizes in one pass agree with the sets, everywhere */
	ck_assert_int_eq(pm_ws_sizes(silberschatz_ws, n, 10, w), 0);
	ck_assert_uint_eq(w[9], 5);
	ck_assert_uint_eq(w[25], 2);
	for (size_t t = 1; t <= n; t++) {
		ck_assert_int_eq(pm_ws_set(silberschatz_ws, n, t, 10, set, 8, &count), 0);
		ck_assert_uint_eq(w[t - 1], count);
	}
	/* tau = 1: one page; tau >= n: every page seen so far */
	ck_assert_int_eq(pm_ws_sizes(silberschatz_ws, n, 1, w), 0);
	for (size_t t = 0; t < n; t++)
		ck_assert_uint_eq(w[t], 1);
	ck_assert_int_eq(pm_ws_sizes(silberschatz_ws, n, 1000, w), 0);
	ck_assert_uint_eq(w[n - 1], 7);
	ck_assert_uint_eq(w[0], 1);
}
END_TEST

START_TEST(working_set_errors)
{
	uint64_t set[2];
	size_t count;

	ck_assert_int_eq(pm_ws_set(silberschatz_ws, 37, 0, 10, set, 2, &count), -EINVAL);
	ck_assert_int_eq(pm_ws_set(silberschatz_ws, 37, 38, 10, set, 2, &count), -EINVAL);
	ck_assert_int_eq(pm_ws_set(silberschatz_ws, 37, 10, 10, set, 2, &count), -ENOSPC);
	ck_assert_int_eq(pm_ws_sizes(silberschatz_ws, 0, 10, NULL), 0);
}
END_TEST

/* A reference string with locality: phases over small page sets, noise. */
static void string_with_phases(uint64_t *pages, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t phase = (i / 500) % 5, base = phase * 7;
		pages[i] = x % 10 == 0 ? x % 60 : base + x % (6 + phase * 3);
	}
}

START_TEST(opt_stack_equals_replay)
{
	static uint64_t pages[4000], frames[64], one[64], per[64];
	uint64_t f;

	for (size_t j = 0; j < 64; j++)
		frames[j] = j + 1;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		string_with_phases(pages, PM_ARRAY_LEN(pages), seed);
		ck_assert_int_eq(pm_opt_stack_sweep(pages, PM_ARRAY_LEN(pages), frames, 64, one), 0);
		ck_assert_int_eq(pm_opt_sweep(pages, PM_ARRAY_LEN(pages), frames, 64, per), 0);
		for (size_t j = 0; j < 64; j++) {
			ck_assert_msg(one[j] == per[j], "seed %llu, %llu frames: stack %llu, replay %llu",
				      (unsigned long long)seed, (unsigned long long)frames[j],
				      (unsigned long long)one[j], (unsigned long long)per[j]);
			if (j)
				ck_assert_uint_le(one[j], one[j - 1]);
		}
	}
	/* a count alone, out of order with others, and beyond the pages */
	frames[0] = 3;
	frames[1] = 1000;
	frames[2] = 1;
	ck_assert_int_eq(pm_opt_stack_sweep(silberschatz_opt, 20, frames, 3, one), 0);
	ck_assert_uint_eq(one[0], 9);
	ck_assert_uint_eq(one[1], 6);                  /* cold misses: 6 distinct pages */
	ck_assert_uint_eq(one[2], 20);                 /* one frame: no page twice in a row here */
	ck_assert_int_eq(pm_opt_stack_sweep(silberschatz_opt, 0, frames, 3, one), 0);
	ck_assert_uint_eq(one[0], 0);
	ck_assert_int_eq(pm_opt_faults(silberschatz_opt, 20, 3, &f), 0);
	ck_assert_uint_eq(f, 9);
}
END_TEST

/* The curves of pm_curve_faults: textbook numbers through the page
 * addresses, for the one-pass and the replayed policies. */
START_TEST(curve_faults_textbook)
{
	pagemu_model_config_t cfg;
	pm_refs_t refs = { 0 };
	uint64_t frames[] = { 1, 2, 3, 4, 5, 6 }, faults[6];

	pagemu_model_config_default(&cfg);
	for (size_t i = 0; i < PM_ARRAY_LEN(silberschatz_opt); i++)
		ck_assert_int_eq(pm_refs_push(&refs, silberschatz_opt[i] << cfg.page_bits, PM_PROT_READ), 0);
	ck_assert_int_eq(pm_curve_faults(&cfg, PAGEMU_POLICY_OPT, &refs, frames + 2, 1, faults), 0);
	ck_assert_uint_eq(faults[0], 9);
	ck_assert_int_eq(pm_curve_faults(&cfg, PAGEMU_POLICY_LRU, &refs, frames + 2, 1, faults), 0);
	ck_assert_uint_eq(faults[0], 12);
	ck_assert_int_eq(pm_curve_faults(&cfg, PAGEMU_POLICY_FIFO, &refs, frames + 2, 1, faults), 0);
	ck_assert_uint_eq(faults[0], 15);
	pm_refs_free(&refs);

	memset(&refs, 0, sizeof(refs));
	for (size_t i = 0; i < PM_ARRAY_LEN(belady_string); i++)
		ck_assert_int_eq(pm_refs_push(&refs, belady_string[i] << cfg.page_bits, PM_PROT_READ), 0);
	ck_assert_int_eq(pm_curve_faults(&cfg, PAGEMU_POLICY_FIFO, &refs, frames, 6, faults), 0);
	ck_assert_uint_eq(faults[0], 12);
	ck_assert_uint_eq(faults[2], 9);
	ck_assert_uint_eq(faults[3], 10);
	ck_assert_uint_eq(faults[4], 5);
	{
		size_t at[5];
		ck_assert_uint_eq(pm_curve_anomalies(frames, faults, 6, at), 1);
		ck_assert_uint_eq(frames[at[0]], 3);
	}
	/* LRU is a stack algorithm: no anomaly, ever */
	ck_assert_int_eq(pm_curve_faults(&cfg, PAGEMU_POLICY_LRU, &refs, frames, 6, faults), 0);
	for (size_t j = 1; j < 6; j++)
		ck_assert_uint_le(faults[j], faults[j - 1]);
	/* an address beyond the VA: an error that names the reference */
	cfg.va_bits = 20;
	ck_assert_int_eq(pm_refs_push(&refs, 1ULL << 30, PM_PROT_READ), 0);
	ck_assert_int_eq(pm_curve_faults(&cfg, PAGEMU_POLICY_CLOCK, &refs, frames, 2, faults), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "reference 13"));
	pm_refs_free(&refs);
}
END_TEST

START_TEST(knee_is_denning)
{
	/* lifetime n / faults: 100/50 = 2, 100/20 = 5, 100/4 = 25, 100/3,
	 * 100/3: per frame 2, 2.5, 8.3, 4.2, 2.1 -> the knee is 3 frames */
	uint64_t frames[] = { 1, 2, 3, 6, 12 }, faults[] = { 50, 20, 4, 4, 4 };
	uint64_t flat[] = { 7, 7, 7 }, zero[] = { 9, 0, 0 };
	size_t at[4];

	ck_assert_uint_eq(pm_curve_knee(frames, faults, 5), 2);
	ck_assert_uint_eq(pm_curve_knee(frames, flat, 3), 0);
	ck_assert_uint_eq(pm_curve_knee(frames, zero, 3), 1);   /* no fault at all: the least frames that do it */
	ck_assert_uint_eq(pm_curve_knee(frames, faults, 1), 0);
	ck_assert_uint_eq(pm_curve_anomalies(frames, faults, 5, at), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("curve");
	TCase *tc = tcase_create("curve");

	tcase_add_test(tc, working_set_textbook);
	tcase_add_test(tc, working_set_errors);
	tcase_add_test(tc, opt_stack_equals_replay);
	tcase_add_test(tc, curve_faults_textbook);
	tcase_add_test(tc, knee_is_denning);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
