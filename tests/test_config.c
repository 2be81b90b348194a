/* test_config.c - settings: the strict parser (lib/model/parse.c), the
 * table of settings (lib/engine/config.c) with its PAGEMU_* parsing and
 * checks, the model's overflow-safe sizes, and the command lines built on
 * them: `pagemu run` (every setting checked before the program runs, exit
 * 125; programs run exactly as the shell would) and pagemu-sim. Each bad
 * value must be rejected naming the variable or option and the value as
 * written. */
#include <errno.h>
#include <unistd.h>

#include "progtest.h"
#include "engine/engine.h"

/* ---- the parser ----------------------------------------------------------------- */

START_TEST(numbers)
{
	static const char *const bad[] = { "", " 5", "+5", "-1", "5 ", "0x", "0x1K", "12x", "K", "4KK", "4Kx", "1.5" };
	uint64_t v = 7;

	ck_assert_int_eq(pm_parse_u64("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(pm_parse_u64("0x1f", &v), 0);
	ck_assert_uint_eq(v, 31);
	ck_assert_int_eq(pm_parse_u64("4K", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(pm_parse_u64("4KiB", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(pm_parse_u64("3mb", &v), 0);
	ck_assert_uint_eq(v, 3 << 20);
	ck_assert_int_eq(pm_parse_u64("1T", &v), 0);
	ck_assert_uint_eq(v, 1ULL << 40);
	ck_assert_int_eq(pm_parse_u64("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(pm_parse_u64("16777215T", &v), 0);
	v = 7;
	for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
		ck_assert_msg(pm_parse_u64(bad[i], &v) == -EINVAL, "\"%s\" accepted", bad[i]);
	ck_assert_int_eq(pm_parse_u64("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(pm_parse_u64("16777216T", &v), -ERANGE);
	ck_assert_int_eq(pm_parse_u64("0x10000000000000000", &v), -ERANGE);
	ck_assert_uint_eq(v, 7);                        /* never written on an error */
	ck_assert_int_eq(pm_parse_range("4294967297", 1, 64, &v), -ERANGE);
	ck_assert_int_eq(pm_parse_range("64", 1, 64, &v), 0);
	ck_assert_uint_eq(v, 64);
}
END_TEST

START_TEST(bools)
{
	int b = 5;

	ck_assert_int_eq(pm_parse_bool("1", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(pm_parse_bool("0", &b), 0);
	ck_assert_int_eq(b, 0);
	b = 5;
	ck_assert_int_eq(pm_parse_bool("maybe", &b), -EINVAL);
	ck_assert_int_eq(pm_parse_bool("", &b), -EINVAL);
	ck_assert_int_eq(pm_parse_bool("01", &b), -EINVAL);
	ck_assert_int_eq(pm_parse_bool("yes", &b), -EINVAL);
	ck_assert_int_eq(b, 5);
}
END_TEST

START_TEST(lists_and_geometries)
{
	static const char *const bad[] = { "1,,2", ",1", "1,", "1-", "-1", "1--2", "", "1 ,2", "1-2-3" };
	uint64_t v[8] = { 0 }, g[3];
	unsigned sets[2] = { 9, 9 }, ways[2] = { 9, 9 };
	size_t n = 99;

	ck_assert_int_eq(pm_parse_counts("1,2,4-6", 1, 100, v, 8, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(v[4], 6);
	for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
		ck_assert_msg(pm_parse_counts(bad[i], 1, 100, v, 8, &n) == -EINVAL, "\"%s\" accepted", bad[i]);
	ck_assert_int_eq(pm_parse_counts("5-3", 1, 100, v, 8, &n), -ERANGE);
	ck_assert_int_eq(pm_parse_counts("1-9", 1, 100, v, 8, &n), -ERANGE);      /* more than max */
	ck_assert_int_eq(pm_parse_counts("0", 1, 100, v, 8, &n), -ERANGE);
	ck_assert_int_eq(pm_parse_counts("1-4294967296", 1, 100, v, 8, &n), -ERANGE);
	ck_assert_uint_eq(n, 5);

	ck_assert_int_eq(pm_parse_geom("64x8x16", 'x', 3, 1, 1024, g), 0);
	ck_assert_uint_eq(g[2], 16);
	ck_assert_int_eq(pm_parse_geom("16xx4", 'x', 2, 1, 1024, g), -EINVAL);
	ck_assert_int_eq(pm_parse_geom("16x4x", 'x', 2, 1, 1024, g), -EINVAL);
	ck_assert_int_eq(pm_parse_geom("x16x4", 'x', 2, 1, 1024, g), -EINVAL);
	ck_assert_int_eq(pm_parse_geom("16x4x2", 'x', 2, 1, 1024, g), -EINVAL);
	ck_assert_int_eq(pm_parse_geom("16", 'x', 2, 1, 1024, g), -EINVAL);
	ck_assert_int_eq(pm_parse_geom("2048x4", 'x', 2, 1, 1024, g), -ERANGE);

	ck_assert_int_eq(pm_parse_tlb("16x4,128x12", sets, ways), 0);
	ck_assert_uint_eq(sets[1], 128);
	ck_assert_uint_eq(ways[1], 12);
	ck_assert_int_eq(pm_parse_tlb("16x4,none", sets, ways), 0);
	ck_assert_uint_eq(sets[1], 0);
	ck_assert_int_eq(pm_parse_tlb("32x2,0", sets, ways), 0);
	ck_assert_uint_eq(sets[0], 32);
	ck_assert_int_eq(pm_parse_tlb("none", sets, ways), 0);
	ck_assert_uint_eq(sets[0], 0);
	ck_assert_int_eq(pm_parse_tlb("16x4,", sets, ways), -EINVAL);
	ck_assert_int_eq(pm_parse_tlb("16x4,8x2,4x4", sets, ways), -EINVAL);
	ck_assert_int_eq(pm_parse_tlb("16xx4", sets, ways), -EINVAL);
	ck_assert_int_eq(pm_parse_tlb("4294967296x4", sets, ways), -ERANGE);
}
END_TEST

/* ---- the model's sizes ----------------------------------------------------------- */

START_TEST(model_sizes_never_wrap)
{
	pagemu_model_config_t c;
	pagemu_model_t *m = (pagemu_model_t *)1;
	size_t bytes = 0;

	ck_assert_int_eq(pm_tlb_mem_size(1u << 30, 715827883, 0, 0, &bytes), -EOVERFLOW);
	ck_assert_int_eq(pm_tlb_mem_size(UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, &bytes), -EOVERFLOW);
	ck_assert_int_eq(pm_cache_mem_size(1u << 30, 1u << 30, 16, &bytes), -EOVERFLOW);
	ck_assert_int_eq(pm_cache_mem_size(4, 2, UINT32_MAX, &bytes), 0);
	ck_assert_uint_eq(bytes, 8 * (sizeof(pm_cache_line_t) + (size_t)UINT32_MAX));

	pagemu_model_config_default(&c);
	c.tlb_sets = 1u << 30;
	c.tlb_ways = 715827883;
	ck_assert_int_eq(pagemu_model_new(&c, &m), -EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "tlb_sets"));
	pagemu_model_config_default(&c);
	c.cache_sets = 1u << 30;
	c.cache_ways = 1u << 30;
	c.cache_line = 16;
	ck_assert_int_eq(pagemu_model_new(&c, &m), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "cache_sets"));
	c.cache_sets = 1024;
	c.cache_ways = 64;
	c.cache_line = 64;                                  /* 4 MiB of data: fine */
	ck_assert_int_eq(pagemu_model_new(&c, &m), 0);
	pagemu_model_free(m);
}
END_TEST

/* ---- PAGEMU_* variables ------------------------------------------------------------- */

/* pagemu_config_from_env with var=value fails naming both, as written,
 * and leaves cfg as it was. */
static void env_rejects(const char *var, const char *value, const char *why)
{
	pagemu_config_t cfg, before;
	char want[256];

	pagemu_config_default(&cfg);
	before = cfg;
	setenv(var, value, 1);
	ck_assert_msg(pagemu_config_from_env(&cfg) < 0, "%s=%s accepted", var, value);
	snprintf(want, sizeof(want), "%s=\"%s\": %s", var, value, why);
	ck_assert_msg(strstr(pagemu_last_error(), want), "message \"%s\" lacks \"%s\"", pagemu_last_error(), want);
	ck_assert_int_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
	unsetenv(var);
}

START_TEST(env_values_out_of_range)
{
	env_rejects("PAGEMU_TLB", "1048576x64", "out of range");      /* was 1.6 GB for /bin/echo */
	env_rejects("PAGEMU_TLB", "2147483648x64", "out of range");   /* was a hang */
	env_rejects("PAGEMU_TLB", "16x65", "out of range");
	env_rejects("PAGEMU_TLB", "16x4,3x4", "out of range");
	env_rejects("PAGEMU_TLB", "none", "out of range");
	env_rejects("PAGEMU_READAHEAD", "4294967297", "out of range");  /* was 1 */
	env_rejects("PAGEMU_READAHEAD", "0", "out of range");
	env_rejects("PAGEMU_RECLAIM_BATCH", "4294967328", "out of range");  /* was 32 */
	env_rejects("PAGEMU_FRAMES", "4294967296", "out of range");
	env_rejects("PAGEMU_FRAMES", "0", "out of range");
	env_rejects("PAGEMU_MAP_BUDGET", "15", "out of range");
	env_rejects("PAGEMU_SEED", "18446744073709551616", "out of range");
	env_rejects("PAGEMU_MEMORY", "2T", "out of range");
	env_rejects("PAGEMU_MEMORY", "100", "out of range");
	env_rejects("PAGEMU_PAGE_SIZE", "12K", "out of range");
	env_rejects("PAGEMU_PAGE_SIZE", "2G", "out of range");
	env_rejects("PAGEMU_SWAP_SIZE", "100", "out of range");
}
END_TEST

START_TEST(env_values_malformed)
{
	env_rejects("PAGEMU_TLB", "16xx4", "not SETSxWAYS");
	env_rejects("PAGEMU_TLB", "16x4x", "not SETSxWAYS");
	env_rejects("PAGEMU_TLB", "16x4,", "not SETSxWAYS");
	env_rejects("PAGEMU_FRAMES", "12x", "not a number");
	env_rejects("PAGEMU_FRAMES", "-1", "not a number");
	env_rejects("PAGEMU_FRAMES", " 64", "not a number");
	env_rejects("PAGEMU_SWAP_SIZE", "", "not a number");
	env_rejects("PAGEMU_VERBOSE", "yes", "expected 0 or 1");
	env_rejects("PAGEMU_SWAP_DIRECT", "maybe", "expected 0 or 1");
	env_rejects("PAGEMU_SWAP_CHECKSUM", "2", "expected 0 or 1");
	env_rejects("PAGEMU_POLICY", "opt", "expected clock, fifo, lru or random");
	env_rejects("PAGEMU_SWAP_DIR", "", "empty");
	env_rejects("PAGEMU_TLB_POLICY", "mru", "expected lru, fifo, random or plru");
	env_rejects("PAGEMU_TLB_POLICY", "lru,", "expected lru, fifo, random or plru");
	env_rejects("PAGEMU_TLB_POLICY", "lru,fifo,plru", "expected lru, fifo, random or plru");
	env_rejects("PAGEMU_TLB_POLICY", "LRU", "expected lru, fifo, random or plru");
}
END_TEST

START_TEST(env_values_accepted)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	setenv("PAGEMU_PAGE_SIZE", "16K", 1);
	setenv("PAGEMU_MEMORY", "1M", 1);              /* counted in 16 KiB pages */
	setenv("PAGEMU_TLB", "64x8,0", 1);
	setenv("PAGEMU_READAHEAD", "0x40", 1);
	setenv("PAGEMU_MAP_BUDGET", "0", 1);
	setenv("PAGEMU_SEED", "18446744073709551615", 1);
	setenv("PAGEMU_SWAP_CHECKSUM", "0", 1);
	setenv("PAGEMU_TLB_POLICY", "plru,fifo", 1);
	ck_assert_int_eq(cfg.swap_checksum, 1);          /* on by default */
	ck_assert_int_eq(cfg.tlb_policy[0], PAGEMU_TLB_LRU);
	ck_assert_int_eq(cfg.tlb_policy[1], PAGEMU_TLB_LRU);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), 0);
	ck_assert_int_eq(cfg.swap_checksum, 0);
	ck_assert_uint_eq(cfg.page_size, 16384);
	ck_assert_uint_eq(cfg.frames, 64);
	ck_assert_uint_eq(cfg.tlb_sets[0], 64);
	ck_assert_uint_eq(cfg.tlb_ways[0], 8);
	ck_assert_uint_eq(cfg.tlb_sets[1], 0);
	ck_assert_uint_eq(cfg.readahead, 64);
	ck_assert_uint_eq(cfg.seed, UINT64_MAX);
	ck_assert_int_eq(cfg.tlb_policy[0], PAGEMU_TLB_PLRU);
	ck_assert_int_eq(cfg.tlb_policy[1], PAGEMU_TLB_FIFO);
	ck_assert_int_eq(pagemu_config_validate(&cfg), 0);
	setenv("PAGEMU_TLB_POLICY", "random", 1);        /* one name: both levels */
	ck_assert_int_eq(pagemu_config_from_env(&cfg), 0);
	ck_assert_int_eq(cfg.tlb_policy[0], PAGEMU_TLB_RANDOM);
	ck_assert_int_eq(cfg.tlb_policy[1], PAGEMU_TLB_RANDOM);
	unsetenv("PAGEMU_TLB_POLICY");
}
END_TEST

START_TEST(shim_bool)
{
	pagemu_config_t cfg;
	int on = 1;

	unsetenv("PAGEMU_SYSCALL_GUARD");
	ck_assert_int_eq(pm_config_env_bool("PAGEMU_SYSCALL_GUARD", &on), 0);
	ck_assert_int_eq(on, 1);                        /* unset: left alone */
	setenv("PAGEMU_SYSCALL_GUARD", "0", 1);
	ck_assert_int_eq(pm_config_env_bool("PAGEMU_SYSCALL_GUARD", &on), 0);
	ck_assert_int_eq(on, 0);
	setenv("PAGEMU_SYSCALL_GUARD", "maybe", 1);
	ck_assert_int_eq(pm_config_env_bool("PAGEMU_SYSCALL_GUARD", &on), -EINVAL);
	ck_assert_int_eq(on, 0);
	ck_assert_str_eq(pagemu_last_error(), "PAGEMU_SYSCALL_GUARD=\"maybe\": expected 0 or 1");
	/* not a field: pagemu_config_from_env leaves it to the shim */
	pagemu_config_default(&cfg);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), 0);
}
END_TEST

/* ---- the table and the checks of a whole configuration --------------------------------- */

START_TEST(table_is_complete)
{
	const pm_setting_t *s;
	size_t fields = 0;

	for (size_t i = 0; (s = pm_setting(i)); i++) {
		ck_assert_msg(!strncmp(s->env, "PAGEMU_", 7), "%s", s->env);
		ck_assert_msg(!strncmp(s->option, "--", 2), "%s", s->option);
		ck_assert_ptr_eq(pm_setting_find(s->env), s);
		ck_assert_ptr_eq(pm_setting_find(s->option), s);
		ck_assert(s->limits && *s->limits && s->help && *s->help);
		ck_assert(s->kind != PM_SET_BOOL || s->flag);
		fields += s->field && s->kind != PM_SET_MEMORY;
	}
	/* Every field of pagemu_config_t has its row (tlb_sets and tlb_ways share one). */
	ck_assert_uint_eq(fields, 25);
	ck_assert_ptr_null(pm_setting_find("--no-such-option"));
}
END_TEST

START_TEST(validate_names_the_field)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.readahead = 65;
	ck_assert_int_eq(pagemu_config_validate(&cfg), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "readahead (PAGEMU_READAHEAD) = 65: out of range"));
	pagemu_config_default(&cfg);
	cfg.tlb_sets[0] = 1u << 20;
	cfg.tlb_ways[0] = 64;
	ck_assert_int_eq(pagemu_config_validate(&cfg), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "(PAGEMU_TLB) = 1048576x64,128x12: out of range"));
	pagemu_config_default(&cfg);
	cfg.frames = 1ULL << 30;                        /* 4 TiB of pool */
	ck_assert_int_eq(pagemu_config_validate(&cfg), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "frames (PAGEMU_FRAMES) = 1073741824"));
	pagemu_config_default(&cfg);
	snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "/bin/true");
	ck_assert_int_eq(pagemu_config_validate(&cfg), -ENOTDIR);
	ck_assert_str_eq(pagemu_last_error(), "swap_dir (PAGEMU_SWAP_DIR) = \"/bin/true\": Not a directory");
}
END_TEST

START_TEST(check_tries_the_files)
{
	pagemu_config_t cfg;
	pm_given_t given[64] = { { 0 } };
	const pm_setting_t *trace = pm_setting_find("PAGEMU_TRACE");
	char path[] = "/tmp/pagemu-test-config-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	pagemu_config_default(&cfg);
	ck_assert_int_eq(pm_config_check(&cfg, NULL), 0);
	snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "/proc");
	ck_assert_int_lt(pm_config_check(&cfg, NULL), 0);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "swap_dir (PAGEMU_SWAP_DIR) = \"/proc\": cannot create the swap file"));
	pagemu_config_default(&cfg);
	snprintf(cfg.trace_path, sizeof(cfg.trace_path), "/nonexistent/t");
	given[trace - pm_setting(0)] = (pm_given_t){ "--trace", "/nonexistent/t" };
	ck_assert_int_eq(pm_config_check(&cfg, given), -ENOENT);
	ck_assert_str_eq(pagemu_last_error(), "--trace \"/nonexistent/t\": No such file or directory");
	snprintf(cfg.trace_path, sizeof(cfg.trace_path), "%s", path);
	ck_assert_int_eq(pm_config_check(&cfg, NULL), 0);
	ck_assert_int_eq(access(path, F_OK), 0);        /* created, as the open will */
	unlink(path);
}
END_TEST

/* ---- the command lines ------------------------------------------------------------------ */

static char tmpdir[] = "/tmp/pagemu-test-config-XXXXXX";
static char out[1 << 14], err[1 << 14];

static void tool_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tool_teardown(void)
{
	pt_remove_dir(tmpdir);
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/* sh -c "cmd" from the top directory, with a time limit; stdout into out,
 * stderr into err. Returns the exit status. */
static int run(const char *cmd)
{
	char line[4096], o[300], e[300];
	int st;

	snprintf(o, sizeof(o), "%s/stdout", tmpdir);
	snprintf(e, sizeof(e), "%s/stderr", tmpdir);
	snprintf(line, sizeof(line), "timeout 60 sh -c '%s' >%s 2>%s </dev/null", cmd, o, e);
	st = pt_sh(line);
	slurp(o, out, sizeof(out));
	slurp(e, err, sizeof(err));
	return st;
}

#define EXPECT_ERR(s) ck_assert_msg(strstr(err, s), "stderr \"%s\" lacks \"%s\"", err, s)

/* pagemu run with a bad setting: 125 and a message, and the program never ran. */
static void run_rejects(const char *env_and_options, const char *message)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s run %s -- /bin/echo RAN", PAGEMU, env_and_options);
	if (strncmp(env_and_options, "PAGEMU_", 7) == 0)
		snprintf(cmd, sizeof(cmd), "env %.*s %s run %s -- /bin/echo RAN", (int)strcspn(env_and_options, " "),
			 env_and_options, PAGEMU, env_and_options + strcspn(env_and_options, " "));
	ck_assert_msg(run(cmd) == 125, "%s: status not 125 (stderr: %s)", cmd, err);
	EXPECT_ERR(message);
	ck_assert_msg(!strstr(out, "RAN"), "%s: the program ran", cmd);
}

START_TEST(run_checks_every_setting)
{
	pt_need_pagemu();
	run_rejects("PAGEMU_TLB=1048576x64", "PAGEMU_TLB=\"1048576x64\": out of range");
	run_rejects("PAGEMU_TLB=2147483648x64", "PAGEMU_TLB=\"2147483648x64\": out of range");
	run_rejects("PAGEMU_READAHEAD=4294967297", "PAGEMU_READAHEAD=\"4294967297\": out of range (1 to 64");
	run_rejects("PAGEMU_RECLAIM_BATCH=4294967328", "PAGEMU_RECLAIM_BATCH=\"4294967328\": out of range (1 to 256)");
	run_rejects("PAGEMU_SYSCALL_GUARD=maybe", "PAGEMU_SYSCALL_GUARD=\"maybe\": expected 0 or 1");
	run_rejects("--tlb 16xx4", "--tlb \"16xx4\": not SETSxWAYS");
	run_rejects("--tlb=16x4x", "--tlb \"16x4x\": not SETSxWAYS");
	run_rejects("--readahead 4294967297", "--readahead \"4294967297\": out of range");
	run_rejects("--frames 0x", "--frames \"0x\": not a number");
	run_rejects("--map-budget 8", "--map-budget \"8\": out of range");
	run_rejects("--policy opt", "--policy \"opt\": expected clock, fifo, lru or random");
	run_rejects("--verbose=0", "--verbose takes no value");
	run_rejects("--no-such", "unknown option '--no-such'");
	/* a pool too small for a whole program: the minimum is named */
	run_rejects("--frames 16", "pagemu run needs at least 32");
	run_rejects("--memory 64K", "pagemu run needs at least 32");
	/* a pool larger than the machine's memory would end in the OOM killer */
	run_rejects("--memory 1T", "--memory \"1T\": a pool of 1048576 MiB is more than the memory available");
	run_rejects("PAGEMU_MEMORY=1T", "PAGEMU_MEMORY=\"1T\": a pool of");
	ck_assert_int_eq(run(PAGEMU " run --frames"), 125);
	EXPECT_ERR("--frames needs a value");
	/* a bad variable an option overrides does not matter */
	ck_assert_int_eq(run("env PAGEMU_READAHEAD=0 " PAGEMU " run " PT_PRELOAD_OPT "--readahead 8 --quiet -- /bin/echo RAN"), 0);
	ck_assert_str_eq(out, "RAN\n");
}
END_TEST

START_TEST(run_checks_files_before_exec)
{
	pt_need_pagemu();
	run_rejects("--swap-dir /bin/true", "--swap-dir \"/bin/true\": Not a directory");
	run_rejects("--swap-dir /proc", "--swap-dir \"/proc\": cannot create the swap file");
	run_rejects("--swap-dir /nonexistent", "--swap-dir \"/nonexistent\": No such file or directory");
	run_rejects("--trace /nonexistent/t", "--trace \"/nonexistent/t\": No such file or directory");
	run_rejects("PAGEMU_SWAP_DIR=/bin/true", "PAGEMU_SWAP_DIR=\"/bin/true\": Not a directory");
}
END_TEST

START_TEST(run_new_options)
{
	char cmd[1024];

	pt_need_pagemu();
	/* Every option sets its variable as written: the shim parses it alike. */
	snprintf(cmd, sizeof(cmd), "env PAGEMU_FRAMES=100 %s run " PT_PRELOAD_OPT "--memory 2M --tlb 32x4,256x8 --reclaim-batch 16 "
		 "--map-budget 4096 --readahead 8 --swap-dir %s --verbose -- sh -c \"env | sort | grep ^PAGEMU_\"",
		 PAGEMU, tmpdir);
	ck_assert_msg(run(cmd) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(out, "PAGEMU_MEMORY=2M\n"));
	ck_assert_ptr_null(strstr(out, "PAGEMU_FRAMES"));   /* --memory wins over the variable */
	ck_assert_ptr_nonnull(strstr(out, "PAGEMU_TLB=32x4,256x8\n"));
	ck_assert_ptr_nonnull(strstr(out, "PAGEMU_RECLAIM_BATCH=16\n"));
	ck_assert_ptr_nonnull(strstr(out, "PAGEMU_MAP_BUDGET=4096\n"));
	ck_assert_ptr_nonnull(strstr(out, "PAGEMU_READAHEAD=8\n"));
	ck_assert_ptr_nonnull(strstr(out, "PAGEMU_VERBOSE=1\n"));
	EXPECT_ERR("open: 512 frames");
	/* O_DIRECT needs a disk filesystem: the build directory's, or a clear refusal */
	snprintf(cmd, sizeof(cmd), "%s run " PT_PRELOAD_OPT "--swap-direct --swap-dir . --no-syscall-guard --verbose -- "
		 "sh -c \"echo \\$PAGEMU_SWAP_DIRECT \\$PAGEMU_SYSCALL_GUARD\"", PAGEMU);
	if (run(cmd) == 0) {
		ck_assert_str_eq(out, "1 0\n");
		EXPECT_ERR("(O_DIRECT)");
	} else {
		EXPECT_ERR("--swap-dir \".\": cannot create the swap file with O_DIRECT");
	}
	/* --help is the table */
	ck_assert_int_eq(run(PAGEMU " --help"), 0);
	for (size_t i = 0; pm_setting(i); i++) {
		ck_assert_msg(strstr(out, pm_setting(i)->option), "--help lacks %s", pm_setting(i)->option);
		ck_assert_msg(strstr(out, pm_setting(i)->env), "--help lacks %s", pm_setting(i)->env);
	}
	ck_assert_int_eq(run(PAGEMU " --version"), 0);
	ck_assert_str_eq(out, "pagemu " PAGEMU_VERSION "\n");
}
END_TEST

START_TEST(run_execs_what_the_shell_would)
{
	char dir[] = "/tmp/pagemu-test-config-XXXXXX", path[8192];

	pt_need_pagemu();
	pt_make_dir(dir, "printf '#!/bin/sh\\necho ran \"$0\" \"$@\"\\n' > s.sh && chmod +x s.sh && "
			 "echo 'echo VICTIM' > victim && echo 'echo plain \"$@\"' > plain && chmod +x plain");
	/* a script with arguments: its interpreter runs the script on them (it
	 * used to run on ARGS alone: VICTIM) */
	ck_assert(pt_same_output(dir, "", "64", "./s.sh victim two"));
	snprintf(path, sizeof(path), "%s/pagemu.out", dir);
	slurp(path, out, sizeof(out));
	ck_assert_str_eq(out, "ran ./s.sh victim two\n");
	/* found in PATH, as the shell finds it */
	snprintf(path, sizeof(path), "%s:%s", dir, getenv("PATH"));
	setenv("PATH", path, 1);
	ck_assert(pt_same_output(dir, "", "64", "s.sh victim"));
	/* an executable text file without "#!": /bin/sh runs it, as the shell does */
	ck_assert(pt_same_output(dir, "", "64", "./plain one two"));
	pt_remove_dir(dir);
	/* env(1)'s statuses */
	ck_assert_int_eq(run(PAGEMU " run -- /nonexistent/prog"), 127);
	ck_assert_int_eq(run(PAGEMU " run -- no-such-program-anywhere"), 127);
	EXPECT_ERR("not found in PATH");
	if (access("/sbin/ldconfig", X_OK) == 0) {
		ck_assert_int_eq(run(PAGEMU " run -- /sbin/ldconfig -p"), 126);
		EXPECT_ERR("statically linked");
	}
	ck_assert_int_eq(run(PAGEMU " run"), 125);
	ck_assert_int_eq(run(PAGEMU " walk"), 125);
}
END_TEST

/* ---- pagemu-sim ----------------------------------------------------------------------- */

#define SIM PM_BUILD_DIR "/pagemu-sim"

/* pagemu-sim with a bad option: exit 2 (not a crash), naming it and its value as written. */
static void sim_rejects(const char *option, const char *value, const char *why)
{
	char cmd[1024], want[512];

	snprintf(cmd, sizeof(cmd), "%s %s %s --refs 1,2,3", SIM, option, value);
	ck_assert_msg(run(cmd) == 2, "%s: status not 2 (stderr: %s)", cmd, err);
	snprintf(want, sizeof(want), "%s '%s': %s", option, value, why);
	EXPECT_ERR(want);
}

START_TEST(sim_rejects_bad_options)
{
	ck_assert_msg(access(SIM, X_OK) == 0, "%s is not built (make)", SIM);
	sim_rejects("--tlb", "1073741824x715827883", "model tlb_sets: 1073741824 x 715827883 entries: at most 1048576");
	sim_rejects("--cache", "1073741824x1073741824x16", "model cache_sets x cache_ways x cache_line");
	sim_rejects("--frames", "1,,2", "expected counts");
	sim_rejects("--frames", ",1", "expected counts");
	sim_rejects("--frames", "1-257", "expected counts");
	sim_rejects("--tlb", "16xx4", "expected SETSxWAYS");
	sim_rejects("--tlb", "16x4x", "expected SETSxWAYS");
	sim_rejects("--tlb", "4294967296x4", "expected SETSxWAYS");
	sim_rejects("--cache", "64x4x", "expected SETSxWAYSxLINE");
	sim_rejects("--seed", ",5", "expected a number");
	sim_rejects("--page-bits", "12x", "expected 1..30");
	sim_rejects("--tlb-policy", "mru", "expected lru, fifo, random or plru");
	sim_rejects("--tlb-policy", "lru,", "expected lru, fifo, random or plru");
	/* PLRU keeps a set in 64 bits: checked against the geometry given first */
	ck_assert_int_eq(run(SIM " --tlb 1x128 --tlb-policy plru --refs 1"), 2);
	EXPECT_ERR("--tlb-policy 'plru': model tlb_sets: plru takes at most 64 ways, not 128");
}
END_TEST

START_TEST(sim_accepts_good_options)
{
	char cmd[1024];

	ck_assert_msg(access(SIM, X_OK) == 0, "%s is not built (make)", SIM);
	snprintf(cmd, sizeof(cmd), "%s --tlb 16x4,none --cache 64x4x64 --frames 0x2,3-4 --seed 7 --refs 1,2,3,1 --json",
		 SIM);
	ck_assert_msg(run(cmd) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(out, "\"frames\":2,\"refs\":4,\"faults\":4,"));
	ck_assert_ptr_nonnull(strstr(out, "\"frames\":4,\"refs\":4,\"faults\":3,"));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tp = tcase_create("parse");
	TCase *tc = tcase_create("settings");
	TCase *tt = tcase_create("tools");

	tcase_add_test(tp, numbers);
	tcase_add_test(tp, bools);
	tcase_add_test(tp, lists_and_geometries);
	tcase_add_test(tp, model_sizes_never_wrap);
	suite_add_tcase(s, tp);
	tcase_add_test(tc, env_values_out_of_range);
	tcase_add_test(tc, env_values_malformed);
	tcase_add_test(tc, env_values_accepted);
	tcase_add_test(tc, shim_bool);
	tcase_add_test(tc, table_is_complete);
	tcase_add_test(tc, validate_names_the_field);
	tcase_add_test(tc, check_tries_the_files);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(tt, tool_setup, tool_teardown);
	tcase_set_timeout(tt, 300);
	tcase_add_test(tt, run_checks_every_setting);
	tcase_add_test(tt, run_checks_files_before_exec);
	tcase_add_test(tt, run_new_options);
	tcase_add_test(tt, run_execs_what_the_shell_would);
	tcase_add_test(tt, sim_rejects_bad_options);
	tcase_add_test(tt, sim_accepts_good_options);
	suite_add_tcase(s, tt);
	return s;
}

PM_TEST_MAIN(make_suite)
