/* locality.c - the flagship demo: one computation, three loop orders, over
 * emulated memory six times larger than the frame pool.
 *
 * C = A x B for 512 x 512 doubles: each matrix row is one 4 KiB page, so a
 * matrix is 512 pages and the three are 1536 pages (6 MiB), against a pool
 * of 256 frames (1 MiB). The loop order decides the page reference string:
 *   ijk (naive)    walks a column of B for every C[i][j]: 512 pages in a
 *                  cycle longer than the pool, so every step faults;
 *   ikj            streams B row by row once per row of C;
 *   blocked (32)   keeps 32 rows of A, B and C (96 pages) in the pool.
 * Each variant runs for at most PAGEMU_DEMO_SECONDS (default 6) seconds;
 * an unfinished one is projected from its progress.
 *
 * Try: PAGEMU_FRAMES=2048 make demo   (everything fits: no thrashing)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "pagemu.h"

#define N    512
#define TILE 32

typedef double row_t[N];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Row i of C for the naive order. */
static void row_ijk(row_t *a, row_t *b, row_t *c, int i)
{
	for (int j = 0; j < N; j++) {
		double s = 0;
		for (int k = 0; k < N; k++)
			s += a[i][k] * b[k][j];
		c[i][j] = s;
	}
}

static void row_ikj(row_t *a, row_t *b, row_t *c, int i)
{
	for (int k = 0; k < N; k++) {
		double aik = a[i][k];
		for (int j = 0; j < N; j++)
			c[i][j] += aik * b[k][j];
	}
}

/* One band of TILE rows of C, blocked over k and j. */
static void band_blocked(row_t *a, row_t *b, row_t *c, int ii)
{
	for (int kk = 0; kk < N; kk += TILE)
		for (int jj = 0; jj < N; jj += TILE)
			for (int i = ii; i < ii + TILE; i++)
				for (int k = kk; k < kk + TILE; k++) {
					double aik = a[i][k];
					for (int j = jj; j < jj + TILE; j++)
						c[i][j] += aik * b[k][j];
				}
}

enum variant { IJK, IKJ, BLOCKED };
static const char *const names[] = { "ijk (naive)", "ikj", "blocked 32" };

int main(void)
{
	pagemu_config_t cfg;
	pagemu_t *vm;
	double limit = getenv("PAGEMU_DEMO_SECONDS") ? atof(getenv("PAGEMU_DEMO_SECONDS")) : 6.0;
	int rc;

	pagemu_config_default(&cfg);
	cfg.frames = 256;
	if ((rc = pagemu_config_from_env(&cfg)) < 0 || (rc = pagemu_open(&cfg, &vm)) < 0) {
		fprintf(stderr, "pagemu: %s\n", *pagemu_last_error() ? pagemu_last_error() : pagemu_strerror(rc));
		return 1;
	}
	size_t bytes = sizeof(row_t) * N;
	row_t *a = pagemu_map(vm, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	row_t *b = pagemu_map(vm, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	row_t *c = pagemu_map(vm, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!a || !b || !c) {
		perror("pagemu_map");
		return 1;
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			a[i][j] = (double)((i * 7 + j * 3) % 11) - 5;
			b[i][j] = (double)((i * 5 + j * 13) % 7) - 3;
		}

	printf("pagemu demo: C = A x B, %d x %d doubles, 3 matrices = %zu pages of %zu bytes\n",
	       N, N, 3 * bytes / cfg.page_size, cfg.page_size);
	printf("frame pool: %zu frames (%.1f MiB), swap in %s%s, policy %s; %.0f s per variant at most\n\n",
	       cfg.frames, (double)cfg.frames * (double)cfg.page_size / 1048576.0, cfg.swap_dir,
	       cfg.swap_direct ? " (O_DIRECT)" : "", pagemu_policy_name(cfg.policy), limit);
	printf("%-13s %9s %9s %10s %9s %9s %9s %9s %11s\n", "loop order", "rows", "time s",
	       "faults", "major", "minor", "evicted", "written", "full run s");

	for (int v = IJK; v <= BLOCKED; v++) {
		pagemu_stats_t s0, s1;
		int rows = 0;
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++)
				c[i][j] = 0;
		pagemu_get_stats(vm, &s0);
		double t0 = now(), t = 0;
		while (rows < N && t < limit) {
			if (v == IJK)
				row_ijk(a, b, c, rows++);
			else if (v == IKJ)
				row_ikj(a, b, c, rows++);
			else {
				band_blocked(a, b, c, rows);
				rows += TILE;
			}
			t = now() - t0;
		}
		pagemu_get_stats(vm, &s1);
		/* Check the rows computed against a direct sum. */
		for (int i = 0; i < rows; i += 37)
			for (int j = 0; j < N; j += 41) {
				double s = 0;
				for (int k = 0; k < N; k++)
					s += a[i][k] * b[k][j];
				if (s != c[i][j]) {
					fprintf(stderr, "wrong result at C[%d][%d]\n", i, j);
					return 1;
				}
			}
		printf("%-13s %5d/%d %9.2f %10llu %9llu %9llu %9llu %9llu %10.1f%s\n", names[v], rows, N, t,
		       (unsigned long long)(s1.faults - s0.faults),
		       (unsigned long long)(s1.faults_major - s0.faults_major),
		       (unsigned long long)(s1.faults_minor - s0.faults_minor),
		       (unsigned long long)(s1.evictions - s0.evictions),
		       (unsigned long long)(s1.writebacks - s0.writebacks),
		       t * N / rows, rows < N ? " (projected)" : "");
	}
	printf("\nSame arithmetic, same memory: only the order of references differs.\n"
	       "The naive order's column walk cycles through more pages than there are frames,\n"
	       "so CLOCK evicts every page just before it is needed again (thrashing).\n");
	pagemu_close(vm);
	return 0;
}
