/* test_multiprog.c - the multiprogramming demo (demos/multiprog.c) as a
 * user runs it: `multiprog --quick --csv FILE` exits 0 (its processes'
 * tables checked on every lookup: a wrong page in a space aborts it) and
 * writes one CSV row per point, both modes, with work done at each. Needs
 * the demo of this build (make builds it: its absence fails). */
#include <sys/wait.h>

#include "testutil.h"

#define MULTIPROG PM_BUILD_DIR "/demos/multiprog"
#define QUICK_POINTS 3            /* multiprog --quick: N = 1, 5, 8 */

static char dir[] = "/tmp/pagemu-test-multiprog-XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

START_TEST(quick_run_writes_its_csv)
{
	char cmd[1024], line[512], mode[32];
	int st, rows[2] = { 0, 0 }, n;
	double ops;
	FILE *f;

	ck_assert_msg(access(MULTIPROG, X_OK) == 0, "%s is not built (make)", MULTIPROG);
	snprintf(cmd, sizeof(cmd), "cd %s && %s --quick --csv %s/m.csv > out.txt 2>&1", dir, MULTIPROG, dir);
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "multiprog --quick failed: see %s/out.txt", dir);
	snprintf(cmd, sizeof(cmd), "%s/m.csv", dir);
	f = fopen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_msg(strncmp(line, "mode,processes,", 15) == 0, "CSV header: %s", line);
	while (fgets(line, sizeof(line), f)) {
		ck_assert_int_eq(sscanf(line, "%31[^,],%d,%*f,%lf", mode, &n, &ops), 3);
		ck_assert_msg(ops > 0, "no work done at N = %d: %s", n, line);
		if (strcmp(mode, "none") == 0)
			rows[0]++;
		else if (strcmp(mode, "load_control") == 0)
			rows[1]++;
		else
			ck_abort_msg("unknown mode: %s", line);
	}
	fclose(f);
	ck_assert_int_eq(rows[0], QUICK_POINTS);
	ck_assert_int_eq(rows[1], QUICK_POINTS);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("multiprog");
	TCase *tc = tcase_create("demo");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, quick_run_writes_its_csv);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
