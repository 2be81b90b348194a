/* model.c - the standalone model, pagemu_model_* (model; no system calls).
 *
 * One access, as CSAPP 9.6.4 tells it:
 *   VA -> VPN, VPO -> TLB (TLBI, TLBT): hit gives the PPN
 *   miss -> page-table walk, root first (one index per level)
 *        -> PTE not valid: page fault (paging mode: take a frame, evicting
 *           the policy's victim, and complete the access)
 *        -> fill the TLB
 *   PPN, VPO -> PA -> cache (CO, CI, CT): hit gives the byte
 * pagemu_model_translate reports every step; pagemu_model_access is the same
 * code without the report (the simulator's hot path). Every reference is
 * visible to the model, so the policy hears of every hit (LRU is exact);
 * with cfg.tlb_exact it hears only of the references that walk, as the
 * hardware's Accessed bit and the engine's exact-TLB mode do.
 *
 * The model allocates with calloc: unlike the engine it never runs in a
 * signal handler. Page-table nodes come from an arena that grows by
 * chunks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

#define ARENA_CHUNK (256u * 1024)         /* bytes per arena chunk (at least 16 nodes) */
#define FB_W 1                            /* fbits: the page is writable */
#define FB_D 2                            /* fbits: the page is dirty */

struct pagemu_model {
	pagemu_model_config_t cfg;        /* as validated */
	unsigned page_bits;               /* log2 page size */
	uint64_t page_mask;               /* page size - 1 */
	uint64_t va_limit;                /* largest valid VA */
	uint64_t ppn_limit;               /* largest PPN pa_bits allow */
	int      paging;                  /* 1 = cfg.frames > 0: demand paging */

	pm_arena_t arena;                 /* page-table nodes */
	void   **chunks;                  /* arena memory, freed at the end */
	size_t   nchunks;
	pm_pt_t  pt;                      /* the page table */

	int      has_tlb;                 /* 1 = cfg.tlb_sets > 0 */
	pm_tlb_t tlb;
	void    *tlb_mem;
	pm_tlb_index_t tlbx;              /* fast path: L2's index (tlb.c) */
	pm_tlb_index_t *ix;               /* &tlbx with an L2, else NULL */
	void    *tlbx_mem;
	int      has_cache;               /* 1 = cfg.cache_line > 0 */
	pm_cache_t cache;
	void    *cache_mem;

	pm_frames_t frames;               /* paging mode: the frame table */
	void    *frames_mem;
	uint8_t *fbits;                   /* paging mode: per frame, FB_W and FB_D mirrored from its PTE */
	const pm_policy_ops_t *policy;    /* paging mode: replacement */
	void    *policy_state;
	pm_policy_env_t env;              /* everything is evictable: no pins, no I/O */

	int      fast;                    /* 1 = paging, no cache: references take fast_ref */
	int      notify_hit;              /* fast_ref: tell the policy of TLB hits (CLOCK, LRU; not tlb_exact) */
	int      notify_walk;             /* fast_ref: of references that walk (CLOCK, LRU) */
	uint64_t last_ref;                /* the frame of the policy's last call if it was referenced(), else PM_NONE */

	pagemu_model_stats_t stats;       /* counters */
};

/* ---- life cycle ---------------------------------------------------------- */

/* Point the arena at a fresh chunk; nodes released from older chunks stay
 * on its free list, which is why old chunks are kept until the end. */
static int arena_grow(pagemu_model_t *m)
{
	size_t size = m->arena.node_size * 16 > ARENA_CHUNK ? m->arena.node_size * 16 : ARENA_CHUNK;
	void **chunks = realloc(m->chunks, (m->nchunks + 1) * sizeof(*chunks));
	void *mem;

	if (!chunks)
		return -ENOMEM;
	m->chunks = chunks;
	if (!(mem = calloc(1, size)))
		return -ENOMEM;
	m->chunks[m->nchunks++] = mem;
	m->arena.base = mem;
	m->arena.size = size;
	m->arena.used = 0;
	return 0;
}

static int paging_init(pagemu_model_t *m)
{
	const pagemu_model_config_t *c = &m->cfg;

	m->frames_mem = calloc(1, pm_frames_mem_size(c->frames));
	m->policy = pm_policy_get(c->policy);
	m->policy_state = calloc(1, m->policy->state_size(c->frames));
	m->fbits = calloc(c->frames, 1);
	if (!m->frames_mem || !m->policy_state || !m->fbits)
		return -ENOMEM;
	pm_frames_init(&m->frames, c->frames, m->frames_mem);
	m->policy->init(m->policy_state, c->frames, c->seed);
	m->env.ctx = m;
	m->env.evictable = NULL;
	m->env.ref_cleared = NULL;
	/* FIFO and random ignore references: fast_ref spares them the call. */
	m->notify_walk = c->policy == PAGEMU_POLICY_CLOCK || c->policy == PAGEMU_POLICY_LRU;
	m->notify_hit = m->notify_walk && !c->tlb_exact;
	m->last_ref = PM_NONE;
	return 0;
}

static int hw_init(pagemu_model_t *m)
{
	const pagemu_model_config_t *c = &m->cfg;
	size_t bytes;

	if (c->tlb_sets) {
		if (pm_tlb_mem_size(c->tlb_sets, c->tlb_ways, c->tlb2_sets, c->tlb2_ways, &bytes) < 0 ||
		    !(m->tlb_mem = malloc(bytes)))
			return -ENOMEM;
		pagemu_tlb_policy_t pol[2] = { c->tlb_policy, c->tlb2_policy };
		pm_tlb_init(&m->tlb, c->tlb_sets, c->tlb_ways, c->tlb2_sets, c->tlb2_ways, m->tlb_mem);
		pm_tlb_set_policy(&m->tlb, pol, c->seed);   /* validated */
		m->has_tlb = 1;
		if (c->tlb2_sets) {
			if (!(m->tlbx_mem = malloc(pm_tlb_index_mem_size(&m->tlb))))
				return -ENOMEM;
			pm_tlb_index_init(&m->tlbx, &m->tlb, m->tlbx_mem);
			m->ix = &m->tlbx;
		}
	}
	if (c->cache_line) {
		if (pm_cache_mem_size(c->cache_sets, c->cache_ways, c->cache_line, &bytes) < 0 ||
		    !(m->cache_mem = malloc(bytes)))
			return -ENOMEM;
		pm_cache_init(&m->cache, c->cache_sets, c->cache_ways, c->cache_line, m->cache_mem);
		m->has_cache = 1;
	}
	return 0;
}

int pagemu_model_new(const pagemu_model_config_t *cfg, pagemu_model_t **out)
{
	pagemu_model_t *m;
	pm_pt_geom_t g;
	int err;

	*out = NULL;
	if ((err = pm_model_validate(cfg, &g)) < 0)
		return err;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->cfg = *cfg;
	m->page_bits = cfg->page_bits;
	m->page_mask = (1ULL << cfg->page_bits) - 1;
	m->va_limit = cfg->va_bits == 64 ? UINT64_MAX : (1ULL << cfg->va_bits) - 1;
	m->ppn_limit = cfg->pa_bits - cfg->page_bits >= 64 ? UINT64_MAX
		     : (1ULL << (cfg->pa_bits - cfg->page_bits)) - 1;
	m->paging = cfg->frames > 0;
	pm_arena_init(&m->arena, NULL, 0, pm_pt_node_size(&g));
	if ((err = arena_grow(m)) < 0 || (err = pm_pt_init(&m->pt, &g, &m->arena)) < 0 ||
	    (err = hw_init(m)) < 0 || (m->paging && (err = paging_init(m)) < 0))
		goto free_model;
	m->fast = m->paging && !m->has_cache;
	*out = m;
	return 0;

free_model:
	pagemu_model_free(m);
	pm_set_error("model: out of memory");
	return err;
}

void pagemu_model_free(pagemu_model_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nchunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->tlb_mem);
	free(m->tlbx_mem);
	free(m->cache_mem);
	free(m->frames_mem);
	free(m->fbits);
	free(m->policy_state);
	free(m);
}

/* ---- loading textbook state ----------------------------------------------- */

/* The PTE of vpn, creating interior nodes (growing the arena); NULL when
 * memory runs out. */
static pm_pte_t *pte_ensure(pagemu_model_t *m, uint64_t vpn)
{
	pm_pte_t *pte;

	while (!(pte = pm_pt_ensure(&m->pt, vpn)))
		if (arena_grow(m) < 0)
			return NULL;
	return pte;
}

int pagemu_model_map(pagemu_model_t *m, uint64_t vpn, uint64_t ppn, int prot)
{
	pm_pte_t *pte;

	if (m->paging)
		return -EINVAL;    /* frames are the model's to assign in paging mode */
	if (vpn >> m->pt.geom.vpn_bits || ppn > m->ppn_limit)
		return -EINVAL;
	if (!(pte = pte_ensure(m, vpn)))
		return -ENOMEM;
	*pte = prot ? pte_mk_present(ppn) : 0;
	if (prot & PM_PROT_WRITE)
		*pte = pte_mkwrite(*pte);
	/* The OS changed a translation: shoot down the stale TLB entry. */
	if (m->has_tlb)
		pm_tlb_invalidate(&m->tlb, vpn);
	if (m->ix)
		m->ix->stale = 1;
	return 0;
}

int pagemu_model_tlb_load(pagemu_model_t *m, unsigned set, unsigned way, uint64_t tag, uint64_t ppn)
{
	if (!m->has_tlb || ppn > m->ppn_limit)
		return -EINVAL;
	return pm_tlb_load(&m->tlb, 0, set, way, tag, ppn);
}

int pagemu_model_cache_load(pagemu_model_t *m, unsigned set, unsigned way, uint64_t tag, const uint8_t *line)
{
	if (!m->has_cache)
		return -EINVAL;
	return pm_cache_load(&m->cache, set, way, tag, line);
}

/* ---- one access ------------------------------------------------------------- */

/* The walk: the PTE of vpn or NULL, counting the levels read and, for a
 * report, the index used at each. */
static pm_pte_t *walk(pagemu_model_t *m, uint64_t vpn, pagemu_xlate_t *x)
{
	unsigned levels;
	pm_pte_t *pte = pm_pt_lookup(&m->pt, vpn, &levels);

	m->stats.page_walks++;
	m->stats.walk_levels += levels;
	if (x) {
		x->levels = (int)levels;
		for (unsigned l = 0; l < levels; l++)
			x->level_index[l] = pm_pt_index(&m->pt.geom, vpn, l);
	}
	return pte;
}

/* Free a frame for a new page: the policy's victim goes to "swap". */
static uint64_t evict(pagemu_model_t *m)
{
	uint64_t v = m->policy->victim(m->policy_state, &m->env);
	pm_frame_t *f = &m->frames.f[v];

	if (pte_dirty(*f->pte))
		m->stats.writebacks++;
	/* The model keeps no swap contents; S only marks "faulted before". */
	*f->pte = pte_mk_swapped(0);
	if (m->ix && !m->ix->stale)
		pm_tlb_invalidate_fast(&m->tlb, m->ix, f->vpn);
	else if (m->has_tlb)
		pm_tlb_invalidate(&m->tlb, f->vpn);
	if (m->has_cache)
		pm_cache_invalidate(&m->cache, v << m->page_bits, m->page_mask + 1);
	m->policy->freed(m->policy_state, v);
	m->stats.evictions++;
	m->stats.resident--;
	return v;
}

/* Paging mode: give vpn a frame. pte may be NULL (no table node yet). */
static pm_pte_t *page_in(pagemu_model_t *m, uint64_t vpn, pm_pte_t *pte)
{
	uint64_t ppn;
	int major;

	if (!pte && !(pte = pte_ensure(m, vpn)))
		return NULL;
	major = pte_swapped(*pte);
	ppn = pm_frames_pop(&m->frames);
	if (ppn == PM_NONE)
		ppn = evict(m);
	/* Demand-zero pages have no backing copy: dirty from birth. A page
	 * read back from swap is clean until written. */
	*pte = pte_mkyoung(pte_mkwrite(pte_mk_present(ppn)));
	m->fbits[ppn] = FB_W;
	if (major)
		m->stats.faults_major++;
	else {
		m->stats.faults_zero++;
		*pte = pte_mkdirty(*pte);
		m->fbits[ppn] |= FB_D;
	}
	m->frames.f[ppn].vpn = vpn;
	m->frames.f[ppn].pte = pte;
	m->policy->loaded(m->policy_state, ppn, 1);
	m->last_ref = PM_NONE;
	m->stats.resident++;
	return pte;
}

static void report_cache(pagemu_model_t *m, uint64_t pa, pagemu_xlate_t *x)
{
	x->co = pm_cache_co(&m->cache, pa);
	x->ci = pm_cache_ci(&m->cache, pa);
	x->ct = pm_cache_ct(&m->cache, pa);
}

/* Access rights and Dirty of a page whose PTE is pte. */
static void touch_pte(pagemu_model_t *m, pm_pte_t *pte, int access, pagemu_xlate_t *x)
{
	if ((access & PM_PROT_WRITE) && !pte_write(*pte)) {
		m->stats.prot_faults++;
		if (x)
			x->prot_fault = 1;
	} else {
		*pte = pte_mkyoung(*pte);
		if (access & PM_PROT_WRITE)
			*pte = pte_mkdirty(*pte);
	}
	if (x) {
		x->accessed = pte_young(*pte);
		x->dirty = pte_dirty(*pte);
	}
}

/* The same in paging mode, from the frame's copy of W and D: like the
 * hardware's TLB entry, it spares a TLB hit the trip to the PTE (a host
 * cache miss) unless the page is written for the first time. */
static inline void touch_frame(pagemu_model_t *m, uint64_t ppn, int access, pagemu_xlate_t *x)
{
	uint8_t fb = m->fbits[ppn];

	if (access & PM_PROT_WRITE) {
		if (!(fb & FB_W)) {
			m->stats.prot_faults++;
			if (x)
				x->prot_fault = 1;
		} else if (!(fb & FB_D)) {
			m->fbits[ppn] = fb | FB_D;
			*m->frames.f[ppn].pte = pte_mkdirty(*m->frames.f[ppn].pte);
		}
	}
	if (x) {
		x->accessed = pte_young(*m->frames.f[ppn].pte);
		x->dirty = pte_dirty(*m->frames.f[ppn].pte);
	}
}

/* The one access of translate and access; x may be NULL (no report). */
static inline __attribute__((always_inline))
int ref(pagemu_model_t *m, uint64_t va, int access, pagemu_xlate_t *x)
{
	uint64_t vpn = va >> m->page_bits, ppn = 0, pa;
	enum pm_tlb_result hit = PM_TLB_MISS;
	pm_pte_t *pte = NULL;
	int fault = 0;

	if (va > m->va_limit)
		return -EINVAL;
	/* This path may tell the policy of other frames, and changes the TLB
	 * behind its index: fast_ref's memo goes, the index is rebuilt. */
	m->last_ref = PM_NONE;
	if (m->ix)
		m->ix->stale = 1;
	m->stats.refs++;
	if (access & PM_PROT_WRITE)
		m->stats.writes++;
	if (m->has_tlb) {
		hit = pm_tlb_lookup(&m->tlb, vpn, &ppn, NULL);
		if (hit == PM_TLB_HIT_L1)
			m->stats.tlb_hits_l1++;
		else if (hit == PM_TLB_HIT_L2)
			m->stats.tlb_hits_l2++;
		else
			m->stats.tlb_misses++;
	}
	if (x) {
		x->vpn = vpn;
		x->vpo = va & m->page_mask;
		if (m->has_tlb) {
			x->tlbi = pm_tlb_index(&m->tlb, vpn);
			x->tlbt = pm_tlb_tag(&m->tlb, vpn);
		}
		x->tlb_hit = (int)hit;
	}
	if (hit == PM_TLB_MISS) {
		pte = walk(m, vpn, x);
		if (!pte || !pte_present(*pte)) {
			fault = 1;
			m->stats.faults++;
			if (x)
				x->page_fault = 1;
			if (!m->paging)
				return 1;
			if (!(pte = page_in(m, vpn, pte)))
				return -ENOMEM;
		} else if (m->paging) {
			m->policy->referenced(m->policy_state, pte_ppn(*pte));
		}
		ppn = pte_ppn(*pte);
		/* The walker sets Accessed; the PTE is in hand here. */
		*pte = pte_mkyoung(*pte);
		if (m->has_tlb)
			pm_tlb_fill(&m->tlb, vpn, ppn);
	} else if (m->paging) {
		if (!m->cfg.tlb_exact)
			m->policy->referenced(m->policy_state, ppn);
	} else {
		/* Only for the PTE bits, not a walk. A TLB entry loaded from a
		 * table may have no PTE behind it. */
		pte = pm_pt_lookup(&m->pt, vpn, NULL);
		if (pte && !pte_present(*pte))
			pte = NULL;
	}
	if (m->paging)
		touch_frame(m, ppn, access, x);
	else if (pte)
		touch_pte(m, pte, access, x);
	pa = ppn << m->page_bits | (va & m->page_mask);
	if (x) {
		x->ppn = ppn;
		x->pa = pa;
	}
	if (m->has_cache) {
		uint8_t byte = 0;
		int chit = pm_cache_access(&m->cache, pa, &byte);
		if (chit)
			m->stats.cache_hits++;
		else
			m->stats.cache_misses++;
		if (x) {
			report_cache(m, pa, x);
			x->cache_hit = chit;
			x->byte = chit ? byte : 0;
		}
	}
	return fault;
}

int pagemu_model_translate(pagemu_model_t *m, uint64_t va, int access, pagemu_xlate_t *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	out->va = va;
	r = ref(m, va, access, out);
	return r < 0 ? r : 0;
}

int pm_model_access_ref(pagemu_model_t *m, uint64_t va, int access)
{
	return ref(m, va, access, NULL);
}

/* ---- the fast path ---------------------------------------------------------------
 *
 * ref() without the report, for paging mode without a cache (the
 * simulator's case), with the same counts, TLB entries and policy state:
 *  - an L1 TLB hit is found inline and costs no call (in the replay
 *    loop, a reference to the page of the one before costs no scan);
 *  - L2 entries are found through an index, and each set is scanned at
 *    most once, with no data-dependent exit (pm_tlb_lookup_l2,
 *    pm_tlb_fill_absent, pm_tlb_invalidate_fast: see tlb.c);
 *  - the policy hears of a reference only when that can change it:
 *    FIFO and random ignore references, and a second referenced() of the
 *    frame the last call named, with no other call between, changes
 *    nothing (CLOCK's bit is still set, LRU's frame is still the newest).
 * Policy calls come from here, from page_in and from ref(); the last two
 * forget the memo. */

/* Tell the policy that the page in ppn was referenced. */
static inline void notify(pagemu_model_t *m, uint64_t ppn)
{
	if (ppn != m->last_ref) {
		m->policy->referenced(m->policy_state, ppn);
		m->last_ref = ppn;
	}
}

/* The TLB missed in L1: L2, else the walk and perhaps a fault. Returns
 * 0, 1 for a fault, -ENOMEM; *ppn the page's frame. */
static int fast_miss(pagemu_model_t *m, uint64_t vpn, uint64_t *ppn)
{
	pm_pte_t *pte;
	int fault = 0;

	if (m->has_tlb) {
		if (pm_tlb_lookup_l2(&m->tlb, m->ix, vpn, ppn) == PM_TLB_HIT_L2) {
			m->stats.tlb_hits_l2++;
			if (m->notify_hit)
				notify(m, *ppn);
			return 0;
		}
		m->stats.tlb_misses++;
	}
	pte = walk(m, vpn, NULL);
	if (!pte || !pte_present(*pte)) {
		fault = 1;
		m->stats.faults++;
		if (!(pte = page_in(m, vpn, pte)))
			return -ENOMEM;
	} else if (m->notify_walk) {
		notify(m, pte_ppn(*pte));
	}
	*ppn = pte_ppn(*pte);
	*pte = pte_mkyoung(*pte);
	/* The lookup missed; page_in may only have invalidated entries. */
	if (m->has_tlb)
		pm_tlb_fill_absent(&m->tlb, m->ix, vpn, *ppn);
	return fault;
}

static inline __attribute__((always_inline))
int fast_ref(pagemu_model_t *m, uint64_t va, int access)
{
	uint64_t vpn = va >> m->page_bits, ppn;
	int fault = 0;
	long i;

	if (va > m->va_limit)
		return -EINVAL;
	m->stats.refs++;
	m->stats.writes += (unsigned)access >> 1 & 1;    /* PM_PROT_WRITE */
	if (m->has_tlb && (i = pm_tlb_l1_find(&m->tlb, vpn)) >= 0) {
		pm_tlb_l1_hit(&m->tlb, (size_t)i);
		ppn = m->tlb.lv[0].ppn[i];
		m->stats.tlb_hits_l1++;
		if (m->notify_hit)
			notify(m, ppn);
	} else if ((fault = fast_miss(m, vpn, &ppn)) < 0) {
		return fault;
	}
	touch_frame(m, ppn, access, NULL);
	return fault;
}

/* Before fast references: the index of L2 mirrors it again. */
static inline void fast_begin(pagemu_model_t *m)
{
	if (m->ix && m->ix->stale)
		pm_tlb_index_rebuild(m->ix, &m->tlb);
}

int pagemu_model_access(pagemu_model_t *m, uint64_t va, int access)
{
	if (!m->fast)
		return ref(m, va, access, NULL);
	fast_begin(m);
	return fast_ref(m, va, access);
}

/* fast_ref over an array, with what an L1 hit needs held in locals (the
 * L1 arrays, the tick, three counters): stores through m's uint64_t
 * fields would otherwise make the compiler reload all of it for every
 * reference. The tick goes back to the TLB around every call that may
 * read it. A reference to the page of the one before it, which hit L1,
 * hits the same entry (nothing ran between them): no scan. Returns 0 or
 * the error of reference *done. */
static int fast_replay(pagemu_model_t *m, const uint64_t *va, const uint8_t *access, size_t n, size_t *done)
{
	pm_tlb_level_t *l1 = &m->tlb.lv[0];
	const uint64_t *tag1 = l1->tag, *ppn1 = l1->ppn;
	uint64_t *used1 = l1->used;
	const uint64_t set_mask = l1->sets ? l1->sets - 1 : 0, va_limit = m->va_limit;
	const unsigned ways = l1->ways, set_bits = l1->set_bits, page_bits = m->page_bits;
	const int has_tlb = m->has_tlb, lru1 = l1->policy == PAGEMU_TLB_LRU, plru1 = l1->policy == PAGEMU_TLB_PLRU,
		  notify_hit = m->notify_hit;
	uint64_t tick = m->tlb.tick, refs = 0, writes = 0, hits1 = 0, last_vpn = PM_NONE;
	long last = -1;
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++) {
		uint64_t a = va[i], vpn = a >> page_bits, ppn;
		long e = -1;

		if (a > va_limit) {
			r = -EINVAL;
			break;
		}
		refs++;
		writes += (unsigned)access[i] >> 1 & 1;    /* PM_PROT_WRITE */
		if (vpn == last_vpn) {
			e = last;
		} else if (has_tlb) {
			uint64_t tag = vpn >> set_bits;
			size_t s = (size_t)(vpn & set_mask) * ways;
			for (size_t w = s; w < s + ways; w++)      /* no early exit, as pm_tlb_l1_find */
				e = tag1[w] == tag ? (long)w : e;
		}
		if (e >= 0) {
			hits1++;
			if (lru1)
				used1[e] = ++tick;
			else if (plru1)
				pm_tlb_plru_touch(&m->tlb, l1, (size_t)e);
			ppn = ppn1[e];
			if (notify_hit)
				notify(m, ppn);
		} else {
			m->tlb.tick = tick;
			r = fast_miss(m, vpn, &ppn);
			tick = m->tlb.tick;
			if (r < 0)
				break;
		}
		last_vpn = e >= 0 ? vpn : PM_NONE;
		last = e;
		if (access[i] & PM_PROT_WRITE)         /* a read changes nothing there */
			touch_frame(m, ppn, access[i], NULL);
	}
	m->tlb.tick = tick;
	m->stats.refs += refs;
	m->stats.writes += writes;
	m->stats.tlb_hits_l1 += hits1;
	*done = i;
	return r < 0 ? r : 0;
}

int pagemu_model_replay(pagemu_model_t *m, const uint64_t *va, const uint8_t *access, size_t n, size_t *done)
{
	size_t i = 0;
	int r = 0;

	if (m->fast) {
		fast_begin(m);
		r = fast_replay(m, va, access, n, &i);
	} else {
		for (; i < n; i++)
			if ((r = ref(m, va[i], access[i], NULL)) < 0)
				break;
	}
	if (done)
		*done = i;
	return r < 0 ? r : 0;
}

/* ---- statistics --------------------------------------------------------------- */

void pagemu_model_get_stats(const pagemu_model_t *m, pagemu_model_stats_t *out)
{
	*out = m->stats;
}

void pagemu_model_reset_stats(pagemu_model_t *m)
{
#define PM_X_RESET(name, kind, desc) if (strcmp(#kind, "COUNT") == 0) m->stats.name = 0;
	PAGEMU_MODEL_STATS_LIST(PM_X_RESET)
#undef PM_X_RESET
}

int pagemu_model_stats_write_json(const pagemu_model_stats_t *s, FILE *f)
{
	int n = 0;

#define PM_X_JSON(name, kind, desc) PM_JSON_MEMBER(f, &n, #name, s->name);
	PAGEMU_MODEL_STATS_LIST(PM_X_JSON)
#undef PM_X_JSON
	return ferror(f) ? -EIO : 0;
}

int pagemu_model_stats_write_text(const pagemu_model_stats_t *s, FILE *f)
{
	int err = 0;

#define PM_X_TEXT(name, kind, desc) \
	err |= fprintf(f, "%-14s %14llu  %s\n", #name, (unsigned long long)s->name, desc) < 0;
	PAGEMU_MODEL_STATS_LIST(PM_X_TEXT)
#undef PM_X_TEXT
	return err ? -EIO : 0;
}
