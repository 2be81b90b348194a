/* test_tlb.c - the modeled TLB (lib/tlb.c): geometry, LRU within a set
 * and the other replacement policies (FIFO, random, tree PLRU),
 * the two-level policy (fills to both, L2 promotion, L1 victims written
 * back into L2) and the L1 evictions the engine's exact-TLB mode unmaps. */
#include <errno.h>

#include "testutil.h"
#include "engine/engine.h"
#include "heap/heap.h"

static pm_tlb_t tlb;
static uint64_t mem[3 * 4096];

static void make(unsigned s1, unsigned w1, unsigned s2, unsigned w2)
{
	size_t bytes = 0;

	ck_assert_int_eq(pm_tlb_mem_size(s1, w1, s2, w2, &bytes), 0);
	ck_assert_uint_le(bytes, sizeof(mem));
	ck_assert_int_eq(pm_tlb_init(&tlb, s1, w1, s2, w2, mem), 0);
}

START_TEST(geometry)
{
	size_t bytes = 0;

	ck_assert_int_eq(pm_tlb_init(&tlb, 3, 4, 0, 0, mem), -EINVAL);
	ck_assert_int_eq(pm_tlb_init(&tlb, 4, 0, 0, 0, mem), -EINVAL);
	ck_assert_int_eq(pm_tlb_init(&tlb, 0, 4, 0, 0, mem), -EINVAL);
	ck_assert_int_eq(pm_tlb_init(&tlb, 4, 4, 6, 2, mem), -EINVAL);
	ck_assert_int_eq(pm_tlb_mem_size(16, 4, 128, 12, &bytes), 0);
	ck_assert_uint_eq(bytes, (64 + 1536) * 3 * sizeof(uint64_t));
	make(4, 4, 0, 0);
	/* CSAPP: VPN 0x0F -> TLBI 3, TLBT 3 */
	ck_assert_uint_eq(pm_tlb_index(&tlb, 0x0F), 3);
	ck_assert_uint_eq(pm_tlb_tag(&tlb, 0x0F), 3);
	ck_assert_uint_eq(pm_tlb_index(&tlb, 0x09), 1);
	ck_assert_uint_eq(pm_tlb_tag(&tlb, 0x09), 2);
}
END_TEST

START_TEST(miss_fill_hit)
{
	uint64_t ppn = 0, ev = 0;

	make(4, 2, 0, 0);
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0x10, &ppn, &ev), PM_TLB_MISS);
	ck_assert_uint_eq(ev, PM_NONE);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 0x10, 7), PM_NONE);
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0x10, &ppn, &ev), PM_TLB_HIT_L1);
	ck_assert_uint_eq(ppn, 7);
	/* refill in place: new PPN, nothing evicted */
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 0x10, 9), PM_NONE);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0x10, &ppn), PM_TLB_HIT_L1);
	ck_assert_uint_eq(ppn, 9);
}
END_TEST

START_TEST(lru_within_set)
{
	uint64_t ppn;

	make(4, 2, 0, 0);
	/* VPNs 0, 4, 8 share set 0 of a 2-way TLB */
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 0, 100), PM_NONE);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 4, 104), PM_NONE);
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0, &ppn, NULL), PM_TLB_HIT_L1);   /* 4 is now LRU */
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 8, 108), 4);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 4, &ppn), PM_TLB_MISS);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0, &ppn), PM_TLB_HIT_L1);
	/* other sets untouched */
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 1, 101), PM_NONE);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 0, 200), PM_NONE);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 12, 112), 8);
}
END_TEST

START_TEST(probe_changes_nothing)
{
	uint64_t ppn;

	make(1, 2, 0, 0);
	pm_tlb_fill(&tlb, 1, 1);
	pm_tlb_fill(&tlb, 2, 2);
	/* a probe of 1 must not make 2 the LRU entry */
	ck_assert_int_eq(pm_tlb_probe(&tlb, 1, &ppn), PM_TLB_HIT_L1);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 3, 3), 1);
}
END_TEST

START_TEST(two_levels)
{
	uint64_t ppn = 0, ev = 0;

	/* L1: 1 set x 2 ways; L2: 4 sets x 2 ways */
	make(1, 2, 4, 2);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 1, 11), PM_NONE);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 2, 12), PM_NONE);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 3, 13), 1);     /* 1 leaves L1 ... */
	ck_assert_int_eq(pm_tlb_probe(&tlb, 1, &ppn), PM_TLB_HIT_L2); /* ... stays in L2 */
	/* an L2 hit is promoted to L1, pushing out L1's LRU (2) */
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 1, &ppn, &ev), PM_TLB_HIT_L2);
	ck_assert_uint_eq(ppn, 11);
	ck_assert_uint_eq(ev, 2);
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 1, &ppn, &ev), PM_TLB_HIT_L1);
	ck_assert_uint_eq(ev, PM_NONE);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 2, &ppn), PM_TLB_HIT_L2);
	ck_assert_uint_eq(ppn, 12);
	/* invalidate reports the levels that held the VPN */
	ck_assert_int_eq(pm_tlb_invalidate(&tlb, 1), 3);
	ck_assert_int_eq(pm_tlb_invalidate(&tlb, 2), 2);
	ck_assert_int_eq(pm_tlb_invalidate(&tlb, 2), 0);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 1, &ppn), PM_TLB_MISS);
	/* an L1 victim that L2 lost is written back into L2 */
	make(1, 1, 1, 1);
	pm_tlb_fill(&tlb, 5, 55);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 6, 66), 5);      /* L1 {6}; L2 got 6, then 5 back */
	ck_assert_int_eq(pm_tlb_probe(&tlb, 5, &ppn), PM_TLB_HIT_L2);
	ck_assert_uint_eq(ppn, 55);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 6, &ppn), PM_TLB_HIT_L1);
}
END_TEST

START_TEST(flush_and_load)
{
	uint64_t ppn;

	make(4, 4, 8, 2);
	pm_tlb_fill(&tlb, 0x0F, 0x0D);
	pm_tlb_flush(&tlb);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0x0F, &ppn), PM_TLB_MISS);
	/* CSAPP table: set 3, way 1, tag 03, PPN 0D */
	ck_assert_int_eq(pm_tlb_load(&tlb, 0, 3, 1, 0x03, 0x0D), 0);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0x0F, &ppn), PM_TLB_HIT_L1);
	ck_assert_uint_eq(ppn, 0x0D);
	/* L2 has its own TLBI/TLBT: 8 sets, so VPN 0x17 = tag 2, set 7 */
	ck_assert_int_eq(pm_tlb_load(&tlb, 1, 7, 1, 0x2, 0x2), 0);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0x17, &ppn), PM_TLB_HIT_L2);
	ck_assert_uint_eq(ppn, 0x2);
	ck_assert_int_eq(pm_tlb_load(&tlb, 0, 4, 0, 1, 1), -EINVAL);
	ck_assert_int_eq(pm_tlb_load(&tlb, 0, 0, 4, 1, 1), -EINVAL);
	ck_assert_int_eq(pm_tlb_load(&tlb, 2, 0, 0, 1, 1), -EINVAL);
	ck_assert_int_eq(pm_tlb_load(&tlb, 0, 0, 0, PM_NONE, 1), -EINVAL);
}
END_TEST

/* ---- replacement policies -------------------------------------------------- */

static void make_policy(unsigned ways, pagemu_tlb_policy_t l1, uint64_t seed)
{
	pagemu_tlb_policy_t pol[2] = { l1, PAGEMU_TLB_LRU };

	make(1, ways, 0, 0);
	ck_assert_int_eq(pm_tlb_set_policy(&tlb, pol, seed), 0);
}

/* One set of 4 ways: fill VPNs 0-3, hit 0, fill 4. The way each policy
 * replaces (the VPN pm_tlb_fill pushes out of L1). */
static uint64_t victim_after_hit(pagemu_tlb_policy_t p, uint64_t seed)
{
	uint64_t ppn;

	make_policy(4, p, seed);
	for (uint64_t v = 0; v < 4; v++)
		ck_assert_uint_eq(pm_tlb_fill(&tlb, v, 100 + v), PM_NONE);   /* empty ways first */
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0, &ppn, NULL), PM_TLB_HIT_L1);
	return pm_tlb_fill(&tlb, 4, 104);
}

START_TEST(policies_pick_their_victims)
{
	/* LRU: order 1 2 3 0 -> 1. FIFO: the hit changes nothing -> 0.
	 * Tree PLRU: after the fills the root points left, the left node at
	 * way 0; the hit on 0 turns both away: the root points right, and
	 * the right node still points at way 2 (3 was filled after 2). */
	ck_assert_uint_eq(victim_after_hit(PAGEMU_TLB_LRU, 1), 1);
	ck_assert_uint_eq(victim_after_hit(PAGEMU_TLB_FIFO, 1), 0);
	ck_assert_uint_eq(victim_after_hit(PAGEMU_TLB_PLRU, 1), 2);
	/* Random: a valid way, the same one for the same seed. */
	uint64_t r = victim_after_hit(PAGEMU_TLB_RANDOM, 99);
	ck_assert_uint_lt(r, 4);
	ck_assert_uint_eq(victim_after_hit(PAGEMU_TLB_RANDOM, 99), r);
}
END_TEST

START_TEST(plru_ways_not_a_power_of_two)
{
	uint64_t ppn;

	/* 3 ways on a 4-leaf tree: the missing way 3 is never chosen. After
	 * fills 0, 1, 2 the bits lead to way 0; a hit on 0 sends the root
	 * right, where the node points at the missing leaf: way 2. */
	make_policy(3, PAGEMU_TLB_PLRU, 1);
	for (uint64_t v = 0; v < 3; v++)
		pm_tlb_fill(&tlb, v, v);
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0, &ppn, NULL), PM_TLB_HIT_L1);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 3, 3), 2);
	/* Invalidation empties a way, which the next fill takes first. */
	ck_assert_int_eq(pm_tlb_invalidate(&tlb, 1), 1);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 4, 4), PM_NONE);
	ck_assert_uint_eq(pm_tlb_l1_way_vpn(&tlb, 0, 1), 4);
	ck_assert_uint_eq(pm_tlb_l1_way_vpn(&tlb, 0, 3), PM_NONE);   /* out of range */
}
END_TEST

/* ASIDs: an entry matches only the space that filled it; another space's
 * entries stay through a switch, and when one is pushed out it is not
 * reported (nothing of that space is mapped now). L1 4 sets x 2 ways, L2
 * 8 x 2. */
START_TEST(asid_tags)
{
	uint64_t ppn, ev;

	make(4, 2, 8, 2);
	pm_tlb_set_asid(&tlb, 1);
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 0, 100), PM_NONE);
	pm_tlb_set_asid(&tlb, 2);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0, &ppn), PM_TLB_MISS);     /* 1's VPN 0 is not 2's */
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 0, 200), PM_NONE);         /* both in set 0 now */
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0, &ppn, NULL), PM_TLB_HIT_L1);
	ck_assert_uint_eq(ppn, 200);
	ck_assert_uint_eq(pm_tlb_l1_way_vpn(&tlb, 0, 0), PM_NONE);      /* way 0 is 1's */
	ck_assert_uint_eq(pm_tlb_l1_way_vpn(&tlb, 0, 1), 0);
	/* 2's VPN 4 pushes 1's VPN 0 (LRU) out of L1: not reported. */
	ck_assert_uint_eq(pm_tlb_fill(&tlb, 4, 204), PM_NONE);
	pm_tlb_set_asid(&tlb, 1);
	ck_assert_int_eq(pm_tlb_lookup(&tlb, 0, &ppn, &ev), PM_TLB_HIT_L2);   /* (written back to L2) */
	ck_assert_uint_eq(ppn, 100);
	ck_assert_uint_eq(ev, PM_NONE);          /* it pushed out one of 2's: not reported either */
	/* Invalidation: of the current space, of another, of a whole ASID. */
	ck_assert_int_eq(pm_tlb_invalidate_asid(&tlb, 2, 4), 3);          /* 2's VPN 4: in L1 and L2 */
	ck_assert_int_eq(pm_tlb_invalidate_asid(&tlb, 2, 4), 0);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0, &ppn), PM_TLB_HIT_L1);     /* 1's untouched */
	ck_assert_uint_eq(pm_tlb_flush_asid(&tlb, 1), 2);                 /* 1's VPN 0, L1 and L2 */
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0, &ppn), PM_TLB_MISS);
	pm_tlb_set_asid(&tlb, 2);
	ck_assert_int_eq(pm_tlb_probe(&tlb, 0, &ppn), PM_TLB_HIT_L2);     /* 2's VPN 0 stays */
	ck_assert_uint_eq(ppn, 200);
}
END_TEST

START_TEST(policy_names_and_limits)
{
	pagemu_tlb_policy_t p, pol[2] = { PAGEMU_TLB_PLRU, PAGEMU_TLB_PLRU };

	for (unsigned i = 0; i < PAGEMU_TLB_POLICY_COUNT; i++) {
		ck_assert_int_eq(pagemu_tlb_policy_parse(pagemu_tlb_policy_name((pagemu_tlb_policy_t)i), &p), 0);
		ck_assert_int_eq(p, (int)i);
	}
	ck_assert_ptr_null(pagemu_tlb_policy_name(PAGEMU_TLB_POLICY_COUNT));
	ck_assert_int_eq(pagemu_tlb_policy_parse("clock", &p), -EINVAL);
	ck_assert_int_eq(pagemu_tlb_policy_parse(NULL, &p), -EINVAL);
	ck_assert_int_eq(pm_parse_tlb_policy("fifo", pol), 0);
	ck_assert_int_eq(pol[1], PAGEMU_TLB_FIFO);
	ck_assert_int_eq(pm_parse_tlb_policy("plru,random", pol), 0);
	ck_assert(pol[0] == PAGEMU_TLB_PLRU && pol[1] == PAGEMU_TLB_RANDOM);
	ck_assert_int_eq(pm_parse_tlb_policy("plru,", pol), -EINVAL);
	ck_assert_int_eq(pm_parse_tlb_policy(",lru", pol), -EINVAL);
	ck_assert_int_eq(pm_parse_tlb_policy("lru,lru,lru", pol), -EINVAL);
	ck_assert(pol[0] == PAGEMU_TLB_PLRU && pol[1] == PAGEMU_TLB_RANDOM);   /* unchanged */
	/* PLRU keeps a set's tree in 64 bits. */
	make(1, 65, 0, 0);
	pol[0] = PAGEMU_TLB_PLRU;
	ck_assert_int_eq(pm_tlb_set_policy(&tlb, pol, 1), -EINVAL);
	pol[0] = (pagemu_tlb_policy_t)PAGEMU_TLB_POLICY_COUNT;
	ck_assert_int_eq(pm_tlb_set_policy(&tlb, pol, 1), -EINVAL);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("tlb");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, geometry);
	tcase_add_test(tc, miss_fill_hit);
	tcase_add_test(tc, lru_within_set);
	tcase_add_test(tc, probe_changes_nothing);
	tcase_add_test(tc, two_levels);
	tcase_add_test(tc, flush_and_load);
	tcase_add_test(tc, policies_pick_their_victims);
	tcase_add_test(tc, plru_ways_not_a_power_of_two);
	tcase_add_test(tc, policy_names_and_limits);
	tcase_add_test(tc, asid_tags);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
