/* model.h - the model layer (lib/model/): pure and deterministic. It
 * answers "what would the hardware and the OS do" for an access: the page
 * table, the TLB, the cache, the frame table, the swap-slot map, the
 * replacement policies, traces and the standalone model (pagemu_model_*).
 *
 * Who may call it: the engine (lib/engine), the heap, the shim, the tools
 * (pagemu-sim links this layer alone) and the tests. It calls nobody: its
 * files include the C library's headers only (no system calls, no signals,
 * no liburing).
 *
 * Glossary: see pte.h (VPN, VPO, PPN, PTE, slot). A frame is one page of
 * the pool ("DRAM"); a slot one page of the swap file.
 */
#ifndef PAGEMU_MODEL_H
#define PAGEMU_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pagemu.h"
#include "model/pte.h"
#include "model/assert.h"


#define PM_NONE UINT64_MAX                /* no frame / no slot */
#define PM_NEVER UINT64_MAX               /* next use of a page never referenced again */
#define PM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PM_UNUSED(x) ((void)(x))


/* arena.c - fixed-size node allocator over memory the caller provides
 * (the engine maps it at open time, so the fault path never allocates). */
typedef struct pm_arena {
	char  *base;                      /* first byte of the memory */
	size_t size;                      /* bytes of memory */
	size_t node_size;                 /* bytes per node (a power of two) */
	size_t used;                      /* bump pointer, bytes */
	void  *free;                      /* free list of released nodes */
	size_t live;                      /* nodes handed out and not released */
} pm_arena_t;

/* mem must be zero-filled (fresh mmap or calloc). */
void  pm_arena_init(pm_arena_t *a, void *mem, size_t size, size_t node_size);
/* A zeroed node, or NULL when the arena is exhausted. */
void *pm_arena_alloc(pm_arena_t *a);
void  pm_arena_release(pm_arena_t *a, void *node);

/* pagetable.c - the multi-level radix page table. Interior nodes exist only
 * where something is mapped. Leaves are pm_pte_t; interior entries hold the
 * address of the child node (0 = none). */
typedef struct pm_pt_geom {
	unsigned levels;                  /* 1..PAGEMU_MAX_LEVELS */
	unsigned bits[PAGEMU_MAX_LEVELS]; /* index bits per level, root first */
	unsigned shift[PAGEMU_MAX_LEVELS];/* VPN shift of each level's index */
	unsigned vpn_bits;                /* sum of bits */
} pm_pt_geom_t;

typedef struct pm_pt {
	pm_pt_geom_t geom;
	pm_arena_t  *arena;               /* where nodes come from */
	uint64_t    *root;                /* root node */
	uint64_t     nodes;               /* nodes in use, root included */
} pm_pt_t;

/* Split vpn_bits over levels evenly (the root takes the remainder), unless
 * bits[] is given. Returns 0 or -EINVAL. */
int  pm_pt_geom_init(pm_pt_geom_t *g, unsigned vpn_bits, unsigned levels, const unsigned *bits);
/* Bytes a node of the largest level needs: the arena's node_size. */
size_t pm_pt_node_size(const pm_pt_geom_t *g);
int  pm_pt_init(pm_pt_t *pt, const pm_pt_geom_t *g, pm_arena_t *arena);
/* Index of vpn at level l (0 = root). */
static inline uint64_t pm_pt_index(const pm_pt_geom_t *g, uint64_t vpn, unsigned l)
{
	return (vpn >> g->shift[l]) & ((1ULL << g->bits[l]) - 1);
}
/* The PTE of vpn, or NULL when an interior node is missing. *levels (may be
 * NULL) receives the number of levels read. Never allocates. */
pm_pte_t *pm_pt_lookup(pm_pt_t *pt, uint64_t vpn, unsigned *levels);
/* The PTE of vpn, creating interior nodes; NULL when the arena is full. */
pm_pte_t *pm_pt_ensure(pm_pt_t *pt, uint64_t vpn);
/* Call fn for every non-zero PTE with vpn in [first, last], in VPN order,
 * then free interior nodes left empty when prune is set. fn may change *pte. */
typedef void (*pm_pt_visit_fn)(void *ctx, uint64_t vpn, pm_pte_t *pte);
void pm_pt_walk_range(pm_pt_t *pt, uint64_t first, uint64_t last, pm_pt_visit_fn fn, void *ctx, int prune);
/* The first VPN in [first, last] whose PTE is not zero, else PM_NONE
 * (absent tables skipped whole). */
uint64_t pm_pt_next(const pm_pt_t *pt, uint64_t first, uint64_t last);
/* Invariant checker for tests: counts nodes reachable from the root;
 * returns 0 when it matches pt->nodes, else -1. */
int  pm_pt_check(pm_pt_t *pt);

/* frame.c - the frame table: who owns each frame and the free list. */
enum pm_frame_state {
	PM_FRAME_FREE = 0,                /* on the free list */
	PM_FRAME_USED,                    /* holds a present page */
};

/* A frame holds either an anonymous page, owned by one PTE (vpn, pte; after
 * an address space forked, shared copy-on-write with the PTEs of the same
 * vpn in `shares` other spaces), or
 * a page of a memory object (a file): then obj names the object, index
 * the page in it, and any number of PTEs map the frame (mapcount; the
 * engine finds them through the object's regions, a reverse map). */
typedef struct pm_frame {
	uint64_t  vpn;                    /* owner page (valid when USED, anonymous) */
	uint64_t  slot;                   /* home swap slot, PM_NONE = none */
	pm_pte_t *pte;                    /* owner's PTE (valid when USED, anonymous) */
	uint64_t  index;                  /* object page: its page number in the object */
	uint32_t  obj;                    /* 0 = anonymous; else the object's number + 1 */
	uint32_t  mapcount;               /* object page: PTEs that map it */
	uint32_t  pins;                   /* pagemu_pin nesting; pinned frames are never evicted */
	uint8_t   state;                  /* enum pm_frame_state */
	uint8_t   io;                     /* 1 = a write of this frame to its slot is in flight */
	uint8_t   wrerr;                  /* errno of its last write, when it failed (0 = none) */
	uint8_t   fdirty;                 /* object page: dirty beyond what its PTEs say (a dirty mapping went) */
	uint8_t   busy;                   /* object page: being read in (its readers wait) */
	uint8_t   ra;                     /* object page: brought in by readahead, not touched yet */
	uint16_t  space;                  /* anonymous page: the address space of its owner PTE (engine) */
	uint32_t  shares;                 /* anonymous page: PTEs of other spaces that share it after a fork
					     (same vpn, copy-on-write); 0 = the owner's alone */
} pm_frame_t;

typedef struct pm_frames {
	pm_frame_t *f;                    /* nframes entries */
	uint32_t   *free;                 /* stack of free frame numbers (freed ones) */
	uint32_t   *pos;                  /* per frame: its index in free[] when on it */
	uint64_t    nframes;
	uint64_t    nfree;                /* free frames: on the stack, and fresh ones */
	uint64_t    nstack;               /* entries of free[] */
	uint64_t    fresh;                /* frames [fresh, nframes) were never handed out:
					     free, not on the stack, their entries still zero */
} pm_frames_t;

/* Bytes of memory pm_frames_init needs for n frames. */
size_t   pm_frames_mem_size(uint64_t n);
/* mem: pm_frames_mem_size(n) bytes, zero-filled (calloc, a fresh mmap):
 * the table is set up in O(1), and a frame's entry is first written when
 * the frame is first handed out, so that a large pool costs nothing
 * until it is used. */
void     pm_frames_init(pm_frames_t *ft, uint64_t n, void *mem);
/* Lowest-numbered free frame first on a fresh table (frames fill in
 * order); PM_NONE when none is free. */
uint64_t pm_frames_pop(pm_frames_t *ft);
void     pm_frames_push(pm_frames_t *ft, uint64_t ppn);
/* The frame pm_frames_pop would return, without taking it; PM_NONE. */
static inline uint64_t pm_frames_next(const pm_frames_t *ft)
{
	return ft->nstack ? ft->free[ft->nstack - 1] : ft->fresh < ft->nframes ? ft->fresh : PM_NONE;
}
/* Take the free frame ppn itself: 0, or -1 when it is not free. */
int      pm_frames_claim(pm_frames_t *ft, uint64_t ppn);
int      pm_frames_check(const pm_frames_t *ft);

/* swapmap.c - the swap slots: which are in use, which were freed but may
 * still hold disk blocks, and a checksum per slot. Allocation takes the
 * lowest free slot (or a hint, to extend a run), so that freed slots are
 * reused first and the file stays as compact as what is in use; freed
 * slots are handed out in runs for the engine to release their blocks. */
typedef struct pm_swapmap {
	uint64_t *bits;                   /* 1 = slot in use */
	uint64_t *freed;                  /* 1 = free, but may still hold disk blocks */
	uint32_t *sums;                   /* crc32c of what was written to each slot; NULL = checksums off */
	uint16_t *refs;                   /* references to a used slot beyond the first (a fork shared it) */
	uint64_t  nslots;
	uint64_t  used;                   /* slots in use */
	uint64_t  nfreed;                 /* slots with a freed bit */
	uint64_t  low;                    /* no free slot below this one */
	uint64_t  freed_low;              /* no freed bit below this slot */
} pm_swapmap_t;

/* Bytes of memory for nslots (with a checksum each when sums). */
size_t   pm_swapmap_mem_size(uint64_t nslots, int sums);
/* mem: pm_swapmap_mem_size bytes, zero-filled (fresh mmap). */
void     pm_swapmap_init(pm_swapmap_t *s, uint64_t nslots, void *mem, int sums);
/* hint if it is free, else the lowest free slot; PM_NONE if full. */
uint64_t pm_swapmap_alloc(pm_swapmap_t *s, uint64_t hint);
/* One reference to slot less: the last makes it free again; it keeps its
 * blocks until taken by pm_swapmap_take_freed (or allocated again). */
void     pm_swapmap_free(pm_swapmap_t *s, uint64_t slot);
/* One more reference to the used slot (a fork shares it): 0, or -1 when
 * it has 65536 already. */
int      pm_swapmap_dup(pm_swapmap_t *s, uint64_t slot);
static inline unsigned pm_swapmap_refs(const pm_swapmap_t *s, uint64_t slot) { return 1u + s->refs[slot]; }
int      pm_swapmap_test(const pm_swapmap_t *s, uint64_t slot);
/* The first slot in use at or after from, else PM_NONE (64 slots a step
 * over free ones). */
uint64_t pm_swapmap_next_used(const pm_swapmap_t *s, uint64_t from);
/* The lowest run of freed slots, at most max long: 1 with *start and *len
 * set and their freed bits cleared (the caller releases their blocks);
 * 0 when none is left. */
int      pm_swapmap_take_freed(pm_swapmap_t *s, uint64_t max, uint64_t *start, uint64_t *len);
/* The checksum of what was written to slot (sums on). */
static inline void pm_swapmap_set_sum(pm_swapmap_t *s, uint64_t slot, uint32_t sum) { s->sums[slot] = sum; }
static inline uint32_t pm_swapmap_sum(const pm_swapmap_t *s, uint64_t slot) { return s->sums[slot]; }
/* Invariant checker for tests: used and nfreed agree with the bitmaps, no
 * slot is both used and freed, none is free below low. 0 or -1. */
int      pm_swapmap_check(const pm_swapmap_t *s);

/* crc32c.c - CRC-32C (Castagnoli): SSE4.2's crc32 instruction where the
 * CPU has it (checked at run time; with AVX-512 and VPCLMULQDQ, carry-less
 * folding for the bulk), tables otherwise. crc is the CRC of
 * what came before (0 to start): pm_crc32c(0, "123456789", 9) =
 * 0xE3069283. Signal-safe once pm_crc32c_init has run. */
void     pm_crc32c_init(void);
uint32_t pm_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same with the tables alone (tests compare the two). */
uint32_t pm_crc32c_table(uint32_t crc, const void *buf, size_t len);
/* How pm_crc32c works here: 0 tables, 1 the crc32 instruction, 2 that
 * and AVX-512 carry-less folding. */
int      pm_crc32c_hw(void);
/* Use at most `way` of those (tests try each); returns the way now used. */
int      pm_crc32c_set_hw(int way);

/* policy.c and one file per policy - replacement behind one interface.
 * The policy sees frames only. The caller tells it when a frame is loaded,
 * referenced (when a reference is observable) and freed; victim() picks a
 * frame to evict, asking env whether a frame may be evicted and telling it
 * when a reference bit is cleared (the engine unmaps that page so the next
 * touch is observed). */
typedef struct pm_policy_env {
	void *ctx;
	int  (*evictable)(void *ctx, uint64_t ppn);    /* 1 = may be evicted now */
	void (*ref_cleared)(void *ctx, uint64_t ppn);  /* the hand cleared ppn's bit */
} pm_policy_env_t;

typedef struct pm_policy_ops {
	pagemu_policy_t id;
	const char *name;
	/* Bytes of state for n frames (the caller provides zeroed memory,
	 * and init touches none of it that scales with n: a large pool
	 * costs nothing until it is used). */
	size_t   (*state_size)(uint64_t n);
	void     (*init)(void *st, uint64_t n, uint64_t seed);
	/* A page was placed in ppn; referenced = its first access happened. */
	void     (*loaded)(void *st, uint64_t ppn, int referenced);
	/* An observed reference to the page in ppn. */
	void     (*referenced)(void *st, uint64_t ppn);
	/* ppn was emptied (eviction or unmap): forget it. */
	void     (*freed)(void *st, uint64_t ppn);
	/* The frame to evict, or PM_NONE when no frame is evictable. Does not
	 * free it: the caller evicts, then calls freed(). */
	uint64_t (*victim)(void *st, const pm_policy_env_t *env);
	/* Up to max frames the policy is likely to evict next, without
	 * changing any state (for pre-cleaning); looks at most `scan` frames. */
	uint64_t (*upcoming)(const void *st, uint64_t *out, uint64_t max, uint64_t scan);
	/* Is ppn's reference bit set (for tests and translate). */
	int      (*is_referenced)(const void *st, uint64_t ppn);
} pm_policy_ops_t;

/* The policy's operations, or NULL (OPT is not an online policy). */
const pm_policy_ops_t *pm_policy_get(pagemu_policy_t id);

/* ----------------------------------------------------------------------
 * TLB, cache, OPT, traces: used by the standalone model (model.c), the
 * simulator (tools/pagemu-sim.c) and, for the TLB, the engine's exact-TLB
 * mode.
 * ---------------------------------------------------------------------- */

/* The standalone model's limits on what it allocates whole (model.c;
 * pagemu-sim's --tlb and --cache). */
#define PM_MODEL_TLB_MAX         (1u << 20)   /* entries per TLB level */
#define PM_MODEL_CACHE_MAX_LINES (1u << 20)   /* cache lines */
#define PM_MODEL_CACHE_MAX_BYTES (1u << 30)   /* bytes of cache data */
/* The TLB, and the cache, of c against those limits and the geometry
 * rules: 0, or -EINVAL naming the field in pagemu_last_error(). */
int pm_model_check_tlb(const pagemu_model_config_t *c);
int pm_model_check_cache(const pagemu_model_config_t *c);
/* All of c (modelcfg.c), and the page-table geometry it gives in *g. */
int pm_model_validate(const pagemu_model_config_t *c, pm_pt_geom_t *g);
/* One reference as pagemu_model_access made it before it had a fast path
 * (pagemu_model_translate's steps without the report): the reference the
 * fast path is tested against, and the old speed bench/sim_speed measures
 * it against. */
int pm_model_access_ref(pagemu_model_t *m, uint64_t va, int access);

/* Access kinds of the model; the same values as PROT_READ, PROT_WRITE and
 * PROT_EXEC, which model files may not take from <sys/mman.h>. */
#define PM_PROT_READ  1
#define PM_PROT_WRITE 2
#define PM_PROT_EXEC  4

/* xorshift64*: the model's reproducible generator (random page and TLB
 * replacement). *s is the state, never 0. */
static inline uint64_t pm_xorshift64s(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* log2 of a power of two (0 for 0); geometry is validated before use. */
static inline unsigned pm_log2(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 0; }
static inline int pm_is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* tlb.c - a set-associative TLB with an optional second level.
 *
 * TLBI = the low log2(sets) bits of the VPN, TLBT = the bits above; each
 * level has its own TLBI/TLBT. An empty way is used before any valid one
 * (lowest way first); else each level's policy picks the victim
 * (pagemu_tlb_policy_t: LRU by default, FIFO, random, tree pseudo-LRU).
 *
 * The two levels are neither inclusive nor exclusive (like Intel's STLB):
 *   - a walk fill goes to L1 and to L2;
 *   - an L1 miss that hits L2 promotes the entry to L1 (it stays in L2);
 *   - the entry an L1 fill pushes out is written into L2 (a victim
 *     write-back; a no-op when L2 still holds it);
 *   - an L2 eviction never removes anything from L1.
 * So every L1 entry was in L2 when it was filled, but may since have left.
 * In the engine's exact-TLB mode only L1 entries are mapped in the real
 * MMU: every function that changes L1 reports the VPN it pushed out of L1
 * (PM_NONE when none), and the caller unmaps that page. */
typedef struct pm_tlb_level {
	unsigned  sets;                   /* power of two; 0 = level absent */
	unsigned  ways;                   /* entries per set */
	unsigned  set_bits;               /* log2(sets): TLBI width */
	uint64_t *tag;                    /* sets x ways, set-major: TLBT, PM_NONE = invalid way */
	uint64_t *ppn;                    /* the translations, same layout */
	uint64_t *used;                   /* replacement words: LRU tlb->tick at the last use, FIFO at the
					     fill; PLRU: the first way's word holds the set's tree bits */
	pagemu_tlb_policy_t policy;       /* replacement within a set; default LRU */
} pm_tlb_level_t;

typedef struct pm_tlb {
	pm_tlb_level_t lv[2];             /* L1, L2 */
	uint64_t tick;                    /* LRU/FIFO clock, one tick per use or fill */
	uint64_t rng;                     /* random policy: xorshift64* state */
	uint64_t asid_bits;               /* the current ASID, above the VPN (pm_tlb_set_asid); 0 = ASID 0 */
} pm_tlb_t;

/* ASIDs (address-space identifiers): every entry carries the ASID current
 * when it was filled, and matches only that one; a switch sets the new
 * one instead of flushing. VPNs must be below 2^PM_TLB_ASID_SHIFT. The
 * simulator's fast path knows ASID 0 only. */
#define PM_TLB_ASID_SHIFT 48
#define PM_TLB_ASIDS      4095
#define PM_TLB_VPN_MASK   ((1ULL << PM_TLB_ASID_SHIFT) - 1)
void     pm_tlb_set_asid(pm_tlb_t *t, unsigned asid);
/* Drop vpn's entry of another ASID (its page was evicted); the mask of
 * levels that held it, as pm_tlb_invalidate. */
int      pm_tlb_invalidate_asid(pm_tlb_t *t, unsigned asid, uint64_t vpn);
/* Drop every entry of asid (its space is gone): the entries dropped. */
uint64_t pm_tlb_flush_asid(pm_tlb_t *t, unsigned asid);

/* Tree pseudo-LRU keeps a set's tree in one 64-bit word. */
#define PM_TLB_PLRU_MAX_WAYS 64

enum pm_tlb_result {
	PM_TLB_MISS = 0,                  /* in no level: walk, then pm_tlb_fill */
	PM_TLB_HIT_L1 = 1,
	PM_TLB_HIT_L2 = 2,                /* promoted to L1 */
};

/* *bytes = the memory for the entries (sets2 = 0: no L2): 0, or
 * -EOVERFLOW when that does not fit in a size_t. */
int      pm_tlb_mem_size(unsigned sets, unsigned ways, unsigned sets2, unsigned ways2, size_t *bytes);
/* mem: pm_tlb_mem_size bytes, any content. Every entry starts invalid.
 * 0, or -EINVAL when sets is not a power of two or ways is 0. */
int      pm_tlb_init(pm_tlb_t *t, unsigned sets, unsigned ways, unsigned sets2, unsigned ways2, void *mem);
static inline uint64_t pm_tlb_index(const pm_tlb_t *t, uint64_t vpn) { return vpn & (t->lv[0].sets - 1); }
static inline uint64_t pm_tlb_tag(const pm_tlb_t *t, uint64_t vpn)   { return vpn >> t->lv[0].set_bits; }
/* Where vpn is, without changing anything (pagemu_translate); *ppn set on a hit. */
enum pm_tlb_result pm_tlb_probe(const pm_tlb_t *t, uint64_t vpn, uint64_t *ppn);
/* A reference through the TLB: updates LRU; an L2 hit is promoted to L1
 * and *l1_evicted (may be NULL) receives the VPN pushed out of L1 or
 * PM_NONE. *ppn set on a hit. */
enum pm_tlb_result pm_tlb_lookup(pm_tlb_t *t, uint64_t vpn, uint64_t *ppn, uint64_t *l1_evicted);
/* After a walk: vpn -> ppn into L1 and L2 (updated in place where already
 * present). Returns the VPN pushed out of L1, or PM_NONE. */
uint64_t pm_tlb_fill(pm_tlb_t *t, uint64_t vpn, uint64_t ppn);
/* Drop vpn from both levels (the page was evicted or unmapped). Returns a
 * mask of the levels that held it: 1 = L1, 2 = L2. */
int      pm_tlb_invalidate(pm_tlb_t *t, uint64_t vpn);
void     pm_tlb_flush(pm_tlb_t *t);
/* Load an entry directly (textbook tables): level 0 = L1, 1 = L2; a fill
 * as far as replacement is concerned. 0, or -EINVAL when set, way or
 * level is out of range. */
int      pm_tlb_load(pm_tlb_t *t, unsigned level, unsigned set, unsigned way, uint64_t tag, uint64_t ppn);
/* The replacement policy of each level (L1, L2) and the random policy's
 * seed; empties the TLB. 0, or -EINVAL for an unknown policy or PLRU
 * over more than PM_TLB_PLRU_MAX_WAYS ways. pm_tlb_init sets LRU. */
int      pm_tlb_set_policy(pm_tlb_t *t, const pagemu_tlb_policy_t policy[2], uint64_t seed);
/* 1 when the policy's state changes on hits (LRU, PLRU): an observer that
 * sees only misses cannot follow it. */
static inline int pm_tlb_policy_sees_hits(pagemu_tlb_policy_t p)
{
	return p == PAGEMU_TLB_LRU || p == PAGEMU_TLB_PLRU;
}
/* The VPN in way `way` of vpn's L1 set, or PM_NONE (invalid way, or way
 * out of range). */
uint64_t pm_tlb_l1_way_vpn(const pm_tlb_t *t, uint64_t vpn, unsigned way);

/* The simulator's fast path (tlbfast.c): the same effects as
 * pm_tlb_lookup, pm_tlb_fill and pm_tlb_invalidate, entry for entry,
 * tick for tick, with fewer and shorter set scans: L2 entries are found
 * through an index beside the TLB, a byte per way (the engine has none and
 * keeps the functions above). The index mirrors L2 as long as only these functions change the
 * TLB: after any other, rebuild it. tests/test_model.c holds the two
 * paths to the same counts. */
typedef struct pm_tlb_index {
	uint8_t  *fp;                     /* per L2 way a fingerprint of its tag, 0 = empty; a set's
					     bytes side by side, padded to stride */
	unsigned  stride;                 /* bytes per set: L2's ways rounded up to 8 */
	uint32_t *home;                   /* per L1 entry: the L2 entry it came from, a hint checked
					     against L2's tag before use (the L1 victim's write-back) */
	int       stale;                  /* 1 = the TLB changed behind it: rebuild first (the caller's flag) */
} pm_tlb_index_t;

/* Bytes of memory for t's index (t initialized, with an L2). */
size_t   pm_tlb_index_mem_size(const pm_tlb_t *t);
/* mem: pm_tlb_index_mem_size bytes, any content; the index of t's L2 as it is. */
void     pm_tlb_index_init(pm_tlb_index_t *x, const pm_tlb_t *t, void *mem);
void     pm_tlb_index_rebuild(pm_tlb_index_t *x, const pm_tlb_t *t);
/* Index of vpn's entry in L1, or -1 (inline: an L1 hit is most
 * references). */
static inline long pm_tlb_l1_find(const pm_tlb_t *t, uint64_t vpn)
{
	const pm_tlb_level_t *l1 = &t->lv[0];
	uint64_t tag = vpn >> l1->set_bits;
	size_t s = (size_t)(vpn & (l1->sets - 1)) * l1->ways, e = s + l1->ways;

	long hit = -1;

	/* No early exit: the loop's branch then always goes the same way. */
	for (size_t i = s; i < e; i++)
		hit = l1->tag[i] == tag ? (long)i : hit;
	return hit;
}
void     pm_tlb_plru_touch(pm_tlb_t *t, pm_tlb_level_t *lv, size_t i);
/* An L1 hit on entry i (from pm_tlb_l1_find): its replacement state. */
static inline void pm_tlb_l1_hit(pm_tlb_t *t, size_t i)
{
	pm_tlb_level_t *l1 = &t->lv[0];

	if (l1->policy == PAGEMU_TLB_LRU)
		l1->used[i] = ++t->tick;
	else if (l1->policy == PAGEMU_TLB_PLRU)
		pm_tlb_plru_touch(t, l1, i);
}
/* pm_tlb_lookup for a vpn pm_tlb_l1_find did not find: PM_TLB_HIT_L2
 * (promoted to L1, *ppn set) or PM_TLB_MISS. x may be NULL without L2. */
enum pm_tlb_result pm_tlb_lookup_l2(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t *ppn);
/* pm_tlb_fill for a vpn in neither level (a lookup has just missed, and
 * only invalidations came since), keeping the index. */
uint64_t pm_tlb_fill_absent(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn, uint64_t ppn);
/* pm_tlb_invalidate, keeping the index. */
int      pm_tlb_invalidate_fast(pm_tlb_t *t, pm_tlb_index_t *x, uint64_t vpn);

/* cache.c - a physically addressed set-associative cache with line data.
 * CO = the low log2(line) bits of the PA, CI = the next log2(sets) bits,
 * CT = the rest. LRU within a set; a miss allocates the line (read and
 * write allocate) with zero data: the model has no memory contents, only
 * what a test loads. */
typedef struct pm_cache_line {
	uint64_t tag;                     /* CT; PM_NONE = invalid */
	uint64_t used;                    /* LRU stamp */
} pm_cache_line_t;

typedef struct pm_cache {
	unsigned sets, ways, line;        /* geometry; sets and line powers of two */
	unsigned set_bits, off_bits;      /* log2(sets), log2(line) */
	pm_cache_line_t *l;               /* sets x ways */
	uint8_t *data;                    /* sets x ways x line bytes */
	uint64_t tick;                    /* LRU clock */
} pm_cache_t;

/* *bytes = the memory for lines and data: 0, or -EOVERFLOW when that
 * does not fit in a size_t. */
int    pm_cache_mem_size(unsigned sets, unsigned ways, unsigned line, size_t *bytes);
/* 0, or -EINVAL for a geometry that is not powers of two. */
int    pm_cache_init(pm_cache_t *c, unsigned sets, unsigned ways, unsigned line, void *mem);
static inline uint64_t pm_cache_co(const pm_cache_t *c, uint64_t pa) { return pa & (c->line - 1); }
static inline uint64_t pm_cache_ci(const pm_cache_t *c, uint64_t pa) { return (pa >> c->off_bits) & (c->sets - 1); }
static inline uint64_t pm_cache_ct(const pm_cache_t *c, uint64_t pa) { return pa >> (c->off_bits + c->set_bits); }
/* 1 = hit (*byte, may be NULL, gets the byte at pa), 0 = miss (allocated). */
int    pm_cache_access(pm_cache_t *c, uint64_t pa, uint8_t *byte);
/* Load a valid line directly; bytes (may be NULL = zeros) holds `line` bytes. */
int    pm_cache_load(pm_cache_t *c, unsigned set, unsigned way, uint64_t tag, const uint8_t *bytes);
/* Invalidate every line of [pa, pa + len) (a frame was refilled). */
void   pm_cache_invalidate(pm_cache_t *c, uint64_t pa, uint64_t len);

/* A reference string in memory. */
typedef struct pm_refs {
	uint64_t *va;                     /* addresses */
	uint8_t  *access;                 /* PM_PROT_* per reference */
	size_t    n, cap;
	uint32_t  page_size;              /* from a binary header; 0 = unknown */
} pm_refs_t;

/* pageid.c - page numbers to dense ids 0, 1, 2 ... in order of first
 * reference, in memory bounded by the distinct pages (ids are 32 bits),
 * and a reference string read in passes (pm_ref_src_t). pm_pageid init
 * and get return 0, -ENOMEM or (get, past 2^32 - 2 pages) -EOVERFLOW. */
typedef struct pm_pageid {
	uint64_t *key;                    /* open addressing: page of each slot */
	uint32_t *val;                    /* its id, UINT32_MAX = empty slot */
	size_t    mask;                   /* slots - 1; grown at half full */
	uint64_t *page;                   /* per id: the page */
	uint32_t  n;                      /* ids given */
} pm_pageid_t;
int  pm_pageid_init(pm_pageid_t *m);
int  pm_pageid_get(pm_pageid_t *m, uint64_t page, uint32_t *id);
void pm_pageid_free(pm_pageid_t *m);
/* Distinct pages of the string (the cold misses of any policy). */
int pm_refs_distinct(const uint64_t *pages, size_t n, uint64_t *distinct);
/* Page numbers to dense ids 0..distinct-1, in order of first reference
 * (ids: n entries). */
int pm_refs_densify(const uint64_t *pages, size_t n, uint32_t *ids, uint64_t *distinct);

/* A reference string read in passes, a batch at a time: a trace file
 * (tools/tracefile.c) or an array (pm_ref_src_refs). Every analysis over
 * it keeps state per page, not per reference. */
typedef struct pm_ref_src {
	/* Back to the first reference: 0 or -errno (pm_set_error says why). */
	int  (*rewind)(void *ctx);
	/* The next batch: *n references at *va and *access (0 at the end),
	 * valid until the next call. 0 or -errno (pm_set_error says why). */
	int  (*next)(void *ctx, const uint64_t **va, const uint8_t **access, size_t *n);
	/* An empty scratch file, read and written, gone once closed; NULL
	 * with pm_set_error. */
	FILE *(*scratch)(void *ctx);
	void  *ctx;
} pm_ref_src_t;
typedef struct pm_refs_cursor {
	const pm_refs_t *refs;            /* the string */
	size_t pos, batch;                /* next reference; references per batch */
} pm_refs_cursor_t;
/* refs as a source, batch references at a time (scratch: tmpfile()). */
void pm_ref_src_refs(pm_ref_src_t *src, pm_refs_cursor_t *c, const pm_refs_t *refs, size_t batch);
/* One pass: *nrefs references to *distinct pages. 0 or -errno. */
int  pm_ref_src_count(const pm_ref_src_t *src, unsigned page_bits, uint64_t *nrefs, uint64_t *distinct);
/* One pass from the start: each batch's page numbers (va >> page_bits),
 * in order, handed to fn. 0, or -errno (the source's, -ENOMEM, fn's). */
int  pm_ref_src_pages(const pm_ref_src_t *src, unsigned page_bits,
		      int (*fn)(void *ctx, const uint64_t *pages, size_t n), void *ctx);
/* One pass: every reference's page id from m, at most max at a time into
 * ids, each batch handed to fn (NULL: none) in order; *nrefs references.
 * 0, or -errno (the source's, m's, or fn's). */
int  pm_ref_src_ids(const pm_ref_src_t *src, unsigned page_bits, pm_pageid_t *m, uint32_t *ids, size_t max,
		    int (*fn)(void *ctx, const uint32_t *ids, size_t n), void *ctx, uint64_t *nrefs);


/* opt.c - offline analyses of a whole reference string of page numbers.
 * Each returns 0 or -ENOMEM (they allocate work arrays with malloc). */
/* Faults of Belady's OPT (MIN) with `frames` frames. */
int pm_opt_faults(const uint64_t *pages, size_t n, uint64_t frames, uint64_t *faults);
/* faults[i] = OPT faults with frames[i] frames, for i < k. */
int pm_opt_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults);
/* faults[i] = LRU faults with frames[i] frames, all from one pass
 * (Mattson's stack algorithm: a reference faults exactly when its LRU stack
 * distance exceeds the frame count). */
int pm_lru_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults);
/* The same pass over a stream, a piece at a time, in memory bounded by the
 * distinct pages (not the length): init with the k frame counts, push the
 * pages as they come, read faults[j] (and refs) at the end, free. Each
 * returns 0 or -ENOMEM. */
typedef struct pm_lru_stream {
	size_t    k;                      /* frame counts */
	uint64_t *frames;                 /* k counts */
	uint64_t *faults;                 /* per count: faults so far */
	uint64_t  refs;                   /* references pushed */
	uint64_t  distinct;               /* pages seen */
	pm_pageid_t ids;                  /* page -> id */
	uint64_t *last;                   /* per id: the time of its last reference */
	size_t    lcap;                   /* ids last holds */
	uint32_t *fen;                    /* Fenwick tree over times 1..tcap: 1 at each page's last reference */
	size_t    tcap;                   /* times before the tree is renumbered */
	uint64_t  now;                    /* the time of the last reference */
} pm_lru_stream_t;
int  pm_lru_stream_init(pm_lru_stream_t *s, const uint64_t *frames, size_t k);
int  pm_lru_stream_push(pm_lru_stream_t *s, const uint64_t *pages, size_t n);
void pm_lru_stream_free(pm_lru_stream_t *s);
/* OPT with one frame count over a stream of (page id, next use) pairs
 * (pm_future_read), in memory bounded by the frames and the distinct
 * pages: init, push as they come, read faults, free. push returns 0 or
 * -ENOMEM. */
typedef struct pm_opt_stream {
	uint64_t  frames;                 /* frames of the run */
	uint64_t  faults;                 /* so far */
	uint64_t *hnext;                  /* max-heap of the resident pages by next use: the keys */
	uint32_t *hid;                    /* ... and their ids */
	size_t    len, hcap;              /* entries, room */
	uint32_t *pos;                    /* per id: 1 + its heap index, 0 = not resident */
	size_t    pcap;                   /* ids pos holds */
} pm_opt_stream_t;
void pm_opt_stream_init(pm_opt_stream_t *s, uint64_t frames);
int  pm_opt_stream_push(pm_opt_stream_t *s, const uint32_t *ids, const uint64_t *next, size_t n);
void pm_opt_stream_free(pm_opt_stream_t *s);

/* future.c - OPT's future for a string longer than memory: every
 * reference's page id and the time (0-based) of its page's next reference
 * (PM_NEVER), from three sequential passes over two scratch files of the
 * source; memory bounded by the distinct pages. build: 0 or -errno (the
 * source's, -ENOMEM, -EIO with pm_set_error); then read batches in trace
 * order (*n = 0 at the end), rewind to read again, free. */
typedef struct pm_future {
	FILE     *ids, *next;             /* scratch: ids in trace order; next uses, last reference first */
	uint64_t  n, distinct;            /* references, pages */
	uint64_t  pos;                    /* references read so far */
	uint32_t *id;                     /* one block of ids */
	uint64_t *nx;                     /* one block of next uses */
} pm_future_t;
int  pm_future_build(pm_future_t *fu, const pm_ref_src_t *src, unsigned page_bits);
int  pm_future_read(pm_future_t *fu, const uint32_t **id, const uint64_t **next, size_t *n);
void pm_future_rewind(pm_future_t *fu);
void pm_future_free(pm_future_t *fu);

/* curve.c - fault curves of a reference string against the frame count:
 * the miss-ratio curve (faults / references), the lifetime curve
 * (references / faults: Denning's mean time between faults), its knee,
 * and Belady's anomaly. Pure; each returns 0 or -errno (-ENOMEM: work
 * arrays come from malloc). */
/* faults[i] = OPT faults with frames[i] frames, for i < k, from one pass
 * over OPT's priority stack (Mattson et al. 1970: OPT is a stack
 * algorithm whose priority is the time of the next reference); the stack
 * is kept max(frames) deep, so the pass costs O(n x max(frames)). */
int pm_opt_stack_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults);
/* faults[i] = faults of policy with frames[i] frames over refs: LRU and
 * OPT in one pass (stack algorithms), any other policy by replaying the
 * model (cfg: geometry and seed; its policy and frames are set here) once
 * per count. -EINVAL: an address beyond cfg's VA (pm_set_error says which). */
int pm_curve_faults(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_refs_t *refs,
		    const uint64_t *frames, size_t k, uint64_t *faults);
/* The same over a source, in memory bounded by the distinct pages and
 * the frames: LRU one pass, OPT pm_future's passes then one, any other
 * policy a pass per 16 frame counts. */
int pm_curve_faults_src(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_ref_src_t *src,
			const uint64_t *frames, size_t k, uint64_t *faults);
/* OPT's stack as a stream of (page id, next use) pairs, depth deep (the
 * largest frame count): init, push, faults for any counts up to depth,
 * free. push: 0 or -ENOMEM. */
typedef struct pm_opt_stack {
	uint64_t  depth;                  /* pages below are not tracked */
	uint64_t  len, deep;              /* pages on the stack; references found on none of it */
	uint32_t *stack;                  /* len ids, top first */
	uint64_t *hist;                   /* hist[d]: references found at depth d, 1..len */
	size_t    cap;                    /* entries of stack (hist: one more) */
	uint64_t *prio;                   /* per id: its next reference */
	size_t    pcap;                   /* ids prio holds */
} pm_opt_stack_t;
void pm_opt_stack_init(pm_opt_stack_t *s, uint64_t depth);
int  pm_opt_stack_push(pm_opt_stack_t *s, const uint32_t *ids, const uint64_t *next, size_t n);
void pm_opt_stack_faults(const pm_opt_stack_t *s, const uint64_t *frames, size_t k, uint64_t *faults);
void pm_opt_stack_free(pm_opt_stack_t *s);
/* The knee of a fault curve: the index i whose lifetime per frame,
 * 1 / (faults[i] x frames[i]), is greatest (Denning's primary knee, where
 * a line from the origin touches the lifetime curve); the smallest frame
 * count among equals. k > 0. */
size_t pm_curve_knee(const uint64_t *frames, const uint64_t *faults, size_t k);
/* Belady's anomaly over frames in ascending order: at[] receives every i
 * with faults[i + 1] > faults[i] (more frames, more faults); returns how
 * many (at: k - 1 entries at most). */
size_t pm_curve_anomalies(const uint64_t *frames, const uint64_t *faults, size_t k, size_t *at);

/* workingset.c - Denning's working set W(t, tau): the distinct pages of
 * the last tau references up to and including reference t (1-based, as
 * the textbooks count). Pure. */
/* w[t - 1] = |W(t, tau)| for t = 1..n, in one pass (a count per page in
 * the window). 0 or -ENOMEM; tau >= 1. */
int pm_ws_sizes(const uint64_t *pages, size_t n, uint64_t tau, uint32_t *w);
/* W(t, tau) itself, pages ascending, into out (max entries), *count its
 * size. 0, -EINVAL for t outside 1..n, -ENOSPC when it has more than max
 * pages. */
int pm_ws_set(const uint64_t *pages, size_t n, size_t t, uint64_t tau, uint64_t *out, size_t max, size_t *count);
/* The same over a stream, one page at a time, in memory bounded by the
 * distinct pages (not the length, nor tau): after the push of reference
 * t, size = |W(t, tau)| and pm_ws_stream_set gives the set. init and push
 * return 0 or -ENOMEM. */
typedef struct pm_ws_stream {
	uint64_t  tau;                    /* the window, references */
	uint64_t  t;                      /* references pushed */
	uint64_t  size;                   /* |W(t, tau)| */
	pm_pageid_t ids;                  /* page -> id */
	uint32_t *prev, *next;            /* per id: the list by last reference, newest first */
	uint64_t *last;                   /* per id: its last reference (1-based), 0 = none yet */
	size_t    cap;                    /* ids the arrays hold */
	uint32_t  head, edge;             /* the newest page; the oldest in W */
} pm_ws_stream_t;
int  pm_ws_stream_init(pm_ws_stream_t *s, uint64_t tau);
int  pm_ws_stream_push(pm_ws_stream_t *s, uint64_t page);
/* W(t, tau) now, pages ascending: 0, or -ENOSPC with more than max. */
int  pm_ws_stream_set(const pm_ws_stream_t *s, uint64_t *out, size_t max, size_t *count);
void pm_ws_stream_free(pm_ws_stream_t *s);

/* trace.c - traces: pagemu's binary event format (doc/TRACE.md) and the
 * text formats the simulator reads. All little-endian, fixed size:
 *   header  32 bytes: "PAGEMUTR", u32 version, u32 record size,
 *           u32 page size, u32 flags, u64 start time (ns)
 *   record  32 bytes: u64 time_ns, u64 va, u32 ppn, u8 kind, u8 access,
 *           u16 flags, u32 slot, u32 ns (handler time, saturated) */
#define PM_TRACE_MAGIC     "PAGEMUTR"
#define PM_TRACE_VERSION   1
#define PM_TRACE_HDR_SIZE  32
#define PM_TRACE_REC_SIZE  32
#define PM_TRACE_NO_PPN    UINT32_MAX /* ppn / slot field: none */

enum pm_trace_kind {
	PM_TRACE_REF = 0,                 /* a plain reference (converted traces) */
	PM_TRACE_ZERO,                    /* demand-zero fault */
	PM_TRACE_MINOR,                   /* minor fault */
	PM_TRACE_WRITE,                   /* write-protection fault */
	PM_TRACE_MAJOR,                   /* major fault (swap-in) */
	PM_TRACE_EVICT,                   /* page evicted: not a reference */
	PM_TRACE_TLB_MISS,                /* modeled TLB miss (exact-TLB mode) */
	PM_TRACE_KIND_COUNT
};

typedef struct pm_trace_hdr {
	uint32_t version;                 /* PM_TRACE_VERSION */
	uint32_t page_size;               /* emulated page, bytes */
	uint32_t flags;                   /* 0 */
	uint64_t start_ns;                /* monotonic clock at open */
} pm_trace_hdr_t;

typedef struct pm_trace_rec {
	uint64_t time_ns;                 /* monotonic clock */
	uint64_t va;                      /* faulting or evicted address */
	uint32_t ppn;                     /* frame, PM_TRACE_NO_PPN = none */
	uint8_t  kind;                    /* enum pm_trace_kind */
	uint8_t  access;                  /* PM_PROT_READ/WRITE/EXEC, 0 = unknown */
	uint16_t flags;                   /* 0 */
	uint32_t slot;                    /* swap slot, PM_TRACE_NO_PPN = none */
	uint32_t ns;                      /* handler time, ns, saturated */
} pm_trace_rec_t;

/* Encoders write exactly PM_TRACE_HDR_SIZE / PM_TRACE_REC_SIZE bytes;
 * signal-safe (no calls). */
void pm_trace_encode_header(const pm_trace_hdr_t *h, uint8_t *buf);
void pm_trace_encode(const pm_trace_rec_t *r, uint8_t *buf);
/* 0, -EINVAL (not a pagemu trace) or -EPROTONOSUPPORT (other version). */
int  pm_trace_decode_header(const uint8_t *buf, size_t len, pm_trace_hdr_t *h);
/* 0 or -EINVAL (unknown kind). */
int  pm_trace_decode(const uint8_t *buf, pm_trace_rec_t *r);
/* "ref", "zero", ...; NULL for an unknown kind. */
const char *pm_trace_kind_name(unsigned kind);
/* 1 when a record of this kind is a memory reference (all but evict). */
static inline int pm_trace_is_ref(unsigned kind) { return kind != PM_TRACE_EVICT && kind < PM_TRACE_KIND_COUNT; }

/* One line of `valgrind --tool=lackey --trace-mem=yes`: "I  04016e0,3",
 * " L 04222cac,4", " S ...", " M ..." (modify: one write reference).
 * Returns 1 with *va and *access set, 0 for a line that is no reference
 * (blank, "==pid==" banner), -EINVAL when malformed. */
int  pm_trace_parse_lackey(const char *line, uint64_t *va, int *access);
/* The next number of a list ("0x1f", "31"; separated by blanks or commas;
 * '#' starts a comment): 1 and *v set, 0 at the end of the line, -EINVAL. */
int  pm_trace_next_number(const char **p, uint64_t *v);

enum pm_trace_fmt {
	PM_FMT_AUTO = 0,                  /* binary if the magic is there, else lackey if it looks so, else addrs */
	PM_FMT_PAGEMU,                    /* binary event trace */
	PM_FMT_LACKEY,                    /* valgrind lackey output */
	PM_FMT_ADDRS,                     /* addresses, one or more a line */
	PM_FMT_PAGES,                     /* page numbers, one or more a line */
};


int  pm_refs_push(pm_refs_t *r, uint64_t va, int access);
void pm_refs_free(pm_refs_t *r);
/* "pagemu", "lackey", "addrs", "pages" (or "auto"): 0 or -EINVAL. */
int  pm_trace_fmt_parse(const char *name, enum pm_trace_fmt *out);
/* A trace read a batch at a time, in bounded memory: one input buffer of
 * 64 KiB (longer only for a longer line) whatever the trace's length, so
 * a trace far larger than memory, or a pipe, streams through. */
typedef struct pm_trace_stream {
	FILE       *f;                    /* the input (not closed here) */
	const char *name;                 /* for messages */
	enum pm_trace_fmt fmt;            /* decided by pm_trace_open (never AUTO after) */
	unsigned    page_bits;            /* PM_FMT_PAGES: page numbers << page_bits */
	int         skip_instr;           /* lackey: skip "I" lines */
	uint32_t    page_size;            /* from a binary header; 0 = unknown */
	char       *buf;                  /* input buffer, cap + 1 bytes (a NUL after the data) */
	size_t      cap, len, pos;        /* its size, bytes in it, first byte not consumed */
	size_t      lineno;               /* lines (binary: records) consumed */
	char       *line;                 /* text: the current line, in buf */
	const char *rest;                 /* its numbers not yet read; NULL = take the next line */
	int         eof;                  /* the input has ended (buf holds the rest) */
	int         done;                 /* every reference has been read */
	char        err[512];             /* the message of a failure: "name:LINE: what" */
} pm_trace_stream_t;

/* Start reading f (name for messages): the binary header, or enough text
 * to decide an auto format. Page numbers become addresses << page_bits.
 * With skip_instr, lackey "I" lines are skipped. 0, or -errno with the
 * message in s->err; pm_trace_close in both cases. */
int  pm_trace_open(pm_trace_stream_t *s, FILE *f, const char *name, enum pm_trace_fmt fmt, unsigned page_bits,
		   int skip_instr);
/* The next references, at most max, into out (out->n set to how many; 0
 * at the end of the trace): 0, or -errno with the message in s->err
 * (records count as lines for the binary format). */
int  pm_trace_read(pm_trace_stream_t *s, pm_refs_t *out, size_t max);
void pm_trace_close(pm_trace_stream_t *s);
/* Read a whole trace from f into out: pm_trace_open, then pm_trace_read
 * to the end. 0, or -errno with the message in err. */
int  pm_trace_load(FILE *f, const char *name, enum pm_trace_fmt fmt, unsigned page_bits,
		   int skip_instr, pm_refs_t *out, char *err, size_t errlen);

/* error.c - the message of the last failed call, for pagemu_last_error()
 * (thread-local). Not signal-safe (vsnprintf): never on the fault path. */
void pm_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pm_clear_error(void);

/* fmt.c - signal-safe formatting for one-line messages: each appends to
 * dst, never past end - 1, and returns the new end of the text (always
 * NUL-terminated when dst < end). */
char *pm_fmt_str(char *dst, char *end, const char *s);
char *pm_fmt_u64(char *dst, char *end, uint64_t v);
char *pm_fmt_hex(char *dst, char *end, uint64_t v);
/* v as pm_parse_u64 reads it back, shortest first: "4G" for 2^32, else
 * the decimal digits. */
char *pm_fmt_size(char *dst, char *end, uint64_t v);

/* parse.c - the one strict parser for settings and options: a number is
 * the whole string, decimal or 0x hex, a decimal one with an optional K,
 * M, G or T suffix (powers of 1024, then optional "iB" or "B"); no sign,
 * no blanks, never wrapped. Each returns 0, -EINVAL (not the syntax) or
 * -ERANGE (a value outside the limits, 2^64-1 included). */
int pm_parse_u64(const char *s, uint64_t *out);
/* A number in [lo, hi]. */
int pm_parse_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* "0" or "1", nothing else. */
int pm_parse_bool(const char *s, int *out);
/* Exactly n numbers (n <= 8), each in [lo, hi], joined by sep: "16x4",
 * "64x8x64". An empty item is a syntax error. */
int pm_parse_geom(const char *s, char sep, unsigned n, uint64_t lo, uint64_t hi, uint64_t *v);
/* A TLB: "SETSxWAYS" (L1), "SETSxWAYS,SETSxWAYS" (L1, L2), an L2 of
 * "none" or "0" (no L2), or "none" (no TLB: all zero). Numbers 1 to
 * 2^32-1; the caller checks its own limits. */
int pm_parse_tlb(const char *s, unsigned sets[2], unsigned ways[2]);
/* The index of s in names[0..n) (exact match), or -EINVAL: the one
 * lookup behind the policy names. */
int pm_parse_name(const char *s, const char *const *names, unsigned n);
/* TLB replacement: "P" (both levels) or "P,P" (L1, L2), each lru, fifo,
 * random or plru. 0, or -EINVAL; out is set only on success. */
int pm_parse_tlb_policy(const char *s, pagemu_tlb_policy_t out[2]);
/* A list of counts: "64", "1,2,4", "1-16", mixed; each in [lo, hi], at
 * most max of them in all (a range counts its members). v is scratch until
 * *n is set. */
int pm_parse_counts(const char *s, uint64_t lo, uint64_t hi, uint64_t *v, size_t max, size_t *n);

/* json.c - one member of a JSON object, a comma before all but the first
 * (*n counts the members written). PM_JSON_MEMBER picks by the value's
 * type, so that an X-macro list of counters makes a whole object. */
void pm_json_u64(FILE *f, int *n, const char *name, uint64_t v);
void pm_json_f64(FILE *f, int *n, const char *name, double v);
/* s as a JSON string, quoted and escaped. */
void pm_json_string(FILE *f, const char *s);
#define PM_JSON_MEMBER(f, n, name, v) _Generic((v), double: pm_json_f64, default: pm_json_u64)(f, n, name, v)

/* model.c, replay.c - the standalone model's state, shared by its two
 * paths: model.c (life cycle, textbook state, ref(): the reference path
 * and translate) and replay.c (the fast path). */
#define PM_FB_W 1                         /* fbits: the page is writable */
#define PM_FB_D 2                         /* fbits: the page is dirty */

/* The fast path's shortcut to the leaves of the page table: per slot a
 * leaf node and its key, the VPN bits above the leaf's index (slot = key
 * modulo PM_LEAF_SLOTS, direct-mapped). A hit is the walk's last node
 * without the interior levels. The standalone model never frees a node,
 * so an entry never goes stale. Keys and nodes are apart: the replay's
 * prefetch reads the node alone (an empty slot's node is the root, so
 * that any slot gives an address inside a node). */
#define PM_LEAF_SLOTS 2048

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
	pm_tlb_index_t tlbx;              /* fast path: L2's index (tlbfast.c) */
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
	uint64_t *leaf_key;               /* fast path: per leaf slot, vpn >> leaf_bits; PM_NONE = empty */
	pm_pte_t **leaf_node;             /* per leaf slot, the leaf node's first PTE (replay.c) */
	unsigned leaf_bits;               /* index bits of the leaf level */
	int      prefetch;                /* fast path: the replay prefetches PTEs (its last span walked often); 1 */

	pagemu_model_stats_t stats;       /* counters */
};

/* The walk: the PTE of vpn or NULL, counting the levels read and, for a
 * report (x not NULL), the index used at each. */
pm_pte_t *pm_model_walk(pagemu_model_t *m, uint64_t vpn, pagemu_xlate_t *x);
/* Paging mode: give vpn a frame (evicting the policy's victim when none is
 * free); pte may be NULL (no table node yet). NULL when memory runs out. */
pm_pte_t *pm_model_page_in(pagemu_model_t *m, uint64_t vpn, pm_pte_t *pte);
/* The same in paging mode, from the frame's copy of W and D: like the
 * hardware's TLB entry, it spares a TLB hit the trip to the PTE (a host
 * cache miss) unless the page is written for the first time. */
static inline void pm_model_touch_frame(pagemu_model_t *m, uint64_t ppn, int access, pagemu_xlate_t *x)
{
	uint8_t fb = m->fbits[ppn];

	if (access & PM_PROT_WRITE) {
		if (!(fb & PM_FB_W)) {
			m->stats.prot_faults++;
			if (x)
				x->prot_fault = 1;
		} else if (!(fb & PM_FB_D)) {
			m->fbits[ppn] = fb | PM_FB_D;
			*m->frames.f[ppn].pte = pte_mkdirty(*m->frames.f[ppn].pte);
		}
	}
	if (x) {
		x->accessed = pte_young(*m->frames.f[ppn].pte);
		x->dirty = pte_dirty(*m->frames.f[ppn].pte);
	}
}

#endif
