/* test_curve.c - fault curves and working sets of the model
 * (lib/model/curve.c, lib/model/workingset.c): OPT's one-pass stack
 * against a replay per frame count, textbook strings, Denning's knee,
 * Belady's anomaly, and Silberschatz's working-set example; and the same
 * analyses over a string read a batch at a time (pm_ref_src_t): equal
 * counts, in memory that does not grow with the string's length. */
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

/* ---- streams: the same counts as the whole string, in bounded memory ---- */

/* W(t, tau) one reference at a time: the textbook's two sets, and the
 * size and set of the whole-string functions at every t. */
START_TEST(working_set_stream_textbook)
{
	const size_t n = PM_ARRAY_LEN(silberschatz_ws);
	uint32_t w[PM_ARRAY_LEN(silberschatz_ws)];
	uint64_t set[8], want[8];
	size_t count, wcount;
	pm_ws_stream_t ws;

	ck_assert_int_eq(pm_ws_sizes(silberschatz_ws, n, 10, w), 0);
	ck_assert_int_eq(pm_ws_stream_init(&ws, 10), 0);
	for (size_t t = 1; t <= n; t++) {
		ck_assert_int_eq(pm_ws_stream_push(&ws, silberschatz_ws[t - 1]), 0);
		ck_assert_uint_eq(ws.size, w[t - 1]);
		ck_assert_int_eq(pm_ws_stream_set(&ws, set, 8, &count), 0);
		ck_assert_int_eq(pm_ws_set(silberschatz_ws, n, t, 10, want, 8, &wcount), 0);
		ck_assert_uint_eq(count, wcount);
		ck_assert_int_eq(memcmp(set, want, count * sizeof(*set)), 0);
		if (t == 10) {                         /* WS(t1) = {1, 2, 5, 6, 7} */
			ck_assert_uint_eq(count, 5);
			ck_assert(set[0] == 1 && set[1] == 2 && set[2] == 5 && set[3] == 6 && set[4] == 7);
			ck_assert_int_eq(pm_ws_stream_set(&ws, set, 4, &count), -ENOSPC);
		}
		if (t == 26) {                         /* WS(t2) = {3, 4} */
			ck_assert_uint_eq(count, 2);
			ck_assert(set[0] == 3 && set[1] == 4);
		}
	}
	pm_ws_stream_free(&ws);
}
END_TEST

/* A long string over a few thousand pages: phases of a small set, a
 * sweep, and pages anywhere. */
static void long_string(pm_refs_t *refs, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1, sweep = 0;
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t page;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 10 < 6)
			page = 100 * ((i / 2000) % 7) + (x >> 16) % 150;
		else if (x % 10 < 9)
			page = 1000 + (sweep = (sweep + 1) % 2500) / 4;
		else
			page = 4000 + (x >> 16) % 1000;
		bad |= pm_refs_push(refs, page << 12, x & 1 ? PM_PROT_READ : PM_PROT_WRITE);
	}
	ck_assert_int_eq(bad, 0);                      /* (check's asserts write to a pipe: one, not n) */
}

/* What each streaming analysis counts over the string read 997
 * references at a time equals what the whole-string function counts. */
START_TEST(streams_equal_whole_string)
{
	static const uint64_t frames[] = { 1, 10, 100, 300, 700, 1500, 2500 };
	static const uint64_t taus[] = { 1, 7, 100, 5000, 1u << 20 };
	const size_t k = PM_ARRAY_LEN(frames), n = 150000;
	uint64_t *pages = malloc(n * sizeof(*pages)), *next = malloc(n * sizeof(*next)), *last;
	uint32_t *ids = malloc(n * sizeof(*ids)), *w = malloc(n * sizeof(*w));
	uint64_t got[PM_ARRAY_LEN(frames)], want[PM_ARRAY_LEN(frames)], nrefs, distinct, d2;
	pagemu_model_config_t cfg;
	pm_refs_t refs = { 0 };
	pm_refs_cursor_t cur;
	pm_ref_src_t src;
	pm_future_t fu;
	const uint32_t *fid;
	const uint64_t *fnext;
	size_t m, t;

	ck_assert(pages && next && ids && w);
	pagemu_model_config_default(&cfg);
	long_string(&refs, n, 3);
	for (size_t i = 0; i < n; i++)
		pages[i] = refs.va[i] >> 12;
	pm_ref_src_refs(&src, &cur, &refs, 997);

	ck_assert_int_eq(pm_ref_src_count(&src, 12, &nrefs, &distinct), 0);
	ck_assert_int_eq(pm_refs_densify(pages, n, ids, &d2), 0);
	ck_assert_uint_eq(nrefs, n);
	ck_assert_uint_eq(distinct, d2);
	ck_assert_uint_gt(distinct, 2000);

	/* OPT's future through the scratch files: every next use, twice */
	ck_assert_ptr_nonnull(last = malloc(distinct * sizeof(*last)));
	for (size_t p = 0; p < distinct; p++)
		last[p] = PM_NEVER;
	for (size_t i = n; i-- > 0;) {
		next[i] = last[ids[i]];
		last[ids[i]] = i;
	}
	free(last);
	ck_assert_int_eq(pm_future_build(&fu, &src, 12), 0);
	ck_assert_uint_eq(fu.n, n);
	ck_assert_uint_eq(fu.distinct, distinct);
	for (int pass = 0; pass < 2; pass++) {
		size_t wrong = SIZE_MAX;
		for (t = 0; pm_future_read(&fu, &fid, &fnext, &m) == 0 && m > 0; t += m)
			for (size_t i = 0; i < m; i++)
				if (wrong == SIZE_MAX && (fid[i] != ids[t + i] || fnext[i] != next[t + i]))
					wrong = t + i;
		ck_assert_msg(wrong == SIZE_MAX, "reference %zu: id or next use differs", wrong);
		ck_assert_uint_eq(t, n);
		pm_future_rewind(&fu);
	}
	/* OPT per frame count over it, against the heap over the whole string */
	ck_assert_int_eq(pm_opt_sweep(pages, n, frames, k, want), 0);
	for (size_t j = 0; j < k; j++) {
		pm_opt_stream_t o;
		pm_opt_stream_init(&o, frames[j]);
		while (pm_future_read(&fu, &fid, &fnext, &m) == 0 && m > 0)
			ck_assert_int_eq(pm_opt_stream_push(&o, fid, fnext, m), 0);   /* once a block */
		pm_future_rewind(&fu);
		ck_assert_msg(o.faults == want[j], "opt, %llu frames: stream %llu, whole %llu",
			      (unsigned long long)frames[j], (unsigned long long)o.faults, (unsigned long long)want[j]);
		ck_assert_uint_le(o.hcap, frames[j] < 1024 ? 1024 : 2 * frames[j]);
		pm_opt_stream_free(&o);
	}
	pm_future_free(&fu);
	/* OPT's and LRU's stacks */
	ck_assert_int_eq(pm_curve_faults_src(&cfg, PAGEMU_POLICY_OPT, &src, frames, k, got), 0);
	for (size_t j = 0; j < k; j++)
		ck_assert_uint_eq(got[j], want[j]);
	ck_assert_int_eq(pm_lru_sweep(pages, n, frames, k, want), 0);
	ck_assert_int_eq(pm_curve_faults_src(&cfg, PAGEMU_POLICY_LRU, &src, frames, k, got), 0);
	for (size_t j = 0; j < k; j++)
		ck_assert_uint_eq(got[j], want[j]);
	/* the replayed policies: groups of models side by side against one
	 * model a count, a reference at a time */
	for (pagemu_policy_t p = PAGEMU_POLICY_CLOCK; p <= PAGEMU_POLICY_RANDOM; p++) {
		if (p == PAGEMU_POLICY_LRU)
			continue;
		ck_assert_int_eq(pm_curve_faults_src(&cfg, p, &src, frames + 3, 3, got), 0);
		for (size_t j = 0; j < 3; j++) {
			pagemu_model_config_t c = cfg;
			pagemu_model_stats_t st;
			pagemu_model_t *mod;
			c.policy = p;
			c.frames = frames[j + 3];
			ck_assert_int_eq(pagemu_model_new(&c, &mod), 0);
			int e = 0;
			for (size_t i = 0; i < n; i++)
				e |= pagemu_model_access(mod, refs.va[i], refs.access[i]) < 0;
			ck_assert_int_eq(e, 0);
			pagemu_model_get_stats(mod, &st);
			pagemu_model_free(mod);
			ck_assert_msg(got[j] == st.faults, "%s, %llu frames: stream %llu, alone %llu",
				      pagemu_policy_name(p), (unsigned long long)c.frames, (unsigned long long)got[j],
				      (unsigned long long)st.faults);
		}
	}
	/* working sets */
	for (size_t j = 0; j < PM_ARRAY_LEN(taus); j++) {
		pm_ws_stream_t ws;
		ck_assert_int_eq(pm_ws_sizes(pages, n, taus[j], w), 0);
		ck_assert_int_eq(pm_ws_stream_init(&ws, taus[j]), 0);
		size_t wrong = SIZE_MAX;
		for (size_t i = 0; i < n; i++) {
			int e = pm_ws_stream_push(&ws, pages[i]);
			if (wrong == SIZE_MAX && (e < 0 || ws.size != w[i]))
				wrong = i;
		}
		ck_assert_msg(wrong == SIZE_MAX, "tau %llu, t %zu: stream and whole string differ",
			      (unsigned long long)taus[j], wrong + 1);
		pm_ws_stream_free(&ws);
	}
	pm_refs_free(&refs);
	free(pages);
	free(next);
	free(ids);
	free(w);
}
END_TEST

/* What a streaming analysis holds after a string and after one eight
 * times longer over the same pages: every array sized by pages or frames
 * stays the size it was (one sized by references would grow 8x). */
typedef struct held {
	size_t ids, ws, opt_pos, opt_heap, stack, stack_prio, lru;
} held_t;

static void stream_holdings(size_t n, held_t *h)
{
	pm_refs_t refs = { 0 };
	pm_opt_stream_t o;
	pm_opt_stack_t stk;
	pm_ws_stream_t ws;
	pm_lru_stream_t ls;
	pm_future_t fu;
	pm_refs_cursor_t cur;
	pm_ref_src_t src;
	const uint32_t *fid;
	const uint64_t *fnext;
	uint64_t frames = 300, page;
	size_t m;
	int e = 0;

	long_string(&refs, n, 11);
	pm_ref_src_refs(&src, &cur, &refs, 4096);
	ck_assert_int_eq(pm_future_build(&fu, &src, 12), 0);
	pm_opt_stream_init(&o, frames);
	pm_opt_stack_init(&stk, frames);
	while (pm_future_read(&fu, &fid, &fnext, &m) == 0 && m > 0) {
		ck_assert_int_eq(pm_opt_stream_push(&o, fid, fnext, m), 0);
		ck_assert_int_eq(pm_opt_stack_push(&stk, fid, fnext, m), 0);
	}
	ck_assert_int_eq(pm_ws_stream_init(&ws, 50000), 0);
	ck_assert_int_eq(pm_lru_stream_init(&ls, &frames, 1), 0);
	for (size_t i = 0; i < n; i++) {
		page = refs.va[i] >> 12;
		e |= pm_ws_stream_push(&ws, page) | pm_lru_stream_push(&ls, &page, 1);
	}
	ck_assert_int_eq(e, 0);
	*h = (held_t){ ws.ids.mask + 1, ws.cap, o.pcap, o.hcap, stk.cap, stk.pcap, ls.ids.mask + 1 + ls.lcap + ls.tcap };
	pm_lru_stream_free(&ls);
	pm_ws_stream_free(&ws);
	pm_opt_stack_free(&stk);
	pm_opt_stream_free(&o);
	pm_future_free(&fu);
	pm_refs_free(&refs);
}

START_TEST(streams_stay_bounded)
{
	held_t a, b;

	stream_holdings(60000, &a);
	stream_holdings(480000, &b);
	ck_assert_uint_eq(a.ids, b.ids);
	ck_assert_uint_eq(a.ws, b.ws);
	ck_assert_uint_eq(a.opt_pos, b.opt_pos);
	ck_assert_uint_eq(a.opt_heap, b.opt_heap);
	ck_assert_uint_eq(a.stack, b.stack);
	ck_assert_uint_eq(a.stack_prio, b.stack_prio);
	ck_assert_uint_eq(a.lru, b.lru);
	/* and they are sized by the 2,400-odd pages, not the 60,000 references */
	ck_assert_uint_le(a.ids, 8192);
	ck_assert_uint_le(a.ws, 4096);
	ck_assert_uint_le(a.opt_heap, 1024);
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
	tcase_add_test(tc, working_set_stream_textbook);
	tcase_add_test(tc, streams_equal_whole_string);
	tcase_add_test(tc, streams_stay_bounded);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
