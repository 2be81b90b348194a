/* sim_speed - how fast the model replays a trace (the simulator's hot path).
 *
 * usage: sim_speed [--quick|--full] [--runs N] [--refs N] [--frames N] [--policy P]
 *                  [--kind sweep|hot|far]
 *
 * A synthetic trace with mixed locality (a sequential sweep, a hot set of
 * pages, rare far jumps; one reference in four a write) runs through the
 * model with the default x86-64 geometry: 4-level page table, L1 TLB 16x4
 * + L2 128x12, demand paging over --frames frames. For LRU, CLOCK and FIFO
 * (or the one --policy names: callgrind's counts for one policy; --kind
 * keeps one kind of reference of the three, to time each alone: the
 * sweep's are L1 hits, the hot set's L2 hits, the far pages' faults)
 * it times, in the same process and run after run in turn:
 *   old     pm_model_access_ref per reference: pagemu_model_access as it
 *           was before the fast path (the same code, kept as the reference
 *           the tests hold the fast path to);
 *   replay  pagemu_model_replay over the whole array (what pagemu-sim runs);
 * checks that both give the same counters, and prints references per second
 * (median of --runs), the ratio to a plain loop that only reads the trace,
 * and the speed-up over the old path (median of the per-run ratios).
 * Each run is timed twice: by the thread's CPU clock (the figure the
 * targets are checked against) and by the wall clock. The replay is one
 * thread that only computes, so its CPU time is its cost; on a shared VM
 * with a load average of 4 on 2 vCPUs the wall clock also counts the time
 * other processes had the CPU, and read half the CPU figure.
 * Targets: >= 40 million references per CPU second per policy, and >= 2x
 * the old path. The machine matters for the first: the second is the one
 * that travels (a noisy 2-vCPU VM ran the old path at 9-27 M/s). */
#include "benchutil.h"
#include "model/model.h"

#define TARGET_MREFS 40.0
#define TARGET_SPEEDUP 2.0

typedef struct opts {
	bu_common_t c;
	size_t refs;                      /* trace length; 50M (5M with --quick) */
	uint64_t frames;                  /* frames of the model; 8192 */
	const char *policy;               /* only this policy; NULL = lru, clock, fifo */
	int kind;                         /* -1 = the mix; else 0 sweep, 1 hot set, 2 far pages alone */
} opts_t;

/* Mixed locality, deterministic. Addresses span 1 GiB. kind >= 0: every
 * reference of that kind (the same stream of draws). */
static void make_trace(uint64_t *va, uint8_t *acc, size_t n, int kind)
{
	static const unsigned kind_pick[] = { 0, 70, 95 };
	uint64_t rng = 42, seq = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = bu_rand(&rng);
		unsigned pick = kind >= 0 ? kind_pick[kind] : (unsigned)(r % 100);
		if (pick < 70) {                         /* sequential sweep, 8-byte steps over 64 MiB */
			seq = (seq + 8) & ((64ULL << 20) - 1);
			va[i] = 0x10000000ULL + seq;
		} else if (pick < 95) {                  /* hot set: 1024 pages */
			va[i] = 0x40000000ULL + ((r >> 8) % (1024ULL << 12));
		} else {                                 /* far: 256K pages */
			va[i] = 0x80000000ULL + ((r >> 8) % (1ULL << 30));
		}
		acc[i] = (r >> 56 & 3) == 0 ? 2 : 1;     /* PROT_WRITE one in 4, else PROT_READ */
	}
}

/* The thread's CPU clock, ns. */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The baseline: read every reference, as the replay loop does (CPU
 * seconds). */
static double baseline_secs(const uint64_t *va, const uint8_t *acc, size_t n)
{
	uint64_t t0 = cpu_now_ns(), sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (va[i] >> 12) ^ acc[i];
	__asm__ volatile("" : : "r"(sum));
	return (double)(cpu_now_ns() - t0) / 1e9;
}

/* One run of policy p over the trace: the old per-reference path, or the
 * replay. Returns its CPU seconds, *wall its wall-clock seconds. */
static double model_secs(pagemu_policy_t p, uint64_t frames, const uint64_t *va, const uint8_t *acc, size_t n,
			 int old, pagemu_model_stats_t *st, double *wall)
{
	pagemu_model_config_t cfg;
	pagemu_model_t *m;
	uint64_t t0, c0;
	double s;
	int rc;

	pagemu_model_config_default(&cfg);
	cfg.policy = p;
	cfg.frames = frames;
	if ((rc = pagemu_model_new(&cfg, &m)) < 0)
		BU_DIE("pagemu_model_new: %s\n", pagemu_last_error());
	t0 = bu_now_ns();
	c0 = cpu_now_ns();
	if (old) {
		for (size_t i = 0; i < n; i++)
			if (pm_model_access_ref(m, va[i], acc[i]) < 0)
				BU_DIE("pm_model_access_ref failed at %zu\n", i);
	} else if (pagemu_model_replay(m, va, acc, n, NULL) < 0) {
		BU_DIE("pagemu_model_replay failed\n");
	}
	s = (double)(cpu_now_ns() - c0) / 1e9;
	*wall = bu_secs_since(t0);
	pagemu_model_get_stats(m, st);
	pagemu_model_free(m);
	return s;
}

int main(int argc, char **argv)
{
	static const pagemu_policy_t pols[] = { PAGEMU_POLICY_LRU, PAGEMU_POLICY_CLOCK, PAGEMU_POLICY_FIFO };
	static const char *const kinds[] = { "sweep", "hot", "far" };
	opts_t o = { .c = { .runs = 3, .quick = 0 }, .refs = 0, .frames = 8192, .kind = -1 };
	double base[BU_MAX_RUNS], t[BU_MAX_RUNS], t_old[BU_MAX_RUNS], w[BU_MAX_RUNS], w_old[BU_MAX_RUNS], bmed;
	pagemu_model_stats_t st;
	uint64_t *va;
	uint8_t *acc;
	const char *v;

	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&o.c, argc, argv, &i))
			continue;
		/* pm_parse_u64, as pagemu-sim: "20M" is 20 x 2^20 (strtoull read
		 * it as 20 references). */
		if ((v = bu_opt(argc, argv, &i, "--refs"))) {
			uint64_t x;
			if (pm_parse_u64(v, &x) < 0 || x == 0 || x > SIZE_MAX / sizeof(uint64_t))
				BU_DIE("--refs %s: a count of references (20000000, 20M)\n", v);
			o.refs = (size_t)x;
		} else if ((v = bu_opt(argc, argv, &i, "--frames"))) {
			if (pm_parse_u64(v, &o.frames) < 0 || o.frames == 0)
				BU_DIE("--frames %s: a count of frames\n", v);
		}
		else if ((v = bu_opt(argc, argv, &i, "--policy")))
			o.policy = v;
		else if ((v = bu_opt(argc, argv, &i, "--kind"))) {
			if ((o.kind = pm_parse_name(v, kinds, 3)) < 0)
				BU_DIE("--kind %s: sweep, hot or far\n", v);
		} else
			BU_DIE("usage: %s [--quick|--full] [--runs N] [--refs N] [--frames N] [--policy P]"
			       " [--kind sweep|hot|far]\n", argv[0]);
	}
	if (!o.refs)
		o.refs = o.c.quick ? 5000000 : 50000000;
	va = malloc(o.refs * sizeof(*va));
	acc = malloc(o.refs);
	if (!va || !acc)
		BU_DIE("out of memory for %zu references\n", o.refs);
	make_trace(va, acc, o.refs, o.kind);

	for (int r = 0; r < o.c.runs; r++)
		base[r] = baseline_secs(va, acc, o.refs);
	bmed = bu_median(base, o.c.runs);
	printf("sim_speed: %zu references%s%s, %llu frames, 4-level table, TLB 16x4 + 128x12, median of %d runs\n",
	       o.refs, o.kind >= 0 ? " of the kind " : "", o.kind >= 0 ? kinds[o.kind] : "", (unsigned long long)o.frames,
	       o.c.runs);
	printf("  %-8s %12.1f Mrefs/s  (plain loop reading the trace)\n", "baseline", o.refs / bmed / 1e6);
	for (size_t p = 0; p < sizeof(pols) / sizeof(pols[0]); p++) {
		pagemu_model_stats_t st_old;
		if (o.policy && strcmp(o.policy, pagemu_policy_name(pols[p])) != 0)
			continue;
		char metric[64];
		double med, med_old, mrefs, speedup;
		/* Paired: each run times the old path, then the replay. */
		for (int r = 0; r < o.c.runs; r++) {
			t_old[r] = model_secs(pols[p], o.frames, va, acc, o.refs, 1, &st_old, &w_old[r]);
			t[r] = model_secs(pols[p], o.frames, va, acc, o.refs, 0, &st, &w[r]);
			if (memcmp(&st, &st_old, sizeof(st)) != 0)
				BU_DIE("%s: the replay's counters differ from the old path's\n", pagemu_policy_name(pols[p]));
		}
		med = bu_median(t, o.c.runs);
		med_old = bu_median(t_old, o.c.runs);
		mrefs = o.refs / med / 1e6;
		speedup = bu_median_ratio(t_old, t, o.c.runs);
		printf("  %-8s %8.1f Mrefs/s CPU, %5.1f wall (old path %5.1f CPU, %5.1f wall), %4.2fx the old path,"
		       " %5.1fx the plain loop; faults %.2f%%, TLB L1 hits %.1f%%, L2 %.1f%%, walks %llu\n",
		       pagemu_policy_name(pols[p]), mrefs, o.refs / bu_median(w, o.c.runs) / 1e6, o.refs / med_old / 1e6,
		       o.refs / bu_median(w_old, o.c.runs) / 1e6, speedup, med / bmed,
		       100.0 * st.faults / st.refs, 100.0 * st.tlb_hits_l1 / st.refs, 100.0 * st.tlb_hits_l2 / st.refs,
		       (unsigned long long)st.page_walks);
		snprintf(metric, sizeof(metric), "%s_mrefs_per_s", pagemu_policy_name(pols[p]));
		bu_summary("sim_speed", metric, mrefs, ">=", TARGET_MREFS);
		snprintf(metric, sizeof(metric), "%s_speedup_vs_old", pagemu_policy_name(pols[p]));
		bu_summary("sim_speed", metric, speedup, ">=", TARGET_SPEEDUP);
	}
	free(va);
	free(acc);
	return 0;
}
