/* test_nbd.c - swap on NBD servers (PAGEMU_SWAP=nbd://...), against real
 * `nbdkit memory` servers on 127.0.0.1 (skipped, saying so, when nbdkit
 * is not installed or does not run).
 *
 * Servers: tests/nbdkit.h (socket activation on ephemeral ports).
 *
 * Workload: a self-checking random read/write over 8x the pool, whole
 * pages written with a pattern of (word, version) and checked word by word
 * on every read and at the end, swap on one server or striped over three.
 * Failures: a server killed mid-run (no replica: SIGBUS naming it), a
 * read error injected by nbdkit's error filter (SIGBUS naming it, never
 * wrong data), latency injected by its delay filter. Bad input: a
 * malformed URI, a refused connection, a server that never answers, a
 * refused export, an export smaller than its share of swap_size: each a
 * clear error at open naming the URI and PAGEMU_SWAP, never a hang. TLS
 * (nbds://): servers that require it (nbdkit --tls=require) with a PSK
 * and with X.509 certificates made by certtool, the workload with a
 * failover over TLS, every refusal, and `pagemu run` over TLS. */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "progtest.h"
#include "nbdkit.h"

#define PAGE   4096
#define WORDS  (PAGE / 8)
#define FRAMES 64
#define PAGES  (8 * FRAMES)              /* the workload's memory: 8x the pool */

static const char *const memory_args[] = { "memory", "256M", NULL };

/* n memory servers, their URIs comma-separated in list. */
static void servers_start(server_t *s, int n, char *list, size_t len)
{
	list[0] = 0;
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(server_start(&s[i], "swap", memory_args), 0);
		snprintf(list + strlen(list), len - strlen(list), "%s%s", i ? "," : "", s[i].uri);
	}
}

static void servers_kill(server_t *s, int n)
{
	for (int i = 0; i < n; i++)
		server_kill(&s[i]);
}

/* ---- the instance and the workload ---------------------------------------------------- */

/* What an instance of the tests sets beyond the defaults. */
typedef struct remote_cfg {
	unsigned replicas;                   /* 0: 1 */
	unsigned timeout_ms;                 /* 0: the default */
	unsigned delay_us;
} remote_cfg_t;

/* An instance of frames frames swapping to uris (4 MiB of swap) as rc
 * says, and pages of memory mapped in it: the memory; the instance in
 * *vm. */
static volatile uint64_t *open_remote_cfg(const char *uris, size_t frames, unsigned readahead, size_t pages,
					  const remote_cfg_t *rc, pagemu_t **vm)
{
	pagemu_config_t cfg;
	void *mem;

	pagemu_config_default(&cfg);
	cfg.frames = frames;
	cfg.readahead = readahead;
	cfg.swap_size = 4 << 20;
	if (rc->replicas)
		cfg.swap_replicas = rc->replicas;
	if (rc->timeout_ms)
		cfg.swap_timeout_ms = rc->timeout_ms;
	cfg.swap_delay_us = rc->delay_us;
	snprintf(cfg.swap, sizeof(cfg.swap), "%s", uris);
	*vm = NULL;
	ck_assert_msg(pagemu_open(&cfg, vm) == 0, "open: %s", pagemu_last_error());
	mem = pagemu_map(*vm, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull(mem);
	return mem;
}

static volatile uint64_t *open_remote(const char *uris, size_t frames, unsigned readahead, size_t pages, pagemu_t **vm)
{
	static const remote_cfg_t plain = { 0 };

	return open_remote_cfg(uris, frames, readahead, pages, &plain, vm);
}

static void page_write(volatile uint64_t *a, size_t page, uint32_t ver)
{
	for (size_t i = 0; i < WORDS; i++)
		a[page * WORDS + i] = pm_test_pattern(page * WORDS + i, ver);
}

/* Words of the page that differ from version ver. */
static unsigned page_bad(volatile uint64_t *a, size_t page, uint32_t ver)
{
	unsigned bad = 0;

	for (size_t i = 0; i < WORDS; i++)
		bad += a[page * WORDS + i] != pm_test_pattern(page * WORDS + i, ver);
	return bad;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Called once, at op `at` of the workload. */
typedef struct midway {
	unsigned at;
	void   (*fn)(void *);
	void    *arg;
} midway_t;

/* Fill every page (version 1), then ops random reads (each checked) and
 * writes (a new version), mid->fn at op mid->at (mid may be NULL), then
 * check every page: the words that differ. */
static unsigned long workload_mid(volatile uint64_t *a, uint32_t *ver, size_t pages, unsigned ops, uint64_t seed,
				  const midway_t *mid)
{
	unsigned long bad = 0;

	for (size_t p = 0; p < pages; p++)
		page_write(a, p, ver[p] = 1);
	for (unsigned i = 0; i < ops; i++) {
		uint64_t r = rnd(&seed);
		if (mid && i == mid->at)
			mid->fn(mid->arg);
		size_t p = (size_t)(r >> 8) % pages;
		if (r & 1)
			page_write(a, p, ++ver[p]);
		else
			bad += page_bad(a, p, ver[p]);
	}
	for (size_t p = 0; p < pages; p++)
		bad += page_bad(a, p, ver[p]);
	return bad;
}

static unsigned long workload(volatile uint64_t *a, uint32_t *ver, size_t pages, unsigned ops, uint64_t seed)
{
	return workload_mid(a, ver, pages, ops, seed, NULL);
}

/* The workload over nservers memory servers, checked against the
 * counters. */
static void run_workload(int nservers)
{
	server_t s[3];
	char uris[512];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	servers_start(s, nservers, uris, sizeof(uris));
	pagemu_t *vm;
	volatile uint64_t *a = open_remote(uris, FRAMES, 8, PAGES, &vm);

	ck_assert_uint_eq(workload(a, ver, PAGES, 4 * PAGES, 42), 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.nservers, (unsigned)nservers);
	ck_assert_uint_gt(st.faults_major, 0);
	ck_assert_uint_eq(st.remote_errors, 0);
	/* Reads finish before their fault returns: every page read from swap
	 * came from a server, once. */
	ck_assert_uint_eq(st.remote_read_bytes, st.swap_read_pages * PAGE);
	if (nservers == 1)
		ck_assert_uint_eq(st.remote_reads, st.swap_reads);
	else
		ck_assert_uint_ge(st.remote_reads, st.swap_reads);
	ck_assert_uint_gt(st.remote_writes, 0);
	for (int i = 0; i < nservers; i++) {
		ck_assert_str_eq(st.servers[i].server, s[i].uri);
		ck_assert_uint_gt(st.servers[i].reads, 0);
		ck_assert_uint_gt(st.servers[i].writes, 0);
		ck_assert_uint_eq(st.servers[i].up, 1);
	}
	pagemu_close(vm);
	servers_kill(s, nservers);
}

START_TEST(test_nbd_workload_one_server)
{
	run_workload(1);
}
END_TEST

START_TEST(test_nbd_workload_striped)
{
	run_workload(3);
}
END_TEST

/* ---- dying of SIGBUS, named ----------------------------------------------------------- */

/* Run fn(arg) in a child process whose stderr goes to a file: the child's
 * wait status; what it said in said (NUL-terminated). */
static int in_child(void (*fn)(void *), void *arg, char *said, size_t len)
{
	int fd = memfd_create("stderr", 0), st = 0;
	pid_t pid;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 2);
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	n = pread(fd, said, len - 1, 0);
	said[n > 0 ? n : 0] = 0;
	close(fd);
	return st;
}

static void assert_sigbus(int st, const char *said)
{
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status 0x%x, not SIGBUS; stderr: %s", st, said);
}

typedef struct kill_run {
	server_t *s;                         /* two servers */
	int       to_parent[2], to_child[2];
} kill_run_t;

/* In the child: fill memory 8x the pool, striped over two servers; when
 * the parent has killed the second one, read everything back. */
static void fill_then_read(void *arg)
{
	kill_run_t *k = arg;
	char uris[300], c = 0;
	uint32_t ver[PAGES];

	snprintf(uris, sizeof(uris), "%s,%s", k->s[0].uri, k->s[1].uri);
	pagemu_t *vm;
	volatile uint64_t *a = open_remote(uris, FRAMES, 1, PAGES, &vm);
	for (size_t p = 0; p < PAGES; p++)
		page_write(a, p, ver[p] = 7);
	if (write(k->to_parent[1], &c, 1) != 1 || read(k->to_child[0], &c, 1) != 1)
		_exit(3);
	for (size_t p = 0; p < PAGES; p++)
		if (page_bad(a, p, ver[p]))
			_exit(2);                    /* wrong data: never */
	_exit(0);                                /* a dead server's pages were read: never */
}

START_TEST(test_nbd_server_killed_sigbus)
{
	server_t s[2];
	kill_run_t k = { .s = s };
	char uris[300], said[8192], want[200], c;
	const char *why = nbdkit_missing();
	int st;

	if (why)
		PM_TEST_SKIP("%s", why);
	servers_start(s, 2, uris, sizeof(uris));
	ck_assert_int_eq(pipe(k.to_parent), 0);
	ck_assert_int_eq(pipe(k.to_child), 0);
	pid_t killer = fork();
	if (killer == 0) {                       /* kills the server when the child says */
		if (read(k.to_parent[0], &c, 1) != 1)
			_exit(1);
		kill(s[1].pid, SIGKILL);
		usleep(100000);                      /* the kernel closes its sockets */
		_exit(write(k.to_child[1], &c, 1) == 1 ? 0 : 1);
	}
	st = in_child(fill_then_read, &k, said, sizeof(said));
	waitpid(killer, NULL, 0);
	assert_sigbus(st, said);
	snprintf(want, sizeof(want), "pagemu: swap server %s (PAGEMU_SWAP): ", s[1].uri);
	ck_assert_msg(strstr(said, want), "stderr lacks \"%s\": %s", want, said);
	ck_assert_msg(strstr(said, "pages held there get SIGBUS"), "%s", said);
	/* The fault that died read from the dead server, or needed a frame
	 * whose page could only be written there. */
	ck_assert_msg(strstr(said, "(the swap server failed (named above; PAGEMU_SWAP); errno 121)"), "%s", said);
	snprintf(want, sizeof(want), "swap server %s", s[0].uri);
	ck_assert_msg(!strstr(said, want), "the live server named as failed: %s", said);
	servers_kill(s, 2);
}
END_TEST

/* ---- nbdkit's filters: injected errors and latency --------------------------------------- */

static char error_file[64];

/* In a child: fill memory 8x the pool swapping to uri as rc says, call
 * then() (when not NULL), read every page back: exits 2 on wrong data,
 * 0 when everything was read (the tests that call it expect neither:
 * SIGBUS). */
static void fill_then_read_back(const char *uri, const remote_cfg_t *rc, void (*then)(void))
{
	uint32_t ver[PAGES];
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uri, FRAMES, 1, PAGES, rc, &vm);

	for (size_t p = 0; p < PAGES; p++)
		page_write(a, p, ver[p] = 3);
	if (then)
		then();
	for (size_t p = 0; p < PAGES; p++)
		if (page_bad(a, p, ver[p]))
			_exit(2);
	_exit(0);
}

static void make_error_file(void)
{
	int fd = open(error_file, O_CREAT | O_WRONLY, 0600);    /* from now on, every read fails */

	close(fd);
}

static void fill_then_fail(void *arg)
{
	static const remote_cfg_t plain = { 0 };

	fill_then_read_back(arg, &plain, make_error_file);
}

START_TEST(test_nbd_read_error_sigbus)
{
	server_t s;
	char arg[100], said[8192], want[400];
	const char *why = nbdkit_missing();
	int st;

	if (why)
		PM_TEST_SKIP("%s", why);
	snprintf(error_file, sizeof(error_file), "/tmp/pagemu-test-nbd-err-%d", (int)getpid());
	unlink(error_file);
	snprintf(arg, sizeof(arg), "error-pread-file=%s", error_file);
	const char *const args[] = { "--filter=error", "memory", "64M", "error-pread-rate=100%", arg, NULL };
	ck_assert_int_eq(server_start(&s, "e", args), 0);
	st = in_child(fill_then_fail, s.uri, said, sizeof(said));
	unlink(error_file);
	assert_sigbus(st, said);
	snprintf(want, sizeof(want), "pagemu: swap server %s (PAGEMU_SWAP): the server failed a read of 4096 bytes", s.uri);
	ck_assert_msg(strstr(said, want), "stderr lacks \"%s\": %s", want, said);
	ck_assert_msg(strstr(said, "(NBD error 5, EIO); a read gets SIGBUS"), "%s", said);
	ck_assert_msg(strstr(said, "swap read failed (the swap server failed (named above; PAGEMU_SWAP); errno 121)"),
		      "%s", said);
	server_kill(&s);
}
END_TEST

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* 64 pages over 16 frames swapping to uri as rc says: written, then
 * read back in order, each a major fault (sequential over 4x the pool):
 * the nanoseconds the reads took. The data is right, every page came
 * from the server. */
static uint64_t time_64_swapins(const char *uri, const remote_cfg_t *rc)
{
	pagemu_stats_t s0, s1;
	uint32_t ver[64];
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uri, 16, 1, 64, rc, &vm);

	for (size_t p = 0; p < 64; p++)
		page_write(a, p, ver[p] = 5);
	pagemu_get_stats(vm, &s0);
	uint64_t t0 = now_ns();
	for (size_t p = 0; p < 64; p++)
		ck_assert_uint_eq(page_bad(a, p, ver[p]), 0);
	uint64_t ns = now_ns() - t0;
	pagemu_get_stats(vm, &s1);
	ck_assert_uint_eq(s1.faults_major - s0.faults_major, 64);
	ck_assert_uint_eq(s1.remote_reads - s0.remote_reads, 64);
	pagemu_close(vm);
	return ns;
}

/* A read delayed 20 ms by nbdkit's delay filter: each major fault takes
 * at least that, and the data is right. */
START_TEST(test_nbd_delay_filter)
{
	server_t s;
	static const remote_cfg_t plain = { 0 };
	const char *why = nbdkit_missing();
	const char *const args[] = { "--filter=delay", "memory", "64M", "delay-read=20ms", NULL };

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_int_eq(server_start(&s, "slow", args), 0);
	uint64_t ns = time_64_swapins(s.uri, &plain);
	ck_assert_msg(ns >= 64 * 20000000ull, "64 major faults in %llu ms: the 20 ms delay was not waited for",
		      (unsigned long long)(ns / 1000000));
	server_kill(&s);
}
END_TEST

/* ---- fork --------------------------------------------------------------------------- */

/* A child of a process whose swap is on NBD gets a private copy: its swap
 * is a local file holding the parent's used slots. Both sides see their
 * own data; the child's writes never reach the parent's slots. */
/* fork: the child gets its pages from the parent's servers, copied into
 * a local swap file of its own, and never uses the parent's connections
 * (nor, over TLS, its sessions); the parent goes on with them. */
static void fork_child_copy(const char *uris)
{
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	int status;
	pagemu_t *vm;
	volatile uint64_t *a = open_remote(uris, FRAMES, 4, PAGES, &vm);

	for (size_t p = 0; p < PAGES; p++)
		page_write(a, p, ver[p] = 11);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsigned long bad = 0;
		pagemu_get_stats(vm, &st);
		if (st.nservers != 0)
			_exit(4);                    /* the child must not use the parent's connections */
		for (size_t p = 0; p < PAGES; p++)
			bad += page_bad(a, p, 11);
		for (size_t p = 0; p < PAGES; p++)
			page_write(a, p, 12);        /* through the child's own swap */
		for (size_t p = 0; p < PAGES; p++)
			bad += page_bad(a, p, 12);
		_exit(bad ? 2 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	for (size_t p = 0; p < PAGES; p++)
		page_write(a, p, ++ver[p]);          /* the parent's connections still work */
	for (size_t p = 0; p < PAGES; p++)
		ck_assert_uint_eq(page_bad(a, p, ver[p]), 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.nservers, 1);
	ck_assert_uint_eq(st.remote_errors, 0);
	pagemu_close(vm);
}

START_TEST(test_nbd_fork_child_copy)
{
	server_t s;
	char uris[200];
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	servers_start(&s, 1, uris, sizeof(uris));
	fork_child_copy(uris);
	server_kill(&s);
}
END_TEST

/* ---- pagemu run --swap ------------------------------------------------------------------ */

/* GNU sort of 40,000 lines under pagemu run with its swap striped over
 * two servers, two copies of each slot (PAGEMU_SWAP_REPLICAS=2): the
 * output is the native run's, and the report counts the remote reads
 * (each from one copy). */
/* GNU sort of 40,000 lines under `pagemu run` with env (the swap's
 * settings) and 64 frames, in dir: output identical to native, paged;
 * the report's line in line. */
static void sort_under_pagemu(const char *dir, const char *env, char *line, size_t len)
{
	char cmd[700], path[600];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "seq 1 40000 | sort -R --random-source=/dev/zero > %s/in.txt", dir);
	ck_assert_int_eq(pt_sh(cmd), 0);
	ck_assert_msg(pt_same_output(dir, env, "64", "sort in.txt"), "sort's output under pagemu run (%s) differs", env);
	pt_assert_paged(dir, 1);
	snprintf(path, sizeof(path), "%s/report.json", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(line, (int)len, f));
	fclose(f);
	ck_assert_uint_gt(pt_counter(line, "remote_reads"), 0);
	ck_assert_uint_eq(pt_counter(line, "remote_errors"), 0);
	ck_assert_uint_eq(pt_counter(line, "remote_read_bytes"), pt_counter(line, "swap_read_pages") * PAGE);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	pt_sh(cmd);
}

START_TEST(test_nbd_pagemu_run_sort)
{
	server_t s[2];
	char uris[300], env[600], dir[] = "/tmp/pagemu-test-nbd-run-XXXXXX", line[8192];
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	pt_need_pagemu();
	servers_start(s, 2, uris, sizeof(uris));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(env, sizeof(env), "PAGEMU_SWAP=%s PAGEMU_SWAP_SIZE=64M PAGEMU_SWAP_REPLICAS=2", uris);
	sort_under_pagemu(dir, env, line, sizeof(line));
	ck_assert_uint_eq(pt_counter(line, "remote_failovers"), 0);
	ck_assert_ptr_nonnull(strstr(line, s[0].uri));
	ck_assert_ptr_nonnull(strstr(line, s[1].uri));
	servers_kill(s, 2);
}
END_TEST

/* ---- bad input: a clear error at open, never a hang ------------------------------------- */

static int open_err(const char *uris, uint64_t swap_size, unsigned timeout_ms, char *msg, size_t len)
{
	pagemu_config_t cfg;
	pagemu_t *vm = NULL;
	int rc;

	pagemu_config_default(&cfg);
	cfg.frames = 64;
	cfg.swap_size = swap_size;
	cfg.swap_timeout_ms = timeout_ms;
	snprintf(cfg.swap, sizeof(cfg.swap), "%s", uris);
	rc = pagemu_open(&cfg, &vm);
	snprintf(msg, len, "%s", rc < 0 ? pagemu_last_error() : "");
	if (rc == 0)
		pagemu_close(vm);
	return rc;
}

static void assert_says(const char *msg, const char *part)
{
	ck_assert_msg(strstr(msg, part), "\"%s\" lacks \"%s\"", msg, part);
}

START_TEST(test_nbd_uri_malformed)
{
	static const struct { const char *uri, *why; } bad[] = {
		{ "nbd:/127.0.0.1/x",        "not nbd://HOST[:PORT][/EXPORT]" },
		{ "http://127.0.0.1/x",      "not nbd://HOST[:PORT][/EXPORT]" },
		{ "nbd://",                  "no host" },
		{ "nbd://h:0/x",             "the port is not a number from 1 to 65535" },
		{ "nbd://h:65536/x",         "the port is not a number from 1 to 65535" },
		{ "nbd://h:12a/x",           "the port is not a number from 1 to 65535" },
		{ "nbd://[::1/x",            "an IPv6 address without its closing ']'" },
		{ "nbd://h/x?tls=on",        "a query (TLS parameters) needs the nbds:// scheme" },
		{ "nbds://h/x?tls=on",       "an unknown parameter (known: tls-psk-file, tls-username" },
		{ "nbds://h/x?tls-psk-file", "a parameter without a value (KEY=VALUE)" },
		{ "nbds://h/x?tls-verify-peer=maybe", "tls-verify-peer is true or false" },
		{ "nbds://h/x?tls-psk-file=/a&tls-certificates=/b", "tls-psk-file and tls-certificates both given" },
		{ "nbds://h/x#frag",         "no fragment is supported" },
		{ "nbds://h/x?tls-psk-file=/nonexistent/k.psk", "tls-psk-file names no file this process can read" },
		{ "nbds://h/x?tls-certificates=/nonexistent", "tls-certificates names no directory this process can read" },
		{ "nbds:/h/x",               "only the nbd and nbds schemes are supported" },
		{ "nbd://h/x,",              "not nbd://HOST[:PORT][/EXPORT]" },
	};
	char msg[1500], want[300];
	pagemu_config_t cfg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* The variable, as the user wrote it. */
		setenv("PAGEMU_SWAP", bad[i].uri, 1);
		pagemu_config_default(&cfg);
		ck_assert_int_eq(pagemu_config_from_env(&cfg), -EINVAL);
		snprintf(want, sizeof(want), "PAGEMU_SWAP=\"%s\": ", bad[i].uri);
		assert_says(pagemu_last_error(), want);
		assert_says(pagemu_last_error(), bad[i].why);
		ck_assert_str_eq(cfg.swap, "");
		unsetenv("PAGEMU_SWAP");
		/* The API's field, at open. */
		ck_assert_int_eq(open_err(bad[i].uri, 1 << 20, 1000, msg, sizeof(msg)), -EINVAL);
		snprintf(want, sizeof(want), "swap (PAGEMU_SWAP) = \"%s\"", bad[i].uri);
		assert_says(msg, want);
		assert_says(msg, bad[i].why);
	}
}
END_TEST

START_TEST(test_nbd_connection_refused)
{
	char msg[1500], uri[100], want[400];
	int port, fd = listen_any(&port, -1);      /* bound, not listening: the port refuses */

	ck_assert_int_ge(fd, 0);
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/x", port);
	ck_assert_int_eq(open_err(uri, 1 << 20, 1000, msg, sizeof(msg)), -ECONNREFUSED);
	snprintf(want, sizeof(want), "swap (PAGEMU_SWAP) = \"%s\": %s: cannot connect 127.0.0.1:%d: Connection refused",
		 uri, uri, port);
	assert_says(msg, want);
	close(fd);
}
END_TEST

/* A server that accepts the connection (the kernel does) and never says a
 * word: the handshake gives up after swap_timeout_ms. */
START_TEST(test_nbd_server_silent_timeout)
{
	char msg[1500], uri[100], want[400];
	int port, fd = listen_any(&port, 4);

	ck_assert_int_ge(fd, 0);
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/x", port);
	uint64_t t0 = now_ns();
	ck_assert_int_eq(open_err(uri, 1 << 20, 300, msg, sizeof(msg)), -ETIMEDOUT);
	uint64_t ms = (now_ns() - t0) / 1000000;
	snprintf(want, sizeof(want), "%s: handshake: no answer in time (PAGEMU_SWAP_TIMEOUT)", uri);
	assert_says(msg, want);
	ck_assert_msg(ms >= 300 && ms < 3000, "gave up after %llu ms, not 300", (unsigned long long)ms);
	close(fd);
}
END_TEST

START_TEST(test_nbd_export_refused)
{
	server_t s;
	char msg[1500], want[300];
	const char *why = nbdkit_missing();
	const char *const args[] = { "--filter=exportname", "memory", "64M", "exportname=good",
				     "exportname-strict=true", NULL };

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_int_eq(server_start(&s, "bad", args), 0);
	ck_assert_int_lt(open_err(s.uri, 1 << 20, 5000, msg, sizeof(msg)), 0);
	snprintf(want, sizeof(want), "swap (PAGEMU_SWAP) = \"%s\": %s: export \"bad\": ", s.uri, s.uri);
	assert_says(msg, want);
	server_kill(&s);
}
END_TEST

START_TEST(test_nbd_export_too_small)
{
	server_t s[2];
	char msg[1500], want[400], uris[300];
	const char *why = nbdkit_missing();
	const char *const small[] = { "memory", "1M", NULL };

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_int_eq(server_start(&s[0], "small", small), 0);
	ck_assert_int_eq(open_err(s[0].uri, 8 << 20, 5000, msg, sizeof(msg)), -ENOSPC);
	snprintf(want, sizeof(want), "%s: the export holds 1048576 bytes, less than the 8388608 this server must hold "
		 "of the swap (swap_size, PAGEMU_SWAP_SIZE)", s[0].uri);
	assert_says(msg, want);
	/* Striped over two, each holds half (256 chunks of 16 slots: 128
	 * each): 1M is too small for 8M, 4M is enough. */
	ck_assert_int_eq(server_start(&s[1], "small", small), 0);
	snprintf(uris, sizeof(uris), "%s,%s", s[0].uri, s[1].uri);
	ck_assert_int_eq(open_err(uris, 8 << 20, 5000, msg, sizeof(msg)), -ENOSPC);
	snprintf(want, sizeof(want), "%s: the export holds 1048576 bytes, less than the 4194304", s[0].uri);
	assert_says(msg, want);
	ck_assert_int_eq(open_err(uris, 2 << 20, 5000, msg, sizeof(msg)), 0);
	/* Two copies: each export holds three regions (two copies and a
	 * spare) of its rows: 8 rows of a 64 KiB chunk for 1M of swap, 1.5M;
	 * 4 rows for 512K, 768K. */
	pagemu_config_t cfg;
	pagemu_t *vm = NULL;
	pagemu_config_default(&cfg);
	cfg.frames = 64;
	cfg.swap_replicas = 2;
	cfg.swap_size = 1 << 20;
	snprintf(cfg.swap, sizeof(cfg.swap), "%s", uris);
	ck_assert_int_eq(pagemu_open(&cfg, &vm), -ENOSPC);
	snprintf(want, sizeof(want), "%s: the export holds 1048576 bytes, less than the 1572864 this server must hold of "
		 "the swap (swap_size, PAGEMU_SWAP_SIZE; with PAGEMU_SWAP_REPLICAS its copies, and room for a failed "
		 "server's)", s[0].uri);
	assert_says(pagemu_last_error(), want);
	cfg.swap_size = 512 << 10;
	ck_assert_msg(pagemu_open(&cfg, &vm) == 0, "%s", pagemu_last_error());
	pagemu_close(vm);
	servers_kill(s, 2);
}
END_TEST

/* ---- replicas: failover, re-replication, timeouts ------------------------------------------ */

static void kill_server(void *arg)
{
	server_kill(arg);
}

/* Wait (at most 30 s) until the repair thread has ended a pass: its
 * slots are counted in remote_repairs then. */
static void wait_repaired(pagemu_t *vm, pagemu_stats_t *st)
{
	for (int i = 0; i < 3000; i++) {
		pagemu_get_stats(vm, st);
		if (st->remote_repairs)
			return;
		usleep(10000);
	}
	ck_abort_msg("no re-replication in 30 s");
}

/* The acceptance test: three memory servers, the swap striped over them
 * with two copies of each slot; the self-checking workload over 8x the
 * pool; one server killed (SIGKILL) half-way. No word is wrong, the
 * failover is counted, the dead server's copies are copied again to the
 * two live ones; then a second server is killed and every page still
 * reads back from the last one (nothing lost while one server at a time
 * dies). */
START_TEST(test_nbd_replicas_server_killed)
{
	server_t s[3];
	char uris[512];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	const remote_cfg_t two = { .replicas = 2 };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	servers_start(s, 3, uris, sizeof(uris));
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uris, FRAMES, 8, PAGES, &two, &vm);
	midway_t mid = { .at = 2 * PAGES, .fn = kill_server, .arg = &s[1] };

	ck_assert_uint_eq(workload_mid(a, ver, PAGES, 4 * PAGES, 42, &mid), 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.remote_failovers, 1);
	ck_assert_uint_eq(st.servers[0].up, 1);
	ck_assert_uint_eq(st.servers[1].up, 0);
	ck_assert_uint_eq(st.servers[2].up, 1);
	ck_assert_uint_eq(st.swap_checksum_errors, 0);
	wait_repaired(vm, &st);
	ck_assert_uint_gt(st.remote_repairs, 0);
	server_kill(&s[2]);
	for (size_t p = 0; p < PAGES; p++)
		ck_assert_uint_eq(page_bad(a, p, ver[p]), 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.remote_failovers, 2);
	ck_assert_uint_eq(st.swap_checksum_errors, 0);
	pagemu_close(vm);
	servers_kill(s, 3);
}
END_TEST

/* Two copies on two servers, one of which starts failing every read
 * (nbdkit's error filter): it fails over at its first error, each read is
 * retried on the other copy, the data right, no signal. */
START_TEST(test_nbd_replicas_read_error_failover)
{
	server_t s[2];
	char arg[100], uris[300];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	const remote_cfg_t two = { .replicas = 2 };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	snprintf(error_file, sizeof(error_file), "/tmp/pagemu-test-nbd-err-%d", (int)getpid());
	unlink(error_file);
	snprintf(arg, sizeof(arg), "error-pread-file=%s", error_file);
	const char *const failing[] = { "--filter=error", "memory", "256M", "error-pread-rate=100%", arg, NULL };
	ck_assert_int_eq(server_start(&s[0], "swap", memory_args), 0);
	ck_assert_int_eq(server_start(&s[1], "swap", failing), 0);
	snprintf(uris, sizeof(uris), "%s,%s", s[0].uri, s[1].uri);
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uris, FRAMES, 4, PAGES, &two, &vm);
	for (size_t p = 0; p < PAGES; p++)
		page_write(a, p, ver[p] = 4);
	make_error_file();
	for (size_t p = 0; p < PAGES; p++)
		ck_assert_uint_eq(page_bad(a, p, ver[p]), 0);
	unlink(error_file);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.remote_failovers, 1);
	ck_assert_uint_ge(st.remote_retries, 1);
	ck_assert_uint_eq(st.servers[0].up, 1);
	ck_assert_uint_eq(st.servers[1].up, 0);
	ck_assert_uint_eq(st.swap_checksum_errors, 0);
	pagemu_close(vm);
	servers_kill(s, 2);
}
END_TEST

/* One thread's half of the memory and its workload. */
typedef struct half {
	volatile uint64_t *a;                /* its first page */
	uint32_t           ver[PAGES / 2];
	uint64_t           seed;
	const midway_t    *mid;              /* NULL: none */
	unsigned long      bad;
} half_t;

static void *half_main(void *arg)
{
	half_t *h = arg;

	h->bad = workload_mid(h->a, h->ver, PAGES / 2, 2 * PAGES, h->seed, h->mid);
	return NULL;
}

/* The acceptance test with two threads faulting at once (several reads in
 * flight, retried on other servers while the other thread's go on): one
 * server killed by the first thread half-way through its part. */
START_TEST(test_nbd_replicas_killed_two_threads)
{
	server_t s[3];
	char uris[512];
	pagemu_stats_t st;
	pthread_t t[2];
	static half_t h[2];
	const remote_cfg_t two = { .replicas = 2 };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	servers_start(s, 3, uris, sizeof(uris));
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uris, FRAMES, 4, PAGES, &two, &vm);
	midway_t mid = { .at = PAGES, .fn = kill_server, .arg = &s[0] };
	for (int i = 0; i < 2; i++) {
		h[i] = (half_t){ .a = a + (size_t)i * (PAGES / 2) * WORDS, .seed = 5 + (uint64_t)i, .mid = i ? NULL : &mid };
		ck_assert_int_eq(pthread_create(&t[i], NULL, half_main, &h[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_uint_eq(h[0].bad, 0);
	ck_assert_uint_eq(h[1].bad, 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.remote_failovers, 1);
	ck_assert_uint_eq(st.servers[0].up, 0);
	ck_assert_uint_eq(st.swap_checksum_errors, 0);
	pagemu_close(vm);
	servers_kill(s, 3);
}
END_TEST

static void stop_server(void *arg)
{
	kill(((server_t *)arg)->pid, SIGSTOP);
}

/* Three servers, two copies; one is stopped (SIGSTOP: its connection
 * stays open, nothing is answered, reads nor writes) half-way through the
 * workload: it fails over after PAGEMU_SWAP_TIMEOUT, no word is wrong,
 * the run ends in seconds. */
START_TEST(test_nbd_replicas_server_stopped)
{
	server_t s[3];
	char uris[512];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	const remote_cfg_t quick = { .replicas = 2, .timeout_ms = 300 };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	servers_start(s, 3, uris, sizeof(uris));
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uris, FRAMES, 8, PAGES, &quick, &vm);
	midway_t mid = { .at = 2 * PAGES, .fn = stop_server, .arg = &s[2] };
	uint64_t t0 = now_ns();

	ck_assert_uint_eq(workload_mid(a, ver, PAGES, 4 * PAGES, 99, &mid), 0);
	uint64_t ms = (now_ns() - t0) / 1000000;
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.remote_failovers, 1);
	ck_assert_uint_eq(st.servers[2].up, 0);
	ck_assert_uint_eq(st.swap_checksum_errors, 0);
	ck_assert_msg(ms < 20000, "the workload took %llu ms", (unsigned long long)ms);
	pagemu_close(vm);
	servers_kill(s, 3);
}
END_TEST

/* Two copies on two servers, one of which never answers a read (nbdkit's
 * delay filter, 60 s): its reads fail over to the other copy after
 * PAGEMU_SWAP_TIMEOUT, the data right, in seconds, never a hang. */
START_TEST(test_nbd_replicas_timeout_failover)
{
	server_t s[2];
	char uris[300];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	const remote_cfg_t quick = { .replicas = 2, .timeout_ms = 300 };
	const char *const slow[] = { "--filter=delay", "memory", "256M", "delay-read=60", NULL };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_int_eq(server_start(&s[0], "swap", memory_args), 0);
	ck_assert_int_eq(server_start(&s[1], "swap", slow), 0);
	snprintf(uris, sizeof(uris), "%s,%s", s[0].uri, s[1].uri);
	pagemu_t *vm;
	volatile uint64_t *a = open_remote_cfg(uris, FRAMES, 1, PAGES, &quick, &vm);
	uint64_t t0 = now_ns();
	ck_assert_uint_eq(workload(a, ver, PAGES, PAGES, 7), 0);
	uint64_t ms = (now_ns() - t0) / 1000000;
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.remote_failovers, 1);
	ck_assert_uint_ge(st.remote_retries, 1);
	ck_assert_uint_eq(st.servers[1].up, 0);
	ck_assert_msg(ms < 20000, "the workload took %llu ms", (unsigned long long)ms);
	pagemu_close(vm);
	servers_kill(s, 2);
}
END_TEST

static void fill_then_read_slow(void *arg)
{
	static const remote_cfg_t quick = { .timeout_ms = 300 };

	fill_then_read_back(arg, &quick, NULL);
}

/* One copy on a server that never answers a read: SIGBUS naming the
 * server and PAGEMU_SWAP_TIMEOUT, soon after the timeout. */
START_TEST(test_nbd_timeout_sigbus)
{
	server_t s;
	char said[8192], want[300];
	const char *const slow[] = { "--filter=delay", "memory", "64M", "delay-read=60", NULL };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_int_eq(server_start(&s, "slow", slow), 0);
	uint64_t t0 = now_ns();
	int st = in_child(fill_then_read_slow, s.uri, said, sizeof(said));
	uint64_t ms = (now_ns() - t0) / 1000000;
	assert_sigbus(st, said);
	snprintf(want, sizeof(want), "pagemu: swap server %s (PAGEMU_SWAP): no answer to a request in 300 ms "
		 "(PAGEMU_SWAP_TIMEOUT); pages held there get SIGBUS", s.uri);
	ck_assert_msg(strstr(said, want), "stderr lacks \"%s\": %s", want, said);
	ck_assert_msg(ms < 10000, "SIGBUS after %llu ms", (unsigned long long)ms);
	server_kill(&s);
}
END_TEST

/* PAGEMU_SWAP_DELAY_US: each read completes no sooner than the delay
 * after it was queued (injected by pagemu's client), the data right. */
START_TEST(test_nbd_injected_delay)
{
	server_t s;
	static const remote_cfg_t slow = { .delay_us = 5000 };
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_int_eq(server_start(&s, "swap", memory_args), 0);
	uint64_t ns = time_64_swapins(s.uri, &slow);
	ck_assert_msg(ns >= 64 * 5000000ull, "64 major faults in %llu us: the 5 ms injected delay was not waited for",
		      (unsigned long long)(ns / 1000));
	ck_assert_msg(ns < 64 * 50000000ull, "64 major faults in %llu us: far more than 5 ms each",
		      (unsigned long long)(ns / 1000));
	server_kill(&s);
}
END_TEST

/* Replicas need as many servers; the injected delay needs servers. */
/* cfg is refused, with msg in the error. */
static void assert_refused(const pagemu_config_t *cfg, const char *msg)
{
	ck_assert_int_eq(pagemu_config_validate(cfg), -EINVAL);
	assert_says(pagemu_last_error(), msg);
}

START_TEST(test_nbd_replicas_bad_input)
{
	pagemu_config_t cfg;

	pagemu_config_default(&cfg);
	cfg.swap_replicas = 2;
	assert_refused(&cfg, "swap_replicas (PAGEMU_SWAP_REPLICAS) = 2: more copies than swap servers "
		       "(0 in PAGEMU_SWAP, which is empty)");
	snprintf(cfg.swap, sizeof(cfg.swap), "nbd://a/x,nbd://b/x");
	cfg.swap_replicas = 3;
	assert_refused(&cfg, "swap_replicas (PAGEMU_SWAP_REPLICAS) = 3: more copies than swap servers (2 in "
		       "swap (PAGEMU_SWAP) = \"nbd://a/x,nbd://b/x\")");
	cfg.swap_replicas = 2;
	ck_assert_int_eq(pagemu_config_validate(&cfg), 0);
	setenv("PAGEMU_SWAP_REPLICAS", "9", 1);
	ck_assert_int_eq(pagemu_config_from_env(&cfg), -EINVAL);
	assert_says(pagemu_last_error(), "PAGEMU_SWAP_REPLICAS=\"9\": out of range (1 to the servers in PAGEMU_SWAP)");
	unsetenv("PAGEMU_SWAP_REPLICAS");
	pagemu_config_default(&cfg);
	cfg.swap_delay_us = 20;
	assert_refused(&cfg, "swap_delay_us (PAGEMU_SWAP_DELAY_US) = 20: an injected latency needs swap on NBD servers");
	snprintf(cfg.swap, sizeof(cfg.swap), "nbd://a/x");
	cfg.swap_delay_us = 500000;
	cfg.swap_timeout_ms = 500;
	assert_refused(&cfg, "swap_delay_us (PAGEMU_SWAP_DELAY_US) = 500000: not below the request timeout, "
		       "swap_timeout_ms (PAGEMU_SWAP_TIMEOUT) = 500 ms");
	cfg.swap_delay_us = 499999;
	ck_assert_int_eq(pagemu_config_validate(&cfg), 0);
}
END_TEST


/* ---- NBD over TLS (nbds://) ---------------------------------------------------------------- */

/* A fresh directory from the template dir (made in place), and in it a
 * PSK file of identity "pagemu" (after a line of other_ident's, when not
 * NULL): its path in psk. */
static void psk_dir(char *dir, char *psk, size_t len, const char *other_ident)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(psk, len, "%s/keys.psk", dir);
	ck_assert_msg(psk_file_write(psk, "pagemu", other_ident) == 0, "cannot write the PSK file %s", psk);
}

static void dir_remove(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A memory server on a fresh port that requires TLS with the PSKs of
 * psk (tls = "psk") or the certificates of a directory (tls = "x509");
 * NULL: no TLS. Its nbds:// URI with query (may be "") in uri. */
static void tls_server(server_t *s, const char *tls, const char *file, const char *query, char *uri, size_t len)
{
	char opt[400];
	const char *args[] = { "--tls=require", opt, "memory", "256M", NULL };

	if (!tls) {
		args[0] = "memory";
		args[1] = "256M";
		args[2] = NULL;
	} else {
		snprintf(opt, sizeof(opt), "--tls-%s=%s", strcmp(tls, "psk") == 0 ? "psk" : "certificates", file);
	}
	ck_assert_int_eq(server_start(s, "swap", args), 0);
	snprintf(uri, len, "nbds://127.0.0.1:%d/swap%s%s", s->port, query[0] ? "?" : "", query);
}

/* The workload over two TLS servers (PSK), replicated: the pages come
 * back whole, the counters count every read at a server, the report
 * says the connections are encrypted; and one server killed mid-run
 * fails over to the other's copy. */
START_TEST(test_nbd_tls_psk_workload)
{
	server_t s[2];
	char dir[] = "/tmp/pagemu-test-tls-XXXXXX", psk[300], query[400], uris[1100], u[2][520];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	const char *why = nbdkit_missing();
	remote_cfg_t rc = { .replicas = 2 };
	pagemu_t *vm;

	if (why)
		PM_TEST_SKIP("%s", why);
	psk_dir(dir, psk, sizeof(psk), "someone");
	snprintf(query, sizeof(query), "tls-psk-file=%s&tls-username=pagemu", psk);
	for (int i = 0; i < 2; i++)
		tls_server(&s[i], "psk", psk, query, u[i], sizeof(u[i]));
	snprintf(uris, sizeof(uris), "%s,%s", u[0], u[1]);
	volatile uint64_t *a = open_remote_cfg(uris, FRAMES, 8, PAGES, &rc, &vm);
	pagemu_get_stats(vm, &st);
	for (int i = 0; i < 2; i++)
		ck_assert_uint_eq(st.servers[i].tls, 1);
	midway_t mid = { .at = 2 * PAGES, .fn = kill_server, .arg = &s[0] };
	ck_assert_uint_eq(workload_mid(a, ver, PAGES, 4 * PAGES, 7, &mid), 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_gt(st.faults_major, 0);
	ck_assert_uint_gt(st.servers[1].reads, 0);
	ck_assert_uint_gt(st.servers[1].writes, 0);
	ck_assert_uint_eq(st.servers[0].up, 0);
	ck_assert_uint_ge(st.remote_failovers, 1);
	ck_assert_uint_eq(st.remote_read_bytes, st.swap_read_pages * PAGE);
	pagemu_close(vm);
	servers_kill(s, 2);
	dir_remove(dir);
}
END_TEST

/* Every refusal of a TLS set-up is a clear error at open naming the URI. */
START_TEST(test_nbd_tls_refusals)
{
	server_t tls, plain;
	char dir[] = "/tmp/pagemu-test-tls-XXXXXX", psk[300], other[300], q[700], uri[1000], msg[1500];
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	psk_dir(dir, psk, sizeof(psk), NULL);
	snprintf(other, sizeof(other), "%s/other.psk", dir);
	ck_assert_int_eq(psk_file_write(other, "pagemu", NULL), 0);   /* the same identity, another key */
	tls_server(&tls, "psk", psk, "", uri, sizeof(uri));
	tls_server(&plain, NULL, NULL, "", q, sizeof(q));

	/* nbd:// to a server that requires TLS. */
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/swap", tls.port);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), -EACCES);
	assert_says(msg, uri);
	assert_says(msg, "the server requires TLS: use nbds://");
	/* The wrong key. */
	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-psk-file=%s", tls.port, other);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), -EPROTO);
	assert_says(msg, uri);
	assert_says(msg, "TLS handshake: ");
	assert_says(msg, "is the key of this identity the server's?");
	/* An identity the file does not hold. */
	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-psk-file=%s&tls-username=nobody", tls.port, psk);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), -ENOENT);
	assert_says(msg, "no key for this identity (tls-username)");
	/* No such file: said before any server is asked. */
	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-psk-file=%s/none", tls.port, dir);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), -EINVAL);
	assert_says(msg, "tls-psk-file names no file this process can read");
	/* A server without TLS. */
	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-psk-file=%s", plain.port, psk);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), -EPROTONOSUPPORT);
	assert_says(msg, "the server does not offer TLS (NBD_OPT_STARTTLS refused");
	/* The right key works on the same server. */
	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-psk-file=%s", tls.port, psk);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), 0);
	server_kill(&tls);
	server_kill(&plain);
	dir_remove(dir);
}
END_TEST

/* fork over TLS: the child's copy comes through the parent's session. */
START_TEST(test_nbd_tls_fork)
{
	server_t s;
	char dir[] = "/tmp/pagemu-test-tls-fork-XXXXXX", psk[300], q[400], uri[700];
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	psk_dir(dir, psk, sizeof(psk), NULL);
	snprintf(q, sizeof(q), "tls-psk-file=%s", psk);
	tls_server(&s, "psk", psk, q, uri, sizeof(uri));
	fork_child_copy(uri);
	server_kill(&s);
	dir_remove(dir);
}
END_TEST

/* A certificate authority and a server certificate for 127.0.0.1 in dir
 * (nbdkit's names: ca-cert.pem, server-cert.pem, server-key.pem), made
 * with certtool; 0, or -1 when certtool is missing. */
static int x509_make(const char *dir)
{
	char cmd[2048];

	if (system("certtool --version >/dev/null 2>&1") != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && (printf 'cn = pagemu test CA\\nca\\ncert_signing_key\\nexpiration_days = 2\\n' > ca.info && "
		 "printf 'cn = 127.0.0.1\\nip_address = 127.0.0.1\\ntls_www_server\\nencryption_key\\nsigning_key\\n"
		 "expiration_days = 2\\n' > server.info && "
		 "certtool -p --sec-param=medium --outfile ca-key.pem && "
		 "certtool -s --load-privkey ca-key.pem --template ca.info --outfile ca-cert.pem && "
		 "certtool -p --sec-param=medium --outfile server-key.pem && "
		 "certtool -c --load-privkey server-key.pem --load-ca-certificate ca-cert.pem "
		 "--load-ca-privkey ca-key.pem --template server.info --outfile server-cert.pem) >certtool.log 2>&1",
		 dir);
	ck_assert_msg(pt_sh(cmd) == 0, "certtool failed: %s/certtool.log", dir);
	return 0;
}

/* X.509: the server's certificate checked against tls-certificates=DIR
 * (its ca-cert.pem); refused when another authority signed it, unless
 * tls-verify-peer=false. */
START_TEST(test_nbd_tls_x509)
{
	server_t s;
	char dir[] = "/tmp/pagemu-test-x509-XXXXXX", other[] = "/tmp/pagemu-test-x509o-XXXXXX", uri[1000], msg[1500];
	uint32_t ver[PAGES];
	pagemu_stats_t st;
	pagemu_t *vm;
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(mkdtemp(other));
	if (x509_make(dir) < 0 || x509_make(other) < 0)
		PM_TEST_SKIP("certtool does not run here (apt-get install gnutls-bin)");
	tls_server(&s, "x509", dir, "", uri, sizeof(uri));

	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-certificates=%s", s.port, other);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), -EPROTO);
	assert_says(msg, "the server's certificate is refused: no authority pagemu trusts signed it");
	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-certificates=%s&tls-verify-peer=false", s.port, other);
	ck_assert_int_eq(open_err(uri, 1 << 20, 5000, msg, sizeof(msg)), 0);

	snprintf(uri, sizeof(uri), "nbds://127.0.0.1:%d/swap?tls-certificates=%s", s.port, dir);
	volatile uint64_t *a = open_remote(uri, FRAMES, 8, PAGES, &vm);
	ck_assert_uint_eq(workload(a, ver, PAGES, 2 * PAGES, 11), 0);
	pagemu_get_stats(vm, &st);
	ck_assert_uint_eq(st.servers[0].tls, 1);
	ck_assert_uint_gt(st.servers[0].reads, 0);
	ck_assert_uint_eq(st.remote_read_bytes, st.swap_read_pages * PAGE);
	pagemu_close(vm);
	server_kill(&s);
	dir_remove(dir);
	dir_remove(other);
}
END_TEST

/* `pagemu run` over TLS: the program's heap is swapped through GnuTLS,
 * whose allocations in pagemu's I/O threads must never land in that
 * heap. */
START_TEST(test_nbd_tls_pagemu_run)
{
	server_t s;
	char dir[] = "/tmp/pagemu-test-tls-run-XXXXXX", psk[300], q[400], uri[700], env[900], line[8192];
	const char *why = nbdkit_missing();

	if (why)
		PM_TEST_SKIP("%s", why);
	pt_need_pagemu();
	psk_dir(dir, psk, sizeof(psk), NULL);
	snprintf(q, sizeof(q), "tls-psk-file=%s", psk);
	tls_server(&s, "psk", psk, q, uri, sizeof(uri));
	snprintf(env, sizeof(env), "PAGEMU_SWAP='%s' PAGEMU_SWAP_SIZE=64M", uri);
	sort_under_pagemu(dir, env, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "\"tls\":1"));
	server_kill(&s);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("nbd");
	TCase *work = tcase_create("workload"), *fail = tcase_create("failures"), *bad = tcase_create("bad input");
	TCase *tls = tcase_create("tls");

	tcase_set_timeout(work, 120);
	tcase_add_test(work, test_nbd_workload_one_server);
	tcase_add_test(work, test_nbd_workload_striped);
	tcase_add_test(work, test_nbd_fork_child_copy);
	tcase_add_test(work, test_nbd_pagemu_run_sort);
	suite_add_tcase(s, work);
	tcase_set_timeout(fail, 120);
	tcase_add_test(fail, test_nbd_server_killed_sigbus);
	tcase_add_test(fail, test_nbd_read_error_sigbus);
	tcase_add_test(fail, test_nbd_delay_filter);
	tcase_add_test(fail, test_nbd_replicas_server_killed);
	tcase_add_test(fail, test_nbd_replicas_killed_two_threads);
	tcase_add_test(fail, test_nbd_replicas_timeout_failover);
	tcase_add_test(fail, test_nbd_replicas_server_stopped);
	tcase_add_test(fail, test_nbd_replicas_read_error_failover);
	tcase_add_test(fail, test_nbd_timeout_sigbus);
	tcase_add_test(fail, test_nbd_injected_delay);
	suite_add_tcase(s, fail);
	tcase_set_timeout(bad, 60);
	tcase_add_test(bad, test_nbd_uri_malformed);
	tcase_add_test(bad, test_nbd_connection_refused);
	tcase_add_test(bad, test_nbd_server_silent_timeout);
	tcase_add_test(bad, test_nbd_export_refused);
	tcase_add_test(bad, test_nbd_export_too_small);
	tcase_add_test(bad, test_nbd_replicas_bad_input);
	suite_add_tcase(s, bad);
	tcase_set_timeout(tls, 120);
	tcase_add_test(tls, test_nbd_tls_psk_workload);
	tcase_add_test(tls, test_nbd_tls_refusals);
	tcase_add_test(tls, test_nbd_tls_fork);
	tcase_add_test(tls, test_nbd_tls_x509);
	tcase_add_test(tls, test_nbd_tls_pagemu_run);
	suite_add_tcase(s, tls);
	return s;
}

PM_TEST_MAIN(make_suite)
