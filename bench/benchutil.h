/* benchutil.h - shared by the benchmark programs in bench/.
 *
 * Every benchmark measures its baseline in the same process (or the same
 * script) as the thing it judges, and prints ratios. Times are medians over
 * several runs: the machine is a noisy 2-vCPU VM and absolute numbers drift.
 *
 * Output convention, read by bench/run.sh:
 *   SUMMARY <bench> <metric> <value> <op> <target> <met|MISSED|info>
 * one line per ratio that has a target (or "info" when it has none). */
#ifndef PAGEMU_BENCHUTIL_H
#define PAGEMU_BENCHUTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagemu.h"

#define BU_TMPFS_MAGIC 0x01021994
#define BU_EXT4_MAGIC  0xEF53
#define BU_MAX_RUNS    64

#define BU_DIE(...) do { fprintf(stderr, __VA_ARGS__); exit(1); } while (0)

static inline uint64_t bu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline double bu_secs_since(uint64_t t0)
{
	return (double)(bu_now_ns() - t0) / 1e9;
}

static inline int bu_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of v[0..n); v is left as it is (runs stay paired). */
static inline double bu_median(const double *v, int n)
{
	double *s, m;

	if (n <= 0)
		return 0;
	s = malloc((size_t)n * sizeof(*s));
	if (!s)
		BU_DIE("out of memory\n");
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), bu_cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* Median over runs of num[r] / den[r]: each run's ratio pairs two
 * measurements taken moments apart, so the VM's drift cancels. */
static inline double bu_median_ratio(const double *num, const double *den, int n)
{
	double r[BU_MAX_RUNS];

	for (int i = 0; i < n && i < BU_MAX_RUNS; i++)
		r[i] = num[i] / den[i];
	return bu_median(r, n < BU_MAX_RUNS ? n : BU_MAX_RUNS);
}

/* A seeded PRNG (splitmix64): the same sequence in every process. */
static inline uint64_t bu_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* One volatile write (or read) per page, in order: each is one fault when
 * the page is not mapped. Returns the elapsed nanoseconds. */
static inline uint64_t bu_write_pages(char *p, size_t npages, size_t page)
{
	uint64_t t0 = bu_now_ns();

	for (size_t i = 0; i < npages; i++)
		((volatile char *)p)[i * page] = (char)i;
	return bu_now_ns() - t0;
}

static inline uint64_t bu_read_pages(const char *p, size_t npages, size_t page)
{
	uint64_t t0 = bu_now_ns();
	unsigned sum = 0;

	for (size_t i = 0; i < npages; i++)
		sum += ((const volatile char *)p)[i * page];
	__asm__ volatile("" : : "r"(sum));
	return bu_now_ns() - t0;
}

/* Anonymous memory in 4 KiB pages (no THP), not yet touched. */
static inline char *bu_anon(size_t len, int nohuge)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	if (nohuge)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* 1 when dir is on tmpfs (no O_DIRECT; a "swap" there is just RAM). */
static inline int bu_is_tmpfs(const char *dir)
{
	struct statfs s;

	return statfs(dir, &s) == 0 && (unsigned long)s.f_type == BU_TMPFS_MAGIC;
}

/* The first directory of the list that exists and is not tmpfs, else NULL. */
static inline const char *bu_disk_dir(const char *const *dirs)
{
	struct statfs s;

	for (; *dirs; dirs++)
		if (**dirs && statfs(*dirs, &s) == 0 && (unsigned long)s.f_type != BU_TMPFS_MAGIC)
			return *dirs;
	return NULL;
}

static inline const char *bu_fs_name(const char *dir)
{
	struct statfs s;

	if (statfs(dir, &s) < 0)
		return "?";
	switch ((unsigned long)s.f_type) {
	case BU_EXT4_MAGIC:  return "ext4";
	case BU_TMPFS_MAGIC: return "tmpfs";
	case 0x58465342:     return "xfs";
	case 0x9123683E:     return "btrfs";
	default:             return "other";
	}
}

/* Open an instance or exit with pagemu's own explanation. */
static inline pagemu_t *bu_open(const pagemu_config_t *cfg)
{
	pagemu_t *vm;
	int rc = pagemu_open(cfg, &vm);

	if (rc < 0) {
		fprintf(stderr, "pagemu_open: %s: %s\n", pagemu_strerror(rc), pagemu_last_error());
		exit(1);
	}
	return vm;
}

static inline char *bu_map(pagemu_t *vm, size_t len)
{
	char *p = pagemu_map(vm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!p) {
		fprintf(stderr, "pagemu_map(%zu): %s: %s\n", len, strerror(errno), pagemu_last_error());
		exit(1);
	}
	return p;
}

static inline uint64_t bu_majflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_majflt;
}

static inline uint64_t bu_minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt;
}

/* Lines of /proc/self/maps: the process's mappings (VMAs). */
static inline long bu_map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int ch;

	if (!f)
		return -1;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* "--name=value" or "--name value": the value, or NULL. */
static inline const char *bu_opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == 0 && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/* Common options: --runs N, --quick, --full; returns 1 when argv[*i] was one. */
typedef struct bu_common {
	int runs;        /* repetitions; the median is reported */
	int quick;       /* 1 = small sizes */
} bu_common_t;

static inline int bu_common_opt(bu_common_t *c, int argc, char **argv, int *i)
{
	const char *v;

	if (!strcmp(argv[*i], "--quick")) {
		c->quick = 1;
		return 1;
	}
	if (!strcmp(argv[*i], "--full")) {
		c->quick = 0;
		return 1;
	}
	if ((v = bu_opt(argc, argv, i, "--runs"))) {
		c->runs = atoi(v);
		if (c->runs < 1 || c->runs > BU_MAX_RUNS) {
			fprintf(stderr, "--runs: 1..%d\n", BU_MAX_RUNS);
			exit(2);
		}
		return 1;
	}
	return 0;
}

/* One summary line (see the top of this file). op is "<=" or ">=". */
static inline void bu_summary(const char *bench, const char *metric, double value, const char *op, double target)
{
	const char *verdict = "info";

	if (op && *op != '-')
		verdict = (op[0] == '<' ? value <= target : value >= target) ? "met" : "MISSED";
	printf("SUMMARY %s %s %.3f %s %.2f %s\n", bench, metric, value, op ? op : "-", target, verdict);
}

/* ---- a helper process for kernel baselines ---------------------------------
 * Forked before any pagemu instance is opened: a fork() of the benchmark
 * once an instance is open runs pagemu's atfork handlers and copies the
 * instance, which is not the kernel's cost being measured. The helper
 * answers requests of two numbers with one number, serve(a, b), until
 * bu_helper_stop. The benchmark interleaves its own runs with requests, so
 * that both sides of a ratio are measured moments apart. */
typedef double (*bu_serve_fn)(uint64_t a, uint64_t b);

typedef struct bu_helper {
	pid_t pid;
	int   to, from;              /* request pipe (write end), reply pipe (read end) */
} bu_helper_t;

static inline void bu_xwrite(int fd, const void *b, size_t n)
{
	if (write(fd, b, n) != (ssize_t)n)
		BU_DIE("write: %s\n", strerror(errno));
}

static inline void bu_xread(int fd, void *b, size_t n)
{
	if (read(fd, b, n) != (ssize_t)n)
		BU_DIE("read: %s\n", strerror(errno));
}

static inline bu_helper_t bu_helper_start(bu_serve_fn serve)
{
	int req[2], rep[2];
	bu_helper_t h;

	if (pipe(req) < 0 || pipe(rep) < 0)
		BU_DIE("pipe: %s\n", strerror(errno));
	fflush(stdout);
	h.pid = fork();
	if (h.pid < 0)
		BU_DIE("fork: %s\n", strerror(errno));
	if (h.pid == 0) {
		uint64_t ab[2];
		close(req[1]);
		close(rep[0]);
		for (;;) {
			double v;
			if (read(req[0], ab, sizeof(ab)) != (ssize_t)sizeof(ab))
				_exit(0);            /* stopped: the request pipe closed */
			v = serve(ab[0], ab[1]);
			bu_xwrite(rep[1], &v, sizeof(v));
		}
	}
	close(req[0]);
	close(rep[1]);
	h.to = req[1];
	h.from = rep[0];
	return h;
}

static inline double bu_helper_ask(const bu_helper_t *h, uint64_t a, uint64_t b)
{
	uint64_t ab[2] = { a, b };
	double v;

	bu_xwrite(h->to, ab, sizeof(ab));
	bu_xread(h->from, &v, sizeof(v));
	return v;
}

static inline void bu_helper_stop(bu_helper_t *h)
{
	int status;

	close(h->to);
	waitpid(h->pid, &status, 0);
	close(h->from);
}

#endif
