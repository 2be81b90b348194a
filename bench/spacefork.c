/* spacefork.c - pagemu_space_fork of a space with 64 MiB resident against
 * the kernel's fork() of a process with 64 MiB resident.
 *
 *   fork        pagemu: pagemu_space_fork of the current space, whose
 *               region of --mib MiB is written page by page first (every
 *               page resident in a pool that holds it twice over); the
 *               child is freed at once (pagemu_space_free: its _exit).
 *               kernel: fork() in a helper process that has --mib MiB of
 *               anonymous memory written (4 KiB pages, no THP, like
 *               pagemu's frames); the child calls _exit(0) at once, the
 *               parent waits for it. Only the fork call is timed, in the
 *               parent (the space's or the process's).
 *   first read after the fork, of every page, the child still alive:
 *               what the fork leaves the parent. The kernel copies the
 *               page table, write-protected, and its reads take no fault;
 *               pagemu write-protects the parent's mapped pages in place
 *               (one mprotect a run), so its reads take none either. A
 *               fork that dropped the mappings instead would be cheap to
 *               call and pay a minor fault a page here.
 *   first write after the fork, to every page, the child still alive:
 *               pagemu: the parent space writes one byte a page; each is
 *               a copy-on-write fault that copies the frame (faults_cow);
 *               kernel: the parent writes one byte a page while the child
 *               waits on a pipe; each is the kernel's COW fault.
 *
 * The helper is forked before pagemu is opened (a fork of this process
 * later would copy the instance through pagemu's atfork handlers); pagemu
 * and kernel runs take turns; medians of --runs (at least 7).
 *
 * usage: spacefork [--quick|--full] [--runs N] [--mib N]
 * Target (issue): fork <= 2x the kernel's. */
#include "benchutil.h"

static size_t host_page;
static char *kernel_mem;             /* the helper's resident memory */
static size_t kernel_pages;

enum { K_SETUP, K_FORK, K_READ, K_COW };

/* The kernel side, in the helper: what = K_SETUP (n pages written, its
 * own: not shared with the benchmark), K_FORK, K_READ or K_COW; ns. */
static double serve_fork(uint64_t what, uint64_t n)
{
	int gate[2], status;
	uint64_t t0, t1;
	pid_t pid;
	char c = 0;

	if (what == K_SETUP) {
		kernel_pages = (size_t)n;
		kernel_mem = bu_anon(kernel_pages * host_page, 1);
		bu_write_pages(kernel_mem, kernel_pages, host_page);
		return 0;
	}
	if (what != K_FORK && pipe(gate) < 0)
		BU_DIE("spacefork: pipe: %s\n", strerror(errno));
	t0 = bu_now_ns();
	pid = fork();
	t1 = bu_now_ns();
	if (pid < 0)
		BU_DIE("spacefork: fork: %s\n", strerror(errno));
	if (pid == 0) {
		if (what != K_FORK && read(gate[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	if (what != K_FORK) {
		t0 = bu_now_ns();
		if (what == K_READ)
			bu_read_pages(kernel_mem, kernel_pages, host_page);
		else
			bu_write_pages(kernel_mem, kernel_pages, host_page);
		t1 = bu_now_ns();
		bu_xwrite(gate[1], &c, 1);
		close(gate[0]);
		close(gate[1]);
	}
	waitpid(pid, &status, 0);
	return (double)(t1 - t0);
}

/* ---- pagemu -------------------------------------------------------------------- */

typedef struct pm_run {
	double fork_ns, free_ns, read_ns, cow_ns;
	uint64_t cow_faults, cow_reuses;
} pm_run_t;

static pagemu_space_t *fork_or_die(pagemu_space_t *sp)
{
	pagemu_space_t *child;
	int rc = pagemu_space_fork(sp, &child);

	if (rc < 0)
		BU_DIE("pagemu_space_fork: %s\n", pagemu_strerror(rc));
	return child;
}

static void free_or_die(pagemu_space_t *sp)
{
	int rc = pagemu_space_free(sp);

	if (rc < 0)
		BU_DIE("pagemu_space_free: %s\n", pagemu_strerror(rc));
}

/* One run: a fork timed, its child freed; then a fork whose child lives
 * while the parent reads every page; then one while it writes them. */
static pm_run_t pagemu_run(pagemu_t *vm, char *p, size_t pages)
{
	pagemu_space_t *sp = pagemu_space_current(vm), *child;
	pagemu_stats_t a, b;
	pm_run_t r;
	uint64_t t0;

	t0 = bu_now_ns();
	child = fork_or_die(sp);
	r.fork_ns = (double)(bu_now_ns() - t0);
	t0 = bu_now_ns();
	free_or_die(child);
	r.free_ns = (double)(bu_now_ns() - t0);

	child = fork_or_die(sp);
	r.read_ns = (double)bu_read_pages(p, pages, host_page);
	free_or_die(child);

	child = fork_or_die(sp);
	pagemu_get_stats(vm, &a);
	r.cow_ns = (double)bu_write_pages(p, pages, host_page);
	pagemu_get_stats(vm, &b);
	free_or_die(child);
	r.cow_faults = b.faults_cow - a.faults_cow;
	r.cow_reuses = b.cow_reuses - a.cow_reuses;
	return r;
}

/* ---- main ------------------------------------------------------------------------ */

static double pm_fork[BU_MAX_RUNS], pm_free[BU_MAX_RUNS], pm_read[BU_MAX_RUNS], pm_cow[BU_MAX_RUNS];
static double k_fork[BU_MAX_RUNS], k_read[BU_MAX_RUNS], k_cow[BU_MAX_RUNS];

int main(int argc, char **argv)
{
	bu_common_t c = { .runs = 9, .quick = 0 };
	size_t mib = 64, pages;
	pagemu_config_t cfg;
	pm_run_t last = { 0 };
	bu_helper_t h;
	pagemu_t *vm;
	const char *v;
	char *p;

	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--mib")))
			mib = strtoull(v, NULL, 0);
		else
			BU_DIE("usage: %s [--quick|--full] [--runs N] [--mib N]\n", argv[0]);
	}
	if (c.runs < 7)
		c.runs = 7;
	host_page = (size_t)sysconf(_SC_PAGESIZE);
	pages = (mib << 20) / host_page;
	setvbuf(stdout, NULL, _IOLBF, 0);

	h = bu_helper_start(serve_fork);
	bu_helper_ask(&h, K_SETUP, pages);

	pagemu_config_default(&cfg);
	cfg.frames = 2 * pages + 1024;               /* the parent's pages and their copies */
	vm = bu_open(&cfg);
	p = bu_map(vm, pages * host_page);
	bu_write_pages(p, pages, host_page);
	printf("spacefork: %zu MiB resident (%zu pages), %d runs; pagemu pool %zu frames\n", mib, pages, c.runs,
	       cfg.frames);

	for (int run = 0; run < c.runs; run++) {
		last = pagemu_run(vm, p, pages);
		pm_fork[run] = last.fork_ns / 1e3;
		pm_free[run] = last.free_ns / 1e3;
		pm_read[run] = last.read_ns / 1e3 / (double)pages;
		pm_cow[run] = last.cow_ns / 1e3 / (double)pages;
		k_fork[run] = bu_helper_ask(&h, K_FORK, 0) / 1e3;
		k_read[run] = bu_helper_ask(&h, K_READ, 0) / 1e3 / (double)pages;
		k_cow[run] = bu_helper_ask(&h, K_COW, 0) / 1e3 / (double)pages;
		printf("run %d: fork %.0f / %.0f us, first read %.2f / %.2f, first write %.2f / %.2f us a page "
		       "(pagemu / kernel)\n", run + 1, pm_fork[run], k_fork[run], pm_read[run], k_read[run], pm_cow[run],
		       k_cow[run]);
	}
	bu_helper_stop(&h);
	pagemu_close(vm);

	double x_fork = bu_median_ratio(pm_fork, k_fork, c.runs), x_cow = bu_median_ratio(pm_cow, k_cow, c.runs);
	double x_read = bu_median_ratio(pm_read, k_read, c.runs);
	printf("\n(medians; x kernel: median of the per-run ratios)\n");
	printf("%-44s %12s %12s %9s\n", "", "pagemu", "kernel", "x kernel");
	printf("%-44s %12.0f %12.0f %9.2f\n", "fork, us", bu_median(pm_fork, c.runs), bu_median(k_fork, c.runs),
	       x_fork);
	printf("%-44s %12.2f %12.2f %9.1f\n", "first read after the fork, us a page", bu_median(pm_read, c.runs),
	       bu_median(k_read, c.runs), x_read);
	printf("%-44s %12.2f %12.2f %9.2f\n", "first write after the fork, us a page", bu_median(pm_cow, c.runs),
	       bu_median(k_cow, c.runs), x_cow);
	printf("(pagemu: the child freed in %.0f us; last run %llu copy-on-write faults, %llu reuses, for %zu pages)\n\n",
	       bu_median(pm_free, c.runs), (unsigned long long)last.cow_faults, (unsigned long long)last.cow_reuses,
	       pages);
	bu_summary("spacefork", "fork/kernel", x_fork, "<=", 2.0);
	bu_summary("spacefork", "read-after-fork/kernel", x_read, "-", 0);
	bu_summary("spacefork", "cow-write/kernel", x_cow, "-", 0);
	return 0;
}
