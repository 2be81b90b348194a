/* test_race.c - races: 8 threads on the cores there are, over memory 8x
 * the pool, read and write self-checking pages while other threads change
 * protections, unmap and map a region again, pin and unpin, and fork.
 *
 * Self-checking pages: page p at version v holds p in word 0, v in word 1
 * and pm_test_pattern(p, v) + i in every word i >= 2. A writer bumps the
 * version under the page's lock (a striped mutex array of the test's own)
 * and records it in ver[p] (ordinary memory); a reader, under the same
 * lock, checks every word against ver[p]: a torn, lost or misplaced page
 * (an eviction losing a dirty page, a swap-in of the wrong slot, a frame
 * reused while still mapped) is a mismatch. Each reader also checks that
 * the versions it sees never go backwards.
 *
 * The disruptors never cause a legitimate SIGSEGV:
 *   protect  a range (RANGE pages) goes read-only or PROT_NONE and back,
 *            under the range's rwlock held for writing; workers hold it for
 *            reading and look at state[] first: no write to a read-only
 *            range, no touch of a PROT_NONE one;
 *   remap    a scratch region is unmapped (in part, or whole) and mapped
 *            again (pagemu_map picks the address: the kernel may give the
 *            same one), its pages initialised, all under the scratch rwlock
 *            held for writing; workers use it under the lock held for
 *            reading;
 *   pin      a few pages of a range are pinned, read by the kernel (a
 *            write(2) to /dev/null: EFAULT if not mapped), checked and
 *            written, unpinned;
 *   fork     with every range lock (read) and page lock held, so the
 *            child's copy is consistent: the child checks a sample of
 *            pages against the ver[] it inherited, writes some (which the
 *            parent must never see), and exits 0, or 1 on a mismatch.
 * Debug and sanitizer builds run the engine's invariant checkers after
 * every fault (PAGEMU_CHECK=1). make check: a few seconds; make stress:
 * minutes, over a larger pool. */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "engine/engine.h"
#include "testutil.h"

#define WORDS    512                    /* 8-byte words in a 4 KiB page */
#define WORKERS  8
#define RANGE    64                     /* pages per protection range */
#define STRIPES  256                    /* page locks */
#define PIN_PAGES 8
#define SCRATCH_TAG 0x5c7a7c4000000000ULL

enum { ST_RW, ST_RO, ST_NONE };

static struct {
	size_t frames, npages, nranges, scratch_pages;
	double secs;
} size;

static pagemu_t *vm;
static uint64_t *mem;                         /* the main region: npages pages */
static uint64_t *ver;                         /* ver[p]: the version page p holds (ordinary memory) */
static pthread_rwlock_t *range_lock;          /* one per range */
static int *state;                            /* ST_* per range, changed under its lock held for writing */
static pthread_mutex_t stripe[STRIPES];

static pthread_rwlock_t scratch_lock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t *scratch;                     /* the scratch region, remapped */
static size_t scratch_live;                   /* its pages now */
static uint64_t *sver;                        /* versions of the scratch pages */

static volatile int stop;
static uint64_t mismatches, protects, remaps, pins, forks, fork_failures, api_errors;
static uint64_t reads, writes;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&msg_lock);
	if (!first_error[0]) {
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&msg_lock);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- self-checking pages ------------------------------------------------------ */

static void page_write(volatile uint64_t *pg, uint64_t tag, uint64_t v)
{
	uint64_t x = pm_test_pattern(tag, v);

	pg[1] = v;
	for (size_t i = 2; i < WORDS; i++)
		pg[i] = x + i;
	pg[0] = tag;
}

/* 0, or the index of the first word that is wrong (word 0 counts as 0 ->
 * returns 1 + index). */
static size_t page_check(const volatile uint64_t *pg, uint64_t tag, uint64_t v)
{
	uint64_t x = pm_test_pattern(tag, v);

	if (pg[0] != tag)
		return 1;
	if (pg[1] != v)
		return 2;
	for (size_t i = 2; i < WORDS; i++)
		if (pg[i] != x + i)
			return i + 1;
	return 0;
}

static volatile uint64_t *page_at(uint64_t *base, size_t p)
{
	return (volatile uint64_t *)base + p * WORDS;
}

static void check_main(size_t p, uint64_t *last_seen, const char *who)
{
	volatile uint64_t *pg = page_at(mem, p);
	size_t bad = page_check(pg, p, ver[p]);

	if (bad) {
		__atomic_add_fetch(&mismatches, 1, __ATOMIC_RELAXED);
		report("%s: page %zu: word %zu wrong: page holds tag %#llx version %llu, expected version %llu", who, p,
		       bad - 1, (unsigned long long)pg[0], (unsigned long long)pg[1], (unsigned long long)ver[p]);
	}
	if (last_seen) {
		if (ver[p] < last_seen[p]) {
			__atomic_add_fetch(&mismatches, 1, __ATOMIC_RELAXED);
			report("%s: page %zu went back from version %llu to %llu", who, p,
			       (unsigned long long)last_seen[p], (unsigned long long)ver[p]);
		}
		last_seen[p] = ver[p];
	}
}

/* ---- workers ------------------------------------------------------------------- */

static void worker_main(uint64_t *rng, uint64_t *last_seen)
{
	uint64_t r = rnd(rng);
	/* Half the touches in a hot set of half the pool (resident, its
	 * reference bits cleared and set again: minor faults), half anywhere
	 * (8x the pool: major faults). */
	size_t p = r % 2 ? (r >> 8) % (size.frames / 2) : (r >> 8) % size.npages;
	size_t rg = p / RANGE;
	int write = (r >> 40) % 10 < 3;

	pthread_rwlock_rdlock(&range_lock[rg]);
	if (state[rg] != ST_NONE) {
		pthread_mutex_lock(&stripe[p % STRIPES]);
		check_main(p, last_seen, "worker");
		if (write && state[rg] == ST_RW) {
			page_write(page_at(mem, p), p, ++ver[p]);
			last_seen[p] = ver[p];
			__atomic_add_fetch(&writes, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&stripe[p % STRIPES]);
	}
	pthread_rwlock_unlock(&range_lock[rg]);
}

static void worker_scratch(uint64_t *rng)
{
	uint64_t r = rnd(rng);

	pthread_rwlock_rdlock(&scratch_lock);
	if (scratch_live) {
		size_t i = r % scratch_live;
		volatile uint64_t *pg = page_at(scratch, i);
		size_t bad;
		pthread_mutex_lock(&stripe[(size.npages + i) % STRIPES]);
		if ((bad = page_check(pg, SCRATCH_TAG + i, sver[i]))) {
			__atomic_add_fetch(&mismatches, 1, __ATOMIC_RELAXED);
			report("worker: scratch page %zu: word %zu wrong: holds tag %#llx version %llu, expected %llu", i,
			       bad - 1, (unsigned long long)pg[0], (unsigned long long)pg[1], (unsigned long long)sver[i]);
		}
		if ((r >> 40) % 2)
			page_write(pg, SCRATCH_TAG + i, ++sver[i]);
		pthread_mutex_unlock(&stripe[(size.npages + i) % STRIPES]);
	}
	pthread_rwlock_unlock(&scratch_lock);
}

static void *worker(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
	uint64_t *last_seen = calloc(size.npages, sizeof(*last_seen));

	if (!last_seen)
		return (void *)1;
	while (!stop) {
		if (rnd(&rng) % 10 == 0)
			worker_scratch(&rng);
		else
			worker_main(&rng, last_seen);
	}
	free(last_seen);
	return NULL;
}

/* ---- disruptors ------------------------------------------------------------------- */

static void api_error(const char *what, int rc)
{
	__atomic_add_fetch(&api_errors, 1, __ATOMIC_RELAXED);
	report("%s: %s", what, pagemu_strerror(rc));
}

static void set_state(size_t rg, int st)
{
	static const int prot[] = { PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE };
	int rc;

	pthread_rwlock_wrlock(&range_lock[rg]);
	rc = pagemu_protect(vm, (char *)mem + rg * RANGE * 4096, RANGE * 4096, prot[st]);
	if (rc < 0)
		api_error("pagemu_protect", rc);
	else
		state[rg] = st;
	pthread_rwlock_unlock(&range_lock[rg]);
}

static void *protector(void *arg)
{
	uint64_t rng = 77;

	(void)arg;
	while (!stop) {
		size_t rg = rnd(&rng) % size.nranges;
		set_state(rg, rnd(&rng) % 4 ? ST_RO : ST_NONE);
		pause_us(500 + (long)(rnd(&rng) % 2000));
		set_state(rg, ST_RW);
		__atomic_add_fetch(&protects, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* A fresh scratch region, every page written at version 0. Called with
 * scratch_lock held for writing. */
static int scratch_new(void)
{
	scratch = pagemu_map(vm, size.scratch_pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!scratch) {
		scratch_live = 0;
		return -errno;
	}
	for (size_t i = 0; i < size.scratch_pages; i++) {
		sver[i] = 0;
		page_write(page_at(scratch, i), SCRATCH_TAG + i, 0);
	}
	scratch_live = size.scratch_pages;
	return 0;
}

static void *remapper(void *arg)
{
	uint64_t rng = 91;
	int rc;

	(void)arg;
	while (!stop) {
		pthread_rwlock_wrlock(&scratch_lock);
		if (scratch_live == size.scratch_pages && rnd(&rng) % 3 == 0) {
			/* a partial unmap: the upper half goes, the rest stays in use */
			size_t half = size.scratch_pages / 2;
			if ((rc = pagemu_unmap(vm, (char *)scratch + half * 4096, (size.scratch_pages - half) * 4096)) < 0)
				api_error("pagemu_unmap (upper half)", rc);
			else
				scratch_live = half;
		} else {
			if ((rc = pagemu_unmap(vm, scratch, scratch_live * 4096)) < 0)
				api_error("pagemu_unmap", rc);
			if ((rc = scratch_new()) < 0)
				api_error("pagemu_map", rc);
		}
		pthread_rwlock_unlock(&scratch_lock);
		__atomic_add_fetch(&remaps, 1, __ATOMIC_RELAXED);
		pause_us(1000 + (long)(rnd(&rng) % 3000));
	}
	return NULL;
}

static void *pinner(void *arg)
{
	uint64_t rng = 1234;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)arg;
	while (!stop) {
		size_t rg = rnd(&rng) % size.nranges;
		size_t first = rg * RANGE + rnd(&rng) % (RANGE - PIN_PAGES);
		char *addr = (char *)mem + first * 4096;
		int rc;

		pthread_rwlock_rdlock(&range_lock[rg]);
		if (state[rg] == ST_NONE) {
			pthread_rwlock_unlock(&range_lock[rg]);
			continue;
		}
		if ((rc = pagemu_pin(vm, addr, PIN_PAGES * 4096)) < 0) {
			api_error("pagemu_pin", rc);
		} else {
			/* the kernel reads pinned pages: no EFAULT */
			if (write(devnull, addr, PIN_PAGES * 4096) != PIN_PAGES * 4096)
				api_error("write(2) from pinned pages", -errno);
			for (size_t p = first; p < first + PIN_PAGES; p++) {
				pthread_mutex_lock(&stripe[p % STRIPES]);
				check_main(p, NULL, "pinner");
				if (state[rg] == ST_RW)
					page_write(page_at(mem, p), p, ++ver[p]);
				pthread_mutex_unlock(&stripe[p % STRIPES]);
			}
			pause_us(200);
			if ((rc = pagemu_unpin(vm, addr, PIN_PAGES * 4096)) < 0)
				api_error("pagemu_unpin", rc);
			__atomic_add_fetch(&pins, 1, __ATOMIC_RELAXED);
		}
		pthread_rwlock_unlock(&range_lock[rg]);
	}
	close(devnull);
	return NULL;
}

/* In the child: a sample of the pages against the ver[] inherited; then
 * writes that the parent must never see. No locks (the parent's threads
 * held them), no allocation. */
static int child_check(uint64_t seed)
{
	uint64_t rng = seed;
	int bad = 0;

	for (int k = 0; k < 128; k++) {
		size_t p = rnd(&rng) % size.npages;
		if (state[p / RANGE] != ST_NONE && page_check(page_at(mem, p), p, ver[p]))
			bad++;
	}
	for (int k = 0; k < 32; k++) {
		size_t p = rnd(&rng) % size.npages;
		if (state[p / RANGE] == ST_RW)
			page_write(page_at(mem, p), p, ver[p] + 1000000);
	}
	return bad ? 1 : 0;
}

static void *forker(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	while (!stop) {
		pid_t pid;
		int st;

		/* Every range (read) and page lock: no page is half written,
		 * no state[] half changed, in the child's copy. */
		for (size_t rg = 0; rg < size.nranges; rg++)
			pthread_rwlock_rdlock(&range_lock[rg]);
		for (int s = 0; s < STRIPES; s++)
			pthread_mutex_lock(&stripe[s]);
		pid = fork();
		if (pid == 0)
			_exit(child_check(++n * 31));
		for (int s = STRIPES - 1; s >= 0; s--)
			pthread_mutex_unlock(&stripe[s]);
		for (size_t rg = size.nranges; rg-- > 0;)
			pthread_rwlock_unlock(&range_lock[rg]);
		if (pid < 0) {
			api_error("fork", -errno);
			break;
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			__atomic_add_fetch(&fork_failures, 1, __ATOMIC_RELAXED);
			report("fork: the child %s %d", WIFEXITED(st) ? "exited" : "died of signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
		forks++;
		n++;
		pause_us(20000 * (long)(size.frames / 256));   /* a fork copies every page in use */
	}
	return NULL;
}

/* ---- the test ----------------------------------------------------------------------- */

START_TEST(test_race_all)
{
	void *(*const disruptor[])(void *) = { protector, remapper, pinner, forker };
	enum { NDIS = sizeof(disruptor) / sizeof(disruptor[0]) };
	pthread_t wt[WORKERS], dt[NDIS];
	pagemu_config_t cfg;
	pagemu_stats_t s;
	double t0;

	stop = 0;                                     /* (each loop runs in a fork of its own; still) */
	mismatches = protects = remaps = pins = forks = fork_failures = api_errors = reads = writes = 0;
	first_error[0] = 0;
	size.frames = pm_test_stress() ? 2048 : 256;
	size.npages = 8 * size.frames;                /* memory 8x the pool */
	size.nranges = size.npages / RANGE;
	size.scratch_pages = size.frames < 512 ? size.frames : 512;   /* re-initialised whole at each remap */
	size.secs = pm_test_stress() ? 120 : 8;
	pagemu_config_default(&cfg);
	cfg.frames = size.frames;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	mem = pagemu_map(vm, size.npages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull(mem);
	ver = calloc(size.npages, sizeof(*ver));
	sver = calloc(size.scratch_pages, sizeof(*sver));
	state = calloc(size.nranges, sizeof(*state));
	range_lock = calloc(size.nranges, sizeof(*range_lock));
	ck_assert(ver && sver && state && range_lock);
	for (size_t rg = 0; rg < size.nranges; rg++)
		pthread_rwlock_init(&range_lock[rg], NULL);
	for (int k = 0; k < STRIPES; k++)
		pthread_mutex_init(&stripe[k], NULL);
	for (size_t p = 0; p < size.npages; p++)
		page_write(page_at(mem, p), p, 0);
	pthread_rwlock_wrlock(&scratch_lock);
	ck_assert_int_eq(scratch_new(), 0);
	pthread_rwlock_unlock(&scratch_lock);

	t0 = now();
	for (uintptr_t t = 0; t < WORKERS; t++)
		ck_assert_int_eq(pthread_create(&wt[t], NULL, worker, (void *)t), 0);
	for (int d = 0; d < NDIS; d++)
		ck_assert_int_eq(pthread_create(&dt[d], NULL, disruptor[d], NULL), 0);
	while (now() - t0 < size.secs && !__atomic_load_n(&mismatches, __ATOMIC_RELAXED))
		pause_us(50000);
	stop = 1;
	for (int t = 0; t < WORKERS; t++) {
		void *rv;
		pthread_join(wt[t], &rv);
		ck_assert_ptr_null(rv);
	}
	for (int d = 0; d < NDIS; d++)
		pthread_join(dt[d], NULL);

	/* Every page once more, alone: nothing was lost. */
	for (size_t rg = 0; rg < size.nranges; rg++)
		ck_assert_int_eq(state[rg], ST_RW);
	for (size_t p = 0; p < size.npages; p++)
		check_main(p, NULL, "final pass");
	for (size_t i = 0; i < scratch_live; i++)
		if (page_check(page_at(scratch, i), SCRATCH_TAG + i, sver[i])) {
			mismatches++;
			report("final pass: scratch page %zu wrong", i);
		}
	pagemu_get_stats(vm, &s);
	fprintf(stderr, "test_race: %.1f s: %llu reads, %llu writes, %llu protects, %llu remaps, %llu pins, %llu forks; "
		"faults %llu (zero %llu, minor %llu, write %llu, major %llu), %llu evictions\n", now() - t0,
		(unsigned long long)reads, (unsigned long long)writes, (unsigned long long)protects,
		(unsigned long long)remaps, (unsigned long long)pins, (unsigned long long)forks,
		(unsigned long long)s.faults, (unsigned long long)s.faults_zero, (unsigned long long)s.faults_minor,
		(unsigned long long)s.faults_write, (unsigned long long)s.faults_major, (unsigned long long)s.evictions);
	ck_assert_msg(mismatches == 0, "%llu mismatches; the first: %s", (unsigned long long)mismatches, first_error);
	ck_assert_msg(fork_failures == 0, "%llu forked children failed; the first: %s", (unsigned long long)fork_failures,
		      first_error);
	ck_assert_msg(api_errors == 0, "%llu API calls failed; the first: %s", (unsigned long long)api_errors, first_error);
	ck_assert_uint_gt(s.faults_major, 0);
	ck_assert_uint_gt(s.faults_minor, 0);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_eq(s.faults_declined, 0);
	ck_assert_uint_gt(protects, 0);
	ck_assert_uint_gt(remaps, 0);
	ck_assert_uint_gt(pins, 0);
	ck_assert_uint_gt(forks, 0);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	pagemu_close(vm);
	for (size_t rg = 0; rg < size.nranges; rg++)
		pthread_rwlock_destroy(&range_lock[rg]);
	free(ver);
	free(sver);
	free(state);
	free(range_lock);
}
END_TEST

/* Debug and sanitizer builds: the invariant checkers after every fault. */
__attribute__((constructor)) static void ask_for_checks(void)
{
	setenv("PAGEMU_CHECK", "1", 0);
}

static Suite *make_suite(void)
{
	Suite *s = suite_create("race");
	TCase *tc = tcase_create("disruptors");

	tcase_set_timeout(tc, pm_test_stress() ? 1800 : 120);
	tcase_add_loop_test(tc, test_race_all, 0, pm_test_stress() ? 3 : 1);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
