/* test_tlb_agree.c - the engine and the model agree reference for
 * reference (issue 13). A generated page stream (strides, a hot set with a
 * cold tail, a random walk, a phase change) is run by real stores on a
 * live instance, then replayed from the same record in the model (and,
 * for the issue's table, in pagemu-sim as a page list); the counters must
 * be equal:
 *
 *   exact-TLB mode, every TLB policy, CLOCK / FIFO / random / LRU pages:
 *     L1 misses, L2 hits, page walks, demand-zero and major faults,
 *     evictions. The model runs with tlb_exact (the policy hears of a
 *     reference when it walks, as the engine's does through Accessed).
 *   fast mode (no TLB model in the engine), CLOCK / FIFO / random:
 *     demand-zero and major faults, evictions (the model hears of every
 *     reference; fast mode's unmap on a cleared reference bit shows CLOCK
 *     every reference that matters).
 *
 * Counters with no counterpart, by construction:
 *   - faults_minor: in exact-TLB mode an L1 miss on a resident page, so
 *     it must equal tlb_misses_l1 - faults_zero - faults_major; in fast
 *     mode the re-touch of a page whose reference bit was cleared (the
 *     model's bit needs no fault).
 *   - faults_write: every reference is a store, and a page faulted in by
 *     a store is mapped writable and dirty at once; but the engine cleans
 *     pages ahead of the CLOCK hand (written back while resident, then
 *     write-protected), and the next store to such a page faults. The
 *     model writes back only at eviction: at most one write fault per
 *     write-back.
 *   - LRU pages in fast mode: a page stays mapped from its load to its
 *     eviction, so the engine hears of its load only and replaces in load
 *     order: its faults and evictions are the model's FIFO's (README,
 *     "Exact-TLB mode"), never fewer than OPT's.
 *
 * readahead = 1 and reclaim_batch = 1: one page per fault, one victim per
 * reclaim, as the model pages. */
#include <stdlib.h>
#include <sys/mman.h>

#include "engine/engine.h"
#include "testutil.h"

#define PAGE      4096
#define HOT       40                      /* the issue's hot set */
#define COLD      3000                    /* and its cold tail */
#define REGION    (HOT + COLD)            /* pages of the region every stream stays in */
#define SEED      7                       /* page and TLB random policies */

#if defined(__SANITIZE_ADDRESS__)
#define SCALE 4                           /* ASan: a quarter of the references */
#else
#define SCALE 1
#endif
/* References per pattern of the policy matrix (5 patterns), and its
 * frames: fewer than the pages the patterns touch, so pages are evicted
 * and read back. The issue's table has 200,000 references (make stress);
 * 30,000 of the same mix in make check. */
#define PATTERN_REFS   (1000 / SCALE)
#define MATRIX_FRAMES  256
#define TABLE_REFS     ((pm_test_stress() ? 200000 : 30000) / SCALE)

typedef struct stream {
	uint32_t *page;                   /* page of the region, per reference */
	size_t    n;
} stream_t;

typedef struct setup {
	int                 exact;        /* tlb_exact */
	pagemu_tlb_policy_t tlb;          /* both levels */
	pagemu_policy_t     policy;       /* page replacement */
	size_t              frames;
} setup_t;

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void push(stream_t *st, uint64_t page)
{
	st->page[st->n++] = (uint32_t)(page % REGION);
}

/* 85% of the references from the hot pages [hot0, hot0 + HOT), 15% from
 * the other pages of the region. */
static void gen_hot_cold(stream_t *st, size_t n, uint64_t hot0, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(rng);
		if (r % 100 < 85)
			push(st, hot0 + (r >> 8) % HOT);
		else
			push(st, hot0 + HOT + (r >> 8) % COLD);
	}
}

/* Strides 1, 3, 16 (one TLB set), 17 and 129 (one set in both levels). */
static void gen_strides(stream_t *st, size_t n)
{
	static const unsigned stride[] = { 1, 3, 16, 17, 129 };

	for (size_t k = 0; k < PM_ARRAY_LEN(stride); k++)
		for (size_t i = 0; i < n / PM_ARRAY_LEN(stride); i++)
			push(st, i * stride[k]);
}

/* Steps of -3 to +3 pages. */
static void gen_walk(stream_t *st, size_t n, uint64_t *rng)
{
	uint64_t pos = REGION / 3;

	for (size_t i = 0; i < n; i++) {
		pos = pos + REGION + rng_next(rng) % 7 - 3;
		push(st, pos);
	}
}

/* Every pattern in turn, n references each; the phase change is the hot
 * set moving to the other half of the region. */
static stream_t make_stream(size_t n)
{
	stream_t st = { malloc(5 * n * sizeof(uint32_t)), 0 };
	uint64_t rng = 0x2545F4914F6CDD1DULL;

	ck_assert_ptr_nonnull(st.page);
	gen_strides(&st, n);
	gen_hot_cold(&st, n, 0, &rng);
	gen_walk(&st, n, &rng);
	gen_hot_cold(&st, n, 0, &rng);
	gen_hot_cold(&st, n, REGION / 2, &rng);
	return st;
}

static const char *setup_name(const setup_t *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s mode, TLB %s, pages %s, %zu frames", s->exact ? "exact-TLB" : "fast",
		 pagemu_tlb_policy_name(s->tlb), pagemu_policy_name(s->policy), s->frames);
	return buf;
}

/* Run the stream on a live instance with real stores; *base receives the
 * region's address (the model replays the same VPNs: same TLB sets). */
static void engine_run(const setup_t *s, const stream_t *st, pagemu_stats_t *out, uintptr_t *base)
{
	pagemu_config_t cfg;
	pagemu_t *vm;
	volatile uint64_t *a;

	pagemu_config_default(&cfg);
	cfg.frames = s->frames;
	cfg.tlb_exact = s->exact;
	cfg.tlb_policy[0] = cfg.tlb_policy[1] = s->tlb;
	cfg.policy = s->policy;
	cfg.readahead = 1;
	cfg.reclaim_batch = 1;
	cfg.seed = SEED;
	ck_assert_int_eq(pagemu_open(&cfg, &vm), 0);
	a = pagemu_map(vm, (size_t)REGION * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_nonnull((void *)a);
	for (size_t i = 0; i < st->n; i++)
		a[(size_t)st->page[i] * (PAGE / sizeof(*a))] = i;
	pagemu_get_stats(vm, out);
	ck_assert_int_eq(pm_mmu_check((struct pagemu *)vm), 0);
	*base = (uintptr_t)a;
	pagemu_close(vm);
}

static void model_run(const setup_t *s, pagemu_policy_t policy, const stream_t *st, uintptr_t base,
		      pagemu_model_stats_t *out)
{
	pagemu_model_config_t cfg;
	pagemu_model_t *m;

	pagemu_model_config_default(&cfg);
	cfg.frames = s->frames;
	cfg.policy = policy;
	cfg.seed = SEED;
	cfg.tlb_policy = cfg.tlb2_policy = s->tlb;
	cfg.tlb_exact = s->exact;
	ck_assert_int_eq(pagemu_model_new(&cfg, &m), 0);
	for (size_t i = 0; i < st->n; i++)
		ck_assert_int_ge(pagemu_model_access(m, base + (uint64_t)st->page[i] * PAGE, PM_PROT_WRITE), 0);
	pagemu_model_get_stats(m, out);
	pagemu_model_free(m);
}

#define EQ(what, e, m) ck_assert_msg((e) == (m), "%s: %s: engine %llu, model %llu", name, what, \
				     (unsigned long long)(e), (unsigned long long)(m))

/* The engine's counters against the model's, as the header says. */
static void expect_agree(const setup_t *s, const stream_t *st)
{
	pagemu_model_stats_t ms;
	pagemu_stats_t es;
	uintptr_t base;
	char name[160];
	/* Fast mode: the engine's LRU is FIFO (see the top of the file). */
	pagemu_policy_t as = !s->exact && s->policy == PAGEMU_POLICY_LRU ? PAGEMU_POLICY_FIFO : s->policy;

	setup_name(s, name, sizeof(name));
	engine_run(s, st, &es, &base);
	model_run(s, as, st, base, &ms);
	EQ("demand-zero faults", es.faults_zero, ms.faults_zero);
	EQ("major faults", es.faults_major, ms.faults_major);
	EQ("evictions", es.evictions, ms.evictions);
	ck_assert_msg(es.faults_write <= es.writebacks, "%s: write faults %llu, write-backs %llu", name,
		      (unsigned long long)es.faults_write, (unsigned long long)es.writebacks);
	EQ("faults_declined", es.faults_declined, 0);
	if (s->frames == MATRIX_FRAMES)          /* the stream pages out and in */
		ck_assert_msg(es.evictions > 0 && es.faults_major > 0, "%s: no eviction or no major fault", name);
	if (!s->exact) {
		EQ("TLB hit faults", es.tlb_hit_faults, 0);
		return;
	}
	EQ("L1 TLB misses", es.tlb_misses_l1, ms.tlb_hits_l2 + ms.tlb_misses);
	EQ("L2 TLB hits", es.tlb_hits_l2, ms.tlb_hits_l2);
	EQ("page walks", es.page_walks, ms.page_walks);
	EQ("minor faults = L1 misses of resident pages", es.faults_minor,
	   es.tlb_misses_l1 - es.faults_zero - es.faults_major);
	/* Hit faults only where the L1 policy changes on hits. */
	if (!pm_tlb_policy_sees_hits(s->tlb))
		EQ("TLB hit faults", es.tlb_hit_faults, 0);
	else
		ck_assert_msg(es.tlb_hit_faults <= ms.tlb_hits_l1, "%s: more hit faults than L1 hits", name);
}

/* Every TLB policy with every page policy, in exact-TLB mode, with fewer
 * frames than pages (evictions, major faults). */
START_TEST(exact_mode_every_policy)
{
	stream_t st = make_stream(PATTERN_REFS);
	static const pagemu_policy_t pol[] = { PAGEMU_POLICY_CLOCK, PAGEMU_POLICY_FIFO, PAGEMU_POLICY_RANDOM,
					       PAGEMU_POLICY_LRU };

	for (unsigned t = 0; t < PAGEMU_TLB_POLICY_COUNT; t++)
		for (size_t p = 0; p < PM_ARRAY_LEN(pol); p++) {
			setup_t s = { 1, (pagemu_tlb_policy_t)t, pol[p], MATRIX_FRAMES };
			expect_agree(&s, &st);
		}
	free(st.page);
}
END_TEST

/* Fast mode: faults by kind and evictions (the TLB policy plays no part). */
START_TEST(fast_mode_every_policy)
{
	stream_t st = make_stream(PATTERN_REFS);
	static const pagemu_policy_t pol[] = { PAGEMU_POLICY_CLOCK, PAGEMU_POLICY_FIFO, PAGEMU_POLICY_RANDOM,
					       PAGEMU_POLICY_LRU };

	for (size_t p = 0; p < PM_ARRAY_LEN(pol); p++) {
		setup_t s = { 0, PAGEMU_TLB_LRU, pol[p], MATRIX_FRAMES };
		expect_agree(&s, &st);
	}
	free(st.page);
}
END_TEST

/* Fast-mode LRU's bound: what it is (FIFO's faults, above), never fewer
 * faults than OPT's on the same string. */
START_TEST(fast_mode_lru_bound)
{
	stream_t st = make_stream(PATTERN_REFS);
	setup_t s = { 0, PAGEMU_TLB_LRU, PAGEMU_POLICY_LRU, MATRIX_FRAMES };
	uint64_t *pages = malloc(st.n * sizeof(*pages)), opt = 0;
	pagemu_stats_t es;
	uintptr_t base;

	ck_assert_ptr_nonnull(pages);
	for (size_t i = 0; i < st.n; i++)
		pages[i] = st.page[i];
	ck_assert_int_eq(pm_opt_faults(pages, st.n, s.frames, &opt), 0);
	engine_run(&s, &st, &es, &base);
	ck_assert_uint_ge(es.faults_zero + es.faults_major, opt);
	free(pages);
	free(st.page);
}
END_TEST

/* ---- the issue's table, through pagemu-sim ---------------------------------- */

static const char sim_path[] = PM_BUILD_DIR "/pagemu-sim";

/* The counter name's value in pagemu-sim's JSON. */
static uint64_t json_u64(const char *json, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(json, key);
	ck_assert_msg(p != NULL, "pagemu-sim's JSON has no %s: %s", name, json);
	return strtoull(p + strlen(key), NULL, 10);
}

/* Write the stream's VPNs as a page list and replay it with pagemu-sim;
 * json receives its one line of output. */
static void sim_replay(const stream_t *st, uintptr_t base, const setup_t *s, char *json, size_t len)
{
	char path[] = "/tmp/pagemu-agree-XXXXXX", cmd[512];
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL, *p;

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < st->n; i++)
		fprintf(f, "%llu\n", (unsigned long long)(base / PAGE + st->page[i]));
	ck_assert_int_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "%s --format pages --frames %zu --tlb-policy %s --policy %s --seed %d%s --json %s",
		 sim_path, s->frames, pagemu_tlb_policy_name(s->tlb), pagemu_policy_name(s->policy), SEED,
		 s->exact ? " --tlb-exact" : "", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(json, (int)len, p));
	ck_assert_int_eq(pclose(p), 0);
	unlink(path);
}

/* The issue's run: 200,000 touches (make stress; 30,000 in make check),
 * 85% from 40 hot pages, 15% from 3,000, 4096 frames, default TLB (16x4 + 128x12), exact-TLB mode: the
 * engine's columns equal pagemu-sim's for every TLB policy. */
START_TEST(issue_table_per_policy)
{
	stream_t st = { malloc(TABLE_REFS * sizeof(uint32_t)), 0 };
	uint64_t rng = 42;
	char json[4096];

	ck_assert_msg(access(sim_path, X_OK) == 0, "%s is not built (make)", sim_path);
	gen_hot_cold(&st, TABLE_REFS, 0, &rng);
	for (unsigned t = 0; t < PAGEMU_TLB_POLICY_COUNT; t++) {
		setup_t s = { 1, (pagemu_tlb_policy_t)t, PAGEMU_POLICY_CLOCK, 4096 };
		pagemu_stats_t es;
		uintptr_t base;
		char name[160];
		setup_name(&s, name, sizeof(name));
		engine_run(&s, &st, &es, &base);
		sim_replay(&st, base, &s, json, sizeof(json));
		EQ("L1 TLB misses", es.tlb_misses_l1, json_u64(json, "tlb_hits_l2") + json_u64(json, "tlb_misses"));
		EQ("L2 TLB hits", es.tlb_hits_l2, json_u64(json, "tlb_hits_l2"));
		EQ("page walks", es.page_walks, json_u64(json, "page_walks"));
		EQ("demand-zero faults", es.faults_zero, json_u64(json, "faults_zero"));
		fprintf(stderr, "  %-40s L1 misses %7llu  L2 hits %7llu  walks %5llu  hit faults %7llu\n", name,
			(unsigned long long)es.tlb_misses_l1, (unsigned long long)es.tlb_hits_l2,
			(unsigned long long)es.page_walks, (unsigned long long)es.tlb_hit_faults);
	}
	free(st.page);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("tlb_agree");
	TCase *tc = tcase_create("engine and model, reference for reference");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, exact_mode_every_policy);
	tcase_add_test(tc, fast_mode_every_policy);
	tcase_add_test(tc, fast_mode_lru_bound);
	tcase_add_test(tc, issue_table_per_policy);
	suite_add_tcase(s, tc);
	return s;
}

PM_TEST_MAIN(make_suite)
