/* test_errors.c - bad configuration is rejected naming the field or the
 * variable; forbidden accesses die with the real SIGSEGV; a swap too small
 * for the overcommit ends in SIGBUS with a message, never in wrong data. */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

static void expect_open_fails(const pagemu_config_t *cfg, int err, const char *needle)
{
	pagemu_t *vm = (pagemu_t *)1;

	ck_assert_int_eq(pagemu_open(cfg, &vm), err);
	ck_assert_ptr_null(vm);
	ck_assert_msg(strstr(pagemu_last_error(), needle), "message \"%s\" lacks \"%s\"", pagemu_last_error(), needle);
}

START_TEST(test_invalid_configs)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.frames = 0;
	expect_open_fails(&cfg, -EINVAL, "frames (PAGEMU_FRAMES)");

	pagemu_config_default(&cfg);
	cfg.page_size = 1000;
	expect_open_fails(&cfg, -EINVAL, "page_size (PAGEMU_PAGE_SIZE)");
	cfg.page_size = 3 * 4096;
	expect_open_fails(&cfg, -EINVAL, "page_size (PAGEMU_PAGE_SIZE)");

	pagemu_config_default(&cfg);
	cfg.swap_size = 100;
	expect_open_fails(&cfg, -EINVAL, "swap_size (PAGEMU_SWAP_SIZE)");

	pagemu_config_default(&cfg);
	snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "/nonexistent/pagemu");
	expect_open_fails(&cfg, -ENOENT, "swap_dir (PAGEMU_SWAP_DIR)");

	pagemu_config_default(&cfg);
	cfg.readahead = 0;
	expect_open_fails(&cfg, -EINVAL, "readahead (PAGEMU_READAHEAD)");

	pagemu_config_default(&cfg);
	cfg.policy = PAGEMU_POLICY_OPT;
	expect_open_fails(&cfg, -EINVAL, "policy (PAGEMU_POLICY)");

	pagemu_config_default(&cfg);
	cfg.tlb_sets[0] = 3;
	expect_open_fails(&cfg, -EINVAL, "PAGEMU_TLB");

	/* A pool larger than the memory the machine can give is refused (it
	 * would end in the kernel's OOM killer, which kills others too). */
	pagemu_config_default(&cfg);
	cfg.frames = (size_t)1 << 28;                    /* 1 TiB of 4 KiB frames, the most allowed */
	expect_open_fails(&cfg, -ENOMEM, "more than the memory available");

	ck_assert_int_eq(pagemu_open(NULL, &(pagemu_t *){ 0 }), -EINVAL);
}
END_TEST

START_TEST(test_env_overrides)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	setenv("PAGEMU_FRAMES", "2K", 1);
	setenv("PAGEMU_SWAP_SIZE", "1G", 1);
	setenv("PAGEMU_POLICY", "lru", 1);
	setenv("PAGEMU_TLB", "32x4,256x8", 1);
	setenv("PAGEMU_SWAP_DIRECT", "1", 1);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), 0);
	ck_assert_uint_eq(cfg.frames, 2048);
	ck_assert_uint_eq(cfg.swap_size, 1ULL << 30);
	ck_assert_int_eq(cfg.policy, PAGEMU_POLICY_LRU);
	ck_assert_uint_eq(cfg.tlb_sets[1], 256);
	ck_assert_uint_eq(cfg.tlb_ways[1], 8);
	ck_assert_int_eq(cfg.swap_direct, 1);

	setenv("PAGEMU_FRAMES", "12x", 1);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "PAGEMU_FRAMES"));
	setenv("PAGEMU_FRAMES", "64", 1);
	setenv("PAGEMU_POLICY", "belady", 1);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "PAGEMU_POLICY"));
	unsetenv("PAGEMU_POLICY");
	setenv("PAGEMU_SWAP_DIRECT", "maybe", 1);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), -EINVAL);
	ck_assert_ptr_nonnull(strstr(pagemu_last_error(), "PAGEMU_SWAP_DIRECT"));
	unsetenv("PAGEMU_SWAP_DIRECT");
	setenv("PAGEMU_MEMORY", "64M", 1);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), 0);
	ck_assert_uint_eq(cfg.frames, 64);     /* PAGEMU_FRAMES wins over PAGEMU_MEMORY */
	unsetenv("PAGEMU_FRAMES");
	ck_assert_int_eq(pagemu_config_from_env(&cfg), 0);
	ck_assert_uint_eq(cfg.frames, 16384);
	unsetenv("PAGEMU_MEMORY");
	unsetenv("PAGEMU_SWAP_SIZE");
	unsetenv("PAGEMU_TLB");
}
END_TEST

START_TEST(test_map_rejects)
{
	pagemu_config_t cfg;
	pagemu_t *vm;

	pagemu_config_default(&cfg);
	cfg.frames = 8;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	errno = 0;
	ck_assert_ptr_null(pagemu_map(vm, 4096, PROT_READ, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(pagemu_map(vm, 4096, PROT_READ, MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(pagemu_map(vm, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 3, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(pagemu_map(vm, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(pagemu_map(vm, 4096, PROT_READ, MAP_PRIVATE, -1, 0));
	ck_assert_int_eq(errno, EBADF);
	ck_assert_ptr_null(pagemu_map(vm, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(pagemu_map(vm, 4096, 0x100, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ck_assert_int_eq(errno, EINVAL);
	/* Terabytes of reservation are fine. */
	void *big = pagemu_map(vm, 4ULL << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_nonnull(big);
	((volatile char *)big)[(4ULL << 40) - 1] = 1;
	ck_assert_int_eq(pagemu_unmap(vm, (char *)big + 1, 4096), -EINVAL);   /* unaligned */
	ck_assert_int_eq(pagemu_protect(vm, big, 4096, 0x100), -EINVAL);
	ck_assert_int_eq(pagemu_unmap(vm, big, 4ULL << 40), 0);
	pagemu_close(vm);
}
END_TEST

static pagemu_t *small_vm(void)
{
	pagemu_config_t cfg;
	pagemu_t *vm;

	pagemu_config_default(&cfg);
	cfg.frames = 4;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	return vm;
}

/* These end the (forked) test process with the real signal. */
START_TEST(test_write_to_readonly_region_dies)
{
	pagemu_t *vm = small_vm();
	volatile char *p = pagemu_map(vm, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_int_eq(p[100], 0);     /* reading is fine: a zero page */
	p[100] = 1;                      /* SIGSEGV */
}
END_TEST

START_TEST(test_write_after_protect_dies)
{
	pagemu_t *vm = small_vm();
	volatile char *p = pagemu_map(vm, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	p[0] = 5;
	ck_assert_int_eq(pagemu_protect(vm, (void *)p, 4096, PROT_READ), 0);
	ck_assert_int_eq(p[0], 5);
	p[4096] = 1;                     /* the other page is still writable */
	p[0] = 1;                        /* SIGSEGV */
}
END_TEST

START_TEST(test_access_outside_regions_dies)
{
	pagemu_t *vm = small_vm();
	volatile char *foreign = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)vm;
	foreign[0] = 1;                  /* not ours: the real SIGSEGV */
}
END_TEST

START_TEST(test_access_after_unmap_dies)
{
	pagemu_t *vm = small_vm();
	volatile char *p = pagemu_map(vm, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	p[0] = 1;
	p[8192] = 2;
	ck_assert_int_eq(pagemu_unmap(vm, (void *)(p + 8192), 8192), 0);
	ck_assert_int_eq(p[0], 1);
	(void)p[8192];                   /* SIGSEGV */
}
END_TEST

START_TEST(test_prot_none_dies)
{
	pagemu_t *vm = small_vm();
	volatile char *p = pagemu_map(vm, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)p[0];                      /* SIGSEGV */
}
END_TEST

/* More pages than frames + swap: the access that cannot be served gets
 * SIGBUS after a message; every page touched before reads back right. */
START_TEST(test_swap_full_sigbus)
{
	pagemu_config_t cfg;
	pagemu_t *vm;
	pagemu_stats_t s;

	pagemu_config_default(&cfg);
	cfg.frames = 16;
	cfg.swap_size = 32 * 4096;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	volatile uint64_t *a = pagemu_map(vm, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t p = 0; p < 48; p++)
		a[p * 512] = pm_test_pattern(p, 0);
	for (size_t p = 0; p < 48; p++)
		ck_assert(a[p * 512] == pm_test_pattern(p, 0));
	pagemu_get_stats(vm, &s);
	ck_assert_uint_ge(s.evictions, 48 - 16);      /* swap really filled up */
	ck_assert_uint_eq(s.swap_used, 32);
	a[48 * 512] = 1;                 /* SIGBUS: 49 pages, room for 48 */
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *cfg = tcase_create("configuration"), *die = tcase_create("deaths");

	tcase_add_test(cfg, test_invalid_configs);
	tcase_add_test(cfg, test_env_overrides);
	tcase_add_test(cfg, test_map_rejects);
	tcase_add_test_raise_signal(die, test_write_to_readonly_region_dies, SIGSEGV);
	tcase_add_test_raise_signal(die, test_write_after_protect_dies, SIGSEGV);
	tcase_add_test_raise_signal(die, test_access_outside_regions_dies, SIGSEGV);
	tcase_add_test_raise_signal(die, test_access_after_unmap_dies, SIGSEGV);
	tcase_add_test_raise_signal(die, test_prot_none_dies, SIGSEGV);
	tcase_add_test_raise_signal(die, test_swap_full_sigbus, SIGBUS);
	suite_add_tcase(s, cfg);
	suite_add_tcase(s, die);
	return s;
}

PM_TEST_MAIN(make_suite)
