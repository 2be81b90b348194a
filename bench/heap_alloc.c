/* heap_alloc.c - allocation-heavy throughput: pagemu_malloc vs glibc malloc
 * in the same process, mixed sizes (mostly small, some pages, a few large),
 * malloc/free churn over a live set, one thread then two threads. Prints
 * operations per second and the ratio pagemu / glibc (target >= 0.8).
 * The frame pool is large enough that the run does not page: this measures
 * the allocator, plus the first-touch faults of a fresh heap. Each thread
 * is a new thread: its cache starts empty and is given back at its exit.
 *
 * usage: heap_alloc [--quick|--full] [--runs N]
 *   runs (default 5) pair a glibc run with a pagemu run moments apart; the
 *   ratio printed is the median of the pairs' ratios. --quick: 1M pairs
 *   per thread instead of 4M.
 */
#include <pthread.h>

#include "benchutil.h"

#define LIVE   8192                       /* live blocks per thread */

static pagemu_t *vm;
static int use_pagemu;
static long ops = 4000000;                /* malloc+free pairs per thread */

static inline size_t pick(uint64_t *s)
{
	*s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
	unsigned r = (unsigned)(*s % 1000);
	if (r < 900) return 8 + *s % 256;     /* small objects */
	if (r < 995) return 256 + *s % 4096;  /* medium */
	return 8192 + *s % 60000;             /* big, below the large threshold */
}

static void *churn(void *arg)
{
	uint64_t s = (uintptr_t)arg * 7919 + 1;
	void **slot = calloc(LIVE, sizeof(*slot));

	for (long i = 0; i < ops; i++) {
		size_t k = (size_t)(s % LIVE), n = pick(&s);
		if (use_pagemu) {
			pagemu_free(vm, slot[k]);
			slot[k] = pagemu_malloc(vm, n);
		} else {
			free(slot[k]);
			slot[k] = malloc(n);
		}
		((char *)slot[k])[0] = (char)i;       /* touch it, as a program would */
	}
	for (size_t k = 0; k < LIVE; k++) {
		if (use_pagemu)
			pagemu_free(vm, slot[k]);
		else
			free(slot[k]);
	}
	free(slot);
	return NULL;
}

static double run(int threads)
{
	pthread_t t[8];
	uint64_t t0 = bu_now_ns();

	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return (double)ops * threads / bu_secs_since(t0);
}

int main(int argc, char **argv)
{
	bu_common_t o = { .runs = 5, .quick = 0 };
	pagemu_config_t cfg;

	for (int i = 1; i < argc; i++)
		if (!bu_common_opt(&o, argc, argv, &i))
			BU_DIE("usage: %s [--quick|--full] [--runs N]\n", argv[0]);
	if (o.quick)
		ops = 1000000;
	pagemu_config_default(&cfg);
	pagemu_config_from_env(&cfg);
	if (pagemu_open(&cfg, &vm) < 0)
		BU_DIE("heap_alloc: %s\n", pagemu_last_error());
	printf("heap_alloc: %ld malloc+free pairs per thread, %d live, frames %zu, %d runs\n", ops, LIVE, cfg.frames,
	       o.runs);
	for (int threads = 1; threads <= 2; threads++) {
		double g[BU_MAX_RUNS], p[BU_MAX_RUNS];
		pagemu_heap_stats_t hs;
		use_pagemu = 0;
		run(threads);                          /* warm glibc's arenas */
		use_pagemu = 1;
		run(threads);                          /* fault the heap in once */
		printf("  %d thread%s: pagemu / glibc per run:", threads, threads > 1 ? "s" : " ");
		for (int r = 0; r < o.runs; r++) {
			use_pagemu = 0;
			g[r] = run(threads);
			use_pagemu = 1;
			p[r] = run(threads);
			printf(" %.2f", p[r] / g[r]);
		}
		double ratio = bu_median_ratio(p, g, o.runs);
		printf("\n             median: glibc %.1f Mops/s, pagemu %.1f Mops/s, ratio %.2f (target >= 0.80)\n",
		       bu_median(g, o.runs) / 1e6, bu_median(p, o.runs) / 1e6, ratio);
		pagemu_heap_stats(vm, &hs);            /* footprint: the caches must not blow it up */
		printf("             heap so far: %.1f MiB at most for %.1f MiB allocated at most\n",
		       (double)hs.heap_peak / 1048576.0, (double)hs.peak / 1048576.0);
		bu_summary("heap_alloc", threads == 1 ? "malloc-free-1thread-vs-glibc" : "malloc-free-2threads-vs-glibc",
			   ratio, ">=", 0.80);
	}
	pagemu_heap_stats_t h;
	pagemu_heap_stats(vm, &h);
	printf("  heap: %.1f MiB peak, utilization %.2f, external frag %.2f\n",
	       (double)h.heap_peak / 1048576.0, h.utilization, h.external_frag);
	bu_summary("heap_alloc", "heap-utilization", h.utilization, "-", 0);
	return 0;
}
