/* test_sweep.c - `pagemu sweep` (tools/sweep.c): a small program
 * (tests/progs/walk.c) at a few pool sizes and policies, the results
 * directory it leaves (sweep.csv, the PNGs) and nothing else; bad input
 * stops it before anything runs, naming the argument, with no directory
 * left; --kernel where the machine allows it. Quick: each sweep takes a
 * second or two. */
#include <dirent.h>
#include <sys/stat.h>

#include "progtest.h"

static char dir[] = "/tmp/pagemu-test-sweep-XXXXXX";

static void setup(void)
{
	pt_make_dir(dir, "true");
	pt_compile(dir, "walk");
}

static void teardown(void)
{
	pt_remove_dir(dir);
}

/* Results of an earlier test go. */
static void remove_results(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/res", dir);
	ck_assert_int_eq(pt_sh(cmd), 0);
}

/* pagemu sweep OPTIONS -- dir/walk ARGS, its stdout and stderr into
 * dir/sweep.out and dir/sweep.err (env: variables before it, may be "").
 * The exit status. */
static int sweep(const char *env, const char *options, const char *args)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "cd %s && %s %s sweep %s%s -- %s/walk %s > sweep.out 2> sweep.err", dir, env, PAGEMU,
		 PT_PRELOAD_OPT, options, dir, args);
	return pt_sh(cmd);
}

static void slurp(const char *name, char *buf, size_t len)
{
	char path[600];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "no %s", path);
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* 1 when dir/name is a PNG. */
static int is_png(const char *name)
{
	char buf[8] = "";

	slurp(name, buf, sizeof(buf));
	return memcmp(buf, "\x89PNG", 4) == 0;
}

/* Nothing in dir but walk and the sweep's stdout and stderr, and the
 * results directories named in keep (NUL-separated): no half-written
 * output, no partial directory, no swap file. */
static void assert_only(const char *keep)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		int ok = e->d_name[0] == '.' || !strcmp(e->d_name, "walk") || !strncmp(e->d_name, "sweep.", 6);
		for (const char *k = keep; *k && !ok; k += strlen(k) + 1)
			ok = !strcmp(e->d_name, k);
		ck_assert_msg(ok, "%s/%s was left behind", dir, e->d_name);
	}
	closedir(d);
}

START_TEST(sweep_walk)
{
	static char out[1 << 16], csv[1 << 16];
	const char *row;
	int rows = 0;

	pt_need_pagemu();
	ck_assert_msg(sweep("", "--frames 64,256 --policy clock,fifo --out res", "2 3") == 0, "%s",
		      (slurp("sweep.err", out, sizeof(out)), out));
	slurp("sweep.out", out, sizeof(out));
	ck_assert_msg(strstr(out, "knee (clock): ") && strstr(out, "frames") && strstr(out, "same"), "%s", out);
	ck_assert_msg(!strstr(out, "DIFFERS"), "%s", out);
	slurp("res/sweep.csv", csv, sizeof(csv));
	ck_assert_msg(!strncmp(csv, "pool_bytes,frames,policy,repeat,time_s,exit_status,same_output,native_time_s,"
			       "rusage_majflt,reports,faults,faults_zero,", 80), "%s", csv);
	ck_assert_msg(strstr(csv, ",map_budget,heap.heap_size,") && strstr(csv, ",heap.grows\n"), "%.300s", csv);
	for (row = strchr(csv, '\n') + 1; *row; row = strchr(row, '\n') + 1) {
		unsigned long long bytes, frames, faults;
		char policy[16];
		int rep, status, same, reports;
		double t, native;
		ck_assert_int_eq(sscanf(row, "%llu,%llu,%15[a-z],%d,%lf,%d,%d,%lf,%*u,%d,%llu", &bytes, &frames, policy,
					&rep, &t, &status, &same, &native, &reports, &faults), 10);
		ck_assert_uint_eq(bytes, frames * 4096);
		ck_assert_msg(same == 1 && status == 0 && reports == 1 && faults > 0, "%.200s", row);
		ck_assert(!strcmp(policy, "clock") || !strcmp(policy, "fifo"));
		rows++;
	}
	ck_assert_int_eq(rows, 4);
	ck_assert(is_png("res/faults.png"));
	ck_assert(is_png("res/time.png"));
	assert_only("res\0");
	remove_results();
}
END_TEST

/* Bad input: exit 2, the argument named, nothing written. */
static void assert_bad(const char *env, const char *options, const char *args, const char *named)
{
	static char err[1 << 14];

	ck_assert_int_eq(sweep(env, options, args), 2);
	slurp("sweep.err", err, sizeof(err));
	ck_assert_msg(strstr(err, named), "%s %s: the message does not name %s: %s", options, args, named, err);
	assert_only("");
}

START_TEST(sweep_bad_input)
{
	pt_need_pagemu();
	remove_results();
	assert_bad("", "--frames 64,256 --policy clock,bogus --out res", "1 1", "--policy 'clock,bogus': unknown policy 'bogus'");
	assert_bad("", "--frames 64 --policy opt --out res", "1 1", "--policy");
	assert_bad("", "--frames 256-64 --out res", "1 1", "--frames '256-64'");
	assert_bad("", "--memory 4M..1M --out res", "1 1", "--memory '4M..1M': an empty range");
	assert_bad("", "--memory 4M --out res", "1 1", "--memory '4M'");
	assert_bad("", "--memory 1T..2T --out res", "1 1", "--memory");
	assert_bad("", "--frames 8,64 --out res", "1 1", "at least 32");
	assert_bad("", "--frames 64 --steps 1 --out res", "1 1", "--steps");
	assert_bad("", "--frames 64 --bogus 1 --out res", "1 1", "--bogus");
	assert_bad("", "--frames 64 --out res", "1 1 fail", "fails natively (exit status 3: walk: failing as asked)");
	/* gnuplot missing: said before anything runs */
	assert_bad("PATH=/nonexistent", "--frames 64 --out res", "1 1", "gnuplot-nox");
	/* an --out that exists is never written over */
	{
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "mkdir %s/res", dir);
		ck_assert_int_eq(pt_sh(cmd), 0);
		ck_assert_int_eq(sweep("", "--frames 64 --out res", "1 1"), 2);
		assert_only("res\0");
		snprintf(cmd, sizeof(cmd), "rmdir %s/res", dir);
		ck_assert_int_eq(pt_sh(cmd), 0);
	}
}
END_TEST

START_TEST(sweep_kernel)
{
	static char out[1 << 16], csv[1 << 16];
	char cmd[700];
	int st, cgroups;

	pt_need_pagemu();
	if (geteuid() != 0)
		PM_TEST_SKIP("--kernel needs root");
	if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", W_OK) != 0 &&
	    pt_sh("grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null") != 0)
		PM_TEST_SKIP("no cgroup memory controller");
	remove_results();
	cgroups = pt_sh("test $(ls -d /sys/fs/cgroup/memory/pagemu-sweep.* /sys/fs/cgroup/pagemu-sweep.* 2>/dev/null | wc -l) = 0");
	st = sweep("", "--memory 4M..8M --steps 2 --kernel --out res", "8 2");
	slurp("sweep.err", out, sizeof(out));
	if (st == 3 && (strstr(out, "swapon") || strstr(out, "mkswap")))
		PM_TEST_SKIP("swap cannot be turned on here: %s", out);
	ck_assert_msg(st == 0, "exit %d: %s", st, out);
	slurp("sweep.out", out, sizeof(out));
	ck_assert_msg(strstr(out, " kernel ") && !strstr(out, "DIFFERS"), "%s", out);
	slurp("res/sweep.csv", csv, sizeof(csv));
	ck_assert_msg(strstr(csv, "\n4194304,1024,kernel,0,") && strstr(csv, "\n8388608,2048,kernel,0,"), "%s", csv);
	ck_assert(is_png("res/faults.png"));
	/* the cgroups and the swap file made for the sweep are gone (another
	 * sweep's may be there: compared with before) */
	ck_assert_int_eq(pt_sh("test $(ls -d /sys/fs/cgroup/memory/pagemu-sweep.* /sys/fs/cgroup/pagemu-sweep.* 2>/dev/null | wc -l) = 0"),
			 cgroups);
	snprintf(cmd, sizeof(cmd), "grep -q %s /proc/swaps", dir);
	ck_assert_int_ne(pt_sh(cmd), 0);
	assert_only("res\0");
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sweep");
	TCase *tc = tcase_create("sweep");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, sweep_walk);
	tcase_add_test(tc, sweep_bad_input);
	tcase_add_test(tc, sweep_kernel);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
