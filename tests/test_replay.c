/* test_replay.c - the model's fast path (pagemu_model_replay and
 * pagemu_model_access: an inline L1 hit, an index of L2, one pass per
 * set, policy calls only where they change something) against the
 * reference path it replaced (pm_model_access_ref: pagemu_model_access as
 * it was). Every counter must be equal, for every page policy the model
 * runs (CLOCK, LRU, FIFO, random; OPT is offline: pagemu-sim's, see
 * test_sim), every TLB policy on each level, and geometries from one frame
 * and one TLB entry to huge pages, ways that are not powers of two, no L2,
 * no TLB, two table levels, exact-TLB mode. Afterwards the two models must
 * also agree on each step of translations of the same pages: the TLB
 * entries and policy state left behind are the same. */
#include "testutil.h"
#include "model/model.h"

#define NREFS 40000

typedef struct geom {
	const char *name;
	unsigned page_bits, levels;
	unsigned sets, ways, sets2, ways2;
	uint64_t frames;
	int exact;
} geom_t;

static const geom_t geoms[] = {
	{ "default", 12, 4, 16, 4, 128, 12, 96, 0 },
	{ "one frame", 12, 4, 16, 4, 128, 12, 1, 0 },
	{ "one TLB entry", 12, 4, 1, 1, 0, 0, 40, 0 },
	{ "odd ways", 12, 4, 4, 3, 8, 5, 64, 0 },
	{ "no L2", 12, 2, 8, 2, 0, 0, 200, 0 },
	{ "no TLB", 12, 2, 0, 0, 0, 0, 50, 0 },
	{ "L2 smaller than L1", 12, 4, 8, 4, 2, 3, 30, 0 },
	{ "huge pages", 21, 3, 4, 4, 32, 4, 16, 0 },
	{ "exact TLB", 12, 4, 16, 4, 128, 12, 96, 1 },
	{ "exact TLB, odd ways", 12, 4, 2, 7, 4, 6, 20, 1 },
};

static const pagemu_policy_t policies[] = { PAGEMU_POLICY_CLOCK, PAGEMU_POLICY_LRU, PAGEMU_POLICY_FIFO,
					    PAGEMU_POLICY_RANDOM };

/* A stream with some locality: runs within a page, a hot set, a drifting
 * window and far jumps; one reference in three a write. */
static void make_refs(uint64_t seed, unsigned page_bits, uint64_t *va, uint8_t *acc, size_t n)
{
	uint64_t s = seed | 1, cur = 0, base = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = pm_xorshift64s(&s);
		unsigned pick = (unsigned)(r % 100);
		if (pick < 40)
			;                                     /* the same page again */
		else if (pick < 70)
			cur = r >> 40 & 63;                   /* hot set: 64 pages */
		else if (pick < 95)
			cur = base + (r >> 40) % 300;         /* window of 300 pages */
		else
			cur = (r >> 20) % 100000;             /* far */
		if (pick == 99)
			base += 17;
		va[i] = cur << page_bits | (r >> 8 & ((1ULL << page_bits) - 1));
		acc[i] = (r >> 60) % 3 == 0 ? PM_PROT_WRITE : PM_PROT_READ;
	}
}

static pagemu_model_t *make_model(const geom_t *g, pagemu_policy_t p, pagemu_tlb_policy_t t1, pagemu_tlb_policy_t t2,
				  uint64_t seed)
{
	pagemu_model_config_t c;
	pagemu_model_t *m;

	pagemu_model_config_default(&c);
	c.page_bits = g->page_bits;
	c.pt_levels = g->levels;
	c.tlb_sets = g->sets;
	c.tlb_ways = g->ways;
	c.tlb2_sets = g->sets2;
	c.tlb2_ways = g->ways2;
	c.tlb_policy = t1;
	c.tlb2_policy = t2;
	c.policy = p;
	c.frames = g->frames;
	c.seed = seed;
	c.tlb_exact = g->exact;
	ck_assert_msg(pagemu_model_new(&c, &m) == 0, "%s: %s", g->name, pagemu_last_error());
	return m;
}

static void assert_same_stats(const pagemu_model_stats_t *a, const pagemu_model_stats_t *b, const char *what)
{
#define PM_X_CMP(name, kind, desc) \
	ck_assert_msg(a->name == b->name, "%s: %s %llu (fast) != %llu (reference)", what, #name, \
		      (unsigned long long)a->name, (unsigned long long)b->name);
	PAGEMU_MODEL_STATS_LIST(PM_X_CMP)
#undef PM_X_CMP
}

/* The state left behind: translations of pages in and around the stream
 * agree step for step (TLB level hit, PPN, faults). */
static void assert_same_state(pagemu_model_t *f, pagemu_model_t *r, const uint64_t *va, size_t n, const char *what)
{
	pagemu_model_stats_t sf, sr;

	for (size_t i = 0; i < n; i += n / 64) {
		pagemu_xlate_t xf, xr;
		ck_assert_int_eq(pagemu_model_translate(f, va[i], PM_PROT_READ, &xf), 0);
		ck_assert_int_eq(pagemu_model_translate(r, va[i], PM_PROT_READ, &xr), 0);
		ck_assert_msg(xf.tlb_hit == xr.tlb_hit && xf.ppn == xr.ppn && xf.page_fault == xr.page_fault,
			      "%s: translate of 0x%llx: tlb %d/%d ppn %llu/%llu", what, (unsigned long long)va[i],
			      xf.tlb_hit, xr.tlb_hit, (unsigned long long)xf.ppn, (unsigned long long)xr.ppn);
	}
	pagemu_model_get_stats(f, &sf);
	pagemu_model_get_stats(r, &sr);
	assert_same_stats(&sf, &sr, what);
}

/* Every combination over one geometry (the test's _i). */
START_TEST(fast_equals_reference)
{
	const geom_t *g = &geoms[_i];
	static uint64_t va[NREFS];
	static uint8_t acc[NREFS];

	make_refs(0x1234 + (uint64_t)_i, g->page_bits, va, acc, NREFS);
	for (size_t p = 0; p < PM_ARRAY_LEN(policies); p++)
		for (unsigned t1 = 0; t1 < PAGEMU_TLB_POLICY_COUNT; t1++)
			for (unsigned t2 = 0; t2 < PAGEMU_TLB_POLICY_COUNT; t2++) {
				pagemu_model_t *f, *r;
				pagemu_model_stats_t sf, sr;
				char what[160];
				size_t done = 0;
				int bad = 0;

				if ((!g->sets && (t1 || t2)) || (!g->sets2 && t2))
					continue;          /* the same run again */
				snprintf(what, sizeof(what), "%s, %s, TLB %s,%s", g->name,
					 pagemu_policy_name(policies[p]), pagemu_tlb_policy_name(t1),
					 pagemu_tlb_policy_name(t2));
				f = make_model(g, policies[p], t1, t2, 7);
				r = make_model(g, policies[p], t1, t2, 7);
				/* The replay in three pieces, one reference at a time
				 * between them, and a translate (the slow path, which
				 * leaves the L2 index stale) in the middle. */
				ck_assert_int_eq(pagemu_model_replay(f, va, acc, NREFS / 3, &done), 0);
				ck_assert_uint_eq(done, NREFS / 3);
				/* (No ck_assert per reference: in fork mode each one
				 * writes to a pipe.) */
				for (size_t i = NREFS / 3; i < NREFS / 2; i++)
					bad |= pagemu_model_access(f, va[i], acc[i]) < 0;
				for (size_t i = 0; i < NREFS / 2; i++)
					bad |= pm_model_access_ref(r, va[i], acc[i]) < 0;
				{
					pagemu_xlate_t x;
					ck_assert_int_eq(pagemu_model_translate(f, va[7], PM_PROT_WRITE, &x), 0);
					ck_assert_int_eq(pagemu_model_translate(r, va[7], PM_PROT_WRITE, &x), 0);
				}
				ck_assert_int_eq(pagemu_model_replay(f, va + NREFS / 2, acc + NREFS / 2,
								     NREFS - NREFS / 2, NULL), 0);
				for (size_t i = NREFS / 2; i < NREFS; i++)
					bad |= pm_model_access_ref(r, va[i], acc[i]) < 0;
				ck_assert_msg(!bad, "%s: a reference failed", what);
				pagemu_model_get_stats(f, &sf);
				pagemu_model_get_stats(r, &sr);
				assert_same_stats(&sf, &sr, what);
				ck_assert_uint_eq(sf.refs, NREFS + 1);
				assert_same_state(f, r, va, NREFS, what);
				pagemu_model_free(f);
				pagemu_model_free(r);
			}
}
END_TEST

/* The replay stops at the first bad reference, the ones before it done,
 * as pagemu_model_access would have. */
START_TEST(replay_stops_at_a_bad_address)
{
	pagemu_model_config_t c;
	pagemu_model_t *m;
	pagemu_model_stats_t st;
	uint64_t va[4] = { 0x1000, 0x2000, 1ULL << 50, 0x3000 };
	uint8_t acc[4] = { 1, 2, 1, 1 };
	size_t done = 99;

	pagemu_model_config_default(&c);
	c.frames = 4;
	ck_assert_int_eq(pagemu_model_new(&c, &m), 0);
	ck_assert_int_eq(pagemu_model_replay(m, va, acc, 4, &done), -EINVAL);
	ck_assert_uint_eq(done, 2);
	pagemu_model_get_stats(m, &st);
	ck_assert_uint_eq(st.refs, 2);
	ck_assert_uint_eq(st.faults, 2);
	ck_assert_uint_eq(st.writes, 1);
	ck_assert_int_eq(pagemu_model_replay(m, va, acc, 0, &done), 0);
	ck_assert_uint_eq(done, 0);
	pagemu_model_free(m);
}
END_TEST

/* Without paging (textbook tables) the replay is the reference path: a
 * missing PTE is a fault reported in the counters. */
START_TEST(replay_without_paging)
{
	pagemu_model_config_t c;
	pagemu_model_t *m;
	pagemu_model_stats_t st;
	uint64_t va[3] = { 0x1000, 0x5000, 0x1008 };
	uint8_t acc[3] = { 1, 1, 2 };

	pagemu_model_config_default(&c);
	ck_assert_int_eq(pagemu_model_new(&c, &m), 0);
	ck_assert_int_eq(pagemu_model_map(m, 1, 7, PM_PROT_READ | PM_PROT_WRITE), 0);
	ck_assert_int_eq(pagemu_model_replay(m, va, acc, 3, NULL), 0);
	pagemu_model_get_stats(m, &st);
	ck_assert_uint_eq(st.refs, 3);
	ck_assert_uint_eq(st.faults, 1);
	ck_assert_uint_eq(st.tlb_hits_l1, 1);
	pagemu_model_free(m);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("replay");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, fast_equals_reference, 0, (int)PM_ARRAY_LEN(geoms));
	tcase_add_test(tc, replay_stops_at_a_bad_address);
	tcase_add_test(tc, replay_without_paging);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
