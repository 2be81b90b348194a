/* replay.c - the standalone model's fast path: pagemu_model_access and
 * pagemu_model_replay (model; no system calls).
 *
 * model.c's ref() without the report, for paging mode without a cache (the
 * simulator's case), with the same counts, TLB entries and policy state:
 *  - an L1 TLB hit is found inline and costs no call (in the replay
 *    loop, a reference to the page of the one before costs no scan);
 *  - L2 entries are found through an index, and each set is scanned at
 *    most once, with no data-dependent exit (pm_tlb_lookup_l2,
 *    pm_tlb_fill_absent, pm_tlb_invalidate_fast: see tlbfast.c);
 *  - the policy hears of a reference only when that can change it:
 *    FIFO and random ignore references, and a second referenced() of the
 *    frame the last call named, with no other call between, changes
 *    nothing (CLOCK's bit is still set, LRU's frame is still the newest);
 *  - what a fault reads from tables too large for the host's caches is
 *    asked for ahead: the PTE of the reference AHEAD further on (found
 *    through the leaf slots, which also spare the walk its interior
 *    levels), while the trace walks often, and the frame entry of the
 *    policy's next victim.
 * Policy calls come from here, from pm_model_page_in and from ref() (model.c);
 * the last two forget the memo. */
#include <errno.h>

#include "model/model.h"

/* Tell the policy that the page in ppn was referenced. */
static inline void notify(pagemu_model_t *m, uint64_t ppn)
{
	if (ppn != m->last_ref) {
		m->policy->referenced(m->policy_state, ppn);
		m->last_ref = ppn;
	}
}

/* pm_model_walk without a report, through the leaf slots: a hit counts
 * the levels a walk reads (a leaf exists: all of them) and reads none of
 * the interior nodes. */
static pm_pte_t *fast_walk(pagemu_model_t *m, uint64_t vpn)
{
	uint64_t key = vpn >> m->leaf_bits, idx = vpn & ((1ULL << m->leaf_bits) - 1);
	size_t slot = key % PM_LEAF_SLOTS;
	pm_pte_t *pte;

	if (m->leaf_key[slot] == key) {
		m->stats.page_walks++;
		m->stats.walk_levels += m->pt.geom.levels;
		return m->leaf_node[slot] + idx;
	}
	if ((pte = pm_model_walk(m, vpn, NULL))) {
		m->leaf_key[slot] = key;
		m->leaf_node[slot] = pte - idx;
	}
	return pte;
}

/* Where vpn's PTE is if its leaf is in the slots (else a PTE of another
 * node: any address will do, and the key is not read, as it costs the
 * test more than a useless prefetch costs): the replay asks the host for
 * that line some references ahead, so that a reference that walks or
 * faults finds it in the host's cache (the leaves of a trace spread over
 * a large space do not stay there). A hint only: nothing of the model
 * changes. The caller prefetches: GCC takes a function whose only effect
 * is a prefetch for one without effects, and drops its calls. */
static inline const void *pte_hint(pm_pte_t *const *leaf_node, unsigned leaf_bits, uint64_t leaf_mask, uint64_t vpn)
{
	return leaf_node[(vpn >> leaf_bits) % PM_LEAF_SLOTS] + (vpn & leaf_mask);
}

/* The frame entry of the frame the policy would evict next, as it stands
 * (else the first): eviction reads its VPN and its PTE's address, from a
 * table that does not stay in the host's cache, and the next fault is
 * some references away. An entry may span two lines: the caller
 * prefetches both ends. A hint only, as pte_hint. */
static inline const pm_frame_t *next_victim_hint(const pagemu_model_t *m)
{
	uint64_t next;

	if (m->policy->upcoming(m->policy_state, &next, 1, 8) == 1)
		return &m->frames.f[next];
	return m->frames.f;
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
	pte = fast_walk(m, vpn);
	if (!pte || !pte_present(*pte)) {
		fault = 1;
		m->stats.faults++;
		if (!(pte = pm_model_page_in(m, vpn, pte)))
			return -ENOMEM;
		const pm_frame_t *next = next_victim_hint(m);
		__builtin_prefetch(&next->vpn);
		__builtin_prefetch(&next->pte);
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
	pm_model_touch_frame(m, ppn, access, NULL);
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
		return pm_model_access_ref(m, va, access);
	fast_begin(m);
	return fast_ref(m, va, access);
}

/* How many references ahead the replay asks for a PTE: about the
 * references a host memory access lasts (8 and 32 did the same). */
#define AHEAD 16

/* References of a span: the replay decides span by span whether to
 * prefetch PTEs. */
#define SPAN 4096
/* It does while the span before walked for at least one reference in
 * PREFETCH_WALKS: the hint costs about a nanosecond a reference (a trace
 * of L1 hits alone ran at 260-380 M refs/s with it, 490-560 without),
 * a walk whose PTE misses the host's cache some 50-100. */
#define PREFETCH_WALKS 64

/* fast_ref over va[from, to) of an array of n, with what an L1 hit needs
 * held in locals (the L1 arrays, the frame bits, the tick, three
 * counters): stores through m's uint64_t fields would otherwise make the
 * compiler reload all of it for every reference. The tick goes back to
 * the TLB around every call that may read it. A reference to the page of
 * the one before it, which hit L1, hits the same entry (nothing ran
 * between them): no scan. prefetch: ask for the PTE of the reference
 * AHEAD further on (a constant: fast_replay has a copy of each). Returns
 * 0 or the error of reference *done; *done the first reference not done. */
static inline __attribute__((always_inline))
int replay_span(pagemu_model_t *m, const uint64_t *va, const uint8_t *access, size_t n, size_t from, size_t to,
		size_t *done, const int prefetch)
{
	pm_tlb_level_t *l1 = &m->tlb.lv[0];
	const uint64_t *tag1 = l1->tag, *ppn1 = l1->ppn;
	uint64_t *used1 = l1->used;
	const uint8_t *fbits = m->fbits;      /* the pointer only: page_in writes what it points to */
	const uint64_t set_mask = l1->sets ? l1->sets - 1 : 0, va_limit = m->va_limit;
	const unsigned ways = l1->ways, set_bits = l1->set_bits, page_bits = m->page_bits;
	pm_pte_t *const *leaf_node = m->leaf_node;
	const unsigned leaf_bits = m->leaf_bits;
	const uint64_t leaf_mask = (1ULL << leaf_bits) - 1;
	const int has_tlb = m->has_tlb, lru1 = l1->policy == PAGEMU_TLB_LRU, plru1 = l1->policy == PAGEMU_TLB_PLRU,
		  notify_hit = m->notify_hit;
	uint64_t tick = m->tlb.tick, refs = 0, writes = 0, hits1 = 0, last_vpn = PM_NONE;
	long last = -1;
	unsigned want;
	size_t i;
	int r = 0;

	for (i = from; i < to; i++) {
		uint64_t a = va[i], vpn = a >> page_bits, ppn;
		unsigned wr = (unsigned)access[i] >> 1 & 1;   /* PM_PROT_WRITE */
		long e = -1;

		if (prefetch)
			__builtin_prefetch(pte_hint(leaf_node, leaf_bits, leaf_mask,
						    va[i + AHEAD < n ? i + AHEAD : i] >> page_bits));

		if (a > va_limit) {
			r = -EINVAL;
			break;
		}
		refs++;
		writes += wr;
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
		/* Only a write to a page not yet dirty (or not writable) changes
		 * something there: tested without a branch on the access kind,
		 * which a trace mixes at random. */
		want = wr * (PM_FB_W | PM_FB_D);
		if ((fbits[ppn] & want) != want)
			pm_model_touch_frame(m, ppn, access[i], NULL);
	}
	m->tlb.tick = tick;
	m->stats.refs += refs;
	m->stats.writes += writes;
	m->stats.tlb_hits_l1 += hits1;
	*done = i;
	return r < 0 ? r : 0;
}

static int fast_replay(pagemu_model_t *m, const uint64_t *va, const uint8_t *access, size_t n, size_t *done)
{
	size_t i = 0;
	int r = 0;

	while (i < n && r == 0) {
		size_t len = n - i > SPAN ? SPAN : n - i;
		uint64_t walks = m->stats.page_walks;

		if (m->prefetch)
			r = replay_span(m, va, access, n, i, i + len, &i, 1);
		else
			r = replay_span(m, va, access, n, i, i + len, &i, 0);
		m->prefetch = (m->stats.page_walks - walks) * PREFETCH_WALKS >= len;
	}
	*done = i;
	return r;
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
			if ((r = pm_model_access_ref(m, va[i], access[i])) < 0)
				break;
	}
	if (done)
		*done = i;
	return r < 0 ? r : 0;
}
