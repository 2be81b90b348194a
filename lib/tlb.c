/* tlb.c - the modeled TLB: set-associative, LRU, optional second level
 * (model; no system calls). The policy between the levels is described
 * in internal.h, section 1b: fills go to both, L2 hits are promoted, L1
 * victims are written back into L2, L2 never back-invalidates L1.
 *
 * Entries live in caller memory (the engine maps it at open time; the
 * fault handler never allocates). A set's ways are contiguous, so a
 * lookup reads one or two cache lines of the host. */
#include <errno.h>

#include "internal.h"

size_t pm_tlb_mem_size(unsigned sets, unsigned ways, unsigned sets2, unsigned ways2)
{
	return ((size_t)sets * ways + (size_t)sets2 * ways2) * sizeof(pm_tlb_entry_t);
}

static void level_clear(pm_tlb_level_t *lv)
{
	size_t i, n = (size_t)lv->sets * lv->ways;

	for (i = 0; i < n; i++) {
		lv->e[i].tag = PM_NONE;
		lv->e[i].ppn = 0;
		lv->e[i].used = 0;
	}
}

static int level_init(pm_tlb_level_t *lv, unsigned sets, unsigned ways, pm_tlb_entry_t *mem)
{
	if (sets && (!pm_is_pow2(sets) || ways == 0))
		return -EINVAL;
	lv->sets = sets;
	lv->ways = sets ? ways : 0;
	lv->set_bits = pm_log2(sets);
	lv->e = mem;
	level_clear(lv);
	return 0;
}

int pm_tlb_init(pm_tlb_t *t, unsigned sets, unsigned ways, unsigned sets2, unsigned ways2, void *mem)
{
	pm_tlb_entry_t *e = mem;

	/* L1 is required; a TLB of no entries is "no TLB" for the caller. */
	if (!sets || level_init(&t->lv[0], sets, ways, e) < 0)
		return -EINVAL;
	if (level_init(&t->lv[1], sets2, ways2, e + (size_t)sets * ways) < 0)
		return -EINVAL;
	t->tick = 0;
	return 0;
}

/* The first way of vpn's set in lv, and vpn's tag there. */
static pm_tlb_entry_t *set_of(const pm_tlb_level_t *lv, uint64_t vpn, uint64_t *tag)
{
	*tag = vpn >> lv->set_bits;
	return lv->e + (size_t)(vpn & (lv->sets - 1)) * lv->ways;
}

static pm_tlb_entry_t *find(const pm_tlb_level_t *lv, uint64_t vpn)
{
	uint64_t tag;
	pm_tlb_entry_t *s;

	if (!lv->sets)
		return NULL;
	s = set_of(lv, vpn, &tag);
	for (unsigned w = 0; w < lv->ways; w++)
		if (s[w].tag == tag)
			return &s[w];
	return NULL;
}

/* The way to replace in a set: the lowest empty way, else the LRU one. */
static pm_tlb_entry_t *victim(const pm_tlb_level_t *lv, pm_tlb_entry_t *s)
{
	pm_tlb_entry_t *v = &s[0];

	for (unsigned w = 0; w < lv->ways; w++) {
		if (s[w].tag == PM_NONE)
			return &s[w];
		if (s[w].used < v->used)
			v = &s[w];
	}
	return v;
}

static uint64_t vpn_of(const pm_tlb_level_t *lv, const pm_tlb_entry_t *e)
{
	uint64_t set = (uint64_t)(e - lv->e) / lv->ways;

	return e->tag << lv->set_bits | set;
}

/* Put vpn -> ppn in lv (in place when present). Returns the VPN of the
 * valid entry replaced, or PM_NONE; *old_ppn receives its PPN. */
static uint64_t insert(pm_tlb_t *t, pm_tlb_level_t *lv, uint64_t vpn, uint64_t ppn, uint64_t *old_ppn)
{
	uint64_t tag, out = PM_NONE;
	pm_tlb_entry_t *s, *e;

	s = set_of(lv, vpn, &tag);
	e = NULL;
	for (unsigned w = 0; w < lv->ways; w++)
		if (s[w].tag == tag)
			e = &s[w];
	if (!e) {
		e = victim(lv, s);
		if (e->tag != PM_NONE) {
			out = vpn_of(lv, e);
			*old_ppn = e->ppn;
		}
		e->tag = tag;
	}
	e->ppn = ppn;
	e->used = ++t->tick;
	return out;
}

/* vpn -> ppn into L1; the L1 victim is written back into L2. */
static uint64_t fill_l1(pm_tlb_t *t, uint64_t vpn, uint64_t ppn)
{
	uint64_t old_ppn = 0, out = insert(t, &t->lv[0], vpn, ppn, &old_ppn);

	if (out != PM_NONE && t->lv[1].sets) {
		pm_tlb_entry_t *e = find(&t->lv[1], out);
		if (e)
			e->used = ++t->tick;
		else
			insert(t, &t->lv[1], out, old_ppn, &old_ppn);
	}
	return out;
}

enum pm_tlb_result pm_tlb_probe(const pm_tlb_t *t, uint64_t vpn, uint64_t *ppn)
{
	const pm_tlb_entry_t *e;

	if ((e = find(&t->lv[0], vpn))) {
		*ppn = e->ppn;
		return PM_TLB_HIT_L1;
	}
	if ((e = find(&t->lv[1], vpn))) {
		*ppn = e->ppn;
		return PM_TLB_HIT_L2;
	}
	return PM_TLB_MISS;
}

enum pm_tlb_result pm_tlb_lookup(pm_tlb_t *t, uint64_t vpn, uint64_t *ppn, uint64_t *l1_evicted)
{
	const pm_tlb_level_t *l1 = &t->lv[0];
	uint64_t tag, out;
	pm_tlb_entry_t *s, *e;

	if (l1_evicted)
		*l1_evicted = PM_NONE;
	/* The hot path of the simulator: an L1 hit, open-coded. */
	s = set_of(l1, vpn, &tag);
	for (unsigned w = 0; w < l1->ways; w++)
		if (s[w].tag == tag) {
			s[w].used = ++t->tick;
			*ppn = s[w].ppn;
			return PM_TLB_HIT_L1;
		}
	e = find(&t->lv[1], vpn);
	if (!e)
		return PM_TLB_MISS;
	e->used = ++t->tick;
	*ppn = e->ppn;
	out = fill_l1(t, vpn, e->ppn);
	if (l1_evicted)
		*l1_evicted = out;
	return PM_TLB_HIT_L2;
}

uint64_t pm_tlb_fill(pm_tlb_t *t, uint64_t vpn, uint64_t ppn)
{
	uint64_t old_ppn;

	/* L2 first, so that the L1 victim written back afterwards is not
	 * pushed straight out by the new entry: the two levels then hold as
	 * many distinct translations as they can. */
	if (t->lv[1].sets)
		insert(t, &t->lv[1], vpn, ppn, &old_ppn);
	return fill_l1(t, vpn, ppn);
}

int pm_tlb_invalidate(pm_tlb_t *t, uint64_t vpn)
{
	int mask = 0;

	for (unsigned l = 0; l < 2; l++) {
		pm_tlb_entry_t *e = find(&t->lv[l], vpn);
		if (e) {
			e->tag = PM_NONE;
			e->used = 0;
			mask |= 1 << l;
		}
	}
	return mask;
}

void pm_tlb_flush(pm_tlb_t *t)
{
	level_clear(&t->lv[0]);
	if (t->lv[1].sets)
		level_clear(&t->lv[1]);
}

int pm_tlb_load(pm_tlb_t *t, unsigned level, unsigned set, unsigned way, uint64_t tag, uint64_t ppn)
{
	pm_tlb_level_t *lv;
	pm_tlb_entry_t *e;

	if (level > 1)
		return -EINVAL;
	lv = &t->lv[level];
	if (set >= lv->sets || way >= lv->ways || tag == PM_NONE)
		return -EINVAL;
	e = &lv->e[(size_t)set * lv->ways + way];
	e->tag = tag;
	e->ppn = ppn;
	e->used = ++t->tick;
	return 0;
}
