/* model.c - the standalone model, pagemu_model_* (model; no system calls).
 *
 * One access, as CSAPP 9.6.4 tells it:
 *   VA -> VPN, VPO -> TLB (TLBI, TLBT): hit gives the PPN
 *   miss -> page-table walk, root first (one index per level)
 *        -> PTE not valid: page fault (paging mode: take a frame, evicting
 *           the policy's victim, and complete the access)
 *        -> fill the TLB
 *   PPN, VPO -> PA -> cache (CO, CI, CT): hit gives the byte
 * pagemu_model_translate reports every step; pm_model_access_ref is the same
 * code without the report, and replay.c the simulator's fast path with the
 * same counts (pagemu_model_access, pagemu_model_replay). Every reference is
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
	m->leaf_key = malloc(PM_LEAF_SLOTS * (sizeof(*m->leaf_key) + sizeof(*m->leaf_node)));
	if (!m->frames_mem || !m->policy_state || !m->fbits || !m->leaf_key)
		return -ENOMEM;
	m->leaf_node = (pm_pte_t **)(m->leaf_key + PM_LEAF_SLOTS);
	for (size_t i = 0; i < PM_LEAF_SLOTS; i++) {
		m->leaf_key[i] = PM_NONE;
		m->leaf_node[i] = (pm_pte_t *)m->pt.root;
	}
	m->leaf_bits = m->pt.geom.bits[m->pt.geom.levels - 1];
	m->prefetch = 1;
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
	free(m->leaf_key);
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
pm_pte_t *pm_model_walk(pagemu_model_t *m, uint64_t vpn, pagemu_xlate_t *x)
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

	/* Dirty from the frame's copy (fbits mirrors D): the victim's PTE is
	 * then only written, and a store that misses the host's cache does
	 * not hold up what follows, where a load would. */
	if (m->fbits[v] & PM_FB_D)
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
pm_pte_t *pm_model_page_in(pagemu_model_t *m, uint64_t vpn, pm_pte_t *pte)
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
	m->fbits[ppn] = PM_FB_W;
	if (major)
		m->stats.faults_major++;
	else {
		m->stats.faults_zero++;
		*pte = pte_mkdirty(*pte);
		m->fbits[ppn] |= PM_FB_D;
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
		pte = pm_model_walk(m, vpn, x);
		if (!pte || !pte_present(*pte)) {
			fault = 1;
			m->stats.faults++;
			if (x)
				x->page_fault = 1;
			if (!m->paging)
				return 1;
			if (!(pte = pm_model_page_in(m, vpn, pte)))
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
		pm_model_touch_frame(m, ppn, access, x);
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
