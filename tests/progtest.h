/* progtest.h - running a program natively and under `pagemu run`, for the
 * tests of the LD_PRELOAD shim (test_preload, test_guard), and reading the
 * JSON reports that prove it ran on pagemu and paged. pagemu is the one of
 * the test's own build (PM_BUILD_DIR: build or build-asan). */
#ifndef PAGEMU_PROGTEST_H
#define PAGEMU_PROGTEST_H

#include <inttypes.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define PAGEMU PM_BUILD_DIR "/pagemu"

/* The sanitizer build's shim cannot be preloaded into a program that is not
 * built with ASan: ASan's start-up calls malloc (the shim's, which comes
 * first) before it has mapped its shadow memory, and the shim's
 * instrumented code then crashes; with libasan.so first in LD_PRELOAD,
 * ASan's malloc is the one every call reaches and the shim sits unused.
 * So check-asan builds the shim a second time with UBSan only (into
 * build-asan/ubsan/, see the Makefile), and the programs run with it under
 * the ASan-built pagemu. */
#ifdef __SANITIZE_ADDRESS__
#define PT_SHIM PM_BUILD_DIR "/ubsan/libpagemu-preload.so"
#define PT_PRELOAD_OPT "--preload " PT_SHIM " "
#else
#define PT_SHIM PM_BUILD_DIR "/libpagemu-preload.so"
#define PT_PRELOAD_OPT ""         /* pagemu finds the shim next to itself */
#endif

/* Run cmd with sh; its exit status (128 + signal when killed). */
static int pt_sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* make check builds pagemu and the shim: their absence is a failure. */
__attribute__((unused)) static void pt_need_pagemu(void)
{
	ck_assert_msg(access(PAGEMU, X_OK) == 0, "%s is not built (make)", PAGEMU);
	ck_assert_msg(access(PT_SHIM, R_OK) == 0, "%s is not built (make)", PT_SHIM);
}

/* Compile tests/progs/prog.c into dir/prog with cc (a failure if it cannot:
 * make check installs gcc with the build dependencies). */
__attribute__((unused)) static void pt_compile(const char *dir, const char *prog)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "cc -O1 -pthread -o %s/%s %s/tests/progs/%s.c", dir, prog, PM_SRC_DIR, prog);
	ck_assert_msg(pt_sh(cmd) == 0, "cannot compile tests/progs/%s.c: %s", prog, cmd);
}

/* In dir: prog_and_args natively, then under pagemu run with frames and env
 * (variables, may be ""); both must exit 0. Each process of the pagemu run
 * appends its report to dir/report.json (emptied first). 1 when the
 * outputs are the same. */
__attribute__((unused)) static int pt_same_output(const char *dir, const char *env, const char *frames, const char *prog_and_args)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cd %s && %s > native.out", dir, prog_and_args);
	ck_assert_int_eq(pt_sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && rm -f report.json && %s PAGEMU_REPORT=%s/report.json %s run %s--frames %s -- %s > pagemu.out",
		 dir, env, dir, PAGEMU, PT_PRELOAD_OPT, frames, prog_and_args);
	ck_assert_int_eq(pt_sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cmp -s %s/native.out %s/pagemu.out", dir, dir);
	return pt_sh(cmd) == 0;
}

/* The counters of one report line, "name":N in its "stats" object. */
static uint64_t pt_counter(const char *line, const char *name)
{
	char key[64];
	const char *stats = strstr(line, "\"stats\":{"), *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	ck_assert_msg(stats && (p = strstr(stats, key)), "report line without %s: %s", key, line);
	return strtoull(p + strlen(key), NULL, 10);
}

/* The last pagemu run in dir ran on pagemu and paged: a report from each
 * process that used its heap (a fallback to glibc's malloc writes none),
 * each with faults, and evictions in one of them at least (in every one
 * when all_evict). */
__attribute__((unused)) static void pt_assert_paged(const char *dir, int all_evict)
{
	char path[512], line[8192];
	uint64_t evictions = 0;
	int lines = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "no report from pagemu run in %s: the program did not run on pagemu", dir);
	while (fgets(line, sizeof(line), f)) {
		uint64_t ev = pt_counter(line, "evictions");
		lines++;
		ck_assert_msg(pt_counter(line, "faults") > 0, "a process took no fault: %s", line);
		ck_assert_msg(ev > 0 || !all_evict, "a process evicted nothing: %s", line);
		evictions += ev;
	}
	fclose(f);
	ck_assert_msg(lines > 0, "empty report from pagemu run in %s", dir);
	ck_assert_msg(evictions > 0, "no process of the run evicted a page (%d reports)", lines);
}

/* A fresh directory from the template dir, prepared by the shell command
 * populate (run inside it). */
__attribute__((unused)) static void pt_make_dir(char *dir, const char *populate)
{
	char cmd[1024];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cd %s && %s", dir, populate);
	ck_assert_int_eq(pt_sh(cmd), 0);
}

__attribute__((unused)) static void pt_remove_dir(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	pt_sh(cmd);
}

#endif
