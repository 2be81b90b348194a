/* heap_alloc.c - allocation-heavy throughput: pagemu_malloc vs glibc malloc
 * in the same process, mixed sizes (mostly small, some pages, a few large),
 * malloc/free churn over a live set, one thread then two threads. Prints
 * operations per second and the ratio pagemu / glibc (target >= 0.8).
 * The frame pool is large enough that the run does not page: this measures
 * the allocator, plus the first-touch faults of a fresh heap. Each thread
 * is a new thread: its cache starts empty and is given back at its exit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pagemu.h"

#define LIVE   8192                       /* live blocks per thread */
#define OPS    4000000                    /* malloc+free pairs per thread */

static pagemu_t *vm;
static int use_pagemu;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

	for (long i = 0; i < OPS; i++) {
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
	double t0 = now();

	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return (double)OPS * threads / (now() - t0);
}

int main(void)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	pagemu_config_from_env(&cfg);
	if (pagemu_open(&cfg, &vm) < 0) {
		fprintf(stderr, "heap_alloc: %s\n", pagemu_last_error());
		return 1;
	}
	printf("heap_alloc: %d malloc+free pairs per thread, %d live, frames %zu\n", OPS, LIVE, cfg.frames);
	for (int threads = 1; threads <= 2; threads++) {
		use_pagemu = 0;
		run(threads);                          /* warm glibc's arenas */
		double g = run(threads);
		use_pagemu = 1;
		run(threads);                          /* fault the heap in once */
		double p = run(threads);
		printf("  %d thread%s: glibc %.1f Mops/s, pagemu %.1f Mops/s, ratio %.2f (target >= 0.80)\n",
		       threads, threads > 1 ? "s" : " ", g / 1e6, p / 1e6, p / g);
		pagemu_heap_stats_t hs;
		pagemu_heap_stats(vm, &hs);                     /* footprint: the caches must not blow it up */
		printf("             heap so far: %.1f MiB at most for %.1f MiB allocated at most\n",
		       (double)hs.heap_peak / 1048576.0, (double)hs.peak / 1048576.0);
	}
	pagemu_heap_stats_t h;
	pagemu_heap_stats(vm, &h);
	printf("  heap: %.1f MiB peak, utilization %.2f, external frag %.2f\n",
	       (double)h.heap_peak / 1048576.0, h.utilization, h.external_frag);
	return 0;
}
