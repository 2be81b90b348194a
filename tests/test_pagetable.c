/* test_pagetable.c - model units shared with the engine: the radix page
 * table (insert, walk, remove, pruning, pm_pt_check), the swap map (first
 * fit, hint, freed runs), CRC-32C and the frame table (fill order). */
#include <errno.h>

#include "testutil.h"
#include "engine/engine.h"
#include "heap/heap.h"

static pm_arena_t arena;
static pm_pt_t pt;
static uint64_t *arena_mem;

static void setup(unsigned vpn_bits, unsigned levels)
{
	pm_pt_geom_t g;

	ck_assert_int_eq(pm_pt_geom_init(&g, vpn_bits, levels, NULL), 0);
	arena_mem = calloc(1, 64 * pm_pt_node_size(&g));
	pm_arena_init(&arena, arena_mem, 64 * pm_pt_node_size(&g), pm_pt_node_size(&g));
	ck_assert_int_eq(pm_pt_init(&pt, &g, &arena), 0);
}

static void teardown(void)
{
	free(arena_mem);
}

START_TEST(geometry)
{
	pm_pt_geom_t g;
	unsigned bits[4] = { 3, 9, 9, 9 };

	ck_assert_int_eq(pm_pt_geom_init(&g, 36, 4, NULL), 0);
	ck_assert_uint_eq(g.bits[0], 9);
	ck_assert_uint_eq(g.shift[0], 27);
	ck_assert_uint_eq(g.shift[3], 0);
	ck_assert_uint_eq(pm_pt_node_size(&g), 4096);
	ck_assert_int_eq(pm_pt_geom_init(&g, 38, 4, NULL), 0);
	ck_assert_uint_eq(g.bits[0], 11);                 /* the root takes the remainder */
	ck_assert_int_eq(pm_pt_geom_init(&g, 30, 4, bits), 0);
	ck_assert_int_eq(pm_pt_geom_init(&g, 36, 4, bits), -EINVAL);
	ck_assert_int_eq(pm_pt_geom_init(&g, 36, 0, NULL), -EINVAL);
	ck_assert_int_eq(pm_pt_geom_init(&g, 36, 9, NULL), -EINVAL);
}
END_TEST

static void count_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	uint64_t *seen = ctx;

	ck_assert_uint_eq(pte_ppn(*pte), vpn & 0xffff);
	seen[0]++;
	seen[1] = vpn;
}

static void clear_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	PM_UNUSED(ctx);
	PM_UNUSED(vpn);
	*pte = 0;
}

START_TEST(insert_walk_remove)
{
	uint64_t seen[2] = { 0, 0 };
	unsigned levels = 0;
	pm_pte_t *pte;

	setup(36, 4);
	ck_assert_ptr_null(pm_pt_lookup(&pt, 0x12345, &levels));
	ck_assert_uint_eq(levels, 1);
	/* three pages: two share every interior node, one is far away */
	*pm_pt_ensure(&pt, 0x12345) = pte_mk_present(0x2345);
	*pm_pt_ensure(&pt, 0x12346) = pte_mk_present(0x2346);
	*pm_pt_ensure(&pt, 0x800000001ULL) = pte_mk_present(0x1);
	ck_assert_uint_eq(pt.nodes, 1 + 3 + 3);
	ck_assert_int_eq(pm_pt_check(&pt), 0);
	pte = pm_pt_lookup(&pt, 0x12345, &levels);
	ck_assert_ptr_nonnull(pte);
	ck_assert_uint_eq(levels, 4);
	ck_assert(pte_present(*pte));
	ck_assert_uint_eq(pte_ppn(*pte), 0x2345);
	/* a page next to the others: its leaf node exists, its PTE is none */
	pte = pm_pt_lookup(&pt, 0x12347, &levels);
	ck_assert_ptr_nonnull(pte);
	ck_assert(pte_none(*pte));
	/* visit in VPN order */
	pm_pt_walk_range(&pt, 0, UINT64_MAX >> 28, count_visit, seen, 0);
	ck_assert_uint_eq(seen[0], 3);
	ck_assert_uint_eq(seen[1], 0x800000001ULL);
	/* remove the far page and prune: its three nodes go back */
	pm_pt_walk_range(&pt, 0x800000000ULL, 0x800000fffULL, clear_visit, NULL, 1);
	ck_assert_uint_eq(pt.nodes, 1 + 3);
	ck_assert_int_eq(pm_pt_check(&pt), 0);
	ck_assert_uint_eq(arena.live, pt.nodes);
	ck_assert_ptr_null(pm_pt_lookup(&pt, 0x800000001ULL, &levels));
	ck_assert_uint_eq(levels, 1);
	/* the checker notices a miscount */
	pt.nodes++;
	ck_assert_int_eq(pm_pt_check(&pt), -1);
	pt.nodes--;
	teardown();
}
END_TEST

START_TEST(arena_exhaustion)
{
	pm_pte_t *pte = NULL;
	uint64_t i;

	setup(36, 4);
	/* 64 nodes: 1 root + 3 per far-apart page: 21 pages fit */
	for (i = 0; i < 64; i++) {
		pte = pm_pt_ensure(&pt, i << 27);
		if (!pte)
			break;
	}
	ck_assert_uint_eq(i, 21);
	ck_assert_int_eq(pm_pt_check(&pt), 0);
	teardown();
}
END_TEST

START_TEST(swapmap_first_fit_and_hint)
{
	static uint64_t mem[64];             /* zero: the references counts start at 0 */
	pm_swapmap_t s;

	/* Two bitmaps, then a checksum (sums on) and a reference count a slot. */
	ck_assert_uint_eq(pm_swapmap_mem_size(200, 0), 64 + 200 * 2);
	ck_assert_uint_eq(pm_swapmap_mem_size(200, 1), 64 + 200 * 4 + 200 * 2);
	pm_swapmap_init(&s, 200, mem, 0);
	ck_assert_ptr_null(s.sums);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), 0);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), 1);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, 100), 100);   /* a free hint wins */
	ck_assert_uint_eq(pm_swapmap_alloc(&s, 101), 101);   /* (a run goes on) */
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), 2); /* else the lowest free slot */
	ck_assert_uint_eq(pm_swapmap_alloc(&s, 0), 3);       /* a used hint falls back */
	pm_swapmap_free(&s, 1);
	ck_assert(!pm_swapmap_test(&s, 1));
	ck_assert_uint_eq(s.used, 5);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), 1); /* a freed slot is reused first */
	ck_assert_int_eq(pm_swapmap_check(&s), 0);
	for (uint64_t i = 4; i < 100; i++)
		ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), i);
	for (uint64_t i = 102; i < 200; i++)
		ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), i);
	ck_assert_uint_eq(s.used, 200);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), PM_NONE);
	pm_swapmap_free(&s, 150);
	if (!PM_DEBUG)                                       /* (debug builds assert) */
		pm_swapmap_free(&s, 150);                    /* double free is a no-op */
	ck_assert_uint_eq(s.used, 199);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, 7), 150);
	ck_assert_uint_eq(s.nfreed, 0);                      /* reused: nothing to give back */
	ck_assert_int_eq(pm_swapmap_check(&s), 0);
	/* A slot a fork shared: one free per reference, free at the last. */
	ck_assert_uint_eq(pm_swapmap_refs(&s, 150), 1);
	ck_assert_int_eq(pm_swapmap_dup(&s, 150), 0);
	ck_assert_int_eq(pm_swapmap_dup(&s, 150), 0);
	ck_assert_uint_eq(pm_swapmap_refs(&s, 150), 3);
	pm_swapmap_free(&s, 150);
	pm_swapmap_free(&s, 150);
	ck_assert(pm_swapmap_test(&s, 150));
	ck_assert_uint_eq(s.used, 200);
	pm_swapmap_free(&s, 150);
	ck_assert(!pm_swapmap_test(&s, 150));
	ck_assert_uint_eq(s.used, 199);
	ck_assert_int_eq(pm_swapmap_check(&s), 0);
}
END_TEST

/* Freed slots keep their blocks until taken, run by run, lowest first. */
START_TEST(swapmap_freed_runs)
{
	static uint64_t mem[8 + 100 + 50];
	uint64_t start, len;
	pm_swapmap_t s;

	pm_swapmap_init(&s, 200, mem, 1);
	ck_assert_ptr_nonnull(s.sums);
	for (uint64_t i = 0; i < 200; i++)
		ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), i);
	pm_swapmap_set_sum(&s, 199, 0xE3069283u);
	ck_assert_uint_eq(pm_swapmap_sum(&s, 199), 0xE3069283u);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 0);
	for (uint64_t i = 64; i < 192; i++)
		pm_swapmap_free(&s, i);
	pm_swapmap_free(&s, 30);
	for (uint64_t i = 19; i >= 10; i--)
		pm_swapmap_free(&s, i);
	pm_swapmap_free(&s, 199);
	ck_assert_uint_eq(s.nfreed, 140);
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), 10); /* takes its slot out of the freed */
	ck_assert_uint_eq(s.nfreed, 139);
	ck_assert_int_eq(pm_swapmap_check(&s), 0);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 1);
	ck_assert_uint_eq(start, 11);
	ck_assert_uint_eq(len, 9);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 1);
	ck_assert_uint_eq(start, 30);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 1);
	ck_assert_uint_eq(start, 64);                        /* at most max a run */
	ck_assert_uint_eq(len, 100);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 1);
	ck_assert_uint_eq(start, 164);
	ck_assert_uint_eq(len, 28);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 1);
	ck_assert_uint_eq(start, 199);                       /* the last slot, alone */
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(pm_swapmap_take_freed(&s, 100, &start, &len), 0);
	ck_assert_uint_eq(s.nfreed, 0);
	ck_assert_uint_eq(s.used, 61);
	ck_assert_int_eq(pm_swapmap_check(&s), 0);
	/* Taken freed slots are free slots: the lowest goes first. */
	ck_assert_uint_eq(pm_swapmap_alloc(&s, PM_NONE), 11);
	s.freed[0] |= 1ULL << 11;                            /* corrupt: checker notices */
	ck_assert_int_eq(pm_swapmap_check(&s), -1);
}
END_TEST

/* CRC-32C: the standard check values, and the fast ways (the crc32
 * instruction's three streams, AVX-512 folding, as the CPU has them) agree
 * with the tables at every length and alignment around the block sizes. */
START_TEST(crc32c_known_and_both_ways)
{
	static unsigned char buf[3 * 4096 + 64];
	uint64_t x = 1;

	ck_assert_uint_eq(pm_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(pm_crc32c_table(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(pm_crc32c(0, "", 0), 0);
	memset(buf, 0, 32);
	ck_assert_uint_eq(pm_crc32c(0, buf, 32), 0x8A9136AAu);  /* RFC 3720 B.4: 32 zero bytes */
	memset(buf, 0xff, 32);
	ck_assert_uint_eq(pm_crc32c(0, buf, 32), 0x62A8AB43u);  /* 32 bytes of 0xff */
	ck_assert_uint_eq(pm_crc32c(pm_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (unsigned char)(x >> 56);
	}
	for (int way = pm_crc32c_hw(); way >= 0; way--) {
		ck_assert_int_eq(pm_crc32c_set_hw(way), way);
		for (size_t off = 0; off < 9; off++)
			for (size_t len = 0; len <= 3 * 4096; len += len < 1024 ? 1 : len % 1360 == 0 ? 7 : 61) {
				uint32_t hw = pm_crc32c(0x1234567u, buf + off, len);
				uint32_t sw = pm_crc32c_table(0x1234567u, buf + off, len);
				ck_assert_msg(hw == sw, "off %zu len %zu: %08x (way %d) != %08x (tables)", off, len, hw, way, sw);
			}
		ck_assert_uint_eq(pm_crc32c(0, buf, 4096), pm_crc32c_table(0, buf, 4096));
		ck_assert_uint_eq(pm_crc32c(0, buf, 4080), pm_crc32c_table(0, buf, 4080));
		ck_assert_uint_eq(pm_crc32c(0, "123456789", 9), 0xE3069283u);
	}
	pm_crc32c_set_hw(2);
}
END_TEST

START_TEST(frames_fill_in_order)
{
	static uint64_t mem[64];
	pm_frames_t ft;

	ck_assert_uint_le(pm_frames_mem_size(4), sizeof(mem));
	pm_frames_init(&ft, 4, mem);
	ck_assert_int_eq(pm_frames_check(&ft), 0);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_uint_eq(pm_frames_pop(&ft), i);
	ck_assert_uint_eq(pm_frames_pop(&ft), PM_NONE);
	ck_assert_int_eq(pm_frames_check(&ft), 0);
	pm_frames_push(&ft, 2);
	ck_assert_uint_eq(ft.f[2].state, PM_FRAME_FREE);
	ck_assert_uint_eq(pm_frames_pop(&ft), 2);
	ck_assert_uint_eq(ft.f[2].state, PM_FRAME_USED);
	ft.f[3].state = PM_FRAME_FREE;                       /* corrupt: checker notices */
	ck_assert_int_eq(pm_frames_check(&ft), -1);
}
END_TEST

/* The table is set up lazily (fresh frames are not on the stack until a
 * claim out of turn needs them there): every pop, push and claim gives
 * what a table with every frame on its stack from the start gives. */
START_TEST(frames_lazy_as_eager)
{
	enum { N = 64 };
	static uint64_t mem[N * 16];
	uint32_t ref[N], rn = N;                 /* the eager stack: top = ref[rn - 1] */
	uint8_t used[N] = { 0 };
	pm_frames_t ft;
	uint64_t x = 7;

	ck_assert_uint_le(pm_frames_mem_size(N), sizeof(mem));
	pm_frames_init(&ft, N, mem);
	for (uint32_t i = 0; i < N; i++)
		ref[i] = N - 1 - i;
	for (int step = 0; step < 20000; step++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned op = (unsigned)(x >> 60) % 4, pick = (unsigned)(x >> 33) % N;
		if (op == 0) {                                   /* pop */
			uint64_t want = rn ? ref[--rn] : PM_NONE;
			ck_assert_uint_eq(pm_frames_next(&ft), want);
			ck_assert_uint_eq(pm_frames_pop(&ft), want);
			if (want != PM_NONE) {
				ck_assert_uint_eq(ft.f[want].vpn, PM_NONE);
				ck_assert_uint_eq(ft.f[want].slot, PM_NONE);
				used[want] = 1;
			}
		} else if (op == 1) {                            /* push a used frame */
			if (!used[pick])
				continue;
			pm_frames_push(&ft, pick);
			ref[rn++] = pick;
			used[pick] = 0;
		} else {                                         /* claim one (free or not) */
			uint32_t at = 0;
			while (at < rn && ref[at] != pick)
				at++;
			if (at == rn) {
				ck_assert_int_eq(pm_frames_claim(&ft, pick), -1);
				continue;
			}
			ck_assert_int_eq(pm_frames_claim(&ft, pick), 0);
			ref[at] = ref[rn - 1];                   /* the top into its place */
			rn--;
			used[pick] = 1;
		}
		ck_assert_uint_eq(ft.nfree, rn);
		if (step % 512 == 0)
			ck_assert_int_eq(pm_frames_check(&ft), 0);
	}
	ck_assert_int_eq(pm_frames_check(&ft), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("pagetable");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, geometry);
	tcase_add_test(tc, insert_walk_remove);
	tcase_add_test(tc, arena_exhaustion);
	tcase_add_test(tc, swapmap_first_fit_and_hint);
	tcase_add_test(tc, swapmap_freed_runs);
	tcase_add_test(tc, crc32c_known_and_both_ways);
	tcase_add_test(tc, frames_fill_in_order);
	tcase_add_test(tc, frames_lazy_as_eager);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
