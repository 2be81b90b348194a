/* tlb_impl.h - the TLB's insides, shared by tlb.c (the TLB) and tlbfast.c
 * (the simulator's fast path, the same steps): where an entry of a set
 * lives, how a set is scanned, the replacement words and their policies,
 * and putting an entry in a way. Only those two files include it. */
#ifndef PAGEMU_TLB_IMPL_H
#define PAGEMU_TLB_IMPL_H

#include "model/model.h"

/* Index of the first way of vpn's set in lv, and vpn's tag there. */
static inline size_t set_of(const pm_tlb_level_t *lv, uint64_t vpn, uint64_t *tag)
{
	*tag = vpn >> lv->set_bits;
	return (size_t)(vpn & (lv->sets - 1)) * lv->ways;
}

/* Index of vpn's entry in lv, or -1. */
static inline long find(const pm_tlb_level_t *lv, uint64_t vpn)
{
	uint64_t tag;
	size_t s;

	if (!lv->sets)
		return -1;
	s = set_of(lv, vpn, &tag);
	for (size_t i = s; i < s + lv->ways; i++)
		if (lv->tag[i] == tag)
			return (long)i;
	return -1;
}

static inline uint64_t vpn_of(const pm_tlb_level_t *lv, size_t i)
{
	return lv->tag[i] << lv->set_bits | (i / lv->ways);
}

/* Tree pseudo-LRU: a set's ways are the leaves of a binary tree over the
 * next power of two (node 1 the root, node k's children 2k and 2k + 1,
 * leaf P + way); each inner node's bit points to the half holding the
 * next victim (0 left, 1 right). The bits of a set live in the replacement
 * word of its first way. */
static inline unsigned plru_leaves(unsigned ways)
{
	unsigned p = 1;

	while (p < ways)
		p <<= 1;
	return p;
}

/* A use of way w: every node on its path points away from it. */
static inline void plru_touch(uint64_t *bits, unsigned ways, unsigned w)
{
	for (unsigned k = plru_leaves(ways) + w; k > 1; k >>= 1) {
		if (k & 1)
			*bits &= ~(1ULL << (k >> 1));
		else
			*bits |= 1ULL << (k >> 1);
	}
}

/* Follow the bits from the root; a half with no way in it (ways not a
 * power of two) is passed over for the other. */
static inline unsigned plru_victim(uint64_t bits, unsigned ways)
{
	unsigned p = plru_leaves(ways), k = 1;

	while (k < p) {
		unsigned c = 2 * k + (unsigned)(bits >> k & 1), lo = c;
		while (lo < p)
			lo <<= 1;
		k = lo - p < ways ? c : 2 * k;
	}
	return k - p;
}

/* A touch of entry i of lv: a hit, a refill in place. */
static inline void touch(pm_tlb_t *t, pm_tlb_level_t *lv, size_t i)
{
	if (lv->policy == PAGEMU_TLB_LRU)
		lv->used[i] = ++t->tick;
	else if (lv->policy == PAGEMU_TLB_PLRU)
		plru_touch(&lv->used[i - i % lv->ways], lv->ways, (unsigned)(i % lv->ways));
}

/* The way of the set at s that a fill takes: the lowest empty way, else
 * the policy's victim. */
static inline size_t victim(pm_tlb_t *t, const pm_tlb_level_t *lv, size_t s)
{
	size_t v = s;

	for (size_t i = s; i < s + lv->ways; i++)
		if (lv->tag[i] == PM_NONE)
			return i;
	switch (lv->policy) {
	case PAGEMU_TLB_RANDOM:
		return s + pm_xorshift64s(&t->rng) % lv->ways;
	case PAGEMU_TLB_PLRU:
		return s + plru_victim(lv->used[s], lv->ways);
	default:          /* LRU: the oldest use; FIFO: the oldest fill */
		for (size_t i = s; i < s + lv->ways; i++)
			if (lv->used[i] < lv->used[v])
				v = i;
		return v;
	}
}

/* Put tag -> ppn in way v of lv, which is in set number `set` (put: any
 * way; the fast path knows the set and spares the division); returns the
 * VPN of the valid entry replaced, or PM_NONE, *old_ppn its PPN. */
static inline uint64_t put_set(pm_tlb_t *t, pm_tlb_level_t *lv, size_t v, uint64_t set, uint64_t tag, uint64_t ppn,
			       uint64_t *old_ppn)
{
	uint64_t out = PM_NONE;

	if (lv->tag[v] != PM_NONE) {
		out = lv->tag[v] << lv->set_bits | set;
		*old_ppn = lv->ppn[v];
	}
	lv->tag[v] = tag;
	lv->ppn[v] = ppn;
	if (lv->policy == PAGEMU_TLB_FIFO)
		lv->used[v] = ++t->tick;
	else
		touch(t, lv, v);
	return out;
}

static inline uint64_t put(pm_tlb_t *t, pm_tlb_level_t *lv, size_t v, uint64_t tag, uint64_t ppn, uint64_t *old_ppn)
{
	return put_set(t, lv, v, v / lv->ways, tag, ppn, old_ppn);
}

#endif
