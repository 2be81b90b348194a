/* pte.h - the bits of a page-table entry, only ever touched through these.
 *
 * Glossary (CSAPP 9): VPN virtual page number, VPO offset in the page,
 * PPN physical page number (a frame of the pool), PTE page-table entry,
 * slot a page-sized place in the swap file.
 *
 * Layout of a 64-bit PTE (x86-64-like low bits, software bits above):
 *   bit 0  P  present: the page is in frame PPN
 *   bit 1  W  writable: the real MMU maps it read-write
 *   bit 2  U  user
 *   bit 3  L  locked: with S, the page is being read from swap; alone,
 *             the page is being read from its file; the reader alone may
 *             change the PTE, others wait (engine only)
 *   bit 4  T  touched in its space's current working-set window (engine
 *             only; kept across eviction, with P or S)
 *   bit 5  A  accessed (the reference bit the replacement policy reads)
 *   bit 6  D  dirty: the frame differs from the swap copy (or there is none)
 *   bit 7  M  mapped: the real MMU holds the translation (engine only)
 *   bit 8  S  swapped: not present, the page is in swap slot SLOT
 *   bit 9  C  copy-on-write: with P, a private mapping's view of a file
 *             page in the page cache; the first write copies it
 *   bit 10 R  readahead: brought in by readahead and not touched yet
 *   bit 11 K  kept: the real MMU still maps the VA to frame PFN, PROT_NONE.
 *             Without P: a reservation window (never touched; the first
 *             touch takes that frame with an mprotect instead of an mmap).
 *             With P: a parked page (its reference bit was cleared, or the
 *             TLB model evicted it): the next touch is an mprotect too.
 *             With S: a stale mapping of the frame the page left (queued
 *             for unmapping; a fault maps the page afresh over it).
 *   bits 12..62  PPN when P or K, SLOT when S
 * A PTE of 0 is a page never touched (demand-zero on first access).
 */
#ifndef PAGEMU_PTE_H
#define PAGEMU_PTE_H

#include <stdint.h>

typedef uint64_t pm_pte_t;

#define PM_PTE_P  (1ULL << 0)
#define PM_PTE_W  (1ULL << 1)
#define PM_PTE_U  (1ULL << 2)
#define PM_PTE_L  (1ULL << 3)
#define PM_PTE_T  (1ULL << 4)
#define PM_PTE_A  (1ULL << 5)
#define PM_PTE_D  (1ULL << 6)
#define PM_PTE_M  (1ULL << 7)
#define PM_PTE_S  (1ULL << 8)
#define PM_PTE_C  (1ULL << 9)
#define PM_PTE_R  (1ULL << 10)
#define PM_PTE_K  (1ULL << 11)
#define PM_PTE_SHIFT 12
#define PM_PTE_PFN_MASK (((1ULL << 51) - 1) << PM_PTE_SHIFT)

static inline int pte_none(pm_pte_t p)      { return p == 0; }
static inline int pte_present(pm_pte_t p)   { return (p & PM_PTE_P) != 0; }
static inline int pte_swapped(pm_pte_t p)   { return (p & PM_PTE_S) != 0; }
static inline int pte_mapped(pm_pte_t p)    { return (p & PM_PTE_M) != 0; }
static inline int pte_write(pm_pte_t p)     { return (p & PM_PTE_W) != 0; }
static inline int pte_young(pm_pte_t p)     { return (p & PM_PTE_A) != 0; }
static inline int pte_dirty(pm_pte_t p)     { return (p & PM_PTE_D) != 0; }
static inline int pte_readahead(pm_pte_t p) { return (p & PM_PTE_R) != 0; }
static inline int pte_cow(pm_pte_t p)       { return (p & PM_PTE_C) != 0; }
static inline int pte_touched(pm_pte_t p)   { return (p & PM_PTE_T) != 0; }
/* K has three meanings, by what it is set with (see the layout above). */
static inline int pte_locked(pm_pte_t p)    { return (p & PM_PTE_L) != 0; }
static inline int pte_kept(pm_pte_t p)      { return (p & PM_PTE_K) != 0; }
static inline int pte_window(pm_pte_t p)    { return (p & (PM_PTE_K | PM_PTE_P | PM_PTE_S)) == PM_PTE_K; }
static inline int pte_parked(pm_pte_t p)    { return (p & (PM_PTE_K | PM_PTE_P)) == (PM_PTE_K | PM_PTE_P); }
static inline int pte_stale(pm_pte_t p)     { return (p & (PM_PTE_K | PM_PTE_S)) == (PM_PTE_K | PM_PTE_S); }
static inline uint64_t pte_pfn(pm_pte_t p)  { return (p & PM_PTE_PFN_MASK) >> PM_PTE_SHIFT; }
static inline uint64_t pte_ppn(pm_pte_t p)  { return pte_pfn(p); }
static inline uint64_t pte_slot(pm_pte_t p) { return pte_pfn(p); }

/* A present page in frame ppn, user, not yet mapped. */
static inline pm_pte_t pte_mk_present(uint64_t ppn)
{
	return PM_PTE_P | PM_PTE_U | ((ppn << PM_PTE_SHIFT) & PM_PTE_PFN_MASK);
}
/* A page that lives in swap slot `slot`. */
static inline pm_pte_t pte_mk_swapped(uint64_t slot)
{
	return PM_PTE_S | PM_PTE_U | ((slot << PM_PTE_SHIFT) & PM_PTE_PFN_MASK);
}
static inline pm_pte_t pte_mkyoung(pm_pte_t p)    { return p | PM_PTE_A; }
static inline pm_pte_t pte_mkold(pm_pte_t p)      { return p & ~PM_PTE_A; }
static inline pm_pte_t pte_mkdirty(pm_pte_t p)    { return p | PM_PTE_D; }
static inline pm_pte_t pte_mkclean(pm_pte_t p)    { return p & ~PM_PTE_D; }
static inline pm_pte_t pte_mkwrite(pm_pte_t p)    { return p | PM_PTE_W; }
static inline pm_pte_t pte_wrprotect(pm_pte_t p)  { return p & ~PM_PTE_W; }
static inline pm_pte_t pte_mkmapped(pm_pte_t p)   { return p | PM_PTE_M; }
static inline pm_pte_t pte_mkunmapped(pm_pte_t p) { return p & ~(PM_PTE_M | PM_PTE_W); }
static inline pm_pte_t pte_mkreadahead(pm_pte_t p){ return p | PM_PTE_R; }
static inline pm_pte_t pte_clear_readahead(pm_pte_t p) { return p & ~PM_PTE_R; }
/* Never touched; the VA is premapped PROT_NONE to frame ppn (a
 * reservation window). */
static inline pm_pte_t pte_mk_window(uint64_t ppn)
{
	return PM_PTE_K | ((ppn << PM_PTE_SHIFT) & PM_PTE_PFN_MASK);
}
/* The real MMU keeps (or no longer keeps) a PROT_NONE mapping of the VA:
 * parked with P, stale with S. */
static inline pm_pte_t pte_mkkept(pm_pte_t p)     { return p | PM_PTE_K; }
static inline pm_pte_t pte_clear_kept(pm_pte_t p) { return p & ~PM_PTE_K; }
static inline pm_pte_t pte_mklocked(pm_pte_t p)   { return p | PM_PTE_L; }
static inline pm_pte_t pte_mkcow(pm_pte_t p)      { return p | PM_PTE_C; }
static inline pm_pte_t pte_clear_locked(pm_pte_t p) { return p & ~PM_PTE_L; }
static inline pm_pte_t pte_clear_cow(pm_pte_t p)  { return p & ~PM_PTE_C; }
static inline pm_pte_t pte_mktouched(pm_pte_t p)  { return p | PM_PTE_T; }
static inline pm_pte_t pte_untouched(pm_pte_t p)  { return p & ~PM_PTE_T; }

#endif
