/* runs.c - the runs of `pagemu sweep`: each a child process with stdin
 * /dev/null and stdout and stderr in files of the temporary directory,
 * timed by the wall clock and reaped with wait4 (its rusage gives the
 * kernel's major faults). The native run comes first and alone; the
 * others go --jobs at a time, each compared with the native output as it
 * ends, its report read, its output dropped. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sweep.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1m02s", "3.4s" */
static void fmt_secs(char *buf, size_t len, double secs)
{
	if (secs < 60)
		snprintf(buf, len, "%.1fs", secs);
	else
		snprintf(buf, len, "%dm%02ds", (int)(secs / 60), (int)secs % 60);
}

/* ---- the native run ------------------------------------------------------------------- */

/* The child's side: stdin /dev/null, stdout and stderr to files, into the
 * cgroup when there is one, then exec. Never returns. */
static void child(const char *out, const char *err, const char *cgroup, char **argv)
{
	int in = open("/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char procs[PATH_MAX + 16];

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
		_exit(126);
	if (cgroup && cgroup[0]) {
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
		int fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, "0\n", 2) != 2) {
			dprintf(2, "pagemu sweep: cannot enter the cgroup %s: %s\n", cgroup, strerror(errno));
			_exit(126);
		}
		close(fd);
	}
	execvp(argv[0], argv);
	dprintf(2, "pagemu sweep: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* 1 when files a and b hold the same bytes. */
static int same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	char ba[65536], bb[65536];
	int same = fa && fb;

	while (same) {
		size_t na = fread(ba, 1, sizeof(ba), fa), nb = fread(bb, 1, sizeof(bb), fb);
		if (na != nb || memcmp(ba, bb, na) != 0)
			same = 0;
		if (na < sizeof(ba))
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

/* The first line of a file, for a message. */
static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int pm_runs_native(sweep_t *s)
{
	double secs[100];
	char out[PATH_MAX], err[PATH_MAX], line[256];

	for (unsigned r = 0; r < s->repeat; r++) {
		struct rusage ru;
		double t0 = now();
		int st;
		pid_t pid;

		pm_sweep_path(s, out, sizeof(out), r ? "native.again" : "native.out");
		pm_sweep_path(s, err, sizeof(err), "native.err");
		if ((pid = fork()) == 0)
			child(out, err, NULL, s->prog);
		if (pid < 0 || wait4(pid, &st, 0, &ru) != pid) {
			pm_sweep_say("cannot run %s: %s", s->prog[0], strerror(errno));
			return EXIT_FAIL;
		}
		secs[r] = now() - t0;
		if (pm_sweep_interrupted)
			return EXIT_FAIL;
		s->native_status = pm_sweep_status(st);
		if (s->native_status != 0) {
			first_line(err, line, sizeof(line));
			pm_sweep_say("PROGRAM '%s' fails natively (exit status %d%s%s): the sweep compares every run with a "
			    "native run that succeeds", s->prog[0], s->native_status, line[0] ? ": " : "", line);
			return EXIT_BAD;
		}
		if (r) {
			char first[PATH_MAX];
			pm_sweep_path(s, first, sizeof(first), "native.out");
			if (!same_file(first, out)) {
				pm_sweep_say("PROGRAM '%s' writes a different output each time it runs natively: a sweep "
				    "cannot check its runs against it", s->prog[0]);
				return EXIT_BAD;
			}
			unlink(out);
		}
		if (ru.ru_maxrss > s->native_rss_kib)
			s->native_rss_kib = ru.ru_maxrss;
	}
	qsort(secs, s->repeat, sizeof(*secs), cmp_double);
	s->native_secs = secs[s->repeat / 2];
	return 0;
}

/* ---- under pagemu run, or in a cgroup ----------------------------------------------- */

/* The value after "name": in [from, to). */
static int json_number(const char *from, const char *to, const char *name, double *v)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(from, key);
	if (!p || p >= to)
		return -1;
	*v = strtod(p + strlen(key), NULL);
	return 0;
}

/* The report: one JSON line per process of the run. The counters are
 * summed over the processes; the heap's figures are the first process's. */
static void read_report(const sweep_t *s, run_t *r, size_t i)
{
	char path[PATH_MAX], line[16384];
	FILE *f;

	pm_sweep_path(s, path, sizeof(path), "runs/%zu.json", i);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *st = strstr(line, "\"stats\":{"), *hp = strstr(line, "\"heap\":{");
		const char *st_end = st ? strchr(st, '}') : NULL, *hp_end = hp ? strchr(hp, '}') : NULL;
		double v;
		if (!st_end)
			continue;
		for (size_t k = 0; k < NSTATS; k++)
			if (json_number(st, st_end, pm_sweep_stat_names[k], &v) == 0)
				r->stats[k] += v;
		for (size_t k = 0; hp_end && !r->reports && k < NHEAP; k++)
			if (json_number(hp, hp_end, pm_sweep_heap_names[k], &v) == 0)
				r->heap[k] = v;
		r->reports++;
	}
	fclose(f);
}

static int start_run(sweep_t *s, size_t i)
{
	run_t *r = &s->runs[i];
	char out[PATH_MAX], err[PATH_MAX], report[PATH_MAX], frames[32];
	char *argv[MAX_PASS + 16];
	size_t n = 0;

	pm_sweep_path(s, out, sizeof(out), "runs/%zu.out", i);
	pm_sweep_path(s, err, sizeof(err), "runs/%zu.err", i);
	pm_sweep_path(s, report, sizeof(report), "runs/%zu.json", i);
	snprintf(frames, sizeof(frames), "%llu", (unsigned long long)r->frames);
	if (r->policy == KERNEL) {
		if (pm_baseline_cgroup(s, r, i) < 0)
			return -1;
	} else {
		argv[n++] = s->self;
		argv[n++] = "run";
		argv[n++] = "--frames";
		argv[n++] = frames;
		argv[n++] = "--policy";
		argv[n++] = (char *)pagemu_policy_name((pagemu_policy_t)r->policy);
		argv[n++] = "--report";
		argv[n++] = report;
		for (size_t k = 0; k < s->npass; k++)
			argv[n++] = (char *)s->pass[k];
		argv[n++] = "--";
	}
	for (char **p = s->prog; *p && n + 1 < PM_ARRAY_LEN(argv); p++)
		argv[n++] = *p;
	argv[n] = NULL;
	r->start = now();
	if ((r->pid = fork()) == 0)
		child(out, err, r->cgroup, argv);
	if (r->pid < 0) {
		pm_sweep_say("fork: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void finish_run(sweep_t *s, size_t i, int st, const struct rusage *ru)
{
	run_t *r = &s->runs[i];
	char out[PATH_MAX], native[PATH_MAX], err[PATH_MAX], line[256];

	r->secs = now() - r->start;
	r->pid = 0;
	r->status = pm_sweep_status(st);
	r->majflt = (uint64_t)ru->ru_majflt;
	pm_sweep_path(s, out, sizeof(out), "runs/%zu.out", i);
	pm_sweep_path(s, err, sizeof(err), "runs/%zu.err", i);
	pm_sweep_path(s, native, sizeof(native), "native.out");
	r->same = r->status == s->native_status && same_file(native, out);
	first_line(err, line, sizeof(line));
	if (!r->same && r->policy == KERNEL && r->status == 128 + SIGKILL)
		pm_sweep_say("kernel, %.2f MiB: killed by SIGKILL, most likely by the memory cgroup's OOM killer (Linux "
			     "could not reclaim enough to run it in that much memory)", pm_sweep_mib(s, r->frames));
	else if (!r->same)
		pm_sweep_say("%s, %.2f MiB (%llu frames): %s%s%s", pm_sweep_label(r->policy), pm_sweep_mib(s, r->frames),
			     (unsigned long long)r->frames,
			     r->status != s->native_status ? "exit status differs from the native run's"
							   : "output differs from the native run's",
			     line[0] ? ": " : "", line);
	/* The outputs can be large (a sorted file per run): only the
	 * first that differed is kept, to look at. */
	if (r->same || s->kept_output)
		unlink(out);
	else
		s->kept_output = 1;
	if (r->same)
		unlink(err);
	read_report(s, r, i);
	if (r->cgroup[0] && rmdir(r->cgroup) == 0)
		r->cgroup[0] = 0;
}

static void progress(const sweep_t *s, size_t done, size_t running, double t0)
{
	char el[32], left[32] = "?";
	double e = now() - t0;

	if (!isatty(2))
		return;
	fmt_secs(el, sizeof(el), e);
	if (done)
		fmt_secs(left, sizeof(left), e / (double)done * (double)(s->nruns - done));
	fprintf(stderr, "\r\033[Kpagemu sweep: run %zu of %zu%s, %s elapsed, ~%s left", done + (running ? 1 : 0),
		s->nruns, running > 1 ? " (and more)" : "", el, done ? left : "?");
	fflush(stderr);
}

int pm_runs_all(sweep_t *s)
{
	size_t next = 0, running = 0, done = 0;
	double t0 = now();
	char dir[PATH_MAX];

	pm_sweep_path(s, dir, sizeof(dir), "runs");
	if (mkdir(dir, 0700) != 0) {
		pm_sweep_say("%s: %s", dir, strerror(errno));
		return EXIT_FAIL;
	}
	while (done < s->nruns) {
		struct rusage ru;
		int st;
		pid_t pid;

		while (running < s->jobs && next < s->nruns && !pm_sweep_interrupted) {
			if (start_run(s, next) < 0)
				return EXIT_FAIL;
			next++;
			running++;
			progress(s, done, running, t0);
		}
		if (pm_sweep_interrupted || !running)
			break;
		pid = wait4(-1, &st, 0, &ru);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			pm_sweep_say("wait: %s", strerror(errno));
			return EXIT_FAIL;
		}
		for (size_t i = 0; i < next; i++)
			if (s->runs[i].pid == pid) {
				finish_run(s, i, st, &ru);
				running--;
				done++;
			}
		progress(s, done, running, t0);
	}
	if (isatty(2))
		fputs("\r\033[K", stderr);
	if (pm_sweep_interrupted) {
		for (size_t i = 0; i < next; i++)
			if (s->runs[i].pid > 0) {
				kill(s->runs[i].pid, SIGTERM);
				waitpid(s->runs[i].pid, NULL, 0);
			}
		pm_sweep_say("pm_sweep_interrupted: nothing written");
		return 128 + pm_sweep_interrupted;
	}
	return 0;
}
