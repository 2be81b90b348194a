/* tools.h - the parts the command-line tools share, linked into them
 * beside their main file (see the Makefile: the files of tools/ are
 * programs, the files listed in TOOL_PARTS are not).
 *
 *   sweep.c     pagemu sweep: a program natively, then under pagemu run at
 *               several pool sizes and policies; CSV, plots, the knee
 *   analysis.c  pagemu-sim --mrc, --lifetime, --ws, --belady
 *   plot.c      gnuplot: is it there, a script's common head, run a script
 *
 * Who calls whom: tools/pagemu.c calls sweep.c, tools/pagemu-sim.c calls
 * analysis.c; both of those call plot.c. analysis.c and plot.c use the
 * model, the C library and POSIX alone, so that pagemu-sim stays the
 * model plus libc. */
#ifndef PAGEMU_TOOLS_H
#define PAGEMU_TOOLS_H

#include <stddef.h>
#include <stdio.h>

#include "model/model.h"

/* sweep.c - `pagemu sweep [OPTIONS] -- PROGRAM [ARGS...]`; argv[1] is
 * "sweep". Returns the exit status: 0, 1 (a run's output or exit status
 * differed from the native run's: the results are still written), 2 (bad
 * input, nothing written), 3 (a failure of the sweep itself). */
int pm_sweep_main(int argc, char **argv);

/* analysis.c - what pagemu-sim computes over a whole trace beyond its
 * fault table. Each analysis prints what it computed; with out, it also
 * writes its CSV and PNG there (mrc, lifetime, ws; README "Experiments"
 * documents the columns). */
#define PM_ANALYSIS_MAX_COUNTS 256        /* frame counts of a curve */
#define PM_ANALYSIS_MAX_TAUS   8          /* windows of --ws */
typedef struct pm_analysis {
	const pagemu_model_config_t *cfg; /* geometry, seed; policy of --lifetime */
	const uint64_t *frames;           /* --frames; NULL: 1 to the distinct pages */
	size_t   nframes;
	int      mrc, lifetime, belady;   /* --mrc, --lifetime, --belady */
	const uint64_t *taus;             /* --ws */
	size_t   ntaus;
	const char *out;                  /* --out DIR (made if missing); NULL: terminal only */
} pm_analysis_t;

/* The exit status: 0, 1 (a failure), 2 (--out without gnuplot). */
int pm_analysis_run(const pm_analysis_t *a, const pm_refs_t *refs);

/* plot.c - the plots are PNGs drawn by gnuplot (Debian: gnuplot-nox),
 * from a script written beside them, so that a plot can be redrawn or
 * restyled by hand: `cd DIR && gnuplot NAME.gp`. */
/* 0 when gnuplot is on PATH, else -ENOENT with a message in err that
 * names the package to install. */
int  pm_plot_available(char *err, size_t len);
/* The head every plot shares: a 960x600 PNG named png, its title and
 * axis labels, log scales on x and/or y when asked. */
void pm_plot_head(FILE *f, const char *png, const char *title, const char *xlabel, const char *ylabel,
		  int logx, int logy);
/* A vertical dashed line at x labelled text (a knee). */
void pm_plot_mark(FILE *f, double x, const char *text);
/* Run gnuplot on dir/script with dir as its working directory: 0, or -1
 * with the reason (its first line of complaint) in err. */
int  pm_plot_run(const char *dir, const char *script, char *err, size_t len);

#endif
