/* test_fork.c - after fork() parent and child each see a private, correct
 * copy of emulated memory, including pages that were in swap at the fork
 * and pages the other side writes later. */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "testutil.h"

#define WORDS 512
enum { FRAMES = 64, PAGES = 512 };

static pagemu_t *vm;
static volatile uint64_t *a;

static pagemu_stats_t stats(void)
{
	pagemu_stats_t s;

	pagemu_get_stats(vm, &s);
	return s;
}

static void setup(void)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.frames = FRAMES;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	a = pagemu_map(vm, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((const void *)a);
	for (size_t p = 0; p < PAGES; p++)          /* most pages end up in swap */
		a[p * WORDS] = pm_test_pattern(p, 0);
	ck_assert_uint_ge(stats().evictions, PAGES - FRAMES);
	ck_assert_uint_ge(stats().swap_used, PAGES - FRAMES);
}

static int all_are(uint64_t round)
{
	for (size_t p = 0; p < PAGES; p++)
		if (a[p * WORDS] != pm_test_pattern(p, round))
			return 0;
	return 1;
}

static int wait_child(pid_t pid)
{
	int st = 0;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The child sees everything the parent wrote, then writes its own: the
 * parent sees none of it. */
START_TEST(test_child_writes_parent_checks)
{
	pid_t pid;

	setup();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uint64_t before = stats().swap_read_pages;
		if (!all_are(0))
			_exit(1);
		/* The pages in swap at the fork came back from the child's copy
		 * of the swap (mostly by readahead). */
		if (stats().swap_read_pages - before < PAGES - FRAMES)
			_exit(5);
		for (size_t p = 0; p < PAGES; p++)
			a[p * WORDS] = pm_test_pattern(p, 1);
		_exit(all_are(1) ? 0 : 2);
	}
	ck_assert_int_eq(wait_child(pid), 0);
	ck_assert(all_are(0));
	pagemu_close(vm);
}
END_TEST

/* The parent writes after the fork while the child waits; the child still
 * sees the values of the fork. */
START_TEST(test_parent_writes_child_checks)
{
	int go[2];
	pid_t pid;
	char c = 0;

	setup();
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(all_are(0) ? 0 : 1);
	}
	close(go[0]);
	for (size_t p = 0; p < PAGES; p++)
		a[p * WORDS] = pm_test_pattern(p, 2);
	ck_assert(all_are(2));
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	close(go[1]);
	ck_assert_int_eq(wait_child(pid), 0);
	ck_assert(all_are(2));
	pagemu_close(vm);
}
END_TEST

/* A child that forks again, and two children at once. */
START_TEST(test_fork_twice)
{
	pid_t p1, p2;

	setup();
	p1 = fork();
	if (p1 == 0) {
		for (size_t p = 0; p < PAGES; p += 2)
			a[p * WORDS] = pm_test_pattern(p, 5);
		pid_t g = fork();
		if (g == 0)
			_exit(a[2 * WORDS] == pm_test_pattern(2, 5) && a[WORDS] == pm_test_pattern(1, 0) ? 0 : 1);
		int st;
		waitpid(g, &st, 0);
		_exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4);
	}
	p2 = fork();
	if (p2 == 0)
		_exit(all_are(0) ? 0 : 1);
	ck_assert_int_eq(wait_child(p1), 0);
	ck_assert_int_eq(wait_child(p2), 0);
	ck_assert(all_are(0));
	pagemu_close(vm);
}
END_TEST

/* Pages of [p, p + len) in memory (mincore). */
static size_t resident_pages(const void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095, hi = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
	static unsigned char vec[1 << 16];
	size_t n = 0;

	ck_assert_uint_le((hi - lo) / 4096, sizeof(vec));
	ck_assert_int_eq(mincore((void *)lo, hi - lo, vec), 0);
	for (size_t i = 0; i < (hi - lo) / 4096; i++)
		n += vec[i] & 1;
	return n;
}

/* A fork costs the memory in use, not the pool's size: with a 1 GiB pool
 * (262,144 frames) and 100 pages in use, neither the instance's set-up
 * nor the fork (the parent's copy, the child's adoption) touches the
 * frame table past the frames handed out: 2 of its 3,584 pages. */
START_TEST(test_fork_costs_memory_in_use)
{
	pagemu_config_t cfg;
	pagemu_t *big;
	volatile uint64_t *b;
	struct pagemu *m;
	size_t len;
	pid_t pid;

	pagemu_config_default(&cfg);
	cfg.frames = 1u << 18;
	ck_assert_int_eq(pagemu_open(&cfg, &big), 0);
	m = (struct pagemu *)big;
	len = m->nframes * sizeof(pm_frame_t);
	b = pagemu_map(big, 100 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((const void *)b);
	for (size_t p = 0; p < 100; p++)
		b[p * WORDS] = pm_test_pattern(p, 0);
	ck_assert_uint_le(resident_pages(m->frames.f, len), 4);
	pid = fork();
	if (pid == 0) {
		int ok = resident_pages(m->frames.f, len) <= 4;
		for (size_t p = 0; p < 100; p++)
			ok &= b[p * WORDS] == pm_test_pattern(p, 0);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(wait_child(pid), 0);
	ck_assert_uint_le(resident_pages(m->frames.f, len), 4);
	pagemu_close(big);
}
END_TEST

/* Debug and sanitizer builds: the invariant checkers after every fault. */
__attribute__((constructor)) static void ask_for_checks(void)
{
	setenv("PAGEMU_CHECK", "1", 0);
}

static Suite *make_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("fork");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_child_writes_parent_checks);
	tcase_add_test(tc, test_parent_writes_child_checks);
	tcase_add_test(tc, test_fork_twice);
	tcase_add_test(tc, test_fork_costs_memory_in_use);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
