/* switch.c - what a context switch between two emulated processes costs,
 * as a function of the pages each touches between switches, against the
 * kernel's own switch between two processes doing the same.
 *
 *   pagemu  two spaces of one instance, each with a region at the same
 *           address (pool big enough for both: no eviction). A round:
 *           pagemu_space_switch to B, write one byte in each of B's P
 *           pages, switch to A, write A's P pages. The switch drops the
 *           outgoing space's real mappings, so every re-touch after it is
 *           a (minor) fault: the cost of a switch is the call and the
 *           faults it causes, and the call alone is printed beside it.
 *           Three instances: pages written in address order with
 *           cfg.tlb_asid 0 (a switch flushes the modeled TLB:
 *           tlb_flushes) and 1 (ASID-tagged entries survive); and in a
 *           shuffled order, ASIDs off, so that each mapped page is a
 *           kernel mapping of its own (the switch removes them all).
 *   kernel  two forked processes pinned to one CPU (so that each message
 *           is a real switch), a pipe ping-pong: each, on its turn, writes
 *           its own P pages (anonymous, 4 KiB, resident) and passes the
 *           token. The kernel keeps both page tables: its re-touch costs
 *           TLB misses, not faults. Per switch = a round trip / 2, the
 *           pipe's write and read included (they are how it switches).
 *
 * Both sides per switch: switch + P page writes, like for like. The whole
 * benchmark runs on one CPU (the kernel pair in a helper forked before
 * pagemu is opened, so that the instance is not forked with it); pagemu
 * and kernel measurements take turns in every run; medians of --runs.
 *
 * usage: switch [--quick|--full] [--runs N] */
#include <sched.h>

#include "benchutil.h"

static const size_t page_counts[] = { 0, 16, 256, 4096 };
#define NP (sizeof(page_counts) / sizeof(page_counts[0]))
#define MAX_PAGES 4096

static size_t host_page;

/* Rounds a measurement takes: ~8k page writes (2k quick), at least 2
 * rounds; warm-up rounds before them: a quarter as many, at least 1. */
static unsigned rounds_for(size_t pages, int quick)
{
	unsigned r = (unsigned)(8192 / (pages + 8));

	if (quick)
		r /= 4;
	return r < 2 ? 2 : r;
}

static unsigned warmup_for(unsigned rounds)
{
	return rounds / 4 ? rounds / 4 : 1;
}

static void pin_to_this_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("sched_setaffinity (the kernel pair may not switch on every message)");
}

/* ---- the kernel: a pipe ping-pong between two processes ---------------------- */

/* The partner: on each token, write its pages and pass the token back. */
static void partner(int in, int out, size_t pages, unsigned rounds)
{
	char *p = bu_anon((pages ? pages : 1) * host_page, 1);
	char tok;

	bu_write_pages(p, pages, host_page);
	for (unsigned r = 0; r < rounds; r++) {
		bu_xread(in, &tok, 1);
		bu_write_pages(p, pages, host_page);
		bu_xwrite(out, &tok, 1);
	}
	_exit(0);
}

/* ns per switch (switch + the page writes after it), measured over
 * rounds round trips after the warm-up ones. */
static double kernel_pingpong(size_t pages, unsigned rounds)
{
	int ab[2], ba[2], status;
	uint64_t t0 = 0;
	char *p, tok = 't';
	pid_t pid;

	if (pipe(ab) < 0 || pipe(ba) < 0)
		BU_DIE("switch: pipe: %s\n", strerror(errno));
	pid = fork();
	if (pid < 0)
		BU_DIE("switch: fork: %s\n", strerror(errno));
	if (pid == 0) {
		close(ab[1]);
		close(ba[0]);
		partner(ab[0], ba[1], pages, warmup_for(rounds) + rounds);
	}
	close(ab[0]);
	close(ba[1]);
	/* after the fork: pages of its own, not shared copy-on-write */
	p = bu_anon((pages ? pages : 1) * host_page, 1);
	bu_write_pages(p, pages, host_page);
	for (unsigned r = 0; r < warmup_for(rounds) + rounds; r++) {
		if (r == warmup_for(rounds))
			t0 = bu_now_ns();
		bu_xwrite(ab[1], &tok, 1);
		bu_xread(ba[0], &tok, 1);
		bu_write_pages(p, pages, host_page);
	}
	t0 = bu_now_ns() - t0;
	close(ab[1]);
	close(ba[0]);
	waitpid(pid, &status, 0);
	munmap(p, (pages ? pages : 1) * host_page);
	return (double)t0 / (2.0 * rounds);
}

/* The helper's service: a = pages, b = rounds. */
static double serve_pingpong(uint64_t pages, uint64_t rounds)
{
	return kernel_pingpong((size_t)pages, (unsigned)rounds);
}

/* ---- pagemu: two spaces at the same address -------------------------------------- */

/* The pagemu cases: pages written in address order, ASIDs off and on;
 * and in a shuffled order, so that virtually adjacent pages get frames
 * far apart and each mapped page is a kernel mapping (VMA) of its own, as
 * a program's random accesses leave them. */
enum { M_SEQ, M_SEQ_ASID, M_SCATTERED, M_N };
static const char *const mode_name[M_N] = { "in order, asid off", "in order, asid on", "shuffled, asid off" };

typedef struct two_spaces {
	pagemu_t       *vm;
	pagemu_space_t *a, *b;
	char           *p;                /* the region, in both */
	const uint32_t *order;            /* the pages in the order written; NULL = address order */
} two_spaces_t;

static void two_open(two_spaces_t *t, int asid, const uint32_t *order)
{
	pagemu_config_t cfg;
	int rc;

	pagemu_config_default(&cfg);
	cfg.frames = 2 * MAX_PAGES + 1024;
	cfg.tlb_asid = asid;
	t->vm = bu_open(&cfg);
	t->order = order;
	t->a = pagemu_space_current(t->vm);
	if ((rc = pagemu_space_new(t->vm, &t->b)) < 0)
		BU_DIE("pagemu_space_new: %s\n", pagemu_strerror(rc));
	t->p = pagemu_space_map(t->a, NULL, MAX_PAGES * host_page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!t->p || pagemu_space_map(t->b, t->p, MAX_PAGES * host_page, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != t->p)
		BU_DIE("pagemu_space_map: %s: %s\n", strerror(errno), pagemu_last_error());
}

static uint64_t switch_to(two_spaces_t *t, pagemu_space_t *sp)
{
	uint64_t t0 = bu_now_ns();
	int rc = pagemu_space_switch(t->vm, sp);

	if (rc < 0)
		BU_DIE("pagemu_space_switch: %s\n", pagemu_strerror(rc));
	return bu_now_ns() - t0;
}

/* Pages [0, pages) of the region written, each once, in t->order. */
static void write_space_pages(const two_spaces_t *t, size_t pages)
{
	if (!t->order) {
		bu_write_pages(t->p, pages, host_page);
		return;
	}
	for (size_t i = 0, k = 0; k < pages; i++)
		if (t->order[i] < pages)
			((volatile char *)t->p)[t->order[i] * host_page] = (char)k++;
}

/* A shuffle of [0, MAX_PAGES) (Fisher-Yates, seeded): its first P values
 * below P are the order of P pages. */
static uint32_t *shuffled_pages(void)
{
	uint32_t *order = malloc(MAX_PAGES * sizeof(*order));
	uint64_t rng = 7;

	if (!order)
		BU_DIE("out of memory\n");
	for (uint32_t i = 0; i < MAX_PAGES; i++)
		order[i] = i;
	for (uint32_t i = MAX_PAGES - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(bu_rand(&rng) % (i + 1)), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	return order;
}

typedef struct pm_point {
	double call_ns, full_ns;          /* per switch: the call; the call + the page writes */
	double flushes;                   /* modeled TLB flushes per switch */
	double faults;                    /* faults per switch */
	double vmas;                      /* kernel mappings of the regions before a switch */
} pm_point_t;

/* Rounds of A -> B -> A, each space writing its pages after its switch-in,
 * after the warm-up rounds (A is current on entry and on return). */
static pm_point_t pagemu_pingpong(two_spaces_t *t, size_t pages, unsigned rounds)
{
	pagemu_stats_t a, b;
	pm_point_t pt = { 0, 0, 0, 0, 0 };
	uint64_t call = 0, t0 = 0;

	for (unsigned r = 0; r < warmup_for(rounds) + rounds; r++) {
		if (r == warmup_for(rounds)) {
			call = 0;
			pagemu_get_stats(t->vm, &a);
			t0 = bu_now_ns();
		}
		call += switch_to(t, t->b);
		write_space_pages(t, pages);
		call += switch_to(t, t->a);
		write_space_pages(t, pages);
	}
	t0 = bu_now_ns() - t0;
	pagemu_get_stats(t->vm, &b);
	pt.vmas = (double)b.vmas;
	pt.call_ns = (double)call / (2.0 * rounds);
	pt.full_ns = (double)t0 / (2.0 * rounds);
	pt.flushes = (double)(b.tlb_flushes - a.tlb_flushes) / (2.0 * rounds);
	pt.faults = (double)(b.faults - a.faults) / (2.0 * rounds);
	return pt;
}

/* ---- main ------------------------------------------------------------------------ */

static double call_us[M_N][NP][BU_MAX_RUNS], full_us[M_N][NP][BU_MAX_RUNS], kern_us[NP][BU_MAX_RUNS];
static pm_point_t last[M_N][NP];

int main(int argc, char **argv)
{
	bu_common_t c = { .runs = 7, .quick = 0 };
	two_spaces_t t[M_N];
	uint32_t *order;
	bu_helper_t h;

	for (int i = 1; i < argc; i++)
		if (!bu_common_opt(&c, argc, argv, &i))
			BU_DIE("usage: %s [--quick|--full] [--runs N]\n", argv[0]);
	if (c.quick && c.runs == 7)
		c.runs = 5;
	host_page = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pin_to_this_cpu();
	h = bu_helper_start(serve_pingpong);
	order = shuffled_pages();
	for (int m = 0; m < M_N; m++)
		two_open(&t[m], m == M_SEQ_ASID, m == M_SCATTERED ? order : NULL);
	printf("switch: %d runs, one CPU; per switch: the switch and one byte written in each of P pages after it\n",
	       c.runs);
	for (int run = 0; run < c.runs; run++)
		for (size_t i = 0; i < NP; i++) {
			unsigned rounds = rounds_for(page_counts[i], c.quick);
			for (int m = 0; m < M_N; m++) {
				last[m][i] = pagemu_pingpong(&t[m], page_counts[i], rounds);
				call_us[m][i][run] = last[m][i].call_ns / 1e3;
				full_us[m][i][run] = last[m][i].full_ns / 1e3;
			}
			kern_us[i][run] = bu_helper_ask(&h, page_counts[i], rounds) / 1e3;
		}
	bu_helper_stop(&h);
	for (int m = 0; m < M_N; m++)
		pagemu_close(t[m].vm);
	free(order);

	printf("\n(us per switch, medians; x kernel: median of the per-run ratios)\n");
	printf("%6s  %-19s %6s %12s %15s %7s %8s %10s %9s\n", "pages", "pagemu: touched", "VMAs", "switch call",
	       "switch+touches", "faults", "flushes", "kernel", "x kernel");
	for (size_t i = 0; i < NP; i++)
		for (int m = 0; m < M_N; m++)
			printf("%6zu  %-19s %6.0f %12.1f %15.1f %7.0f %8.2f %10.1f %9.1f\n", page_counts[i], mode_name[m],
			       last[m][i].vmas, bu_median(call_us[m][i], c.runs), bu_median(full_us[m][i], c.runs),
			       last[m][i].faults, last[m][i].flushes, bu_median(kern_us[i], c.runs),
			       bu_median_ratio(full_us[m][i], kern_us[i], c.runs));
	printf("\npagemu's switch drops the outgoing space's real mappings (one system call a region, whose cost\n"
	       "grows with the kernel mappings it removes: VMAs), so after it each page touched faults once\n"
	       "(faults); flushes: modeled TLB flushes a switch. The kernel keeps both page tables: its re-touch\n"
	       "costs TLB misses. The kernel column includes the pipe write and read that make it switch.\n\n");
	for (size_t i = 0; i < NP; i++) {
		char metric[64];
		snprintf(metric, sizeof(metric), "switch+%zu-pages/kernel", page_counts[i]);
		bu_summary("switch", metric, bu_median_ratio(full_us[M_SEQ][i], kern_us[i], c.runs), "-", 0);
	}
	return 0;
}
