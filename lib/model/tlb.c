/* tlb.c - the modeled TLB: set-associative, optional second level, a
 * replacement policy per level (model; no system calls). The policy
 * between the levels is described in model.h: fills go to both, L2 hits
 * are promoted, L1 victims are written back into L2, L2 never
 * back-invalidates L1.
 *
 * Replacement within a set hears of two events: a fill (an entry is put
 * in a way) and a touch (a hit, a refill in place, a victim written back
 * into L2 that it still holds). LRU and tree pseudo-LRU change on
 * touches; FIFO and random do not, so they depend on misses alone.
 *
 * Entries live in caller memory (the engine maps it at open time; the
 * fault handler never allocates). Tags, PPNs and replacement words are
 * separate arrays, so a lookup scans one set's tags in one or two host
 * cache lines: this is the simulator's hot path. */
#include <errno.h>
#include <string.h>

#include "model/model.h"

int pm_tlb_mem_size(unsigned sets, unsigned ways, unsigned sets2, unsigned ways2, size_t *bytes)
{
	size_t n1, n2, n;

	/* Any geometry a caller passes must give an error, never a wrapped size. */
	if (__builtin_mul_overflow((size_t)sets, (size_t)ways, &n1) ||
	    __builtin_mul_overflow((size_t)sets2, (size_t)ways2, &n2) ||
	    __builtin_add_overflow(n1, n2, &n) ||
	    __builtin_mul_overflow(n, 3 * sizeof(uint64_t), bytes))
		return -EOVERFLOW;
	return 0;
}

static void level_clear(pm_tlb_level_t *lv)
{
	size_t i, n = (size_t)lv->sets * lv->ways;

	for (i = 0; i < n; i++) {
		lv->tag[i] = PM_NONE;
		lv->ppn[i] = 0;
		lv->used[i] = 0;
	}
}

/* Lay the level out at mem; returns the first word after it. */
static uint64_t *level_init(pm_tlb_level_t *lv, unsigned sets, unsigned ways, uint64_t *mem)
{
	size_t n = (size_t)sets * ways;

	lv->sets = sets;
	lv->ways = sets ? ways : 0;
	lv->set_bits = pm_log2(sets);
	lv->tag = mem;
	lv->ppn = mem + n;
	lv->used = mem + 2 * n;
	lv->policy = PAGEMU_TLB_LRU;
	level_clear(lv);
	return mem + 3 * n;
}

int pm_tlb_init(pm_tlb_t *t, unsigned sets, unsigned ways, unsigned sets2, unsigned ways2, void *mem)
{
	/* L1 is required; a TLB of no entries is "no TLB" for the caller. */
	if (!pm_is_pow2(sets) || !ways || (sets2 && (!pm_is_pow2(sets2) || !ways2)))
		return -EINVAL;
	level_init(&t->lv[1], sets2, ways2, level_init(&t->lv[0], sets, ways, mem));
	t->tick = 0;
	t->asid_bits = 0;
	t->rng = 1;
	return 0;
}

static const char *const policy_names[PAGEMU_TLB_POLICY_COUNT] = {
	[PAGEMU_TLB_LRU] = "lru",
	[PAGEMU_TLB_FIFO] = "fifo",
	[PAGEMU_TLB_RANDOM] = "random",
	[PAGEMU_TLB_PLRU] = "plru",
};

const char *pagemu_tlb_policy_name(pagemu_tlb_policy_t p)
{
	return (unsigned)p < PAGEMU_TLB_POLICY_COUNT ? policy_names[p] : NULL;
}

int pagemu_tlb_policy_parse(const char *name, pagemu_tlb_policy_t *out)
{
	int i = pm_parse_name(name, policy_names, PAGEMU_TLB_POLICY_COUNT);

	if (i < 0)
		return i;
	*out = (pagemu_tlb_policy_t)i;
	return 0;
}

int pm_tlb_set_policy(pm_tlb_t *t, const pagemu_tlb_policy_t policy[2], uint64_t seed)
{
	for (unsigned l = 0; l < 2; l++) {
		if ((unsigned)policy[l] >= PAGEMU_TLB_POLICY_COUNT ||
		    (policy[l] == PAGEMU_TLB_PLRU && t->lv[l].ways > PM_TLB_PLRU_MAX_WAYS))
			return -EINVAL;
	}
	for (unsigned l = 0; l < 2; l++) {
		t->lv[l].policy = policy[l];
		level_clear(&t->lv[l]);
	}
	/* Its own stream, apart from the random page policy's with the same seed. */
	t->rng = (seed ^ 0x5851F42D4C957F2DULL) | 1;
	return 0;
}

#include "model/tlb_impl.h"

/* Put vpn -> ppn in lv where it is known to be absent. Returns the VPN of
 * the valid entry replaced, or PM_NONE; *old_ppn receives its PPN. */
static uint64_t replace(pm_tlb_t *t, pm_tlb_level_t *lv, uint64_t vpn, uint64_t ppn, uint64_t *old_ppn)
{
	uint64_t tag;
	size_t s = set_of(lv, vpn, &tag);

	return put(t, lv, victim(t, lv, s), tag, ppn, old_ppn);
}

/* vpn -> ppn into L1 where it is absent; the L1 victim is written back
 * into L2. Returns the victim's VPN or PM_NONE. */
static uint64_t fill_l1(pm_tlb_t *t, uint64_t vpn, uint64_t ppn)
{
	pm_tlb_level_t *l2 = &t->lv[1];
	uint64_t old_ppn = 0, out = replace(t, &t->lv[0], vpn, ppn, &old_ppn);
	long i;

	if (out != PM_NONE && l2->sets) {
		if ((i = find(l2, out)) >= 0)
			touch(t, l2, (size_t)i);
		else
			replace(t, l2, out, old_ppn, &old_ppn);
	}
	return out;
}

/* The VPN as the TLB holds it: the current ASID above the VPN's bits (an
 * entry matches only the space that filled it). 0 with ASIDs unused. */
static inline uint64_t tagged(const pm_tlb_t *t, uint64_t vpn)
{
	return vpn | t->asid_bits;
}

/* An entry the TLB pushed out, as the caller knows it: the VPN of the
 * current space, or PM_NONE (another space's entry: nothing of it is
 * mapped now). */
static inline uint64_t untagged(const pm_tlb_t *t, uint64_t tv)
{
	if (tv == PM_NONE || (tv & ~PM_TLB_VPN_MASK) != t->asid_bits)
		return PM_NONE;
	return tv & PM_TLB_VPN_MASK;
}

void pm_tlb_set_asid(pm_tlb_t *t, unsigned asid)
{
	PM_ASSERT(asid < PM_TLB_ASIDS);
	t->asid_bits = (uint64_t)asid << PM_TLB_ASID_SHIFT;
}

int pm_tlb_invalidate_asid(pm_tlb_t *t, unsigned asid, uint64_t vpn)
{
	uint64_t cur = t->asid_bits;
	int mask;

	pm_tlb_set_asid(t, asid);
	mask = pm_tlb_invalidate(t, vpn);
	t->asid_bits = cur;
	return mask;
}

uint64_t pm_tlb_flush_asid(pm_tlb_t *t, unsigned asid)
{
	uint64_t n = 0, bits = (uint64_t)asid << PM_TLB_ASID_SHIFT;

	for (unsigned l = 0; l < 2; l++) {
		pm_tlb_level_t *lv = &t->lv[l];
		for (size_t i = 0; i < (size_t)lv->sets * lv->ways; i++)
			if (lv->tag[i] != PM_NONE && (vpn_of(lv, i) & ~PM_TLB_VPN_MASK) == bits) {
				lv->tag[i] = PM_NONE;
				n++;
			}
	}
	return n;
}

enum pm_tlb_result pm_tlb_probe(const pm_tlb_t *t, uint64_t vpn, uint64_t *ppn)
{
	long i;

	vpn = tagged(t, vpn);
	if ((i = find(&t->lv[0], vpn)) >= 0) {
		*ppn = t->lv[0].ppn[i];
		return PM_TLB_HIT_L1;
	}
	if ((i = find(&t->lv[1], vpn)) >= 0) {
		*ppn = t->lv[1].ppn[i];
		return PM_TLB_HIT_L2;
	}
	return PM_TLB_MISS;
}

enum pm_tlb_result pm_tlb_lookup(pm_tlb_t *t, uint64_t vpn, uint64_t *ppn, uint64_t *l1_evicted)
{
	pm_tlb_level_t *l1 = &t->lv[0], *l2 = &t->lv[1];
	uint64_t out;
	long i;

	if (l1_evicted)
		*l1_evicted = PM_NONE;
	vpn = tagged(t, vpn);
	if ((i = find(l1, vpn)) >= 0) {
		touch(t, l1, (size_t)i);
		*ppn = l1->ppn[i];
		return PM_TLB_HIT_L1;
	}
	if ((i = find(l2, vpn)) < 0)
		return PM_TLB_MISS;
	touch(t, l2, (size_t)i);
	*ppn = l2->ppn[i];
	out = fill_l1(t, vpn, *ppn);
	if (l1_evicted)
		*l1_evicted = untagged(t, out);
	return PM_TLB_HIT_L2;
}

uint64_t pm_tlb_fill(pm_tlb_t *t, uint64_t vpn, uint64_t ppn)
{
	uint64_t old_ppn;
	long i;

	vpn = tagged(t, vpn);
	/* L2 first, so that the L1 victim written back afterwards is not
	 * pushed straight out by the new entry: the two levels then hold as
	 * many distinct translations as they can. A refill updates in place. */
	if (t->lv[1].sets) {
		pm_tlb_level_t *l2 = &t->lv[1];
		if ((i = find(l2, vpn)) >= 0) {
			l2->ppn[i] = ppn;
			touch(t, l2, (size_t)i);
		} else {
			replace(t, l2, vpn, ppn, &old_ppn);
		}
	}
	if ((i = find(&t->lv[0], vpn)) >= 0) {
		t->lv[0].ppn[i] = ppn;
		touch(t, &t->lv[0], (size_t)i);
		return PM_NONE;
	}
	return untagged(t, fill_l1(t, vpn, ppn));
}

int pm_tlb_invalidate(pm_tlb_t *t, uint64_t vpn)
{
	int mask = 0;

	vpn = tagged(t, vpn);
	for (unsigned l = 0; l < 2; l++) {
		long i = find(&t->lv[l], vpn);
		/* The replacement words stay: an empty way is filled first
		 * whatever they say, and PLRU keeps its set's bits there. */
		if (i >= 0) {
			t->lv[l].tag[i] = PM_NONE;
			mask |= 1 << l;
		}
	}
	return mask;
}

void pm_tlb_flush(pm_tlb_t *t)
{
	level_clear(&t->lv[0]);
	level_clear(&t->lv[1]);
}

int pm_tlb_load(pm_tlb_t *t, unsigned level, unsigned set, unsigned way, uint64_t tag, uint64_t ppn)
{
	pm_tlb_level_t *lv;
	size_t i;

	if (level > 1)
		return -EINVAL;
	lv = &t->lv[level];
	if (set >= lv->sets || way >= lv->ways || tag == PM_NONE)
		return -EINVAL;
	i = (size_t)set * lv->ways + way;
	lv->tag[i] = tag;
	lv->ppn[i] = ppn;
	if (lv->policy == PAGEMU_TLB_FIFO)
		lv->used[i] = ++t->tick;
	else
		touch(t, lv, i);
	return 0;
}

uint64_t pm_tlb_l1_way_vpn(const pm_tlb_t *t, uint64_t vpn, unsigned way)
{
	const pm_tlb_level_t *l1 = &t->lv[0];
	uint64_t tag;
	size_t i = set_of(l1, tagged(t, vpn), &tag) + way;

	return way < l1->ways && l1->tag[i] != PM_NONE ? untagged(t, vpn_of(l1, i)) : PM_NONE;
}
