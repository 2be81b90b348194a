/* nbd_latency.c - a thrash against remote latency: swap on an NBD server
 * whose reads take at least 20, 100 or 500 us (PAGEMU_SWAP_DELAY_US, injected
 * by pagemu's own NBD client), next to the local O_DIRECT swap file, in
 * the same run; and what two copies of each slot cost (two servers,
 * PAGEMU_SWAP_REPLICAS=2).
 *
 * Why pagemu injects the latency: nbdkit 1.32's delay filter counts whole
 * milliseconds, far-memory experiments need microseconds. The injected
 * delay is a floor on each read's round trip as the client sees it (from
 * the moment the fault queued the read until the receiver posts its
 * completion), not an addition: a delay below the loopback round trip
 * (the server's own answer, ~45 us here) changes nothing.
 *
 * Workload: the thrash of nbd_cost: every page of a region 4x a pool of
 * 256 frames written once (untimed), then --touches uniform random reads
 * (readahead 1): each miss is one major fault, one swap-in and a clean
 * eviction. Each run times every case once, in an order that rotates
 * from run to run, so the machine's drift falls on all; reported: the
 * median seconds, major faults and us per fault of each case, and its
 * ratio to the O_DIRECT swap file (median of the per-run ratios), and the
 * NBD reads' mean latency as the client saw it (remote_read_ns /
 * remote_reads: queued to completed, the injected delay included).
 *
 * usage: nbd_latency [--quick|--full] [--runs N] [--touches N] [--direct-dir DIR] */
#include <unistd.h>

#include "benchutil.h"
#include "../tests/nbdkit.h"

#define FRAMES 256
#define NCASES 6

typedef struct lat_case {
	const char *name;
	int         remote;               /* servers: 0 = the O_DIRECT swap file */
	unsigned    delay_us;             /* PAGEMU_SWAP_DELAY_US */
	unsigned    replicas;             /* PAGEMU_SWAP_REPLICAS */
} lat_case_t;

static const lat_case_t cases[NCASES] = {
	{ "O_DIRECT swap file",       0, 0,   1 },
	{ "NBD, +0 us",               1, 0,   1 },
	{ "NBD, 20 us floor",         1, 20,  1 },
	{ "NBD, 100 us floor",        1, 100, 1 },
	{ "NBD, 500 us floor",        1, 500, 1 },
	{ "NBD x2 replicas, +0 us",   2, 0,   2 },
};

static size_t host_page;

/* The thrash on one instance: seconds of the random reads; their major
 * faults in *majors. */
static double thrash(const lat_case_t *k, const char *uris, const char *dir, uint64_t touches, uint64_t *majors,
		     double *read_us)
{
	pagemu_config_t cfg;
	pagemu_stats_t a, b;
	size_t pages = FRAMES * 4;
	uint64_t seed = 1;

	pagemu_config_default(&cfg);
	cfg.frames = FRAMES;
	cfg.readahead = 1;
	cfg.swap_size = (uint64_t)pages * host_page * 2;
	if (k->remote) {
		snprintf(cfg.swap, sizeof(cfg.swap), "%s", uris);
		cfg.swap_delay_us = k->delay_us;
		cfg.swap_replicas = k->replicas;
	} else {
		snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "%s", dir);
		cfg.swap_direct = 1;
	}
	pagemu_t *vm = bu_open(&cfg);
	volatile char *p = bu_map(vm, pages * host_page);
	bu_write_pages((char *)p, pages, host_page);
	pagemu_get_stats(vm, &a);
	uint64_t t0 = bu_now_ns();
	for (uint64_t i = 0; i < touches; i++)
		(void)p[(bu_rand(&seed) % pages) * host_page];
	double s = bu_secs_since(t0);
	pagemu_get_stats(vm, &b);
	*majors = b.faults_major - a.faults_major;
	*read_us = b.remote_reads > a.remote_reads ? (double)(b.remote_read_ns - a.remote_read_ns) / 1e3 /
		   (double)(b.remote_reads - a.remote_reads) : 0;
	pagemu_close(vm);
	return s;
}

int main(int argc, char **argv)
{
	static const char *const disk_dirs[] = { "/var/tmp", "/home", "/root", NULL };
	static const char *const memory[] = { "memory", "1G", NULL };
	bu_common_t c = { .runs = 0, .quick = 0 };
	uint64_t touches = 0, majors[NCASES] = { 0 };
	const char *dir = NULL, *v, *why;
	server_t srv[2];
	char one[200], two[400];
	double secs[NCASES][BU_MAX_RUNS], us[NCASES][BU_MAX_RUNS], rd[NCASES][BU_MAX_RUNS];

	host_page = (size_t)sysconf(_SC_PAGESIZE);
	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--direct-dir")))
			dir = v;
		else if ((v = bu_opt(argc, argv, &i, "--touches")))
			touches = strtoull(v, NULL, 0);
		else
			BU_DIE("usage: %s [--quick|--full] [--runs N] [--touches N] [--direct-dir DIR]\n", argv[0]);
	}
	if (!c.runs)
		c.runs = c.quick ? 3 : 7;
	if (!touches)
		touches = c.quick ? 1000 : 3000;
	if (!dir)
		dir = bu_disk_dir(disk_dirs);
	if (!dir || bu_is_tmpfs(dir))
		BU_DIE("nbd_latency: no directory on a disk file system for the O_DIRECT swap file: --direct-dir\n");
	if ((why = nbdkit_missing())) {
		printf("nbd_latency: skipped: %s\n", why);
		return 0;
	}
	if (server_start(&srv[0], "swap", memory) < 0 || server_start(&srv[1], "swap", memory) < 0)
		BU_DIE("nbd_latency: cannot start nbdkit\n");
	snprintf(one, sizeof(one), "%s", srv[0].uri);
	snprintf(two, sizeof(two), "%s,%s", srv[0].uri, srv[1].uri);
	printf("nbd_latency: %d runs; %llu uniform random reads over 4x a pool of %d frames, readahead 1; O_DIRECT swap "
	       "in %s (%s) vs nbdkit memory on 127.0.0.1, read latency injected by pagemu's client\n", c.runs,
	       (unsigned long long)touches, FRAMES, dir, bu_fs_name(dir));
	for (int run = 0; run < c.runs; run++)
		for (int j = 0; j < NCASES; j++) {
			int k = (j + run) % NCASES;
			uint64_t m;
			secs[k][run] = thrash(&cases[k], cases[k].remote == 2 ? two : one, dir, touches, &m, &rd[k][run]);
			us[k][run] = m ? secs[k][run] * 1e6 / (double)m : 0;
			majors[k] = m;
		}
	server_kill(&srv[0]);
	server_kill(&srv[1]);

	printf("  %-24s %9s %12s %13s %12s %14s\n", "case", "seconds", "major faults", "us per fault", "vs O_DIRECT",
	       "NBD read us");
	for (int k = 0; k < NCASES; k++) {
		double ratio = bu_median_ratio(secs[k], secs[0], c.runs);
		printf("  %-24s %9.3f %12llu %13.1f %11.2fx %14.1f\n", cases[k].name, bu_median(secs[k], c.runs),
		       (unsigned long long)majors[k], bu_median(us[k], c.runs), ratio, bu_median(rd[k], c.runs));
	}
	bu_summary("nbd_latency", "nbd0/direct", bu_median_ratio(secs[1], secs[0], c.runs), "-", 0);
	bu_summary("nbd_latency", "nbd100us/nbd0", bu_median_ratio(secs[3], secs[1], c.runs), "-", 0);
	bu_summary("nbd_latency", "replicas2/nbd0", bu_median_ratio(secs[5], secs[1], c.runs), "-", 0);
	return 0;
}
