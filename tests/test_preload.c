/* test_preload.c - unmodified programs under `pagemu run` (the LD_PRELOAD
 * shim): their output must equal a native run, with a frame pool well
 * below their peak. Needs build/pagemu and build/libpagemu-preload.so
 * (make builds them; make check runs from the top directory) and cc for
 * tests/progs; a test is skipped, with a message, when they are missing. */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progtest.h"

static char dir[] = "/tmp/pagemu-preload-XXXXXX";
#define sh pt_sh

static int have(const char *path)
{
	if (access(path, X_OK) == 0)
		return 1;
	fprintf(stderr, "test_preload: %s missing: skipped\n", path);
	return 0;
}

static void same_output(const char *frames, const char *prog_and_args)
{
	ck_assert_msg(pt_same_output(dir, "", frames, prog_and_args), "output differs under pagemu: %s", prog_and_args);
}

/* The programs really ran on pagemu and paged: one JSON line per process
 * (exec'd children too); at least one of them evicted pages. */
static void paged(void)
{
	char path[256], line[8192];
	int lines = 0, evicted = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f)) {
		lines++;
		ck_assert_ptr_nonnull(strstr(line, "\"evictions\":"));
		evicted |= strstr(line, "\"evictions\":0,") == NULL;
	}
	fclose(f);
	ck_assert_int_gt(lines, 0);
	ck_assert_msg(evicted, "no process of the run evicted a page");
	unlink(path);
}

static void setup(void)
{
	pt_make_dir(dir, "seq 1 150000 | awk '{print ($1 * 7919) % 150001}' > nums.txt");
}

static void teardown(void)
{
	pt_remove_dir(dir);
}

START_TEST(sort_numbers)
{
	if (!have(PAGEMU) || !have("/usr/bin/sort"))
		return;
	same_output("128", "/usr/bin/sort -n nums.txt");
	paged();
}
END_TEST

START_TEST(alloc_mix_program)
{
	char cmd[1024];

	if (!have(PAGEMU))
		return;
	snprintf(cmd, sizeof(cmd), "cc -O1 -pthread -o %s/alloc_mix tests/progs/alloc_mix.c 2>/dev/null", dir);
	if (sh(cmd) != 0) {
		fprintf(stderr, "test_preload: cannot compile tests/progs/alloc_mix.c: skipped\n");
		return;
	}
	same_output("64", "./alloc_mix nums.txt");
	paged();
}
END_TEST

/* A program with a SIGSEGV handler of its own pages behind it, and its
 * handler sees its real crash (and nothing else). grep and gcc have such
 * handlers. */
START_TEST(own_segv_handler)
{
	char cmd[1024];

	if (!have(PAGEMU))
		return;
	snprintf(cmd, sizeof(cmd), "cc -O1 -o %s/own_segv tests/progs/own_segv.c 2>/dev/null", dir);
	if (sh(cmd) != 0) {
		fprintf(stderr, "test_preload: cannot compile tests/progs/own_segv.c: skipped\n");
		return;
	}
	/* (It leaves through _exit in its handler: no report to read; its
	 * checksum of 32 MiB paged through 1 MiB of frames is the proof.) */
	same_output("256", "./own_segv");
	same_output("64", "grep -r -c root /etc/passwd /etc/group");
}
END_TEST

/* GLib starts its threads with every signal blocked (a blocked SIGSEGV
 * would kill them at their first fault); Lua allocates only through
 * realloc. */
START_TEST(glib_and_lua)
{
	if (have("/usr/bin/gio"))
		same_output("256", "gio info /etc/passwd");
	if (have("/usr/bin/lua5.4"))
		same_output("1024", "lua5.4 -e 't={} for i=1,200000 do t[i]=string.rep([[x]], i % 40) .. i end "
				    "s=0 for i=1,#t do s=s+#t[i] end print(s)'");
}
END_TEST

START_TEST(ls_and_pipes)
{
	if (!have(PAGEMU))
		return;
	same_output("64", "ls -la /usr/bin /etc");
	same_output("64", "/bin/sh -c 'ls /etc | sort -r | head -50'");
}
END_TEST

START_TEST(run_errors)
{
	char cmd[512];

	if (!have(PAGEMU))
		return;
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
	tcase_add_test(tc, glib_and_lua);
	tcase_add_test(tc, ls_and_pipes);
	tcase_add_test(tc, run_errors);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
