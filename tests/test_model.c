/* test_model.c - the standalone model (lib/model.c, lib/cache.c): the
 * CSAPP 9.6.4 end-to-end example built from ../shared/fixtures tables, the
 * textbook's practice problems on the same system, the Core i7 walk shape,
 * demand paging, protection, statistics and configuration errors. */
#include <errno.h>
#include <sys/mman.h>

#include "testutil.h"
#include "engine/engine.h"
#include "heap/heap.h"

/* ---- CSAPP's small memory system (Figure 9.20) ---------------------------- */

/* The system with its tables loaded: the page table, then the TLB (the
 * textbook's state), or with tlb_first the TLB before the page table:
 * then each pagemu_model_map shoots down the entry loaded for its page
 * (pagemu.h, pagemu_model_map), as an OS that changes a PTE must. */
static pagemu_model_t *csapp_loaded(int tlb_first)
{
	/* TLB (set, way, tag, PPN) for the valid entries only */
	static const struct { unsigned set, way; uint64_t tag, ppn; } tlb[] = {
		{ 0, 1, 0x09, 0x0D }, { 0, 3, 0x07, 0x02 }, { 1, 0, 0x03, 0x2D },
		{ 3, 1, 0x03, 0x0D }, { 3, 2, 0x0A, 0x34 },
	};
	/* page table, first 16 PTEs: PPN or -1 (not valid) */
	static const int pt[16] = {
		0x28, -1, 0x33, 0x02, -1, 0x16, -1, -1,
		0x13, 0x17, 0x09, -1, -1, 0x2D, 0x11, 0x0D,
	};
	/* cache: valid lines (index, tag, bytes 0-3) */
	static const struct { unsigned idx; uint64_t tag; uint8_t b[4]; } cache[] = {
		{ 0x0, 0x19, { 0x99, 0x11, 0x23, 0x11 } }, { 0x2, 0x1B, { 0x00, 0x02, 0x04, 0x08 } },
		{ 0x4, 0x32, { 0x43, 0x6D, 0x8F, 0x09 } }, { 0x5, 0x0D, { 0x36, 0x72, 0xF0, 0x1D } },
		{ 0x7, 0x16, { 0x11, 0xC2, 0xDF, 0x03 } }, { 0x8, 0x24, { 0x3A, 0x00, 0x51, 0x89 } },
		{ 0xA, 0x2D, { 0x93, 0x15, 0xDA, 0x3B } }, { 0xD, 0x16, { 0x04, 0x96, 0x34, 0x15 } },
		{ 0xE, 0x13, { 0x83, 0x77, 0x1B, 0xD3 } },
	};
	pagemu_model_config_t cfg;
	pagemu_model_t *m;
	unsigned i;

	pagemu_model_config_default(&cfg);
	cfg.va_bits = 14;
	cfg.pa_bits = 12;
	cfg.page_bits = 6;
	cfg.pt_levels = 1;
	cfg.tlb_sets = 4;
	cfg.tlb_ways = 4;
	cfg.tlb2_sets = 0;
	cfg.tlb2_ways = 0;
	cfg.cache_sets = 16;
	cfg.cache_ways = 1;
	cfg.cache_line = 4;
	ck_assert_int_eq(pagemu_model_new(&cfg, &m), 0);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == !tlb_first)
			for (i = 0; i < PM_ARRAY_LEN(tlb); i++)
				ck_assert_int_eq(pagemu_model_tlb_load(m, tlb[i].set, tlb[i].way, tlb[i].tag, tlb[i].ppn), 0);
		else
			for (i = 0; i < 16; i++)
				if (pt[i] >= 0)
					ck_assert_int_eq(pagemu_model_map(m, i, (uint64_t)pt[i], PROT_READ | PROT_WRITE), 0);
	}
	for (i = 0; i < PM_ARRAY_LEN(cache); i++)
		ck_assert_int_eq(pagemu_model_cache_load(m, cache[i].idx, 0, cache[i].tag, cache[i].b), 0);
	return m;
}

static pagemu_model_t *csapp(void)
{
	return csapp_loaded(0);
}

/* One translation of the small system, every textbook step compared. */
typedef struct step {
	uint64_t va, vpn, vpo, tlbi, tlbt;
	int      tlb_hit, page_fault;
	uint64_t ppn, pa, co, ci, ct;
	int      cache_hit;
	uint8_t  byte;
} step_t;

static void expect(pagemu_model_t *m, const step_t *e, pagemu_xlate_t *x)
{
	ck_assert_int_eq(pagemu_model_translate(m, e->va, PROT_READ, x), 0);
	ck_assert_uint_eq(x->va, e->va);
	ck_assert_uint_eq(x->vpn, e->vpn);
	ck_assert_uint_eq(x->vpo, e->vpo);
	ck_assert_uint_eq(x->tlbi, e->tlbi);
	ck_assert_uint_eq(x->tlbt, e->tlbt);
	ck_assert_int_eq(x->tlb_hit, e->tlb_hit);
	ck_assert_int_eq(x->levels, e->tlb_hit ? 0 : 1);
	if (!e->tlb_hit)
		ck_assert_uint_eq(x->level_index[0], e->vpn);
	ck_assert_int_eq(x->page_fault, e->page_fault);
	if (e->page_fault)
		return;
	ck_assert_uint_eq(x->ppn, e->ppn);
	ck_assert_uint_eq(x->pa, e->pa);
	ck_assert_uint_eq(x->co, e->co);
	ck_assert_uint_eq(x->ci, e->ci);
	ck_assert_uint_eq(x->ct, e->ct);
	ck_assert_int_eq(x->cache_hit, e->cache_hit);
	ck_assert_uint_eq(x->byte, e->byte);
}

/* The worked example: load of the byte at 0x03d4. */
START_TEST(csapp_worked_example)
{
	pagemu_model_t *m = csapp();
	pagemu_xlate_t x;
	const step_t e = { .va = 0x03d4, .vpn = 0x0F, .vpo = 0x14, .tlbi = 0x3, .tlbt = 0x03, .tlb_hit = 1,
			   .ppn = 0x0D, .pa = 0x354, .co = 0x0, .ci = 0x5, .ct = 0x0D, .cache_hit = 1, .byte = 0x36 };

	expect(m, &e, &x);
	pagemu_model_free(m);
}
END_TEST

/* The same load with the TLB loaded before the page table: mapping VPN
 * 0x0F dropped the entry of set 3, way 1 (a TLB never caches an invalid
 * PTE, and the PTE was invalid when the entry was loaded), so the access
 * misses the TLB and walks, where the book shows a hit; the walk finds
 * the same PPN, so the rest of the steps are the book's. Entries whose
 * pages the table does not map (set 0, way 1: VPN 0x24) survive. */
START_TEST(csapp_load_order)
{
	pagemu_model_t *m = csapp_loaded(1);
	pagemu_model_stats_t st;
	pagemu_xlate_t x;
	const step_t e = { .va = 0x03d4, .vpn = 0x0F, .vpo = 0x14, .tlbi = 0x3, .tlbt = 0x03, .tlb_hit = 0,
			   .ppn = 0x0D, .pa = 0x354, .co = 0x0, .ci = 0x5, .ct = 0x0D, .cache_hit = 1, .byte = 0x36 };

	expect(m, &e, &x);
	pagemu_model_get_stats(m, &st);
	ck_assert_uint_eq(st.page_walks, 1);
	ck_assert_int_eq(pagemu_model_translate(m, 0x905, PROT_READ, &x), 0);
	ck_assert_int_eq(x.tlb_hit, 1);
	ck_assert_uint_eq(x.ppn, 0x0D);
	pagemu_model_free(m);
}
END_TEST

/* Practice problems on the same system, worked by hand:
 *
 * 9.11, VA 0x027c: VPN = 0x27c >> 6 = 0x09, VPO = 0x3C, TLBI = 0x09 & 3 = 1,
 * TLBT = 0x09 >> 2 = 0x02. TLB set 1 holds one valid entry, tag 03: a miss.
 * PTE 0x09 is valid, PPN 0x17 -> PA = 0x17 << 6 | 0x3C = 0x5FC: CO 0,
 * CI (0x5FC >> 2) & 0xF = 0xF, CT 0x5FC >> 6 = 0x17; line 0xF is not
 * valid: a miss.
 *
 * 9.12, VA 0x03a9: VPN 0x0E, VPO 0x29, TLBI 2, TLBT 0x03; TLB set 2 has no
 * valid entry: a miss. PTE 0x0E: PPN 0x11 -> PA 0x469: CO 1,
 * CI (0x469 >> 2) & 0xF = 0xA, CT 0x11; line 0xA holds tag 0x2D: a miss.
 *
 * 9.13, VA 0x0040: VPN 0x01, VPO 0, TLBI 1, TLBT 0: a TLB miss; PTE 0x01
 * is not valid: a page fault.
 *
 * A TLB entry of the table with no PTE given: set 0, way 1, tag 0x09 is
 * VPN 0x09 << 2 | 0 = 0x24 -> PPN 0x0D. VA 0x24 << 6 | 0x05 = 0x905 -> PA
 * 0x345: CO 1, CI 0x1, CT 0x0D; line 1 is not valid: a miss. */
START_TEST(csapp_practice)
{
	static const step_t steps[] = {
		{ .va = 0x027c, .vpn = 0x09, .vpo = 0x3C, .tlbi = 0x1, .tlbt = 0x02, .tlb_hit = 0,
		  .ppn = 0x17, .pa = 0x5FC, .co = 0x0, .ci = 0xF, .ct = 0x17, .cache_hit = 0 },
		{ .va = 0x03a9, .vpn = 0x0E, .vpo = 0x29, .tlbi = 0x2, .tlbt = 0x03, .tlb_hit = 0,
		  .ppn = 0x11, .pa = 0x469, .co = 0x1, .ci = 0xA, .ct = 0x11, .cache_hit = 0 },
		{ .va = 0x0040, .vpn = 0x01, .vpo = 0x00, .tlbi = 0x1, .tlbt = 0x00, .tlb_hit = 0,
		  .page_fault = 1 },
		{ .va = 0x0905, .vpn = 0x24, .vpo = 0x05, .tlbi = 0x0, .tlbt = 0x09, .tlb_hit = 1,
		  .ppn = 0x0D, .pa = 0x345, .co = 0x1, .ci = 0x1, .ct = 0x0D, .cache_hit = 0 },
		/* 9.11 again: the walk filled the TLB, the miss filled the line */
		{ .va = 0x027c, .vpn = 0x09, .vpo = 0x3C, .tlbi = 0x1, .tlbt = 0x02, .tlb_hit = 1,
		  .ppn = 0x17, .pa = 0x5FC, .co = 0x0, .ci = 0xF, .ct = 0x17, .cache_hit = 1 },
	};
	pagemu_model_t *m = csapp();
	pagemu_xlate_t x;
	pagemu_model_stats_t s;

	for (size_t i = 0; i < PM_ARRAY_LEN(steps); i++)
		expect(m, &steps[i], &x);
	ck_assert_int_eq(pagemu_model_access(m, 0x0040, PROT_READ), 1);
	pagemu_model_get_stats(m, &s);
	ck_assert_uint_eq(s.refs, 6);
	ck_assert_uint_eq(s.faults, 2);
	ck_assert_uint_eq(s.tlb_misses, 4);
	ck_assert_uint_eq(s.tlb_hits_l1, 2);
	ck_assert_uint_eq(s.page_walks, 4);
	ck_assert_uint_eq(s.cache_hits, 1);
	ck_assert_uint_eq(s.cache_misses, 3);
	/* beyond the 14-bit VA */
	ck_assert_int_eq(pagemu_model_translate(m, 1 << 14, PROT_READ, &x), -EINVAL);
	pagemu_model_free(m);
}
END_TEST

/* ---- Core i7: 48-bit VA, 4 levels of 9 bits ------------------------------ */

START_TEST(core_i7_walk)
{
	pagemu_model_config_t cfg;
	pagemu_model_t *m;
	pagemu_xlate_t x;
	uint64_t va = 3ULL << 39 | 5ULL << 30 | 7ULL << 21 | 11ULL << 12 | 0x123;

	pagemu_model_config_default(&cfg);
	ck_assert_int_eq(pagemu_model_new(&cfg, &m), 0);
	/* nothing mapped: the walk stops at the root */
	ck_assert_int_eq(pagemu_model_translate(m, va, PROT_READ, &x), 0);
	ck_assert_int_eq(x.page_fault, 1);
	ck_assert_int_eq(x.levels, 1);
	ck_assert_uint_eq(x.level_index[0], 3);
	ck_assert_int_eq(pagemu_model_map(m, va >> 12, 0x42, PROT_READ), 0);
	ck_assert_int_eq(pagemu_model_translate(m, va, PROT_READ, &x), 0);
	ck_assert_int_eq(x.page_fault, 0);
	ck_assert_int_eq(x.levels, 4);
	ck_assert_uint_eq(x.level_index[0], 3);
	ck_assert_uint_eq(x.level_index[1], 5);
	ck_assert_uint_eq(x.level_index[2], 7);
	ck_assert_uint_eq(x.level_index[3], 11);
	ck_assert_uint_eq(x.vpo, 0x123);
	ck_assert_uint_eq(x.pa, 0x42123);
	/* L1 TLB 16 sets: TLBI = VPN & 15, TLBT = VPN >> 4 */
	ck_assert_uint_eq(x.tlbi, (va >> 12) & 15);
	ck_assert_uint_eq(x.tlbt, va >> 16);
	/* the top of user space: every index 511 but the root's 255 */
	ck_assert_int_eq(pagemu_model_map(m, 0x7ffffffffULL, 1, PROT_READ), 0);
	ck_assert_int_eq(pagemu_model_translate(m, 0x7ffffffff000ULL, PROT_READ, &x), 0);
	ck_assert_int_eq(x.levels, 4);
	ck_assert_uint_eq(x.level_index[0], 255);
	ck_assert_uint_eq(x.level_index[1], 511);
	ck_assert_uint_eq(x.level_index[2], 511);
	ck_assert_uint_eq(x.level_index[3], 511);
	/* a neighbour under the same level-1 entry only: 2 levels read */
	ck_assert_int_eq(pagemu_model_translate(m, 3ULL << 39 | 6ULL << 30, PROT_READ, &x), 0);
	ck_assert_int_eq(x.page_fault, 1);
	ck_assert_int_eq(x.levels, 2);
	ck_assert_uint_eq(x.level_index[1], 6);
	/* a write to a read-only page is a protection fault */
	ck_assert_int_eq(pagemu_model_translate(m, va, PROT_WRITE, &x), 0);
	ck_assert_int_eq(x.tlb_hit, 1);
	ck_assert_int_eq(x.prot_fault, 1);
	ck_assert_int_eq(x.dirty, 0);
	/* remapping shoots the TLB entry down */
	ck_assert_int_eq(pagemu_model_map(m, va >> 12, 0x43, PROT_READ | PROT_WRITE), 0);
	ck_assert_int_eq(pagemu_model_translate(m, va, PROT_WRITE, &x), 0);
	ck_assert_int_eq(x.tlb_hit, 0);
	ck_assert_uint_eq(x.ppn, 0x43);
	ck_assert_int_eq(x.prot_fault, 0);
	ck_assert_int_eq(x.dirty, 1);
	ck_assert_int_eq(x.accessed, 1);
	pagemu_model_free(m);
}
END_TEST

/* ---- demand paging in the model ----------------------------------------- */

START_TEST(paging)
{
	pagemu_model_config_t cfg;
	pagemu_model_t *m;
	pagemu_xlate_t x;
	pagemu_model_stats_t s;

	pagemu_model_config_default(&cfg);
	cfg.frames = 2;
	cfg.policy = PAGEMU_POLICY_FIFO;
	ck_assert_int_eq(pagemu_model_new(&cfg, &m), 0);
	ck_assert_int_eq(pagemu_model_map(m, 1, 1, PROT_READ), -EINVAL);
	/* frames fill in order */
	ck_assert_int_eq(pagemu_model_translate(m, 0x1000, PROT_READ, &x), 0);
	ck_assert_int_eq(x.page_fault, 1);
	ck_assert_uint_eq(x.ppn, 0);
	ck_assert_int_eq(pagemu_model_translate(m, 0x2000, PROT_WRITE, &x), 0);
	ck_assert_uint_eq(x.ppn, 1);
	ck_assert_int_eq(x.dirty, 1);
	/* page 1 leaves (FIFO): its TLB entry goes too */
	ck_assert_int_eq(pagemu_model_access(m, 0x3000, PROT_READ), 1);
	ck_assert_int_eq(pagemu_model_translate(m, 0x1008, PROT_READ, &x), 0);
	ck_assert_int_eq(x.tlb_hit, 0);
	ck_assert_int_eq(x.page_fault, 1);
	ck_assert_uint_eq(x.ppn, 1);            /* page 2 was next in FIFO order */
	ck_assert_int_eq(x.dirty, 0);           /* read back from swap: clean */
	ck_assert_int_eq(pagemu_model_access(m, 0x3000, PROT_READ), 0);
	pagemu_model_get_stats(m, &s);
	ck_assert_uint_eq(s.refs, 5);
	ck_assert_uint_eq(s.writes, 1);
	ck_assert_uint_eq(s.faults, 4);
	ck_assert_uint_eq(s.faults_zero, 3);
	ck_assert_uint_eq(s.faults_major, 1);
	ck_assert_uint_eq(s.evictions, 2);
	ck_assert_uint_eq(s.writebacks, 2);     /* demand-zero pages are dirty from birth */
	ck_assert_uint_eq(s.resident, 2);
	ck_assert_uint_eq(s.tlb_hits_l1, 1);
	pagemu_model_reset_stats(m);
	pagemu_model_get_stats(m, &s);
	ck_assert_uint_eq(s.refs, 0);
	ck_assert_uint_eq(s.resident, 2);
	pagemu_model_free(m);
}
END_TEST

/* ---- the cache on its own -------------------------------------------------- */

START_TEST(cache_lru)
{
	static uint8_t mem[4096];
	pm_cache_t c;
	uint8_t b = 0;
	const uint8_t line[4] = { 1, 2, 3, 4 };
	size_t bytes = 0;

	ck_assert_int_eq(pm_cache_init(&c, 3, 1, 4, mem), -EINVAL);
	ck_assert_int_eq(pm_cache_init(&c, 4, 2, 6, mem), -EINVAL);
	ck_assert_int_eq(pm_cache_mem_size(4, 2, 4, &bytes), 0);
	ck_assert_uint_le(bytes, sizeof(mem));
	ck_assert_int_eq(pm_cache_init(&c, 4, 2, 4, mem), 0);
	/* PA 0x35: CO 1, CI 1, CT 3 */
	ck_assert_uint_eq(pm_cache_co(&c, 0x35), 1);
	ck_assert_uint_eq(pm_cache_ci(&c, 0x35), 1);
	ck_assert_uint_eq(pm_cache_ct(&c, 0x35), 3);
	ck_assert_int_eq(pm_cache_load(&c, 1, 0, 3, line), 0);
	ck_assert_int_eq(pm_cache_access(&c, 0x36, &b), 1);
	ck_assert_uint_eq(b, 3);
	/* two more lines in set 1 of a 2-way cache: tag 3 is MRU, so tag 4
	 * takes way 1 and tag 5 evicts tag 4 only after 3 is touched again */
	ck_assert_int_eq(pm_cache_access(&c, 4 << 4 | 1 << 2, NULL), 0);
	ck_assert_int_eq(pm_cache_access(&c, 0x34, NULL), 1);
	ck_assert_int_eq(pm_cache_access(&c, 5 << 4 | 1 << 2, NULL), 0);
	ck_assert_int_eq(pm_cache_access(&c, 0x34, NULL), 1);
	ck_assert_int_eq(pm_cache_access(&c, 4 << 4 | 1 << 2, NULL), 0);
	pm_cache_invalidate(&c, 0x30, 16);
	ck_assert_int_eq(pm_cache_access(&c, 0x34, NULL), 0);
	ck_assert_int_eq(pm_cache_load(&c, 4, 0, 1, NULL), -EINVAL);
}
END_TEST

/* ---- configuration errors name the field ----------------------------------- */

static void expect_bad(pagemu_model_config_t *cfg, const char *field)
{
	pagemu_model_t *m = (pagemu_model_t *)1;

	ck_assert_int_eq(pagemu_model_new(cfg, &m), -EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(pagemu_last_error(), field), "\"%s\" does not name %s", pagemu_last_error(), field);
	pagemu_model_config_default(cfg);
}

START_TEST(config_errors)
{
	pagemu_model_config_t cfg;

	pagemu_model_config_default(&cfg);
	cfg.va_bits = 65;           expect_bad(&cfg, "va_bits");
	cfg.page_bits = 0;          expect_bad(&cfg, "page_bits");
	cfg.pa_bits = 12;           expect_bad(&cfg, "pa_bits");
	cfg.va_bits = 64; cfg.page_bits = 11; expect_bad(&cfg, "va_bits");
	cfg.pt_levels = 9;          expect_bad(&cfg, "pt_levels");
	cfg.pt_bits[0] = 3;         expect_bad(&cfg, "pt_bits");
	cfg.tlb_sets = 12;          expect_bad(&cfg, "tlb_sets");
	cfg.tlb_ways = 0;           expect_bad(&cfg, "tlb_sets");
	cfg.tlb2_sets = 100;        expect_bad(&cfg, "tlb2_sets");
	cfg.tlb_sets = 0;           expect_bad(&cfg, "tlb2_sets");
	cfg.cache_line = 48;        expect_bad(&cfg, "cache_line");
	cfg.cache_line = 64;        expect_bad(&cfg, "cache_sets");
	cfg.policy = PAGEMU_POLICY_COUNT; expect_bad(&cfg, "policy");
	cfg.frames = 4; cfg.policy = PAGEMU_POLICY_OPT; expect_bad(&cfg, "policy");
	cfg.pa_bits = 14; cfg.frames = 5; expect_bad(&cfg, "frames");
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, csapp_worked_example);
	tcase_add_test(tc, csapp_load_order);
	tcase_add_test(tc, csapp_practice);
	tcase_add_test(tc, core_i7_walk);
	tcase_add_test(tc, paging);
	tcase_add_test(tc, cache_lru);
	tcase_add_test(tc, config_errors);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
