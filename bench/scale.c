/* scale.c - how faults scale with threads: 1, 2 and 4 threads side by
 * side in one run, for demand-zero, minor and major (O_DIRECT swap) faults,
 * pagemu against the kernel; the device's own O_DIRECT random-read rate at
 * queue depths 1, 2 and 4; and (from bench/scale.sh, which runs
 * bench/thrash.sh) the thrash ratios against the kernel's swap.
 *
 *   zero   T threads each first-touch (write) their own contiguous part of
 *          one region, frames for every page (no eviction). Kernel: the
 *          same over anonymous memory (4 KiB pages), after a warm-up.
 *          Floor: the same touches served by a bare SIGSEGV handler that
 *          only mprotects the page read-write (a populated memfd
 *          mapping, as fault_cost's floor), in a forked child: how far
 *          any SIGSEGV-driven pager can scale on these CPUs and this
 *          kernel (mprotect takes the mmap lock for writing).
 *   minor  pagemu: fault_cost's minor case (every other page resident,
 *          map budget a quarter of them, so a re-touch finds its page
 *          resident and unmapped), T threads re-touching their own parts.
 *          Kernel: a memfd mapped MAP_SHARED, populated, its page-table
 *          entries dropped with MADV_DONTNEED before each pass: every write
 *          finds the page in the page cache (a minor fault, no fault-around
 *          for writes).
 *   major  a region 4x the memory (pagemu: frames; kernel: a memory cgroup
 *          of that size with a swap file), every page written first, then
 *          T threads touch uniformly random pages (1 in 4 a write).
 *          pagemu: O_DIRECT swap, readahead 1. Rate = major faults / s
 *          (pagemu faults_major, the kernel's ru_majflt). The kernel side
 *          runs in a forked child that enters the cgroup given by
 *          --kernel-cgroup (bench/scale.sh makes it, as root).
 *          Floor: the same touches over the same memory served by the
 *          least a SIGSEGV pager can do for a major fault, in a forked
 *          child: a bare handler takes the next frame in FIFO order,
 *          unmaps the page that held it (one mmap PROT_NONE), reads the
 *          page with one O_DIRECT pread from the device file into the
 *          frame and maps it read-write (one mmap MAP_POPULATE). No
 *          model, no reference bits, no write-back (dirty pages are
 *          dropped): how far any SIGSEGV-driven pager can scale its
 *          major faults on these CPUs, this disk and this kernel.
 *   device O_DIRECT 4 KiB random preads on a file in the swap directory,
 *          from 1, 2 and 4 threads (queue depth 1, 2, 4): what the disk
 *          allows.
 *
 * Each run measures every thread count of a kind moments apart (the order
 * rotating from run to run); scaling = rate(T) / rate(1) of the same run,
 * and the medians over runs are printed.
 *
 * usage: scale [--quick|--full] [--runs N] [--swap-dir DIR]
 *              [--kernel-cgroup DIR | --kernel-skip WHY]
 *              [--thrash-seq X --thrash-rand Y | --thrash-skip WHY]
 * Targets (issue 9): 2 threads over 1: demand-zero >= 1.6x, random major
 * faults >= 1.6x; 4 threads over 2 (2 cores) >= 0.95 (a 5% tolerance for
 * the VM's noise); thrash 1 thread, pagemu time / kernel time: random
 * <= 1.0, sequential <= 0.8. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"

#define NT 3
static const int nthreads[NT] = { 1, 2, 4 };
#define MAXT 4

enum { K_ZERO, K_MINOR, K_MAJOR, K_N };
enum { S_PAGEMU, S_KERNEL, S_FLOOR, S_N };
static const char *const kind_name[K_N] = { "zero", "minor", "major" };
static const char *const side_name[S_N] = { "pagemu", "kernel", "floor" };

static double rate[K_N][S_N][NT][BU_MAX_RUNS];   /* faults per second */
static int measured[K_N][S_N];
static char skipped[K_N][S_N][160];              /* why a side did not run */
static double dev_iops[NT][BU_MAX_RUNS];         /* O_DIRECT reads per second at QD 1, 2, 4 */
static double dev_p50_us[BU_MAX_RUNS];           /* QD1 median latency */
static size_t page;

typedef struct scale_opts {
	bu_common_t c;
	size_t zero_pages;       /* demand-zero: pages per measurement */
	size_t minor_pages;      /* minor: resident pages (every other page of the region) */
	int minor_passes;        /* minor: re-touch passes */
	size_t major_frames;     /* major: memory (pagemu frames = cgroup limit); region 4x */
	uint64_t major_touches;  /* major: random touches per thread count */
	size_t dev_mib;          /* device: file size */
	double dev_secs;         /* device: seconds per queue depth */
	const char *swap_dir;
	const char *cgroup;      /* kernel major faults: this memory cgroup */
	const char *kernel_skip; /* ...or why not */
	const char *thrash_seq, *thrash_rand, *thrash_skip;
} scale_opts_t;

/* ---- threads --------------------------------------------------------------- */

typedef struct job {
	char *base;              /* the region */
	size_t first, count;     /* seq: pages [first, first + count) of stride bytes */
	size_t stride;
	size_t npages;           /* rand: pages of the region */
	uint64_t touches, seed;  /* rand: touches, PRNG seed */
	int fd;                  /* dev: the O_DIRECT file */
	double secs;             /* dev: duration */
	uint64_t done;           /* dev: reads done */
	double lat_us[4096];     /* dev: a sample of latencies (QD1) */
	size_t nlat;
	pthread_barrier_t *go;
	uint64_t t0, t1;         /* this thread's start and end */
} job_t;

static void *seq_worker(void *arg)
{
	job_t *j = arg;

	pthread_barrier_wait(j->go);
	j->t0 = bu_now_ns();
	for (size_t i = j->first; i < j->first + j->count; i++)
		((volatile char *)j->base)[i * j->stride] = (char)i;
	j->t1 = bu_now_ns();
	return NULL;
}

static void *rand_worker(void *arg)
{
	job_t *j = arg;
	uint64_t s = j->seed;
	unsigned sum = 0;

	pthread_barrier_wait(j->go);
	j->t0 = bu_now_ns();
	for (uint64_t k = 0; k < j->touches; k++) {
		uint64_t r = bu_rand(&s);
		volatile char *c = j->base + (r % j->npages) * page + (r >> 52) * 8 % page;
		if ((r >> 40) % 4 == 0)
			*c = (char)k;
		else
			sum += *c;
	}
	j->t1 = bu_now_ns();
	__asm__ volatile("" : : "r"(sum));
	return NULL;
}

static void *dev_worker(void *arg)
{
	job_t *j = arg;
	uint64_t s = j->seed, end;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		BU_DIE("out of memory\n");
	pthread_barrier_wait(j->go);
	j->t0 = bu_now_ns();
	end = j->t0 + (uint64_t)(j->secs * 1e9);
	for (j->done = 0, j->nlat = 0; (j->t1 = bu_now_ns()) < end; j->done++) {
		off_t off = (off_t)(bu_rand(&s) % j->npages) * 4096;
		uint64_t t = j->t1;
		if (pread(j->fd, buf, 4096, off) != 4096)
			BU_DIE("device: pread: %s\n", strerror(errno));
		if (j->nlat < sizeof(j->lat_us) / sizeof(j->lat_us[0]))
			j->lat_us[j->nlat++] = (double)(bu_now_ns() - t) / 1e3;
	}
	free(buf);
	return NULL;
}

/* Run n jobs on n threads released together; the wall time from the first
 * start to the last end, in seconds. */
static double run_threads(int n, job_t *jobs, void *(*fn)(void *))
{
	pthread_t th[MAXT];
	pthread_barrier_t go;
	uint64_t t0 = UINT64_MAX, t1 = 0;

	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (int t = 0; t < n; t++) {
		jobs[t].go = &go;
		if (pthread_create(&th[t], NULL, fn, &jobs[t]))
			BU_DIE("pthread_create failed\n");
	}
	for (int t = 0; t < n; t++) {
		pthread_join(th[t], NULL);
		t0 = jobs[t].t0 < t0 ? jobs[t].t0 : t0;
		t1 = jobs[t].t1 > t1 ? jobs[t].t1 : t1;
	}
	pthread_barrier_destroy(&go);
	return (double)(t1 - t0) / 1e9;
}

/* n threads, each over its own contiguous share of npages (stride bytes
 * apart). */
static double run_seq(int n, char *base, size_t npages, size_t stride)
{
	job_t jobs[MAXT];

	memset(jobs, 0, sizeof(jobs));
	for (int t = 0; t < n; t++) {
		jobs[t].base = base;
		jobs[t].stride = stride;
		jobs[t].first = npages * (size_t)t / (size_t)n;
		jobs[t].count = npages * (size_t)(t + 1) / (size_t)n - jobs[t].first;
	}
	return run_threads(n, jobs, seq_worker);
}

/* n threads sharing touches random touches of npages pages. */
static double run_rand(int n, char *base, size_t npages, uint64_t touches, uint64_t seed)
{
	job_t jobs[MAXT];

	memset(jobs, 0, sizeof(jobs));
	for (int t = 0; t < n; t++) {
		jobs[t].base = base;
		jobs[t].npages = npages;
		jobs[t].touches = touches / (uint64_t)n;
		jobs[t].seed = seed * 1000 + (uint64_t)t;
	}
	return run_threads(n, jobs, rand_worker);
}

/* ---- demand-zero ---------------------------------------------------------------- */

static void zero_pagemu(const scale_opts_t *o, int ti, int run)
{
	pagemu_config_t cfg;
	pagemu_stats_t a, b;
	pagemu_t *vm;
	char *p;
	double secs;

	pagemu_config_default(&cfg);
	cfg.frames = o->zero_pages;
	vm = bu_open(&cfg);
	p = bu_map(vm, o->zero_pages * page);
	pagemu_get_stats(vm, &a);
	secs = run_seq(nthreads[ti], p, o->zero_pages, page);
	pagemu_get_stats(vm, &b);
	if (b.faults_zero - a.faults_zero != o->zero_pages)
		BU_DIE("zero: %llu demand-zero faults for %zu pages\n",
		       (unsigned long long)(b.faults_zero - a.faults_zero), o->zero_pages);
	if (run == 0 && b.budget_unmaps != a.budget_unmaps)
		printf("  (zero, %d threads: %llu budget unmaps)\n", nthreads[ti],
		       (unsigned long long)(b.budget_unmaps - a.budget_unmaps));
	rate[K_ZERO][S_PAGEMU][ti][run] = (double)o->zero_pages / secs;
	pagemu_close(vm);
}

/* The kernel's fault is several times cheaper: 4x the pages, for a time
 * long enough to measure. */
static void zero_kernel(const scale_opts_t *o, int ti, int run)
{
	size_t n = 4 * o->zero_pages, len = n * page;
	char *p = bu_anon(len, 1);
	uint64_t f0 = bu_minflt();
	double secs = run_seq(nthreads[ti], p, n, page);

	rate[K_ZERO][S_KERNEL][ti][run] = (double)(bu_minflt() - f0) / secs;
	munmap(p, len);
}

/* The floor's handler: make the page read-write, nothing else. */
static void floor_handler(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	mprotect((void *)((uintptr_t)si->si_addr & ~(uintptr_t)(page - 1)), page, PROT_READ | PROT_WRITE);
}

/* In a child (its SIGSEGV handler is the floor's, never pagemu's): a
 * memfd mapping, populated, then made inaccessible; T threads first-touch
 * their parts, each fault one mprotect. */
static void zero_floor(const scale_opts_t *o, int ti, int run)
{
	size_t n = o->zero_pages, len = n * page;
	int pfd[2];
	pid_t pid;
	double r = 0;

	if (pipe(pfd) < 0 || (pid = fork()) < 0)
		BU_DIE("zero floor: pipe/fork: %s\n", strerror(errno));
	if (pid == 0) {
		struct sigaction sa;
		int fd = memfd_create("scale-floor", 0);
		char *p;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = floor_handler;
		sa.sa_flags = SA_SIGINFO;
		if (fd < 0 || ftruncate(fd, (off_t)len) < 0 || sigaction(SIGSEGV, &sa, NULL) < 0)
			_exit(1);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
		if (p == MAP_FAILED || mprotect(p, len, PROT_NONE) < 0)
			_exit(1);
		r = (double)n / run_seq(nthreads[ti], p, n, page);
		if (write(pfd[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &r, sizeof(r)) != sizeof(r))
		BU_DIE("zero floor: the child failed\n");
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	rate[K_ZERO][S_FLOOR][ti][run] = r;
}

/* ---- minor ----------------------------------------------------------------------- */

static void minor_pagemu(const scale_opts_t *o, int ti, int run)
{
	size_t n = o->minor_pages;
	pagemu_config_t cfg;
	pagemu_stats_t a, b;
	pagemu_t *vm;
	double secs = 0;
	char *p;

	pagemu_config_default(&cfg);
	cfg.frames = n;
	cfg.map_budget = n / 4 < 16 ? 16 : n / 4;
	vm = bu_open(&cfg);
	p = bu_map(vm, 2 * n * page);
	bu_write_pages(p, n, 2 * page);
	pagemu_get_stats(vm, &a);
	for (int pass = 0; pass < o->minor_passes; pass++)
		secs += run_seq(nthreads[ti], p, n, 2 * page);
	pagemu_get_stats(vm, &b);
	if (b.faults - a.faults != b.faults_minor - a.faults_minor)
		fprintf(stderr, "minor: %llu faults of other kinds\n",
			(unsigned long long)((b.faults - a.faults) - (b.faults_minor - a.faults_minor)));
	rate[K_MINOR][S_PAGEMU][ti][run] = (double)(b.faults_minor - a.faults_minor) / secs;
	if (run == 0)
		printf("  (minor, pagemu, %d threads: %llu minor faults for %zu touches)\n", nthreads[ti],
		       (unsigned long long)(b.faults_minor - a.faults_minor), n * (size_t)o->minor_passes);
	pagemu_close(vm);
}

static void minor_kernel(const scale_opts_t *o, int ti, int run)
{
	size_t n = o->minor_pages, len = n * page;
	int fd = memfd_create("scale-minor", MFD_CLOEXEC);
	uint64_t faults = 0;
	double secs = 0;
	char *p;

	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		BU_DIE("memfd: %s\n", strerror(errno));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		BU_DIE("mmap memfd: %s\n", strerror(errno));
	bu_write_pages(p, n, page);           /* every page in the page cache */
	for (int pass = 0; pass < o->minor_passes; pass++) {
		uint64_t f0;
		madvise(p, len, MADV_DONTNEED);   /* the PTEs go, the pages stay */
		f0 = bu_minflt();
		secs += run_seq(nthreads[ti], p, n, page);
		faults += bu_minflt() - f0;
	}
	rate[K_MINOR][S_KERNEL][ti][run] = (double)faults / secs;
	munmap(p, len);
	close(fd);
}

/* ---- major ----------------------------------------------------------------------- */

/* The order of the thread counts in run r: rotated, so that no count is
 * always first (the first phase after the fill sees a different state). */
static int order(int r, int k)
{
	return (k + r) % NT;
}

static void major_pagemu(const scale_opts_t *o, int run)
{
	size_t region = 4 * o->major_frames;
	pagemu_config_t cfg;
	pagemu_t *vm;
	char *p;

	pagemu_config_default(&cfg);
	cfg.frames = o->major_frames;
	cfg.swap_direct = 1;
	cfg.readahead = 1;
	cfg.swap_size = (uint64_t)region * page * 2;
	snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "%s", o->swap_dir);
	vm = bu_open(&cfg);
	p = bu_map(vm, region * page);
	bu_write_pages(p, region, page);
	run_rand(1, p, region, o->major_touches / 4, 99);      /* into the steady state */
	for (int k = 0; k < NT; k++) {
		int ti = order(run, k);
		pagemu_stats_t a, b;
		double secs;
		pagemu_get_stats(vm, &a);
		secs = run_rand(nthreads[ti], p, region, o->major_touches, (uint64_t)run * 10 + (uint64_t)k);
		pagemu_get_stats(vm, &b);
		rate[K_MAJOR][S_PAGEMU][ti][run] = (double)(b.faults_major - a.faults_major) / secs;
		if (run == 0)
			printf("  (major, pagemu, %d threads: %llu major faults in %.2f s, %llu evictions, %llu writebacks, "
			       "%llu reclaim waits)\n", nthreads[ti], (unsigned long long)(b.faults_major - a.faults_major), secs,
			       (unsigned long long)(b.evictions - a.evictions), (unsigned long long)(b.writebacks - a.writebacks),
			       (unsigned long long)(b.reclaim_waits - a.reclaim_waits));
	}
	pagemu_close(vm);
}

static int write_str(const char *dir, const char *name, const char *value)
{
	char path[512];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY)) < 0)
		return -1;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	return close(fd) == 0 && ok ? 0 : -1;
}

/* Run child(o, run, arg, r) in a forked child (its own SIGSEGV handler,
 * cgroup, ...) and take back the rates it measured for each thread count
 * into r. */
static void rates_in_child(const char *what, const scale_opts_t *o, int run, int arg,
			   void (*child)(const scale_opts_t *, int, int, double *), double *r)
{
	int fds[2], st = 0;
	pid_t pid;

	if (pipe(fds) < 0)
		BU_DIE("%s: pipe: %s\n", what, strerror(errno));
	fflush(stdout);
	if ((pid = fork()) < 0)
		BU_DIE("%s: fork: %s\n", what, strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		child(o, run, arg, r);
		_exit(write(fds[1], r, NT * sizeof(*r)) == (ssize_t)(NT * sizeof(*r)) ? 0 : 3);
	}
	close(fds[1]);
	if (read(fds[0], r, NT * sizeof(*r)) != (ssize_t)(NT * sizeof(*r))) {
		waitpid(pid, &st, 0);
		BU_DIE("%s: the child failed (status %d)\n", what, st);
	}
	close(fds[0]);
	waitpid(pid, &st, 0);
}

/* The child: enters the cgroup, fills a region 4x its limit (most of it
 * goes to swap), then the random phases. */
static void major_kernel_child(const scale_opts_t *o, int run, int unused, double *r)
{
	size_t region = 4 * o->major_frames, len = region * page;
	char pid[32], *p;

	(void)unused;
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write_str(o->cgroup, "cgroup.procs", pid) < 0)
		_exit(2);
	p = bu_anon(len, 1);
	bu_write_pages(p, region, page);
	run_rand(1, p, region, o->major_touches / 4, 99);
	for (int k = 0; k < NT; k++) {
		int ti = order(run, k);
		uint64_t m0 = bu_majflt();
		double secs = run_rand(nthreads[ti], p, region, o->major_touches, (uint64_t)run * 10 + (uint64_t)k);
		r[ti] = (double)(bu_majflt() - m0) / secs;
	}
}

static void major_kernel(const scale_opts_t *o, int run)
{
	double r[NT];
	char what[600];

	snprintf(what, sizeof(what), "major, kernel (memory cgroup %s)", o->cgroup);
	rates_in_child(what, o, run, 0, major_kernel_child, r);
	for (int ti = 0; ti < NT; ti++)
		rate[K_MAJOR][S_KERNEL][ti][run] = r[ti];
}

/* The major floor (see the top): state of the child's bare pager. */
static struct {
	char *region, *frames;
	size_t nframes, npages;
	int pool_fd, dev_fd;
	size_t dev_pages;
	_Atomic uint64_t hand, faults;
	_Atomic uintptr_t *owner;        /* the page each frame holds (0: none) */
} mf;

static void major_floor_handler(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t va = (uintptr_t)si->si_addr & ~(uintptr_t)(page - 1), old;
	size_t pn = (va - (uintptr_t)mf.region) / page;
	uint64_t f = atomic_fetch_add(&mf.hand, 1) % mf.nframes;
	int saved = errno;

	(void)sig;
	(void)ctx;
	old = atomic_exchange(&mf.owner[f], va);
	if (old)
		mmap((void *)old, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	if (pread(mf.dev_fd, mf.frames + f * page, page, (off_t)((pn % mf.dev_pages) * page)) != (ssize_t)page)
		_exit(5);
	mmap((void *)va, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, mf.pool_fd,
	     (off_t)(f * page));
	atomic_fetch_add(&mf.faults, 1);
	errno = saved;
}

/* The floor's child: the bare pager over a FIFO pool, then the random
 * phases. */
static void major_floor_child(const scale_opts_t *o, int run, int dev_fd, double *r)
{
	struct sigaction sa;

	mf.nframes = o->major_frames;
	mf.npages = 4 * o->major_frames;
	mf.dev_fd = dev_fd;
	mf.dev_pages = o->dev_mib * ((1u << 20) / page);
	mf.owner = calloc(mf.nframes, sizeof(*mf.owner));
	mf.pool_fd = memfd_create("scale-major-floor", 0);
	if (!mf.owner || mf.pool_fd < 0 || ftruncate(mf.pool_fd, (off_t)(mf.nframes * page)) < 0)
		_exit(1);
	mf.frames = mmap(NULL, mf.nframes * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mf.pool_fd, 0);
	mf.region = mmap(NULL, mf.npages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = major_floor_handler;
	sa.sa_flags = SA_SIGINFO;
	if (mf.frames == MAP_FAILED || mf.region == MAP_FAILED || sigaction(SIGSEGV, &sa, NULL) < 0)
		_exit(1);
	run_rand(1, mf.region, mf.npages, o->major_touches / 4, 99);      /* every frame in use */
	for (int k = 0; k < NT; k++) {
		int ti = order(run, k);
		uint64_t f0 = atomic_load(&mf.faults);
		double secs = run_rand(nthreads[ti], mf.region, mf.npages, o->major_touches, (uint64_t)run * 10 + (uint64_t)k);
		r[ti] = (double)(atomic_load(&mf.faults) - f0) / secs;
	}
}

static void major_floor(const scale_opts_t *o, int run, int dev_fd)
{
	double r[NT];

	rates_in_child("major floor", o, run, dev_fd, major_floor_child, r);
	for (int ti = 0; ti < NT; ti++)
		rate[K_MAJOR][S_FLOOR][ti][run] = r[ti];
}

/* ---- the device ------------------------------------------------------------------ */

/* A file of dev_mib MiB in the swap directory, written out (reads of
 * unwritten blocks would not reach the disk), unlinked, open O_DIRECT. */
static int dev_open(const scale_opts_t *o)
{
	size_t chunk = 1 << 20;
	void *buf;
	int fd = open(o->swap_dir, O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);

	if (fd < 0)
		BU_DIE("device: O_TMPFILE|O_DIRECT in %s: %s\n", o->swap_dir, strerror(errno));
	if (posix_memalign(&buf, 4096, chunk))
		BU_DIE("out of memory\n");
	memset(buf, 0x5a, chunk);
	for (size_t i = 0; i < o->dev_mib; i++)
		if (pwrite(fd, buf, chunk, (off_t)(i * chunk)) != (ssize_t)chunk)
			BU_DIE("device: write: %s\n", strerror(errno));
	fdatasync(fd);
	free(buf);
	return fd;
}

static void device(const scale_opts_t *o, int fd, int run)
{
	for (int ti = 0; ti < NT; ti++) {
		job_t *jobs = calloc(MAXT, sizeof(*jobs));
		uint64_t done = 0;
		double secs;
		if (!jobs)
			BU_DIE("out of memory\n");
		for (int t = 0; t < nthreads[ti]; t++) {
			jobs[t].fd = fd;
			jobs[t].npages = o->dev_mib * 256;
			jobs[t].secs = o->dev_secs;
			jobs[t].seed = (uint64_t)run * 100 + (uint64_t)t + 7;
		}
		secs = run_threads(nthreads[ti], jobs, dev_worker);
		for (int t = 0; t < nthreads[ti]; t++)
			done += jobs[t].done;
		dev_iops[ti][run] = (double)done / secs;
		if (ti == 0)
			dev_p50_us[run] = bu_median(jobs[0].lat_us, (int)jobs[0].nlat);
		free(jobs);
	}
}

/* ---- report ---------------------------------------------------------------------- */

static double scaling(int k, int s, int ti, int tj, int runs)
{
	return bu_median_ratio(rate[k][s][ti], rate[k][s][tj], runs);
}

static void report(const scale_opts_t *o)
{
	int runs = o->c.runs;

	printf("\nfaults per second (median of %d runs); x1 = over 1 thread, x2 = over 2 threads (medians of the "
	       "per-run ratios)\n", runs);
	printf("%-6s %-7s", "kind", "side");
	for (int ti = 0; ti < NT; ti++)
		printf(" %11s%d", "T=", nthreads[ti]);
	printf(" %8s %8s %8s\n", "2T x1", "4T x1", "4T x2");
	for (int k = 0; k < K_N; k++)
		for (int s = 0; s < S_N; s++) {
			if (s == S_FLOOR && k == K_MINOR)
				continue;               /* (no floor of its own: fault_cost's) */
			printf("%-6s %-7s", kind_name[k], side_name[s]);
			if (!measured[k][s]) {
				printf(" skipped: %s\n", skipped[k][s]);
				continue;
			}
			for (int ti = 0; ti < NT; ti++)
				printf(" %12.0f", bu_median(rate[k][s][ti], runs));
			printf(" %8.2f %8.2f %8.2f\n", scaling(k, s, 1, 0, runs), scaling(k, s, 2, 0, runs),
			       scaling(k, s, 2, 1, runs));
		}
	printf("%-6s %-7s", "device", "QD=T");
	for (int ti = 0; ti < NT; ti++)
		printf(" %12.0f", bu_median(dev_iops[ti], runs));
	printf(" %8.2f %8.2f %8.2f   (O_DIRECT 4 KiB random reads/s in %s, %s; QD1 median %.1f us)\n",
	       bu_median_ratio(dev_iops[1], dev_iops[0], runs), bu_median_ratio(dev_iops[2], dev_iops[0], runs),
	       bu_median_ratio(dev_iops[2], dev_iops[1], runs), o->swap_dir, bu_fs_name(o->swap_dir),
	       bu_median(dev_p50_us, runs));
	if (o->thrash_skip)
		printf("thrash  1 thread, pagemu time / kernel time: skipped: %s\n", o->thrash_skip);
	else
		printf("thrash  1 thread, pagemu time / kernel time (bench/thrash.sh, O_DIRECT swap): random %s, "
		       "sequential %s\n", o->thrash_rand, o->thrash_seq);
	printf("\n");
	bu_summary("scale", "zero-2t/1t-pagemu", scaling(K_ZERO, S_PAGEMU, 1, 0, runs), ">=", 1.6);
	bu_summary("scale", "zero-4t/2t-pagemu", scaling(K_ZERO, S_PAGEMU, 2, 1, runs), ">=", 0.95);
	bu_summary("scale", "zero-2t/1t-kernel", scaling(K_ZERO, S_KERNEL, 1, 0, runs), "-", 0);
	bu_summary("scale", "zero-2t/1t-floor", scaling(K_ZERO, S_FLOOR, 1, 0, runs), "-", 0);
	bu_summary("scale", "zero-1t-pagemu/floor-rate",
		   bu_median_ratio(rate[K_ZERO][S_PAGEMU][0], rate[K_ZERO][S_FLOOR][0], runs), "-", 0);
	bu_summary("scale", "minor-2t/1t-pagemu", scaling(K_MINOR, S_PAGEMU, 1, 0, runs), "-", 0);
	bu_summary("scale", "minor-4t/2t-pagemu", scaling(K_MINOR, S_PAGEMU, 2, 1, runs), ">=", 0.95);
	bu_summary("scale", "minor-2t/1t-kernel", scaling(K_MINOR, S_KERNEL, 1, 0, runs), "-", 0);
	bu_summary("scale", "major-2t/1t-pagemu", scaling(K_MAJOR, S_PAGEMU, 1, 0, runs), ">=", 1.6);
	bu_summary("scale", "major-4t/2t-pagemu", scaling(K_MAJOR, S_PAGEMU, 2, 1, runs), ">=", 0.95);
	bu_summary("scale", "major-2t/1t-floor", scaling(K_MAJOR, S_FLOOR, 1, 0, runs), "-", 0);
	bu_summary("scale", "major-4t/2t-floor", scaling(K_MAJOR, S_FLOOR, 2, 1, runs), "-", 0);
	bu_summary("scale", "major-1t-pagemu/floor-rate",
		   bu_median_ratio(rate[K_MAJOR][S_PAGEMU][0], rate[K_MAJOR][S_FLOOR][0], runs), "-", 0);
	if (measured[K_MAJOR][S_KERNEL]) {
		bu_summary("scale", "major-2t/1t-kernel", scaling(K_MAJOR, S_KERNEL, 1, 0, runs), "-", 0);
		bu_summary("scale", "major-1t-pagemu/kernel",
			   bu_median_ratio(rate[K_MAJOR][S_PAGEMU][0], rate[K_MAJOR][S_KERNEL][0], runs), "-", 0);
	} else {
		printf("SUMMARY scale major-2t/1t-kernel - - - skipped\n");
	}
	bu_summary("scale", "device-qd2/qd1", bu_median_ratio(dev_iops[1], dev_iops[0], runs), "-", 0);
	if (o->thrash_skip || !strcmp(o->thrash_rand, "-") || !strcmp(o->thrash_seq, "-")) {
		printf("SUMMARY scale thrash-rand-pagemu/kernel - <= 1.00 skipped\n");
		printf("SUMMARY scale thrash-seq-pagemu/kernel - <= 0.80 skipped\n");
	} else {
		bu_summary("scale", "thrash-rand-pagemu/kernel", atof(o->thrash_rand), "<=", 1.0);
		bu_summary("scale", "thrash-seq-pagemu/kernel", atof(o->thrash_seq), "<=", 0.8);
	}
}

/* ---- main ------------------------------------------------------------------------ */

static void parse(scale_opts_t *o, int argc, char **argv)
{
	static const char *const disk_dirs[] = { "/var/tmp", "/tmp", ".", NULL };
	const char *v;

	memset(o, 0, sizeof(*o));
	o->c.runs = 0;
	o->c.quick = 1;
	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&o->c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--swap-dir")))
			o->swap_dir = v;
		else if ((v = bu_opt(argc, argv, &i, "--kernel-cgroup")))
			o->cgroup = v;
		else if ((v = bu_opt(argc, argv, &i, "--kernel-skip")))
			o->kernel_skip = v;
		else if ((v = bu_opt(argc, argv, &i, "--thrash-seq")))
			o->thrash_seq = v;
		else if ((v = bu_opt(argc, argv, &i, "--thrash-rand")))
			o->thrash_rand = v;
		else if ((v = bu_opt(argc, argv, &i, "--thrash-skip")))
			o->thrash_skip = v;
		else
			BU_DIE("usage: %s [--quick|--full] [--runs N] [--swap-dir DIR] [--kernel-cgroup DIR | --kernel-skip WHY] "
			       "[--thrash-seq X --thrash-rand Y | --thrash-skip WHY]\n", argv[0]);
	}
	if (!o->c.runs)
		o->c.runs = o->c.quick ? 3 : 5;
	o->zero_pages = o->c.quick ? 8192 : 65536;           /* 32 / 256 MiB (the kernel: 4x) */
	o->minor_pages = o->c.quick ? 8192 : 16384;
	o->minor_passes = o->c.quick ? 1 : 4;
	o->major_frames = o->c.quick ? 4096 : 16384;         /* 16 / 64 MiB of memory, region 4x */
	o->major_touches = o->c.quick ? 6000 : 40000;
	o->dev_mib = o->c.quick ? 256 : 1024;
	o->dev_secs = o->c.quick ? 0.3 : 2;
	if (!o->swap_dir)
		o->swap_dir = bu_disk_dir(disk_dirs);
	if (!o->swap_dir || bu_is_tmpfs(o->swap_dir))
		BU_DIE("--swap-dir: need a directory on a disk file system (not tmpfs)\n");
	if (!o->thrash_skip && (!o->thrash_seq || !o->thrash_rand))
		o->thrash_skip = "not given (bench/scale.sh runs bench/thrash.sh and passes its ratios)";
}

int main(int argc, char **argv)
{
	scale_opts_t o;
	int dev_fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page = (size_t)sysconf(_SC_PAGESIZE);
	parse(&o, argc, argv);
	{       /* other processes on the 2 CPUs cap every scaling: say how many there were */
		FILE *f = fopen("/proc/loadavg", "r");
		char load[64] = "?";
		if (f && fgets(load, sizeof(load), f))
			load[strcspn(load, " ")] = 0;
		if (f)
			fclose(f);
		printf("scale: load average %s at the start (the kernel's own scaling, beside pagemu's, shows what the "
		       "CPUs allowed)\n", load);
	}
	printf("scale: %d runs, %ld CPUs; zero %zu pages, minor %zu pages x %d passes, major %zu frames / %zu pages "
	       "and %llu random touches (1 in 4 a write) per thread count; swap in %s (%s)\n",
	       o.c.runs, sysconf(_SC_NPROCESSORS_ONLN), o.zero_pages, o.minor_pages, o.minor_passes, o.major_frames,
	       4 * o.major_frames, (unsigned long long)o.major_touches, o.swap_dir, bu_fs_name(o.swap_dir));
	for (int k = 0; k < K_N; k++)
		measured[k][S_PAGEMU] = measured[k][S_KERNEL] = 1;
	measured[K_ZERO][S_FLOOR] = measured[K_MAJOR][S_FLOOR] = 1;
	if (!o.cgroup) {
		measured[K_MAJOR][S_KERNEL] = 0;
		snprintf(skipped[K_MAJOR][S_KERNEL], sizeof(skipped[0][0]), "%s",
			 o.kernel_skip ? o.kernel_skip : "no --kernel-cgroup (bench/scale.sh makes one as root)");
	} else {
		char limit[32];
		snprintf(limit, sizeof(limit), "%zu", o.major_frames * page);
		if (write_str(o.cgroup, "memory.limit_in_bytes", limit) < 0 && write_str(o.cgroup, "memory.max", limit) < 0)
			BU_DIE("--kernel-cgroup %s: cannot set its memory limit: %s\n", o.cgroup, strerror(errno));
		printf("kernel major faults: in memory cgroup %s, limit %zu MiB\n", o.cgroup, o.major_frames * page >> 20);
	}
	dev_fd = dev_open(&o);
	{       /* warm-up: guest memory host-backed before the first timed touch */
		char *w = bu_anon(4 * o.zero_pages * page, 1);
		bu_write_pages(w, 4 * o.zero_pages, page);
		munmap(w, 4 * o.zero_pages * page);
	}
	for (int run = 0; run < o.c.runs; run++) {
		uint64_t t_run = bu_now_ns(), t_small, t_major, t_kernel;
		for (int k = 0; k < NT; k++) {
			int ti = order(run, k);
			zero_kernel(&o, ti, run);
			zero_pagemu(&o, ti, run);
			zero_floor(&o, ti, run);
			minor_kernel(&o, ti, run);
			minor_pagemu(&o, ti, run);
		}
		t_small = bu_now_ns();
		major_pagemu(&o, run);
		t_major = bu_now_ns();
		if (measured[K_MAJOR][S_KERNEL])
			major_kernel(&o, run);
		major_floor(&o, run, dev_fd);
		t_kernel = bu_now_ns();
		device(&o, dev_fd, run);
		printf("run %d (%.1f s zero and minor, %.1f s major pagemu, %.1f s major kernel and floor, %.1f s device):", run + 1,
		       (double)(t_small - t_run) / 1e9, (double)(t_major - t_small) / 1e9,
		       (double)(t_kernel - t_major) / 1e9, bu_secs_since(t_kernel));
		for (int k = 0; k < K_N; k++)
			for (int s = 0; s < S_N; s++)
				if (measured[k][s])
					printf(" %s-%s %.0f/%.0f/%.0f", kind_name[k], side_name[s], rate[k][s][0][run],
					       rate[k][s][1][run], rate[k][s][2][run]);
		printf(" device %.0f/%.0f/%.0f faults/s\n", dev_iops[0][run], dev_iops[1][run], dev_iops[2][run]);
	}
	close(dev_fd);
	report(&o);
	return 0;
}
