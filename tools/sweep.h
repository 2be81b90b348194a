/* sweep.h - the parts of `pagemu sweep`, inside tools/ (tools.h has
 * what the rest of the tools see: pm_sweep_main).
 *
 *   sweep.c     the options, the checks, the story of a sweep
 *   runs.c      the runs: natively, under pagemu run, in a cgroup
 *   baseline.c  --kernel: the same program under Linux's own paging, in a
 *               memory cgroup of each pool size, with swap
 *   results.c   sweep.csv, the plots, the table and the knee in words
 */
#ifndef PAGEMU_SWEEP_H
#define PAGEMU_SWEEP_H

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "pagemu.h"
#include "model/model.h"

#define EXIT_MISMATCH 1                   /* a run's output differed: results written */
#define EXIT_BAD      2                   /* bad input: nothing written */
#define EXIT_FAIL     3                   /* the sweep itself failed */
#define MAX_POOLS     64
#define MAX_POLICIES  PAGEMU_POLICY_COUNT
#define MAX_PASS      64                  /* options passed on to pagemu run */
#define KERNEL        (-1)                /* run.policy of a native run in a memory cgroup */

/* The report's counters, by the X-macro lists of include/pagemu.h: the
 * CSV's columns, in this order (sweep.c). */
#define PM_SWEEP_COUNT(name, kind, desc) + 1
#define NSTATS (0 PAGEMU_STATS_LIST(PM_SWEEP_COUNT))
#define NHEAP  (0 PAGEMU_HEAP_STATS_LIST(PM_SWEEP_COUNT))
extern const char *const pm_sweep_stat_names[NSTATS];
extern const char *const pm_sweep_heap_names[NHEAP];

typedef struct run {
	uint64_t frames;                  /* pool, frames */
	int      policy;                  /* pagemu_policy_t, or KERNEL */
	unsigned rep;                     /* 0..repeat-1 */
	pid_t    pid;                     /* while it runs */
	double   start, secs;             /* wall clock */
	int      status;                  /* exit status, 128 + signal */
	int      same;                    /* 1 = stdout and exit status as native */
	uint64_t majflt;                  /* the kernel's major faults (getrusage of the run) */
	char     cgroup[PATH_MAX];        /* KERNEL: its memory cgroup, "" = none */
	int      reports;                 /* report lines read (processes) */
	double   stats[NSTATS];           /* summed over the run's processes */
	double   heap[NHEAP];             /* the first process's (the program's) */
} run_t;

typedef struct sweep {
	/* options */
	const char *memory, *frames_arg, *policy_arg, *out;
	unsigned steps, repeat, jobs;
	int      kernel;
	const char *pass[MAX_PASS];       /* settings for pagemu run, as given */
	size_t   npass;
	char   **prog;                    /* PROGRAM ARGS..., NULL-terminated */
	/* derived */
	size_t   page;                    /* bytes per frame */
	uint64_t pool[MAX_POOLS];         /* frames, ascending */
	size_t   npool;
	pagemu_policy_t policy[MAX_POLICIES];
	size_t   npolicy;
	char     self[PATH_MAX];          /* this pagemu */
	char     tmp[PATH_MAX];           /* DIR.partial.XXXXXX, "" = not made */
	double   native_secs;             /* median of the native runs */
	int      native_status;
	long     native_rss_kib;          /* peak RSS of the native run */
	/* --kernel */
	char     cg_base[64];             /* the cgroup hierarchy's directory */
	int      cg_v2;                   /* 1 = cgroup v2, 0 = v1 */
	char     swapfile[PATH_MAX];      /* the swap file we made, "" = none */
	int      kept_output;             /* the output of a run that differed is kept (one) */
	run_t   *runs;
	size_t   nruns;
} sweep_t;

/* sweep.c - shared helpers. */
/* "pagemu sweep: " and the message, on stderr. */
void pm_sweep_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A path in the temporary results directory. */
void pm_sweep_path(const sweep_t *s, char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline double pm_sweep_mib(const sweep_t *s, uint64_t frames)
{
	return (double)frames * (double)s->page / 1048576.0;
}

static inline const char *pm_sweep_label(int policy)
{
	return policy == KERNEL ? "kernel" : pagemu_policy_name((pagemu_policy_t)policy);
}

/* A wait status as a shell reports it: the exit status, 128 + signal. */
static inline int pm_sweep_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The signal that interrupts the sweep (SIGINT, SIGTERM), 0 = none. */
extern volatile sig_atomic_t pm_sweep_interrupted;

/* runs.c - native: the program natively, --repeat times: the reference
 * output and time, and its peak RSS; 0 or an exit status with a message
 * (EXIT_BAD when it fails). all: every run of s->runs, --jobs at a time:
 * 0, or an exit status (128 + signal when interrupted). */
int  pm_runs_native(sweep_t *s);
int  pm_runs_all(sweep_t *s);

/* baseline.c - --kernel. setup: root, a cgroup memory controller (v2, or
 * v1), and enough swap (a swap file beside --out when there is too little
 * active): 0 or an exit status with a message. cgroup: run r's own memory
 * cgroup, limited to its pool, with swap unlimited: 0 or -1. cleanup:
 * every cgroup left and the swap file made go (safe to call twice). */
int  pm_baseline_setup(sweep_t *s);
int  pm_baseline_cgroup(sweep_t *s, run_t *r, size_t i);
void pm_baseline_cleanup(sweep_t *s);

/* results.c - after the runs, into the temporary directory. knee: the
 * index of the knee among the pool sizes (first policy). csv, plots: 0 or
 * -1 with a message. table: on stdout, with the knee in words. */
size_t pm_results_knee(const sweep_t *s);
int  pm_results_csv(const sweep_t *s);
int  pm_results_plots(const sweep_t *s, size_t knee);
void pm_results_table(const sweep_t *s, size_t knee);

#endif
