/* thrash.c - a working set four times the memory, run two ways by
 * bench/thrash.sh: over pagemu (64 MiB of frames, O_DIRECT swap on disk)
 * and natively on anonymous memory inside a 64 MiB memory cgroup with a
 * swap file (Linux's own paging). The same program, the same sequence.
 *
 * Workloads over a region of --mib MiB (default 256), in this order:
 *   seq   --passes sequential passes (default 3) writing one byte per page
 *   rand  --touches uniformly random page writes (default 2,000,000; quick
 *         200,000), splitmix64 seeded with --seed (default 1)
 *
 * Prints one line per measurement for the script:
 *   RESULT <mode> <workload> <seconds> <major faults>
 * Major faults: pagemu's faults_major, or the kernel's ru_majflt.
 *
 * usage: thrash --mode pagemu|native [--quick] [--mib N] [--frames N]
 *               [--passes N] [--touches N] [--seed N] [--workload seq|rand|both]
 *               [--swap-dir DIR] [--buffered] */
#include <unistd.h>

#include "benchutil.h"

typedef struct thrash_opts {
	bu_common_t c;
	int pagemu;              /* 1 = over pagemu, 0 = native anonymous memory */
	size_t mib, frames;
	int passes;
	uint64_t touches, seed;
	int seq, rand;           /* workloads to run */
	const char *swap_dir;
	int buffered;            /* pagemu: page-cache swap instead of O_DIRECT */
} thrash_opts_t;

static pagemu_t *vm;             /* NULL in native mode */
static size_t page;

static uint64_t major_faults(void)
{
	pagemu_stats_t s;

	if (!vm)
		return bu_majflt();
	pagemu_get_stats(vm, &s);
	return s.faults_major;
}

static void print_pagemu_stats(const char *what, const pagemu_stats_t *a, const pagemu_stats_t *b)
{
#define D(f) (unsigned long long)(b->f - a->f)
	printf("  pagemu %s: faults %llu (zero %llu, minor %llu, write %llu, major %llu); swap reads %llu (%llu pages, "
	       "readahead hits %llu); writebacks %llu (%llu requests), clean evictions %llu, reclaim waits %llu; ref clears %llu, "
	       "budget unmaps %llu; handler %.2f s\n",
	       what, D(faults), D(faults_zero), D(faults_minor), D(faults_write), D(faults_major), D(swap_reads),
	       D(swap_read_pages), D(readahead_hits), D(writebacks), D(swap_writes), D(clean_evictions), D(reclaim_waits),
	       D(ref_clears), D(budget_unmaps), (double)(b->handler_ns - a->handler_ns) / 1e9);
#undef D
}

/* Run one workload, print its RESULT line (and pagemu's breakdown). */
static void measure(const thrash_opts_t *o, const char *name, char *p, size_t npages, int pass)
{
	pagemu_stats_t a, b;
	uint64_t maj0 = major_faults(), min0 = bu_minflt(), t0;
	double secs;

	if (vm)
		pagemu_get_stats(vm, &a);
	t0 = bu_now_ns();
	if (pass >= 0) {
		bu_write_pages(p, npages, page);
	} else {
		uint64_t s = o->seed;
		for (uint64_t k = 0; k < o->touches; k++)
			((volatile char *)p)[(bu_rand(&s) % npages) * page] = (char)k;
	}
	secs = bu_secs_since(t0);
	printf("RESULT %s %s %.3f %llu\n", vm ? "pagemu" : "native", name, secs,
	       (unsigned long long)(major_faults() - maj0));
	if (vm) {
		pagemu_get_stats(vm, &b);
		print_pagemu_stats(name, &a, &b);
	} else {
		printf("  native %s: minor faults %llu\n", name, (unsigned long long)(bu_minflt() - min0));
	}
}

static void parse(thrash_opts_t *o, int argc, char **argv)
{
	static const char *const disk_dirs[] = { "/var/tmp", "/tmp", ".", NULL };
	const char *v, *mode = NULL, *work = "both";

	memset(o, 0, sizeof(*o));
	o->c.runs = 1;
	o->seed = 1;
	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&o->c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--mode")))
			mode = v;
		else if ((v = bu_opt(argc, argv, &i, "--mib")))
			o->mib = strtoull(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--frames")))
			o->frames = strtoull(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--passes")))
			o->passes = atoi(v);
		else if ((v = bu_opt(argc, argv, &i, "--touches")))
			o->touches = strtoull(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--seed")))
			o->seed = strtoull(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--workload")))
			work = v;
		else if ((v = bu_opt(argc, argv, &i, "--swap-dir")))
			o->swap_dir = v;
		else if (!strcmp(argv[i], "--buffered"))
			o->buffered = 1;
		else
			mode = NULL, i = argc;
	}
	if (!mode || (strcmp(mode, "pagemu") && strcmp(mode, "native")))
		BU_DIE("usage: %s --mode pagemu|native [--quick] [--mib N] [--frames N] [--passes N] [--touches N] "
		       "[--seed N] [--workload seq|rand|both] [--swap-dir DIR] [--buffered]\n", argv[0]);
	o->pagemu = !strcmp(mode, "pagemu");
	o->seq = strcmp(work, "rand") != 0;
	o->rand = strcmp(work, "seq") != 0;
	if (!o->mib)
		o->mib = 256;
	if (!o->frames)
		o->frames = 16384;
	if (!o->passes)
		o->passes = 3;
	if (!o->touches)
		o->touches = o->c.quick ? 200000 : 2000000;
	if (!o->swap_dir)
		o->swap_dir = bu_disk_dir(disk_dirs);
	if (o->pagemu && (!o->swap_dir || bu_is_tmpfs(o->swap_dir)))
		BU_DIE("--swap-dir: need a directory on a disk file system (not tmpfs)\n");
}

int main(int argc, char **argv)
{
	thrash_opts_t o;
	size_t len, npages;
	char *p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page = (size_t)sysconf(_SC_PAGESIZE);
	parse(&o, argc, argv);
	len = o.mib << 20;
	npages = len / page;
	if (o.pagemu) {
		pagemu_config_t cfg;
		pagemu_config_default(&cfg);
		cfg.frames = o.frames;
		cfg.swap_direct = !o.buffered;
		snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "%s", o.swap_dir);
		vm = bu_open(&cfg);
		p = bu_map(vm, len);
		printf("thrash pagemu: %zu MiB region, %zu frames (%zu MiB), %s swap in %s (%s), readahead %u\n", o.mib,
		       o.frames, o.frames * page >> 20, o.buffered ? "page-cache" : "O_DIRECT", o.swap_dir,
		       bu_fs_name(o.swap_dir), cfg.readahead);
	} else {
		p = bu_anon(len, 1);     /* 4 KiB pages, as pagemu's */
		printf("thrash native: %zu MiB region (anonymous, no THP), pid %d\n", o.mib, (int)getpid());
	}
	if (o.seq)
		for (int pass = 0; pass < o.passes; pass++) {
			char name[16];
			snprintf(name, sizeof(name), "seq%d", pass + 1);
			measure(&o, name, p, npages, pass);
		}
	if (o.rand)
		measure(&o, "rand", p, npages, -1);
	if (vm)
		pagemu_close(vm);
	return 0;
}
