/* engine.h - the engine layer (lib/engine/): the effects. It reserves
 * regions, owns the frame pool, catches faults, talks to io_uring and
 * programs the real MMU; it asks the model (lib/model) what to do and
 * makes it so.
 *
 * Who may include this header: the engine's own files and the tests. The
 * layers above (lib/heap, preload) use include/pagemu.h and the few calls
 * of engine_api.h. Inside the engine, calls go down this list:
 *
 *   vm.c         the instance: open/close, pin, stats, translate
 *   space.c      address spaces: switch (the CR3 write), fork with
 *                copy-on-write, reset, free; working sets, load control
 *   mapping.c    the regions' calls: map, unmap, protect, advise, remap
 *   fork.c       fork(): a private copy of emulated memory for the child
 *   filemap.c    mapped files written back: pagemu_sync, unmap, close;
 *                shared mappings handed to the kernel at fork
 *   fault.c      a fault, top to bottom (pm_fault_entry, pm_fault_handle)
 *   readahead.c  a mapped file's pages into the page cache: the fault's
 *                cluster, and windows read ahead of a sequential reader
 *   reclaim.c    taking a frame, eviction; object pages dropped
 *   writeback.c  dirty frames to swap and to their files, pre-cleaning
 *   mmu.c        the real MMU: translations and the mapping budget
 *   object.c     memory objects (files), their page cache in the pool,
 *                the reverse map from a frame to the PTEs that map it
 *   swapio.c     the swap file and its io_uring (completions go back to
 *                reclaim through the callback given at open); file I/O
 *   tracefile.c  the event trace of a live instance
 *   lock.c       the instance lock; waiting for a page in flight
 *   signal.c     the SIGSEGV handler, access type, handler chaining
 *   region.c     the region table and libsigsegv's dispatcher
 *   config.c, stats.c
 *   prim.c       every system call (prim.h)
 *
 * Glossary: see model/pte.h (VPN, VPO, PPN, PTE, slot). A region is a VMA:
 * a range reserved by pagemu_map. The physmap is pagemu's own mapping of
 * the whole pool.
 */
#ifndef PAGEMU_ENGINE_H
#define PAGEMU_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "model/model.h"
#include "engine/prim.h"
#include "engine/engine_api.h"

/* config.c - the table of settings is in engine_api.h. */
/* The pool fits in the memory the machine and this process's cgroup can
 * give (a larger one would end in the kernel's OOM killer, which kills
 * other processes too): 0, or -ENOMEM with a message naming the setting
 * (given: how the user set it, NULL = the API's field). */
int pm_config_check_memory(const pagemu_config_t *cfg, const pm_given_t *given);
/* Setting env (e.g. "PAGEMU_SWAP_DIR") named for a message as the user
 * gave it in given (may be NULL), else as cfg has it:
 * swap_dir (PAGEMU_SWAP_DIR) = "/tmp". */
void pm_config_name(const char *env, const pagemu_config_t *cfg, const pm_given_t *given, char *buf, size_t len);

/* region.c - the region table (VMAs) and the process-wide libsigsegv
 * dispatcher. The table changes under vm->lock outside the handler; the
 * handler only reads it (pm_region_dispatch). */
typedef struct pm_region {
	uintptr_t start, end;             /* [start, end), page aligned */
	int       prot;                   /* PROT_* allowed */
	int       live;                   /* 0 = slot unused */
	uint32_t  obj;                    /* 0 = anonymous private memory; else the object's number + 1 */
	int       shared;                 /* MAP_SHARED: writes reach the object (else copy-on-write) */
	uint64_t  pgoff;                  /* object page mapped at start */
	uint16_t  space;                  /* the address space it belongs to */
	void     *ticket;                 /* libsigsegv registration (only the current space's regions have one) */
	struct pagemu *vm;                /* owner */
} pm_region_t;

/* A region of space (registered with the dispatcher when space is the
 * current one). */
pm_region_t *pm_region_new(struct pagemu *vm, unsigned space, uintptr_t start, uintptr_t end, int prot);
void pm_region_delete(struct pagemu *vm, pm_region_t *r);
/* Split r at addr (page aligned, strictly inside): r keeps [start, addr),
 * the returned region gets [addr, end). NULL when the table is full. */
pm_region_t *pm_region_split(struct pagemu *vm, pm_region_t *r, uintptr_t addr);
/* The live region of vm's current space holding addr, or NULL. */
pm_region_t *pm_region_find(struct pagemu *vm, uintptr_t addr);
/* Register (on = 1) or unregister the regions of space with the
 * dispatcher: a switch. */
void pm_region_attach_space(struct pagemu *vm, unsigned space, int on);
/* Is r live and of the current space? */
static inline int pm_region_here(const struct pagemu *vm, const pm_region_t *r);
/* The region holding addr in any instance: signal context, no lock. */
pm_region_t *pm_region_dispatch(void *addr);
/* Signal-safe: 1 when addr was in one of the last regions deleted (any
 * instance): a fault raised there before the deletion may reach the
 * handler after it (a fork handed the mapping to the kernel meanwhile),
 * and is worth one more try of its instruction. */
int pm_region_recently_gone(uintptr_t addr);

/* signal.c - the process's SIGSEGV handler: libsigsegv's, installed once
 * with the fault path's entry as its handler, behind a thin SA_SIGINFO
 * wrapper that reads the access type and chains the program's own
 * handler (pm_signal_chain in engine_api.h). It runs with the asynchronous
 * signals blocked, enters on the program's alternate stack when there is
 * one (SA_ONSTACK), and serves the fault on a stack of pagemu's own. */
/* Install handler (the fault path's entry) once per process; later calls
 * return the first call's result. 0 or -ENOTSUP. */
int pm_signal_init(int (*handler)(void *fault_address, int serious));
/* signal context: the access type of this thread's current fault (enum
 * pm_access), from the signal context where the architecture says it. */
int pm_signal_fault_access(void);
/* signal context: which execution of which instruction this thread's
 * current fault is in: a hash of its instruction pointer and general
 * registers, equal for the restarts of one execution; 0 = unknown. */
uint64_t pm_signal_fault_insn(void);
/* signal context: pagemu declines this fault; 1 when a chained handler
 * will take it (so the default action must not be restored). */
int pm_signal_declined(void);
/* Block the asynchronous signals on this thread (all but SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGTRAP, SIGSYS), the old mask in *old: 1. 0 when they
 * are blocked already (inside pagemu's fault handler): nothing to undo.
 * pm_signal_restore sets the mask back to *old. Signal-safe. */
int  pm_signal_block_async(uint64_t *old);
void pm_signal_restore(const uint64_t *old);

/* object.c - memory objects (CSAPP 9.8): the files regions map, their
 * pages cached in frames of the pool (one frame per file page, whoever
 * maps it), and the reverse map. Everything but open/put: signal
 * context; called with vm->lock held. */
#define PM_OBJECTS_MAX 1024               /* objects per instance */
typedef struct pm_object {
	int       live;                   /* 0 = slot unused */
	int       fd;                     /* pagemu's own descriptor of the file */
	int       dfd;                    /* the same file with O_DIRECT (file_direct), whole-page I/O; else fd */
	int       writable;               /* open read-write: shared writable mappings allowed */
	int       anon;                   /* anonymous shared memory: a file of pagemu's own */
	int       wmapped;                /* a region has mapped it writable: its PTEs may be dirty */
	uint64_t  dev, ino;               /* the file's identity: its mappings share this object */
	uint64_t  size;                   /* the file's size in bytes, as last seen */
	uint64_t  ra_next;                /* readahead: the page after the last one read or read ahead */
	uint64_t  ra_win;                 /* readahead: the last window's pages (0 = none running) */
} pm_object_t;
/* The object for file fd (an existing one when the instance maps the same
 * file already), mapped with prot, shared or not: its number + 1, or
 * -errno with pagemu_last_error() set: -EACCES (fd not readable, or
 * shared writable on a read-only fd), -ENODEV (no regular file), -EBADF,
 * -ENFILE (the table is full). anon: a new anonymous shared object of
 * size bytes in swap_dir (fd unused). Not signal context; vm->lock held. */
int  pm_object_open(struct pagemu *vm, int fd, int prot, int shared, int anon, uint64_t size);
/* The object obj (number + 1) as a pointer. */
static inline pm_object_t *pm_object(struct pagemu *vm, uint32_t obj);
/* The object of the file (dev, ino), when the instance maps it; else 0. */
uint32_t pm_object_find(struct pagemu *vm, uint64_t dev, uint64_t ino);
/* No region maps obj any more: 1 (the caller drops its pages, then
 * pm_object_close), else 0. */
int  pm_object_unused(struct pagemu *vm, uint32_t obj);
void pm_object_close(struct pagemu *vm, uint32_t obj);
/* Read the file's size again (a truncation or extension): 0 or -errno. */
int  pm_object_refresh(struct pagemu *vm, uint32_t obj);
/* Pages of the object below its end of file. */
uint64_t pm_object_pages(struct pagemu *vm, uint32_t obj);
/* The page cache: the frame holding page index of obj, or PM_NONE; and
 * the frame ppn (obj and index set) entering or leaving it. */
uint64_t pm_pcache_lookup(struct pagemu *vm, uint32_t obj, uint64_t index);
/* Frame ppn holds the object's page index: O(1), no hash (a frame's
 * obj and index are set exactly while it is in the page cache). */
static inline int pm_pcache_holds(const struct pagemu *vm, uint64_t ppn, uint32_t obj, uint64_t index);
void pm_pcache_insert(struct pagemu *vm, uint64_t ppn);
void pm_pcache_remove(struct pagemu *vm, uint64_t ppn);
/* The reverse map: call fn for every PTE that maps frame ppn: an object
 * page through every region of its object whose range holds its page, in
 * every space; an anonymous page its owner's, and when it is shared after
 * a fork, the PTE of its vpn in every other space that maps it. While fn
 * runs, vm->op_space is the PTE's space. Returns the PTEs visited. */
typedef void (*pm_rmap_fn)(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg);
unsigned pm_rmap_walk(struct pagemu *vm, uint64_t ppn, pm_rmap_fn fn, void *arg);
/* The object page a region maps at vpn. */
static inline uint64_t pm_region_index(const struct pagemu *vm, const pm_region_t *r, uint64_t vpn);

/* swapio.c - the swap file and its io_uring. All but open/close and
 * pm_swapio_read_wait: signal context; called with vm->lock held. */
#define PM_IO_MAX_RUN 64                  /* frames per read or write request */
#define PM_FAULT_AROUND_MAX 64            /* most pages one fault maps (PAGEMU_FAULT_AROUND) */
struct pm_swapio;
/* Called for every frame whose write finished (res 0) or failed (-errno),
 * from pm_swapio_reap: the caller's (reclaim's) bookkeeping, so that swap
 * I/O never calls up into reclaim. */
typedef void (*pm_swapio_done_fn)(struct pagemu *vm, uint64_t ppn, int res);
int  pm_swapio_open(struct pagemu *vm, pm_swapio_done_fn done);
/* What pm_swapio_open would do with cfg, undone at once: create the swap
 * file in cfg->swap_dir, size it, set up an io_uring. 0, or -errno with
 * pagemu_last_error() naming swap_dir or swap_size as dir and size say
 * (pm_config_name). */
int  pm_swapio_probe(const pagemu_config_t *cfg, const char *dir, const char *size);
void pm_swapio_close(struct pagemu *vm);
/* Start reading n consecutive slots from `slot` into frames ppns[0..n):
 * the request's id (>= 0), -EBUSY when every read request is in flight
 * (wait for one: pm_wait_busy), or -errno. */
int  pm_swapio_read_start(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n);
/* The same from an object's file fd at byte off: a short read is the end
 * of the file (pm_swapio_read_res gives the bytes read). */
int  pm_swapio_file_read_start(struct pagemu *vm, int fd, uint64_t off, const uint64_t *ppns, unsigned n);
/* Wait for read id to complete. Called WITHOUT vm->lock (taking
 * completions for other threads on the way). Signal-safe. */
void pm_swapio_read_wait(struct pagemu *vm, int id);
/* Read id completed (pm_swapio_read_wait returned): its result, 0 or
 * -errno (a file read: the bytes read, or -errno), the request still
 * held. Without vm->lock. */
int  pm_swapio_read_res(struct pagemu *vm, int id);
/* Read id completed (pm_swapio_read_wait returned): its result, as
 * pm_swapio_read_res's (-EIO for a short swap read); the request is free
 * again. */
int  pm_swapio_read_end(struct pagemu *vm, int id);
/* Reads in flight. */
unsigned pm_swapio_reads(struct pagemu *vm);
/* Submit the reads started so far now, without waiting (a read nobody
 * waits for yet: readahead). */
void pm_swapio_read_kick(struct pagemu *vm);
/* Has read id completed (taking the completions there are, when no other
 * thread holds the queue)? Never waits. */
int  pm_swapio_read_done(struct pagemu *vm, int id);
/* Queue one write of frames ppns[0..n) to consecutive slots from `slot`;
 * the frames must have io set. Submitted by pm_swapio_submit (or when the
 * queue is full). 0 or -errno. */
int  pm_swapio_write(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n);
/* The same to an object's file fd from byte off, the last frame `last`
 * bytes long (a file's last page is written up to its end of file). */
int  pm_swapio_file_write(struct pagemu *vm, int fd, uint64_t off, const uint64_t *ppns, unsigned n, size_t last);
int  pm_swapio_submit(struct pagemu *vm);
/* Reap finished writes, calling the done function for each frame.
 * wait = 1: block until at least one completes when any is in flight.
 * Returns requests reaped, or -errno. */
int  pm_swapio_reap(struct pagemu *vm, int wait);
/* Frames whose write is in flight. */
unsigned pm_swapio_inflight(struct pagemu *vm);
/* Wait until no write is in flight (reaped: reclaim heard of each). */
void pm_swapio_drain(struct pagemu *vm);
/* Give the disk blocks of the n slots from `slot` back to the file system
 * (they are free, and no I/O of theirs is in flight): a hole punched with
 * fallocate. 0 or -errno; -EOPNOTSUPP at once when the file system said
 * it cannot. */
int  pm_swapio_punch(struct pagemu *vm, uint64_t slot, uint64_t n);
/* The swap file's descriptor (tests corrupt slots behind pagemu's back). */
int  pm_swapio_fd(struct pagemu *vm);
/* fork: before, a copy of the swap file (used slots) for the child: the
 * new fd or -errno; in the child, adopt it with a new ring: 0 or -errno. */
int  pm_swapio_copy(struct pagemu *vm);
int  pm_swapio_adopt(struct pagemu *vm, int fd);
/* The remote store's counters into s (nothing for the local file). */
void pm_swapio_stats(struct pagemu *vm, pagemu_stats_t *s);

/* writeback.c - dirty frames written out. signal context; called with
 * vm->lock held. */
/* Is the page in frame ppn dirty (an object page: through any mapping)? */
int  pm_writeback_dirty(struct pagemu *vm, uint64_t ppn);
/* Queue writes of the dirty frames ppns[0..n) (n <= 512): anonymous pages
 * to swap slots (a run of consecutive slots in one writev), object pages
 * to their files. Returns frames whose write started, or -EFBIG (no swap
 * slot for the first). pm_writeback_submit also submits them. */
int  pm_writeback_start(struct pagemu *vm, const uint64_t *ppns, unsigned n);
int  pm_writeback_submit(struct pagemu *vm, const uint64_t *ppns, unsigned n);
/* A write of frame ppn finished (res = 0) or failed (-errno): swapio's
 * callback. */
void pm_writeback_done(struct pagemu *vm, uint64_t ppn, int res);
/* Write back, ahead of the hand, the dirty pages the policy will evict
 * next, so that evictions find clean pages (one batch at a time). */
void pm_writeback_preclean(struct pagemu *vm);
/* Give the disk blocks of freed swap slots back to the file system, a run
 * of slots at a time, once enough of them wait (force: any). Returns the
 * slots released. Called with vm->lock held. */
uint64_t pm_writeback_trim_swap(struct pagemu *vm, int force);

/* mmu.c - the real MMU: translations and the mapping budget (in VMAs).
 * signal context; called with vm->lock held. */
/* Before one more change: keep the VMAs within budget. */
void pm_budget_make_room(struct pagemu *vm);
/* 1 when `vmas` more VMAs leave ample room. */
int  pm_budget_room(struct pagemu *vm, uint64_t vmas);
/* Install the translation of vpn -> its frame in the real MMU with prot;
 * updates the PTE (M, and W when prot allows writing). 0 or -errno. */
int  pm_map_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot);
/* The same, when the real MMU already maps vpn to its frame with prot
 * (a swap-in mapped the page while its PTE was locked): the bookkeeping
 * alone. */
int  pm_map_pte_premapped(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot);
/* Drop vpn's real translation (and any kept PROT_NONE mapping of its
 * frame): the VA is a plain reservation again; the page stays resident. */
void pm_unmap_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
/* Make the mapped page inaccessible but keep its mapping (PROT_NONE, K):
 * the next touch faults and maps it again with an mprotect. */
void pm_park_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
/* Map the n pages from vpn, whose PTEs are present and not mapped, to the
 * consecutive frames from ppn with prot, in one mmap (fault-around).
 * 0 or -errno (nothing mapped). */
int  pm_map_run(struct pagemu *vm, uint64_t vpn, uint64_t ppn, uint64_t n, int prot);
/* Park the n mapped pages from vpn at once (one mprotect). */
void pm_park_run(struct pagemu *vm, uint64_t vpn, uint64_t n);
/* Change the protection of a mapped page. 0 or -errno. */
int  pm_protect_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot);
/* The translation of vpn is gone (eviction, unmap, protection change):
 * drop it from the modeled TLB (exact-TLB mode) and the real MMU. */
void pm_shootdown(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
/* Premap frames ppn.. PROT_NONE at the k pages from vpn (k <= 64), in
 * one mmap: untouched pages become a reservation window, resident pages
 * in exactly those frames become parked (readahead). 0 or -errno. */
int  pm_reserve_frames(struct pagemu *vm, uint64_t vpn, uint64_t ppn, uint64_t k);
/* Eviction: revoke access to the page (TLB model, real MMU) before its
 * frame is written out; once out, point its PTE at swap (`swapped`). The
 * page's PROT_NONE mapping may stay as a stale one, queued for a batched
 * unmap (pm_mmu_flush_stale). */
void pm_mmu_revoke(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
void pm_mmu_evicted(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, pm_pte_t swapped);
/* An object page's mapping goes (evicted, dropped): its PTE becomes none;
 * a parked mapping stays as a window of the old frame, queued for the
 * batched unmap with the stale ones. */
void pm_mmu_dropped(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
void pm_mmu_flush_stale(struct pagemu *vm);
/* The reservation window of the untouched page vpn is void (its frame went
 * to another page): forget it, keeping the VMA count exact. */
void pm_mmu_window_void(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
/* Drop every real translation of the current space's regions: each is a
 * plain reservation again (one mmap a region), its PTEs lose M and K (the
 * pages stay resident). A switch, a space fork, a process fork's child.
 * Returns the PTEs with T (touched in the working-set window) seen;
 * clear_t: and clears them. vm->lock held, no read in flight. */
uint64_t pm_mmu_drop_all(struct pagemu *vm, int clear_t);
/* Every page of the current space's regions mapped read-write becomes
 * read-only (a run of consecutive pages, one mprotect): a space fork. */
void pm_mmu_wrprotect_all(struct pagemu *vm);
/* The modeled TLB's entry of vpn, of the space whose PTE is being changed
 * (vm->op_space): gone (exact-TLB mode). */
void pm_tlb_forget(struct pagemu *vm, uint64_t vpn);
/* Invariant checker for tests: the mapped, parked, reserved and resident
 * counts agree with the page table, and the frame table is sound.
 * 0 or -1. Call with vm->lock held (or no fault in flight). */
int  pm_mmu_check(struct pagemu *vm);
/* A region was reserved; the pages [lo, hi] are about to be unmapped. */
void pm_mmu_region_added(struct pagemu *vm, uint64_t lo, uint64_t hi);
void pm_mmu_range_released(struct pagemu *vm, uint64_t lo, uint64_t hi);
/* After a fork re-reserved every region with no frame mapped: recount. */
void pm_mmu_regions_recount(struct pagemu *vm);

/* readahead.c - a mapped file's pages read into the page cache. signal
 * context; called with vm->lock held. */
#define PM_RA_ASYNC 32                    /* read requests of windows read ahead, in flight at once */
struct pm_ra_async {
	unsigned n;                       /* frames, 0 = slot unused */
	int      id;                      /* the read request */
	uint32_t obj;
	uint64_t ppns[PM_IO_MAX_RUN];
};
/* Frames for the cluster of a fault that missed the page cache at page
 * index of obj (entered in the cache, busy): how many, 0 with *err set. */
unsigned pm_readahead_cluster(struct pagemu *vm, uint32_t obj, uint64_t index, uint64_t *ppns, int *err);
/* Read that cluster without vm->lock (pte, the touched page's, locked
 * meanwhile), and a window ahead when the reader is sequential. Returns
 * the pages read (0: the touched page is past the end of the file now) or
 * -errno (-EBUSY: no read request free); the pages are in the cache. */
int  pm_readahead_read(struct pagemu *vm, uint32_t obj, uint64_t index, const uint64_t *ppns, unsigned n, pm_pte_t *pte);
/* A fault found ppn in the page cache: a page read ahead counts as a hit,
 * and a window's marker starts the next window. */
void pm_readahead_hit(struct pagemu *vm, uint64_t ppn);
/* Is ppn a window's marker (its touch starts the next window)? */
int  pm_readahead_marker(const struct pagemu *vm, uint64_t ppn);
/* Take the windows whose reads completed into the cache. */
void pm_readahead_poll(struct pagemu *vm);
/* The busy frame ppn: when a window's read holds it, wait for that read
 * (without vm->lock) and take it in. */
void pm_readahead_wait(struct pagemu *vm, uint64_t ppn);
/* Wait for every window in flight (close, fork, an object's end). */
void pm_readahead_drain(struct pagemu *vm);

/* reclaim.c - taking a frame, eviction, pre-cleaning. */
/* signal context: this thread faults on page vpn in the execution insn of
 * an instruction (pm_signal_fault_insn; 0: unknown). Keeps the pages one
 * instruction needs at once from evicting each other (see reclaim.c). */
void pm_reclaim_note_fault(uint64_t insn, uint64_t vpn);
/* Point the policy environment at vm (open time). */
void pm_reclaim_env_init(struct pagemu *vm);
/* A free frame for a new page, reclaiming if needed; PM_NONE with *err set:
 * -EFBIG every swap slot is in use (PAGEMU_SWAP_SIZE), -ENOSPC the swap
 * file's file system is full (PAGEMU_SWAP_DIR), -EIO (or another -errno)
 * a write failed, -ENOMEM everything pinned.
 * signal context; called with vm->lock held. */
uint64_t pm_reclaim_frame(struct pagemu *vm, int *err);
/* Local replacement: the current space holds its quota of frames (its
 * next page takes one of its own: pm_reclaim_frame). */
int pm_reclaim_at_quota(struct pagemu *vm);
/* Take the free frame ppn itself (a reservation window's): 0, or -1 when
 * it is not free (or the machine has no memory for it). */
int pm_reclaim_claim(struct pagemu *vm, uint64_t ppn);
/* What an error of the swap path means for the user, naming the setting
 * to change: pm_reclaim_frame's codes, and -EBADMSG for a page read back
 * with a checksum other than the one written. */
const char *pm_reclaim_cause(int err);
/* An anonymous page of the current space came into frame ppn for pte at
 * vpn: its owner (the frame counts for the space). */
void pm_frame_own(struct pagemu *vm, uint64_t ppn, uint64_t vpn, pm_pte_t *pte);
/* pte stops sharing the anonymous frame
 * ppn a fork shared: one share less; when pte was the owner's, another
 * sharer becomes the owner. */
void pm_frame_unshare(struct pagemu *vm, uint64_t ppn, const pm_pte_t *pte);
/* Release the pages [lo, hi] of space id (current or not): pm_page_release
 * of every PTE, page-table nodes left empty freed. */
void pm_reclaim_release_range(struct pagemu *vm, unsigned id, uint64_t lo, uint64_t hi);
/* Load control: evict every page space id owns alone (it is suspended). */
void pm_reclaim_space(struct pagemu *vm, unsigned id);
/* Forget a page's frame or slot (pagemu_unmap); an object page stays in
 * the page cache (its dirty bit with the frame). */
void pm_page_release(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte);
/* The file of obj may have changed size: read it again; the pages past a
 * new end go. 0 or -errno (the file cannot be read: fstat failed). */
int  pm_reclaim_file_resized(struct pagemu *vm, uint32_t obj);
/* Drop the clean object page in ppn from the cache (msync's
 * MS_INVALIDATE): 0, or -EBUSY (dirty, pinned, or I/O in flight). */
int  pm_reclaim_invalidate(struct pagemu *vm, uint64_t ppn);

/* The object's last mapping went (no window of it is read ahead): write
 * its dirty pages to the file, wait, and free all its frames. 0, or -EIO when a write failed (said on
 * stderr: those changes are lost). */
int  pm_reclaim_drop_object(struct pagemu *vm, uint32_t obj);

/* fault.c - the fault path. */
enum pm_fault_outcome {
	PM_FAULT_DECLINE = 0,             /* not ours or not allowed: real SIGSEGV */
	PM_FAULT_ZERO,                    /* demand-zero page */
	PM_FAULT_MINOR,                   /* resident page mapped again */
	PM_FAULT_WRITE,                   /* first write to a clean page */
	PM_FAULT_MAJOR,                   /* read from swap */
	PM_FAULT_SPURIOUS,                /* already handled by another thread */
	PM_FAULT_SIGBUS,                  /* could not be served: SIGBUS */
	PM_FAULT_TLB_HIT,                 /* exact-TLB mode: an L1 TLB hit on a hidden way, no page fault */
	PM_FAULT_RETRY,                   /* the page is in flight (or no read request is free): pm_wait_busy, then again */
};
enum pm_access { PM_ACCESS_UNKNOWN = 0, PM_ACCESS_READ, PM_ACCESS_WRITE, PM_ACCESS_EXEC /* an instruction fetch */ };

/* One fault's state, handed down the fault path (Linux's struct vm_fault):
 * filled by whoever raises the fault (the signal entry, or pinning), read
 * and completed by fault.c's steps. */
struct pm_fault {
	struct pagemu *vm;                /* the instance that owns the page */
	pm_region_t   *region;            /* the region (VMA) holding va */
	uintptr_t      va;                /* the faulting address */
	uint64_t       vpn;               /* its page */
	pm_pte_t      *pte;               /* its PTE; NULL while no leaf exists */
	enum pm_access access;            /* read, write, or unknown */
	enum pm_fault_outcome outcome;    /* what the fault path did */
};

/* Serve the fault f describes (vm, region, va, access set): returns the
 * outcome, also left in f->outcome. PM_FAULT_RETRY: call pm_wait_busy,
 * find the region again and call again.
 * signal context; called with vm->lock held; it lets go of it and takes
 * it again while it waits for a swap read (f->region is then found
 * again). */
enum pm_fault_outcome pm_fault_handle(struct pm_fault *f);
/* libsigsegv's handler (pm_signal_init installs it): nonzero = served,
 * the instruction restarts; 0 = not ours. signal context, takes vm->lock. */
int pm_fault_entry(void *fault_address, int serious);

/* space.c - address spaces (emulated processes) over one frame pool. One
 * is current: its page table is vm->pt (the CR3), its regions are the
 * dispatcher's. The others keep their page tables here; their PTEs have
 * no real mapping (no M, no K), their pages stay resident until evicted.
 * A space's number is its ASID. */
#define PM_SPACES_MAX 256
struct pagemu_space {
	struct pagemu *vm;
	int       live;
	uint16_t  id;                     /* its slot, and its ASID */
	int       suspended;              /* load control took it off the pool */
	pm_pt_t   pt;                     /* its page table; while it is current, vm->pt is the live one */
	uint64_t  quota;                  /* local replacement: its anonymous frames at most; 0 = global */
	uint64_t  frames;                 /* frames holding its anonymous pages (owner) */
	uint64_t  quanta;                 /* switches into it: its virtual time */
	uint64_t  window;                 /* quanta into its working-set window */
	uint64_t  ws;                     /* pages touched (T) in its last completed window */
	uint64_t  suspend_seq;            /* order of suspension: oldest resumed first */
	uint64_t  since;                  /* space_switches when it was last suspended or resumed */
	pagemu_space_stats_t st;          /* its fault and eviction counters */
};
typedef struct pagemu_space pm_space_t;
/* The page table of space id (vm->pt for the current one). */
static inline pm_pt_t *pm_space_pt(struct pagemu *vm, unsigned id);
/* Open: the initial space (0), current. */
void pm_space_init(struct pagemu *vm);

/* The instance. */
typedef struct pagemu {
	pagemu_config_t cfg;              /* as validated at open */
	_Atomic uint32_t lock;            /* the instance lock: a futex, signal-safe (lock.c) */
	_Atomic uint32_t busy_seq;        /* bumped when an in-flight page is done */
	_Atomic uint32_t busy_waiters;    /* threads in pm_wait_busy */
	size_t        page;               /* emulated page size, bytes */
	unsigned      page_shift;         /* log2 page */
	uint64_t      nframes;            /* frames in the pool */

	int           pool_fd;            /* memfd: the machine's DRAM, sparse */
	uint64_t      pool_committed;     /* frames below this have their memory (reclaim.c) */
	uint64_t      frames_hwm;         /* frames below this were handed out; those above still hold the kernel's zeros */
	char         *physmap;            /* pagemu's own mapping of the pool */

	pm_arena_t    arena;              /* page-table nodes (every space's) */
	pm_pt_t       pt;                 /* the current space's page table (the CR3) */
	pm_space_t   *spaces;             /* PM_SPACES_MAX entries */
	uint16_t      cur;                /* the current space */
	uint16_t      op_space;           /* the space whose PTEs are being changed (cur unless an rmap or eviction says) */
	uint64_t      nspaces;            /* live spaces */
	uint64_t      space_next;         /* where pagemu_space_new looks for a slot (round robin: a freed one is reused last) */
	uint64_t      suspend_seq;        /* load control's suspension counter */
	uint64_t      rotated_at;         /* space_switches at load control's last rotation */
	int           reclaim_local;      /* reclaiming for a space at its quota: its own frames only (reclaim.c) */
	uint64_t      quota_pending;      /* frames a swap-in cluster took so far, not yet its space's */
	uint64_t      pins_held;          /* pagemu_pin holds not yet undone (0: no page is pinned) */
	pm_frames_t   frames;             /* the frame table */
	pm_swapmap_t  swapmap;            /* swap slots */
	const pm_policy_ops_t *policy;    /* replacement policy */
	void         *policy_state;
	pm_policy_env_t policy_env;

	pm_object_t  *objects;            /* object table, PM_OBJECTS_MAX entries */
	uint32_t     *pcache;             /* page cache: open-addressing hash of object frames, ppn + 1 (0 = empty) */
	uint64_t      pcache_mask;        /* its slots - 1 (a power of two, >= 2 x frames) */
	uint64_t      cached;             /* frames holding object pages */
	uint64_t      nobjects;           /* live objects */
	struct pm_ra_async ra_async[PM_RA_ASYNC]; /* windows being read ahead (readahead.c) */
	pm_region_t  *regions;            /* region table */
	size_t        nregions_max;       /* slots in the table */
	size_t        nregions_hw;        /* slots ever used: the table's live part is below */

	struct pm_swapio *io;             /* swap file + ring */
	uint64_t      nslots;             /* swap slots */

	size_t        map_budget;         /* max pages mapped at once */
	uint64_t      budget_hand;        /* frame where the budget sweep resumes */
	unsigned      ra_window;          /* current readahead window, pages */
	unsigned      preclean_tick;      /* evictions since the last write-back lead check */
	uint64_t      ra_hits_seen;       /* readahead_hits at the last major fault */
	uint64_t      ra_last_vpn;        /* VPN of the last major fault */
	uint64_t      zero_last_vpn;      /* VPN of the last demand-zero fault */
	unsigned      maps_inflight;      /* first touches mapping their frame outside vm->lock (fault.c) */
	uint64_t      park_vpn, park_n;   /* reference bits cleared, pages still mapped: parked at once (reclaim.c) */
	uint64_t      reserved;           /* PTEs with K, not present (reservation windows) */
	uint64_t      parked;             /* PTEs with K, present (parked pages) */
	uint64_t      vmas;               /* kernel mappings our pages use now (mmu.c) */
	uint64_t      stale[512];         /* evicted pages whose stale mapping awaits unmap */
	uint64_t      stale_ppn[512];     /* the frame each of them still maps (PROT_NONE) */
	uint64_t      nstale;             /* entries in stale[] */
	int           broken;             /* a fork could not copy emulated memory: faults get SIGBUS */
	int           check_faults;       /* debug builds: run pm_mmu_check after every fault (PAGEMU_CHECK=1) */
	int           fork_pool_fd;       /* during a fork: the child's copy of the pool, -1 = none */
	int           fork_swap_fd;       /* during a fork: the child's copy of the swap file */
	uint64_t      map_gen;            /* bumped on every change to the real MMU's view */
	pm_tlb_t      tlb;                /* the modeled TLB (exact-TLB mode) */
	int           tlb_mru_only;       /* exact-TLB mode, L1 LRU or PLRU: only each L1 set's MRU way is mapped */
	int           trace_fd;           /* PAGEMU_TRACE file, -1 = off */
	uint8_t      *trace_buf;          /* records not yet written */
	size_t        trace_len;          /* bytes in trace_buf */

	void         *tables_mem;         /* one mapping for all tables */
	size_t        tables_len;

	pagemu_stats_t stats;             /* counters, under lock */
} pagemu_impl_t;

/* lock.c - vm->lock: a futex lock (signal-safe), never held across a swap
 * read. Its holder runs with the asynchronous signals blocked (a signal
 * handler that touches emulated memory must not fault into pagemu on the
 * thread that holds the lock); holds nest (fork takes every instance's
 * lock). */
void pm_lock(struct pagemu *vm);
void pm_unlock(struct pagemu *vm);
/* Let go of vm->lock for a while and take it again, keeping the
 * asynchronous signals blocked meanwhile (this thread's hold goes on as
 * far as signals are concerned). */
void pm_lock_drop(struct pagemu *vm);
void pm_lock_retake(struct pagemu *vm);
/* A page is in flight (pte_locked) or a read still runs: let go of
 * vm->lock until some in-flight page is done (pm_busy_done), or a moment
 * has passed, and take it again. Everything may have changed meanwhile:
 * look up again. Called with vm->lock held. */
void pm_wait_busy(struct pagemu *vm);
/* An in-flight page is done: wake pm_wait_busy's sleepers. */
void pm_busy_done(struct pagemu *vm);
/* Faults at work outside vm->lock on pages whose PTEs they locked: swap
 * and file reads, and first touches mapping their frames. Whoever would
 * change those pages' PTEs or put their page table away (unmap, advice,
 * fork, a space's switch or end, close) waits while any are. vm->lock
 * held. */
unsigned pm_inflight(struct pagemu *vm);
static inline uintptr_t pm_vpn_va(const struct pagemu *vm, uint64_t vpn) { return (uintptr_t)vpn << vm->page_shift; }
static inline uint64_t  pm_va_vpn(const struct pagemu *vm, uintptr_t va) { return (uint64_t)va >> vm->page_shift; }
static inline char     *pm_frame_addr(const struct pagemu *vm, uint64_t ppn) { return vm->physmap + ppn * vm->page; }
/* A walk over the frames in use ends here: those above were never handed
 * out (free, untouched), so that a walk costs the memory in use, not the
 * pool's size (a fork, the statistics, a file's truncation). */
static inline uint64_t  pm_frames_end(const struct pagemu *vm) { return vm->frames_hwm; }
static inline pm_object_t *pm_object(struct pagemu *vm, uint32_t obj) { return &vm->objects[obj - 1]; }
static inline int pm_pcache_holds(const struct pagemu *vm, uint64_t ppn, uint32_t obj, uint64_t index)
{
	return ppn < vm->nframes && vm->frames.f[ppn].obj == obj && vm->frames.f[ppn].index == index;
}
static inline pm_pt_t *pm_space_pt(struct pagemu *vm, unsigned id) { return id == vm->cur ? &vm->pt : &vm->spaces[id].pt; }
static inline int pm_region_here(const struct pagemu *vm, const pm_region_t *r) { return r->live && r->space == vm->cur; }
static inline uint64_t pm_region_index(const struct pagemu *vm, const pm_region_t *r, uint64_t vpn)
{
	return r->pgoff + vpn - pm_va_vpn(vm, r->start);
}

/* nbd.c - swap slots on NBD servers (PAGEMU_SWAP=nbd://HOST:PORT/EXPORT,
 * a comma-separated list stripes them): the remote store beneath swapio's
 * slot I/O. A request is queued (lock-free) for the servers' I/O threads,
 * which post its completion into swapio's ring (IORING_OP_MSG_RING:
 * user_data tag, res the bytes moved or -errno; -EREMOTEIO when a server
 * failed, said on stderr naming it). */
#define PM_NBD_MAX_SERVERS PAGEMU_MAX_SERVERS
#define PM_NBD_URI_MAX     256            /* bytes of one URI */
#define PM_NBD_REQS        128            /* request indices: swapio's writes, then its reads */
struct pm_nbd;
/* list (cfg->swap) is a list of good URIs: their count, or -EINVAL with
 * pagemu_last_error() naming setting (how the user gave it) and the URI. */
int  pm_nbd_check_uri(const char *list, const char *setting);
/* Connect to every server of cfg->swap (within cfg->swap_timeout_ms
 * each), handshake, check that each export holds its share of nslots
 * slots, start the I/O threads: 0 with *out, or -errno with
 * pagemu_last_error() naming setting and the URI at fault. Completions
 * go to the io_uring whose descriptor is target. */
int  pm_nbd_open(const pagemu_config_t *cfg, uint64_t nslots, int target, const char *setting, struct pm_nbd **out);
/* What pm_nbd_open would say of cfg (swap_size's slots), undone at once. */
int  pm_nbd_probe(const pagemu_config_t *cfg, const char *setting);
/* Drain nothing (no request may be in flight), disconnect, free. */
void pm_nbd_close(struct pm_nbd *nbd);
/* In a fork child: drop the parent's connections (the threads were the
 * parent's), free. */
void pm_nbd_forget(struct pm_nbd *nbd);
/* Queue a read (or write) of the n slots from `slot` to or from the pages
 * iov[0..n) (one page each, alive until the completion) as request req
 * (< PM_NBD_REQS); its completion is posted with user_data tag. A read
 * starts at once; writes wait for pm_nbd_kick. 0.
 * signal context; called with vm->lock held. */
int  pm_nbd_read(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n);
int  pm_nbd_write(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n);
void pm_nbd_kick(struct pm_nbd *nbd);
/* fork: copy the used slots of map (nslots) into the file fd, at their
 * slot's offset, waiting for each read. 0 or -errno. vm->lock held. */
int  pm_nbd_copy(struct pm_nbd *nbd, const pm_swapmap_t *map, uint64_t nslots, int fd);
/* Add the servers' counters to s (remote_*, servers[]). */
void pm_nbd_stats(struct pm_nbd *nbd, pagemu_stats_t *s);

/* tracefile.c - the event trace of a live instance (PAGEMU_TRACE; "%p"
 * in the path is the process id). */
int  pm_tracefile_open(struct pagemu *vm);
/* Create cfg->trace_path as pm_tracefile_open will (it truncates it
 * again), and close it: 0 (also when tracing is off) or -errno. */
int  pm_tracefile_probe(const pagemu_config_t *cfg);
/* In a fork child, vm->lock held: the parent's trace is not the child's.
 * With "%p" in the path the child starts a file of its own, else it
 * traces no more. */
void pm_tracefile_forked(struct pagemu *vm);
/* signal context; called with vm->lock held. */
void pm_tracefile_event(struct pagemu *vm, unsigned kind, uint64_t va, uint64_t ppn, uint64_t slot, uint64_t ns);
void pm_tracefile_close(struct pagemu *vm);

/* filemap.c - the write-back a shared mapping's file is owed. Called
 * with vm->lock held, outside the fault handler. */
/* msync of [lo, hi) (page aligned): flags MS_ASYNC (start the writes),
 * MS_SYNC (wait, then fdatasync), 0 (wait: unmap's), | MS_INVALIDATE
 * (then drop the clean pages of the range from the page cache, so they
 * are read from the file again). 0, -ENOMEM (no region there), or the
 * -errno of a failed write. */
int  pm_filemap_sync(struct pagemu *vm, uintptr_t lo, uintptr_t hi, int flags);
/* The object obj may be mapped no more (an unmap): if so, its dirty pages
 * go to the file, its frames are freed and it is closed. 0 or -EIO. */
int  pm_filemap_release(struct pagemu *vm, uint32_t obj);
/* pagemu_close: every object's dirty pages to its file, every object
 * closed (before the regions go). */
void pm_filemap_close(struct pagemu *vm);
/* Before a fork: every shared mapping becomes a kernel mapping of its
 * file at the same addresses (parent and child then share it), and is
 * pagemu's no more. Returns how many. */
int  pm_filemap_fork(struct pagemu *vm);

/* mapping.c - for space.c: unmap every region of space id (current or
 * not), shared_too = 0: its private regions only (execve). vm->lock held,
 * no read in flight. */
void pm_mapping_drop_space(struct pagemu *vm, unsigned id, int shared_too);
/* pagemu_close: every region of every space goes, its address space
 * back to the kernel (frames and slots go with the pool). */
void pm_mapping_release_all(struct pagemu *vm);

/* fork.c - fork(): each side keeps a private view of emulated memory.
 * Instances register at open so the atfork handlers can find them. */
void pm_fork_register(struct pagemu *vm);
void pm_fork_unregister(struct pagemu *vm);

/* stats.c - counters are plain increments under vm->lock. */
#define PM_COUNT(vm, name) ((vm)->stats.name++)

/* vm.c - the instance hooks of the layers above (engine_api.h). */
void pm_engine_run_close_hooks(struct pagemu *vm);

#endif
