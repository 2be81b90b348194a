/* pagemu-sim - replay an address trace through the model.
 *
 *   pagemu-sim [options] [TRACE | -]
 *   pagemu-sim --refs 1,2,3,4,1,2,5,1,2,3,4,5 --policy fifo --frames 3,4
 *
 * Any geometry, policy and frame count; a list of frame counts is a sweep.
 * LRU sweeps take one pass over the trace (a stack algorithm: see
 * lib/model/opt.c) and OPT its future's passes (lib/model/future.c); both
 * report faults only. Other policies, or --full, run the model once per
 * frame count and also report TLB and cache behaviour. Every mode streams
 * the trace: memory is bounded by its distinct pages and the frame counts
 * (README, "The simulator").
 * Exit status: 0 ok, 1 bad trace or failure, 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "tools.h"

#define MAX_COUNTS 256

typedef struct sim {
	pagemu_model_config_t cfg;        /* geometry, policy, seed */
	uint64_t frames[MAX_COUNTS];      /* frame counts to run */
	size_t   nframes;
	const char *refs_inline;          /* --refs */
	const char *path;                 /* trace file, "-" = stdin */
	enum pm_trace_fmt fmt;            /* --format */
	int      page_bits_set;           /* --page-bits given */
	int      data_only;               /* skip lackey instruction fetches */
	int      json;                    /* --json */
	int      full;                    /* --full: model run per count even for lru */
	int      frames_set;              /* --frames given */
	uint64_t taus[PM_ANALYSIS_MAX_TAUS]; /* --ws */
	size_t   ntaus;
	int      mrc, lifetime, belady;   /* --mrc, --lifetime, --belady */
	const char *out;                  /* --out DIR */
} sim_t;

typedef struct result {
	uint64_t frames, refs, faults, evictions;
	int      has_stats;               /* 1 = a model run: stats valid */
	pagemu_model_stats_t stats;
} result_t;

static void usage(FILE *f)
{
	fprintf(f,
"usage: pagemu-sim [options] [TRACE | -]\n"
"Replay a reference trace through pagemu's model (page table, TLB, cache,\n"
"replacement) and report faults for one or several frame counts.\n"
"\n"
"Input (one of):\n"
"  TRACE, -              a trace file, or standard input\n"
"  --refs LIST           page numbers inline: 1,2,3,4,1,2,5\n"
"  --format F            pagemu   binary event trace (doc/TRACE.md)\n"
"                        lackey   valgrind --tool=lackey --trace-mem=yes output\n"
"                        addrs    addresses (0x... hex or decimal), blank/comma separated\n"
"                        pages    page numbers, same syntax\n"
"                        auto     (default) pagemu if the magic is there, lackey if\n"
"                                 the first line looks so, else addrs\n"
"  --data-only           lackey: skip instruction fetches (I lines)\n"
"\n"
"Replacement:\n"
"  --policy P            clock (default), fifo, lru, random, opt\n"
"  --frames LIST         frame counts: 64 or 1,2,4,8 or 1-16 (default 64); each\n"
"                        1 to 2^32-2, at most %d counts\n"
"  --seed N              seed of the random policy, 0 to 2^64-1 (default 1)\n"
"  --full                run the model per frame count even where one pass\n"
"                        suffices (lru sweeps), to get TLB and cache columns\n"
"\n"
"Geometry (defaults: x86-64-like):\n"
"  --page-bits N         log2 page size, 1 to 30 (default 12; a pagemu trace\n"
"                        sets it)\n"
"  --va-bits N           virtual address bits, 2 to 64 (default 48)\n"
"  --pa-bits N           physical address bits, 2 to 64 (default 52)\n"
"  --levels N            page-table levels, 1 to 8 (default 4)\n"
"  --tlb SxW[,SxW]       L1 [and L2] TLB sets x ways (default 16x4,128x12);\n"
"                        none = no TLB, an L2 of none or 0 = no L2; sets a\n"
"                        power of two, at most %u entries a level\n"
"  --tlb-policy P[,P]    TLB replacement of L1 [and L2]: lru (default), fifo,\n"
"                        random (seeded by --seed) or plru (tree pseudo-LRU, at\n"
"                        most 64 ways); one name sets both levels\n"
"  --tlb-exact           replay as pagemu's exact-TLB mode runs: the replacement\n"
"                        policy hears of a reference only when it walks the page\n"
"                        table (the hardware's Accessed bit), not on TLB hits\n"
"  --cache SxWxL         physical cache sets x ways x line bytes (default none);\n"
"                        sets and line powers of two, at most %u lines\n"
"                        and %u bytes of data\n"
"\n"
"Analyses of the whole trace (any of them, instead of the fault table):\n"
"  --mrc                 miss-ratio curve of every policy (lru and opt in one\n"
"                        pass each: stack algorithms; the others replayed per\n"
"                        frame count)\n"
"  --lifetime            lifetime curve of --policy: references per fault\n"
"                        against frames, and its knee\n"
"  --ws TAU[,TAU...]     working-set size W(t, tau) over the trace, and its mean\n"
"                        (at most %d windows)\n"
"  --belady              fifo over the frame counts: where more frames fault more\n"
"  --out DIR             also write CSV and PNG there (mrc, lifetime, ws; made if\n"
"                        missing; the PNGs need gnuplot)\n"
"  The frame counts of a curve: --frames, else 1 to the trace's distinct pages\n"
"  (at most %d, spread on a log scale).\n"
"\n"
"Output:\n"
"  --json                one JSON object per frame count (an array for several):\n"
"                        policy, frames, refs, faults, fault_rate, evictions, and\n"
"                        the model counters when the model ran\n"
"  --help                this text\n"
"\n"
"Numbers are decimal or 0x hex; a decimal one may end in K, M, G or T\n"
"(powers of 1024). A value out of its range is an error, never cut.\n"
"\n"
"Text output is a table: frames, refs, faults, fault rate, evictions, TLB\n"
"misses ('-' where a one-pass sweep does not model the TLB).\n",
		MAX_COUNTS, PM_MODEL_TLB_MAX, PM_MODEL_CACHE_MAX_LINES, PM_MODEL_CACHE_MAX_BYTES, PM_ANALYSIS_MAX_TAUS,
		PM_ANALYSIS_MAX_COUNTS);
}

static int die_usage(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "pagemu-sim: %s%s%s%s: %s (see --help)\n", opt, val ? " '" : "", val ? val : "",
		val ? "'" : "", why);
	return 2;
}

/* A number in [lo, hi] (lib/model/parse.c: strict, never wrapped). */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t v;

	if (pm_parse_range(s, lo, hi, &v) < 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_frames(const char *s, sim_t *sim)
{
	static uint64_t v[MAX_COUNTS];
	size_t n;

	if (pm_parse_counts(s, 1, UINT32_MAX - 1, v, MAX_COUNTS, &n) < 0)
		return -EINVAL;
	memcpy(sim->frames, v, n * sizeof(*v));
	sim->nframes = n;
	return 0;
}

enum { OPT_REFS = 256, OPT_FORMAT, OPT_POLICY, OPT_FRAMES, OPT_SEED, OPT_PAGE_BITS, OPT_VA_BITS,
       OPT_PA_BITS, OPT_LEVELS, OPT_TLB, OPT_TLB_POLICY, OPT_TLB_EXACT, OPT_CACHE, OPT_JSON, OPT_FULL,
       OPT_DATA_ONLY, OPT_HELP, OPT_MRC, OPT_LIFETIME, OPT_WS, OPT_BELADY, OPT_OUT };

static const struct option options[] = {
	{ "refs", required_argument, NULL, OPT_REFS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "frames", required_argument, NULL, OPT_FRAMES },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "page-bits", required_argument, NULL, OPT_PAGE_BITS },
	{ "va-bits", required_argument, NULL, OPT_VA_BITS },
	{ "pa-bits", required_argument, NULL, OPT_PA_BITS },
	{ "levels", required_argument, NULL, OPT_LEVELS },
	{ "tlb", required_argument, NULL, OPT_TLB },
	{ "tlb-policy", required_argument, NULL, OPT_TLB_POLICY },
	{ "tlb-exact", no_argument, NULL, OPT_TLB_EXACT },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "data-only", no_argument, NULL, OPT_DATA_ONLY },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "mrc", no_argument, NULL, OPT_MRC },
	{ "lifetime", no_argument, NULL, OPT_LIFETIME },
	{ "ws", required_argument, NULL, OPT_WS },
	{ "belady", no_argument, NULL, OPT_BELADY },
	{ "out", required_argument, NULL, OPT_OUT },
	{ NULL, 0, NULL, 0 },
};

/* 0 = go on, else the exit status. */
static int parse_args(int argc, char **argv, sim_t *sim)
{
	pagemu_model_config_t *c = &sim->cfg;
	unsigned sets[2], ways[2];
	uint64_t cache[3];
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
		switch (o) {
		case OPT_REFS: sim->refs_inline = optarg; break;
		case OPT_FORMAT:
			if (pm_trace_fmt_parse(optarg, &sim->fmt) < 0)
				return die_usage("--format", optarg, "expected pagemu, lackey, addrs, pages or auto");
			break;
		case OPT_POLICY:
			if (pagemu_policy_parse(optarg, &c->policy) < 0)
				return die_usage("--policy", optarg, "expected clock, fifo, lru, random or opt");
			break;
		case OPT_FRAMES:
			if (parse_frames(optarg, sim) < 0)
				return die_usage("--frames", optarg, "expected counts from 1 to 2^32-2 like 64, 1,2,4 or 1-16 (at most 256 counts)");
			sim->frames_set = 1;
			break;
		case OPT_MRC: sim->mrc = 1; break;
		case OPT_LIFETIME: sim->lifetime = 1; break;
		case OPT_BELADY: sim->belady = 1; break;
		case OPT_OUT: sim->out = optarg; break;
		case OPT_WS: {
			static uint64_t v[MAX_COUNTS];
			if (pm_parse_counts(optarg, 1, UINT32_MAX, v, MAX_COUNTS, &sim->ntaus) < 0 ||
			    sim->ntaus > PM_ANALYSIS_MAX_TAUS)
				return die_usage("--ws", optarg, "expected windows TAU[,TAU...] from 1 to 2^32-1 (at most 8)");
			memcpy(sim->taus, v, sim->ntaus * sizeof(*v));
			break;
		}
		case OPT_SEED:
			if (pm_parse_u64(optarg, &c->seed) < 0)
				return die_usage("--seed", optarg, "expected a number from 0 to 2^64-1");
			break;
		case OPT_PAGE_BITS:
			if (parse_uint(optarg, 1, 30, &c->page_bits) < 0)
				return die_usage("--page-bits", optarg, "expected 1..30");
			sim->page_bits_set = 1;
			break;
		case OPT_VA_BITS:
			if (parse_uint(optarg, 2, 64, &c->va_bits) < 0)
				return die_usage("--va-bits", optarg, "expected 2..64");
			break;
		case OPT_PA_BITS:
			if (parse_uint(optarg, 2, 64, &c->pa_bits) < 0)
				return die_usage("--pa-bits", optarg, "expected 2..64");
			break;
		case OPT_LEVELS:
			if (parse_uint(optarg, 1, PAGEMU_MAX_LEVELS, &c->pt_levels) < 0)
				return die_usage("--levels", optarg, "expected 1..8");
			break;
		case OPT_TLB:
			if (pm_parse_tlb(optarg, sets, ways) < 0)
				return die_usage("--tlb", optarg, "expected SETSxWAYS[,SETSxWAYS] or none");
			c->tlb_sets = sets[0];
			c->tlb_ways = ways[0];
			c->tlb2_sets = sets[1];
			c->tlb2_ways = ways[1];
			if (pm_model_check_tlb(c) < 0)
				return die_usage("--tlb", optarg, pagemu_last_error());
			break;
		case OPT_TLB_POLICY: {
			pagemu_tlb_policy_t pol[2];
			if (pm_parse_tlb_policy(optarg, pol) < 0)
				return die_usage("--tlb-policy", optarg, "expected lru, fifo, random or plru, or two of them: L1,L2");
			c->tlb_policy = pol[0];
			c->tlb2_policy = pol[1];
			if (pm_model_check_tlb(c) < 0)
				return die_usage("--tlb-policy", optarg, pagemu_last_error());
			break;
		}
		case OPT_TLB_EXACT: c->tlb_exact = 1; break;
		case OPT_CACHE:
			if (pm_parse_geom(optarg, 'x', 3, 1, UINT32_MAX, cache) < 0)
				return die_usage("--cache", optarg, "expected SETSxWAYSxLINE");
			c->cache_sets = (unsigned)cache[0];
			c->cache_ways = (unsigned)cache[1];
			c->cache_line = (unsigned)cache[2];
			if (pm_model_check_cache(c) < 0)
				return die_usage("--cache", optarg, pagemu_last_error());
			break;
		case OPT_JSON: sim->json = 1; break;
		case OPT_FULL: sim->full = 1; break;
		case OPT_DATA_ONLY: sim->data_only = 1; break;
		case OPT_HELP: usage(stdout); return -1;
		case ':': return die_usage(name, NULL, "needs a value");
		default: return die_usage(name, NULL, "unknown option");
		}
	}
	if (optind < argc)
		sim->path = argv[optind++];
	if (optind < argc)
		return die_usage(argv[optind], NULL, "only one trace file");
	if (sim->out && !sim->mrc && !sim->lifetime && !sim->ntaus)
		return die_usage("--out", sim->out, "writes the files of --mrc, --lifetime or --ws: give one of them");
	if (!sim->path == !sim->refs_inline)
		return die_usage(sim->path ? "--refs" : "TRACE", NULL, "give either a trace file or --refs");
	return 0;
}

/* A pagemu trace knows its page size (unless --page-bits says). 0 or 1. */
static int take_page_size(sim_t *sim, uint32_t page_size)
{
	if (page_size && !sim->page_bits_set) {
		if (!pm_is_pow2(page_size)) {
			fprintf(stderr, "pagemu-sim: %s: page size %u in the header is not a power of two\n",
				sim->path, page_size);
			return 1;
		}
		sim->cfg.page_bits = pm_log2(page_size);
	}
	return 0;
}

static FILE *open_trace(const sim_t *sim)
{
	FILE *f = strcmp(sim->path, "-") == 0 ? stdin : fopen(sim->path, "rb");

	if (!f)
		fprintf(stderr, "pagemu-sim: %s: %s\n", sim->path, strerror(errno));
	return f;
}

/* --refs: the string in memory. */
static int load_inline(sim_t *sim, pm_refs_t *refs)
{
	const char *p = sim->refs_inline;
	uint64_t page;
	int e;

	while ((e = pm_trace_next_number(&p, &page)) > 0)
		if (page > (UINT64_MAX >> sim->cfg.page_bits) ||
		    pm_refs_push(refs, page << sim->cfg.page_bits, PM_PROT_READ) < 0)
			break;
	if (e != 0) {
		fprintf(stderr, "pagemu-sim: --refs '%s': expected page numbers separated by commas\n",
			sim->refs_inline);
		return 2;
	}
	return 0;
}

/* A model per frame count, all fed the same references: one pass over
 * the trace, from memory or streamed. */
typedef struct runner {
	pagemu_model_t *m[MAX_COUNTS];
	size_t   n;                       /* models made */
	uint64_t refs;                    /* references fed so far */
} runner_t;

static void runner_free(runner_t *r)
{
	for (size_t j = 0; j < r->n; j++)
		pagemu_model_free(r->m[j]);
	r->n = 0;
}

/* 0, or the exit status. */
static int runner_init(runner_t *r, const sim_t *sim)
{
	pagemu_model_config_t c = sim->cfg;

	r->refs = 0;
	for (r->n = 0; r->n < sim->nframes; r->n++) {
		c.frames = sim->frames[r->n];
		if (pagemu_model_new(&c, &r->m[r->n]) < 0) {
			fprintf(stderr, "pagemu-sim: %s\n", pagemu_last_error());
			runner_free(r);
			return 2;
		}
	}
	return 0;
}

/* n more references to every model: 0, or the exit status. */
static int runner_feed(runner_t *r, const uint64_t *va, const uint8_t *access, size_t n)
{
	for (size_t j = 0; j < r->n; j++) {
		size_t done = 0;
		int e = pagemu_model_replay(r->m[j], va, access, n, &done);
		if (e < 0) {
			fprintf(stderr, "pagemu-sim: reference %llu: address 0x%llx %s\n",
				(unsigned long long)(r->refs + done + 1), (unsigned long long)va[done],
				e == -EINVAL ? "is beyond --va-bits" : "could not be modeled (out of memory)");
			return 1;
		}
	}
	r->refs += n;
	return 0;
}

static void runner_results(const runner_t *r, const sim_t *sim, result_t *res)
{
	for (size_t j = 0; j < r->n; j++) {
		pagemu_model_get_stats(r->m[j], &res[j].stats);
		res[j].frames = sim->frames[j];
		res[j].refs = res[j].stats.refs;
		res[j].faults = res[j].stats.faults;
		res[j].evictions = res[j].stats.evictions;
		res[j].has_stats = 1;
	}
}

/* The models over a trace in memory. */
static int run_models(const sim_t *sim, const pm_refs_t *refs, result_t *res)
{
	runner_t r;
	int st;

	if ((st = runner_init(&r, sim)) != 0)
		return st;
	if ((st = runner_feed(&r, refs->va, refs->access, refs->n)) == 0)
		runner_results(&r, sim, res);
	runner_free(&r);
	return st;
}

/* A model per frame count (or, lru_sweep, LRU's one pass) over a trace
 * streamed from its file or pipe, STREAM_BATCH references at a time: the
 * memory of the models (of the pages seen) and of one batch, however long
 * the trace. *nrefs: the references read. */
#define STREAM_BATCH (64u * 1024)

static void sweep_results(const sim_t *sim, uint64_t nrefs, const uint64_t *faults, result_t *res);

static int run_streamed(sim_t *sim, int lru_sweep, result_t *res, size_t *nrefs)
{
	pm_trace_stream_t ts;
	pm_lru_stream_t ls = { 0 };
	pm_refs_t batch = { 0 };
	runner_t r = { .n = 0 };
	FILE *f;
	int st = 1, e;

	if (!(f = open_trace(sim)))
		return 1;
	/* The page-number shift given here is the one --page-bits set: a
	 * pagemu trace, whose header may change it, holds addresses. */
	if (pm_trace_open(&ts, f, sim->path, sim->fmt, sim->cfg.page_bits, sim->data_only) < 0) {
		fprintf(stderr, "pagemu-sim: %s\n", ts.err);
		goto close_trace;
	}
	if ((st = take_page_size(sim, ts.page_size)) != 0)
		goto close_trace;
	if (lru_sweep ? pm_lru_stream_init(&ls, sim->frames, sim->nframes) < 0 : (st = runner_init(&r, sim)) != 0) {
		if (lru_sweep)
			fprintf(stderr, "pagemu-sim: out of memory\n");
		st = lru_sweep ? 1 : st;
		goto close_trace;
	}
	while ((e = pm_trace_read(&ts, &batch, STREAM_BATCH)) == 0 && batch.n > 0) {
		if (lru_sweep) {
			for (size_t i = 0; i < batch.n; i++)
				batch.va[i] >>= sim->cfg.page_bits;        /* pages, in place */
			if (pm_lru_stream_push(&ls, batch.va, batch.n) < 0) {
				fprintf(stderr, "pagemu-sim: out of memory\n");
				st = 1;
				goto free_models;
			}
			*nrefs += batch.n;
		} else if ((st = runner_feed(&r, batch.va, batch.access, batch.n)) != 0) {
			goto free_models;
		}
	}
	if (e < 0) {
		fprintf(stderr, "pagemu-sim: %s\n", ts.err);
		st = 1;
		goto free_models;
	}
	if (lru_sweep) {
		sweep_results(sim, *nrefs, ls.faults, res);
	} else {
		runner_results(&r, sim, res);
		*nrefs = r.refs;
	}
	st = 0;
free_models:
	runner_free(&r);
	pm_lru_stream_free(&ls);
close_trace:
	pm_trace_close(&ts);
	pm_refs_free(&batch);
	if (f != stdin)
		fclose(f);
	return st;
}

/* The table of a one-pass sweep: faults only. */
static void sweep_results(const sim_t *sim, uint64_t nrefs, const uint64_t *faults, result_t *res)
{
	for (size_t j = 0; j < sim->nframes; j++) {
		res[j].frames = sim->frames[j];
		res[j].refs = nrefs;
		res[j].faults = faults[j];
		/* frames fill first and stay full: every later fault evicts */
		res[j].evictions = faults[j] > sim->frames[j] ? faults[j] - sim->frames[j] : 0;
	}
}

/* OPT for every frame count: its future from pm_future's passes over the
 * source (two scratch files), then one OPT per count side by side, each
 * holding its resident pages only. */
static int run_opt(const sim_t *sim, const pm_ref_src_t *src, result_t *res, size_t *nrefs)
{
	static pm_opt_stream_t opt[MAX_COUNTS];
	static uint64_t faults[MAX_COUNTS];
	const uint32_t *ids;
	const uint64_t *next;
	pm_future_t fu;
	size_t n;
	int e;

	if ((e = pm_future_build(&fu, src, sim->cfg.page_bits)) < 0)
		return e;
	for (size_t j = 0; j < sim->nframes; j++)
		pm_opt_stream_init(&opt[j], sim->frames[j]);
	while ((e = pm_future_read(&fu, &ids, &next, &n)) == 0 && n > 0)
		for (size_t j = 0; j < sim->nframes && e == 0; j++)
			e = pm_opt_stream_push(&opt[j], ids, next, n);
	for (size_t j = 0; j < sim->nframes; j++) {
		faults[j] = opt[j].faults;
		pm_opt_stream_free(&opt[j]);
	}
	if (e == 0) {
		*nrefs = (size_t)fu.n;
		sweep_results(sim, fu.n, faults, res);
	}
	pm_future_free(&fu);
	return e;
}

/* LRU's one pass over the source (--refs: a file streams in run_streamed). */
static int run_lru(const sim_t *sim, const pm_ref_src_t *src, uint64_t nrefs, result_t *res)
{
	static uint64_t faults[MAX_COUNTS];
	int e = pm_curve_faults_src(&sim->cfg, PAGEMU_POLICY_LRU, src, sim->frames, sim->nframes, faults);

	if (e == 0)
		sweep_results(sim, nrefs, faults, res);
	return e;
}

static double rate(const result_t *r)
{
	return r->refs ? (double)r->faults / (double)r->refs : 0.0;
}

static void print_json(const sim_t *sim, const result_t *res)
{
	if (sim->nframes > 1)
		printf("[");
	for (size_t j = 0; j < sim->nframes; j++) {
		const result_t *r = &res[j];
		printf("%s{\"policy\":\"%s\",\"frames\":%llu,\"refs\":%llu,\"faults\":%llu,"
		       "\"fault_rate\":%.6f,\"evictions\":%llu", j ? ",\n " : "",
		       pagemu_policy_name(sim->cfg.policy), (unsigned long long)r->frames,
		       (unsigned long long)r->refs, (unsigned long long)r->faults, rate(r),
		       (unsigned long long)r->evictions);
		if (r->has_stats) {
			printf(",\"stats\":{");
			pagemu_model_stats_write_json(&r->stats, stdout);
			printf("}");
		}
		printf("}");
	}
	printf("%s\n", sim->nframes > 1 ? "]" : "");
}

static void print_text(const sim_t *sim, size_t nrefs, const result_t *res)
{
	const pagemu_model_config_t *c = &sim->cfg;

	printf("pagemu-sim: %zu references, policy %s, page %llu B, %u-bit VA, %u levels",
	       nrefs, pagemu_policy_name(c->policy), 1ULL << c->page_bits, c->va_bits, c->pt_levels);
	if (c->tlb_sets)
		printf(", TLB %ux%u", c->tlb_sets, c->tlb_ways);
	if (c->tlb2_sets)
		printf(" + %ux%u", c->tlb2_sets, c->tlb2_ways);
	if (c->cache_line)
		printf(", cache %ux%ux%u", c->cache_sets, c->cache_ways, c->cache_line);
	printf("\n%10s %14s %12s %10s %12s %12s\n", "frames", "refs", "faults", "fault rate", "evictions",
	       "TLB misses");
	for (size_t j = 0; j < sim->nframes; j++) {
		const result_t *r = &res[j];
		char tlb[32] = "-";
		if (r->has_stats && c->tlb_sets)
			snprintf(tlb, sizeof(tlb), "%llu", (unsigned long long)r->stats.tlb_misses);
		printf("%10llu %14llu %12llu %9.2f%% %12llu %12s\n", (unsigned long long)r->frames,
		       (unsigned long long)r->refs, (unsigned long long)r->faults, 100.0 * rate(r),
		       (unsigned long long)r->evictions, tlb);
	}
}

/* The passes of OPT, the analyses, and --refs: the trace as a source read
 * again at each pass (a pipe copied to a scratch file first). */
static int run_passes(sim_t *sim, int sweep, int analysis, result_t *res, size_t *nrefs)
{
	pm_trace_file_t tf = { .f = NULL };
	pm_refs_cursor_t cur;
	pm_refs_t refs = { 0 };
	pm_ref_src_t src;
	int st, e;

	if (sim->refs_inline) {
		if ((st = load_inline(sim, &refs)) != 0)
			goto free_refs;
		pm_ref_src_refs(&src, &cur, &refs, STREAM_BATCH);
	} else {
		if (pm_trace_file_open(&tf, &src, sim->path, sim->fmt, sim->cfg.page_bits, sim->data_only,
				       STREAM_BATCH) < 0) {
			fprintf(stderr, "pagemu-sim: %s\n", pagemu_last_error());
			return 1;
		}
		if ((st = take_page_size(sim, tf.page_size)) != 0)
			goto close_file;
	}
	if (analysis) {
		pm_analysis_t a = { &sim->cfg, sim->frames_set ? sim->frames : NULL, sim->frames_set ? sim->nframes : 0,
				    sim->mrc, sim->lifetime, sim->belady, sim->taus, sim->ntaus, sim->out };
		st = pm_analysis_run(&a, &src);
		st = st ? st : -1;                  /* -1: done, nothing more to print */
		goto close_file;
	}
	*nrefs = refs.n;
	if (sim->cfg.policy == PAGEMU_POLICY_OPT)
		e = run_opt(sim, &src, res, nrefs);
	else if (sweep)
		e = run_lru(sim, &src, refs.n, res);
	else
		e = run_models(sim, &refs, res);
	if (e < 0)
		fprintf(stderr, "pagemu-sim: %s\n", e == -ENOMEM ? "out of memory" : pagemu_last_error());
	st = e < 0 ? 1 : e;
close_file:
	if (!sim->refs_inline)
		pm_trace_file_close(&tf);
free_refs:
	pm_refs_free(&refs);
	return st;
}

int main(int argc, char **argv)
{
	static sim_t sim;
	static result_t res[MAX_COUNTS];
	size_t nrefs = 0;
	int st, sweep, analysis;

	pagemu_model_config_default(&sim.cfg);
	sim.frames[0] = 64;
	sim.nframes = 1;
	if ((st = parse_args(argc, argv, &sim)) != 0)
		return st < 0 ? 0 : st;
	sweep = sim.cfg.policy == PAGEMU_POLICY_OPT ||
		(sim.cfg.policy == PAGEMU_POLICY_LRU && sim.nframes > 1 && !sim.full && !sim.cfg.tlb_exact);
	analysis = sim.mrc || sim.lifetime || sim.ntaus || sim.belady;
	if (sim.path && !analysis && sim.cfg.policy != PAGEMU_POLICY_OPT) {
		/* A model per frame count side by side, or LRU's one pass, over
		 * the trace as it is read: any length, from a file or a pipe. */
		st = run_streamed(&sim, sweep, res, &nrefs);
	} else {
		/* OPT (the future of every reference) and the analyses read the
		 * trace more than once; --refs is in memory. */
		st = run_passes(&sim, sweep, analysis, res, &nrefs);
	}
	if (st != 0)
		return st < 0 ? 0 : st;
	if (sim.json)
		print_json(&sim, res);
	else
		print_text(&sim, nrefs, res);
	return 0;
}
