/* tools.h - the parts the command-line tools share, linked into them
 * beside their main file (see the Makefile: the files of tools/ are
 * programs, the files listed in TOOL_PARTS are not).
 *
 *   sweep.c     pagemu sweep: a program natively, then under pagemu run at
 *               several pool sizes and policies; CSV, plots, the knee
 *   analysis.c  pagemu-sim --mrc, --lifetime, --ws, --belady
 *   plot.c      gnuplot: is it there, a script's common head, run a script
 *   tracefile.c a trace file read in passes (pm_ref_src_t), pipes spooled
 *
 * Who calls whom: tools/pagemu.c calls sweep.c, tools/pagemu-sim.c calls
 * analysis.c and tracefile.c; sweep.c and analysis.c call plot.c. analysis.c and plot.c use the
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

/* The exit status: 0, 1 (a failure), 2 (--out without gnuplot). Each
 * analysis reads src in passes, in memory bounded by the distinct pages
 * and frame counts, never by the trace's length. */
int pm_analysis_run(const pm_analysis_t *a, const pm_ref_src_t *src);

/* tracefile.c - a trace as pm_ref_src_t: a regular file is read again at
 * each pass; standard input or any other file that cannot seek is first
 * copied into a scratch file. */
typedef struct pm_trace_file {
	FILE       *f;                    /* the trace, or its copy */
	int         owned;                /* 1 = f is closed here (not stdin) */
	const char *name;                 /* for messages */
	enum pm_trace_fmt fmt;            /* as given (auto decided at each open) */
	unsigned    page_bits;            /* PM_FMT_PAGES: page numbers << page_bits */
	int         data_only;            /* lackey: skip I lines */
	pm_trace_stream_t ts;             /* the pass under way */
	int         opened;               /* 1 = ts open */
	pm_refs_t   batch;                /* the batch handed out */
	size_t      batch_max;            /* references per batch */
	uint32_t    page_size;            /* from a binary header; 0 = unknown */
} pm_trace_file_t;
/* Open path ("-" = stdin) as src, batch references a batch, its header
 * read (tf->page_size): 0, or -errno with pagemu_last_error() saying why
 * (nothing to close then). */
int  pm_trace_file_open(pm_trace_file_t *tf, pm_ref_src_t *src, const char *path, enum pm_trace_fmt fmt,
			unsigned page_bits, int data_only, size_t batch);
void pm_trace_file_close(pm_trace_file_t *tf);
/* An empty scratch file in $TMPDIR (else /tmp), open for reading and
 * writing, with no name: NULL with pagemu_last_error() saying why. */
FILE *pm_scratch_open(void);

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
