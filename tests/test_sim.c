/* test_sim.c - traces (lib/trace.c) and the simulator (tools/pagemu-sim),
 * which runs as a subprocess: a lackey trace of a real program (generated
 * with valgrind when it is installed, else tests/data/lackey-true.txt),
 * sweep properties (LRU and OPT monotone, OPT never worse), textbook
 * numbers from the command line, errors that name the line, and a trace
 * far larger than pagemu-sim's memory streamed through a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "engine/engine.h"
#include "heap/heap.h"

/* ---- the binary format ---------------------------------------------------- */

START_TEST(binary_roundtrip)
{
	pm_trace_hdr_t h = { PM_TRACE_VERSION, 4096, 0, 123456789 }, h2;
	pm_trace_rec_t r = { 987654321, 0x7fff12345678ULL, 42, PM_TRACE_MAJOR, PM_PROT_WRITE, 0, 77, 1500 }, r2;
	uint8_t buf[PM_TRACE_HDR_SIZE];

	pm_trace_encode_header(&h, buf);
	ck_assert_int_eq(memcmp(buf, "PAGEMUTR", 8), 0);
	ck_assert_uint_eq(buf[8], 1);                   /* little-endian version */
	ck_assert_uint_eq(buf[12], 32);                 /* record size */
	ck_assert_uint_eq(buf[17], 0x10);               /* 4096 = 0x1000 */
	ck_assert_int_eq(pm_trace_decode_header(buf, sizeof(buf), &h2), 0);
	ck_assert_uint_eq(h2.page_size, 4096);
	ck_assert_uint_eq(h2.start_ns, 123456789);
	ck_assert_int_eq(pm_trace_decode_header(buf, 31, &h2), -EINVAL);
	buf[8] = 2;
	ck_assert_int_eq(pm_trace_decode_header(buf, sizeof(buf), &h2), -EPROTONOSUPPORT);
	buf[0] = 'X';
	ck_assert_int_eq(pm_trace_decode_header(buf, sizeof(buf), &h2), -EINVAL);

	pm_trace_encode(&r, buf);
	ck_assert_uint_eq(buf[8], 0x78);                /* va, low byte first */
	ck_assert_uint_eq(buf[20], PM_TRACE_MAJOR);
	ck_assert_int_eq(pm_trace_decode(buf, &r2), 0);
	ck_assert_int_eq(memcmp(&r, &r2, sizeof(r)), 0);
	buf[20] = 200;
	ck_assert_int_eq(pm_trace_decode(buf, &r2), -EINVAL);
	ck_assert_str_eq(pm_trace_kind_name(PM_TRACE_TLB_MISS), "tlb_miss");
	ck_assert_ptr_null(pm_trace_kind_name(99));
	ck_assert(!pm_trace_is_ref(PM_TRACE_EVICT));
	ck_assert(pm_trace_is_ref(PM_TRACE_ZERO));
}
END_TEST

/* ---- text parsers ------------------------------------------------------------ */

START_TEST(lackey_lines)
{
	uint64_t va = 0;
	int a = 0;

	ck_assert_int_eq(pm_trace_parse_lackey(" L 04222cac,4", &va, &a), 1);
	ck_assert_uint_eq(va, 0x04222cac);
	ck_assert_int_eq(a, PM_PROT_READ);
	ck_assert_int_eq(pm_trace_parse_lackey(" S 1fff000708,8\n", &va, &a), 1);
	ck_assert_uint_eq(va, 0x1fff000708ULL);
	ck_assert_int_eq(a, PM_PROT_WRITE);
	ck_assert_int_eq(pm_trace_parse_lackey(" M 0421f2c0,4", &va, &a), 1);
	ck_assert_int_eq(a, PM_PROT_WRITE);
	ck_assert_int_eq(pm_trace_parse_lackey("I  0401ab70,3", &va, &a), 1);
	ck_assert_int_eq(a, PM_PROT_EXEC);
	ck_assert_int_eq(pm_trace_parse_lackey("==6981== Lackey, an example Valgrind tool", &va, &a), 0);
	ck_assert_int_eq(pm_trace_parse_lackey("", &va, &a), 0);
	ck_assert_int_eq(pm_trace_parse_lackey(" X 0400,4", &va, &a), -EINVAL);
	ck_assert_int_eq(pm_trace_parse_lackey(" L 04g0,4", &va, &a), -EINVAL);
	ck_assert_int_eq(pm_trace_parse_lackey(" L 0400", &va, &a), -EINVAL);
	ck_assert_int_eq(pm_trace_parse_lackey(" L 0400,4 junk", &va, &a), -EINVAL);
	ck_assert_int_eq(pm_trace_parse_lackey(" L 1ffffffffffffffff,4", &va, &a), -EINVAL);
}
END_TEST

START_TEST(number_lists)
{
	const char *p = " 0x1f, 31 7 # comment";
	uint64_t v;

	ck_assert_int_eq(pm_trace_next_number(&p, &v), 1);
	ck_assert_uint_eq(v, 31);
	ck_assert_int_eq(pm_trace_next_number(&p, &v), 1);
	ck_assert_uint_eq(v, 31);
	ck_assert_int_eq(pm_trace_next_number(&p, &v), 1);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(pm_trace_next_number(&p, &v), 0);
	p = "12ab";
	ck_assert_int_eq(pm_trace_next_number(&p, &v), -EINVAL);
	p = "0x";
	ck_assert_int_eq(pm_trace_next_number(&p, &v), -EINVAL);
}
END_TEST

static int load_string(const char *text, size_t len, enum pm_trace_fmt fmt, pm_refs_t *refs, char *err)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int e;

	ck_assert_ptr_nonnull(f);
	e = pm_trace_load(f, "t", fmt, 12, 0, refs, err, 256);
	fclose(f);
	return e;
}

START_TEST(load_formats)
{
	pm_refs_t refs = { 0 };
	char err[256];
	static const char lackey[] = "==1== hi\nI  0401ab70,3\n L 04222cac,4\n";
	static const char addrs[] = "0x1000\n# c\n8192 0x3000\n";
	uint8_t bin[PM_TRACE_HDR_SIZE + 3 * PM_TRACE_REC_SIZE];
	pm_trace_hdr_t h = { PM_TRACE_VERSION, 8192, 0, 0 };
	pm_trace_rec_t r = { 0, 0x4000, 1, PM_TRACE_ZERO, PM_PROT_WRITE, 0, PM_TRACE_NO_PPN, 0 };

	ck_assert_int_eq(load_string(lackey, sizeof(lackey) - 1, PM_FMT_AUTO, &refs, err), 0);
	ck_assert_uint_eq(refs.n, 2);
	ck_assert_uint_eq(refs.va[1], 0x04222cac);
	pm_refs_free(&refs);
	ck_assert_int_eq(load_string(addrs, sizeof(addrs) - 1, PM_FMT_AUTO, &refs, err), 0);
	ck_assert_uint_eq(refs.n, 3);
	ck_assert_uint_eq(refs.va[1], 0x2000);
	pm_refs_free(&refs);
	ck_assert_int_eq(load_string("3 4\n", 4, PM_FMT_PAGES, &refs, err), 0);
	ck_assert_uint_eq(refs.va[1], 4 << 12);
	pm_refs_free(&refs);
	/* malformed: the error names the line */
	ck_assert_int_eq(load_string("1\n2\nthree\n", 10, PM_FMT_PAGES, &refs, err), -EINVAL);
	ck_assert_msg(strstr(err, "t:3:"), "%s", err);
	pm_refs_free(&refs);
	ck_assert_int_eq(load_string("1\0 2", 4, PM_FMT_ADDRS, &refs, err), -EINVAL);
	pm_refs_free(&refs);
	/* binary: an evict record is no reference; a torn record is an error */
	pm_trace_encode_header(&h, bin);
	pm_trace_encode(&r, bin + PM_TRACE_HDR_SIZE);
	r.kind = PM_TRACE_EVICT;
	pm_trace_encode(&r, bin + PM_TRACE_HDR_SIZE + PM_TRACE_REC_SIZE);
	r.kind = PM_TRACE_MINOR;
	r.va = 0x6000;
	pm_trace_encode(&r, bin + PM_TRACE_HDR_SIZE + 2 * PM_TRACE_REC_SIZE);
	ck_assert_int_eq(load_string((char *)bin, sizeof(bin), PM_FMT_AUTO, &refs, err), 0);
	ck_assert_uint_eq(refs.n, 2);
	ck_assert_uint_eq(refs.page_size, 8192);
	ck_assert_uint_eq(refs.va[1], 0x6000);
	ck_assert_uint_eq(refs.access[0], PM_PROT_WRITE);
	pm_refs_free(&refs);
	ck_assert_int_eq(load_string((char *)bin, sizeof(bin) - 5, PM_FMT_PAGEMU, &refs, err), -EINVAL);
	ck_assert_msg(strstr(err, "record 3"), "%s", err);
	pm_refs_free(&refs);
}
END_TEST

/* ---- the simulator as a subprocess ----------------------------------------- */

static const char sim_path[] = PM_BUILD_DIR "/pagemu-sim";
static char tmpdir[] = "/tmp/pagemu-test-sim-XXXXXX";

/* pagemu-sim of this build: make builds it, so its absence fails. */
static void need_sim(void)
{
	ck_assert_msg(access(sim_path, X_OK) == 0, "%s is not built (make)", sim_path);
}

/* Run the simulator with args; stdout into out, stderr into err. Returns
 * the exit status. */
static int sim(const char *args, char *out, size_t outlen, char *err, size_t errlen)
{
	char cmd[8192], errfile[256];
	FILE *p, *e;
	size_t n;
	int st;

	snprintf(errfile, sizeof(errfile), "%s/stderr", tmpdir);
	snprintf(cmd, sizeof(cmd), "%s %s 2>%s", sim_path, args, errfile);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	e = fopen(errfile, "r");
	ck_assert_ptr_nonnull(e);
	n = fread(err, 1, errlen - 1, e);
	err[n] = '\0';
	fclose(e);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char trace_path[512];

static void sim_setup(void)
{
	char cmd[1024];

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(trace_path, sizeof(trace_path), "%s/lackey.txt", tmpdir);
	snprintf(cmd, sizeof(cmd), "valgrind --tool=lackey --trace-mem=yes --log-file=%s /bin/ls / >/dev/null 2>&1",
		 trace_path);
	if (system("valgrind --version >/dev/null 2>&1") == 0 && system(cmd) == 0)
		return;
	fprintf(stderr, "test_sim: valgrind not available; using tests/data/lackey-true.txt\n");
	snprintf(trace_path, sizeof(trace_path), "%s/tests/data/lackey-true.txt", PM_SRC_DIR);
}

static void sim_teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

#define NCOUNTS 7
static const unsigned counts[NCOUNTS] = { 1, 2, 4, 8, 16, 32, 64 };
static const char *const policies[] = { "opt", "lru", "fifo", "clock", "random" };

/* Faults of one policy at every count, from --json. */
static void sweep(const char *policy, uint64_t *faults)
{
	static char out[1 << 16], err[4096];
	char args[1024];
	const char *p = out;

	snprintf(args, sizeof(args), "--json --policy %s --frames 1,2,4,8,16,32,64 %s", policy, trace_path);
	ck_assert_msg(sim(args, out, sizeof(out), err, sizeof(err)) == 0, "%s: %s", policy, err);
	ck_assert_int_eq(out[0], '[');
	for (int i = 0; i < NCOUNTS; i++) {
		unsigned long long fr, f;
		p = strstr(p, "\"frames\":");
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(sscanf(p, "\"frames\":%llu,\"refs\":%*u,\"faults\":%llu", &fr, &f), 2);
		ck_assert_uint_eq(fr, counts[i]);
		faults[i] = f;
		p++;
	}
}

START_TEST(sim_sweeps_on_a_real_trace)
{
	uint64_t f[PM_ARRAY_LEN(policies)][NCOUNTS];

	need_sim();
	for (size_t p = 0; p < PM_ARRAY_LEN(policies); p++)
		sweep(policies[p], f[p]);
	for (int i = 0; i < NCOUNTS; i++) {
		ck_assert_uint_gt(f[0][i], 0);
		for (size_t p = 1; p < PM_ARRAY_LEN(policies); p++)
			ck_assert_msg(f[0][i] <= f[p][i], "opt %llu > %s %llu at %u frames",
				      (unsigned long long)f[0][i], policies[p], (unsigned long long)f[p][i], counts[i]);
		if (i) {
			ck_assert_uint_le(f[0][i], f[0][i - 1]);      /* OPT and LRU: stack algorithms */
			ck_assert_uint_le(f[1][i], f[1][i - 1]);
		}
	}
	/* the one-pass LRU sweep equals a model run per count */
	{
		static char out[1 << 16], err[4096];
		char args[1024];
		unsigned long long fr, faults;
		snprintf(args, sizeof(args), "--json --policy lru --frames 8 %s", trace_path);
		ck_assert_int_eq(sim(args, out, sizeof(out), err, sizeof(err)), 0);
		ck_assert_int_eq(sscanf(out, "{\"policy\":\"lru\",\"frames\":%llu,\"refs\":%*u,\"faults\":%llu", &fr, &faults), 2);
		ck_assert_uint_eq(faults, f[1][3]);
		ck_assert_ptr_nonnull(strstr(out, "\"tlb_misses\":"));
	}
}
END_TEST

START_TEST(sim_textbook_numbers)
{
	static char out[1 << 14], err[4096];

	need_sim();
	ck_assert_int_eq(sim("--refs 1,2,3,4,1,2,5,1,2,3,4,5 --policy fifo --frames 3,4 --json",
			     out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"frames\":3,\"refs\":12,\"faults\":9,"));
	ck_assert_ptr_nonnull(strstr(out, "\"frames\":4,\"refs\":12,\"faults\":10,"));
	ck_assert_int_eq(sim("--refs 7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1 --policy opt --frames 3 --json",
			     out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"faults\":9,"));
	ck_assert_int_eq(sim("--refs 7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1 --policy clock --frames 3",
			     out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(out, "      14 "));
	ck_assert_int_eq(sim("--help", out, sizeof(out), err, sizeof(err)), 0);
	for (const char *o = "--refs\0--format\0--policy\0--frames\0--seed\0--full\0--page-bits\0--va-bits\0"
			     "--pa-bits\0--levels\0--tlb\0--cache\0--json\0--data-only\0--help\0"; *o; o += strlen(o) + 1)
		ck_assert_msg(strstr(out, o), "--help does not document %s", o);
}
END_TEST

START_TEST(sim_errors)
{
	static char out[1 << 14], err[4096];
	char args[1024], bad[600];
	FILE *f;

	need_sim();
	/* a malformed line: exit 1, the line number in the message */
	snprintf(bad, sizeof(bad), "%s/bad.txt", tmpdir);
	f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("I  0401ab70,3\n L 04222cac,4\n L 0422zz,4\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "%s", bad);
	ck_assert_int_eq(sim(args, out, sizeof(out), err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "bad.txt:3:"), "%s", err);
	/* garbage bytes */
	f = fopen(bad, "w");
	fwrite("PAGEMUTR\x01\0\0\0\x20\0\0\0", 1, 16, f);
	fclose(f);
	ck_assert_int_eq(sim(args, out, sizeof(out), err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "not a pagemu trace"), "%s", err);
	/* bad options name the option */
	ck_assert_int_eq(sim("--frames 0 --refs 1", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--frames"));
	ck_assert_int_eq(sim("--tlb 4y4 --refs 1", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--tlb"));
	ck_assert_int_eq(sim("--cache 3x1x4 --refs 1", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "cache_sets"));
	ck_assert_int_eq(sim("--policy belady --refs 1", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--policy"));
	ck_assert_int_eq(sim("--refs 1,x", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--refs"));
	ck_assert_int_eq(sim("--va-bits 20 --refs 1,300", out, sizeof(out), err, sizeof(err)), 1);
	ck_assert_ptr_nonnull(strstr(err, "reference 2"));
	ck_assert_int_eq(sim("/nonexistent/trace", out, sizeof(out), err, sizeof(err)), 1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/trace"));
	ck_assert_int_eq(sim("--frames", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--frames"));
}
END_TEST

/* ---- the analyses: --mrc, --lifetime, --ws, --belady ------------------------- */

static const char lackey_data[] = PM_SRC_DIR "/tests/data/lackey-true.txt";

/* The whole of a file, into buf. */
static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* The acceptance test of issue 12: --mrc's one pass for LRU and OPT gives
 * the counts of running each frame count separately. */
START_TEST(sim_mrc_equals_separate_runs)
{
	static char out[1 << 16], err[4096], csv[1 << 16];
	char args[1024], path[600];
	const char *line;
	int rows = 0;

	need_sim();
	snprintf(args, sizeof(args), "--mrc --frames 1-16 --out %s/mrc %s", tmpdir, lackey_data);
	ck_assert_msg(sim(args, out, sizeof(out), err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(out, "miss-ratio curve"));
	snprintf(path, sizeof(path), "%s/mrc/mrc.png", tmpdir);
	ck_assert_msg(access(path, R_OK) == 0, "no %s", path);
	snprintf(path, sizeof(path), "%s/mrc/mrc.csv", tmpdir);
	slurp(path, csv, sizeof(csv));
	ck_assert_msg(strncmp(csv, "frames,refs,clock_faults,fifo_faults,lru_faults,random_faults,opt_faults\n",
			      strlen("frames,refs,clock_faults,fifo_faults,lru_faults,random_faults,opt_faults\n")) == 0,
		      "%s", csv);
	for (line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
		unsigned long long fr, refs, c, fi, lru, rnd, opt, one;
		static const char *const pol[2] = { "lru", "opt" };
		ck_assert_int_eq(sscanf(line, "%llu,%llu,%llu,%llu,%llu,%llu,%llu", &fr, &refs, &c, &fi, &lru, &rnd, &opt), 7);
		for (int p = 0; p < 2; p++) {
			snprintf(args, sizeof(args), "--json --policy %s --frames %llu %s", pol[p], fr, lackey_data);
			ck_assert_msg(sim(args, out, sizeof(out), err, sizeof(err)) == 0, "%s", err);
			ck_assert_int_eq(sscanf(strstr(out, "\"faults\":"), "\"faults\":%llu", &one), 1);
			ck_assert_msg(one == (p ? opt : lru), "%s, %llu frames: --mrc %llu, alone %llu", pol[p], fr,
				      p ? opt : lru, one);
		}
		ck_assert_uint_le(opt, lru);
		ck_assert_uint_le(opt, c);
		ck_assert_uint_le(opt, fi);
		ck_assert_uint_le(opt, rnd);
		rows++;
	}
	ck_assert_int_eq(rows, 16);
}
END_TEST

START_TEST(sim_working_set_and_lifetime)
{
	static char out[1 << 16], err[4096], csv[1 << 16];
	char args[1024], path[600];

	need_sim();
	/* Silberschatz's working-set string (see test_curve.c): W(10) and W(26) */
	snprintf(args, sizeof(args), "--refs 2,6,1,5,7,7,7,7,5,1,6,2,3,4,1,2,3,4,4,4,3,4,3,4,4,4,1,3,2,3,4,4,4,3,4,4,4 "
		 "--ws 10,1 --out %s/ws", tmpdir);
	ck_assert_msg(sim(args, out, sizeof(out), err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(strstr(out, "tau         10: mean |W| 4.35 pages, largest 7"), "%s", out);
	ck_assert_msg(strstr(out, "tau          1: mean |W| 1.00 pages, largest 1"), "%s", out);
	snprintf(path, sizeof(path), "%s/ws/ws.csv", tmpdir);
	slurp(path, csv, sizeof(csv));
	ck_assert_msg(strstr(csv, "t,page,ws_10,ws_1\n1,2,1,1\n"), "%s", csv);
	ck_assert_msg(strstr(csv, "\n10,1,5,1\n"), "%s", csv);
	ck_assert_msg(strstr(csv, "\n26,4,2,1\n"), "%s", csv);
	snprintf(path, sizeof(path), "%s/ws/ws.png", tmpdir);
	ck_assert_msg(access(path, R_OK) == 0, "no %s", path);

	/* --lifetime: the knee of a trace that fits in 8 frames */
	snprintf(args, sizeof(args), "--lifetime --policy lru --frames 1-12 %s", lackey_data);
	ck_assert_msg(sim(args, out, sizeof(out), err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(strstr(out, "lifetime curve (lru)") && strstr(out, "<- knee") && strstr(out, "knee: "), "%s", out);

	/* --belady finds Belady's string */
	ck_assert_int_eq(sim("--refs 1,2,3,4,1,2,5,1,2,3,4,5 --belady --frames 1-6", out, sizeof(out), err,
			     sizeof(err)), 0);
	ck_assert_msg(strstr(out, "1 place where more frames fault more") &&
		      strstr(out, "3 frames: 9 faults; 4 frames: 10 faults (+1)"), "%s", out);
	ck_assert_int_eq(sim("--refs 1,2,3,1,2,3 --belady", out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_msg(strstr(out, "none: faults never rise"), "%s", out);
}
END_TEST

START_TEST(sim_analysis_errors)
{
	static char out[1 << 14], err[4096];

	need_sim();
	ck_assert_int_eq(sim("--refs 1,2 --ws 0", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--ws"));
	ck_assert_int_eq(sim("--refs 1,2 --ws 1,2,3,4,5,6,7,8,9", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--ws"));
	ck_assert_int_eq(sim("--refs 1,2 --out x", out, sizeof(out), err, sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--out"));
	ck_assert_int_eq(sim("--refs 1,2 --mrc --out /nonexistent/dir/x", out, sizeof(out), err, sizeof(err)), 1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/x"));
	/* no gnuplot on PATH: --out names the package, and writes nothing */
	{
		char cmd[2048], errfile[600], dir[600];
		snprintf(dir, sizeof(dir), "%s/nogp", tmpdir);
		snprintf(errfile, sizeof(errfile), "%s/nogp.err", tmpdir);
		snprintf(cmd, sizeof(cmd), "PATH=/nonexistent %s --refs 1,2 --mrc --out %s >/dev/null 2>%s", sim_path, dir,
			 errfile);
		ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
		slurp(errfile, err, sizeof(err));
		ck_assert_msg(strstr(err, "gnuplot-nox"), "%s", err);
		ck_assert_int_ne(access(dir, F_OK), 0);
	}
	/* no scratch file: a pipe cannot be read twice, OPT's future has no
	 * disk; the message says which and where */
	{
		char cmd[2048], errfile[600];
		snprintf(errfile, sizeof(errfile), "%s/noscratch.err", tmpdir);
		snprintf(cmd, sizeof(cmd), "printf '1\\n2\\n' | TMPDIR=/nonexistent/tmp %s --format pages --ws 5 - "
			 ">/dev/null 2>%s", sim_path, errfile);
		ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
		slurp(errfile, err, sizeof(err));
		ck_assert_msg(strstr(err, "-: OPT, --mrc, --lifetime, --ws and --belady read a trace more than once") &&
			      strstr(err, "/nonexistent/tmp (TMPDIR)"), "%s", err);
		snprintf(cmd, sizeof(cmd), "TMPDIR=/nonexistent/tmp %s --policy opt %s >/dev/null 2>%s", sim_path,
			 lackey_data, errfile);
		ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
		slurp(errfile, err, sizeof(err));
		ck_assert_msg(strstr(err, "OPT keeps the next use of every reference in scratch files") &&
			      strstr(err, "/nonexistent/tmp (TMPDIR)"), "%s", err);
	}
}
END_TEST

/* ---- streaming: a trace larger than the memory that replays it ------------ */

/* A deterministic stream with locality (a sweep, a hot set, far pages). */
static uint64_t stream_va(uint64_t *s, uint64_t *seq)
{
	uint64_t r = pm_xorshift64s(s);
	unsigned pick = (unsigned)(r % 100);

	if (pick < 60) {
		*seq = (*seq + 64) & ((16ULL << 20) - 1);
		return 0x10000000ULL + *seq;
	}
	if (pick < 95)
		return 0x40000000ULL + (r >> 8) % (512ULL << 12);
	return 0x80000000ULL + (r >> 8) % (1ULL << 28);
}

/* "faults" and "tlb_misses" of the object of pagemu-sim's --json array
 * that has "frames":frames. */
static void json_counts(const char *out, uint64_t frames, unsigned long long *faults, unsigned long long *misses)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"frames\":%llu,", (unsigned long long)frames);
	p = strstr(out, key);
	ck_assert_msg(p, "no frames %llu in: %.300s", (unsigned long long)frames, out);
	ck_assert_int_eq(sscanf(p, "\"frames\":%*u,\"refs\":%*u,\"faults\":%llu", faults), 1);
	p = strstr(p, "\"tlb_misses\":");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "\"tlb_misses\":%llu", misses), 1);
}

/* "faults" of the object of pagemu-sim's --json output that has
 * "frames":frames. */
static unsigned long long json_faults(const char *out, uint64_t frames)
{
	unsigned long long faults = 0;
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"frames\":%llu,", (unsigned long long)frames);
	ck_assert_msg((p = strstr(out, key)) != NULL, "no frames %llu in: %.300s", (unsigned long long)frames, out);
	ck_assert_int_eq(sscanf(p, "\"frames\":%*u,\"refs\":%*u,\"faults\":%llu", &faults), 1);
	return faults;
}

/* pagemu-sim with argv, its standard input and output pipes: *in to
 * write the trace to, *out to read its report from. */
static pid_t spawn_sim(char *const argv[], int *in, int *out)
{
	int i[2], o[2];
	pid_t pid;

	ck_assert_int_eq(pipe(i), 0);
	ck_assert_int_eq(pipe(o), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* A sanitizer build's pagemu-sim: ASan's quarantine of freed
		 * memory would count in its peak RSS, which is not the stream's. */
		const char *asan = getenv("ASAN_OPTIONS");
		char opts[1024];
		snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0", asan ? asan : "", asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
		dup2(i[0], 0);
		dup2(o[1], 1);
		close(i[0]);
		close(i[1]);
		close(o[0]);
		close(o[1]);
		execv(sim_path, argv);
		_exit(127);
	}
	close(i[0]);
	close(o[1]);
	/* not inherited by a pagemu-sim spawned next: each sees its own EOF */
	fcntl(i[1], F_SETFD, FD_CLOEXEC);
	fcntl(o[0], F_SETFD, FD_CLOEXEC);
	*in = i[1];
	*out = o[0];
	return pid;
}

static void write_all(int fd, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t r = write(fd, (const char *)buf + off, len - off);
		ck_assert_int_gt(r, 0);
		off += (size_t)r;
	}
}

/* n addresses of stream_va from seed, as text lines, to every fd of fds
 * in 64 KiB writes; va[i] receives address i. */
static void write_stream_addrs(const int *fds, int nfd, uint64_t *va, size_t n, uint64_t seed)
{
	static char line[64 * 1024];
	uint64_t seq = 0;
	size_t fill = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n) {
			va[i] = stream_va(&seed, &seq);
			fill += (size_t)snprintf(line + fill, sizeof(line) - fill, "0x%llx\n", (unsigned long long)va[i]);
		}
		if (fill > sizeof(line) - 32 || (i == n && fill)) {
			for (int k = 0; k < nfd; k++)
				write_all(fds[k], line, fill);
			fill = 0;
		}
	}
}

/* The report, then the exit status and peak RSS (KiB) of pid. */
static void finish_sim(pid_t pid, int out, char *buf, size_t len, long *maxrss_kib)
{
	struct rusage ru;
	size_t got = 0;
	ssize_t r;
	int st;

	while (got < len - 1 && (r = read(out, buf + got, len - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(out);
	ck_assert_int_eq(wait4(pid, &st, 0, &ru), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pagemu-sim failed (%d): %.200s", st, buf);
	*maxrss_kib = ru.ru_maxrss;
}

/* pagemu-sim reads a binary trace of 256 MiB (8M records) from a pipe,
 * two frame counts side by side, in a fraction of that memory (its peak
 * RSS, from wait4), and counts what the model counts replaying the same
 * references in this process. The whole trace never exists anywhere: the
 * records are made as they are written. */
START_TEST(sim_streams_a_trace_larger_than_its_memory)
{
	static const uint64_t frames[2] = { 300, 5000 };
	const size_t nrec = 8u << 20, chunk = 4096;
	static uint8_t buf[4096 * PM_TRACE_REC_SIZE];
	static uint64_t va[4096];
	static uint8_t acc[4096];
	static char out[1 << 16];
	static char *const argv[] = { "pagemu-sim", "--policy", "clock", "--frames", "300,5000", "--json", "-", NULL };
	pagemu_model_t *m[2];
	pagemu_model_config_t c;
	pm_trace_hdr_t h = { PM_TRACE_VERSION, 4096, 0, 0 };
	uint64_t s = 99, seq = 0;
	long maxrss;
	int in, outp;
	pid_t pid;

	need_sim();
	pagemu_model_config_default(&c);
	c.policy = PAGEMU_POLICY_CLOCK;
	for (int j = 0; j < 2; j++) {
		c.frames = frames[j];
		ck_assert_int_eq(pagemu_model_new(&c, &m[j]), 0);
	}
	pid = spawn_sim(argv, &in, &outp);
	pm_trace_encode_header(&h, buf);
	write_all(in, buf, PM_TRACE_HDR_SIZE);
	for (size_t done = 0; done < nrec; done += chunk) {
		for (size_t i = 0; i < chunk; i++) {
			pm_trace_rec_t rec = { 0 };
			rec.va = va[i] = stream_va(&s, &seq);
			rec.kind = i % 97 == 0 ? PM_TRACE_MAJOR : PM_TRACE_REF;
			rec.access = acc[i] = i % 3 ? PM_PROT_READ : PM_PROT_WRITE;
			rec.ppn = rec.slot = PM_TRACE_NO_PPN;
			pm_trace_encode(&rec, buf + i * PM_TRACE_REC_SIZE);
		}
		for (int j = 0; j < 2; j++)
			pagemu_model_replay(m[j], va, acc, chunk, NULL);
		write_all(in, buf, sizeof(buf));
	}
	close(in);
	finish_sim(pid, outp, out, sizeof(out), &maxrss);
	for (int j = 0; j < 2; j++) {
		pagemu_model_stats_t ms;
		unsigned long long faults, misses;
		pagemu_model_get_stats(m[j], &ms);
		ck_assert_uint_eq(ms.refs, nrec);
		json_counts(out, frames[j], &faults, &misses);
		ck_assert_uint_eq(faults, ms.faults);
		ck_assert_uint_eq(misses, ms.tlb_misses);
		pagemu_model_free(m[j]);
	}
	/* 256 MiB of trace, 72 MiB had it been loaded as references; the
	 * stream keeps one batch. ru_maxrss is in KiB; the bound leaves room
	 * for a sanitizer build's own memory. */
	ck_assert_msg(maxrss < 48 * 1024, "pagemu-sim peaked at %ld KiB for a %zu MiB trace", maxrss,
		      nrec * PM_TRACE_REC_SIZE >> 20);
}
END_TEST

/* LRU's one-pass sweep streams too: 3M addresses as text (36 MiB) through
 * a pipe, faults at three frame counts equal to pm_lru_sweep over the
 * whole string in memory here, in memory bounded by the pages seen. */
START_TEST(sim_streams_an_lru_sweep)
{
	static const uint64_t frames[3] = { 100, 2000, 40000 };
	static char *const argv[] = { "pagemu-sim", "--format", "addrs", "--policy", "lru", "--frames",
				      "100,2000,40000", "--json", "-", NULL };
	const size_t n = 3u << 20;
	static char out[1 << 16];
	uint64_t *pages = malloc(n * sizeof(*pages)), faults[3];
	long maxrss;
	int in, outp;
	pid_t pid;

	need_sim();
	ck_assert_ptr_nonnull(pages);
	pid = spawn_sim(argv, &in, &outp);
	write_stream_addrs(&in, 1, pages, n, 5);
	for (size_t i = 0; i < n; i++)
		pages[i] >>= 12;
	close(in);
	finish_sim(pid, outp, out, sizeof(out), &maxrss);
	ck_assert_int_eq(pm_lru_sweep(pages, n, frames, 3, faults), 0);
	for (int j = 0; j < 3; j++)
		ck_assert_uint_eq(json_faults(out, frames[j]), faults[j]);
	free(pages);
	ck_assert_msg(maxrss < 48 * 1024, "pagemu-sim peaked at %ld KiB", maxrss);
}
END_TEST

/* Silberschatz's working-set figure, from its fixture file
 * (tests/data/silberschatz-ws.txt): |W(10, 10)| = 5 and |W(26, 10)| = 2,
 * from the file and from a pipe (copied to a scratch file, read twice). */
START_TEST(sim_ws_textbook_fixture)
{
	static char out[1 << 14], err[4096], csv[1 << 14], text[4096];
	static const char fixture[] = PM_SRC_DIR "/tests/data/silberschatz-ws.txt";
	char args[1024], path[600], dir[600];
	long maxrss;
	int in, outp;
	FILE *f;
	size_t len;

	need_sim();
	snprintf(args, sizeof(args), "--format pages --ws 10 --out %s/wsfix %s", tmpdir, fixture);
	ck_assert_msg(sim(args, out, sizeof(out), err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(strstr(out, "37 references to 7 distinct pages"), "%s", out);
	snprintf(path, sizeof(path), "%s/wsfix/ws.csv", tmpdir);
	slurp(path, csv, sizeof(csv));
	ck_assert_msg(strstr(csv, "\n10,1,5\n") && strstr(csv, "\n26,4,2\n"), "%s", csv);

	ck_assert_ptr_nonnull(f = fopen(fixture, "r"));
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	snprintf(dir, sizeof(dir), "%s/wspipe", tmpdir);
	{
		char *const argv[] = { "pagemu-sim", "--format", "pages", "--ws", "10", "--out", dir, "-", NULL };
		pid_t pid = spawn_sim(argv, &in, &outp);
		write_all(in, text, len);
		close(in);
		finish_sim(pid, outp, out, sizeof(out), &maxrss);
	}
	ck_assert_msg(strstr(out, "tau         10: mean |W| 4.35 pages, largest 7"), "%s", out);
	snprintf(path, sizeof(path), "%s/wspipe/ws.csv", tmpdir);
	slurp(path, out, sizeof(out));
	ck_assert_str_eq(out, csv);
}
END_TEST

/* The value of column col (0-based) of the CSV row that starts "key,". */
static unsigned long long csv_field(const char *csv, const char *key, int col)
{
	char k[64];
	const char *p;
	unsigned long long v = 0;

	snprintf(k, sizeof(k), "\n%s,", key);
	ck_assert_msg((p = strstr(csv, k)) != NULL, "no row %s in %.200s", key, csv);
	p++;
	for (int c = 0; c < col; c++)
		ck_assert_ptr_nonnull(p = strchr(p, ',') + 1);
	ck_assert_int_eq(sscanf(p, "%llu", &v), 1);
	return v;
}

/* Every analysis, and OPT, over 3M addresses (36 MiB of text) through a
 * pipe: the counts of the whole string computed here in memory, from a
 * pagemu-sim whose peak RSS stays far below what the references take
 * loaded (27 MiB; pagemu-sim loading them, before the analyses streamed,
 * peaked at 145 MiB). */
START_TEST(sim_streams_every_analysis)
{
	static const uint64_t frames[3] = { 100, 500, 2000 };
	static const char *const pol[] = { "clock", "fifo", "lru", "random" };
	const size_t n = 3u << 20, step = (n + 99999) / 100000;
	static char out[1 << 16], opt_out[4096], line[64 * 1024], dir[600], path[700], row[256];
	uint64_t *pages = malloc(n * sizeof(*pages)), *va = malloc(n * sizeof(*va)), faults[3];
	uint8_t *acc = malloc(n);
	uint32_t *w = malloc(n * sizeof(*w));
	size_t rows = 0, wrong = SIZE_MAX;
	pagemu_model_config_t cfg;
	long maxrss;
	int in, outp, in_opt, outp_opt;
	pid_t pid, pid_opt;
	FILE *f;

	need_sim();
	ck_assert(pages && va && acc && w);
	snprintf(dir, sizeof(dir), "%s/every", tmpdir);
	/* Both started before this process touches its arrays: a child's
	 * ru_maxrss counts what it inherited at the fork, until its exec. */
	{
		char *const argv[] = { "pagemu-sim", "--format", "addrs", "--mrc", "--lifetime", "--policy", "clock",
				       "--ws", "1000", "--belady", "--frames", "100,500,2000", "--out", dir, "-", NULL };
		char *const argv_opt[] = { "pagemu-sim", "--format", "addrs", "--policy", "opt", "--frames",
					   "100,500,2000", "--json", "-", NULL };
		pid = spawn_sim(argv, &in, &outp);
		pid_opt = spawn_sim(argv_opt, &in_opt, &outp_opt);
	}
	/* (both read all their input before they write: no deadlock) */
	{
		int fds[2] = { in, in_opt };
		write_stream_addrs(fds, 2, va, n, 7);
	}
	for (size_t i = 0; i < n; i++) {
		acc[i] = PM_PROT_READ;
		pages[i] = va[i] >> 12;
	}
	close(in);
	close(in_opt);
	finish_sim(pid, outp, out, sizeof(out), &maxrss);
	ck_assert_msg(strstr(out, "Belady's anomaly under fifo"), "%s", out);
	ck_assert_msg(maxrss < 48 * 1024, "pagemu-sim peaked at %ld KiB", maxrss);
	finish_sim(pid_opt, outp_opt, opt_out, sizeof(opt_out), &maxrss);
	ck_assert_msg(maxrss < 48 * 1024, "pagemu-sim --policy opt peaked at %ld KiB", maxrss);

	/* mrc.csv: frames,refs,clock,fifo,lru,random,opt */
	snprintf(path, sizeof(path), "%s/mrc.csv", dir);
	slurp(path, line, sizeof(line));
	pagemu_model_config_default(&cfg);
	for (int p = 0; p < 4; p++) {
		cfg.policy = (pagemu_policy_t)p;
		ck_assert_str_eq(pagemu_policy_name(cfg.policy), pol[p]);
		for (int j = 0; j < 3; j++) {
			pagemu_model_t *m;
			pagemu_model_stats_t st;
			char key[32];
			cfg.frames = frames[j];
			ck_assert_int_eq(pagemu_model_new(&cfg, &m), 0);
			ck_assert_int_eq(pagemu_model_replay(m, va, acc, n, NULL), 0);
			pagemu_model_get_stats(m, &st);
			pagemu_model_free(m);
			snprintf(key, sizeof(key), "%llu", (unsigned long long)frames[j]);
			ck_assert_uint_eq(csv_field(line, key, 1), n);
			ck_assert_msg(csv_field(line, key, 2 + p) == st.faults, "%s, %s frames: %llu, want %llu", pol[p],
				      key, csv_field(line, key, 2 + p), (unsigned long long)st.faults);
		}
	}
	ck_assert_int_eq(pm_opt_sweep(pages, n, frames, 3, faults), 0);
	for (int j = 0; j < 3; j++) {
		char key[32];
		snprintf(key, sizeof(key), "%llu", (unsigned long long)frames[j]);
		ck_assert_uint_eq(csv_field(line, key, 6), faults[j]);
	}
	/* lifetime.csv (clock): the same faults as the curve */
	snprintf(path, sizeof(path), "%s/lifetime.csv", dir);
	slurp(path, out, sizeof(out));
	ck_assert_uint_eq(csv_field(out, "500", 2), csv_field(line, "500", 2));
	/* ws.csv: every sampled row against the whole string's sizes */
	ck_assert_int_eq(pm_ws_sizes(pages, n, 1000, w), 0);
	snprintf(path, sizeof(path), "%s/ws.csv", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(row, sizeof(row), f));
	while (fgets(row, sizeof(row), f)) {
		unsigned long long t, page, size;
		if (sscanf(row, "%llu,%llu,%llu", &t, &page, &size) != 3 || t != rows * step + 1 ||
		    page != pages[t - 1] || size != w[t - 1])
			wrong = wrong == SIZE_MAX ? rows : wrong;
		rows++;
	}
	fclose(f);
	ck_assert_msg(wrong == SIZE_MAX, "ws.csv row %zu differs", wrong + 1);
	ck_assert_uint_eq(rows, (n + step - 1) / step);

	/* OPT alone: its future through two scratch files */
	for (int j = 0; j < 3; j++)
		ck_assert_uint_eq(json_faults(opt_out, frames[j]), faults[j]);
	free(pages);
	free(va);
	free(acc);
	free(w);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("trace");
	TCase *ts = tcase_create("tool");

	tcase_add_test(tc, binary_roundtrip);
	tcase_add_test(tc, lackey_lines);
	tcase_add_test(tc, number_lists);
	tcase_add_test(tc, load_formats);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(ts, sim_setup, sim_teardown);
	tcase_set_timeout(ts, 120);
	tcase_add_test(ts, sim_sweeps_on_a_real_trace);
	tcase_add_test(ts, sim_textbook_numbers);
	tcase_add_test(ts, sim_errors);
	tcase_add_test(ts, sim_mrc_equals_separate_runs);
	tcase_add_test(ts, sim_working_set_and_lifetime);
	tcase_add_test(ts, sim_analysis_errors);
	tcase_add_test(ts, sim_streams_a_trace_larger_than_its_memory);
	tcase_add_test(ts, sim_streams_an_lru_sweep);
	tcase_add_test(ts, sim_ws_textbook_fixture);
	tcase_add_test(ts, sim_streams_every_analysis);
	suite_add_tcase(s, ts);
	return s;
}

PM_TEST_MAIN(make_suite)
