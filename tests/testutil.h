/* testutil.h - shared by the Check test programs.
 * Each tests/test_<module>.c defines one suite and ends with
 * PM_TEST_MAIN(make_suite). Real faults are driven with volatile accesses.
 * Tests that need a real SIGSEGV/SIGBUS to end the process use Check's
 * fork mode (tcase_add_test_raise_signal).
 *
 * Outcomes: a test passes, fails, or is skipped with PM_TEST_SKIP(why)
 * (only for a true limit of the machine: the kernel lacks a mechanism, an
 * optional program is not installed; what make check builds or installs
 * being missing is a failure). A program exits 0, 1 when a test failed, or
 * 77 when every test was skipped; with PM_TEST_RESULT=FILE (tests/run.sh)
 * it also writes "PASSED FAILED SKIPPED" and one line per skip to FILE.
 *
 * PM_BUILD_DIR and PM_SRC_DIR (absolute; the Makefile defines them) are
 * the build directory the test belongs to (build, build-asan) and the
 * top of the source tree. */
#ifndef PAGEMU_TESTUTIL_H
#define PAGEMU_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagemu.h"

/* The per-page pattern: depends on the page and a round number. */
static inline uint64_t pm_test_pattern(uint64_t page, uint64_t round)
{
	uint64_t x = page * 0x9E3779B97F4A7C15ULL ^ (round + 1) * 0xD1B54A32D192ED03ULL;
	x ^= x >> 29;
	return x;
}

/* 1 when PAGEMU_STRESS is set (make stress): tests scale up. */
static inline int pm_test_stress(void)
{
	const char *s = getenv("PAGEMU_STRESS");
	return s && *s && strcmp(s, "0") != 0;
}

#ifndef PM_BUILD_DIR
#error "PM_BUILD_DIR: the Makefile defines it (the absolute build directory)"
#endif
#ifndef PM_SRC_DIR
#error "PM_SRC_DIR: the Makefile defines it (the absolute top of the tree)"
#endif

#define PM_TEST_EXIT_SKIP 77                  /* every test skipped (automake, liburing) */

/* One line per skipped test, appended by the (forked) tests, read by main
 * afterwards: opened by PM_TEST_MAIN before the tests start. */
static int pm_test_skip_fd = -1;

/* Record that the calling test is skipped and why; the test then returns.
 * test is the test function's name (Check's START_TEST names it X_fn). */
static inline void pm_test_skipped(const char *test, const char *fmt, ...)
{
	char line[1024];
	size_t tlen = strlen(test);
	va_list ap;
	int n;

	if (tlen > 3 && strcmp(test + tlen - 3, "_fn") == 0)
		tlen -= 3;
	n = snprintf(line, sizeof(line), "%s: %.*s: ", program_invocation_short_name, (int)tlen, test);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fprintf(stderr, "SKIP: %.*s", n, line);
	/* One write: the lines of successive tests never mix. */
	if (pm_test_skip_fd < 0 || write(pm_test_skip_fd, line, (size_t)n) != n)
		ck_abort_msg("cannot record the skip of %s", test);
}

#define PM_TEST_SKIP(...)                                                      \
	do {                                                                   \
		pm_test_skipped(__func__, __VA_ARGS__);                        \
		return;                                                        \
	} while (0)

/* Counts the skips recorded, reports, and gives the exit status. */
static inline int pm_test_finish(int run, int failed)
{
	const char *path = getenv("PM_TEST_RESULT");
	char line[1024];
	int skipped = 0, passed;
	FILE *skips = fdopen(pm_test_skip_fd, "r"), *out = NULL;

	if (!skips || fseek(skips, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot read the skips back\n", program_invocation_short_name);
		return EXIT_FAILURE;
	}
	if (path && *path && !(out = fopen(path, "w")))
		fprintf(stderr, "%s: PM_TEST_RESULT=%s: %s\n", program_invocation_short_name, path, strerror(errno));
	while (fgets(line, sizeof(line), skips))
		skipped++;
	passed = run - failed - skipped;
	if (passed < 0)                               /* a test that skipped, then failed */
		passed = 0;
	if (out) {
		fprintf(out, "%d %d %d\n", passed, failed, skipped);
		rewind(skips);
		while (fgets(line, sizeof(line), skips))
			fputs(line, out);
		if (fclose(out) != 0)
			failed++;
	}
	fclose(skips);
	printf("%s: %d passed, %d failed, %d skipped\n", program_invocation_short_name, passed, failed, skipped);
	if (failed)
		return EXIT_FAILURE;
	return run > 0 && skipped == run ? PM_TEST_EXIT_SKIP : EXIT_SUCCESS;
}

static inline int pm_test_main(Suite *suite)
{
	FILE *skips = tmpfile();
	SRunner *sr;
	int run, failed;

	if (!skips || fcntl(fileno(skips), F_SETFL, O_APPEND) != 0) {
		perror("tmpfile");
		return EXIT_FAILURE;
	}
	pm_test_skip_fd = dup(fileno(skips));
	fclose(skips);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return pm_test_finish(run, failed);
}

#define PM_TEST_MAIN(make_suite)                                               \
	int main(void)                                                         \
	{                                                                      \
		return pm_test_main(make_suite());                             \
	}

#endif
