/* testutil.h - shared by the Check test programs.
 * Each tests/test_<module>.c defines one suite and ends with
 * PM_TEST_MAIN(make_suite). Real faults are driven with volatile accesses.
 * Tests that need a real SIGSEGV/SIGBUS to end the process use Check's
 * fork mode (tcase_add_test_raise_signal). */
#ifndef PAGEMU_TESTUTIL_H
#define PAGEMU_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define PM_TEST_MAIN(make_suite)                                               \
	int main(void)                                                         \
	{                                                                      \
		SRunner *sr = srunner_create(make_suite());                    \
		srunner_run_all(sr, CK_NORMAL);                                \
		int failed = srunner_ntests_failed(sr);                        \
		srunner_free(sr);                                              \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;                   \
	}

#endif
