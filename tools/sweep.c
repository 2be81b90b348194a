/* sweep.c - `pagemu sweep`: one program, natively and then under
 * `pagemu run` at several pool sizes and policies, to draw its fault and
 * time curves against the frames it is given and find its knee.
 *
 *   pagemu sweep --memory 4M..64M --steps 5 --out sort-sweep -- sort big.txt
 *
 * The story, in the order main() tells it:
 *   1. options; every pool size x policy is checked with the settings
 *      code pagemu run uses (pm_config_apply, pm_config_check and
 *      pm_config_check_run), so a bad one stops the sweep before anything
 *      runs, named as the user wrote it;
 *   2. the native run(s): the reference output, exit status and time; a
 *      program that fails natively is bad input (runs.c);
 *   3. with --kernel, a swap file when too little is active and one memory
 *      cgroup per kernel run (baseline.c);
 *   4. the runs, --jobs at a time, each one's stdout compared with the
 *      native one's (stdin is /dev/null for every run) and its report read
 *      (runs.c);
 *   5. sweep.csv, the plots (gnuplot), the table and the knee in words
 *      (results.c).
 * Everything is written in DIR.partial.XXXXXX beside DIR and renamed to
 * DIR at the very end: an error or ^C leaves no half-written DIR.
 * runs.c runs the program; baseline.c sets up --kernel's cgroups and
 * swap; results.c writes what the sweep leaves (sweep.h). */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pagemu.h"
#include "engine/engine_api.h"
#include "model/model.h"
#include "sweep.h"
#include "tools.h"

volatile sig_atomic_t pm_sweep_interrupted;

static void on_signal(int sig)
{
	pm_sweep_interrupted = sig;
}

const char *const pm_sweep_stat_names[NSTATS] = {
#define PM_SWEEP_NAME(name, kind, desc) #name,
	PAGEMU_STATS_LIST(PM_SWEEP_NAME)
};
const char *const pm_sweep_heap_names[NHEAP] = {
	PAGEMU_HEAP_STATS_LIST(PM_SWEEP_NAME)
#undef PM_SWEEP_NAME
};

void pm_sweep_say(const char *fmt, ...)
{
	va_list ap;

	fputs("pagemu sweep: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- 1. options --------------------------------------------------------------------- */

static const char usage_text[] =
"usage: pagemu sweep [OPTIONS] -- PROGRAM [ARGS...]\n"
"\n"
"Runs PROGRAM natively, then under pagemu run at each pool size and policy;\n"
"checks that every run's output (stdout) and exit status are the native run's;\n"
"writes DIR/sweep.csv, DIR/faults.png and DIR/time.png (gnuplot) and prints a\n"
"table with the knee of the fault curve. PROGRAM's stdin is /dev/null.\n"
"\n"
"  --memory LO..HI     pool sizes from LO to HI bytes (K, M, G suffixes),\n"
"                      --steps of them, spaced evenly on a log scale\n"
"  --frames LIST       pool sizes in frames: 256,1024,4096 or 64-80\n"
"                      (default: --steps sizes from 1/32 of the native run's\n"
"                      peak RSS to the power of two above it)\n"
"  --steps N           pool sizes of --memory (default 8; 2 to 64)\n"
"  --policy P[,P...]   clock, fifo, lru, random (default clock)\n"
"  --repeat R          runs of each pool size and policy (default 1); the\n"
"                      table and plots take the median time\n"
"  --kernel            also run PROGRAM natively in a memory cgroup of each\n"
"                      pool size, with swap (root; a swap file is made for the\n"
"                      sweep when none is active, and removed)\n"
"  --jobs N            runs at once (default 1: timings stay honest)\n"
"  --out DIR           where the results go (default pagemu-sweep); it must\n"
"                      not exist\n"
"  Any setting of pagemu run (--swap-dir, --page-size, --preload...) is\n"
"  passed on to every run.\n"
"\n"
"Exit status: 0 ok, 1 a run's output or exit status differed from the native\n"
"run's (results written), 2 bad input (nothing written), 3 the sweep failed.\n";

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("pagemu sweep: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see pagemu sweep --help)\n", stderr);
	return EXIT_BAD;
}

static int parse_uint_opt(const char *name, const char *v, uint64_t lo, uint64_t hi, unsigned *out)
{
	uint64_t x;

	if (pm_parse_range(v, lo, hi, &x) < 0)
		return bad("%s '%s': expected a number from %llu to %llu", name, v, (unsigned long long)lo,
			   (unsigned long long)hi);
	*out = (unsigned)x;
	return 0;
}

/* Options up to "--"; 0, or the exit status. */
static int parse_options(int argc, char **argv, sweep_t *s)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		const pm_setting_t *set;
		int st = 0;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (!strcmp(a, "--kernel")) {
			s->kernel = 1;
			continue;
		}
		if (a[0] != '-')
			return bad("'%s': put -- before the program", a);
		set = pm_setting_find(a);
		if (set && set->kind == PM_SET_BOOL) {
			if (s->npass + 1 > MAX_PASS)
				return bad("too many options for pagemu run");
			s->pass[s->npass++] = a;
			continue;
		}
		if (!v)
			return bad("%s needs a value", a);
		i++;
		if (!strcmp(a, "--memory"))
			s->memory = v, s->frames_arg = NULL;
		else if (!strcmp(a, "--frames"))
			s->frames_arg = v, s->memory = NULL;
		else if (!strcmp(a, "--policy"))
			s->policy_arg = v;
		else if (!strcmp(a, "--out"))
			s->out = v;
		else if (!strcmp(a, "--steps"))
			st = parse_uint_opt(a, v, 2, MAX_POOLS, &s->steps);
		else if (!strcmp(a, "--repeat"))
			st = parse_uint_opt(a, v, 1, 100, &s->repeat);
		else if (!strcmp(a, "--jobs"))
			st = parse_uint_opt(a, v, 1, 256, &s->jobs);
		else if (set || !strcmp(a, "--preload")) {
			if (s->npass + 2 > MAX_PASS)
				return bad("too many options for pagemu run");
			s->pass[s->npass++] = a;
			s->pass[s->npass++] = v;
		} else
			return bad("unknown option '%s'", a);
		if (st)
			return st;
	}
	if (i >= argc)
		return bad("no program to run (pagemu sweep [OPTIONS] -- PROGRAM [ARGS...])");
	s->prog = argv + i;
	return 0;
}

static int parse_policies(sweep_t *s)
{
	const char *p = s->policy_arg ? s->policy_arg : "clock";

	for (;;) {
		size_t len = strcspn(p, ",");
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		if (len == 0 || len >= sizeof(name) || pagemu_policy_parse(name, &s->policy[s->npolicy]) < 0)
			return bad("--policy '%s': unknown policy '%.*s' (expected clock, fifo, lru or random)",
				   s->policy_arg, (int)len, p);
		for (size_t k = 0; k < s->npolicy; k++)
			if (s->policy[k] == s->policy[s->npolicy])
				return bad("--policy '%s': %s given twice", s->policy_arg, name);
		if (++s->npolicy == MAX_POLICIES && p[len])
			return bad("--policy '%s': too many policies", s->policy_arg);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --steps sizes from lo to hi bytes, evenly on a log scale, in frames. */
static void geometric(sweep_t *s, uint64_t lo, uint64_t hi)
{
	unsigned n = s->steps ? s->steps : 8;

	s->npool = 0;
	for (unsigned k = 0; k < n; k++) {
		double b = (double)lo * pow((double)hi / (double)lo, (double)k / (double)(n - 1));
		uint64_t f = (uint64_t)llround(b / (double)s->page);
		if (f && (!s->npool || s->pool[s->npool - 1] != f))
			s->pool[s->npool++] = f;
	}
}

/* The pool sizes, in frames, ascending; 0 or the exit status. */
static int parse_pools(sweep_t *s)
{
	if (s->frames_arg) {
		uint64_t v[MAX_POOLS];
		if (pm_parse_counts(s->frames_arg, 1, UINT32_MAX - 1, v, MAX_POOLS, &s->npool) < 0 || !s->npool)
			return bad("--frames '%s': expected frame counts like 256,1024 or 64-80 (a range low to high, "
				   "at most %d counts)", s->frames_arg, MAX_POOLS);
		memcpy(s->pool, v, s->npool * sizeof(*v));
	} else if (s->memory) {
		const char *dots = strstr(s->memory, "..");
		char lo_s[64];
		uint64_t lo, hi;
		if (!dots || (size_t)(dots - s->memory) >= sizeof(lo_s))
			return bad("--memory '%s': expected LO..HI like 1M..64M", s->memory);
		snprintf(lo_s, sizeof(lo_s), "%.*s", (int)(dots - s->memory), s->memory);
		if (pm_parse_u64(lo_s, &lo) < 0 || pm_parse_u64(dots + 2, &hi) < 0 || lo < s->page)
			return bad("--memory '%s': expected LO..HI like 1M..64M (each at least a page, %zu bytes)",
				   s->memory, s->page);
		if (lo >= hi)
			return bad("--memory '%s': an empty range (LO must be below HI)", s->memory);
		geometric(s, lo, hi);
	} else {
		uint64_t hi = 1;
		while (hi < (uint64_t)s->native_rss_kib * 1024)
			hi <<= 1;
		if (hi < 32 * s->page * 32)
			hi = 32 * s->page * 32;
		geometric(s, hi / 32, hi);
	}
	qsort(s->pool, s->npool, sizeof(*s->pool), cmp_u64);
	return 0;
}

/* One pool size and policy against the settings code of pagemu run: the
 * user's settings (passed on, and the environment's PAGEMU_*), then the
 * pool as the user gave it. 0, or the exit status with a message. */
static int check_setting(const sweep_t *s, uint64_t frames, pagemu_policy_t policy)
{
	pm_given_t given[64] = { { 0 } };
	const char *pool_name = s->memory ? "--memory" : s->frames_arg ? "--frames" : "the default pool";
	char pool_val[64], *end = pool_val + sizeof(pool_val);
	pagemu_config_t cfg;
	const pm_setting_t *set;
	size_t nset = 0;

	while (pm_setting(nset))
		nset++;
	if (nset > PM_ARRAY_LEN(given))
		return bad("internal: too many settings");
	for (size_t i = 0; i < nset; i++) {
		const char *v = getenv(pm_setting(i)->env);
		if (v)
			given[i] = (pm_given_t){ pm_setting(i)->env, v };
	}
	for (size_t k = 0; k < s->npass; k++)
		if ((set = pm_setting_find(s->pass[k]))) {
			int flag = set->kind == PM_SET_BOOL;
			given[set - pm_setting(0)] = (pm_given_t){ set->option, flag ? set->flag : s->pass[k + 1] };
			k += !flag;
		} else {
			k++;                      /* --preload PATH */
		}
	if (s->memory)
		pm_fmt_size(pool_val, end, frames * s->page);
	else
		pm_fmt_u64(pool_val, end, frames);
	set = pm_setting_find(s->memory ? "--memory" : "--frames");
	given[pm_setting_find("--memory") - pm_setting(0)] = (pm_given_t){ NULL, NULL };
	given[pm_setting_find("--frames") - pm_setting(0)] = (pm_given_t){ NULL, NULL };
	given[set - pm_setting(0)] = (pm_given_t){ pool_name, pool_val };
	given[pm_setting_find("--policy") - pm_setting(0)] = (pm_given_t){ "--policy", pagemu_policy_name(policy) };
	pagemu_config_default(&cfg);
	if (pm_config_apply(&cfg, given) < 0 || pm_config_check(&cfg, given) < 0 ||
	    pm_config_check_run(&cfg, given) < 0) {
		pm_sweep_say("%s", pagemu_last_error());
		return EXIT_BAD;
	}
	return 0;
}

/* The frame size every run will have (a --page-size passed on, or the
 * default). */
static int page_size(sweep_t *s)
{
	pm_given_t given[64] = { { 0 } };
	const pm_setting_t *ps = pm_setting_find("--page-size");
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	if (ps) {
		const char *v = getenv(ps->env);
		for (size_t k = 0; k + 1 < s->npass; k++)
			if (!strcmp(s->pass[k], "--page-size"))
				v = s->pass[k + 1];
		if (v) {
			given[ps - pm_setting(0)] = (pm_given_t){ "--page-size", v };
			if (pm_config_apply(&cfg, given) < 0) {
				pm_sweep_say("%s", pagemu_last_error());
				return EXIT_BAD;
			}
		}
	}
	s->page = cfg.page_size;
	return 0;
}

/* ---- the temporary directory ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_tmp(sweep_t *s)
{
	struct stat st;

	if (lstat(s->out, &st) == 0)
		return bad("--out '%s' already exists (pagemu sweep writes a new directory: remove it or name "
			   "another)", s->out);
	if (snprintf(s->tmp, sizeof(s->tmp), "%s.partial.XXXXXX", s->out) >= (int)sizeof(s->tmp))
		return bad("--out '%s': path too long", s->out);
	if (!mkdtemp(s->tmp)) {
		int e = errno;
		s->tmp[0] = 0;
		return bad("--out '%s': cannot make a directory beside it: %s", s->out, strerror(e));
	}
	return 0;
}

void pm_sweep_path(const sweep_t *s, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s/", s->tmp);

	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int plan(sweep_t *s)
{
	size_t n = 0, per = s->npolicy + (size_t)s->kernel;

	s->nruns = s->npool * per * s->repeat;
	if (!(s->runs = calloc(s->nruns, sizeof(*s->runs)))) {
		pm_sweep_say("out of memory");
		return EXIT_FAIL;
	}
	for (size_t p = 0; p < s->npool; p++)
		for (size_t q = 0; q < per; q++)
			for (unsigned r = 0; r < s->repeat; r++)
				s->runs[n++] = (run_t){ .frames = s->pool[p], .rep = r,
							.policy = q < s->npolicy ? (int)s->policy[q] : KERNEL };
	return 0;
}

static int sweep(sweep_t *s)
{
	char err[512], path[PATH_MAX];
	int st, mismatch = 0;
	size_t k;

	if (pm_plot_available(err, sizeof(err)) < 0) {
		pm_sweep_say("%s", err);
		return EXIT_BAD;
	}
	if ((st = page_size(s)) || (st = parse_policies(s)))
		return st;
	if ((s->memory || s->frames_arg) && (st = parse_pools(s)))
		return st;
	/* Every pool the user gave is checked before anything runs. */
	for (size_t p = 0; p < s->npool; p++)
		for (size_t q = 0; q < s->npolicy; q++)
			if ((st = check_setting(s, s->pool[p], s->policy[q])))
				return st;
	if ((st = make_tmp(s)) || (st = pm_runs_native(s)))
		return st;
	if (!s->memory && !s->frames_arg) {
		if ((st = parse_pools(s)))
			return st;
		for (size_t p = 0; p < s->npool; p++)
			for (size_t q = 0; q < s->npolicy; q++)
				if ((st = check_setting(s, s->pool[p], s->policy[q])))
					return st;
	}
	if ((st = plan(s)) || (s->kernel && (st = pm_baseline_setup(s))) || (st = pm_runs_all(s)))
		return st;
	for (size_t i = 0; i < s->nruns; i++)
		mismatch |= !s->runs[i].same && s->runs[i].policy != KERNEL;
	k = pm_results_knee(s);
	if (pm_results_csv(s) < 0 || pm_results_plots(s, k) < 0) {
		pm_sweep_say("writing the results in %s failed", s->tmp);
		return EXIT_FAIL;
	}
	/* The reference output can be large (a sorted file): not kept. */
	pm_sweep_path(s, path, sizeof(path), "native.out");
	unlink(path);
	pm_sweep_path(s, path, sizeof(path), "native.err");
	unlink(path);
	if (rename(s->tmp, s->out) != 0) {
		pm_sweep_say("--out '%s': cannot rename %s to it: %s", s->out, s->tmp, strerror(errno));
		return EXIT_FAIL;
	}
	s->tmp[0] = 0;
	pm_results_table(s, k);
	printf("Results in %s/: sweep.csv, faults.png, time.png (plot.gp redraws them), runs/ (reports)\n", s->out);
	if (mismatch)
		pm_sweep_say("some pagemu runs did not match the native run (DIFFERS above; their stderr is in %s/runs/)",
			     s->out);
	return mismatch ? EXIT_MISMATCH : 0;
}

int pm_sweep_main(int argc, char **argv)
{
	static sweep_t s;
	struct sigaction sa;
	ssize_t n;
	int st;

	s.repeat = 1;
	s.jobs = 1;
	s.out = "pagemu-sweep";
	if ((st = parse_options(argc, argv, &s)))
		return st;
	if ((n = readlink("/proc/self/exe", s.self, sizeof(s.self) - 1)) < 0) {
		pm_sweep_say("cannot find this program (/proc/self/exe): %s", strerror(errno));
		return EXIT_FAIL;
	}
	s.self[n] = 0;
	/* No SA_RESTART: ^C ends the wait for a run, and the sweep cleans up. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	st = sweep(&s);
	pm_baseline_cleanup(&s);
	remove_tree(s.tmp);
	free(s.runs);
	return st;
}
