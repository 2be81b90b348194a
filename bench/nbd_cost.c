/* nbd_cost.c - what a major fault costs with swap on NBD (PAGEMU_SWAP),
 * against the local O_DIRECT swap file, in the same process; and what a
 * remote latency does to a thrash.
 *
 * Servers: real `nbdkit memory` on 127.0.0.1 (tests/nbdkit.h), started by
 * the benchmark; latency injected with nbdkit's delay filter
 * (delay-read=Nms: nbdkit 1.32 counts in whole milliseconds).
 *
 * 1. major: region 4x the frames, readahead 1, checksums on (the
 *    default). Pass 1 writes every page, pass 2 reads them (now clean in
 *    swap), pass 3 - timed - reads them again: each touch is one swap-in
 *    and one clean eviction. Two instances, one with an O_DIRECT swap file
 *    on disk and one on an NBD server over loopback, take turns in the
 *    timed pass 256 pages at a time, so the machine's drift falls on both.
 *    Reported: us per major fault of each, their ratio (median of the
 *    per-run ratios), and the floor of a remote swap-in: one 4 KiB
 *    NBD_CMD_READ round trip made from this thread on a blocking socket.
 *    NBD fault - floor = what pagemu adds: the fault path, the eviction,
 *    the queue, the hand-off to the I/O threads and the completion posted
 *    with MSG_RING.
 * 2. latency: a random thrash (uniform reads over 4x the pool) with the
 *    server's reads delayed 0, 1 and 5 ms: run time and major faults.
 *
 * usage: nbd_cost [--quick|--full] [--runs N] [--pages N] [--direct-dir DIR]
 *                 [--touches N] */
#include <netinet/tcp.h>
#include <unistd.h>

#include "benchutil.h"
#include "../tests/nbdkit.h"

static size_t host_page;

typedef struct major_vm {
	pagemu_t      *vm;
	char          *p;
	pagemu_stats_t a;                /* before the timed pass */
	uint64_t       ns;               /* in the timed pass */
} major_vm_t;

static void major_open(major_vm_t *m, size_t pages, const char *dir, const char *swap)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.frames = pages / 4;
	cfg.readahead = 1;
	cfg.swap_size = (uint64_t)pages * host_page * 2;
	if (dir) {
		snprintf(cfg.swap_dir, sizeof(cfg.swap_dir), "%s", dir);
		cfg.swap_direct = 1;
	}
	if (swap)
		snprintf(cfg.swap, sizeof(cfg.swap), "%s", swap);
	m->vm = bu_open(&cfg);
	m->p = bu_map(m->vm, pages * host_page);
	bu_write_pages(m->p, pages, host_page);
	bu_read_pages(m->p, pages, host_page);
	pagemu_get_stats(m->vm, &m->a);
	m->ns = 0;
}

/* us per major fault of the timed pass; closes the instance. */
static double major_close(major_vm_t *m)
{
	pagemu_stats_t b;

	pagemu_get_stats(m->vm, &b);
	uint64_t majors = b.faults_major - m->a.faults_major;
	if (!majors)
		BU_DIE("nbd_cost: no major fault counted\n");
	pagemu_close(m->vm);
	return (double)m->ns / 1e3 / (double)majors;
}

/* ---- the floor: one NBD read round trip from this thread ---------------------------- */

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }

static void xfer(int fd, void *buf, size_t len, int in)
{
	for (char *p = buf; len; ) {
		ssize_t n = in ? recv(fd, p, len, MSG_WAITALL) : send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			BU_DIE("nbd_cost: the floor's connection failed\n");
		p += n;
		len -= (size_t)n;
	}
}

/* us per 4 KiB NBD_CMD_READ on a blocking socket, one at a time (the
 * median of runs x 1000): what a remote swap-in costs with no pager. The
 * handshake is the minimal fixed newstyle one (NBD_OPT_GO, export ""). */
static double floor_us(int port, int runs)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t b[4096 + 64], go[24] = "IHAVEOPT";
	double us[BU_MAX_RUNS];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		BU_DIE("nbd_cost: cannot connect to nbdkit\n");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	xfer(fd, b, 18, 1);                      /* NBDMAGIC IHAVEOPT flags */
	put32(b, 1);                             /* NBD_FLAG_C_FIXED_NEWSTYLE */
	xfer(fd, b, 4, 0);
	put32(go + 8, 7);                        /* NBD_OPT_GO, 6 bytes: name length 0, 0 info requests */
	put32(go + 12, 6);
	xfer(fd, go, 22, 0);
	for (uint32_t type = 0; type != 1; ) {   /* replies until NBD_REP_ACK */
		xfer(fd, b, 20, 1);
		type = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
		uint32_t len = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
		if ((type >> 31) || len > sizeof(b))
			BU_DIE("nbd_cost: NBD_OPT_GO refused\n");
		xfer(fd, b, len, 1);
	}
	for (int r = 0; r < runs; r++) {
		uint64_t t0 = bu_now_ns();
		for (int i = 0; i < 1000; i++) {
			uint8_t req[28] = { 0 };
			put32(req, 0x25609513);          /* NBD_REQUEST_MAGIC, NBD_CMD_READ */
			put32(req + 24, 4096);
			req[22] = (uint8_t)(i & 0xff);   /* offset: 4 KiB x (i % 256) */
			xfer(fd, req, sizeof(req), 0);
			xfer(fd, b, 16 + 4096, 1);
		}
		us[r] = (double)(bu_now_ns() - t0) / 1e3 / 1000;
	}
	close(fd);
	return bu_median(us, runs);
}

static double thrash(const char *uri, size_t frames, uint64_t touches, uint64_t *majors)
{
	pagemu_config_t cfg;
	pagemu_stats_t a, b;
	size_t pages = frames * 4;
	uint64_t seed = 1;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	cfg.readahead = 1;
	cfg.swap_size = (uint64_t)pages * host_page * 2;
	snprintf(cfg.swap, sizeof(cfg.swap), "%s", uri);
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
	pagemu_close(vm);
	return s;
}

/* A PSK file in a fresh directory under /tmp (identity "pagemu", a
 * random 256-bit key): its path in path. 0 or -1. */
static int psk_make(char *path, size_t len)
{
	char dir[] = "/tmp/pagemu-bench-tls-XXXXXX";

	if (!mkdtemp(dir))
		return -1;
	snprintf(path, len, "%s/keys.psk", dir);
	return psk_file_write(path, "pagemu", NULL);
}

int main(int argc, char **argv)
{
	static const char *const disk_dirs[] = { "/var/tmp", "/home", "/root", NULL };
	static const char *const memory[] = { "memory", "1G", NULL };
	bu_common_t c = { .runs = 0, .quick = 0 };
	size_t pages = 0;
	uint64_t touches = 0;
	const char *dir = NULL, *v, *why;
	server_t srv, tls;
	char psk[128], opt[200], tls_uri[400];
	double us_direct[BU_MAX_RUNS], us_nbd[BU_MAX_RUNS], us_tls[BU_MAX_RUNS];

	host_page = (size_t)sysconf(_SC_PAGESIZE);
	for (int i = 1; i < argc; i++) {
		if (bu_common_opt(&c, argc, argv, &i))
			continue;
		if ((v = bu_opt(argc, argv, &i, "--pages")))
			pages = strtoull(v, NULL, 0);
		else if ((v = bu_opt(argc, argv, &i, "--direct-dir")))
			dir = v;
		else if ((v = bu_opt(argc, argv, &i, "--touches")))
			touches = strtoull(v, NULL, 0);
		else
			BU_DIE("usage: %s [--quick|--full] [--runs N] [--pages N] [--direct-dir DIR] [--touches N]\n", argv[0]);
	}
	if (!c.runs)
		c.runs = c.quick ? 3 : 5;
	if (!pages)
		pages = c.quick ? 2048 : 8192;
	if (!touches)
		touches = c.quick ? 400 : 1000;
	if (!dir)
		dir = bu_disk_dir(disk_dirs);
	if (!dir || bu_is_tmpfs(dir))
		BU_DIE("nbd_cost: no directory on a disk file system for the O_DIRECT swap file: --direct-dir\n");
	if ((why = nbdkit_missing())) {
		printf("nbd_cost: skipped: %s\n", why);
		return 0;
	}
	if (server_start(&srv, "swap", memory) < 0)
		BU_DIE("nbd_cost: cannot start nbdkit\n");
	/* The same server, encrypted: TLS with a pre-shared key (nbds://). */
	const char *tls_args[] = { "--tls=require", opt, "memory", "1G", NULL };
	if (psk_make(psk, sizeof(psk)) < 0)
		BU_DIE("nbd_cost: cannot write a PSK file in /tmp\n");
	snprintf(opt, sizeof(opt), "--tls-psk=%s", psk);
	if (server_start(&tls, "swap", tls_args) < 0)
		BU_DIE("nbd_cost: cannot start nbdkit\n");
	snprintf(tls_uri, sizeof(tls_uri), "nbds://127.0.0.1:%d/swap?tls-psk-file=%s", tls.port, psk);
	printf("nbd_cost: %d runs; region %zu pages, %zu frames, readahead 1; O_DIRECT swap in %s (%s) vs nbdkit memory "
	       "on 127.0.0.1, plain and over TLS (PSK)\n", c.runs, pages, pages / 4, dir, bu_fs_name(dir));

	for (int run = 0; run < c.runs; run++) {
		major_vm_t m[3];
		major_open(&m[0], pages, dir, NULL);
		major_open(&m[1], pages, NULL, srv.uri);
		major_open(&m[2], pages, NULL, tls_uri);
		for (size_t i = 0; i < pages; i += 256) {
			size_t n = pages - i < 256 ? pages - i : 256;
			for (int k = 0; k < 3; k++) {              /* taking turns, each first in its turn */
				major_vm_t *x = &m[(k + i / 256) % 3];
				x->ns += bu_read_pages(x->p + i * host_page, n, host_page);
			}
		}
		us_direct[run] = major_close(&m[0]);
		us_nbd[run] = major_close(&m[1]);
		us_tls[run] = major_close(&m[2]);
		printf("  run %d: O_DIRECT %.1f us, NBD %.1f us, NBD over TLS %.1f us per major fault\n", run, us_direct[run],
		       us_nbd[run], us_tls[run]);
	}
	double ratio = bu_median_ratio(us_nbd, us_direct, c.runs), tls_ratio = bu_median_ratio(us_tls, us_nbd, c.runs);
	printf("major fault, median: O_DIRECT swap file %.1f us, NBD on loopback %.1f us: %.2fx\n",
	       bu_median(us_direct, c.runs), bu_median(us_nbd, c.runs), ratio);
	printf("major fault over TLS, median: %.1f us: %.2fx plain NBD\n", bu_median(us_tls, c.runs), tls_ratio);
	bu_summary("nbd_cost", "major_nbd/major_direct", ratio, "-", 0);
	bu_summary("nbd_cost", "major_nbds/major_nbd", tls_ratio, "-", 0);
	server_kill(&tls);
	snprintf(opt, sizeof(opt), "rm -rf %.*s", (int)(strrchr(psk, '/') - psk), psk);
	if (system(opt) != 0)
		fprintf(stderr, "nbd_cost: cannot remove %s\n", psk);
	double fl = floor_us(srv.port, c.runs);
	printf("floor: one 4 KiB NBD read round trip from this thread %.1f us; pagemu adds %.1f us per NBD major fault\n",
	       fl, bu_median(us_nbd, c.runs) - fl);
	bu_summary("nbd_cost", "major_nbd/nbd_read_rtt", bu_median(us_nbd, c.runs) / fl, "-", 0);
	server_kill(&srv);

	printf("thrash: %llu uniform random reads over 4x a pool of 256 frames, swap on nbdkit memory, reads delayed by "
	       "nbdkit's delay filter\n", (unsigned long long)touches);
	printf("  %-10s %10s %12s %14s\n", "delay", "seconds", "major faults", "us per fault");
	static const char *const delays[] = { NULL, "delay-read=1ms", "delay-read=5ms" };
	static const char *const names[] = { "0", "1 ms", "5 ms" };
	for (int d = 0; d < 3; d++) {
		const char *with_delay[] = { "--filter=delay", "memory", "1G", delays[d], NULL };
		uint64_t majors;
		if (server_start(&srv, "swap", delays[d] ? with_delay : memory) < 0)
			BU_DIE("nbd_cost: cannot start nbdkit\n");
		double s = thrash(srv.uri, 256, touches, &majors);
		printf("  %-10s %10.3f %12llu %14.1f\n", names[d], s, (unsigned long long)majors,
		       majors ? s * 1e6 / (double)majors : 0.0);
		server_kill(&srv);
	}
	return 0;
}
