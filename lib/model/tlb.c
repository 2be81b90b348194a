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

static uint64_t vpn_of(const pm_tlb_level_t *lv, size_t i)
{
	return lv->tag[i] << lv->set_bits | (i / lv->ways);
}

/* Tree pseudo-LRU: a set's ways are the leaves of a binary tree over the
 * next power of two (node 1 the root, node k's children 2k and 2k + 1,
 * leaf P + way); each inner node's bit points to the half holding the
 * next victim (0 left, 1 right). The bits of a set live in the replacement
 * word of its first way. */
static unsigned plru_leaves(unsigned ways)
{
	unsigned p = 1;

	while (p < ways)
		p <<= 1;
	return p;
}

/* A use of way w: every node on its path points away from it. */
static void plru_touch(uint64_t *bits, unsigned ways, unsigned w)
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
static unsigned plru_victim(uint64_t bits, unsigned ways)
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
static size_t victim(pm_tlb_t *t, const pm_tlb_level_t *lv, size_t s)
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
