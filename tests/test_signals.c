/* test_signals.c - pagemu's SIGSEGV handler among the program's signals.
 *
 * Library API: timer signals (setitimer's SIGALRM and a SIGRTMIN POSIX
 * timer) whose handlers read and write emulated pages while the main
 * thread thrashes a region much larger than the pool, inside pagemu's
 * fault handler and inside every API call that takes vm->lock (pin,
 * unpin, map, unmap, protect, stats, translate, owner). Contents must be
 * exact and nothing may hang: a watchdog thread ends a stuck test.
 *
 * Programs under `pagemu run` (tests/progs, compiled with cc; a test is
 * skipped, with a message, when cc or build/pagemu is missing), each
 * against a native run:
 *   own_libsigsegv  links libsigsegv and installs handlers of its own
 *   alt_stack       catches its stack overflow on an alternate stack
 *   sig_heap        timer handlers on heap memory, behind the syscall guard */
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "progtest.h"

#define WORDS 512                          /* uint64_t per 4 KiB page */
enum { FRAMES = 32, PAGES = 512, HPAGES = 48, ROUNDS = 3, WATCHDOG_S = 120 };

static pagemu_t *vm;
static volatile uint64_t *big;             /* the main thread's region, PAGES pages */
static volatile uint64_t *hmem;            /* the handlers' region, HPAGES pages */
static uint64_t visits[HPAGES];            /* writes so far per handler page (real memory) */
static volatile sig_atomic_t ticks[2], bad;
static uint64_t cursor;

/* ---- the handlers: one step on emulated memory per signal --------------- */

/* signal context (SIGALRM or SIGRTMIN, each masking the other): check the
 * next handler page and write it again; read a constant word of a page of
 * the main thread's region. Every access may fault, evict and swap. */
static void on_timer(int sig)
{
	uint64_t k = cursor++ % HPAGES, p = (cursor * 7) % PAGES;
	volatile uint64_t *w = hmem + k * WORDS;

	if (w[0] != pm_test_pattern(k, visits[k]) || w[WORDS - 1] != ~pm_test_pattern(k, visits[k]))
		bad++;
	visits[k]++;
	w[0] = pm_test_pattern(k, visits[k]);
	w[WORDS - 1] = ~pm_test_pattern(k, visits[k]);
	if (big[p * WORDS + 1] != pm_test_pattern(p, 1000))
		bad++;
	ticks[sig == SIGALRM]++;
}

static timer_t rt_timer;

static void start_timers(void)
{
	struct sigaction sa;
	struct sigevent ev;
	struct itimerval it = { .it_interval = { 0, 700 }, .it_value = { 0, 700 } };
	struct itimerspec rt = { .it_interval = { 0, 500000 }, .it_value = { 0, 500000 } };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_timer;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGALRM);
	sigaddset(&sa.sa_mask, SIGRTMIN);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(sigaction(SIGRTMIN, &sa, NULL), 0);
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, &ev, &rt_timer), 0);
	ck_assert_int_eq(timer_settime(rt_timer, 0, &rt, NULL), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void stop_timers(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &off, NULL);
	timer_delete(rt_timer);
	signal(SIGALRM, SIG_IGN);
	signal(SIGRTMIN, SIG_IGN);
}

/* ---- the watchdog -------------------------------------------------------- */

static pthread_t watchdog;
static atomic_int done;

/* Blocks every signal (the timers' go to the main thread) and ends the
 * process when the test has not finished in time: a deadlock fails. */
static void *watch(void *arg)
{
	PM_UNUSED(arg);
	for (int s = 0; s < WATCHDOG_S * 10 && !atomic_load(&done); s++)
		usleep(100000);
	if (!atomic_load(&done)) {
		static const char msg[] = "test_signals: no progress in time (deadlock?)\n";
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(98);
		_exit(99);
	}
	return NULL;
}

static void start_watchdog(void)
{
	sigset_t all, old;

	atomic_store(&done, 0);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ck_assert_int_eq(pthread_create(&watchdog, NULL, watch, NULL), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void stop_watchdog(void)
{
	atomic_store(&done, 1);
	pthread_join(watchdog, NULL);
}

/* ---- set-up -------------------------------------------------------------- */

static void open_instance(void)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.frames = FRAMES;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	big = pagemu_map(vm, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hmem = pagemu_map(vm, HPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((const void *)big);
	ck_assert_ptr_nonnull((const void *)hmem);
	for (uint64_t p = 0; p < PAGES; p++)
		big[p * WORDS + 1] = pm_test_pattern(p, 1000);
	for (uint64_t k = 0; k < HPAGES; k++) {
		hmem[k * WORDS] = pm_test_pattern(k, 0);
		hmem[k * WORDS + WORDS - 1] = ~pm_test_pattern(k, 0);
		visits[k] = 0;
	}
	cursor = 0;
	bad = ticks[0] = ticks[1] = 0;
}

/* After the timers stopped: every page as last written. */
static void check_contents(int rounds)
{
	for (uint64_t p = 0; p < PAGES; p++) {
		ck_assert_uint_eq(big[p * WORDS + 1], pm_test_pattern(p, 1000));
		if (rounds)
			ck_assert_uint_eq(big[p * WORDS], pm_test_pattern(p, (uint64_t)rounds - 1));
	}
	for (uint64_t k = 0; k < HPAGES; k++) {
		ck_assert_uint_eq(hmem[k * WORDS], pm_test_pattern(k, visits[k]));
		ck_assert_uint_eq(hmem[k * WORDS + WORDS - 1], ~pm_test_pattern(k, visits[k]));
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
}

/* One write pass over the main region, then a read pass that checks it;
 * api (may be NULL) runs between pages. */
static void thrash(int rounds, void (*api)(uint64_t p))
{
	for (int r = 0; r < rounds; r++) {
		for (uint64_t p = 0; p < PAGES; p++) {
			big[p * WORDS] = pm_test_pattern(p, (uint64_t)r);
			if (api)
				api(p);
		}
		for (uint64_t p = 0; p < PAGES; p++)
			ck_assert_uint_eq(big[p * WORDS], pm_test_pattern(p, (uint64_t)r));
	}
}

/* ---- library API ----------------------------------------------------------- */

/* The timers fire while the main thread is inside pagemu's fault handler
 * (nearly all the time: every access faults). */
START_TEST(timer_handlers_during_faults)
{
	pagemu_stats_t s;

	open_instance();
	start_watchdog();
	start_timers();
	thrash(ROUNDS, NULL);
	stop_timers();
	stop_watchdog();
	check_contents(ROUNDS);
	pagemu_get_stats(vm, &s);
	ck_assert_uint_gt(s.faults_major, 0);
	ck_assert_uint_eq(s.faults_declined, 0);
	ck_assert_int_gt(ticks[0] + ticks[1], 0);
	pagemu_close(vm);
}
END_TEST

/* Every call that holds vm->lock, between pages: a handler that faults
 * meanwhile must wait for the call to finish, not spin on the lock the
 * call holds. */
static void api_calls(uint64_t p)
{
	volatile uint64_t *page = big + p * WORDS;
	pagemu_xlate_t x;
	pagemu_stats_t s;
	void *tmp;

	ck_assert_int_eq(pagemu_pin(vm, (const void *)page, 4096), 0);
	ck_assert_int_eq(pagemu_unpin(vm, (const void *)page, 4096), 0);
	pagemu_get_stats(vm, &s);
	ck_assert_int_eq(pagemu_translate(vm, (uintptr_t)page, PROT_READ, &x), 0);
	for (int i = 0; i < 200; i++)
		ck_assert_ptr_eq(pagemu_owner((const void *)page), vm);
	if (p % 8 == 0) {
		tmp = pagemu_map(vm, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_nonnull(tmp);
		((volatile char *)tmp)[0] = 1;
		ck_assert_int_eq(pagemu_protect(vm, tmp, 16 * 4096, PROT_READ), 0);
		ck_assert_int_eq(pagemu_unmap(vm, tmp, 16 * 4096), 0);
	}
}

START_TEST(timer_handlers_during_api_calls)
{
	open_instance();
	start_watchdog();
	start_timers();
	thrash(1, api_calls);
	stop_timers();
	stop_watchdog();
	check_contents(1);
	ck_assert_int_gt(ticks[0] + ticks[1], 0);
	pagemu_close(vm);
}
END_TEST

/* ---- programs under pagemu run -------------------------------------------- */

static char dir[] = "/tmp/pagemu-signals-XXXXXX";

static void setup(void)
{
	pt_make_dir(dir, "true");
}

static void teardown(void)
{
	pt_remove_dir(dir);
}

/* Compile tests/progs/prog.c into dir with libs (make check installs cc,
 * pagemu and libsigsegv: their absence is a failure). Returns 1. */
static int build(const char *prog, const char *libs)
{
	char cmd[1024];

	pt_need_pagemu();
	snprintf(cmd, sizeof(cmd), "cc -O1 -o %s/%s %s/tests/progs/%s.c %s", dir, prog, PM_SRC_DIR, prog, libs);
	ck_assert_msg(pt_sh(cmd) == 0, "cannot compile tests/progs/%s.c %s", prog, libs);
	return 1;
}

/* Run ./prog natively, then under pagemu run with frames: both must exit
 * 0 and print the same. A hang is killed. */
static void same_output(const char *prog, const char *frames)
{
	char run[256];

	snprintf(run, sizeof(run), "timeout -s KILL %d ./%s", WATCHDOG_S, prog);
	ck_assert_msg(pt_same_output(dir, "", frames, run), "output differs under pagemu: %s", prog);
}

/* The same for a program that ends with status want. */
static void same_status(const char *prog, const char *frames, int want)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cd %s && timeout -s KILL %d ./%s > native.out", dir, WATCHDOG_S, prog);
	ck_assert_int_eq(pt_sh(cmd), want);
	snprintf(cmd, sizeof(cmd), "cd %s && timeout -s KILL %d %s run " PT_PRELOAD_OPT "--frames %s -- ./%s > pagemu.out",
		 dir, WATCHDOG_S, PAGEMU, frames, prog);
	ck_assert_int_eq(pt_sh(cmd), want);
	snprintf(cmd, sizeof(cmd), "cmp -s %s/native.out %s/pagemu.out", dir, dir);
	ck_assert_msg(pt_sh(cmd) == 0, "output differs under pagemu: %s", prog);
}

/* The run paged: its report counts evictions. */
static void paged(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "grep -q '\"evictions\":[1-9]' %s/report.json", dir);
	ck_assert_msg(pt_sh(cmd) == 0, "the program did not page under pagemu");
}

/* libsigsegv's handler registry is one global per copy of the library:
 * the program's handlers and pagemu's must not share it. */
START_TEST(program_with_own_libsigsegv)
{
	if (!build("own_libsigsegv", "-lsigsegv"))
		return;
	same_output("own_libsigsegv", "256");
	paged();
}
END_TEST

/* Both shared objects carry their copy of libsigsegv: no dependency on
 * libsigsegv.so, no libsigsegv symbol exported. */
START_TEST(libsigsegv_is_private)
{
	static const char *const objs[] = { PM_BUILD_DIR "/libpagemu.so", PM_BUILD_DIR "/libpagemu-preload.so" };
	char cmd[512];

	for (size_t i = 0; i < PM_ARRAY_LEN(objs); i++) {
		ck_assert_msg(access(objs[i], R_OK) == 0, "%s is not built (make)", objs[i]);
		ck_assert_msg(pt_sh("command -v readelf nm > /dev/null") == 0, "binutils (readelf, nm) missing");
		snprintf(cmd, sizeof(cmd), "readelf -d %s | grep -q 'NEEDED.*libsigsegv'", objs[i]);
		ck_assert_msg(pt_sh(cmd) != 0, "%s needs libsigsegv.so", objs[i]);
		snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s | grep -q -e sigsegv_ -e stackoverflow_", objs[i]);
		ck_assert_msg(pt_sh(cmd) != 0, "%s exports libsigsegv's symbols", objs[i]);
	}
}
END_TEST

/* A stack overflow reaches the program's handler, on its alternate stack
 * (small: pagemu's own faults enter there too, all the time). */
START_TEST(stack_overflow_on_alternate_stack)
{
	if (!build("alt_stack", ""))
		return;
	same_status("alt_stack", "256", 42);
}
END_TEST

/* Timer handlers on heap memory, with the syscall guard pinning buffers. */
START_TEST(timer_handlers_on_heap)
{
	if (!build("sig_heap", ""))
		return;
	same_output("sig_heap", "256");
	paged();
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("signals");
	TCase *tc = tcase_create("api");
	TCase *run = tcase_create("run");

	tcase_set_timeout(tc, WATCHDOG_S + 30);
	tcase_add_test(tc, timer_handlers_during_faults);
	tcase_add_test(tc, timer_handlers_during_api_calls);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(run, setup, teardown);
	tcase_set_timeout(run, 2 * WATCHDOG_S + 30);
	tcase_add_test(run, libsigsegv_is_private);
	tcase_add_test(run, program_with_own_libsigsegv);
	tcase_add_test(run, stack_overflow_on_alternate_stack);
	tcase_add_test(run, timer_handlers_on_heap);
	suite_add_tcase(s, run);
	return s;
}

PM_TEST_MAIN(make_suite)
