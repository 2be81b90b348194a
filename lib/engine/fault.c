/* fault.c - a fault, top to bottom.
 *
 *   pm_fault_entry          libsigsegv's handler: which region? lock, handle, unlock
 *   pm_fault_handle         walk the page table and decide:
 *     mapped, write to RO     do_wp_page         set Dirty, map read-write
 *     present, not mapped     do_minor_page      map the frame again
 *     being read by another   (wait)             pm_fault_entry waits, then looks again
 *     in swap                 do_swap_page       take frames, lock the PTEs, let go of
 *                                                vm->lock while the cluster is read
 *                                                and the page mapped, take it again
 *     never touched           do_anonymous_page  take a frame, zero it, map
 *   install                 (exact-TLB mode: the access missed L1; look up L2,
 *                           walk and fill, unmap the page L1 pushed out), then
 *                           map the frame in the real MMU
 *     in L1, hidden way       do_tlb_hit         exact-TLB mode, L1 LRU/PLRU: a TLB
 *                                                hit, not a page fault; reorder the set
 *   then the instruction restarts.
 *
 * Each step takes the one fault state, struct pm_fault (engine.h), as
 * Linux's take struct vm_fault.
 *
 * libsigsegv does not say whether the access was a read or a write; on
 * x86-64 signal.c reads it from the signal context (the page-fault error
 * code). Clean pages are mapped read-only so that their first write faults
 * and sets Dirty; a write that faults on a page not mapped at all maps it
 * read-write and dirty at once. Where the access is unknown, a fault on a
 * page mapped read-only is taken for a write. Demand-zero pages are dirty
 * from birth and are mapped read-write at once.
 *
 * Everything here runs in signal context: no malloc, no stdio, no lock but
 * vm->lock (and swapio's completion queue); errno is preserved. vm->lock
 * is held throughout but across a swap read: do_swap_page locks the PTEs
 * of its cluster (pte_locked), lets go of vm->lock, submits and waits for
 * the read, maps the touched page, and takes vm->lock again, so that
 * faults on other pages, and other reads, proceed meanwhile. A fault on a locked page returns
 * PM_FAULT_RETRY: its caller waits (pm_wait_busy) and serves it again. */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>

#include "engine/engine.h"

/* The last address this thread's fault was retried at, and the MMU
 * generation then (see do_wp_page). */
static __thread uintptr_t retried_va __attribute__((tls_model("initial-exec")));
static __thread uint64_t retried_gen __attribute__((tls_model("initial-exec")));

/* The region's protection for a page, as the real MMU should map it. */
static int map_prot(const pm_region_t *r, int writable)
{
	int prot = r->prot & (PROT_READ | PROT_EXEC);

	if (writable && (r->prot & PROT_WRITE))
		prot |= PROT_WRITE;
	return prot;
}

/* The page could not be served: say why, and make the access raise SIGBUS
 * as the kernel does when it cannot page in. */
static enum pm_fault_outcome fail_sigbus(struct pm_fault *f, int err, const char *what)
{
	struct pagemu *vm = f->vm;
	char msg[500], *p = msg, *end = msg + sizeof(msg);

	p = pm_fmt_str(p, end, "pagemu: cannot serve the fault at 0x");
	p = pm_fmt_hex(p, end, f->va);
	p = pm_fmt_str(p, end, ": ");
	p = pm_fmt_str(p, end, what);
	p = pm_fmt_str(p, end, " (");
	p = pm_fmt_str(p, end, pm_reclaim_cause(err));
	if (err != -ENOSPC && err != -EFBIG && err != -ENOMEM && err != -EBADMSG) {
		p = pm_fmt_str(p, end, "; errno ");
		p = pm_fmt_u64(p, end, (uint64_t)-err);
	}
	p = pm_fmt_str(p, end, ")\n");
	pm_prim_say(msg);
	pm_prim_map_sigbus((void *)(f->va & ~(uintptr_t)(vm->page - 1)), vm->page);
	return PM_FAULT_SIGBUS;
}

/* No frame could be had. When other faults at work outside the lock hold
 * frames (taken, not yet holding their pages, so no policy may evict
 * them), one will be free to evict soon: wait and try again. Otherwise
 * SIGBUS. */
static enum pm_fault_outcome no_frame(struct pm_fault *f, int err)
{
	if (err == -ENOMEM && pm_inflight(f->vm))
		return PM_FAULT_RETRY;
	return fail_sigbus(f, err, "no free frame");
}

/* Exact-TLB mode: take vpn's translation out of the real MMU (park it),
 * as the modeled L1 no longer holds it or no longer holds it as its set's
 * most recently used way. A pinned page stays mapped: the kernel is about
 * to use it. */
static void tlb_park(struct pagemu *vm, uint64_t vpn)
{
	pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn, NULL);

	if (p && pte_mapped(*p) && !vm->frames.f[pte_ppn(*p)].pins)
		pm_park_pte(vm, vpn, p);
}

/* Exact-TLB mode with an L1 policy that changes on hits (LRU, PLRU): the
 * real MMU reports no hits, so only the most recently used way of each L1
 * set stays mapped, and a touch of any other way faults (do_tlb_hit).
 * vpn just became the MRU way of its set: park the others. */
static void tlb_hide_set(struct pagemu *vm, uint64_t vpn)
{
	for (unsigned w = 0; w < vm->tlb.lv[0].ways; w++) {
		uint64_t other = pm_tlb_l1_way_vpn(&vm->tlb, vpn, w);
		if (other != PM_NONE && other != vpn)
			tlb_park(vm, other);
	}
}

/* Exact-TLB mode: the access missed the L1 TLB (only L1 entries are mapped
 * in the real MMU). An L2 hit is promoted; a miss walks the page table,
 * which sets Accessed (the policy hears of the reference then, as CLOCK's
 * reference bit is the PTE's A bit), and fills both levels. The page L1
 * pushes out loses its real mapping. */
static void tlb_refill(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	uint64_t ppn, out = PM_NONE;
	unsigned levels;

	PM_COUNT(vm, tlb_misses_l1);
	if (vm->trace_fd >= 0)
		pm_tracefile_event(vm, PM_TRACE_TLB_MISS, pm_vpn_va(vm, vpn), pte_ppn(*pte), PM_NONE, 0);
	if (pm_tlb_lookup(&vm->tlb, vpn, &ppn, &out) == PM_TLB_HIT_L2) {
		PM_COUNT(vm, tlb_hits_l2);
	} else {
		PM_COUNT(vm, tlb_misses_l2);
		PM_COUNT(vm, page_walks);
		pm_pt_lookup(&vm->pt, vpn, &levels);
		vm->stats.walk_levels += levels;
		*pte = pte_mkyoung(*pte);
		vm->policy->referenced(vm->policy_state, pte_ppn(*pte));
		out = pm_tlb_fill(&vm->tlb, vpn, pte_ppn(*pte));
	}
	if (out != PM_NONE && out != vpn)
		tlb_park(vm, out);
	if (vm->tlb_mru_only)
		tlb_hide_set(vm, vpn);
}

/* Make the resident page vpn reachable: the TLB model (exact mode), then
 * the real MMU. 0 or -errno. */
static int install(struct pm_fault *f, int prot)
{
	if (f->vm->cfg.tlb_exact)
		tlb_refill(f->vm, f->vpn, f->pte);
	return pm_map_pte(f->vm, f->vpn, f->pte, prot);
}

/* Exact-TLB mode: the modeled L1 holds the page but the real MMU does not
 * (a hidden way, tlb_hide_set): a TLB hit, not a page fault. The hit
 * reorders the set; the hardware sets no Accessed bit on a hit, so the
 * replacement policy hears nothing. A write sets Dirty, as the hardware
 * does through the TLB entry. */
static enum pm_fault_outcome do_tlb_hit(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	pm_pte_t *pte = f->pte;
	uint64_t ppn;

	pm_tlb_lookup(&vm->tlb, f->vpn, &ppn, NULL);
	if (f->access == PM_ACCESS_WRITE && (f->region->prot & PROT_WRITE))
		*pte = pte_mkdirty(*pte);
	if (vm->tlb_mru_only)
		tlb_hide_set(vm, f->vpn);
	if (pm_map_pte(vm, f->vpn, pte, map_prot(f->region, pte_dirty(*pte))) < 0)
		return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
	return PM_FAULT_TLB_HIT;
}

/* A write to a page mapped read-only. */
static enum pm_fault_outcome do_wp_page(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	pm_region_t *r = f->region;
	pm_pte_t *pte = f->pte;

	if (pte_write(*pte) || f->access == PM_ACCESS_READ || f->access == PM_ACCESS_EXEC)
		return PM_FAULT_SPURIOUS;     /* another thread mapped it meanwhile */
	if (!(r->prot & PROT_WRITE) && f->access == PM_ACCESS_WRITE)
		return PM_FAULT_DECLINE;
	if (!(r->prot & PROT_WRITE)) {
		/* A write the region forbids, or a read that raced with another
		 * thread mapping the page. Retry: a read then succeeds. If the
		 * same access faults again and nothing in the real MMU changed
		 * meanwhile, it can only be a write: decline. */
		if (retried_va == f->va && retried_gen == vm->map_gen) {
			retried_va = 0;
			return PM_FAULT_DECLINE;
		}
		retried_va = f->va;
		retried_gen = vm->map_gen;
		return PM_FAULT_SPURIOUS;
	}
	*pte = pte_mkyoung(pte_mkdirty(*pte));
	if (pm_protect_pte(vm, f->vpn, pte, map_prot(r, 1)) < 0)
		pm_shootdown(vm, f->vpn, pte);   /* the next touch maps it afresh */
	return PM_FAULT_WRITE;
}

/* Resident but not mapped: the reference bit was cleared, the page came in
 * by readahead, or it was unmapped to stay within the mapping budget. */
static enum pm_fault_outcome do_minor_page(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	pm_pte_t *pte = f->pte;
	uint64_t ppn = pte_ppn(*pte);

	if (pte_readahead(*pte)) {
		*pte = pte_clear_readahead(*pte);
		PM_COUNT(vm, readahead_hits);
	}
	if (f->access == PM_ACCESS_WRITE && (f->region->prot & PROT_WRITE))
		*pte = pte_mkdirty(*pte);
	if (!vm->cfg.tlb_exact) {        /* exact mode: the walk sets Accessed (tlb_refill) */
		*pte = pte_mkyoung(*pte);
		vm->policy->referenced(vm->policy_state, ppn);
	}
	if (install(f, map_prot(f->region, pte_dirty(*pte))) < 0)
		return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
	return PM_FAULT_MINOR;
}

#define WINDOW 64                        /* pages per reservation window */

/* A first touch right after the previous page's: reserve the free frames
 * that follow ppn for the pages that follow vpn, with one PROT_NONE mmap,
 * so that their first touches map with an mprotect (as FreeBSD reserves
 * frames for superpages). Only while the mapping budget has ample room.
 * A reserved frame stays free: if it goes to another page first, the
 * reservation is void and the first touch maps afresh. */
static void reserve_window(struct pagemu *vm, pm_region_t *r, uint64_t vpn, uint64_t ppn)
{
	uint64_t last = pm_va_vpn(vm, r->end - 1), k = 0;
	int sequential = vpn == vm->zero_last_vpn + 1;

	vm->zero_last_vpn = vpn;
	if (!sequential || !pm_budget_room(vm, 2))
		return;
	while (k < WINDOW && vpn + 1 + k <= last && ppn + 1 + k < vm->nframes &&
	       vm->frames.f[ppn + 1 + k].state == PM_FRAME_FREE) {
		pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn + 1 + k, NULL);
		if (p && !pte_none(*p))
			break;
		k++;
	}
	if (k >= 2)
		pm_reserve_frames(vm, vpn + 1, ppn + 1, k);
}

/* A frame for a first touch: the reserved one when it is the frame the
 * free list gives next anyway (a sequential run on free frames). Taken out
 * of turn, it would put pages in other frames than a run without
 * reservations (and the model) does, and which frame holds which page
 * decides CLOCK's hand order and the random policy's victims. */
static uint64_t zero_frame(struct pagemu *vm, pm_pte_t *pte, int *err)
{
	if (pte_window(*pte) && pm_frames_next(&vm->frames) == pte_ppn(*pte) && !pm_reclaim_at_quota(vm) &&
	    pm_reclaim_claim(vm, pte_ppn(*pte)) == 0)
		return pte_ppn(*pte);
	return pm_reclaim_frame(vm, err);
}

/* Map the frame of a first touch at f->va with prot outside vm->lock (an
 * mprotect of its window when keep_k), so that first touches on other
 * threads go on meanwhile. The PTE stays locked (L alone, or the
 * window's K with L): a fault on the page waits, and so does whoever
 * would change the page or put its table away (pm_inflight). The frame is
 * nobody's yet (not owned, not loaded into the policy): no one evicts or
 * unmaps it. Returns with vm->lock held and the PTE as it was: 1 when the
 * mapping was made. f->region is looked up again (a protection change
 * may have split it meanwhile). */
static int map_unlocked(struct pm_fault *f, uint64_t ppn, int keep_k, int prot)
{
	struct pagemu *vm = f->vm;
	pm_pte_t *pte = f->pte, was = *pte;
	void *va = (void *)pm_vpn_va(vm, f->vpn);
	int ok;

	*pte = pte_mklocked(was);
	vm->maps_inflight++;
	pm_lock_drop(vm);
	ok = (keep_k ? pm_prim_protect(va, vm->page, prot)
		     : pm_prim_map_frame(va, vm->page, prot, vm->pool_fd, ppn * vm->page)) == 0;
	pm_lock_retake(vm);
	vm->maps_inflight--;
	*pte = was;
	pm_busy_done(vm);
	f->region = pm_region_find(vm, f->va);
	PM_ASSERT(f->region);
	return ok;
}

/* First touch: a zero-filled frame. */
static enum pm_fault_outcome do_anonymous_page(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	pm_pte_t *pte = f->pte = pm_pt_ensure(&vm->pt, f->vpn);
	uint64_t vpn = f->vpn, ppn, hwm = vm->frames_hwm;
	int err = -ENOMEM, prot, premapped = 0;

	if (!pte)
		return fail_sigbus(f, -ENOMEM, "page-table memory exhausted");
	ppn = zero_frame(vm, pte, &err);
	if (ppn == PM_NONE)
		return no_frame(f, err);
	/* Fill before mapping: no thread can see the frame's old contents.
	 * A frame never handed out before holds the zeros the kernel gave
	 * the pool (a write through the physmap would only cost its first
	 * touch). */
	if (ppn < hwm)
		__builtin_memset(pm_frame_addr(vm, ppn), 0, vm->page);
	/* K stays set when ppn is the reserved frame: pm_map_pte then maps it
	 * with an mprotect. A reservation whose frame went elsewhere is void:
	 * the mmap replaces its PROT_NONE mapping. */
	int keep_k = pte_window(*pte) && pte_ppn(*pte) == ppn;
	if (pte_window(*pte) && !keep_k)
		pm_mmu_window_void(vm, vpn, pte);
	/* Exact-TLB mode maps what the TLB model says, under the lock. */
	prot = map_prot(f->region, 1);
	if (!vm->cfg.tlb_exact)
		premapped = map_unlocked(f, ppn, keep_k, prot);
	if (keep_k) {
		PM_DEC(vm->reserved);
		vm->parked++;     /* present and mapped PROT_NONE: parked, until mapped */
	}
	*pte = pte_mkdirty(pte_mkyoung(pte_mk_present(ppn)));
	if (keep_k)
		*pte = pte_mkkept(*pte);
	pm_frame_own(vm, ppn, vpn, pte);
	vm->policy->loaded(vm->policy_state, ppn, 1);
	vm->stats.resident++;
	int now = map_prot(f->region, 1);  /* (changed meanwhile: mapped again) */
	err = premapped && now == prot ? pm_map_pte_premapped(vm, vpn, pte, prot) : install(f, now);
	if (err < 0)
		return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
	if (!vm->cfg.tlb_exact)
		reserve_window(vm, f->region, vpn, ppn);
	return PM_FAULT_ZERO;
}

/* How many pages from vpn form a readahead cluster: the following pages
 * of the region that sit in the following slots, up to the window. */
static unsigned cluster_len(struct pagemu *vm, pm_region_t *r, uint64_t vpn, uint64_t slot)
{
	uint64_t last = pm_va_vpn(vm, r->end - 1);
	unsigned n = 1;

	while (n < vm->ra_window && vpn + n <= last) {
		pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn + n, NULL);
		if (!p || !pte_swapped(*p) || pte_locked(*p) || pte_slot(*p) != slot + n)
			break;
		n++;
	}
	return n;
}

/* Grow the window while readahead pays (hits, or sequential faults),
 * shrink it while it does not. */
static void readahead_adapt(struct pagemu *vm, uint64_t vpn)
{
	int pays = vm->stats.readahead_hits > vm->ra_hits_seen || vpn == vm->ra_last_vpn + 1;

	if (pays)
		vm->ra_window = vm->ra_window * 2 > vm->cfg.readahead ? vm->cfg.readahead : vm->ra_window * 2;
	else if (vm->ra_window > 1)
		vm->ra_window /= 2;
	vm->ra_hits_seen = vm->stats.readahead_hits;
	vm->ra_last_vpn = vpn;
}

/* Pages of a cluster may still hold stale mappings of frames they left
 * (every such page is in the stale queue): unmap them first, so that the
 * mapping count stays exact. */
static void drop_stale(struct pagemu *vm, uint64_t vpn, unsigned n)
{
	for (unsigned i = 0; i < n && vm->nstale; i++) {
		pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn + i, NULL);
		if (pte_stale(*p)) {
			pm_mmu_flush_stale(vm);
			return;
		}
	}
}

/* Checksums on: every page of the cluster just read must hold what was
 * written to its slot. A readahead page that does not is dropped from the
 * cluster (its frame freed, ppns[i] = PM_NONE; its PTE stays in swap, so
 * a touch faults again and gets the SIGBUS then). Pages from `first` on.
 * 0, or -EBADMSG when the touched page does not match. */
static int cluster_verify(struct pagemu *vm, uint64_t slot, uint64_t *ppns, unsigned got, unsigned first)
{
	if (!vm->swapmap.sums)
		return 0;
	for (unsigned i = got; i-- > first;) {
		if (pm_crc32c(0, pm_frame_addr(vm, ppns[i]), vm->page) == pm_swapmap_sum(&vm->swapmap, slot + i))
			continue;
		PM_COUNT(vm, swap_checksum_errors);
		if (i == 0)
			return -EBADMSG;
		pm_frames_push(&vm->frames, ppns[i]);
		ppns[i] = PM_NONE;
	}
	return 0;
}

/* The touched page failed its checksum: free the cluster's frames, say
 * which slot and which page, SIGBUS. */
static enum pm_fault_outcome checksum_sigbus(struct pm_fault *f, uint64_t slot, const uint64_t *ppns, unsigned got)
{
	struct pagemu *vm = f->vm;
	char what[160], *p = what, *end = what + sizeof(what);

	for (unsigned i = 0; i < got; i++)
		if (ppns[i] != PM_NONE)
			pm_frames_push(&vm->frames, ppns[i]);
	p = pm_fmt_str(p, end, "swap slot ");
	p = pm_fmt_u64(p, end, slot);
	p = pm_fmt_str(p, end, " of the page at 0x");
	p = pm_fmt_hex(p, end, pm_vpn_va(vm, f->vpn));
	p = pm_fmt_str(p, end, " failed its crc32c");
	return fail_sigbus(f, -EBADMSG, what);
}

/* The pages of a cluster just read: present, clean, keeping their slots
 * (evicting them unmodified costs no write); the first is the one touched,
 * the others wait for their first touch as readahead. A page dropped by
 * cluster_verify (PM_NONE) stays in swap. */
static void cluster_present(struct pagemu *vm, uint64_t vpn, uint64_t slot, const uint64_t *ppns, unsigned got)
{
	int consecutive = got > 2;

	for (unsigned i = 1; i < got && consecutive; i++)
		consecutive = ppns[i] != PM_NONE && (i == 1 || ppns[i] == ppns[i - 1] + 1);
	for (unsigned i = 0; i < got; i++) {
		if (ppns[i] == PM_NONE)
			continue;
		pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn + i, NULL);
		pm_frame_t *f = &vm->frames.f[ppns[i]];
		pm_frame_own(vm, ppns[i], vpn + i, p);
		f->slot = slot + i;
		*p = pte_mk_present(ppns[i]) | (*p & PM_PTE_T);   /* (touched in its space's window: it stays so) */
		*p = i ? pte_mkreadahead(*p) : pte_mkyoung(*p);
		vm->policy->loaded(vm->policy_state, ppns[i], i == 0);
		vm->stats.resident++;
	}
	/* The readahead pages sit in consecutive frames (taken in the hand's
	 * order) more often than not: park them with one mmap, so that each
	 * first touch costs an mprotect rather than an mmap. */
	if (consecutive && pm_budget_room(vm, 2))
		pm_reserve_frames(vm, vpn + 1, ppns[1], got - 1);
}

/* The cluster's PTEs from vpn: locked while the read runs (lock = 1), or
 * unlocked again. */
static void cluster_lock(struct pagemu *vm, uint64_t vpn, unsigned n, int lock)
{
	for (unsigned i = 0; i < n; i++) {
		pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn + i, NULL);
		*p = lock ? pte_mklocked(*p) : pte_clear_locked(*p);
	}
}

/* Read the cluster into its frames without holding vm->lock: its PTEs
 * are locked, so no one else may touch them (a fault on one waits, an
 * unmap waits), and its frames belong to no page yet, so no one may take
 * them. When the read is good (and, checksums on, the touched page
 * matches its slot's), the touched page is mapped with prot before
 * vm->lock is taken again, unless prot is -1 (*premapped = 1): the
 * mapping's system call runs in parallel with other faults, not under
 * the lock. Returns with vm->lock held, the PTEs unlocked: 0, -EBUSY
 * (every read request in flight: nothing was read), or -errno. */
static int read_unlocked(struct pagemu *vm, uint64_t vpn, uint64_t slot, const uint64_t *ppns, unsigned n,
			 int prot, int *premapped)
{
	int id = pm_swapio_read_start(vm, slot, ppns, n), err;

	*premapped = 0;
	if (id < 0)
		return id;
	cluster_lock(vm, vpn, n, 1);
	pm_lock_drop(vm);
	pm_swapio_read_wait(vm, id);
	if (prot >= 0 && pm_swapio_read_res(vm, id) == 0 &&
	    (!vm->swapmap.sums ||
	     pm_crc32c(0, pm_frame_addr(vm, ppns[0]), vm->page) == pm_swapmap_sum(&vm->swapmap, slot)))
		*premapped = pm_prim_map_frame((void *)pm_vpn_va(vm, vpn), vm->page, prot, vm->pool_fd,
					       ppns[0] * vm->page) == 0;
	pm_lock_retake(vm);
	err = pm_swapio_read_end(vm, id);
	cluster_lock(vm, vpn, n, 0);
	pm_busy_done(vm);
	return err;
}

/* The page is in swap: read it (and a cluster after it) into frames, and
 * check them against their slots' checksums. */
static enum pm_fault_outcome do_swap_page(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	pm_pte_t *pte = f->pte;
	uint64_t vpn = f->vpn, slot = pte_slot(*pte), ppns[PM_IO_MAX_RUN];
	int write = f->access == PM_ACCESS_WRITE && (f->region->prot & PROT_WRITE);
	int prot = map_prot(f->region, write), premapped;
	unsigned n, got;
	int err = 0;

	readahead_adapt(vm, vpn);
	n = cluster_len(vm, f->region, vpn, slot);
	drop_stale(vm, vpn, n);
	/* Frames first (this may evict, but never a page that is in swap). */
	for (got = 0; got < n; got++) {
		vm->quota_pending = got;         /* (a space at its quota counts them: local replacement) */
		ppns[got] = pm_reclaim_frame(vm, &err);
		if (ppns[got] == PM_NONE)
			break;
	}
	vm->quota_pending = 0;
	if (got == 0)
		return no_frame(f, err);
	/* Exact-TLB mode maps what the TLB model says, under the lock. */
	err = read_unlocked(vm, vpn, slot, ppns, got, vm->cfg.tlb_exact ? -1 : prot, &premapped);
	if (err < 0) {
		for (unsigned i = 0; i < got; i++)
			pm_frames_push(&vm->frames, ppns[i]);
		if (err == -EBUSY)
			return PM_FAULT_RETRY;
		return fail_sigbus(f, err, "swap read failed");
	}
	/* The region may have changed meanwhile (a protection change splits
	 * it; an unmap waits for the locked pages). */
	f->region = pm_region_find(vm, f->va);
	PM_ASSERT(f->region);
	PM_COUNT(vm, swap_reads);
	vm->stats.swap_read_pages += got;
	vm->stats.readahead_pages += got - 1;
	/* A premapped page was checked before it was mapped (other threads
	 * may have written to it since). */
	if (cluster_verify(vm, slot, ppns, got, premapped ? 1 : 0) < 0)
		return checksum_sigbus(f, slot, ppns, got);
	cluster_present(vm, vpn, slot, ppns, got);
	/* A write maps read-write and dirty at once; a read keeps it clean. */
	if (f->access == PM_ACCESS_WRITE && (f->region->prot & PROT_WRITE))
		*pte = pte_mkdirty(*pte);
	if (premapped && map_prot(f->region, pte_dirty(*pte)) == prot)
		err = pm_map_pte_premapped(vm, vpn, pte, prot);
	else                             /* (the region's protection changed meanwhile) */
		err = install(f, map_prot(f->region, pte_dirty(*pte)));
	if (err < 0)
		return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
	return PM_FAULT_MAJOR;
}

/* ---- object pages: files and shared memory ------------------------------ */

/* The page is past the end of its file: SIGBUS, as the kernel raises. */
static enum pm_fault_outcome eof_sigbus(struct pm_fault *f)
{
	pm_prim_map_sigbus((void *)(f->va & ~(uintptr_t)(f->vm->page - 1)), f->vm->page);
	return PM_FAULT_SIGBUS;
}

/* The PTE of vpn takes the object frame ppn: a shared mapping's view, or
 * a private one's (copy-on-write: the first write copies). */
static void file_pte(struct pagemu *vm, const pm_region_t *r, pm_pte_t *pte, uint64_t ppn)
{
	*pte = pte_mkyoung(pte_mk_present(ppn));
	if (!r->shared)
		*pte = pte_mkcow(*pte);
	vm->frames.f[ppn].mapcount++;
}

/* A write to a page mapped copy-on-write (C): a private mapping's view
 * of an object page, or an anonymous page a fork shared. Copy the page
 * into a frame of its own, anonymous memory from now on (evicted to
 * swap), and map that read-write; the source stays for its other
 * mappings. The last sharer of a forked page takes the frame itself, no
 * copy (Linux's reuse). */
static enum pm_fault_outcome do_cow_page(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	pm_pte_t *pte = f->pte;
	uint64_t src = pte_ppn(*pte), ppn;
	pm_frame_t *s = &vm->frames.f[src];
	int err = -ENOMEM;

	if (!s->obj && !s->shares) {
		*pte = pte_mkdirty(pte_mkyoung(pte_clear_cow(*pte)));
		PM_COUNT(vm, faults_cow);
		PM_COUNT(vm, cow_reuses);
		vm->spaces[vm->cur].st.faults_cow++;
		if (pte_mapped(*pte) && pm_protect_pte(vm, f->vpn, pte, map_prot(f->region, 1)) == 0)
			return PM_FAULT_WRITE;
		pm_shootdown(vm, f->vpn, pte);
		if (install(f, map_prot(f->region, 1)) < 0)
			return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
		return PM_FAULT_WRITE;
	}
	s->pins++;                       /* taking a frame must not evict the source */
	ppn = pm_reclaim_frame(vm, &err);
	s->pins--;
	if (ppn == PM_NONE)
		return no_frame(f, err);
	__builtin_memcpy(pm_frame_addr(vm, ppn), pm_frame_addr(vm, src), vm->page);
	pm_shootdown(vm, f->vpn, pte);          /* (mapped or parked: the view goes) */
	if (s->obj)
		PM_DEC(s->mapcount);
	else
		pm_frame_unshare(vm, src, pte);
	*pte = pte_mkdirty(pte_mkyoung(pte_mk_present(ppn)));
	pm_frame_own(vm, ppn, f->vpn, pte);
	vm->policy->loaded(vm->policy_state, ppn, 1);
	vm->stats.resident++;
	PM_COUNT(vm, faults_cow);
	vm->spaces[vm->cur].st.faults_cow++;
	if (install(f, map_prot(f->region, 1)) < 0)
		return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
	return PM_FAULT_WRITE;
}

/* PAGEMU_FAULT_AROUND (Linux's fault-around): after a fault on a file
 * page, the pages that follow it in the region, up to fault_around in
 * all, are mapped too when they sit in the page cache in the frames that
 * follow (a window read ahead leaves them so), with one mmap, read-only
 * (a write still faults, to mark the page dirty). They count as
 * referenced: their touches are not seen. A window's marker page is
 * left for its own fault, which starts the next window. The faulting page
 * (vpn, in ppn, its PTE made) is mapped in the same mmap when with_self
 * (it is to be mapped read-only too). 0 when the faulting page was mapped
 * so, -1 when it is still to be mapped. */
static int fault_around(struct pagemu *vm, const pm_region_t *r, uint64_t vpn, uint64_t ppn, int with_self)
{
	uint64_t last = pm_va_vpn(vm, r->end - 1), pages = pm_object_pages(vm, r->obj), n = 0;
	pm_pte_t *ptes[PM_FAULT_AROUND_MAX + 1];

	while (n + 1 < vm->cfg.fault_around && vpn + n + 1 <= last) {
		uint64_t v = vpn + n + 1, p = ppn + n + 1, index = pm_region_index(vm, r, v);
		pm_pte_t *pte;
		if (index >= pages || !pm_pcache_holds(vm, p, r->obj, index) ||
		    vm->frames.f[p].busy || pm_readahead_marker(vm, p) || !(pte = pm_pt_ensure(&vm->pt, v)) ||
		    !(pte_none(*pte) || pte_window(*pte)))
			break;
		ptes[++n] = pte;
	}
	if (!n)
		return -1;
	for (uint64_t i = 1; i <= n; i++) {
		pm_pte_t *pte = ptes[i];
		if (pte_window(*pte))
			pm_mmu_window_void(vm, vpn + i, pte);   /* (the mmap replaces it) */
		file_pte(vm, r, pte, ppn + i);
		pm_readahead_hit(vm, ppn + i);           /* (read ahead, now in use) */
		vm->policy->referenced(vm->policy_state, ppn + i);
	}
	if (pm_map_run(vm, vpn + !with_self, ppn + !with_self, n + !!with_self, map_prot(r, 0)) < 0) {
		for (uint64_t i = 1; i <= n; i++) {       /* (no mapping: their touches fault as usual) */
			PM_DEC(vm->frames.f[ppn + i].mapcount);
			*ptes[i] = 0;
		}
		return -1;
	}
	vm->stats.fault_around_pages += n;
	return with_self ? 0 : -1;
}

/* First touch of a page of a file (or of shared memory) through this
 * mapping: the frame another mapping holds already (a page cache hit), or
 * the page read from the file (a major fault, with readahead). A write
 * through a private mapping then copies it at once. */
static enum pm_fault_outcome do_file_page(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	uint32_t obj = f->region->obj;
	uint64_t index = pm_region_index(vm, f->region, f->vpn), ppns[PM_IO_MAX_RUN], ppn;
	pm_pte_t *pte = f->pte = pm_pt_ensure(&vm->pt, f->vpn);
	enum pm_fault_outcome out = PM_FAULT_MINOR;
	int err = -ENOMEM;

	if (!pte)
		return fail_sigbus(f, -ENOMEM, "page-table memory exhausted");
	if (pte_window(*pte))
		pm_mmu_window_void(vm, f->vpn, pte);   /* (the mapping made below replaces it) */
	ppn = pm_pcache_lookup(vm, obj, index);
	if (ppn != PM_NONE && vm->frames.f[ppn].busy) {
		pm_readahead_wait(vm, ppn);      /* a window read ahead: finish it */
		return PM_FAULT_RETRY;           /* (or another fault reads it in) */
	}
	if (ppn != PM_NONE) {
		PM_COUNT(vm, page_cache_hits);
		vm->policy->referenced(vm->policy_state, ppn);
		vm->frames.f[ppn].pins++;        /* a window read ahead may evict, never this page */
		pm_readahead_hit(vm, ppn);
		vm->frames.f[ppn].pins--;
	} else {
		/* A read: the file's size now (a truncation drops the pages past
		 * its end), and SIGBUS past it, as the kernel does. */
		if (pm_reclaim_file_resized(vm, obj) < 0 || index >= pm_object_pages(vm, obj))
			return eof_sigbus(f);
		unsigned n = pm_readahead_cluster(vm, obj, index, ppns, &err);
		if (n == 0)
			return no_frame(f, err);
		int got = pm_readahead_read(vm, obj, index, ppns, n, pte);
		f->region = pm_region_find(vm, f->va);   /* (it may have changed meanwhile) */
		PM_ASSERT(f->region);
		if (got == -EBUSY)
			return PM_FAULT_RETRY;           /* every read request in flight */
		if (got < 0)
			return fail_sigbus(f, got, "file read failed");
		if (got == 0)
			return eof_sigbus(f);
		ppn = ppns[0];
		out = PM_FAULT_MAJOR;
	}
	file_pte(vm, f->region, pte, ppn);
	if (f->access == PM_ACCESS_WRITE && (f->region->prot & PROT_WRITE)) {
		if (!f->region->shared) {
			enum pm_fault_outcome cow = do_cow_page(f);
			return cow == PM_FAULT_WRITE ? out : cow;
		}
		*pte = pte_mkdirty(*pte);
	}
	int prot = map_prot(f->region, f->region->shared && pte_dirty(*pte));
	int around = vm->cfg.fault_around > 1 && !vm->cfg.tlb_exact;
	/* Read-only like the pages around it: one mmap for all of them. */
	if (around && prot == map_prot(f->region, 0) && fault_around(vm, f->region, f->vpn, ppn, 1) == 0)
		return out;
	if (install(f, prot) < 0)
		return fail_sigbus(f, -ENOMEM, "mmap of a frame failed");
	if (around && prot != map_prot(f->region, 0))
		fault_around(vm, f->region, f->vpn, ppn, 0);
	return out;
}

/* Walk the page table and decide (Linux's handle_pte_fault). */
static enum pm_fault_outcome handle_pte_fault(struct pm_fault *f)
{
	struct pagemu *vm = f->vm;
	unsigned levels;
	uint64_t ppn;

	if (!(f->region->prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		return PM_FAULT_DECLINE;
	/* Code run from memory not made executable (mprotect PROT_EXEC): the
	 * program's SIGSEGV, as natively; served, it would fault forever. */
	if (f->access == PM_ACCESS_EXEC && !(f->region->prot & PROT_EXEC))
		return PM_FAULT_DECLINE;
	if (vm->broken)
		return fail_sigbus(f, -EIO, "this process forked and its copy of emulated memory failed");
	pm_swapio_reap(vm, 0);                       /* finished writes first */
	pm_readahead_poll(vm);                       /* and windows read ahead */
	f->pte = pm_pt_lookup(&vm->pt, f->vpn, &levels);
	if (f->pte && pte_locked(*f->pte))
		return PM_FAULT_RETRY;                   /* another thread reads it in */
	if (!vm->cfg.tlb_exact) {        /* exact mode counts the walks of TLB misses */
		PM_COUNT(vm, page_walks);
		vm->stats.walk_levels += levels;
	}
	if (f->pte && pte_present(*f->pte) && pte_cow(*f->pte) && f->access != PM_ACCESS_READ &&
	    f->access != PM_ACCESS_EXEC && (f->region->prot & PROT_WRITE) && (f->access == PM_ACCESS_WRITE || pte_mapped(*f->pte)))
		return do_cow_page(f);
	if (f->pte && pte_mapped(*f->pte))
		return do_wp_page(f);
	if (vm->cfg.tlb_exact && f->pte && pte_present(*f->pte) && pm_tlb_probe(&vm->tlb, f->vpn, &ppn) == PM_TLB_HIT_L1)
		return do_tlb_hit(f);
	if (f->pte && pte_present(*f->pte))
		return do_minor_page(f);
	if (f->pte && pte_swapped(*f->pte))
		return do_swap_page(f);
	if (f->region->obj)
		return do_file_page(f);
	return do_anonymous_page(f);
}

enum pm_fault_outcome pm_fault_handle(struct pm_fault *f)
{
	f->vpn = pm_va_vpn(f->vm, f->va);
	f->outcome = handle_pte_fault(f);
	return f->outcome;
}

/* PAGEMU_TRACE: one record per handled fault. */
static void trace(struct pagemu *vm, uintptr_t va, enum pm_fault_outcome out, uint64_t ns)
{
	static const uint8_t kinds[] = {
		[PM_FAULT_ZERO] = PM_TRACE_ZERO, [PM_FAULT_MINOR] = PM_TRACE_MINOR,
		[PM_FAULT_WRITE] = PM_TRACE_WRITE, [PM_FAULT_MAJOR] = PM_TRACE_MAJOR,
	};
	pm_pte_t *pte;

	if (out != PM_FAULT_ZERO && out != PM_FAULT_MINOR && out != PM_FAULT_WRITE && out != PM_FAULT_MAJOR)
		return;
	pte = pm_pt_lookup(&vm->pt, pm_va_vpn(vm, va), NULL);
	pm_tracefile_event(vm, kinds[out], va, pte && pte_present(*pte) ? pte_ppn(*pte) : PM_NONE, PM_NONE, ns);
}

static void count(struct pagemu *vm, enum pm_fault_outcome out)
{
	pagemu_space_stats_t *st = &vm->spaces[vm->cur].st;

	switch (out) {
	case PM_FAULT_ZERO:    PM_COUNT(vm, faults_zero); st->faults_zero++; break;
	case PM_FAULT_MINOR:   PM_COUNT(vm, faults_minor); st->faults_minor++; break;
	case PM_FAULT_WRITE:   PM_COUNT(vm, faults_write); st->faults_write++; break;
	case PM_FAULT_MAJOR:   PM_COUNT(vm, faults_major); st->faults_major++; break;
	case PM_FAULT_DECLINE: PM_COUNT(vm, faults_declined); return;
	case PM_FAULT_TLB_HIT: PM_COUNT(vm, tlb_hit_faults); return;   /* no page fault */
	default: break;
	}
	PM_COUNT(vm, faults);
	st->faults++;
}

/* Not ours, or not allowed: restore the default action so that the
 * restarted access ends the program with the SIGSEGV it would have got.
 * (libsigsegv 2.14 returns from its handler when we decline, which would
 * retry the access forever.) When the program has a SIGSEGV handler of its
 * own, chained behind pagemu's, it runs instead: then libsigsegv is told
 * the fault was handled, since on a decline it resets SIGSEGV and SIGBUS
 * to SIG_DFL itself, through signal(): for real, pagemu's handler would
 * be gone after the program's returns (a checker's guard page hit, then
 * the next page fault kills the process); under the shim, signal() would
 * drop the program's handler instead. */
static int decline(void)
{
	/* prim's sigaction is glibc's own entry point: under the LD_PRELOAD
	 * shim, sigaction and signal are the shim's, which keep SIGSEGV
	 * handlers aside. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (pm_signal_declined())
		return 1;        /* the program's own handler gets it (signal.c) */
	pm_prim_sigaction(SIGSEGV, &dfl, NULL);
	pm_prim_sigaction(SIGBUS, &dfl, NULL);
	return 0;
}

/* libsigsegv's handler: nonzero = handled, the instruction restarts;
 * 0 = not ours, the program gets the SIGSEGV it would have got. */
int pm_fault_entry(void *fault_address, int serious)
{
	uintptr_t va = (uintptr_t)fault_address;
	pm_region_t *r = pm_region_dispatch(fault_address);
	enum pm_fault_outcome out = PM_FAULT_DECLINE;
	int saved_errno = errno;
	struct pagemu *vm;
	uint64_t t0;

	PM_UNUSED(serious);
	if (!r) {
		/* Raised in a region deleted before this handler looked (a fork
		 * handed a shared mapping to the kernel meanwhile, or another
		 * thread unmapped it): the instruction runs once more and meets
		 * what is there now. A second fault there is the program's. */
		static __thread uintptr_t retried __attribute__((tls_model("initial-exec")));
		if (pm_region_recently_gone(va) && retried != va) {
			retried = va;
			return 1;
		}
		retried = 0;
		return decline();
	}
	vm = r->vm;
	t0 = pm_prim_now_ns();
	pm_lock(vm);
	/* The region may have been unmapped or split since the dispatch. */
	if (!pm_region_here(vm, r) || va < r->start || va >= r->end)
		r = pm_region_find(vm, va);
	/* Gone meanwhile (another thread unmapped it, or a fork handed a
	 * shared mapping to the kernel while this fault waited for the lock):
	 * the instruction runs again and meets what is there now, a kernel
	 * mapping or none (then its fault finds no region: the program's
	 * SIGSEGV, as natively). */
	int vanished = !r;
	if (r)
		pm_reclaim_note_fault(pm_signal_fault_insn(), pm_va_vpn(vm, va));
	while (r) {
		struct pm_fault f = { .vm = vm, .region = r, .va = va,
				      .access = (enum pm_access)pm_signal_fault_access() };
		out = pm_fault_handle(&f);
		if (out != PM_FAULT_RETRY) {
			count(vm, out);
			/* The page is in its space's working set (the window's
			 * touches are counted at its end: space.c). */
			if (out != PM_FAULT_DECLINE && out != PM_FAULT_SIGBUS && f.pte && pte_present(*f.pte))
				*f.pte = pte_mktouched(*f.pte);
			break;
		}
		pm_wait_busy(vm);                /* the page is being read in: wait, look again */
		r = pm_region_find(vm, va);
		vanished = !r;
		out = PM_FAULT_DECLINE;
	}
	/* Debug builds: the invariant checkers after every fault, for the
	 * tests that ask (PAGEMU_CHECK=1 at open); a check walks every table,
	 * so over large pools after every 1024th fault. */
	if (PM_DEBUG && vm->check_faults && (vm->nframes <= 4096 || vm->stats.faults % 1024 == 0))
		PM_ASSERT(pm_mmu_check(vm) == 0);
	uint64_t ns = pm_prim_now_ns() - t0;
	vm->stats.handler_ns += ns;
	if (vm->trace_fd >= 0)
		trace(vm, va, out, ns);
	pm_unlock(vm);
	errno = saved_errno;
	return out != PM_FAULT_DECLINE || vanished ? 1 : decline();
}
