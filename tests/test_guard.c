/* test_guard.c - the syscall guard of the LD_PRELOAD shim (preload/guard.c).
 * Programs under tests/progs make system calls with syscall(2) on malloc'd
 * buffers, path strings, iovec arrays and msghdrs that were evicted just
 * before (no interposed wrapper sees these calls): under `pagemu run` their
 * output must equal a native run, and their reports must show faults and
 * evictions; with PAGEMU_SYSCALL_GUARD=0 the same calls fail with EFAULT
 * (which shows the memory really was evicted). Signals, masks, EINTR, fork,
 * execve and threads must keep working under the guard. Needs pagemu and
 * the shim of this build and cc (a failure when missing); skipped when the
 * kernel has no syscall user dispatch (Linux >= 5.11). */
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progtest.h"

static char dir[] = "/tmp/pagemu-guard-XXXXXX";
#define sh pt_sh

/* 1 when the kernel has syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH
 * off is accepted). */
static int have_dispatch(void)
{
	return prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0, 0, 0) == 0;
}

/* Run prog natively and under pagemu (env prepended); 1 when the outputs match. */
static int same_output(const char *env, const char *frames, const char *prog_and_args)
{
	return pt_same_output(dir, env, frames, prog_and_args);
}

static void setup(void)
{
	pt_make_dir(dir, "seq 1 30000 > nums.txt && mkdir d && touch d/one d/two d/three");
	pt_need_pagemu();
}

static void teardown(void)
{
	pt_remove_dir(dir);
}

/* read, pread64, preadv, readv, newfstatat, statx, faccessat, access,
 * symlinkat, readlinkat, unlinkat, openat, getdents64, pipe2, writev,
 * socketpair, sendto, recvfrom, sendmsg, recvmsg, write: main thread,
 * then three threads at once. */
START_TEST(evicted_buffers)
{
	char cmd[512];

	if (!have_dispatch())
		PM_TEST_SKIP("no syscall user dispatch in this kernel (Linux >= 5.11)");
	pt_compile(dir, "guard_io");
	ck_assert_msg(same_output("", "64", "./guard_io nums.txt d"), "output differs under the guard");
	pt_assert_paged(dir, 1);
	/* Without the guard the kernel refuses the evicted memory. */
	ck_assert(!same_output("PAGEMU_SYSCALL_GUARD=0", "64", "./guard_io nums.txt d"));
	snprintf(cmd, sizeof(cmd), "grep -q 'Bad address' %s/pagemu.out", dir);
	ck_assert_int_eq(sh(cmd), 0);
}
END_TEST

/* Signal handlers, masks, EINTR, fork, execve with evicted argv, system(),
 * 100 posix_spawn/vfork children exec'ing with evicted argv and envp (the
 * pins they leave are released: else the pool runs out), threads. */
START_TEST(signals_fork_exec_threads)
{
	if (!have_dispatch())
		PM_TEST_SKIP("no syscall user dispatch in this kernel (Linux >= 5.11)");
	pt_compile(dir, "guard_misc");
	ck_assert_msg(same_output("", "64", "./guard_misc"), "output differs under the guard");
	pt_assert_paged(dir, 0);
}
END_TEST

/* One read or write of a regular file moves the whole buffer, though it
 * is 48 times what the guard pins at once (64 frames: 64 KiB): the call
 * is made again for the rest, as the kernel would have moved it all. */
START_TEST(large_file_io_whole)
{
	if (!have_dispatch())
		PM_TEST_SKIP("no syscall user dispatch in this kernel (Linux >= 5.11)");
	pt_compile(dir, "guard_big");
	ck_assert_msg(same_output("", "64", "./guard_big big.dat"), "output differs under the guard");
	pt_assert_paged(dir, 1);
	/* Through libc's functions, with and without the guard (without it,
	 * the shim's wrappers pin the buffers, a pin limit at a time). */
	ck_assert_msg(same_output("", "64", "./guard_big big.dat libc"), "output differs under the guard (libc)");
	ck_assert_msg(same_output("PAGEMU_SYSCALL_GUARD=0", "64", "./guard_big big.dat libc"),
		      "output differs under the shim's wrappers");
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, evicted_buffers);
	tcase_add_test(tc, signals_fork_exec_threads);
	tcase_add_test(tc, large_file_io_whole);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
