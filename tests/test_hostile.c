/* test_hostile.c - programs that do to pagemu what programs do to a
 * process they believe their own, under `pagemu run`: close every
 * descriptor, exit threads with every signal blocked, fork with raw system
 * calls, exec children that trace, free a pointer twice; and a shim that
 * cannot start. Each must come out
 * as it does natively, or fail the documented way with a message. Needs
 * build/pagemu, build/libpagemu-preload.so and cc; a test that needs the
 * syscall guard is skipped, with a message, when the kernel has no syscall
 * user dispatch (Linux >= 5.11). */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progtest.h"

static char dir[] = "/tmp/pagemu-hostile-XXXXXX";
#define sh pt_sh

/* build/pagemu and the shim are built, and cc compiles tests/progs/prog.c
 * into dir (make check builds and installs both: their absence fails). */
static void ready(const char *prog)
{
	pt_need_pagemu();
	pt_compile(dir, prog);
}

/* The kernel has syscall user dispatch: the guard can be on. */
static int guard_ready(void)
{
	return prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0, 0, 0) == 0;
}

#define NEED_GUARD()                                                                   \
	do {                                                                           \
		if (!guard_ready())                                                    \
			PM_TEST_SKIP("no syscall user dispatch in this kernel (Linux >= 5.11)"); \
	} while (0)

/* cmd (run in dir with sh) prints line to its stdout or stderr. */
static int says(const char *cmd, const char *line)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd %s && %s 2>&1 | grep -qF -e '%s'", dir, cmd, line);
	return sh(full) == 0;
}

/* cmd's exit status, run in dir with its output in dir/out.txt. */
static int status(const char *cmd)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd %s && %s > out.txt 2>&1", dir, cmd);
	return sh(full);
}

/* `ENV pagemu run ARGS` in dir (env may be ""): its exit status, its
 * output in dir/out.txt. */
static int run(const char *env, const char *args)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s %s run %s%s", env, PAGEMU, PT_PRELOAD_OPT, args);
	return status(cmd);
}

/* `ENV PROG` in dir with the shim preloaded directly, no pagemu run. */
static int preloaded(const char *env, const char *prog)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s LD_PRELOAD=%s %s", env, PT_SHIM, prog);
	return status(cmd);
}

static void setup(void)
{
	pt_make_dir(dir, "true");
}

static void teardown(void)
{
	pt_remove_dir(dir);
}

/* ---- descriptors ------------------------------------------------------------ */

/* Every way of closing what one did not open, with the soft limit at
 * 1024 so that pagemu's descriptors lie in the range closed: the guard
 * keeps them (the program sees EBADF, as natively for a closed one), and
 * the paging after it gives the native output. */
START_TEST(descriptors_closed)
{
	static const char *const modes[] = { "loop", "range", "closefrom", "dup2", "fcntl", "spawn" };
	char cmd[256];

	ready("close_fds");
	NEED_GUARD();
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(cmd, sizeof(cmd), "sh -c 'ulimit -n 1024; exec ./close_fds %s 8'", modes[i]);
		ck_assert_msg(pt_same_output(dir, "", "256", cmd), "output differs under pagemu: %s", cmd);
	}
}
END_TEST

/* Without the guard nothing stops the program closing the io_uring: the
 * next eviction must end in SIGBUS with a message, never spin (with
 * SIGTERM blocked in the fault handler: so the KILL). */
START_TEST(ring_closed_without_guard)
{
	ready("close_fds");
	ck_assert_int_eq(run("PAGEMU_SYSCALL_GUARD=0 timeout -s KILL 60", "--frames 64 --quiet -- ./close_fds ring 8"), 128 + SIGBUS);
	ck_assert(says("cat out.txt", "the io_uring failed"));
}
END_TEST

/* ---- threads ------------------------------------------------------------------ */

/* glibc blocks every signal when a thread exits, then frees blocks: under
 * a small pool one of them is evicted, and a blocked SIGSEGV killed the
 * process (before the guard left SIGSEGV and SIGBUS unblocked: every
 * run). 128 frames: about 4,000 evictions a run, a pool half the heap;
 * 64 frames thrash (800,000 faults, minutes) without testing more. */
START_TEST(threads_exit_with_signals_blocked)
{
	char cmd[512];

	ready("thread_exit");
	NEED_GUARD();
	for (int i = 0; i < 3; i++)
		ck_assert_msg(pt_same_output(dir, "", "128", "./thread_exit 100 8 96"), "thread_exit: output differs");
	if (access("/usr/bin/python3", X_OK) != 0)
		PM_TEST_SKIP("/usr/bin/python3 is not installed");
	snprintf(cmd, sizeof(cmd), "cp %s/tests/progs/thread_exit.py %s/", PM_SRC_DIR, dir);
	ck_assert_int_eq(sh(cmd), 0);
	ck_assert_msg(pt_same_output(dir, "", "128", "/usr/bin/python3 thread_exit.py"), "thread_exit.py: output differs");
}
END_TEST

/* Blocks libc allocates for itself (strdup, asprintf; GLib's
 * g_strdup_printf) were pinned until freed even with the syscall guard on,
 * which pins what each system call uses: 2,000 live strings on pages of
 * their own filled a pool of 64 frames with pinned frames, then SIGBUS
 * (GLib's thread pool test in make compat). */
START_TEST(libc_blocks_paged)
{
	ready("libc_strings");
	NEED_GUARD();
	ck_assert_msg(pt_same_output(dir, "", "64", "./libc_strings 2000"), "libc_strings: output differs");
}
END_TEST

/* ---- processes -------------------------------------------------------------------- */

/* A fork without fork(): the fork system call, _Fork, a raw clone without
 * CLONE_VM. Parent and child must not see each other's writes, with the
 * buffer resident (4096 frames) and paged (256 frames). Before, they
 * shared emulated memory: the child saw all 2048 of the parent's later
 * writes, and with 256 frames the run hung after swap I/O errors. */
START_TEST(raw_forks)
{
	static const char *const modes[] = { "fork", "_Fork", "clone" };
	char cmd[256];

	ready("raw_fork");
	NEED_GUARD();
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(cmd, sizeof(cmd), "./raw_fork %s 8", modes[i]);
		ck_assert_msg(pt_same_output(dir, "", "4096", cmd), "output differs under pagemu: %s", cmd);
		ck_assert_msg(pt_same_output(dir, "", "256", cmd), "output differs under pagemu (paging): %s", cmd);
	}
}
END_TEST

/* The trace under pagemu run: one file per process, FILE.PID, each a
 * whole trace (the shim never closes its instance: the records are
 * flushed at exit). Before, FILE stayed empty, and each exec'd child
 * truncated it again. Here: sh, two programs it runs, the children they
 * fork, and ls. */
START_TEST(trace_per_process)
{
	char cmd[2048], path[512];
	int files = 0;
	FILE *ls;

	ready("raw_fork");
	NEED_GUARD();
	ck_assert_int_eq(run("", "--trace t.bin --frames 64 --quiet -- sh -c './raw_fork fork 1; ./raw_fork _Fork 1; ls >/dev/null'"), 0);
	snprintf(path, sizeof(path), "%s/t.bin", dir);
	ck_assert_int_ne(access(path, F_OK), 0);          /* no file without a pid */
	snprintf(cmd, sizeof(cmd), "cd %s && ls t.bin.*", dir);
	ck_assert_ptr_nonnull(ls = popen(cmd, "r"));
	while (fgets(path, sizeof(path), ls)) {
		char full[1024];
		struct stat st;
		path[strcspn(path, "\n")] = 0;
		snprintf(full, sizeof(full), "%s/%s", dir, path);
		ck_assert_int_eq(stat(full, &st), 0);
		ck_assert_msg(st.st_size > 32 && (st.st_size - 32) % 32 == 0, "%s: %lld bytes", path, (long long)st.st_size);
		ck_assert_int_eq(st.st_mode & 0777, 0600);
		snprintf(cmd, sizeof(cmd), "%s/pagemu-sim --frames 16 %s > /dev/null", PM_BUILD_DIR, full);
		ck_assert_msg(sh(cmd) == 0, "pagemu-sim cannot read %s", path);
		files++;
	}
	pclose(ls);
	ck_assert_int_ge(files, 5);
}
END_TEST

/* ---- protection ----------------------------------------------------------------------- */

/* A program changes the protection of heap memory (tcc -run makes the
 * code it wrote executable; checkers put PROT_NONE guard pages in the
 * heap), then its pages are evicted and come back: the protection must
 * hold, and code run from memory never made executable must end in
 * SIGSEGV as natively. Before: after eviction the code page came back
 * without PROT_EXEC (SIGSEGV), the guard page came back readable, and the
 * run of non-executable memory faulted forever. */
START_TEST(protection_kept_across_eviction)
{
	static const char *const modes[] = { "exec", "guard", "noexec" };
	char cmd[256];

	ready("jit");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(cmd, sizeof(cmd), "timeout -s KILL 60 ./jit %s 8", modes[i]);
		ck_assert_msg(pt_same_output(dir, "", "256", cmd), "output differs under pagemu: %s", cmd);
	}
	/* The mprotect system call made directly: only the guard sees it. */
	NEED_GUARD();
	ck_assert_msg(pt_same_output(dir, "", "256", "timeout -s KILL 60 ./jit raw 8"), "output differs: jit raw");
}
END_TEST

/* ---- the program's own errors ------------------------------------------------------ */

/* A large block's region goes at its free: a second free (or a realloc)
 * of it is no pagemu pointer any more, and must abort with pagemu's
 * message (before: glibc's free, SIGSEGV, no message). */
START_TEST(double_free_of_a_large_block)
{
	ready("double_free");
	ck_assert_int_eq(run("", "--quiet -- ./double_free free"), 128 + SIGABRT);
	ck_assert(says("cat out.txt", "freed once"));
	ck_assert(says("cat out.txt", ": not a pointer malloc returned (double free of a large block, or a foreign pointer)"));
	ck_assert(says("cat out.txt", "pagemu: free(0x"));
	ck_assert_int_eq(run("", "--quiet -- ./double_free realloc"), 128 + SIGABRT);
	ck_assert(says("cat out.txt", "pagemu: realloc(0x"));
}
END_TEST

/* ---- files pagemu writes ------------------------------------------------------------- */

static int mode_of(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* The report (PAGEMU_REPORT, --report) is never written through a
 * symbolic link, is mode 0600 (also a file that existed, 0644), and is
 * appended to: one JSON line per process, stats and heap objects. Before,
 * it followed the link and kept 0644. */
START_TEST(report_file)
{
	pt_need_pagemu();
	ck_assert_int_eq(status("echo secret > target && chmod 644 target && ln -s target link && "
				"echo old > old.json && chmod 644 old.json"), 0);
	ck_assert_int_eq(preloaded("PAGEMU_REPORT=link", "ls"), 0);
	ck_assert(says("cat out.txt", "link: a symbolic link (pagemu does not follow one)"));
	ck_assert_int_eq(run("", "--report link -- true"), 125);
	ck_assert(says("cat out.txt", "--report \"link\": a symbolic link"));
	ck_assert(says("cat target", "secret") && says("wc -l < target", "1"));
	ck_assert_int_eq(mode_of("target"), 0644);

	ck_assert_int_eq(preloaded("PAGEMU_REPORT=old.json", "sh -c 'ls >/dev/null; ls /'"), 0);
	ck_assert_int_eq(mode_of("old.json"), 0600);
	ck_assert(says("head -1 old.json", "old"));
	ck_assert(says("wc -l < old.json", "3"));               /* old, ls, ls (sh _exits: no report) */
	ck_assert(says("grep '\"program\":\"ls\",\"pid\":[0-9]*,\"stats\":{\"faults\":' old.json", "ls"));
	ck_assert(says("grep -c '\"heap\":{\"heap_size\":.*\"grows\":[0-9]*}}$' old.json", "2"));

	ck_assert_int_eq(run("", "--report new.json -- true"), 0);
	ck_assert_int_eq(mode_of("new.json"), 0600);
}
END_TEST

/* ---- start-up ------------------------------------------------------------------- */

/* A process that cannot start pagemu ends with a message and 125, under
 * pagemu run (a child given a bad setting by its parent) or with the shim
 * preloaded directly; before, it went on with glibc's malloc. */
START_TEST(cannot_start)
{
	pt_need_pagemu();
	ck_assert_int_eq(run("", "--quiet -- sh -c 'PAGEMU_FRAMES=0 exec ls /'"), 125);
	ck_assert(says("cat out.txt", "pagemu-preload: cannot start pagemu (PAGEMU_FRAMES=\"0\""));
	ck_assert_int_eq(preloaded("PAGEMU_SYSCALL_GUARD=yes PAGEMU_REPORT=none", "ls /"), 125);
	ck_assert(says("cat out.txt", "pagemu-preload: cannot start pagemu (PAGEMU_SYSCALL_GUARD=\"yes\": expected 0 or 1)"));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, descriptors_closed);
	tcase_add_test(tc, ring_closed_without_guard);
	tcase_add_test(tc, threads_exit_with_signals_blocked);
	tcase_add_test(tc, libc_blocks_paged);
	tcase_add_test(tc, raw_forks);
	tcase_add_test(tc, trace_per_process);
	tcase_add_test(tc, protection_kept_across_eviction);
	tcase_add_test(tc, double_free_of_a_large_block);
	tcase_add_test(tc, report_file);
	tcase_add_test(tc, cannot_start);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
