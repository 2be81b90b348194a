/* progtest.h - running a program natively and under `pagemu run`, for the
 * tests of the LD_PRELOAD shim (test_preload, test_guard). make check runs
 * them from the top directory, where build/pagemu is. */
#ifndef PAGEMU_PROGTEST_H
#define PAGEMU_PROGTEST_H

#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"

#define PAGEMU "build/pagemu"

/* Run cmd with sh; its exit status (128 + signal when killed). */
static int pt_sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In dir: prog_and_args natively, then under pagemu run with frames and env
 * (variables, may be ""); both must exit 0. Each process of the pagemu run
 * appends its report to dir/report.json. 1 when the outputs are the same. */
static int pt_same_output(const char *dir, const char *env, const char *frames, const char *prog_and_args)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cd %s && %s > native.out", dir, prog_and_args);
	ck_assert_int_eq(pt_sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && %s PAGEMU_REPORT=%s/report.json %s/%s run --frames %s -- %s > pagemu.out",
		 dir, env, dir, getenv("PWD") ? getenv("PWD") : ".", PAGEMU, frames, prog_and_args);
	ck_assert_int_eq(pt_sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cmp -s %s/native.out %s/pagemu.out", dir, dir);
	return pt_sh(cmd) == 0;
}

/* A fresh directory from the template dir, prepared by the shell command
 * populate (run inside it). */
static void pt_make_dir(char *dir, const char *populate)
{
	char cmd[1024];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cd %s && %s", dir, populate);
	ck_assert_int_eq(pt_sh(cmd), 0);
}

static void pt_remove_dir(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	pt_sh(cmd);
}

#endif
