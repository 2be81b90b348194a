/* analysis.c - pagemu-sim's reference-level analyses of a trace: the
 * miss-ratio curve of every policy (--mrc), the lifetime curve and its
 * knee (--lifetime), the working set over time (--ws) and the search for
 * Belady's anomaly (--belady). The numbers come from the model
 * (lib/model/curve.c, workingset.c); this file picks the frame counts,
 * prints what was computed, and writes CSV and PNG into --out. Each
 * reads the trace in passes (a count, then one or more per analysis:
 * pm_curve_faults_src), keeping state per page and per frame count, so a
 * trace of any length streams through. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools.h"

#define NPOL PAGEMU_POLICY_COUNT

/* --frames, or every count from 1 to the distinct pages (the curve is
 * flat above: only cold misses), spread evenly on a log scale when that
 * is more than max counts. */
static size_t frame_counts(const pm_analysis_t *a, uint64_t distinct, uint64_t *v, size_t max)
{
	size_t n = 0;

	if (a->nframes) {
		memcpy(v, a->frames, a->nframes * sizeof(*v));
		return a->nframes;
	}
	if (!distinct)
		distinct = 1;
	for (size_t i = 0; i < max; i++) {
		uint64_t f = distinct <= max ? i + 1 : (uint64_t)(0.5 + exp2((double)i / (double)(max - 1) * log2((double)distinct)));
		if (f > distinct)
			break;
		if (!n || v[n - 1] < f)
			v[n++] = f;
	}
	return n;
}

static FILE *out_file(const pm_analysis_t *a, const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", a->out, name);
	if (!(f = fopen(path, "w")))
		fprintf(stderr, "pagemu-sim: %s: %s\n", path, strerror(errno));
	return f;
}

static int plot(const pm_analysis_t *a, const char *script)
{
	char err[512];

	if (pm_plot_run(a->out, script, err, sizeof(err)) < 0) {
		fprintf(stderr, "pagemu-sim: %s\n", err);
		return 1;
	}
	return 0;
}

/* ---- --mrc ------------------------------------------------------------------------- */

static int mrc(const pm_analysis_t *a, const pm_ref_src_t *src, uint64_t nrefs, const uint64_t *frames, size_t k)
{
	static uint64_t faults[NPOL][PM_ANALYSIS_MAX_COUNTS];
	char path[4096];
	FILE *f;
	int e;

	for (int p = 0; p < NPOL; p++)
		if ((e = pm_curve_faults_src(a->cfg, (pagemu_policy_t)p, src, frames, k, faults[p])) < 0) {
			fprintf(stderr, "pagemu-sim: --mrc, %s: %s\n", pagemu_policy_name((pagemu_policy_t)p),
				e == -ENOMEM ? "out of memory" : pagemu_last_error());
			return 1;
		}
	printf("miss-ratio curve: faults / references against frames, %zu references; lru and opt in one pass "
	       "each (stack algorithms), the others replayed per frame count\n%10s", (size_t)nrefs, "frames");
	for (int p = 0; p < NPOL; p++)
		printf(" %9s", pagemu_policy_name((pagemu_policy_t)p));
	printf("\n");
	for (size_t j = 0; j < k; j++) {
		printf("%10llu", (unsigned long long)frames[j]);
		for (int p = 0; p < NPOL; p++)
			printf(" %8.3f%%", nrefs ? 100.0 * (double)faults[p][j] / (double)nrefs : 0.0);
		printf("\n");
	}
	if (!a->out)
		return 0;
	if (!(f = out_file(a, "mrc.csv", path, sizeof(path))))
		return 1;
	fprintf(f, "frames,refs");
	for (int p = 0; p < NPOL; p++)
		fprintf(f, ",%s_faults", pagemu_policy_name((pagemu_policy_t)p));
	fprintf(f, "\n");
	for (size_t j = 0; j < k; j++) {
		fprintf(f, "%llu,%llu", (unsigned long long)frames[j], (unsigned long long)nrefs);
		for (int p = 0; p < NPOL; p++)
			fprintf(f, ",%llu", (unsigned long long)faults[p][j]);
		fprintf(f, "\n");
	}
	if (fclose(f) != 0 || !(f = out_file(a, "mrc.gp", path, sizeof(path))))
		return 1;
	pm_plot_head(f, "mrc.png", "miss-ratio curve (pagemu-sim --mrc)", "frames", "miss ratio (faults / references)",
		     frames[k - 1] > 4 * frames[0], 1);
	fprintf(f, "set datafile separator ','\nplot ");
	for (int p = 0; p < NPOL; p++)
		fprintf(f, "%s'mrc.csv' using 1:($%d/$2) with linespoints linewidth 2 title '%s'", p ? ", " : "", p + 3,
			pagemu_policy_name((pagemu_policy_t)p));
	fprintf(f, "\n");
	return fclose(f) != 0 || plot(a, "mrc.gp");
}

/* ---- --lifetime ------------------------------------------------------------------- */

static int lifetime(const pm_analysis_t *a, const pm_ref_src_t *src, uint64_t nrefs, const uint64_t *frames,
		    size_t k)
{
	static uint64_t faults[PM_ANALYSIS_MAX_COUNTS];
	const char *pol = pagemu_policy_name(a->cfg->policy);
	char path[4096], mark[64];
	size_t knee;
	FILE *f;
	int e;

	if ((e = pm_curve_faults_src(a->cfg, a->cfg->policy, src, frames, k, faults)) < 0) {
		fprintf(stderr, "pagemu-sim: --lifetime: %s\n", e == -ENOMEM ? "out of memory" : pagemu_last_error());
		return 1;
	}
	knee = pm_curve_knee(frames, faults, k);
	printf("lifetime curve (%s): mean references between faults against frames\n%10s %12s %14s\n", pol, "frames",
	       "faults", "lifetime");
	for (size_t j = 0; j < k; j++)
		printf("%10llu %12llu %14.2f%s\n", (unsigned long long)frames[j], (unsigned long long)faults[j],
		       faults[j] ? (double)nrefs / (double)faults[j] : 0.0, j == knee ? "  <- knee" : "");
	printf("knee: %llu frames, lifetime %.2f references per fault (the most lifetime per frame: Denning's "
	       "primary knee, where a line from the origin touches the curve)\n", (unsigned long long)frames[knee],
	       faults[knee] ? (double)nrefs / (double)faults[knee] : 0.0);
	if (!a->out)
		return 0;
	if (!(f = out_file(a, "lifetime.csv", path, sizeof(path))))
		return 1;
	fprintf(f, "frames,refs,faults,lifetime\n");
	for (size_t j = 0; j < k; j++)
		fprintf(f, "%llu,%llu,%llu,%.4f\n", (unsigned long long)frames[j], (unsigned long long)nrefs,
			(unsigned long long)faults[j], faults[j] ? (double)nrefs / (double)faults[j] : 0.0);
	if (fclose(f) != 0 || !(f = out_file(a, "lifetime.gp", path, sizeof(path))))
		return 1;
	pm_plot_head(f, "lifetime.png", "lifetime curve (pagemu-sim --lifetime)", "frames",
		     "lifetime (references per fault)", 0, 0);
	snprintf(mark, sizeof(mark), "knee %llu frames", (unsigned long long)frames[knee]);
	pm_plot_mark(f, (double)frames[knee], mark);
	fprintf(f, "set datafile separator ','\nset key top left\n"
		   "plot 'lifetime.csv' using 1:4 every ::1 with linespoints linewidth 2 title '%s', "
		   "(%g / %g) * x with lines dashtype 3 title 'tangent from the origin'\n",
		pol, faults[knee] ? (double)nrefs / (double)faults[knee] : 0.0, (double)frames[knee]);
	return fclose(f) != 0 || plot(a, "lifetime.gp");
}

/* ---- --ws ---------------------------------------------------------------------------- */

/* One pass, every window side by side; the CSV samples at most 100,000
 * references, evenly, as it goes. */
typedef struct ws_pass {
	const pm_analysis_t *a;
	pm_ws_stream_t *ws;
	uint64_t *sum, *max;
	FILE *csv;
	uint64_t step, t;                 /* CSV: a row every step references; references so far */
} ws_pass_t;

static int ws_push(void *ctx, const uint64_t *pages, size_t n)
{
	ws_pass_t *p = ctx;
	int e;

	for (size_t i = 0; i < n; i++, p->t++) {
		for (size_t k = 0; k < p->a->ntaus; k++) {
			if ((e = pm_ws_stream_push(&p->ws[k], pages[i])) < 0)
				return e;
			p->sum[k] += p->ws[k].size;
			p->max[k] = p->ws[k].size > p->max[k] ? p->ws[k].size : p->max[k];
		}
		if (!p->csv || p->t % p->step)
			continue;
		fprintf(p->csv, "%llu,%llu", (unsigned long long)p->t + 1, (unsigned long long)pages[i]);
		for (size_t k = 0; k < p->a->ntaus; k++)
			fprintf(p->csv, ",%llu", (unsigned long long)p->ws[k].size);
		fprintf(p->csv, "\n");
	}
	return 0;
}

static int ws_pass(const pm_analysis_t *a, const pm_ref_src_t *src, uint64_t nrefs, pm_ws_stream_t *ws,
		   uint64_t *sum, uint64_t *max, FILE *csv)
{
	ws_pass_t p = { a, ws, sum, max, csv, nrefs > 100000 ? (nrefs + 99999) / 100000 : 1, 0 };

	return pm_ref_src_pages(src, a->cfg->page_bits, ws_push, &p);
}

static int working_set(const pm_analysis_t *a, const pm_ref_src_t *src, uint64_t nrefs)
{
	pm_ws_stream_t ws[PM_ANALYSIS_MAX_TAUS];
	uint64_t sum[PM_ANALYSIS_MAX_TAUS] = { 0 }, max[PM_ANALYSIS_MAX_TAUS] = { 0 };
	char path[4096];
	size_t made;
	int st = 1, e = 0;
	FILE *f = NULL;

	for (made = 0; made < a->ntaus && e == 0; made++)
		if ((e = pm_ws_stream_init(&ws[made], a->taus[made])) < 0)
			break;
	if (e < 0) {
		fprintf(stderr, "pagemu-sim: --ws: out of memory\n");
		goto free_all;
	}
	if (a->out) {
		if (!(f = out_file(a, "ws.csv", path, sizeof(path))))
			goto free_all;
		fprintf(f, "t,page");
		for (size_t k = 0; k < a->ntaus; k++)
			fprintf(f, ",ws_%llu", (unsigned long long)a->taus[k]);
		fprintf(f, "\n");
	}
	printf("working set W(t, tau): the distinct pages of the last tau references, over %llu references\n",
	       (unsigned long long)nrefs);
	if ((e = ws_pass(a, src, nrefs, ws, sum, max, f)) < 0) {
		fprintf(stderr, "pagemu-sim: --ws: %s\n", e == -ENOMEM ? "out of memory" : pagemu_last_error());
		goto free_all;
	}
	for (size_t k = 0; k < a->ntaus; k++)
		printf("  tau %10llu: mean |W| %.2f pages, largest %llu\n", (unsigned long long)a->taus[k],
		       nrefs ? (double)sum[k] / (double)nrefs : 0.0, (unsigned long long)max[k]);
	if (!f) {
		st = 0;
		goto free_all;
	}
	e = fclose(f);
	f = NULL;
	if (e != 0 || !(f = out_file(a, "ws.gp", path, sizeof(path))))
		goto free_all;
	pm_plot_head(f, "ws.png", "working-set size over the trace (pagemu-sim --ws)", "reference t",
		     "|W(t, tau)| (pages)", 0, 0);
	fprintf(f, "set datafile separator ','\nplot ");
	for (size_t k = 0; k < a->ntaus; k++)
		fprintf(f, "%s'ws.csv' using 1:%zu with steps linewidth 2 title 'tau = %llu'", k ? ", " : "", k + 3,
			(unsigned long long)a->taus[k]);
	fprintf(f, "\n");
	e = fclose(f);
	f = NULL;
	st = e != 0 || plot(a, "ws.gp");
free_all:
	if (f)
		fclose(f);
	for (size_t k = 0; k < made; k++)
		pm_ws_stream_free(&ws[k]);
	return st;
}

/* ---- --belady ------------------------------------------------------------------------ */

static int belady(const pm_analysis_t *a, const pm_ref_src_t *src, const uint64_t *frames, size_t k)
{
	static uint64_t faults[PM_ANALYSIS_MAX_COUNTS];
	static size_t at[PM_ANALYSIS_MAX_COUNTS];
	size_t n;
	int e;

	if ((e = pm_curve_faults_src(a->cfg, PAGEMU_POLICY_FIFO, src, frames, k, faults)) < 0) {
		fprintf(stderr, "pagemu-sim: --belady: %s\n", e == -ENOMEM ? "out of memory" : pagemu_last_error());
		return 1;
	}
	n = pm_curve_anomalies(frames, faults, k, at);
	printf("Belady's anomaly under fifo, frames %llu to %llu (%zu counts): ", (unsigned long long)frames[0],
	       (unsigned long long)frames[k - 1], k);
	if (!n)
		printf("none: faults never rise with more frames\n");
	else
		printf("%zu place%s where more frames fault more\n", n, n > 1 ? "s" : "");
	for (size_t i = 0; i < n; i++)
		printf("  %llu frames: %llu faults; %llu frames: %llu faults (+%llu)\n",
		       (unsigned long long)frames[at[i]], (unsigned long long)faults[at[i]],
		       (unsigned long long)frames[at[i] + 1], (unsigned long long)faults[at[i] + 1],
		       (unsigned long long)(faults[at[i] + 1] - faults[at[i]]));
	return 0;
}

int pm_analysis_run(const pm_analysis_t *a, const pm_ref_src_t *src)
{
	static uint64_t frames[PM_ANALYSIS_MAX_COUNTS];
	uint64_t nrefs = 0, distinct = 0;
	char err[512];
	size_t k;
	int st = 0, e;

	if ((e = pm_ref_src_count(src, a->cfg->page_bits, &nrefs, &distinct)) < 0) {
		fprintf(stderr, "pagemu-sim: %s\n", e == -ENOMEM ? "out of memory" : pagemu_last_error());
		return 1;
	}
	if (a->out) {
		if (pm_plot_available(err, sizeof(err)) < 0) {
			fprintf(stderr, "pagemu-sim: --out: %s\n", err);
			return 2;
		}
		if (mkdir(a->out, 0777) != 0 && errno != EEXIST) {
			fprintf(stderr, "pagemu-sim: --out '%s': %s\n", a->out, strerror(errno));
			return 1;
		}
	}
	k = frame_counts(a, distinct, frames, PM_ANALYSIS_MAX_COUNTS);
	printf("pagemu-sim: %llu references to %llu distinct pages of %llu B\n", (unsigned long long)nrefs,
	       (unsigned long long)distinct, 1ULL << a->cfg->page_bits);
	if (!st && a->mrc)
		st = mrc(a, src, nrefs, frames, k);
	if (!st && a->lifetime)
		st = lifetime(a, src, nrefs, frames, k);
	if (!st && a->ntaus)
		st = working_set(a, src, nrefs);
	if (!st && a->belady)
		st = belady(a, src, frames, k);
	if (!st && a->out)
		printf("written in %s/:%s%s%s\n", a->out, a->mrc ? " mrc.csv mrc.png" : "",
		       a->lifetime ? " lifetime.csv lifetime.png" : "", a->ntaus ? " ws.csv ws.png" : "");
	return st;
}
