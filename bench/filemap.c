/* filemap.c - reads of a mapped file four times the memory, run two ways by
 * bench/filemap.sh: over pagemu (a shared mapping of the file, 64 MiB of
 * frames, O_DIRECT file reads: PAGEMU_FILE_DIRECT) and natively (the
 * kernel's own mapping of the same file inside a 64 MiB memory cgroup).
 * The same program, the same sequence; each workload starts cold (the
 * kernel's page cache of the file dropped, pagemu's instance new).
 *
 *   filemap --mode pagemu|native --file F [--frames N] [--passes N] [--touches N] [--seed N] [--fault-around N]
 *     seq   --passes sequential passes reading one word per page (default 2)
 *     rand  --touches random page reads (default 100,000)
 *     prints RESULT <mode> <workload> <seconds> <major faults>; with
 *     --fault-around N > 1 (pagemu: PAGEMU_FAULT_AROUND) the mode is
 *     printed pagemu-faN
 *   filemap --floor N --file F [--passes N]
 *     the sequential passes served by the least a SIGSEGV pager can do: a
 *     bare handler maps the N pages from the faulting one's N-aligned
 *     run with one mmap (MAP_POPULATE) of pages already in memory; the
 *     frames are reused in FIFO order over 64 MiB, and the pages that
 *     held them are unmapped 64 runs at a time (one mmap PROT_NONE per
 *     stretch of consecutive addresses). No file I/O at all, no model:
 *     a lower bound on any SIGSEGV pager's time, against which the
 *     kernel's time (with its I/O) shows whether a target is reachable.
 *     prints RESULT floor-faN seq <seconds> 0
 *   filemap --device --file F [--touches N]
 *     the device's own cost: random 4 KiB O_DIRECT preads at queue depth 1
 *     prints DEVICE <microseconds per read>
 *   filemap --resident [--runs N] [--dir D]
 *     a 32 MiB file that fits the pool, read again and again through a
 *     native mapping and through pagemu's (warm): pagemu throughput /
 *     native throughput, which the target wants >= 0.98 (a shared frame
 *     costs nothing on a hit). */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchutil.h"

#define PAGE 4096

typedef struct fm_opts {
	bu_common_t c;
	const char *mode, *file, *dir;
	size_t frames;
	unsigned fault_around;
	int passes, device, resident;
	unsigned floor;
	uint64_t touches, seed;
} fm_opts_t;

static void drop_cache(int fd)
{
	/* Clean pages only (the file is never written here): they all go. */
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static uint64_t read_seq(const volatile char *p, size_t npages)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < npages; i++)
		sum += p[i * PAGE];
	return sum;
}

static uint64_t read_rand(const volatile char *p, size_t npages, uint64_t touches, uint64_t seed)
{
	uint64_t sum = 0, st = seed;

	for (uint64_t i = 0; i < touches; i++)
		sum += p[(bu_rand(&st) % npages) * PAGE];
	return sum;
}

/* One workload, cold: the file mapped afresh (pagemu: a new instance). */
static void workload(const fm_opts_t *o, int fd, size_t len, int seq)
{
	int pm = !strcmp(o->mode, "pagemu");
	pagemu_t *vm = NULL;
	const char *p;
	uint64_t t0, maj0, sum = 0;
	pagemu_stats_t s;

	drop_cache(fd);
	if (pm) {
		pagemu_config_t cfg;
		pagemu_config_default(&cfg);
		cfg.frames = o->frames;
		cfg.file_direct = 1;
		cfg.fault_around = o->fault_around;
		vm = bu_open(&cfg);
		p = pagemu_map(vm, len, PROT_READ, MAP_SHARED, fd, 0);
	} else {
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		p = p == MAP_FAILED ? NULL : p;
	}
	if (!p)
		BU_DIE("map %s: %s\n", o->file, strerror(errno));
	maj0 = bu_majflt();
	t0 = bu_now_ns();
	for (int k = 0; seq && k < o->passes; k++)
		sum += read_seq(p, len / PAGE);
	if (!seq)
		sum = read_rand(p, len / PAGE, o->touches, o->seed);
	double secs = bu_secs_since(t0);
	__asm__ volatile("" : : "r"(sum));
	if (pm) {
		pagemu_get_stats(vm, &s);
		if (o->fault_around > 1)
			printf("RESULT pagemu-fa%u %s %.4f %llu\n", o->fault_around, seq ? "seq" : "rand", secs,
			       (unsigned long long)s.faults_major);
		else
			printf("RESULT pagemu %s %.4f %llu\n", seq ? "seq" : "rand", secs, (unsigned long long)s.faults_major);
		printf("  pagemu: faults %llu (major %llu, page cache hits %llu), file reads %llu (%llu pages), evictions %llu; handler %.2f s\n",
		       (unsigned long long)s.faults, (unsigned long long)s.faults_major,
		       (unsigned long long)s.page_cache_hits, (unsigned long long)s.file_reads,
		       (unsigned long long)s.file_read_pages, (unsigned long long)s.evictions, (double)s.handler_ns / 1e9);
		pagemu_close(vm);
	} else {
		printf("RESULT native %s %.4f %llu\n", seq ? "seq" : "rand", secs, (unsigned long long)(bu_majflt() - maj0));
		munmap((void *)p, len);
	}
	fflush(stdout);
}

static void device(const fm_opts_t *o, size_t len)
{
	int fd = open(o->file, O_RDONLY | O_DIRECT);
	void *buf;
	uint64_t st = o->seed, n = o->touches < 20000 ? o->touches : 20000, t0;

	if (fd < 0 || posix_memalign(&buf, PAGE, PAGE))
		BU_DIE("O_DIRECT open of %s: %s\n", o->file, strerror(errno));
	t0 = bu_now_ns();
	for (uint64_t i = 0; i < n; i++)
		if (pread(fd, buf, PAGE, (off_t)((bu_rand(&st) % (len / PAGE)) * PAGE)) != PAGE)
			BU_DIE("pread: %s\n", strerror(errno));
	printf("DEVICE %.2f\n", (double)(bu_now_ns() - t0) / 1e3 / (double)n);
	free(buf);
	close(fd);
}

/* ---- the floor ----------------------------------------------------------------- */

#define FLOOR_BATCH 64                   /* runs of frames freed at a time */

static struct {
	char *region;
	size_t len, n, nruns;    /* region bytes, pages a fault maps, runs of frames */
	int fd;                  /* the frames: a memfd, populated */
	uint64_t hand;
	uintptr_t *owner;        /* the run of pages each run of frames holds (0: none) */
} ff;

static void floor_handler(int sig, siginfo_t *si, void *ctx)
{
	size_t run = ff.n * PAGE, off = ((uintptr_t)si->si_addr - (uintptr_t)ff.region) / run * run;
	size_t bytes = ff.len - off < run ? ff.len - off : run;
	uint64_t r = ff.hand++ % ff.nruns;
	int saved = errno;

	(void)sig;
	(void)ctx;
	if (r % FLOOR_BATCH == 0)
		for (uint64_t i = r, end = r + FLOOR_BATCH < ff.nruns ? r + FLOOR_BATCH : ff.nruns; i < end;) {
			uint64_t j = i + 1;
			if (!ff.owner[i]) {
				i++;
				continue;
			}
			while (j < end && ff.owner[j] == ff.owner[j - 1] + run)
				j++;
			mmap((void *)ff.owner[i], (j - i) * run, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
			     -1, 0);
			for (uint64_t k = i; k < j; k++)
				ff.owner[k] = 0;
			i = j;
		}
	if (mmap(ff.region + off, bytes, PROT_READ, MAP_SHARED | MAP_FIXED | MAP_POPULATE, ff.fd, (off_t)(r * run)) ==
	    MAP_FAILED)
		_exit(5);
	ff.owner[r] = (uintptr_t)(ff.region + off);
	errno = saved;
}

static void floor_seq(const fm_opts_t *o, size_t len)
{
	size_t frames = o->frames - o->frames % o->floor;
	struct sigaction sa;
	uint64_t t0, sum = 0;

	ff.n = o->floor;
	ff.len = len;
	ff.nruns = frames / ff.n;
	ff.fd = memfd_create("filemap-floor", 0);
	ff.owner = calloc(ff.nruns, sizeof(*ff.owner));
	if (ff.fd < 0 || !ff.owner || ftruncate(ff.fd, (off_t)(frames * PAGE)) < 0)
		BU_DIE("floor: memfd: %s\n", strerror(errno));
	char *pool = mmap(NULL, frames * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ff.fd, 0);
	ff.region = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool == MAP_FAILED || ff.region == MAP_FAILED)
		BU_DIE("floor: mmap: %s\n", strerror(errno));
	for (size_t i = 0; i < frames; i++)
		pool[i * PAGE] = (char)i;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = floor_handler;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSEGV, &sa, NULL) < 0)
		BU_DIE("floor: sigaction: %s\n", strerror(errno));
	t0 = bu_now_ns();
	for (int k = 0; k < o->passes; k++)
		sum += read_seq(ff.region, len / PAGE);
	double secs = bu_secs_since(t0);
	__asm__ volatile("" : : "r"(sum));
	printf("RESULT floor-fa%u seq %.4f 0\n", o->floor, secs);
	printf("  floor: %llu faults, each a SIGSEGV and one mmap of %u pages (unmaps: 64 runs at a time)\n",
	       (unsigned long long)ff.hand, o->floor);
	fflush(stdout);
}

/* Warm, resident: a scan reading every cache line, through each mapping. */
static double scan(const volatile char *p, size_t len, int passes)
{
	uint64_t t0 = bu_now_ns(), sum = 0;

	for (int k = 0; k < passes; k++)
		for (size_t i = 0; i < len; i += 64)
			sum += p[i];
	__asm__ volatile("" : : "r"(sum));
	return bu_secs_since(t0);
}

static void resident(const fm_opts_t *o)
{
	size_t len = 32u << 20;
	char path[512];
	double nat[BU_MAX_RUNS], pmt[BU_MAX_RUNS];
	pagemu_config_t cfg;
	int fd;

	snprintf(path, sizeof(path), "%s/pagemu-bench-resident-XXXXXX", o->dir);
	fd = mkstemp(path);
	if (fd < 0)
		BU_DIE("%s: %s\n", path, strerror(errno));
	unlink(path);
	char *buf = malloc(1 << 20);
	for (size_t i = 0; i < (1u << 20); i++)
		buf[i] = (char)(i * 7);
	for (size_t off = 0; off < len; off += 1u << 20)
		if (pwrite(fd, buf, 1u << 20, (off_t)off) != (ssize_t)(1u << 20))
			BU_DIE("pwrite: %s\n", strerror(errno));
	free(buf);
	pagemu_config_default(&cfg);
	cfg.frames = 16384;
	pagemu_t *vm = bu_open(&cfg);
	const char *a = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	const char *b = pagemu_map(vm, len, PROT_READ, MAP_SHARED, fd, 0);
	const char *c = pagemu_map(vm, len, PROT_READ, MAP_SHARED, fd, 0);   /* the same frames, shared */
	if (a == MAP_FAILED || !b || !c)
		BU_DIE("map: %s\n", strerror(errno));
	scan(a, len, 1);
	scan(b, len, 1);
	scan(c, len, 1);
	for (int r = 0; r < o->c.runs; r++) {
		nat[r] = scan(a, len, 40);
		pmt[r] = (scan(b, len, 20) + scan(c, len, 20));
	}
	pagemu_stats_t s;
	pagemu_get_stats(vm, &s);
	printf("resident: 32 MiB file, 40 passes a run, %d runs: native %.4f s, pagemu %.4f s (medians); %llu shared frames\n",
	       o->c.runs, bu_median(nat, o->c.runs), bu_median(pmt, o->c.runs), (unsigned long long)s.shared_frames);
	bu_summary("filemap", "resident-throughput-pagemu/native", bu_median_ratio(nat, pmt, o->c.runs), ">=", 0.98);
	pagemu_close(vm);
	munmap((void *)a, len);
	close(fd);
}

int main(int argc, char **argv)
{
	fm_opts_t o = { .c = { 5, 0 }, .mode = "pagemu", .file = NULL, .dir = "/var/tmp", .frames = 16384, .fault_around = 1,
			.passes = 2, .touches = 100000, .seed = 1 };
	const char *v;

	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&o.c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--mode")))
			o.mode = v;
		else if ((v = bu_opt(argc, argv, &i, "--file")))
			o.file = v;
		else if ((v = bu_opt(argc, argv, &i, "--dir")))
			o.dir = v;
		else if ((v = bu_opt(argc, argv, &i, "--frames")))
			o.frames = (size_t)atol(v);
		else if ((v = bu_opt(argc, argv, &i, "--passes")))
			o.passes = atoi(v);
		else if ((v = bu_opt(argc, argv, &i, "--touches")))
			o.touches = (uint64_t)atoll(v);
		else if ((v = bu_opt(argc, argv, &i, "--fault-around")))
			o.fault_around = (unsigned)strtoul(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--floor")))
			o.floor = (unsigned)strtoul(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--seed")))
			o.seed = (uint64_t)atoll(v);
		else if (!strcmp(argv[i], "--device"))
			o.device = 1;
		else if (!strcmp(argv[i], "--resident"))
			o.resident = 1;
		else
			BU_DIE("filemap: unknown argument %s (see bench/filemap.c)\n", argv[i]);
	}
	if (strcmp(o.mode, "pagemu") && strcmp(o.mode, "native"))
		BU_DIE("filemap: --mode pagemu or native, not %s\n", o.mode);
	if (o.resident || !o.file) {
		/* Alone (run.sh runs every benchmark this way): the resident part, and
		 * a pointer to the script for the rest. */
		resident(&o);
		if (!o.file)
			printf("(the cold reads against the kernel: sh bench/filemap.sh)\n");
		return 0;
	}
	int fd = open(o.file, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		BU_DIE("%s: %s\n", o.file, strerror(errno));
	size_t len = (size_t)st.st_size & ~(size_t)(PAGE - 1);
	if (o.device) {
		device(&o, len);
		return 0;
	}
	if (o.floor) {
		floor_seq(&o, len);
		return 0;
	}
	workload(&o, fd, len, 1);
	workload(&o, fd, len, 0);
	close(fd);
	return 0;
}
