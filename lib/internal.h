/* internal.h - the one internal header. Its sections follow the layers and
 * show who may call whom:
 *
 *   1. model      pure and deterministic: arena, page table, frame table,
 *                 swap map, replacement policies. No system headers beyond
 *                 the C library's; called by the engine, the standalone
 *                 model (pagemu_model_*) and the simulator.
 *   2. prim       every system call of the engine, one contract each.
 *   3. engine     config, regions, swap I/O, reclaim, the fault path, the
 *                 instance. Calls 1 and 2.
 *
 * Glossary: see pte.h (VPN, VPO, PPN, PTE, slot). A region is a VMA: a range
 * reserved by pagemu_map. A frame is one page of the pool ("DRAM"). The
 * physmap is pagemu's own mapping of the whole pool.
 */
#ifndef PAGEMU_INTERNAL_H
#define PAGEMU_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "pagemu.h"
#include "pte.h"

#define PM_NONE UINT64_MAX                /* no frame / no slot */
#define PM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PM_UNUSED(x) ((void)(x))

/* ======================================================================
 * 1. model
 * ====================================================================== */

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
/* Invariant checker for tests: counts nodes reachable from the root;
 * returns 0 when it matches pt->nodes, else -1. */
int  pm_pt_check(pm_pt_t *pt);

/* frame.c - the frame table: who owns each frame and the free list. */
enum pm_frame_state {
	PM_FRAME_FREE = 0,                /* on the free list */
	PM_FRAME_USED,                    /* holds a present page */
};

typedef struct pm_frame {
	uint64_t  vpn;                    /* owner page (valid when USED) */
	uint64_t  slot;                   /* home swap slot, PM_NONE = none */
	pm_pte_t *pte;                    /* owner's PTE (valid when USED) */
	uint32_t  pins;                   /* pagemu_pin nesting; pinned frames are never evicted */
	uint8_t   state;                  /* enum pm_frame_state */
	uint8_t   io;                     /* 1 = a write of this frame to its slot is in flight */
	uint8_t   pad[2];
} pm_frame_t;

typedef struct pm_frames {
	pm_frame_t *f;                    /* nframes entries */
	uint32_t   *free;                 /* stack of free frame numbers */
	uint64_t    nframes;
	uint64_t    nfree;
} pm_frames_t;

/* Bytes of memory pm_frames_init needs for n frames. */
size_t   pm_frames_mem_size(uint64_t n);
void     pm_frames_init(pm_frames_t *ft, uint64_t n, void *mem);
/* Lowest-numbered free frame first on a fresh table (frames fill in
 * order); PM_NONE when none is free. */
uint64_t pm_frames_pop(pm_frames_t *ft);
void     pm_frames_push(pm_frames_t *ft, uint64_t ppn);
int      pm_frames_check(const pm_frames_t *ft);

/* swapmap.c - swap slot allocator: a bitmap with a next-fit cursor and a
 * hint, so neighbouring virtual pages land in neighbouring slots. */
typedef struct pm_swapmap {
	uint64_t *bits;                   /* 1 = slot in use */
	uint64_t  nslots;
	uint64_t  used;
	uint64_t  cursor;                 /* next-fit start */
} pm_swapmap_t;

size_t   pm_swapmap_mem_size(uint64_t nslots);
void     pm_swapmap_init(pm_swapmap_t *s, uint64_t nslots, void *mem);
/* hint if free, else the next free slot after the cursor; PM_NONE if full. */
uint64_t pm_swapmap_alloc(pm_swapmap_t *s, uint64_t hint);
void     pm_swapmap_free(pm_swapmap_t *s, uint64_t slot);
int      pm_swapmap_test(const pm_swapmap_t *s, uint64_t slot);

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
	/* Bytes of state for n frames (the caller provides zeroed memory). */
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

/* ======================================================================
 * 2. prim - every system call of the engine (prim.c)
 * Each returns 0 or -errno unless said otherwise, and preserves errno.
 * ====================================================================== */

/* Reserve len bytes of address space, inaccessible. NULL on failure (errno). */
void *pm_prim_reserve(size_t len);
/* Reserve-and-commit len bytes of private read-write memory for pagemu's
 * own tables (lazily backed by the kernel). NULL on failure. */
void *pm_prim_alloc_tables(size_t len);
/* Give back address space (munmap). */
int   pm_prim_release(void *addr, size_t len);
/* Map frame bytes [off, off+len) of fd at va with prot, populated.
 * Signal-safe. */
int   pm_prim_map_frame(void *va, size_t len, int prot, int fd, uint64_t off);
/* Make [va, va+len) inaccessible again, dropping any translation: the
 * range becomes a reservation like pm_prim_reserve's. Signal-safe. */
int   pm_prim_unmap_page(void *va, size_t len);
/* mprotect. Signal-safe. */
int   pm_prim_protect(void *va, size_t len, int prot);
/* An anonymous memory file of size bytes (the pool); returns fd or -errno. */
int   pm_prim_memfd(const char *name, uint64_t size);
/* Populate a shared mapping of the pool (the physmap): NULL on failure. */
void *pm_prim_map_pool(int fd, uint64_t size);
/* Monotonic clock, nanoseconds. Signal-safe. */
uint64_t pm_prim_now_ns(void);
/* vm.max_map_count, and the mappings this process has now. */
long  pm_prim_max_map_count(void);
long  pm_prim_map_count(void);
/* write(2) the whole string to stderr, retrying; signal-safe. */
void  pm_prim_say(const char *msg);
/* Map an always-SIGBUS page at va (a shared mapping past the end of an
 * empty file): the access restarts and the kernel raises SIGBUS. */
int   pm_prim_map_sigbus(void *va, size_t len);
/* Host page size. */
size_t pm_prim_host_page(void);

/* Signal-safe formatting helpers for one-line messages. */
char *pm_fmt_str(char *dst, char *end, const char *s);
char *pm_fmt_u64(char *dst, char *end, uint64_t v);

/* ======================================================================
 * 3. engine
 * ====================================================================== */

/* config.c */
/* Record the message of a failed config/open/map for pagemu_last_error(). */
void pm_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int  pm_parse_size(const char *s, uint64_t *out);

/* region.c - the region table (VMAs) and the process-wide libsigsegv
 * dispatcher. The table changes under vm->lock outside the handler; the
 * handler only reads it. */
typedef struct pm_region {
	uintptr_t start, end;             /* [start, end), page aligned */
	int       prot;                   /* PROT_* allowed */
	int       live;                   /* 0 = slot unused */
	void     *ticket;                 /* libsigsegv registration */
	struct pagemu *vm;                /* owner */
} pm_region_t;

int  pm_region_global_init(void);
pm_region_t *pm_region_new(struct pagemu *vm, uintptr_t start, uintptr_t end, int prot);
void pm_region_delete(struct pagemu *vm, pm_region_t *r);
/* Split r at addr (page aligned, strictly inside): r keeps [start, addr),
 * the returned region gets [addr, end). NULL when the table is full. */
pm_region_t *pm_region_split(struct pagemu *vm, pm_region_t *r, uintptr_t addr);
/* The live region of vm holding addr, or NULL. */
pm_region_t *pm_region_find(struct pagemu *vm, uintptr_t addr);
/* The region holding addr in any instance: signal context, no lock. */
pm_region_t *pm_region_dispatch(void *addr);

/* swapio.c - the swap file and its io_uring. All but open/close:
 * signal context; called with vm->lock held. */
#define PM_IO_MAX_RUN 64                  /* frames per read or write request */
struct pm_swapio;
int  pm_swapio_open(struct pagemu *vm);
void pm_swapio_close(struct pagemu *vm);
/* Read n consecutive slots from `slot` into frames ppns[0..n); waits for
 * the read (reaping writes that finish meanwhile). 0 or -errno. */
int  pm_swapio_read(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n);
/* Queue one write of frames ppns[0..n) to consecutive slots from `slot`;
 * the frames must have io set. Submitted by pm_swapio_submit (or when the
 * queue is full). 0 or -errno. */
int  pm_swapio_write(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n);
int  pm_swapio_submit(struct pagemu *vm);
/* Reap finished writes, calling pm_reclaim_write_done for each frame.
 * wait = 1: block until at least one completes when any is in flight.
 * Returns requests reaped, or -errno. */
int  pm_swapio_reap(struct pagemu *vm, int wait);
/* Frames whose write is in flight. */
unsigned pm_swapio_inflight(struct pagemu *vm);

/* reclaim.c - taking a frame, eviction, pre-cleaning, the mapping budget. */
/* A write of frame ppn finished (res = 0) or failed (-errno). */
void pm_reclaim_write_done(struct pagemu *vm, uint64_t ppn, int res);
/* Point the policy environment at vm (open time). */
void pm_reclaim_env_init(struct pagemu *vm);
/* A free frame for a new page, reclaiming if needed; PM_NONE with *err set
 * (-ENOSPC swap full, -EIO, -ENOMEM everything pinned).
 * signal context; called with vm->lock held. */
uint64_t pm_frame_take(struct pagemu *vm, int *err);
/* Write back, ahead of the hand, the dirty pages the policy will evict
 * next, so that evictions find clean pages (one batch at a time). */
void pm_reclaim_preclean(struct pagemu *vm);
/* Before mapping one more page: keep the real mappings within budget. */
void pm_budget_make_room(struct pagemu *vm);
/* Install the translation of vpn -> its frame in the real MMU with prot;
 * updates the PTE (M, and W when prot allows writing). 0 or -errno. */
int  pm_map_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot);
/* Drop vpn's real translation; the page stays resident. */
void pm_unmap_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
/* Forget a page's frame or slot (pagemu_unmap). */
void pm_page_release(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);

/* fault.c - the fault path. */
enum pm_fault_outcome {
	PM_FAULT_DECLINE = 0,             /* not ours or not allowed: real SIGSEGV */
	PM_FAULT_ZERO,                    /* demand-zero page */
	PM_FAULT_MINOR,                   /* resident page mapped again */
	PM_FAULT_WRITE,                   /* first write to a clean page */
	PM_FAULT_MAJOR,                   /* read from swap */
	PM_FAULT_SPURIOUS,                /* already handled by another thread */
	PM_FAULT_SIGBUS,                  /* could not be served: SIGBUS */
};
enum pm_access { PM_ACCESS_UNKNOWN = 0, PM_ACCESS_READ, PM_ACCESS_WRITE };

/* signal context; called with vm->lock held. */
enum pm_fault_outcome pm_fault_handle(struct pagemu *vm, pm_region_t *r, uintptr_t va, enum pm_access access);

/* The instance. */
typedef struct pagemu {
	pagemu_config_t cfg;              /* as validated at open */
	atomic_flag   lock;               /* the one lock: spin, signal-safe */
	size_t        page;               /* emulated page size, bytes */
	unsigned      page_shift;         /* log2 page */
	uint64_t      nframes;            /* frames in the pool */

	int           pool_fd;            /* memfd: the machine's DRAM */
	char         *physmap;            /* pagemu's own mapping of the pool */

	pm_arena_t    arena;              /* page-table nodes */
	pm_pt_t       pt;                 /* the page table (all regions) */
	pm_frames_t   frames;             /* the frame table */
	pm_swapmap_t  swapmap;            /* swap slots */
	const pm_policy_ops_t *policy;    /* replacement policy */
	void         *policy_state;
	pm_policy_env_t policy_env;

	pm_region_t  *regions;            /* region table */
	size_t        nregions_max;

	struct pm_swapio *io;             /* swap file + ring */
	uint64_t      nslots;             /* swap slots */

	size_t        map_budget;         /* max pages mapped at once */
	uint64_t      budget_hand;        /* frame where the budget sweep resumes */
	unsigned      ra_window;          /* current readahead window, pages */
	uint64_t      ra_hits_seen;       /* readahead_hits at the last major fault */
	uint64_t      ra_last_vpn;        /* VPN of the last major fault */

	void         *tables_mem;         /* one mapping for all tables */
	size_t        tables_len;

	pagemu_stats_t stats;             /* counters, under lock */
} pagemu_impl_t;

/* vm.c - the one lock: a spin lock (signal-safe) that yields the CPU
 * while another thread holds it across swap I/O. */
void pm_lock(struct pagemu *vm);
void pm_unlock(struct pagemu *vm);
static inline uintptr_t pm_vpn_va(const struct pagemu *vm, uint64_t vpn) { return (uintptr_t)vpn << vm->page_shift; }
static inline uint64_t  pm_va_vpn(const struct pagemu *vm, uintptr_t va) { return (uint64_t)va >> vm->page_shift; }
static inline char     *pm_frame_addr(const struct pagemu *vm, uint64_t ppn) { return vm->physmap + ppn * vm->page; }

/* stats.c */
#define PM_COUNT(vm, name) ((vm)->stats.name++)

#endif
