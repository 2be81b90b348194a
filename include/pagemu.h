/* pagemu.h - demand paging emulated in user space, with real hardware faults.
 *
 * The one public header. Read it as the documentation:
 *
 *   pagemu_config_t cfg;
 *   pagemu_config_default(&cfg);           // then set fields, or
 *   pagemu_config_from_env(&cfg);          // apply PAGEMU_* variables
 *   pagemu_t *vm;
 *   int err = pagemu_open(&cfg, &vm);      // 0 or -errno; pagemu_last_error()
 *   char *p = pagemu_map(vm, 1UL << 30, PROT_READ | PROT_WRITE,
 *                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
 *   p[12345] = 1;                          // a real SIGSEGV, handled by pagemu
 *   pagemu_stats_t s; pagemu_get_stats(vm, &s);
 *   pagemu_close(vm);
 *
 * Conventions: functions return 0 or a negative errno and never set errno;
 * functions that return a pointer (pagemu_map, the malloc family) return
 * NULL and set errno, as mmap and malloc do. pagemu_strerror() explains a
 * code; pagemu_last_error() returns the message of the last failed
 * configuration or open on this thread, naming the field or variable.
 *
 * The fault handler: pagemu installs a process-wide SIGSEGV handler through
 * GNU libsigsegv the first time an instance is opened. Faults at addresses
 * that belong to no pagemu region, or that the region's protection forbids,
 * are declined and the program receives the SIGSEGV it would have got.
 * With AddressSanitizer, run with ASAN_OPTIONS=handle_segv=0.
 */
#ifndef PAGEMU_H
#define PAGEMU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PAGEMU_BUILD)
#define PAGEMU_API __attribute__((visibility("default")))
#else
#define PAGEMU_API
#endif

#define PAGEMU_VERSION "0.1.0"

typedef struct pagemu pagemu_t;             /* one emulated machine: frames, swap, regions */

/* ---- Replacement policies ---------------------------------------------- */

typedef enum pagemu_policy {
	PAGEMU_POLICY_CLOCK = 0,            /* second chance (default) */
	PAGEMU_POLICY_FIFO,                 /* first in, first out */
	PAGEMU_POLICY_LRU,                  /* least recently used (see README for the engine's approximation) */
	PAGEMU_POLICY_RANDOM,               /* uniform, seeded */
	PAGEMU_POLICY_OPT,                  /* Belady's optimal: offline, over a recorded trace only */
	PAGEMU_POLICY_COUNT
} pagemu_policy_t;

/* "clock", "fifo", "lru", "random", "opt"; NULL for an unknown value. */
PAGEMU_API const char *pagemu_policy_name(pagemu_policy_t p);
/* 0 and *out set, or -EINVAL for a name that is not a policy. */
PAGEMU_API int pagemu_policy_parse(const char *name, pagemu_policy_t *out);

/* ---- TLB replacement ----------------------------------------------------- */
/* Which way of a TLB set a fill replaces when every way is valid (an empty
 * way is always filled first, the lowest). One policy per level.
 * In the engine's exact-TLB mode the real MMU reports misses only: FIFO
 * and random depend on misses alone and are exact at no cost; LRU and
 * PLRU change on hits too, so for them the engine keeps only the most
 * recently used way of each L1 set mapped and takes a fault
 * (tlb_hit_faults) when the program touches another way: the hit is
 * counted as the hit it is and reorders the set (README, "Exact-TLB
 * mode"). L2 is reached only on L1 misses, which the engine sees all of:
 * every L2 policy is exact at no cost. */
typedef enum pagemu_tlb_policy {
	PAGEMU_TLB_LRU = 0,                 /* least recently used (default) */
	PAGEMU_TLB_FIFO,                    /* oldest fill first; hits change nothing */
	PAGEMU_TLB_RANDOM,                  /* uniform over the ways, seeded (cfg seed) */
	PAGEMU_TLB_PLRU,                    /* tree pseudo-LRU (one bit per tree node, at most 64 ways) */
	PAGEMU_TLB_POLICY_COUNT
} pagemu_tlb_policy_t;

/* "lru", "fifo", "random", "plru"; NULL for an unknown value. */
PAGEMU_API const char *pagemu_tlb_policy_name(pagemu_tlb_policy_t p);
/* 0 and *out set, or -EINVAL for a name that is not a TLB policy. */
PAGEMU_API int pagemu_tlb_policy_parse(const char *name, pagemu_tlb_policy_t *out);

/* ---- Configuration ------------------------------------------------------ */

typedef struct pagemu_config {
	size_t   frames;           /* physical frames in the pool; default 16384 (64 MiB of 4 KiB); PAGEMU_FRAMES */
	size_t   page_size;        /* emulated page, bytes: host page x 2^k; default host page; PAGEMU_PAGE_SIZE */
	uint64_t swap_size;        /* swap file capacity, bytes; default 4 GiB (sparse); PAGEMU_SWAP_SIZE */
	char     swap_dir[256];    /* directory of the unlinked swap file; default $TMPDIR or /tmp; PAGEMU_SWAP_DIR */
	char     swap[1024];       /* "" = a local file in swap_dir; nbd://HOST[:PORT][/EXPORT] (nbds://...[?tls-psk-file=F|tls-certificates=D]: over TLS), a comma-separated list stripes the slots over the servers; PAGEMU_SWAP */
	unsigned swap_timeout_ms;  /* a swap server's connect and handshake, and each request: older than this, the server has failed; ms; default 5000; PAGEMU_SWAP_TIMEOUT */
	unsigned swap_replicas;    /* copies of each swap slot on different NBD servers (1 to the servers in swap); default 1; PAGEMU_SWAP_REPLICAS */
	unsigned swap_delay_us;    /* NBD reads: latency injected by pagemu's client (a read completes no sooner than this after it was queued), us; default 0; PAGEMU_SWAP_DELAY_US */
	int      swap_direct;      /* 1 = O_DIRECT swap I/O (honest device timing); default 0; PAGEMU_SWAP_DIRECT */
	int      swap_checksum;    /* 1 = crc32c per swap slot, checked on swap-in (mismatch: SIGBUS); default 1; PAGEMU_SWAP_CHECKSUM */
	int      file_direct;      /* 1 = O_DIRECT reads and writes of mapped files (no kernel page cache between); default 0; PAGEMU_FILE_DIRECT */
	pagemu_policy_t policy;    /* replacement policy; default CLOCK; PAGEMU_POLICY */
	unsigned readahead;        /* max pages per swap-in cluster (1 = none); default 32, adaptive; PAGEMU_READAHEAD */
	unsigned reclaim_batch;    /* victims chosen per reclaim, written back as one batch; default 32; PAGEMU_RECLAIM_BATCH */
	size_t   map_budget;       /* max kernel mappings (VMAs) to use; 0 = derive from vm.max_map_count; PAGEMU_MAP_BUDGET */
	uint64_t seed;             /* seed of the random policy; default 1; PAGEMU_SEED */
	int      tlb_exact;        /* 1 = only modeled-TLB translations are mapped (issue: modeled MMU); PAGEMU_TLB_EXACT */
	unsigned tlb_sets[2];      /* L1, L2 TLB sets; default 16, 128 (0 = no L2); PAGEMU_TLB=SxW[,SxW] */
	unsigned tlb_ways[2];      /* L1, L2 TLB ways; default 4, 12 */
	pagemu_tlb_policy_t tlb_policy[2]; /* L1, L2 TLB replacement; default LRU, LRU; PAGEMU_TLB_POLICY=P[,P] */
	char     trace_path[256];  /* write the event trace here; "" = off; PAGEMU_TRACE */
	int      verbose;          /* 1 = one line on stderr at open and at close; PAGEMU_VERBOSE */
	int      tlb_asid;         /* 1 = TLB entries carry their address space's ASID and survive switches; default 0 (a switch flushes the TLB); PAGEMU_TLB_ASID */
	int      load_control;     /* 1 = suspend the space with the largest working set while the working sets exceed the pool; default 0; PAGEMU_LOAD_CONTROL */
	unsigned fault_around;     /* a fault on a file page also maps up to this many pages in all that follow it in the page cache, in one mmap; default 1 (off: every touch is seen); PAGEMU_FAULT_AROUND */
	unsigned ws_tau;           /* working-set window, in quanta of a space's own run time (switches into it); default 1; PAGEMU_WS_TAU */
} pagemu_config_t;

PAGEMU_API void pagemu_config_default(pagemu_config_t *cfg);
/* Apply every PAGEMU_* variable that is set (README, "Configuration":
 * each with its limits). Numbers are decimal or 0x hex, a decimal one with
 * an optional K, M, G or T suffix; flags are 0 or 1; nothing else, and a
 * value out of its limits is an error, never cut. Returns 0, or -EINVAL
 * (-ENAMETOOLONG for a path) naming the variable and its value as written
 * in pagemu_last_error(); a field is set only when its value is good. */
PAGEMU_API int pagemu_config_from_env(pagemu_config_t *cfg);
/* The fields against the same limits: 0, or -EINVAL (or the errno that
 * explains it, e.g. -ENOTDIR for swap_dir) naming the field. */
PAGEMU_API int pagemu_config_validate(const pagemu_config_t *cfg);

/* ---- Instances and regions ---------------------------------------------- */

PAGEMU_API int  pagemu_open(const pagemu_config_t *cfg, pagemu_t **out);
/* Unmaps every region, removes the swap file, frees the pool. */
PAGEMU_API void pagemu_close(pagemu_t *vm);

/* Like mmap(2), addr-less (the kernel chooses the address); len is rounded
 * up to the emulated page size; MAP_NORESERVE is accepted and ignored.
 *   MAP_PRIVATE | MAP_ANONYMOUS, fd -1, off 0: demand-zero memory, paged
 *     to swap.
 *   MAP_SHARED | MAP_ANONYMOUS: shared memory, backed by a file of its own
 *     in swap_dir; every mapping of it in the instance sees every write.
 *   MAP_SHARED, file fd at off (a multiple of the emulated page size): the
 *     file's pages, read on first touch into frames of the pool, one frame
 *     per file page for all of the instance's mappings of the file (a page
 *     cache); writes reach the file when the page is evicted, on
 *     pagemu_sync, on unmap and at close. A clean page is dropped on
 *     eviction and read again.
 *   MAP_PRIVATE, file fd: reads come from the file; the first write to a
 *     page copies it into a frame of its own (a copy-on-write fault,
 *     faults_cow), which never reaches the file and is paged to swap.
 * pagemu keeps its own descriptor of the file: fd may be closed at once.
 * A touch past the end of the file gets SIGBUS, as with the kernel.
 * Returns the region or NULL with errno: EINVAL (flags, offset, len 0),
 * EACCES (fd not open for reading, or MAP_SHARED with PROT_WRITE on a
 * descriptor not open read-write), ENODEV (not a regular file), EBADF,
 * ENFILE (1024 objects mapped already), ENOMEM; pagemu_last_error() says
 * which argument. */
PAGEMU_API void *pagemu_map(pagemu_t *vm, size_t len, int prot, int flags, int fd, off_t off);
/* Whole or partial; frees the frames and swap slots of the range. A shared
 * file mapping's dirty pages are written to the file first; the file's
 * pages leave the pool when its last mapping goes. */
PAGEMU_API int pagemu_unmap(pagemu_t *vm, void *addr, size_t len);
/* Like madvise(2): MADV_DONTNEED (and MADV_FREE) drop the range's pages
 * from their mappings (anonymous private memory reads as zeros again;
 * a file's pages come back from the file or the page cache); the other
 * advice of madvise(2) is accepted and changes nothing. 0, -EINVAL, or
 * -ENOMEM when no region is there. */
PAGEMU_API int pagemu_advise(pagemu_t *vm, void *addr, size_t len, int advice);
/* Like mremap(2) over one whole region (from pagemu_map): shrinking keeps
 * the address; growing needs MREMAP_MAYMOVE and moves the region (a file
 * mapping maps the same pages, anonymous memory is copied: the pages it
 * has, resident or in swap, not its length). NULL with
 * errno EINVAL (flags: MREMAP_FIXED is not supported), EFAULT (not one
 * whole region), ENOMEM. */
PAGEMU_API void *pagemu_remap(pagemu_t *vm, void *old, size_t old_len, size_t new_len, int flags);
/* Like msync(2) over whole pages of vm's regions: MS_ASYNC starts writing
 * the range's dirty file pages to their files, MS_SYNC also waits for
 * them and fdatasyncs the files; MS_INVALIDATE then drops the range's
 * clean file pages from the pool, so that the next touch reads the file
 * again (a change made with write(2) becomes visible). 0, -EINVAL (addr
 * not page aligned, or flags), -ENOMEM (no region there), or the -errno
 * of a failed write (those pages stay dirty). */
PAGEMU_API int pagemu_sync(pagemu_t *vm, void *addr, size_t len, int flags);
/* Like mprotect(2) over whole pages of vm's regions (PROT_NONE, or any of
 * PROT_READ, PROT_WRITE, PROT_EXEC): the protection holds across eviction
 * and swap-in. -ENOMEM when part of the range is not vm's. */
PAGEMU_API int pagemu_protect(pagemu_t *vm, void *addr, size_t len, int prot);
/* Make [addr, addr+len) resident and mapped, and keep it so until unpinned
 * (for handing emulated memory to system calls). Nests. */
PAGEMU_API int pagemu_pin(pagemu_t *vm, const void *addr, size_t len);
PAGEMU_API int pagemu_unpin(pagemu_t *vm, const void *addr, size_t len);
/* The instance owning addr, or NULL. */
PAGEMU_API pagemu_t *pagemu_owner(const void *addr);
/* The emulated page size of vm, in bytes. */
PAGEMU_API size_t pagemu_page_size(const pagemu_t *vm);
/* Bytes of emulated memory vm can hold at once: its frames plus its swap
 * slots. The malloc family refuses a block larger than this (NULL, ENOMEM),
 * as the kernel refuses an allocation larger than memory plus swap. */
PAGEMU_API uint64_t pagemu_capacity(const pagemu_t *vm);

/* ---- Address spaces (emulated processes) ---------------------------------- *
 *
 * Several page tables over one frame pool, as several processes share one
 * physical memory. An instance opens with one space, its initial one,
 * current; pagemu_map, unmap, protect, advise, remap, sync and pin act on
 * the current space. pagemu_space_switch is the CR3 write: the old space's
 * pages lose their real mappings (one system call per region), the new
 * space's come back through faults, and every space's frames stay
 * resident until the replacement policy evicts them. Without ASIDs a
 * switch flushes the modeled TLB (tlb_flushes); with tlb_asid its entries
 * carry the space's ASID and survive.
 *
 * One space runs at a time (a uniprocessor): while a switch, fork, reset
 * or free runs, no other thread may touch the instance's emulated memory
 * (threads of the current space otherwise fault as always). Spaces are
 * not threads: a thread touching a region of a space that is not current
 * gets the SIGSEGV a process gets touching memory it has not mapped. */
typedef struct pagemu_space pagemu_space_t;

/* A new, empty space (its ASID is its number, 1 up; the initial one is 0):
 * 0, -EINVAL, or -ENOSPC (256 spaces live already). */
PAGEMU_API int  pagemu_space_new(pagemu_t *vm, pagemu_space_t **out);
/* Free sp and everything it maps (frames and swap slots no other space
 * shares). 0, -EBUSY (sp is current: switch away first), -EINVAL (freed
 * already, or NULL). */
PAGEMU_API int  pagemu_space_free(pagemu_space_t *sp);
/* Make sp current. 0, -EINVAL (sp freed, or not vm's), -EBUSY (the
 * current space has pinned pages), -EAGAIN (load control suspended sp:
 * run another; pagemu_space_stats says when it is resumed). */
PAGEMU_API int  pagemu_space_switch(pagemu_t *vm, pagemu_space_t *sp);
PAGEMU_API pagemu_space_t *pagemu_space_current(pagemu_t *vm);
/* The instance and the number (ASID) of sp. */
PAGEMU_API pagemu_t *pagemu_space_vm(const pagemu_space_t *sp);
PAGEMU_API unsigned  pagemu_space_id(const pagemu_space_t *sp);
/* pagemu_map into sp, current or not. addr NULL: the kernel chooses a
 * free address, as pagemu_map. addr given (page aligned): exactly there;
 * the range may be mapped by other spaces (that is the point: several
 * spaces at the same addresses), not by sp itself (EEXIST), nor by
 * anything not the instance's (EEXIST). NULL with errno as pagemu_map. */
PAGEMU_API void *pagemu_space_map(pagemu_space_t *sp, void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* fork: a new space, *child, with sp's regions at the same addresses;
 * every private page is shared by both, write-protected, until the first
 * write on either side copies it (faults_cow; the last sharer's write
 * takes the frame without a copy: cow_reuses); pages in swap are shared
 * by slot; shared mappings stay shared. 0, -EINVAL, -ENOSPC (no space
 * left), -EBUSY (a page of sp is being read in: a fault in flight),
 * -ENOMEM. */
PAGEMU_API int  pagemu_space_fork(pagemu_space_t *sp, pagemu_space_t **child);
/* execve: sp loses its private mappings (anonymous and private file
 * ones); its shared mappings stay. 0 or -EINVAL. */
PAGEMU_API int  pagemu_space_reset(pagemu_space_t *sp);
/* Local replacement: sp may hold at most `frames` frames of its own
 * (anonymous pages); at that many, its faults evict its own pages.
 * 0 = global replacement (the default). 0 or -EINVAL. */
PAGEMU_API int  pagemu_space_set_quota(pagemu_space_t *sp, uint64_t frames);

typedef struct pagemu_space_stats {
	unsigned id;               /* its ASID */
	int      current;          /* 1 = the current space */
	int      suspended;        /* 1 = load control suspended it */
	uint64_t quota;            /* frames (0 = global replacement) */
	uint64_t quanta;           /* times it was switched in: its virtual time */
	uint64_t regions;          /* regions it maps */
	uint64_t resident;         /* frames holding its anonymous pages (a page shared after a fork counts for one space) */
	uint64_t working_set;      /* distinct pages it touched in its last completed window of ws_tau quanta */
	uint64_t faults, faults_zero, faults_minor, faults_write, faults_major, faults_cow;
	uint64_t evictions;        /* its pages evicted */
} pagemu_space_stats_t;
PAGEMU_API int  pagemu_space_stats(pagemu_space_t *sp, pagemu_space_stats_t *out);

/* ---- Statistics ---------------------------------------------------------- */

/* One list generates the struct, the JSON writer and the printer.
 * X(name, kind, description) with kind COUNT (monotonic) or GAUGE. */
#define PAGEMU_STATS_LIST(X)                                                   \
	X(faults,         COUNT, "faults handled (all kinds)")                   \
	X(faults_zero,    COUNT, "demand-zero faults: first touch of a page")    \
	X(faults_minor,   COUNT, "minor faults: resident page mapped again")     \
	X(faults_write,   COUNT, "write-protection faults: first write to a clean page") \
	X(faults_major,   COUNT, "major faults: page read from swap")           \
	X(faults_declined,COUNT, "faults declined (real SIGSEGV delivered)")     \
	X(faults_cow,     COUNT, "copy-on-write faults: the first write to a page shared after a fork, or to a private mapping's view of a file page") \
	X(cow_reuses,     COUNT, "copy-on-write faults of the page's last sharer: the frame made writable, no copy") \
	X(space_switches, COUNT, "address-space switches (the CR3 write)")     \
	X(tlb_flushes,    COUNT, "modeled TLB flushes on a switch (ASIDs off)") \
	X(space_forks,    COUNT, "address spaces forked")                      \
	X(load_suspends,  COUNT, "spaces suspended by load control (working sets over the pool)") \
	X(load_resumes,   COUNT, "spaces resumed by load control")              \
	X(page_cache_hits,COUNT, "faults on a file page another mapping held in a frame already (no read)") \
	X(file_reads,     COUNT, "file read requests of mapped files (a cluster counts once)") \
	X(file_read_pages,COUNT, "pages read from mapped files, readahead included") \
	X(file_writes,    COUNT, "write requests of dirty shared file pages to their files") \
	X(file_write_pages,COUNT, "dirty shared file pages written to their files") \
	X(fault_around_pages,COUNT, "file pages mapped by fault-around without a fault of their own (PAGEMU_FAULT_AROUND)") \
	X(evictions,      COUNT, "pages evicted from their frames")              \
	X(writebacks,     COUNT, "dirty pages written to swap (pre-cleaned ahead of the hand, or at eviction)") \
	X(clean_evictions,COUNT, "evictions that needed no write then (pre-cleaned, or read back unmodified)") \
	X(swap_reads,     COUNT, "swap read requests (a cluster counts once)")   \
	X(swap_read_pages,COUNT, "pages read from swap, readahead included")     \
	X(swap_writes,    COUNT, "swap write requests")                          \
	X(swap_released,  COUNT, "freed swap slots whose disk blocks went back to the file system (hole punched)") \
	X(swap_checksum_errors, COUNT, "pages read from swap with a wrong checksum (SIGBUS, or a readahead page dropped)") \
	X(remote_reads,   COUNT, "NBD read requests answered (swap on NBD; a striped request counts once per server)") \
	X(remote_read_bytes, COUNT, "bytes read from NBD servers")              \
	X(remote_writes,  COUNT, "NBD write requests answered")                 \
	X(remote_write_bytes, COUNT, "bytes written to NBD servers")            \
	X(remote_errors,  COUNT, "NBD requests failed (server error or lost connection)") \
	X(remote_read_ns, COUNT, "nanoseconds NBD read requests took, from queued to completed, summed (the latency the client sees, an injected delay included)") \
	X(remote_retries, COUNT, "NBD reads retried on another replica after their server failed (PAGEMU_SWAP_REPLICAS)") \
	X(remote_failovers, COUNT, "NBD servers failed over: marked dead, their slots read from and copied to the other replicas") \
	X(remote_repairs, COUNT, "swap slots copied to a new replica after a server failed (re-replication)") \
	X(readahead_pages,COUNT, "pages brought in by readahead")                \
	X(readahead_hits, COUNT, "readahead pages touched before eviction")      \
	X(ref_clears,     COUNT, "reference bits cleared by the CLOCK hand")     \
	X(budget_unmaps,  COUNT, "resident pages unmapped to stay in the mapping budget") \
	X(reclaim_waits,  COUNT, "faults that waited for a write-back to finish") \
	X(tlb_misses_l1,  COUNT, "modeled L1 TLB misses (exact-TLB mode; each is a real fault)") \
	X(tlb_hits_l2,    COUNT, "L1 misses that hit the L2 TLB (exact-TLB mode)") \
	X(tlb_misses_l2,  COUNT, "L1 misses that missed L2 too: page walks (exact-TLB mode)") \
	X(tlb_hit_faults, COUNT, "real faults that were L1 TLB hits, seen to keep LRU/PLRU exact (exact-TLB mode; not in faults)") \
	X(page_walks,     COUNT, "modeled page-table walks")                     \
	X(walk_levels,    COUNT, "page-table levels read by the walks")          \
	X(handler_ns,     COUNT, "nanoseconds spent in the fault handler")       \
	X(resident,       GAUGE, "pages resident in frames")                     \
	X(mapped,         GAUGE, "pages mapped in the real MMU")                 \
	X(frames_free,    GAUGE, "frames on the free list")                      \
	X(swap_used,      GAUGE, "swap slots in use")                            \
	X(file_pages,     GAUGE, "frames holding pages of mapped files (the page cache)") \
	X(shared_frames,  GAUGE, "frames mapped by more than one PTE (a file page mapped twice, a page shared after a fork)") \
	X(spaces,         GAUGE, "address spaces live")                         \
	X(reserved,       GAUGE, "untouched pages with a frame reserved (sequential first touch)") \
	X(parked,         GAUGE, "resident pages kept mapped PROT_NONE until their next touch") \
	X(vmas,           GAUGE, "kernel mappings (VMAs) the regions use now")    \
	X(map_budget,     GAUGE, "max kernel mappings pagemu may use (from vm.max_map_count)")

/* Swap on NBD: each server's counters (the same X-macro scheme). */
#define PAGEMU_MAX_SERVERS 8
#define PAGEMU_SERVER_STATS_LIST(X)                                            \
	X(reads,       "read requests answered")                                 \
	X(read_bytes,  "bytes read")                                             \
	X(writes,      "write requests answered")                                \
	X(write_bytes, "bytes written")                                          \
	X(errors,      "requests failed")                                        \
	X(up,          "1 while the connection works")                           \
	X(tls,         "1 when the connection is encrypted (nbds://)")

typedef struct pagemu_server_stats {
	char server[256];          /* its URI */
#define PAGEMU_X_FIELD(name, desc) uint64_t name;
	PAGEMU_SERVER_STATS_LIST(PAGEMU_X_FIELD)
#undef PAGEMU_X_FIELD
} pagemu_server_stats_t;

typedef struct pagemu_stats {
#define PAGEMU_X_FIELD(name, kind, desc) uint64_t name;
	PAGEMU_STATS_LIST(PAGEMU_X_FIELD)
#undef PAGEMU_X_FIELD
	unsigned nservers;                           /* swap servers (0: a local swap file) */
	pagemu_server_stats_t servers[PAGEMU_MAX_SERVERS];
} pagemu_stats_t;

PAGEMU_API void pagemu_get_stats(pagemu_t *vm, pagemu_stats_t *out);
/* One JSON object, one line. Returns 0 or -EIO. */
PAGEMU_API int  pagemu_stats_json(pagemu_t *vm, FILE *f);
/* A readable table, one counter a line. */
PAGEMU_API int  pagemu_stats_print(pagemu_t *vm, FILE *f);
PAGEMU_API int  pagemu_stats_write_json(const pagemu_stats_t *s, FILE *f);
PAGEMU_API int  pagemu_stats_write_text(const pagemu_stats_t *s, FILE *f);

/* ---- Translation (the textbook's steps) ---------------------------------- */

#define PAGEMU_MAX_LEVELS 8

typedef struct pagemu_xlate {
	uint64_t va;               /* the virtual address translated */
	uint64_t vpn, vpo;         /* virtual page number and offset */
	uint64_t tlbi, tlbt;       /* L1 TLB index (set) and tag */
	int      tlb_hit;          /* 1 = L1 TLB hit; 2 = L2 hit; 0 = miss */
	int      levels;           /* page-table levels walked (0 on a TLB hit) */
	uint64_t level_index[PAGEMU_MAX_LEVELS]; /* index read at each level, root first */
	int      page_fault;       /* 1 = the PTE is not valid: the access faults */
	int      prot_fault;       /* 1 = valid but the access is not allowed */
	uint64_t ppn;              /* physical page number (valid unless page_fault) */
	uint64_t pa;               /* physical address */
	uint64_t co, ci, ct;       /* cache offset, index, tag (when a cache is modeled) */
	int      cache_hit;        /* 1 = the physical cache holds the line */
	uint8_t  byte;             /* the byte returned on a cache hit */
	int      dirty, accessed;  /* PTE bits after the access */
	int      swapped;          /* engine: the page is in swap */
	uint64_t swap_slot;        /* engine: its slot, when swapped */
} pagemu_xlate_t;

/* Translate va on a live instance without touching it: walks the page table
 * (and the modeled TLB in exact mode, without changing it). access is
 * PROT_READ, PROT_WRITE or PROT_EXEC. Returns 0, or -EFAULT when va is in no
 * region. */
PAGEMU_API int pagemu_translate(pagemu_t *vm, uintptr_t va, int access, pagemu_xlate_t *out);

/* ---- The standalone model (pure, any geometry) ---------------------------- */

typedef struct pagemu_model pagemu_model_t;

typedef struct pagemu_model_config {
	unsigned va_bits;          /* virtual address bits; default 48 */
	unsigned pa_bits;          /* physical address bits; default 52 */
	unsigned page_bits;        /* log2 page size; default 12 */
	unsigned pt_levels;        /* page-table levels; default 4 */
	unsigned pt_bits[PAGEMU_MAX_LEVELS]; /* index bits per level, root first; 0 = derived evenly */
	unsigned tlb_sets, tlb_ways;         /* L1 TLB; default 16 x 4 (0 sets = no TLB) */
	unsigned tlb2_sets, tlb2_ways;       /* L2 TLB; default 128 x 12 (0 = none) */
	unsigned cache_sets, cache_ways, cache_line; /* physical cache; cache_line 0 = none (default) */
	pagemu_policy_t policy;    /* replacement policy; default CLOCK */
	uint64_t frames;           /* frames for demand paging in the model; 0 = no paging, faults are reported */
	uint64_t seed;             /* random policy seed (page and TLB); default 1 */
	pagemu_tlb_policy_t tlb_policy, tlb2_policy; /* L1, L2 TLB replacement; default LRU */
	int      tlb_exact;        /* 1 = the replacement policy hears of a reference only when a TLB
				      miss walks to the PTE (the hardware sets Accessed there, as in
				      the engine's exact-TLB mode); 0 = of every reference (default) */
} pagemu_model_config_t;

/* The model answers "what would the MMU and the OS do" for any geometry,
 * with no real memory: pagemu_model_translate fills every textbook step of
 * one access (VPN/VPO, TLBI/TLBT, TLB hit, the walk's level indexes, PPN,
 * PA, CO/CI/CT, cache hit, byte). With cfg.frames = 0 the page table holds
 * only what pagemu_model_map put there and a missing PTE is reported as a
 * page fault; with cfg.frames > 0 the model also demand-pages: a fault takes
 * a frame (frames fill in order 0, 1, ...; then the policy picks a victim,
 * whose TLB entries and cache lines are invalidated) and the access
 * completes. OPT is offline and is not accepted here (see pagemu-sim).
 * pagemu_model_new names the bad field in pagemu_last_error(). */
PAGEMU_API void pagemu_model_config_default(pagemu_model_config_t *cfg);
PAGEMU_API int  pagemu_model_new(const pagemu_model_config_t *cfg, pagemu_model_t **out);
PAGEMU_API void pagemu_model_free(pagemu_model_t *m);
/* Set the PTE of vpn (prot 0: not valid), for the textbook's tables (no
 * paging mode only: -EINVAL there). The OS changed a translation, so the
 * model shoots down any TLB entry for vpn, in both levels -- including
 * one loaded with pagemu_model_tlb_load before this PTE existed: a TLB
 * never caches an invalid PTE, so an entry loaded first is taken for a
 * stale one. Load the page table first and the TLB second to get the
 * textbook's hits; the other order gives a miss and a walk where the
 * book shows a hit (tests/test_model.c, csapp_load_order). */
PAGEMU_API int  pagemu_model_map(pagemu_model_t *m, uint64_t vpn, uint64_t ppn, int prot);
/* Put a valid entry in L1 TLB set `set`, way `way` (a fill for the
 * replacement policy). A later pagemu_model_map of the same page drops
 * it (see above). 0, or -EINVAL without a TLB or for a set, way or PPN
 * out of range. */
PAGEMU_API int  pagemu_model_tlb_load(pagemu_model_t *m, unsigned set, unsigned way, uint64_t tag, uint64_t ppn);
PAGEMU_API int  pagemu_model_cache_load(pagemu_model_t *m, unsigned set, unsigned way, uint64_t tag, const uint8_t *line);
PAGEMU_API int  pagemu_model_translate(pagemu_model_t *m, uint64_t va, int access, pagemu_xlate_t *out);

/* One reference of a stream (the simulator's hot path): the same steps as
 * pagemu_model_translate, counted in the statistics, without the report.
 * access is PROT_READ, PROT_WRITE or PROT_EXEC (1, 2, 4). Returns 0, 1 when
 * the reference page-faulted (served when cfg.frames > 0), or -EINVAL for a
 * va beyond va_bits. */
PAGEMU_API int  pagemu_model_access(pagemu_model_t *m, uint64_t va, int access);
/* n references of a stream, va[i] with access[i]: the same counts as n
 * pagemu_model_access calls, in one call (the simulator's replay loop).
 * Returns 0, or the first reference's error (-EINVAL, -ENOMEM) with the
 * references before it done; *done (may be NULL) receives how many were. */
PAGEMU_API int  pagemu_model_replay(pagemu_model_t *m, const uint64_t *va, const uint8_t *access, size_t n,
				    size_t *done);

/* Counters of a model, from one list as for the engine.
 * X(name, kind, description), kind COUNT or GAUGE. */
#define PAGEMU_MODEL_STATS_LIST(X)                                             \
	X(refs,          COUNT, "references (translate and access calls)")      \
	X(writes,        COUNT, "write references")                              \
	X(faults,        COUNT, "page faults (PTE not valid)")                   \
	X(faults_zero,   COUNT, "faults on pages never touched (demand-zero)")   \
	X(faults_major,  COUNT, "faults on pages evicted before (swap-in)")      \
	X(prot_faults,   COUNT, "valid pages accessed against their protection") \
	X(evictions,     COUNT, "pages evicted from their frames")               \
	X(writebacks,    COUNT, "evicted pages that were dirty")                 \
	X(tlb_hits_l1,   COUNT, "L1 TLB hits")                                   \
	X(tlb_hits_l2,   COUNT, "L2 TLB hits (L1 misses)")                       \
	X(tlb_misses,    COUNT, "references that missed every TLB level")        \
	X(page_walks,    COUNT, "page-table walks")                              \
	X(walk_levels,   COUNT, "page-table levels read by the walks")           \
	X(cache_hits,    COUNT, "physical cache hits")                           \
	X(cache_misses,  COUNT, "physical cache misses")                         \
	X(resident,      GAUGE, "pages in frames (paging mode)")

typedef struct pagemu_model_stats {
#define PAGEMU_X_FIELD(name, kind, desc) uint64_t name;
	PAGEMU_MODEL_STATS_LIST(PAGEMU_X_FIELD)
#undef PAGEMU_X_FIELD
} pagemu_model_stats_t;

PAGEMU_API void pagemu_model_get_stats(const pagemu_model_t *m, pagemu_model_stats_t *out);
/* Zero the COUNT counters (gauges keep their value). */
PAGEMU_API void pagemu_model_reset_stats(pagemu_model_t *m);
/* The counters as JSON members ("refs":1,"writes":0,...) without braces, so
 * a caller can embed them; and as a readable table. 0 or -EIO. */
PAGEMU_API int  pagemu_model_stats_write_json(const pagemu_model_stats_t *s, FILE *f);
PAGEMU_API int  pagemu_model_stats_write_text(const pagemu_model_stats_t *s, FILE *f);

/* ---- Dynamic allocation over emulated memory ------------------------------ */

PAGEMU_API void  *pagemu_malloc(pagemu_t *vm, size_t n);
PAGEMU_API void   pagemu_free(pagemu_t *vm, void *p);
PAGEMU_API void  *pagemu_calloc(pagemu_t *vm, size_t nmemb, size_t size);
PAGEMU_API void  *pagemu_realloc(pagemu_t *vm, void *p, size_t n);
PAGEMU_API void  *pagemu_memalign(pagemu_t *vm, size_t align, size_t n);
/* The rest of the malloc family, as in C and POSIX. posix_memalign
 * returns 0 or EINVAL / ENOMEM (positive, as POSIX says) and does not
 * set errno. usable_size: bytes the block can hold (>= what was asked). */
PAGEMU_API int    pagemu_posix_memalign(pagemu_t *vm, void **out, size_t align, size_t n);
PAGEMU_API void  *pagemu_aligned_alloc(pagemu_t *vm, size_t align, size_t n);
PAGEMU_API size_t pagemu_malloc_usable_size(pagemu_t *vm, void *p);
/*
 * The allocator is CSAPP 9.9's: segregated free lists, boundary tags,
 * immediate coalescing, splitting, 16-byte alignment, and a break that
 * grows inside one large reserved region (the heap of an instance is made
 * on its first allocation); blocks of 128 KiB and more get a region of
 * their own. Thread-safe. Its own metadata lives in emulated memory, so it
 * faults like the program does. A user error -- freeing a pointer pagemu
 * did not return, a double free, a boundary tag overwritten by a heap
 * overflow -- prints a message on stderr and aborts.
 */
/* One list generates the struct, the JSON writer and the printer.
 * X(name, type, description), type uint64_t or double. */
#define PAGEMU_HEAP_STATS_LIST(X)                                              \
	X(heap_size,     uint64_t, "H: bytes the heap spans: the break heap + large regions") \
	X(heap_peak,     uint64_t, "max H so far (large regions come and go)")   \
	X(break_size,    uint64_t, "bytes below the break")                      \
	X(allocated,     uint64_t, "P: payload bytes the program holds (sizes it asked for)") \
	X(peak,          uint64_t, "max P so far")                               \
	X(blocks,        uint64_t, "live allocations")                           \
	X(large_blocks,  uint64_t, "of which in a region of their own")          \
	X(large_bytes,   uint64_t, "bytes of those regions")                     \
	X(free_blocks,   uint64_t, "blocks on the free lists")                   \
	X(free_bytes,    uint64_t, "bytes of those blocks")                      \
	X(largest_free,  uint64_t, "the largest free block, bytes")              \
	X(internal_frag, uint64_t, "bytes of allocated blocks that are not payload") \
	X(utilization,   double,   "peak utilization: peak / heap_peak")         \
	X(external_frag, double,   "1 - largest_free / free_bytes (0 = one free block)") \
	X(mallocs,       uint64_t, "allocations so far")                         \
	X(frees,         uint64_t, "frees so far")                               \
	X(grows,         uint64_t, "times the break moved")

typedef struct pagemu_heap_stats {
#define PAGEMU_X_FIELD(name, type, desc) type name;
	PAGEMU_HEAP_STATS_LIST(PAGEMU_X_FIELD)
#undef PAGEMU_X_FIELD
} pagemu_heap_stats_t;

/* 0 (all zero before the first allocation), or -EINVAL. */
PAGEMU_API int    pagemu_heap_stats(pagemu_t *vm, pagemu_heap_stats_t *out);
/* One JSON object, one line; a readable table. 0 or -EIO. */
PAGEMU_API int    pagemu_heap_stats_write_json(const pagemu_heap_stats_t *s, FILE *f);
PAGEMU_API int    pagemu_heap_stats_write_text(const pagemu_heap_stats_t *s, FILE *f);

/* ---- Errors ---------------------------------------------------------------- */

/* Text for a code returned by pagemu (negative errno). */
PAGEMU_API const char *pagemu_strerror(int err);
/* The detailed message of the last failed config/open/map on this thread
 * ("PAGEMU_FRAMES: must be at least 1"), or "" when there is none. */
PAGEMU_API const char *pagemu_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* PAGEMU_H */
