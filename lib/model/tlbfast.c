/* tlbfast.c - the simulator's fast path over the modeled TLB (tlb.c):
 * the same effects as pm_tlb_lookup, pm_tlb_fill and pm_tlb_invalidate,
 * entry for entry, with an index beside L2 and straight-line code when
 * both levels are LRU (model; no system calls). */
#include <string.h>

#include "model/tlb_impl.h"

/* ---- the simulator's fast path -----------------------------------------------
 *
 * pm_tlb_lookup and pm_tlb_fill scan a set to find an entry, again for an
 * empty way, again for the oldest entry, and the L2 set once more for the
 * L1 victim's write-back: with a 12-way L2 that is most of a simulated
 * reference, and every scan that stops where the tag is costs a
 * mispredicted branch. Here L2 entries are found through an index beside
 * the TLB (a fingerprint byte per way, and per L1 entry the L2 entry it
 * came from), and a set is scanned for a victim once, the lowest empty
 * way and the oldest entry together, without early exits. Which way each
 * entry takes, each tick and each draw of the generator are the same, in
 * the same order. */

/* The index: a byte per L2 way, a fingerprint of its tag (0 = empty way),
 * the bytes of a set side by side and padded to whole 64-bit words
 * (0xff, never taken for a match: matches are checked against the tag).
 * A set's 12 ways are then two words of one host cache line, compared
 * eight at a time, where the tags are two lines compared one by one. */
#define FP_ONES  0x0101010101010101ULL
#define FP_HIGHS 0x8080808080808080ULL
#define FP_PAD   0xff

static inline unsigned fp_stride(unsigned ways)
{
	return (ways + 7) & ~7u;
}

/* Bytes of the fingerprints, rounded up for the home array after them. */
static size_t fp_bytes(const pm_tlb_t *t)
{
	return ((size_t)t->lv[1].sets * fp_stride(t->lv[1].ways) + 7) & ~(size_t)7;
}

size_t pm_tlb_index_mem_size(const pm_tlb_t *t)
{
	return fp_bytes(t) + (size_t)t->lv[0].sets * t->lv[0].ways * sizeof(uint32_t);
}

/* 1..255: a way holding tag is never taken for empty. */
static inline uint8_t fp_of(uint64_t tag)
{
	uint8_t f = (uint8_t)((tag * 0x9E3779B97F4A7C15ULL) >> 56);

	return f ? f : 1;
}

/* Eight fingerprints of set `set` from way w, way w in the lowest byte. */
static inline uint64_t fp_word(const pm_tlb_index_t *x, size_t set, unsigned w)
{
	uint64_t v;

	memcpy(&v, x->fp + set * x->stride + w, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* The high bit of every zero byte of v (and perhaps of bytes above one:
 * the lowest bit set is always a zero byte). */
static inline uint64_t fp_zeros(uint64_t v)
{
	return (v - FP_ONES) & ~v & FP_HIGHS;
}

/* The fingerprint of way w of L2's set `set` (no division: the callers
 * know both). */
static inline void fp_set(pm_tlb_index_t *x, size_t set, size_t w, uint8_t f)
{
	x->fp[set * x->stride + w] = f;
}

/* The L2 entry holding vpn, or -1. */
static inline long fp_find(const pm_tlb_t *t, const pm_tlb_index_t *x, uint64_t vpn)
{
	const pm_tlb_level_t *l2 = &t->lv[1];
	uint64_t tag = vpn >> l2->set_bits, pat = FP_ONES * fp_of(tag);
	size_t set = (size_t)(vpn & (l2->sets - 1)), s = set * l2->ways;

	for (unsigned w = 0; w < l2->ways; w += 8) {
		uint64_t m = fp_zeros(fp_word(x, set, w) ^ pat);
		while (m) {
			unsigned k = w + ((unsigned)__builtin_ctzll(m) >> 3);
			m &= m - 1;
			if (k < l2->ways && l2->tag[s + k] == tag)
				return (long)(s + k);
		}
	}
	return -1;
}

/* The lowest empty way of L2's set `set`, or SIZE_MAX. */
static inline size_t fp_empty(const pm_tlb_t *t, const pm_tlb_index_t *x, size_t set)
{
	const pm_tlb_level_t *l2 = &t->lv[1];

	for (unsigned w = 0; w < l2->ways; w += 8) {
		uint64_t m = fp_zeros(fp_word(x, set, w));
		if (m)
			return set * l2->ways + w + ((unsigned)__builtin_ctzll(m) >> 3);
	}
	return SIZE_MAX;
}

void pm_tlb_index_init(pm_tlb_index_t *x, const pm_tlb_t *t, void *mem)
{
	x->fp = mem;
	x->stride = fp_stride(t->lv[1].ways);
	x->home = (uint32_t *)(x->fp + fp_bytes(t));
	for (size_t i = 0; i < (size_t)t->lv[0].sets * t->lv[0].ways; i++)
		x->home[i] = UINT32_MAX;
	pm_tlb_index_rebuild(x, t);
}

void pm_tlb_index_rebuild(pm_tlb_index_t *x, const pm_tlb_t *t)
{
	const pm_tlb_level_t *l2 = &t->lv[1];

	memset(x->fp, FP_PAD, fp_bytes(t));
	for (size_t set = 0, i = 0; set < l2->sets; set++)
		for (size_t w = 0; w < l2->ways; w++, i++)
			fp_set(x, set, w, l2->tag[i] == PM_NONE ? 0 : fp_of(l2->tag[i]));
	x->stale = 0;
}

/* The way a fill of the full set at s takes; old: its first oldest entry
 * (LRU, FIFO). As victim(), which draws the generator only here. */
static inline size_t pick(pm_tlb_t *t, const pm_tlb_level_t *lv, size_t s, size_t old)
{
	if (lv->policy == PAGEMU_TLB_RANDOM)
		return s + pm_xorshift64s(&t->rng) % lv->ways;
	if (lv->policy == PAGEMU_TLB_PLRU)
		return s + plru_victim(lv->used[s], lv->ways);
	return old;
}

/* The way of L1's set at s a fill takes, as victim(), in one pass with no
 * early exit (a scan that stops at a data-dependent way costs a
 * mispredicted branch, more than the ways it skips). Walking down, the
 * last way kept is the lowest empty one, and the lowest of the oldest
 * (<=), as victim()'s upward scan finds them. */
static inline size_t way_l1(pm_tlb_t *t, size_t s)
{
	const pm_tlb_level_t *lv = &t->lv[0];
	const uint64_t *tg = lv->tag, *used = lv->used;
	size_t empty = SIZE_MAX, old = s;
	uint64_t oldest = UINT64_MAX;

	for (size_t i = s + lv->ways; i-- > s;) {
		uint64_t key = tg[i] == PM_NONE ? UINT64_MAX : used[i];
		empty = tg[i] == PM_NONE ? i : empty;
		old = key <= oldest ? i : old;
		oldest = key <= oldest ? key : oldest;
	}
	return empty != SIZE_MAX ? empty : pick(t, lv, s, old);
}

/* The oldest entry of the full set at s (LRU, FIFO: the lowest of
 * equals, as victim()), in one pass with no early exit. */
static inline size_t oldest_way(const pm_tlb_level_t *lv, size_t s)
{
	size_t old = s;
	uint64_t oldest = UINT64_MAX;

	for (size_t i = s + lv->ways; i-- > s;) {
		old = lv->used[i] <= oldest ? i : old;
		oldest = lv->used[i] <= oldest ? lv->used[i] : oldest;
	}
	return old;
}

/* vpn -> ppn into L2: refilled in place when there (when refill), else
 * replace() with the index kept. Returns its L2 entry. */
static size_t place_l2(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn);
static size_t enter_l2(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn, int refill)
{
	pm_tlb_level_t *l2 = &t->lv[1];
	long i = fp_find(t, x, vpn);

	if (i >= 0) {
		if (refill)
			l2->ppn[i] = ppn;
		touch(t, l2, (size_t)i);
		return (size_t)i;
	}
	return place_l2(t, x, vpn, ppn);
}

/* vpn -> ppn into L2 where it is absent: replace() with the index kept.
 * Returns its entry. */
static size_t place_l2(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn)
{
	pm_tlb_level_t *l2 = &t->lv[1];
	uint64_t tag, old_ppn;
	size_t s, v;

	size_t set = (size_t)(vpn & (l2->sets - 1));

	s = set_of(l2, vpn, &tag);
	if ((v = fp_empty(t, x, set)) == SIZE_MAX)
		v = pick(t, l2, s, l2->policy == PAGEMU_TLB_LRU || l2->policy == PAGEMU_TLB_FIFO ? oldest_way(l2, s) : s);
	put_set(t, l2, v, set, tag, ppn, &old_ppn);
	fp_set(x, set, v - s, fp_of(tag));
	return v;
}

/* fill_l1 for vpn (tag its L1 tag) absent from L1, its way v there already chosen; home:
 * its L2 entry. */
static uint64_t fill_l1_at(pm_tlb_t *t, pm_tlb_index_t *x, size_t v, uint64_t vpn, uint64_t tag, uint64_t ppn,
			   size_t home)
{
	pm_tlb_level_t *l2 = &t->lv[1];
	uint64_t old_ppn = 0, out = put_set(t, &t->lv[0], v, vpn & (t->lv[0].sets - 1), tag, ppn, &old_ppn), tag2;
	size_t h, s2;

	if (!l2->sets)
		return out;
	h = x->home[v];
	x->home[v] = (uint32_t)home;
	if (out == PM_NONE)
		return out;
	/* The L1 victim written back into L2: touched if L2 still holds it,
	 * most often where it was when it came into L1 (the entry there is
	 * it if it is in its set with its tag: a set holds a tag once). */
	s2 = set_of(l2, out, &tag2);
	if (h >= s2 && h < s2 + l2->ways && l2->tag[h] == tag2)
		touch(t, l2, h);
	else
		enter_l2(t, x, out, old_ppn, 0);
	return out;
}

/* ---- both levels LRU (the default): the same steps, the policy known ----
 * The generic steps above test the policy at every touch and put, and
 * call across three functions: on the sim_speed workload an L2 hit cost
 * ~240 instructions. Here, straight-line code, with ticks taken in the
 * same order as above. A set's victim is victim()'s: the lowest empty
 * way, else the least recently used. Sets are full but for a while after
 * an invalidation, so the empty way is looked for first (L1: its tags;
 * L2: the fingerprints), and the least recently used is the smallest of
 * the ways' "tick << 8 | way" (distinct ticks: the lowest of equals
 * would be the same), a minimum that compiles to conditional moves: a
 * select of the way beside that of the tick becomes a branch taken at
 * random. The way takes 8 bits: both_lru leaves the generic steps to
 * more than 256 ways, and to a tick past 2^55 (no trace gets there). */
#define LRU_WAY_BITS 8

/* The least recently used way of the full set at s. */
static inline __attribute__((always_inline))
size_t lru_oldest(const pm_tlb_level_t *lv, size_t s, unsigned ways)
{
	const uint64_t *used = lv->used + s;
	uint64_t least = UINT64_MAX;

#pragma GCC unroll 16
	for (unsigned w = 0; w < ways; w++) {
		uint64_t key = used[w] << LRU_WAY_BITS | w;
		least = key < least ? key : least;
	}
	return s + (least & ((1u << LRU_WAY_BITS) - 1));
}

/* The way of L1's set at s a fill takes: the lowest empty one, else the
 * least recently used. */
static inline __attribute__((always_inline))
size_t lru_way_l1(const pm_tlb_level_t *l1, size_t s, unsigned ways)
{
	const uint64_t *tg = l1->tag + s;
	int full = 1;

#pragma GCC unroll 16
	for (unsigned w = 0; w < ways; w++)
		full &= tg[w] != PM_NONE;
	if (full)
		return lru_oldest(l1, s, ways);
	for (unsigned w = 0;; w++)
		if (tg[w] == PM_NONE)
			return s + w;
}

/* place_l2 with both levels LRU, L2's ways ways2. */
static inline __attribute__((always_inline))
size_t lru_place_l2(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn, unsigned ways2)
{
	pm_tlb_level_t *l2 = &t->lv[1];
	size_t set = (size_t)(vpn & (l2->sets - 1)), s = set * ways2, v = fp_empty(t, x, set);
	uint64_t tag = vpn >> l2->set_bits;

	if (v == SIZE_MAX)
		v = lru_oldest(l2, s, ways2);
	l2->tag[v] = tag;
	l2->ppn[v] = ppn;
	l2->used[v] = ++t->tick;
	fp_set(x, set, v - s, fp_of(tag));
	return v;
}

/* fill_l1_at with both levels LRU, the way chosen here: vpn -> ppn into
 * L1 where it is absent, home its L2 entry; the L1 victim written back
 * into L2. Returns the victim's VPN or PM_NONE. ways1 and ways2 are the
 * levels' ways: lru_fill_l1 passes constants for the default geometry,
 * so that the scans unroll (a loop over 4 ways costs more in its own
 * counting than in the compares). */
static inline __attribute__((always_inline))
uint64_t lru_fill_l1_ways(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn, size_t home,
			  unsigned ways1, unsigned ways2)
{
	pm_tlb_level_t *l1 = &t->lv[0], *l2 = &t->lv[1];
	uint64_t set = vpn & (l1->sets - 1), out, old_ppn, tag2;
	size_t v = lru_way_l1(l1, set * ways1, ways1), h, s2;
	long i;

	out = l1->tag[v];
	old_ppn = l1->ppn[v];
	l1->tag[v] = vpn >> l1->set_bits;
	l1->ppn[v] = ppn;
	l1->used[v] = ++t->tick;
	h = x->home[v];
	x->home[v] = (uint32_t)home;
	if (out == PM_NONE)
		return PM_NONE;
	out = out << l1->set_bits | set;
	/* The write-back, as fill_l1_at: first where the victim came from. */
	s2 = (size_t)(out & (l2->sets - 1)) * ways2;
	tag2 = out >> l2->set_bits;
	if (h >= s2 && h < s2 + ways2 && l2->tag[h] == tag2)
		l2->used[h] = ++t->tick;
	else if ((i = fp_find(t, x, out)) >= 0)
		l2->used[i] = ++t->tick;
	else
		lru_place_l2(t, x, out, old_ppn, ways2);
	return out;
}

/* An L2 hit's fill of L1 (home: the L2 entry that hit). */
static uint64_t lru_fill_l1(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn, size_t home)
{
	if (t->lv[0].ways == 4 && t->lv[1].ways == 12)
		return lru_fill_l1_ways(t, x, vpn, ppn, home, 4, 12);
	return lru_fill_l1_ways(t, x, vpn, ppn, home, t->lv[0].ways, t->lv[1].ways);
}

/* lru_place_l2, then lru_fill_l1: a walk's fill. */
static uint64_t lru_fill_both(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn)
{
	if (t->lv[0].ways == 4 && t->lv[1].ways == 12)
		return lru_fill_l1_ways(t, x, vpn, ppn, lru_place_l2(t, x, vpn, ppn, 12), 4, 12);
	return lru_fill_l1_ways(t, x, vpn, ppn, lru_place_l2(t, x, vpn, ppn, t->lv[1].ways), t->lv[0].ways,
				t->lv[1].ways);
}

/* The steps above serve t (the fast path's callers have an L2). */
static inline int both_lru(const pm_tlb_t *t)
{
	return t->lv[0].policy == PAGEMU_TLB_LRU && t->lv[1].policy == PAGEMU_TLB_LRU && t->lv[1].sets &&
	       t->lv[0].ways <= 1u << LRU_WAY_BITS && t->lv[1].ways <= 1u << LRU_WAY_BITS &&
	       t->tick < 1ULL << (64 - LRU_WAY_BITS - 1);
}

void pm_tlb_plru_touch(pm_tlb_t *t, pm_tlb_level_t *lv, size_t i)
{
	touch(t, lv, i);
}

enum pm_tlb_result pm_tlb_lookup_l2(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t *ppn)
{
	pm_tlb_level_t *l2 = &t->lv[1];
	uint64_t tag1;
	size_t s1, v1 = 0;
	long i;

	if (!l2->sets || (i = fp_find(t, x, vpn)) < 0)
		return PM_TLB_MISS;
	if (both_lru(t)) {
		l2->used[i] = ++t->tick;
		*ppn = l2->ppn[i];
		lru_fill_l1(t, x, vpn, *ppn, (size_t)i);
		return PM_TLB_HIT_L2;
	}
	touch(t, l2, (size_t)i);
	*ppn = l2->ppn[i];
	/* The caller found no L1 entry: pick the way only (the generator
	 * drawn here, after the L2 touch, as fill_l1 draws it). */
	s1 = set_of(&t->lv[0], vpn, &tag1);
	v1 = way_l1(t, s1);
	fill_l1_at(t, x, v1, vpn, tag1, *ppn, (size_t)i);
	return PM_TLB_HIT_L2;
}

uint64_t pm_tlb_fill_absent(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn)
{
	uint64_t tag;
	size_t s, v = 0, home = 0;

	/* pm_tlb_fill with both finds known to miss: each level only chooses
	 * the way. */
	if (both_lru(t))
		return lru_fill_both(t, x, vpn, ppn);
	if (t->lv[1].sets)
		home = place_l2(t, x, vpn, ppn);
	s = set_of(&t->lv[0], vpn, &tag);
	v = way_l1(t, s);
	return fill_l1_at(t, x, v, vpn, tag, ppn, home);
}

int pm_tlb_invalidate_fast(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn)
{
	int mask = 0;
	long i;

	if ((i = find(&t->lv[0], vpn)) >= 0) {
		t->lv[0].tag[i] = PM_NONE;
		mask = 1;
	}
	if (t->lv[1].sets && (i = fp_find(t, x, vpn)) >= 0) {
		size_t set = (size_t)(vpn & (t->lv[1].sets - 1));
		t->lv[1].tag[i] = PM_NONE;
		fp_set(x, set, (size_t)i - set * t->lv[1].ways, 0);
		mask |= 2;
	}
	return mask;
}
