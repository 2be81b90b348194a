/* test_preload.c - unmodified programs under `pagemu run` (the LD_PRELOAD
 * shim): their output must equal a native run, with a frame pool well
 * below their peak, and their reports must show faults and evictions (a
 * shim that fell back to glibc's malloc fails). Needs pagemu and the shim
 * of this build and cc for tests/progs (a failure when missing: make check
 * builds and installs them); a test whose optional program (lua5.4) is not
 * installed is skipped. */
#include <stdlib.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "progtest.h"

static char dir[] = "/tmp/pagemu-preload-XXXXXX";
#define sh pt_sh

static void same_output(const char *frames, const char *prog_and_args)
{
	ck_assert_msg(pt_same_output(dir, "", frames, prog_and_args), "output differs under pagemu: %s", prog_and_args);
}

/* The same, and the run faulted and evicted (in every process when
 * all_evict, else in one at least). */
static void same_output_paged(const char *frames, const char *prog_and_args, int all_evict)
{
	same_output(frames, prog_and_args);
	pt_assert_paged(dir, all_evict);
}

static void setup(void)
{
	pt_make_dir(dir, "seq 1 150000 | awk '{print ($1 * 7919) % 150001}' > nums.txt");
	pt_need_pagemu();
}

static void teardown(void)
{
	pt_remove_dir(dir);
}

/* The line of report.json's first process, for its counters. */
static void first_report(char *line, size_t cap)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, (int)cap, f));
	fclose(f);
}

/* pagemu run --mmap: a program's own file mapping (pwrite then read
 * through the map, writes through the map then pread after msync, a
 * private copy, mremap after the file grew, madvise, munmap) is paged by
 * pagemu, four times the pool, with the output of a native run. */
START_TEST(mmap_program)
{
	char line[8192];

	pt_compile(dir, "mmap_file");
	ck_assert_msg(pt_same_output(dir, "PAGEMU_MMAP=1", "64", "./mmap_file . 256"),
		      "output differs under pagemu run --mmap");
	first_report(line, sizeof(line));
	ck_assert_uint_ge(pt_counter(line, "file_read_pages"), 256);
	ck_assert_uint_ge(pt_counter(line, "file_write_pages"), 256);
	ck_assert_uint_eq(pt_counter(line, "faults_cow"), 1);
	ck_assert_uint_gt(pt_counter(line, "evictions"), 512);
	/* Without --mmap the same program runs, its file the kernel's. */
	ck_assert(pt_same_output(dir, "", "64", "./mmap_file . 256"));
	first_report(line, sizeof(line));
	ck_assert_uint_eq(pt_counter(line, "file_read_pages"), 0);
}
END_TEST

/* pagemu run --mmap: shared memory between two processes that each have
 * an instance of their own (shm_open, a second program started with
 * posix_spawn): each sees the other's writes, as natively (a file in
 * memory mapped shared is the kernel's: pagemu's copy of its pages would
 * be one process's alone). */
START_TEST(shm_between_programs)
{
	pt_compile(dir, "shm_ipc");
	ck_assert_msg(pt_same_output(dir, "PAGEMU_MMAP=1", "64", "./shm_ipc"),
		      "output differs under pagemu run --mmap");
}
END_TEST

/* pagemu run --mmap: a program writes a file through a shared mapping and
 * ends without msync or munmap, in every way a process ends that the
 * kernel survives with the writes in its page cache: returning, exit,
 * _exit, an execve, a fatal signal sent (SIGTERM, SIGQUIT, SIGINT from
 * another thread, SIGPIPE), abort, a fault of its own, and SIGTERM left at
 * SIG_DFL after a handler of its own ran (the stand-in is invisible to
 * it). With 64 frames, the last dirty pages are still in the pool at the
 * end: they must reach the file all the same (they were lost before). */
START_TEST(mapped_file_outlives_process)
{
	static const char *const modes[] = { "return", "exit", "_exit", "exec", "term", "quit",
					     "pipe",   "thread", "abort", "segv", "dfl" };
	char cmd[512];

	pt_compile(dir, "mapped_death");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(cmd, sizeof(cmd), "sh -c 'ulimit -c 0; ./mapped_death f.dat %s 2>/dev/null; ./mapped_death f.dat check'",
			 modes[i]);
		ck_assert_msg(pt_same_output(dir, "PAGEMU_MMAP=1", "64", cmd), "%s: the file differs under pagemu run --mmap",
			      modes[i]);
		snprintf(cmd, sizeof(cmd), "grep -q '^pages 256 of 256 written' %s/pagemu.out", dir);
		ck_assert_msg(pt_sh(cmd) == 0, "%s: not every page reached the file", modes[i]);
	}
}
END_TEST

/* A program with an allocator of its own (as rustc links jemalloc in):
 * its set-up maps its arena, which may be the first call pagemu sees;
 * pagemu starts without calling that allocator (own_malloc aborts if it
 * is re-entered), and its report at exit frees nothing of the program's.
 * Without and with --mmap (its arena then emulated memory). */
START_TEST(own_allocator)
{
	char line[8192];

	pt_compile(dir, "own_malloc");
	ck_assert_msg(pt_same_output(dir, "", "64", "./own_malloc"), "output differs under pagemu run");
	ck_assert_msg(pt_same_output(dir, "PAGEMU_MMAP=1", "64", "./own_malloc"),
		      "output differs under pagemu run --mmap");
	first_report(line, sizeof(line));
	ck_assert_uint_gt(pt_counter(line, "faults_zero"), 1000);
}
END_TEST

/* Under a limit on address space (ulimit -v 400 MiB, set before the
 * program's exec): pagemu's reservations (its tables, its bootstrap
 * arena, the heap) take a share of what is left instead of their full
 * size (terabytes of address space, nothing committed), and the program
 * runs as natively. */
START_TEST(address_space_limit)
{
	pt_compile(dir, "alloc_mix");
	ck_assert_msg(pt_same_output(dir, "", "256", "sh -c 'ulimit -v 400000 && exec ./alloc_mix nums.txt'"),
		      "output differs under pagemu run with ulimit -v");
	ck_assert_msg(pt_same_output(dir, "PAGEMU_MMAP=1", "256", "sh -c 'ulimit -v 400000 && exec ./alloc_mix nums.txt'"),
		      "output differs under pagemu run --mmap with ulimit -v");
}
END_TEST

/* pagemu run --mmap: threads write through a shared file mapping while
 * another thread forks, twenty rounds: the fork hands the mapping to the
 * kernel, and a fault raised just before (or waiting for the lock) goes
 * on against the kernel's mapping instead of dying of SIGSEGV. */
START_TEST(fork_while_threads_write_shared)
{
	pt_compile(dir, "fork_race");
	for (int i = 0; i < 3; i++)
		ck_assert_msg(pt_same_output(dir, "PAGEMU_MMAP=1", "64", "./fork_race ."),
			      "output differs under pagemu run --mmap (run %d)", i);
}
END_TEST

START_TEST(sort_numbers)
{
	same_output_paged("128", "/usr/bin/sort -n nums.txt", 1);
}
END_TEST

/* alloc_mix forks and execs echo, which uses little heap: one process of
 * the run at least evicts. */
START_TEST(alloc_mix_program)
{
	pt_compile(dir, "alloc_mix");
	same_output_paged("64", "./alloc_mix nums.txt", 0);
}
END_TEST

/* A program with a SIGSEGV handler of its own pages behind it, and its
 * handler sees its real crash (and nothing else). grep and gcc have such
 * handlers. */
START_TEST(own_segv_handler)
{
	pt_compile(dir, "own_segv");
	/* Its 32 MiB paged through 1 MiB of frames, behind its handler (which
	 * exits 3 on any fault but the crash); --exit leaves normally, so that
	 * the report at exit shows the paging. */
	same_output_paged("256", "./own_segv --exit", 1);
	/* The crash: it leaves through _exit in its handler (no report). */
	same_output("256", "./own_segv");
	/* Installed through glibc's __sysv_signal (signal() under -std=c99:
	 * zstd), which bypasses the shim's sigaction. */
	same_output_paged("256", "./own_segv --exit sysv", 1);
	same_output("256", "./own_segv sysv");
	/* Installed with the rt_sigaction system call before pagemu started
	 * (its first malloc): pagemu chains what it finds installed. */
	same_output_paged("256", "./own_segv --exit early-raw", 1);
	same_output("256", "./own_segv early-raw");
	/* ... and afterwards: the syscall guard chains it (without the guard
	 * nothing can see the call). */
	if (prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0, 0, 0) == 0) {
		same_output_paged("256", "./own_segv --exit raw", 1);
		same_output("256", "./own_segv raw");
	}
	/* grep's heap is some 50 pages: 48 frames page it. */
	same_output_paged("48", "grep -r -c root /etc/passwd /etc/group", 1);
}
END_TEST

/* GLib starts its threads with every signal blocked (a blocked SIGSEGV
 * would kill them at their first fault). */
START_TEST(glib_threads)
{
	if (access("/usr/bin/gio", X_OK) != 0)
		PM_TEST_SKIP("/usr/bin/gio not installed (apt-get install libglib2.0-bin)");
	same_output_paged("48", "gio info /etc/passwd", 1);
}
END_TEST

/* Lua allocates only through realloc. 60,000 strings: a heap of 8 MiB
 * over 4 MiB of frames, some 20,000 evictions (200,000 thrashed: 875,000
 * faults, minutes under the sanitizers on a loaded machine). */
START_TEST(lua_realloc)
{
	if (access("/usr/bin/lua5.4", X_OK) != 0)
		PM_TEST_SKIP("/usr/bin/lua5.4 not installed (apt-get install lua5.4)");
	same_output_paged("1024", "lua5.4 -e 't={} for i=1,60000 do t[i]=string.rep([[x]], i % 40) .. i end "
				  "s=0 for i=1,#t do s=s+#t[i] end print(s)'", 1);
}
END_TEST

/* ls alone; then sh, ls, sort and head, each with an instance of its own
 * (head's heap fits in the pool). */
START_TEST(ls_and_pipes)
{
	same_output_paged("64", "ls -la /usr/bin /etc", 1);
	same_output_paged("48", "/bin/sh -c 'ls /etc | sort -r | head -50'", 0);
}
END_TEST

START_TEST(run_errors)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s run -- /nonexistent/prog 2>/dev/null", PAGEMU);
	ck_assert_int_eq(sh(cmd), 127);
	snprintf(cmd, sizeof(cmd), "%s run --frames 0 -- ls 2>/dev/null", PAGEMU);
	ck_assert_int_eq(sh(cmd), 125);                /* a bad setting: pagemu run fails, as env(1) */
	snprintf(cmd, sizeof(cmd), "%s --help | grep -q PAGEMU_FRAMES", PAGEMU);
	ck_assert_int_eq(sh(cmd), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("preload");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sort_numbers);
	tcase_add_test(tc, alloc_mix_program);
	tcase_add_test(tc, own_segv_handler);
	tcase_add_test(tc, glib_threads);
	tcase_add_test(tc, lua_realloc);
	tcase_add_test(tc, ls_and_pipes);
	tcase_add_test(tc, run_errors);
	tcase_add_test(tc, mmap_program);
	tcase_add_test(tc, shm_between_programs);
	tcase_add_test(tc, mapped_file_outlives_process);
	tcase_add_test(tc, own_allocator);
	tcase_add_test(tc, address_space_limit);
	tcase_add_test(tc, fork_while_threads_write_shared);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
