/* test_space.c - address spaces over one frame pool (issue 11): several
 * spaces with different contents at the same addresses, the switch (CR3),
 * fork with copy-on-write and pages in swap, exec (reset), a tagged TLB,
 * local replacement, working sets and load control, and bad use. Every
 * page is checked after eviction and swap-in; the engine's invariant
 * checker runs between steps. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <time.h>

#include "engine/engine.h"
#include "nbdkit.h"
#include "testutil.h"

#define PG 4096

static pagemu_t *open_vm(size_t frames, int exact, int asid)
{
	pagemu_config_t cfg;
	pagemu_t *vm;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	cfg.swap_size = 64 << 20;
	cfg.tlb_exact = exact;
	cfg.tlb_asid = asid;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	return vm;
}

static void check_invariants(pagemu_t *vm)
{
	pm_lock(vm);
	ck_assert_int_eq(pm_mmu_check(vm), 0);
	pm_unlock(vm);
}

static void fill(volatile uint64_t *a, size_t pages, uint64_t tag)
{
	for (size_t i = 0; i < pages; i++)
		a[i * (PG / 8)] = pm_test_pattern(i, tag);
}

static size_t mismatches(volatile uint64_t *a, size_t pages, uint64_t tag)
{
	size_t bad = 0;

	for (size_t i = 0; i < pages; i++)
		bad += a[i * (PG / 8)] != pm_test_pattern(i, tag);
	return bad;
}

static void switch_to(pagemu_t *vm, pagemu_space_t *sp)
{
	ck_assert_int_eq(pagemu_space_switch(vm, sp), 0);
	ck_assert_ptr_eq(pagemu_space_current(vm), sp);
}

static pagemu_space_stats_t space_stats(pagemu_space_t *sp)
{
	pagemu_space_stats_t st;

	ck_assert_int_eq(pagemu_space_stats(sp, &st), 0);
	return st;
}

/* Two spaces, 256 pages each at the same addresses, over 64 frames:
 * switched back and forth, each rewritten and checked every round, while
 * CLOCK evicts both spaces' pages. */
START_TEST(two_spaces_same_addresses)
{
	pagemu_t *vm = open_vm(64, 0, 0);
	pagemu_space_t *a = pagemu_space_current(vm), *b;
	const size_t pages = 256;
	pagemu_stats_t s;

	ck_assert_uint_eq(pagemu_space_id(a), 0);
	ck_assert_int_eq(pagemu_space_new(vm, &b), 0);
	ck_assert_uint_eq(pagemu_space_id(b), 1);
	ck_assert_ptr_eq(pagemu_space_vm(b), vm);
	volatile uint64_t *p = pagemu_map(vm, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((void *)p);
	ck_assert_ptr_eq(pagemu_space_map(b, (void *)p, pages * PG, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), (void *)p);
	fill(p, pages, 100);
	for (uint64_t round = 0; round < 4; round++) {
		switch_to(vm, b);
		if (round)
			ck_assert_uint_eq(mismatches(p, pages, 200 + round - 1), 0);
		fill(p, pages, 200 + round);
		check_invariants(vm);
		switch_to(vm, a);
		ck_assert_uint_eq(mismatches(p, pages, 100 + round), 0);
		fill(p, pages, 100 + round + 1);
		check_invariants(vm);
	}
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.space_switches, 8);
	ck_assert_uint_eq(s.tlb_flushes, 8);
	ck_assert_uint_eq(s.spaces, 2);
	ck_assert_uint_gt(s.faults_major, 0);
	ck_assert_uint_eq(s.resident, 64);
	/* Each space faulted its own pages in: zero fills once each. */
	ck_assert_uint_eq(space_stats(a).faults_zero, pages);
	ck_assert_uint_eq(space_stats(b).faults_zero, pages);
	ck_assert_uint_eq(space_stats(a).resident + space_stats(b).resident, 64);
	ck_assert_uint_eq(space_stats(b).quanta, 4);
	ck_assert_int_eq(space_stats(a).current, 1);
	/* b's pages, all of them, freed with b. */
	ck_assert_int_eq(pagemu_space_free(b), 0);
	ck_assert_uint_eq(mismatches(p, pages, 104), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.spaces, 1);
	ck_assert_uint_eq(space_stats(a).resident, 64);
	check_invariants(vm);
	/* a's go with its region: not a frame nor a slot left. */
	ck_assert_int_eq(pagemu_unmap(vm, (void *)p, pages * PG), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.resident, 0);
	ck_assert_uint_eq(s.swap_used, 0);
	pagemu_close(vm);
}
END_TEST

/* A region only another space maps is not the current space's memory: a
 * touch is the program's SIGSEGV, as a process touching memory it never
 * mapped. */
START_TEST(other_space_memory_faults)
{
	pagemu_t *vm = open_vm(64, 0, 0);
	pagemu_space_t *b;
	int status;

	ck_assert_int_eq(pagemu_space_new(vm, &b), 0);
	volatile char *q = pagemu_space_map(b, NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((void *)q);
	pid_t pid = fork();
	if (pid == 0) {
		q[0] = 1;
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	switch_to(vm, b);
	q[0] = 7;                                 /* its own: served */
	ck_assert_int_eq(q[0], 7);
	switch_to(vm, pagemu_space_current(vm) == b ? pagemu_space_current(vm) : b);
	pagemu_close(vm);
}
END_TEST

/* fork, scripted: the copy-on-write faults and reuses counted exactly. */
START_TEST(fork_cow_counts_exact)
{
	pagemu_t *vm = open_vm(64, 0, 0);
	pagemu_space_t *parent = pagemu_space_current(vm), *child;
	volatile uint64_t *p = pagemu_map(vm, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pagemu_stats_t s;

	fill(p, 8, 1);
	ck_assert_int_eq(pagemu_space_fork(parent, &child), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.space_forks, 1);
	ck_assert_uint_eq(s.shared_frames, 8);
	ck_assert_uint_eq(s.resident, 8);
	check_invariants(vm);
	/* 1. The parent writes page 0: a copy (the child still shares it). */
	p[0] = 1000;
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_cow, 1);
	ck_assert_uint_eq(s.cow_reuses, 0);
	ck_assert_uint_eq(s.resident, 9);
	/* 2. The child reads page 0 (the old value) and writes it: it is its
	 * page alone now, written in place. */
	switch_to(vm, child);
	ck_assert_uint_eq(p[0], pm_test_pattern(0, 1));
	p[0] = 2000;
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_cow, 2);
	ck_assert_uint_eq(s.cow_reuses, 1);
	ck_assert_uint_eq(s.resident, 9);
	/* 3. The child writes page 1: a copy; 4. the parent's write to page 1
	 * then reuses. */
	p[PG / 8] = 2001;
	switch_to(vm, parent);
	ck_assert_uint_eq(p[0], 1000);
	p[PG / 8] = 1001;
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_cow, 4);
	ck_assert_uint_eq(s.cow_reuses, 2);
	ck_assert_uint_eq(s.resident, 10);
	ck_assert_uint_eq(s.shared_frames, 6);
	/* Reads of the shared pages copy nothing. */
	for (size_t i = 2; i < 8; i++)
		ck_assert_uint_eq(p[i * (PG / 8)], pm_test_pattern(i, 1));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_cow, 4);
	ck_assert_uint_eq(space_stats(parent).faults_cow, 2);
	ck_assert_uint_eq(space_stats(child).faults_cow, 2);
	switch_to(vm, child);
	ck_assert_uint_eq(p[0], 2000);
	ck_assert_uint_eq(p[PG / 8], 2001);
	check_invariants(vm);
	switch_to(vm, parent);
	for (size_t i = 0; i < 8; i++)           /* every page mapped now */
		ck_assert_uint_eq(p[i * (PG / 8)], i == 0 ? 1000 : i == 1 ? 1001 : pm_test_pattern(i, 1));
	ck_assert_int_eq(pagemu_space_free(child), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.shared_frames, 0);
	ck_assert_uint_eq(s.resident, 8);
	ck_assert_uint_eq(s.mapped, 8);
	/* The child's region went, at the parent's addresses: the parent's
	 * mappings there stay (no fault to read or write them). */
	uint64_t faults = s.faults;
	for (size_t i = 2; i < 8; i++)
		ck_assert_uint_eq(p[i * (PG / 8)], pm_test_pattern(i, 1));
	p[0] = 1002;
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults, faults);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* fork write-protects the parent's mapped pages, as the kernel's does:
 * its reads go on without a fault; its first write to each is a
 * copy-on-write fault. */
START_TEST(fork_parent_reads_without_fault)
{
	pagemu_t *vm = open_vm(64, 0, 0);
	pagemu_space_t *child;
	volatile uint64_t *p = pagemu_map(vm, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pagemu_stats_t s;

	fill(p, 16, 3);
	ck_assert_int_eq(pagemu_space_fork(pagemu_space_current(vm), &child), 0);
	pagemu_get_stats(vm, &s);
	uint64_t faults = s.faults;
	ck_assert_uint_eq(mismatches(p, 16, 3), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults, faults);
	ck_assert_uint_eq(s.mapped, 16);
	fill(p, 16, 4);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.faults_cow, 16);
	ck_assert_uint_eq(s.faults, faults + 16);
	switch_to(vm, child);
	ck_assert_uint_eq(mismatches(p, 16, 3), 0);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* fork over a pool 4x too small: pages in swap at the fork are shared by
 * slot; parent, child and grandchild each see only their own writes; and
 * once all are gone, not a frame nor a slot is left. */
START_TEST(fork_with_swap_three_generations)
{
	pagemu_t *vm = open_vm(32, 0, 0);
	pagemu_space_t *g0 = pagemu_space_current(vm), *g1, *g2;
	const size_t pages = 128;
	pagemu_stats_t s;
	volatile uint64_t *p = pagemu_map(vm, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	fill(p, pages, 10);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.swap_used, pages - 32);
	uint64_t slots_before = s.swap_used;
	ck_assert_int_eq(pagemu_space_fork(g0, &g1), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.swap_used, slots_before);        /* shared, not copied */
	check_invariants(vm);
	switch_to(vm, g1);
	ck_assert_uint_eq(mismatches(p, pages, 10), 0);
	fill(p, pages, 11);
	check_invariants(vm);
	ck_assert_int_eq(pagemu_space_fork(g1, &g2), 0);
	switch_to(vm, g0);
	ck_assert_uint_eq(mismatches(p, pages, 10), 0);
	switch_to(vm, g2);
	ck_assert_uint_eq(mismatches(p, pages, 11), 0);
	for (size_t i = 0; i < pages; i += 2)
		p[i * (PG / 8)] = pm_test_pattern(i, 12);
	check_invariants(vm);
	switch_to(vm, g1);
	ck_assert_uint_eq(mismatches(p, pages, 11), 0);
	switch_to(vm, g2);
	for (size_t i = 0; i < pages; i++)
		ck_assert_uint_eq(p[i * (PG / 8)], pm_test_pattern(i, i % 2 ? 11 : 12));
	switch_to(vm, g0);
	ck_assert_uint_eq(mismatches(p, pages, 10), 0);
	ck_assert_int_eq(pagemu_space_free(g1), 0);
	ck_assert_int_eq(pagemu_space_free(g2), 0);
	ck_assert_uint_eq(mismatches(p, pages, 10), 0);
	check_invariants(vm);
	ck_assert_int_eq(pagemu_unmap(vm, (void *)p, pages * PG), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.resident, 0);
	ck_assert_uint_eq(s.swap_used, 0);
	ck_assert_uint_eq(s.frames_free, 32);
	ck_assert_uint_eq(s.shared_frames, 0);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* A shared mapping stays shared across a fork; a reset (exec) drops the
 * private ones and keeps it. */
START_TEST(fork_keeps_shared_reset_drops_private)
{
	pagemu_t *vm = open_vm(64, 0, 0);
	pagemu_space_t *parent = pagemu_space_current(vm), *child;
	volatile uint64_t *sh = pagemu_map(vm, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile uint64_t *pr = pagemu_map(vm, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_nonnull((void *)sh);
	ck_assert_ptr_nonnull((void *)pr);
	sh[0] = 1;
	pr[0] = 1;
	ck_assert_int_eq(pagemu_space_fork(parent, &child), 0);
	switch_to(vm, child);
	sh[0] = 2;                                /* seen by the parent */
	pr[0] = 2;                                /* not */
	sh[PG / 8] = 3;
	switch_to(vm, parent);
	ck_assert_uint_eq(sh[0], 2);
	ck_assert_uint_eq(sh[PG / 8], 3);
	ck_assert_uint_eq(pr[0], 1);
	ck_assert_uint_eq(space_stats(child).regions, 2);
	ck_assert_int_eq(pagemu_space_reset(child), 0);
	ck_assert_uint_eq(space_stats(child).regions, 1);
	switch_to(vm, child);
	ck_assert_uint_eq(sh[0], 2);
	sh[0] = 4;
	switch_to(vm, parent);
	ck_assert_uint_eq(sh[0], 4);
	ck_assert_uint_eq(pr[0], 1);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* Exact-TLB mode, L1 16 sets x 4 ways, L2 128 x 12. Space A writes 8
 * pages (8 L1 misses, 8 walks), B writes 8 pages at the same addresses
 * (8 more), A reads its 8 again:
 *   ASIDs off: each switch flushes (2 flushes); A's reads miss both
 *     levels: 24 L1 misses, 24 walks, 8 minor faults, no TLB-hit fault.
 *   ASIDs on: A's and B's entries sit side by side (2 ways of each of 8
 *     sets); A's reads hit L1: the real faults (the switch dropped the
 *     mappings) are 8 TLB hits, not page faults; 16 misses, 16 walks. */
static void asid_script(int asid, uint64_t *misses_l1, uint64_t *walks, uint64_t *flushes, uint64_t *hit_faults,
			uint64_t *minor)
{
	pagemu_t *vm = open_vm(256, 1, asid);
	pagemu_space_t *a = pagemu_space_current(vm), *b;
	pagemu_stats_t s;

	ck_assert_int_eq(pagemu_space_new(vm, &b), 0);
	volatile uint64_t *p = pagemu_map(vm, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_eq(pagemu_space_map(b, (void *)p, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
					  -1, 0), (void *)p);
	fill(p, 8, 1);
	switch_to(vm, b);
	fill(p, 8, 2);
	switch_to(vm, a);
	ck_assert_uint_eq(mismatches(p, 8, 1), 0);
	pagemu_get_stats(vm, &s);
	*misses_l1 = s.tlb_misses_l1;
	*walks = s.page_walks;
	*flushes = s.tlb_flushes;
	*hit_faults = s.tlb_hit_faults;
	*minor = s.faults_minor;
	switch_to(vm, b);
	ck_assert_uint_eq(mismatches(p, 8, 2), 0);
	check_invariants(vm);
	switch_to(vm, a);
	ck_assert_int_eq(pagemu_space_free(b), 0);
	pagemu_close(vm);
}

START_TEST(tlb_asid_off_flushes)
{
	uint64_t m, w, f, h, minor;

	asid_script(0, &m, &w, &f, &h, &minor);
	ck_assert_uint_eq(m, 24);
	ck_assert_uint_eq(w, 24);
	ck_assert_uint_eq(f, 2);
	ck_assert_uint_eq(h, 0);
	ck_assert_uint_eq(minor, 8);
}
END_TEST

START_TEST(tlb_asid_on_keeps_entries)
{
	uint64_t m, w, f, h, minor;

	asid_script(1, &m, &w, &f, &h, &minor);
	ck_assert_uint_eq(m, 16);
	ck_assert_uint_eq(w, 16);
	ck_assert_uint_eq(f, 0);
	ck_assert_uint_eq(h, 8);
	ck_assert_uint_eq(minor, 0);
}
END_TEST

/* Local replacement: a space at its quota evicts its own pages only. */
START_TEST(quota_is_local_replacement)
{
	pagemu_t *vm = open_vm(64, 0, 0);
	pagemu_space_t *a = pagemu_space_current(vm), *b;

	ck_assert_int_eq(pagemu_space_new(vm, &b), 0);
	ck_assert_int_eq(pagemu_space_set_quota(a, 16), 0);
	ck_assert_int_eq(pagemu_space_set_quota(a, 65), -EINVAL);
	volatile uint64_t *p = pagemu_map(vm, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_eq(pagemu_space_map(b, (void *)p, 32 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
					  -1, 0), (void *)p);
	switch_to(vm, b);
	fill(p, 32, 2);
	switch_to(vm, a);
	for (int pass = 0; pass < 3; pass++) {
		fill(p, 64, 1);
		ck_assert_uint_eq(mismatches(p, 64, 1), 0);
	}
	ck_assert_uint_eq(space_stats(a).resident, 16);
	ck_assert_uint_eq(space_stats(b).resident, 32);
	ck_assert_uint_eq(space_stats(b).evictions, 0);
	ck_assert_uint_gt(space_stats(a).evictions, 0);
	switch_to(vm, b);
	ck_assert_uint_eq(mismatches(p, 32, 2), 0);
	ck_assert_uint_eq(space_stats(b).faults_major, 0);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* Load control on 64 frames, three spaces each mapping 40 pages at the
 * same address: the instance in *vm, the spaces in sp[], the address. */
static volatile uint64_t *three_spaces(pagemu_t **vm, pagemu_space_t *sp[3])
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.frames = 64;
	cfg.swap_size = 64 << 20;
	cfg.load_control = 1;
	ck_assert_int_eq(pagemu_open(&cfg, vm), 0);
	sp[0] = pagemu_space_current(*vm);
	ck_assert_int_eq(pagemu_space_new(*vm, &sp[1]), 0);
	ck_assert_int_eq(pagemu_space_new(*vm, &sp[2]), 0);
	volatile uint64_t *p = pagemu_map(*vm, 40 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 1; i < 3; i++)
		ck_assert_ptr_eq(pagemu_space_map(sp[i], (void *)p, 40 * PG, PROT_READ | PROT_WRITE,
						  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), (void *)p);
	return p;
}

/* Working sets and load control: three spaces, each writing 40 pages a
 * quantum at the same addresses, over 64 frames (ws_tau 1). Load control
 * runs at each switch, on the windows completed so far:
 *   switch to 0: ws 0 0 0        run 0 (its window: 40)
 *   switch to 1: ws 40 0 0       run 1
 *   switch to 2: ws 40 40 0      run 2
 *   switch to 0: 80 > 64: the largest, 0 (first of the equal), suspended,
 *                its pages evicted; 0 refused (-EAGAIN), 2 runs on
 *   switch to 1: ws -  40 0      run 1 (2's window: 40)
 *   switch to 2: 80 > 64: 1 suspended; run 2
 *   switch to 0, to 1: refused
 * Then 2 unmaps its pages and a quantum later its working set is 0: 0
 * (suspended longest) resumes, 1 still does not fit beside it. */
START_TEST(load_control_suspends_and_resumes)
{
	pagemu_t *vm;
	pagemu_space_t *sp[3];
	pagemu_stats_t s;

	volatile uint64_t *p = three_spaces(&vm, sp);
	for (int i = 0; i < 3; i++) {
		switch_to(vm, sp[i]);
		fill(p, 40, (uint64_t)i + 1);
	}
	ck_assert_uint_eq(space_stats(sp[0]).working_set, 40);
	ck_assert_uint_eq(space_stats(sp[1]).working_set, 40);
	ck_assert_int_eq(pagemu_space_switch(vm, sp[0]), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "suspended"));
	ck_assert_ptr_eq(pagemu_space_current(vm), sp[2]);
	ck_assert_int_eq(space_stats(sp[0]).suspended, 1);
	ck_assert_uint_eq(space_stats(sp[0]).resident, 0);           /* swapped out */
	switch_to(vm, sp[1]);
	ck_assert_uint_eq(mismatches(p, 40, 2), 0);
	fill(p, 40, 2);
	switch_to(vm, sp[2]);
	ck_assert_int_eq(space_stats(sp[1]).suspended, 1);
	ck_assert_uint_eq(mismatches(p, 40, 3), 0);
	ck_assert_int_eq(pagemu_space_switch(vm, sp[0]), -EAGAIN);
	ck_assert_int_eq(pagemu_space_switch(vm, sp[1]), -EAGAIN);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.load_suspends, 2);
	ck_assert_uint_eq(s.load_resumes, 0);
	/* 2's working set goes: 0 resumes, its pages intact from swap. */
	ck_assert_int_eq(pagemu_unmap(vm, (void *)p, 40 * PG), 0);
	switch_to(vm, sp[2]);                    /* a quantum that touches nothing */
	ck_assert_uint_eq(space_stats(sp[2]).working_set, 0);
	switch_to(vm, sp[0]);
	ck_assert_uint_eq(mismatches(p, 40, 1), 0);
	ck_assert_int_eq(space_stats(sp[1]).suspended, 1);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.load_resumes, 1);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* No space starves: three spaces whose working sets never shrink, one
 * fits at a time; a round-robin scheduler that skips the suspended ones
 * still runs each of them again and again (a suspended space changes
 * places with the one admitted longest ago after 4 switches per running
 * space), every page intact from swap. */
START_TEST(load_control_rotates)
{
	pagemu_t *vm;
	pagemu_space_t *sp[3];
	int ran[3] = { 0, 0, 0 };
	pagemu_stats_t s;

	volatile uint64_t *p = three_spaces(&vm, sp);
	for (int q = 0; q < 90; q++) {
		int i = q % 3, rc = pagemu_space_switch(vm, sp[i]);
		ck_assert(rc == 0 || rc == -EAGAIN);
		if (rc < 0)
			continue;
		if (ran[i])
			ck_assert_uint_eq(mismatches(p, 40, (uint64_t)(i + 1) * 1000 + (uint64_t)ran[i] - 1), 0);
		fill(p, 40, (uint64_t)(i + 1) * 1000 + (uint64_t)ran[i]);
		ran[i]++;
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(ran[i], 5);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.load_resumes, 3);
	check_invariants(vm);
	pagemu_close(vm);
}
END_TEST

/* Bad use gets a clear error and changes nothing. */
START_TEST(bad_use)
{
	pagemu_t *vm = open_vm(64, 0, 0), *vm2 = open_vm(64, 0, 0);
	pagemu_space_t *a = pagemu_space_current(vm), *b, *c;
	volatile uint64_t *p = pagemu_map(vm, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	fill(p, 4, 1);
	ck_assert_int_eq(pagemu_space_new(vm, &b), 0);
	ck_assert_int_eq(pagemu_space_free(a), -EBUSY);                   /* current */
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "current"));
	ck_assert_int_eq(pagemu_space_switch(vm2, b), -EINVAL);           /* another instance's */
	ck_assert_int_eq(pagemu_space_free(b), 0);
	ck_assert_int_eq(pagemu_space_switch(vm, b), -EINVAL);            /* freed */
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "freed"));
	ck_assert_int_eq(pagemu_space_free(b), -EINVAL);
	ck_assert_int_eq(pagemu_space_fork(b, &c), -EINVAL);
	ck_assert_ptr_null(pagemu_space_map(b, NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pagemu_space_switch(vm, NULL), -EINVAL);
	/* Fixed addresses: a region of the same space there, or something
	 * that is not the instance's, or not aligned. */
	ck_assert_ptr_null(pagemu_space_map(a, (void *)p, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EEXIST);
	void *foreign = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_int_eq(pagemu_space_new(vm, &c), 0);
	ck_assert_ptr_null(pagemu_space_map(c, foreign, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "not the instance's"));
	ck_assert_ptr_null(pagemu_space_map(c, (char *)p + 1, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	munmap(foreign, PG);
	/* A switch with a page pinned (the kernel may be using it). */
	ck_assert_int_eq(pagemu_pin(vm, (void *)p, PG), 0);
	ck_assert_int_eq(pagemu_space_switch(vm, c), -EBUSY);
	ck_assert_int_eq(pagemu_unpin(vm, (void *)p, PG), 0);
	switch_to(vm, c);
	switch_to(vm, a);
	ck_assert_uint_eq(mismatches(p, 4, 1), 0);
	check_invariants(vm);
	pagemu_close(vm2);
	pagemu_close(vm);
}
END_TEST

/* Forking the current space while a fault is in flight (a swap-in whose
 * read an NBD server delays by 600 ms): -EBUSY, a clear message, and the
 * fault completes with its page intact; once it is in, the fork works. */
static volatile uint64_t *inflight_page;
static uint64_t inflight_value;

static void *touch_swapped(void *arg)
{
	PM_UNUSED(arg);
	inflight_value = inflight_page[0];
	return NULL;
}

START_TEST(fork_while_fault_in_flight)
{
	const char *why = nbdkit_missing();
	const char *const args[] = { "--filter=delay", "memory", "64M", "delay-read=600ms", NULL };
	server_t srv = { 0 };
	pagemu_config_t cfg;
	pagemu_t *vm;
	pagemu_space_t *child;
	pthread_t t;

	if (why) {
		PM_TEST_SKIP("%s", why);
		return;
	}
	ck_assert_int_eq(server_start(&srv, "swap", args), 0);
	pagemu_config_default(&cfg);
	cfg.frames = 16;
	cfg.swap_size = 16 << 20;
	cfg.readahead = 1;
	snprintf(cfg.swap, sizeof(cfg.swap), "%s", srv.uri);
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	volatile uint64_t *p = pagemu_map(vm, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fill(p, 64, 5);                          /* page 0 goes to the server */
	inflight_page = p;
	ck_assert_int_eq(pthread_create(&t, NULL, touch_swapped, NULL), 0);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	ck_assert_int_eq(pagemu_space_fork(pagemu_space_current(vm), &child), -EBUSY);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "in flight"));
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(inflight_value, pm_test_pattern(0, 5));
	ck_assert_int_eq(pagemu_space_fork(pagemu_space_current(vm), &child), 0);
	check_invariants(vm);
	pagemu_close(vm);
	server_kill(&srv);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("space");
	TCase *tc = tcase_create("address spaces");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_spaces_same_addresses);
	tcase_add_test(tc, other_space_memory_faults);
	tcase_add_test(tc, fork_cow_counts_exact);
	tcase_add_test(tc, fork_parent_reads_without_fault);
	tcase_add_test(tc, fork_with_swap_three_generations);
	tcase_add_test(tc, fork_keeps_shared_reset_drops_private);
	tcase_add_test(tc, tlb_asid_off_flushes);
	tcase_add_test(tc, tlb_asid_on_keeps_entries);
	tcase_add_test(tc, quota_is_local_replacement);
	tcase_add_test(tc, load_control_suspends_and_resumes);
	tcase_add_test(tc, load_control_rotates);
	tcase_add_test(tc, bad_use);
	tcase_add_test(tc, fork_while_fault_in_flight);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
