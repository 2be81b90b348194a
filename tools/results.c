/* results.c - what `pagemu sweep` leaves: sweep.csv (every run, every
 * counter of its report), faults.png and time.png drawn by gnuplot from
 * plot.gp (kept beside them), and the table on stdout with the knee in
 * words. Repeats of a pool size and policy are summed up by the run of
 * median time.
 *
 * The knee is Denning's (lib/model/curve.c, pm_curve_knee) over the
 * page-ins (demand-zero + major faults: the faults that load a frame, the
 * textbook's page faults; minor faults are pagemu's reference-bit
 * emulation, not paging). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sweep.h"
#include "tools.h"

/* The run of median time among the repeats of (pool, policy). */
static const run_t *median(const sweep_t *s, uint64_t frames, int policy)
{
	const run_t *pick[100];
	size_t n = 0;

	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].frames == frames && s->runs[i].policy == policy && n < PM_ARRAY_LEN(pick))
			pick[n++] = &s->runs[i];
	for (size_t a = 1; a < n; a++)                 /* insertion sort by time */
		for (size_t b = a; b > 0 && pick[b - 1]->secs > pick[b]->secs; b--) {
			const run_t *t = pick[b];
			pick[b] = pick[b - 1];
			pick[b - 1] = t;
		}
	return n ? pick[n / 2] : NULL;
}

static size_t stat_index(const char *name)
{
	for (size_t k = 0; k < NSTATS; k++)
		if (!strcmp(pm_sweep_stat_names[k], name))
			return k;
	return 0;
}

static double counter(const run_t *r, const char *name)
{
	return r->stats[stat_index(name)];
}

/* The page-ins: the faults that load a frame (the textbook's page faults). */
static uint64_t page_ins(const run_t *r)
{
	return (uint64_t)(counter(r, "faults_zero") + counter(r, "faults_major"));
}

int pm_results_csv(const sweep_t *s)
{
	char path[PATH_MAX];
	FILE *f;

	pm_sweep_path(s, path, sizeof(path), "sweep.csv");
	if (!(f = fopen(path, "w")))
		return -1;
	fprintf(f, "pool_bytes,frames,policy,repeat,time_s,exit_status,same_output,native_time_s,rusage_majflt,reports");
	for (size_t k = 0; k < NSTATS; k++)
		fprintf(f, ",%s", pm_sweep_stat_names[k]);
	for (size_t k = 0; k < NHEAP; k++)
		fprintf(f, ",heap.%s", pm_sweep_heap_names[k]);
	fputc('\n', f);
	for (size_t i = 0; i < s->nruns; i++) {
		const run_t *r = &s->runs[i];
		fprintf(f, "%llu,%llu,%s,%u,%.3f,%d,%d,%.3f,%llu,%d", (unsigned long long)(r->frames * s->page),
			(unsigned long long)r->frames, pm_sweep_label(r->policy), r->rep, r->secs, r->status, r->same,
			s->native_secs, (unsigned long long)r->majflt, r->reports);
		for (size_t k = 0; k < NSTATS; k++)
			fprintf(f, r->policy == KERNEL ? "," : ",%.15g", r->stats[k]);
		for (size_t k = 0; k < NHEAP; k++)
			fprintf(f, r->policy == KERNEL ? "," : ",%.15g", r->heap[k]);
		fputc('\n', f);
	}
	return fclose(f);
}

size_t pm_results_knee(const sweep_t *s)
{
	uint64_t faults[MAX_POOLS];

	for (size_t p = 0; p < s->npool; p++)
		faults[p] = page_ins(median(s, s->pool[p], s->policy[0]));
	return pm_curve_knee(s->pool, faults, s->npool);
}

static const char *prog_name(const sweep_t *s)
{
	const char *slash = strrchr(s->prog[0], '/');

	return slash ? slash + 1 : s->prog[0];
}

/* One series as an inline data block: pool MiB, then columns. */
static void data_block(FILE *f, const sweep_t *s, int policy)
{
	fprintf(f, "$%s << EOD\n", pm_sweep_label(policy));
	for (size_t p = 0; p < s->npool; p++) {
		const run_t *r = median(s, s->pool[p], policy);
		if (policy == KERNEL && !r->same)
			fprintf(f, "%g NaN NaN NaN\n", pm_sweep_mib(s, r->frames));  /* killed: no point */
		else if (policy == KERNEL)
			fprintf(f, "%g %llu %llu %.3f\n", pm_sweep_mib(s, r->frames), (unsigned long long)r->majflt,
				(unsigned long long)r->majflt, r->secs);
		else
			fprintf(f, "%g %.0f %llu %.3f\n", pm_sweep_mib(s, r->frames), counter(r, "faults_major"),
				(unsigned long long)page_ins(r), r->secs);
	}
	fprintf(f, "EOD\n");
}

int pm_results_plots(const sweep_t *s, size_t k)
{
	char path[PATH_MAX], title[512], mark[64], err[512];
	double x = pm_sweep_mib(s, s->pool[k]);
	FILE *f;

	pm_sweep_path(s, path, sizeof(path), "plot.gp");
	if (!(f = fopen(path, "w")))
		return -1;
	fprintf(f, "# pagemu sweep: redraw with `gnuplot plot.gp` in this directory\n");
	for (size_t p = 0; p < s->npolicy; p++)
		data_block(f, s, s->policy[p]);
	if (s->kernel)
		data_block(f, s, KERNEL);
	snprintf(mark, sizeof(mark), "knee %.3g MiB", x);
	snprintf(title, sizeof(title), "%s: faults against the pool (pagemu sweep)", prog_name(s));
	pm_plot_head(f, "faults.png", title, "pool (MiB of frames)", "faults", 1, 1);
	pm_plot_mark(f, x, mark);
	fprintf(f, "plot ");
	for (size_t p = 0; p < s->npolicy; p++) {
		const char *n = pm_sweep_label(s->policy[p]);
		fprintf(f, "%s$%s using 1:2 with linespoints linewidth 2 title '%s: major faults', "
			   "$%s using 1:3 with linespoints dashtype 3 title '%s: page-ins (zero + major)'",
			p ? ", " : "", n, n, n, n);
	}
	if (s->kernel)
		fprintf(f, ", $kernel using 1:2 with linespoints linewidth 2 linecolor rgb 'black' "
			   "title 'Linux in a memory cgroup: major faults'");
	fprintf(f, "\n");
	snprintf(title, sizeof(title), "%s: run time against the pool (pagemu sweep)", prog_name(s));
	pm_plot_head(f, "time.png", title, "pool (MiB of frames)", "run time (s)", 1, 1);
	fprintf(f, "unset arrow\nunset label\n");
	pm_plot_mark(f, x, mark);
	fprintf(f, "plot ");
	for (size_t p = 0; p < s->npolicy; p++) {
		const char *n = pm_sweep_label(s->policy[p]);
		fprintf(f, "%s$%s using 1:4 with linespoints linewidth 2 title 'pagemu run, %s'", p ? ", " : "", n, n);
	}
	if (s->kernel)
		fprintf(f, ", $kernel using 1:4 with linespoints linewidth 2 linecolor rgb 'black' "
			   "title 'Linux in a memory cgroup'");
	fprintf(f, ", %.3f with lines dashtype 2 linecolor rgb 'gray40' title 'native, unlimited (%.2f s)'\n",
		s->native_secs, s->native_secs);
	if (fclose(f) != 0)
		return -1;
	if (pm_plot_run(s->tmp, "plot.gp", err, sizeof(err)) < 0) {
		pm_sweep_say("%s", err);
		return -1;
	}
	return 0;
}

void pm_results_table(const sweep_t *s, size_t k)
{
	const run_t *at, *low, *high;
	double m_at, m_low;

	printf("pagemu sweep: %s, native %.2f s, peak RSS %.1f MiB; %zu pool sizes x %zu %s%s, %u run%s each\n",
	       prog_name(s), s->native_secs, (double)s->native_rss_kib / 1024.0, s->npool, s->npolicy,
	       s->npolicy > 1 ? "policies" : "policy", s->kernel ? " + the kernel" : "", s->repeat,
	       s->repeat > 1 ? "s (median time)" : "");
	printf("%10s %9s %-7s %9s %8s %12s %12s %12s %12s %s\n", "pool MiB", "frames", "policy", "time s", "x native",
	       "page-ins", "major", "minor", "evictions", "output");
	for (size_t p = 0; p < s->npool; p++)
		for (size_t q = 0; q < s->npolicy + (size_t)s->kernel; q++) {
			int pol = q < s->npolicy ? (int)s->policy[q] : KERNEL;
			const run_t *r = median(s, s->pool[p], pol);
			if (pol == KERNEL)
				printf("%10.2f %9llu %-7s %9.2f %8.1f %12s %12llu %12s %12s %s\n", pm_sweep_mib(s, r->frames),
				       (unsigned long long)r->frames, "kernel", r->secs, r->secs / s->native_secs, "-",
				       (unsigned long long)r->majflt, "-", "-",
				       r->same ? "same" : r->status == 128 + SIGKILL ? "killed (OOM)" : "DIFFERS");
			else
				printf("%10.2f %9llu %-7s %9.2f %8.1f %12llu %12.0f %12.0f %12.0f %s\n", pm_sweep_mib(s, r->frames),
				       (unsigned long long)r->frames, pm_sweep_label(pol), r->secs, r->secs / s->native_secs,
				       (unsigned long long)page_ins(r), counter(r, "faults_major"), counter(r, "faults_minor"),
				       counter(r, "evictions"), r->same ? "same" : "DIFFERS");
		}
	at = median(s, s->pool[k], s->policy[0]);
	low = median(s, s->pool[0], s->policy[0]);
	high = median(s, s->pool[s->npool - 1], s->policy[0]);
	m_at = counter(at, "faults_major");
	m_low = counter(low, "faults_major");
	printf("knee (%s): %.2f MiB (%llu frames), where page-ins x pool is least (Denning: the lifetime curve's "
	       "tangent from the origin).\n", pm_sweep_label(s->policy[0]), pm_sweep_mib(s, at->frames),
	       (unsigned long long)at->frames);
	if (k == 0)
		printf("Below it the sweep has no pool size: try a lower --memory or --frames.\n");
	else if (m_at > 0)
		printf("Below %.2f MiB of frames, %s's major faults grow %.0fx (from %.0f to %.0f at %.2f MiB) and its "
		       "run time %.1fx.\n", pm_sweep_mib(s, at->frames), prog_name(s), m_low / m_at, m_at, m_low,
		       pm_sweep_mib(s, low->frames), low->secs / at->secs);
	else
		printf("Below %.2f MiB of frames, %s's major faults grow from none to %.0f at %.2f MiB and its run "
		       "time %.1fx.\n", pm_sweep_mib(s, at->frames), prog_name(s), m_low, pm_sweep_mib(s, low->frames),
		       low->secs / at->secs);
	if (k + 1 == s->npool)
		printf("The knee is the largest pool of the sweep: the curve may go on falling above it (try a "
		       "larger --memory or --frames).\n");
	else
		printf("Above it, more frames buy little: %.0f major faults and %.2f s at %.2f MiB.\n",
		       counter(high, "faults_major"), high->secs, pm_sweep_mib(s, high->frames));
}
