/* test_swap.c - the swap file over real io_uring I/O: its space and its
 * integrity.
 *
 * Space: on a small file system (a tmpfs of 4 MiB, mounted by the test in
 * a mount namespace of its own: root only), a program that thrashes far
 * more data over its lifetime than the file system holds runs to the end,
 * because freed slots are reused first and their blocks are given back;
 * one that needs more live swap than the file system holds dies of SIGBUS
 * saying that the file system is full (not "I/O error"). Out of slots
 * instead, the SIGBUS says to raise PAGEMU_SWAP_SIZE.
 *
 * Integrity: a slot overwritten behind pagemu's back fails its checksum on
 * swap-in: SIGBUS naming the slot and the page; as a readahead page, it is
 * dropped from the cluster and the SIGBUS comes when it is touched. A
 * thrash with readahead passes every checksum. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "testutil.h"

#define WORDS 512                        /* uint64_t per 4 KiB page */
#define PAGE  4096
#define FS_SIZE (4u << 20)               /* the small file system */

static pagemu_t *open_vm(size_t frames, unsigned readahead, const char *dir, int checksum)
{
	pagemu_config_t cfg;
	pagemu_t *vm = NULL;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	cfg.readahead = readahead;
	cfg.swap_checksum = checksum;
	if (dir)
		snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "%s", dir);
	ck_assert_msg(pagemu_open(&cfg, &vm) == 0, "open: %s", pagemu_last_error());
	return vm;
}

static volatile uint64_t *map_pages(pagemu_t *vm, size_t pages)
{
	void *p = pagemu_map(vm, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void fill(volatile uint64_t *a, size_t pages, uint64_t round)
{
	for (size_t p = 0; p < pages; p++) {
		a[p * WORDS] = pm_test_pattern(p, round);
		a[p * WORDS + WORDS - 1] = ~pm_test_pattern(p, round);
	}
}

static void verify(volatile uint64_t *a, size_t p, uint64_t round)
{
	ck_assert_msg(a[p * WORDS] == pm_test_pattern(p, round), "page %zu head (round %llu)", p,
		      (unsigned long long)round);
	ck_assert_msg(a[p * WORDS + WORDS - 1] == ~pm_test_pattern(p, round), "page %zu tail", p);
}

static uint64_t slot_of(pagemu_t *vm, volatile uint64_t *a, size_t p)
{
	pagemu_xlate_t x;

	ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)&a[p * WORDS], PROT_READ, &x), 0);
	ck_assert_msg(x.swapped, "page %zu is not in swap", p);
	return x.swap_slot;
}

/* ---- dying of SIGBUS with a message ------------------------------------------ */

/* These tests run under tcase_add_test_raise_signal(..., SIGBUS): they pass
 * when the process dies of SIGBUS. Before the access that must die,
 * expect_sigbus_saying() sends stderr to a memory file and installs a
 * SIGBUS handler that reads what pagemu said: when it holds `says` (and
 * not `not_says`), the handler restores the default action and the access
 * restarts into the real SIGBUS; otherwise it prints what was said and
 * exits 1, and the test fails. */
static int err_fd = -1, saved_stderr = -1;
static const char *says, *not_says;

static void on_sigbus(int sig)
{
	char buf[8192];
	ssize_t n = pread(err_fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = 0;
	if (strstr(buf, says) && !(not_says && strstr(buf, not_says))) {
		signal(sig, SIG_DFL);
		return;
	}
	dprintf(saved_stderr, "SIGBUS, but stderr \"%s\" lacks \"%s\"%s%s\n", buf, says,
		not_says ? " or has " : "", not_says ? not_says : "");
	_exit(1);
}

static void expect_sigbus_saying(const char *msg, const char *not_msg)
{
	static char copy[512];

	snprintf(copy, sizeof(copy), "%s", msg);
	says = copy;
	not_says = not_msg;
	err_fd = memfd_create("stderr", 0);
	ck_assert_int_ge(err_fd, 0);
	saved_stderr = dup(2);
	dup2(err_fd, 2);
	signal(SIGBUS, on_sigbus);
}

/* ---- a small file system ------------------------------------------------------- */

static char fs_dir[64];                  /* made by the unchecked fixture, in the runner */
static char fs_skip[200];                /* why the space tests cannot run, "" = they can */

static void fs_dir_make(void)
{
	snprintf(fs_dir, sizeof(fs_dir), "/tmp/pagemu-test-swapfs-XXXXXX");
	if (!mkdtemp(fs_dir))
		fs_dir[0] = 0;
}

static void fs_dir_remove(void)
{
	if (fs_dir[0])
		rmdir(fs_dir);
}

/* In this (forked) test process: a mount namespace of its own, and a
 * tmpfs of FS_SIZE on fs_dir in it. Gone when the process ends, however
 * it ends. 0, or -errno with fs_skip saying what failed. */
static int fs_mount(void)
{
	char opts[32];

	if (geteuid() != 0) {
		snprintf(fs_skip, sizeof(fs_skip), "not root (a small file system must be mounted)");
		return -EPERM;
	}
	if (!fs_dir[0]) {
		snprintf(fs_skip, sizeof(fs_skip), "mkdtemp in /tmp: %s", strerror(errno));
		return -ENOENT;
	}
	snprintf(opts, sizeof(opts), "size=%u", FS_SIZE);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("pagemu-test", fs_dir, "tmpfs", 0, opts) < 0) {
		snprintf(fs_skip, sizeof(fs_skip), "cannot mount a tmpfs of %u bytes on %s: %s", FS_SIZE, fs_dir,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

/* Can the space tests run here? Asked in a child, so that the runner's own
 * mounts stay as they are. */
static int fs_usable(void)
{
	int fds[2], st;
	pid_t pid;

	fs_dir_make();
	if (pipe(fds) < 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		int rc = fs_mount();
		if (rc < 0 && write(fds[1], fs_skip, strlen(fs_skip)) < 0)
			_exit(2);
		_exit(rc < 0);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], fs_skip, sizeof(fs_skip) - 1);
	fs_skip[n > 0 ? n : 0] = 0;
	close(fds[0]);
	fs_dir_remove();
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static uint64_t fs_free(void)
{
	struct statvfs sv;

	ck_assert_int_eq(statvfs(fs_dir, &sv), 0);
	return (uint64_t)sv.f_bfree * sv.f_frsize;
}

/* ---- swap space ------------------------------------------------------------------ */

/* 3 MiB of pages over 256 KiB of frames, in a file system of 4 MiB: each
 * round puts 2.75 MiB in swap. Sixteen rounds - rewriting the region in
 * place (every page's slot freed and a new one taken), or unmapping it and
 * mapping a new one - write 44 MiB over the swap file's life, eleven times
 * what the file system holds. */
START_TEST(test_swap_thrash_reuses_space)
{
	enum { FRAMES = 64, PAGES = 768 };
	pagemu_t *vm;
	volatile uint64_t *a;
	pagemu_stats_t s;

	ck_assert_msg(fs_mount() == 0, "%s", fs_skip);
	vm = open_vm(FRAMES, 8, fs_dir, 1);
	a = map_pages(vm, PAGES);
	for (uint64_t round = 0; round < 16; round++) {
		if (round % 4 == 3) {
			ck_assert_int_eq(pagemu_unmap(vm, (void *)a, PAGES * PAGE), 0);
			a = map_pages(vm, PAGES);
		}
		fill(a, PAGES, round);
		for (size_t p = 0; p < PAGES; p++)
			verify(a, p, round);
	}
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.writebacks, 10 * (PAGES - FRAMES));  /* 27 MiB at least */
	ck_assert_uint_eq(s.swap_checksum_errors, 0);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	pagemu_close(vm);
}
END_TEST

/* Unmapping gives the blocks back: the file system is (nearly) as free as
 * before, and a second instance can use the space the first one used. */
START_TEST(test_swap_unmap_gives_blocks_back)
{
	enum { FRAMES = 64, PAGES = 768 };
	pagemu_t *vm, *vm2;
	volatile uint64_t *a, *b;
	uint64_t before, full;
	pagemu_stats_t s;

	ck_assert_msg(fs_mount() == 0, "%s", fs_skip);
	before = fs_free();
	vm = open_vm(FRAMES, 8, fs_dir, 1);
	a = map_pages(vm, PAGES);
	fill(a, PAGES, 0);
	full = fs_free();
	ck_assert_uint_le(full, before - (PAGES - FRAMES - 64) * PAGE);     /* the swap holds blocks */
	ck_assert_int_eq(pagemu_unmap(vm, (void *)a, PAGES * PAGE), 0);
	ck_assert_msg(fs_free() >= before - 64 * PAGE, "free %llu after the unmap, %llu before",
		      (unsigned long long)fs_free(), (unsigned long long)before);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.swap_released, PAGES - FRAMES - 64);
	ck_assert_uint_eq(s.swap_used, 0);

	vm2 = open_vm(FRAMES, 8, fs_dir, 1);         /* vm stays open */
	b = map_pages(vm2, PAGES);
	fill(b, PAGES, 1);
	for (size_t p = 0; p < PAGES; p++)
		verify(b, p, 1);
	pagemu_close(vm2);
	pagemu_close(vm);
}
END_TEST

/* 8 MiB live in swap, on 4 MiB: the fault that cannot be served dies of
 * SIGBUS saying the file system is full. */
START_TEST(test_swap_fs_full_sigbus)
{
	enum { FRAMES = 64, PAGES = 2048 };
	pagemu_t *vm;
	volatile uint64_t *a;

	ck_assert_msg(fs_mount() == 0, "%s", fs_skip);
	vm = open_vm(FRAMES, 8, fs_dir, 1);
	a = map_pages(vm, PAGES);
	expect_sigbus_saying("no space left on the swap file's filesystem (PAGEMU_SWAP_DIR)", "I/O error");
	fill(a, PAGES, 0);
}
END_TEST

/* Every slot in use (a swap file of 32 pages), on a file system with room:
 * the SIGBUS says to raise PAGEMU_SWAP_SIZE, not that the disk is full. */
START_TEST(test_swap_slots_full_sigbus)
{
	pagemu_config_t cfg;
	pagemu_t *vm;
	volatile uint64_t *a;

	pagemu_config_default(&cfg);
	cfg.frames = 16;
	cfg.swap_size = 32 * PAGE;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	a = map_pages(vm, 64);
	expect_sigbus_saying("swap full: raise PAGEMU_SWAP_SIZE", "no space left");
	fill(a, 64, 0);
}
END_TEST

/* ---- checksums ---------------------------------------------------------------------- */

/* 64 pages over 16 frames: most of them in swap, in slots written in
 * order (the hand's), so pages p and p + 1 sit in neighbouring slots. */
static volatile uint64_t *swapped_pages(pagemu_t **vm, unsigned readahead, int checksum)
{
	volatile uint64_t *a;

	*vm = open_vm(16, readahead, NULL, checksum);
	a = map_pages(*vm, 64);
	fill(a, 64, 0);
	return a;
}

static void corrupt_slot(pagemu_t *vm, uint64_t slot)
{
	static const char zeros[PAGE];

	ck_assert_int_eq(pwrite(pm_swapio_fd((struct pagemu *)vm), zeros, PAGE, (off_t)(slot * PAGE)), PAGE);
}

static const char *checksum_message(char *buf, size_t len, uint64_t slot, volatile uint64_t *page)
{
	snprintf(buf, len, "swap slot %llu of the page at %p failed its crc32c", (unsigned long long)slot,
		 (void *)page);
	return buf;
}

/* A device that gives back zeros instead of the page: SIGBUS, naming the
 * slot and the page, never the zeros. */
START_TEST(test_checksum_corrupt_slot_sigbus)
{
	pagemu_t *vm;
	volatile uint64_t *a = swapped_pages(&vm, 1, 1);
	uint64_t slot = slot_of(vm, a, 5);
	char msg[200];

	corrupt_slot(vm, slot);
	verify(a, 4, 0);                             /* its neighbours are fine */
	verify(a, 6, 0);
	expect_sigbus_saying(checksum_message(msg, sizeof(msg), slot, &a[5 * WORDS]), NULL);
	(void)a[5 * WORDS + 3];                      /* SIGBUS */
}
END_TEST

/* The corrupt page comes in as readahead: it is dropped from the cluster
 * (the pages around it are installed), stays in swap, and its own touch
 * is a major fault that dies of SIGBUS. */
START_TEST(test_checksum_readahead_page_dropped)
{
	pagemu_t *vm;
	volatile uint64_t *a = swapped_pages(&vm, 8, 1);
	uint64_t slot = slot_of(vm, a, 11);
	pagemu_stats_t s0, s1;
	pagemu_xlate_t x;
	char msg[200];

	ck_assert_uint_eq(slot_of(vm, a, 10) + 1, slot);
	ck_assert_uint_eq(slot_of(vm, a, 12), slot + 1);
	corrupt_slot(vm, slot);
	pagemu_get_stats(vm, &s0);
	verify(a, 10, 0);                            /* reads 10, 11, 12, ... as one cluster */
	pagemu_get_stats(vm, &s1);
	ck_assert_uint_eq(s1.faults_major - s0.faults_major, 1);
	ck_assert_uint_ge(s1.readahead_pages - s0.readahead_pages, 2);
	ck_assert_uint_eq(s1.swap_checksum_errors - s0.swap_checksum_errors, 1);
	ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)&a[11 * WORDS], PROT_READ, &x), 0);
	ck_assert(x.page_fault && x.swapped && x.swap_slot == slot);   /* not installed */
	ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)&a[12 * WORDS], PROT_READ, &x), 0);
	ck_assert(!x.page_fault);                    /* its neighbour was */
	verify(a, 12, 0);
	pagemu_get_stats(vm, &s0);
	ck_assert_uint_eq(s0.faults_major, s1.faults_major);     /* a readahead hit */
	expect_sigbus_saying(checksum_message(msg, sizeof(msg), slot, &a[11 * WORDS]), NULL);
	(void)a[11 * WORDS];                         /* a major fault: SIGBUS */
}
END_TEST

/* PAGEMU_SWAP_CHECKSUM=0 checks nothing: the zeros come back. (What the
 * checksums are for.) */
START_TEST(test_checksum_off_returns_zeros)
{
	pagemu_t *vm;
	volatile uint64_t *a = swapped_pages(&vm, 1, 0);

	corrupt_slot(vm, slot_of(vm, a, 5));
	ck_assert_uint_eq(a[5 * WORDS], 0);
	pagemu_close(vm);
}
END_TEST

/* Sequential and random passes, rewrites, readahead up to 32 pages: every
 * page read back passes its checksum, readahead pages included. */
START_TEST(test_checksum_thrash_with_readahead)
{
	enum { FRAMES = 64, PAGES = 1024 };
	pagemu_t *vm = open_vm(FRAMES, 32, NULL, 1);
	volatile uint64_t *a = map_pages(vm, PAGES);
	uint64_t round[PAGES] = { 0 }, x = 7;
	pagemu_stats_t s;

	fill(a, PAGES, 0);
	for (int pass = 0; pass < 2; pass++)
		for (size_t p = 0; p < PAGES; p++)
			verify(a, p, 0);
	for (int i = 0; i < 4000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t p = (x >> 33) % PAGES;
		if (i % 3 == 0) {
			round[p]++;
			a[p * WORDS] = pm_test_pattern(p, round[p]);
			a[p * WORDS + WORDS - 1] = ~pm_test_pattern(p, round[p]);
		} else {
			verify(a, p, round[p]);
		}
	}
	for (size_t p = 0; p < PAGES; p++)
		verify(a, p, round[p]);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_eq(s.swap_checksum_errors, 0);
	ck_assert_uint_gt(s.faults_major, PAGES);
	ck_assert_uint_gt(s.readahead_hits, PAGES);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	pagemu_close(vm);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("swap");
	TCase *space = tcase_create("space"), *full = tcase_create("full"), *sum = tcase_create("checksum");

	if (fs_usable()) {
		tcase_add_unchecked_fixture(space, fs_dir_make, fs_dir_remove);
		tcase_set_timeout(space, 120);
		tcase_add_test(space, test_swap_thrash_reuses_space);
		tcase_add_test(space, test_swap_unmap_gives_blocks_back);
		tcase_add_test_raise_signal(space, test_swap_fs_full_sigbus, SIGBUS);
		suite_add_tcase(s, space);
	} else {
		fprintf(stderr, "test_swap: the swap space tests are skipped: %s\n", fs_skip);
	}
	tcase_add_test_raise_signal(full, test_swap_slots_full_sigbus, SIGBUS);
	suite_add_tcase(s, full);
	tcase_set_timeout(sum, 60);
	tcase_add_test_raise_signal(sum, test_checksum_corrupt_slot_sigbus, SIGBUS);
	tcase_add_test_raise_signal(sum, test_checksum_readahead_page_dropped, SIGBUS);
	tcase_add_test(sum, test_checksum_off_returns_zeros);
	tcase_add_test(sum, test_checksum_thrash_with_readahead);
	suite_add_tcase(s, sum);
	return s;
}

PM_TEST_MAIN(make_suite)
