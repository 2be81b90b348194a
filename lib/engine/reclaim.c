/* reclaim.c - taking a frame, eviction, pre-cleaning and the mapping budget.
 *
 * Eviction is exact: the victim is the one the policy names, at the moment
 * a frame is needed (no free-frame reserve that would evict pages the
 * policy would keep). Write-back is kept off the fault's critical path by
 * pre-cleaning instead: the dirty pages the policy will evict next (for
 * CLOCK: unreferenced frames ahead of the hand, already unmapped by the
 * hand) are written out in one batch of writev runs; when the hand reaches
 * them they are clean and their frame is reused at once. A page written
 * while its write is in flight is simply dirty again.
 *
 * Everything here: signal context; called with vm->lock held. The real
 * MMU's side (mmap, mprotect, the mapping budget) is mmu.c. */
#include <errno.h>
#include <sys/mman.h>

#include "engine/engine.h"

/* ---- the policy's view of the frames ---------------------------------- */

/* An instruction may touch several pages (an unaligned access across a
 * page boundary, a string move): all must be resident at once for it to
 * complete, or two pages evict each other forever on a small pool. While
 * one execution of an instruction faults again (the same instruction
 * pointer and registers: it has not retired), the pages it faulted on are
 * kept from eviction: the textbook's minimum number of frames. A loop's
 * next iteration is another execution (its registers differ), so a plain
 * reference string keeps the textbook's victims. */
#define INSN_PAGES 6                      /* pages one x86 instruction may need */
static __thread struct {
	uint64_t insn;                    /* the execution: a hash of ip and registers */
	uint64_t vpn[INSN_PAGES];         /* the pages it faulted on */
	unsigned n;
} current __attribute__((tls_model("initial-exec")));

void pm_reclaim_note_fault(uint64_t insn, uint64_t vpn)
{
	if (insn != current.insn || !insn) {
		current.insn = insn;
		current.n = 0;
	}
	for (unsigned i = 0; i < current.n; i++)
		if (current.vpn[i] == vpn)
			return;
	if (current.n < INSN_PAGES)
		current.vpn[current.n++] = vpn;
}

/* The page is one the faulting instruction needs now (not the page being
 * faulted on: that one is not resident). */
static int needed_now(uint64_t vpn)
{
	for (unsigned i = 0; i + 1 < current.n; i++)
		if (current.vpn[i] == vpn)
			return 1;
	return 0;
}

static void needed_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(vm);
	PM_UNUSED(pte);
	*(int *)arg |= needed_now(vpn);
}

static int env_evictable(void *ctx, uint64_t ppn)
{
	struct pagemu *vm = ctx;
	const pm_frame_t *f = &vm->frames.f[ppn];
	int needed = 0;

	if (f->state != PM_FRAME_USED || f->pins || f->busy)
		return 0;
	if (!f->obj)
		return !needed_now(f->vpn);
	pm_rmap_walk(vm, ppn, needed_visit, &needed);
	return !needed;
}

/* Is the page in frame ppn dirty? An object page is when any PTE that
 * maps it says so, or a dirty mapping of it went (fdirty). */
static void dirty_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(vm);
	PM_UNUSED(vpn);
	*(int *)arg |= pte_dirty(*pte);
}

static int frame_dirty(struct pagemu *vm, uint64_t ppn)
{
	const pm_frame_t *f = &vm->frames.f[ppn];
	int dirty = f->fdirty;

	if (!f->obj)
		return pte_dirty(*f->pte);
	if (!dirty)
		pm_rmap_walk(vm, ppn, dirty_visit, &dirty);
	return dirty;
}

/* The pages whose reference bits the hand cleared in one search, still
 * mapped: park them now, a run of consecutive pages with one mprotect
 * (the hand passes frames in order, and a sequential program's pages sit
 * in consecutive frames). Before the search's victim is evicted, and
 * before anything else runs: the program never sees the delay. */
#define PARK_RUN_MAX 512

static void park_flush(struct pagemu *vm)
{
	if (vm->park_n)
		pm_park_run(vm, vm->park_vpn, vm->park_n);
	vm->park_n = 0;
}

/* The hand cleared ppn's reference bit. Fast mode: unmap the page so that
 * its next touch faults and sets the bit again (the emulated A bit): it
 * joins the run to park. Exact-TLB mode: as on x86, clearing A does not
 * flush the TLB; A is set again only when a TLB miss walks to the PTE. */
static void ref_clear(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(arg);
	*pte = pte_mkold(*pte);
	if (vm->cfg.tlb_exact || !pte_mapped(*pte))
		return;
	if (vm->park_n && (vpn != vm->park_vpn + vm->park_n || vm->park_n == PARK_RUN_MAX))
		park_flush(vm);
	if (!vm->park_n)
		vm->park_vpn = vpn;
	vm->park_n++;
}

/* (An object page's reference bit is the OR of its mappings': every
 * mapping is parked, so that a touch through any of them is seen.) */
static void env_ref_cleared(void *ctx, uint64_t ppn)
{
	struct pagemu *vm = ctx;
	pm_frame_t *f = &vm->frames.f[ppn];

	PM_COUNT(vm, ref_clears);
	if (f->obj)
		pm_rmap_walk(vm, ppn, ref_clear, NULL);
	else
		ref_clear(vm, f->vpn, f->pte, NULL);
}

void pm_reclaim_env_init(struct pagemu *vm)
{
	vm->policy_env.ctx = vm;
	vm->policy_env.evictable = env_evictable;
	vm->policy_env.ref_cleared = env_ref_cleared;
}

/* ---- write-back -------------------------------------------------------- */

/* Start writing the dirty frames ppns[0..n) to swap, in runs of
 * consecutive slots. A dirty page gives up its old slot (its copy there is
 * stale) and takes a slot from the allocator: the one after the run's
 * last when it is free, so that a batch tends to be one run and one
 * writev, else the lowest free slot, so that freed slots are written
 * again first and the file stays compact. With checksums on, each page's
 * crc32c is taken once it is write-protected, before its write is
 * submitted. Returns frames whose write started, or -EFBIG when every
 * slot is in use before the first. */
static int writeback_start(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	uint64_t run[PM_IO_MAX_RUN], run_slot = 0;
	unsigned nrun = 0, started = 0;
	int rc = 0;

	for (unsigned i = 0; i <= n; i++) {
		pm_frame_t *f = i < n ? &vm->frames.f[ppns[i]] : NULL;
		if (f) {
			if (f->slot != PM_NONE)
				pm_swapmap_free(&vm->swapmap, f->slot);
			f->slot = pm_swapmap_alloc(&vm->swapmap, nrun ? run_slot + nrun : PM_NONE);
			if (f->slot == PM_NONE) {
				rc = -EFBIG;
				f = NULL;
			}
		}
		/* Close the current run when this frame does not extend it. */
		if (nrun && (!f || f->slot != run_slot + nrun || nrun == PM_IO_MAX_RUN)) {
			if (pm_swapio_write(vm, run_slot, run, nrun) == 0) {
				PM_COUNT(vm, swap_writes);
			} else {
				for (unsigned j = 0; j < nrun; j++)
					pm_reclaim_write_done(vm, run[j], -EIO);
			}
			nrun = 0;
		}
		if (!f)
			continue;
		/* Write-protect first, so that a write during the I/O faults and
		 * marks the page dirty again: the swap copy is then not trusted
		 * (nor its checksum, taken now over the bytes being written). */
		if (pte_write(*f->pte))
			pm_protect_pte(vm, f->vpn, f->pte, PROT_READ);
		*f->pte = pte_mkclean(*f->pte);
		f->io = 1;
		f->wrerr = 0;
		if (vm->swapmap.sums)
			pm_swapmap_set_sum(&vm->swapmap, f->slot, pm_crc32c(0, pm_frame_addr(vm, ppns[i]), vm->page));
		if (!nrun)
			run_slot = f->slot;
		run[nrun++] = ppns[i];
		started++;
		PM_COUNT(vm, writebacks);
	}
	return started ? (int)started : rc;
}

/* An object page is written to its file, whatever maps it: write-protect
 * every mapping first (a write meanwhile marks it dirty again). */
static void clean_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(arg);
	if (pte_write(*pte))
		pm_protect_pte(vm, vpn, pte, PROT_READ);
	*pte = pte_mkclean(*pte);
}

/* Start writing the dirty object frames ppns[0..n) to their files, a run
 * of consecutive pages of one file in one writev, each file's last page
 * only up to its end (as the kernel writes it). A page past the end
 * (the file shrank) is not written: it is clean, and goes with the next
 * look at the file's size. Returns frames whose write started. */
static int file_writeback_start(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	uint64_t run[PM_IO_MAX_RUN], next = 0;
	uint32_t obj = 0;
	size_t last = 0;
	unsigned nrun = 0, started = 0;

	for (unsigned i = 0; i <= n; i++) {
		pm_frame_t *f = i < n ? &vm->frames.f[ppns[i]] : NULL;
		if (f && f->io)
			continue;                /* (listed twice: two mappings of the page) */
		if (f && f->obj != obj && pm_object_refresh(vm, f->obj) < 0)
			f = NULL;                /* (a file we cannot stat: left dirty) */
		if (nrun && (!f || f->obj != obj || f->index != next || last < vm->page || nrun == PM_IO_MAX_RUN)) {
			pm_object_t *o = pm_object(vm, obj);
			uint64_t first = vm->frames.f[run[0]].index;
			/* (O_DIRECT moves whole blocks: a short last page goes
			 * through the page cache) */
			if (pm_swapio_file_write(vm, last == vm->page ? o->dfd : o->fd, first << vm->page_shift, run, nrun,
						 last) == 0) {
				PM_COUNT(vm, file_writes);
				vm->stats.file_write_pages += nrun;
			} else {
				for (unsigned j = 0; j < nrun; j++)
					pm_reclaim_write_done(vm, run[j], -EIO);
			}
			nrun = 0;
		}
		if (!f)
			continue;
		pm_object_t *o = pm_object(vm, f->obj);
		uint64_t off = f->index << vm->page_shift;
		pm_rmap_walk(vm, ppns[i], clean_visit, NULL);
		f->fdirty = 0;
		if (off >= o->size)
			continue;
		last = o->size - off < vm->page ? (size_t)(o->size - off) : vm->page;
		f->io = 1;
		f->wrerr = 0;
		obj = f->obj;
		next = f->index + 1;
		run[nrun++] = ppns[i];
		started++;
	}
	return (int)started;
}

/* Write back the dirty frames ppns[0..n): anonymous pages to swap,
 * object pages to their files. Returns frames whose write started, or
 * -EFBIG (swap full before the first). */
static int writeback(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	uint64_t anon[512], file[512];
	unsigned na = 0, nf = 0;
	int a = 0, b;

	PM_ASSERT(n <= PM_ARRAY_LEN(anon));
	for (unsigned i = 0; i < n; i++) {
		if (vm->frames.f[ppns[i]].obj)
			file[nf++] = ppns[i];
		else
			anon[na++] = ppns[i];
	}
	if (na)
		a = writeback_start(vm, anon, na);
	b = nf ? file_writeback_start(vm, file, nf) : 0;
	return a < 0 && !b ? a : (a > 0 ? a : 0) + b;
}

int pm_reclaim_writeback(struct pagemu *vm, const uint64_t *ppns, unsigned n)
{
	int rc = writeback(vm, ppns, n);

	pm_swapio_submit(vm);
	return rc;
}

const char *pm_reclaim_cause(int err)
{
	switch (err) {
	case -ENOSPC:  return "no space left on the swap file's filesystem (PAGEMU_SWAP_DIR)";
	case -EFBIG:   return "swap full: raise PAGEMU_SWAP_SIZE";
	case -ENOMEM:  return "no frame can be evicted: all pinned, or page-table memory exhausted; raise PAGEMU_FRAMES";
	case -EBADMSG: return "checksum mismatch: the swap file's device returned other data than was written; check the disk of PAGEMU_SWAP_DIR";
	case -EREMOTEIO: return "the swap server failed (named above; PAGEMU_SWAP)";
	default:       return "swap I/O error; check the disk of PAGEMU_SWAP_DIR";
	}
}

static int swap_full_said;
static int write_error_said;             /* the errno last said, once per cause */

static void say_write_error(struct pagemu *vm, int err)
{
	char msg[400], *p = msg, *end = msg + sizeof(msg);

	if (write_error_said == -err)
		return;
	write_error_said = -err;
	p = pm_fmt_str(p, end, "pagemu: swap write failed (errno ");
	p = pm_fmt_u64(p, end, (uint64_t)-err);
	p = pm_fmt_str(p, end, "): ");
	p = pm_fmt_str(p, end, pm_reclaim_cause(err));
	p = pm_fmt_str(p, end, " = \"");
	p = pm_fmt_str(p, end, err == -EREMOTEIO ? vm->cfg.swap : vm->cfg.swap_dir);
	p = pm_fmt_str(p, end, "\"; the pages stay in memory\n");
	pm_prim_say(msg);
}

void pm_reclaim_write_done(struct pagemu *vm, uint64_t ppn, int res)
{
	pm_frame_t *f = &vm->frames.f[ppn];

	PM_ASSERT(f->io && f->state == PM_FRAME_USED);
	f->io = 0;
	if (res < 0) {
		/* The swap (or file) copy is not good: the page stays dirty in
		 * memory. */
		if (f->obj)
			f->fdirty = 1;
		else
			*f->pte = pte_mkdirty(*f->pte);
		f->wrerr = (uint8_t)(-res < 256 ? -res : EIO);
		say_write_error(vm, res);
	}
}

void pm_reclaim_preclean(struct pagemu *vm)
{
	uint64_t cand[512], n, i, ready = 0;
	unsigned batch = vm->cfg.reclaim_batch, k = 0;

	/* Keep a lead of at least one batch of clean (or in-flight) pages
	 * ahead of the hand; when it runs short, write a whole batch. Without
	 * this, the window ahead slides one frame per eviction and every call
	 * would write the one page that just entered it. */
	if (!vm->policy->upcoming)
		return;
	n = vm->policy->upcoming(vm->policy_state, cand, PM_ARRAY_LEN(cand), 4 * PM_ARRAY_LEN(cand));
	for (i = 0; i < n && k < batch; i++) {
		pm_frame_t *f = &vm->frames.f[cand[i]];
		if (f->state != PM_FRAME_USED || f->pins)
			continue;
		if (f->busy)
			continue;
		if (f->io || !frame_dirty(vm, cand[i])) {
			if (++ready >= batch && !k)
				return;        /* lead long enough: nothing to do */
		} else {
			cand[k++] = cand[i];   /* k <= i: overwrites only what was read */
		}
	}
	if (k && writeback(vm, cand, k) > 0) {
		pm_swapio_submit(vm);
		pm_reclaim_trim_swap(vm, 0);  /* while the device works on the batch */
	}
}

/* ---- swap space ----------------------------------------------------------- */

#define TRIM_BATCH 64                   /* freed slots worth a release: one fallocate a run */

uint64_t pm_reclaim_trim_swap(struct pagemu *vm, int force)
{
	uint64_t start, len, released = 0;

	/* Freed slots are reused lowest first, so they rarely wait long:
	 * they pile up when what is in swap shrinks (an unmap). No I/O of a
	 * free slot is in flight, so its blocks can go at any time. */
	if (vm->swapmap.nfreed < (force ? 1 : TRIM_BATCH))
		return 0;
	while (pm_swapmap_take_freed(&vm->swapmap, UINT64_MAX, &start, &len))
		if (pm_swapio_punch(vm, start, len) == 0)
			released += len;
	vm->stats.swap_released += released;
	return released;
}

/* ---- eviction ----------------------------------------------------------- */

static void wait_io(struct pagemu *vm, pm_frame_t *f)
{
	if (!f->io)
		return;
	PM_COUNT(vm, reclaim_waits);
	while (f->io)
		if (pm_swapio_reap(vm, 1) < 0)
			break;
}

/* Evict the page in frame ppn: unmap it, make sure its swap copy is good,
 * point its PTE at the slot, free the frame. 0, or -errno with the page
 * still resident (and unmapped): the write's error (-ENOSPC, -EIO, ...) or
 * -EFBIG (no free slot). nowrite: a dirty page is not written but passed
 * over at once (-EAGAIN), still mapped. */
/* The frame ppn is empty now: out of the page cache (an object page),
 * the policy and the resident count, back on the free list. */
static void frame_free(struct pagemu *vm, uint64_t ppn)
{
	if (vm->frames.f[ppn].obj)
		pm_pcache_remove(vm, ppn);
	vm->policy->freed(vm->policy_state, ppn);
	pm_frames_push(&vm->frames, ppn);
	PM_DEC(vm->stats.resident);
}

/* A mapping of an object page goes (its PTE then says: never touched, so
 * the next touch finds the page in the cache or reads it): its dirty bit
 * stays with the frame. */
static void unmap_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	pm_frame_t *f = &vm->frames.f[pte_ppn(*pte)];

	PM_UNUSED(arg);
	pm_shootdown(vm, vpn, pte);
	f->fdirty |= pte_dirty(*pte);
	PM_DEC(f->mapcount);
	*pte = 0;
}

/* Evict an object page: unmap it from every mapping, write it to its
 * file if dirty, and drop it (a clean file page is read again from the
 * file, not from swap). As evict() for the rest. */
static int evict_object_page(struct pagemu *vm, uint64_t ppn, int nowrite)
{
	pm_frame_t *f = &vm->frames.f[ppn];
	int rc;

	wait_io(vm, f);
	if (nowrite && frame_dirty(vm, ppn))
		return -EAGAIN;
	pm_rmap_walk(vm, ppn, unmap_visit, NULL);
	PM_ASSERT(f->mapcount == 0);
	if (f->fdirty) {
		rc = file_writeback_start(vm, &ppn, 1);
		if (rc < 0)
			return rc;
		pm_reclaim_preclean(vm);
		pm_swapio_submit(vm);
		wait_io(vm, f);
		if (f->fdirty)
			return f->wrerr ? -(int)f->wrerr : -EIO;
	} else {
		PM_COUNT(vm, clean_evictions);
	}
	if (vm->trace_fd >= 0)
		pm_tracefile_event(vm, PM_TRACE_EVICT, 0, ppn, PM_NONE, 0);
	frame_free(vm, ppn);
	PM_COUNT(vm, evictions);
	return 0;
}

static int evict(struct pagemu *vm, uint64_t ppn, int nowrite)
{
	pm_frame_t *f = &vm->frames.f[ppn];
	pm_pte_t *pte = f->pte;
	int rc;

	if (f->obj)
		return evict_object_page(vm, ppn, nowrite);
	wait_io(vm, f);
	if (nowrite && pte_dirty(*pte))
		return -EAGAIN;
	pm_mmu_revoke(vm, f->vpn, pte);       /* no access while it is written out */
	if (pte_dirty(*pte)) {
		rc = writeback_start(vm, &ppn, 1);
		if (rc < 0)
			return rc;
		pm_reclaim_preclean(vm);      /* the next victims ride along */
		pm_swapio_submit(vm);
		wait_io(vm, f);
		if (pte_dirty(*pte))
			return f->wrerr ? -(int)f->wrerr : -EIO;
	} else {
		PM_COUNT(vm, clean_evictions);
	}
	pm_mmu_evicted(vm, f->vpn, pte, pte_mk_swapped(f->slot));
	if (vm->trace_fd >= 0)
		pm_tracefile_event(vm, PM_TRACE_EVICT, pm_vpn_va(vm, f->vpn), ppn, f->slot, 0);
	frame_free(vm, ppn);
	PM_COUNT(vm, evictions);
	return 0;
}

static void say_swap_full(struct pagemu *vm)
{
	char msg[300], *p = msg, *end = msg + sizeof(msg);

	if (swap_full_said++)
		return;
	p = pm_fmt_str(p, end, "pagemu: swap full (");
	p = pm_fmt_u64(p, end, vm->nslots);
	p = pm_fmt_str(p, end, " slots of ");
	p = pm_fmt_u64(p, end, vm->page);
	p = pm_fmt_str(p, end, " bytes): raise PAGEMU_SWAP_SIZE (cfg.swap_size) or PAGEMU_FRAMES\n");
	pm_prim_say(msg);
}

/* The pool gets its memory from the kernel a chunk at a time, as frames
 * are first used (frames are handed out lowest first, so the committed
 * part only grows). 0, or -ENOMEM when the machine has none to give. */
#define COMMIT_CHUNK (2u << 20)           /* bytes committed at once */

static int commit(struct pagemu *vm, uint64_t ppn)
{
	uint64_t chunk = COMMIT_CHUNK / vm->page ? COMMIT_CHUNK / vm->page : 1, upto;

	if (ppn >= vm->frames_hwm)
		vm->frames_hwm = ppn + 1;
	if (ppn < vm->pool_committed)
		return 0;
	upto = (ppn / chunk + 1) * chunk;
	if (upto > vm->nframes)
		upto = vm->nframes;
	if (pm_prim_pool_commit(vm->pool_fd, vm->physmap, vm->pool_committed * vm->page,
				(upto - vm->pool_committed) * vm->page) < 0)
		return -ENOMEM;
	vm->pool_committed = upto;
	return 0;
}

int pm_reclaim_claim(struct pagemu *vm, uint64_t ppn)
{
	if (pm_frames_claim(&vm->frames, ppn) < 0)
		return -1;
	if (commit(vm, ppn) < 0) {
		pm_frames_push(&vm->frames, ppn);
		return -1;
	}
	return 0;
}

uint64_t pm_reclaim_frame(struct pagemu *vm, int *err)
{
	uint64_t ppn = pm_frames_pop(&vm->frames);
	int rc = -ENOMEM, nowrite = 0;

	if (ppn != PM_NONE) {
		if (commit(vm, ppn) == 0)
			return ppn;
		pm_frames_push(&vm->frames, ppn);
		*err = -ENOMEM;
		return PM_NONE;
	}
	/* Ask the policy until a victim can be evicted: a dirty page cannot go
	 * when the swap is full or its file system is, but a clean one further
	 * on still can. Once a write has failed so, dirty victims are passed
	 * over without another try, unless freed slots gave blocks back. */
	for (uint64_t tries = 0; tries <= vm->nframes; tries++) {
		uint64_t v = vm->policy->victim(vm->policy_state, &vm->policy_env);
		park_flush(vm);
		if (v == PM_NONE)
			break;
		int r = evict(vm, v, nowrite);
		if (r == 0) {
			pm_reclaim_preclean(vm);
			return pm_frames_pop(&vm->frames);
		}
		if (r == -EAGAIN)
			continue;
		rc = r;
		if (r == -ENOSPC && pm_reclaim_trim_swap(vm, 1))
			continue;
		if (r != -ENOSPC && r != -EFBIG)
			break;
		nowrite = 1;
	}
	if (rc == -EFBIG)
		say_swap_full(vm);
	*err = rc;
	return PM_NONE;
}

void pm_page_release(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	if (vm->cfg.tlb_exact)
		pm_tlb_invalidate(&vm->tlb, vpn);
	if (pte_parked(*pte))
		PM_DEC(vm->parked);
	else if (pte_window(*pte))
		PM_DEC(vm->reserved);           /* (a stale mapping goes with the region) */
	if (pte_mapped(*pte))
		PM_DEC(vm->stats.mapped);                /* the caller drops the mapping */
	if (pte_present(*pte) && vm->frames.f[pte_ppn(*pte)].obj) {
		/* An object page stays in the page cache for the object's other
		 * mappings, or until pm_reclaim_drop_object. */
		pm_frame_t *f = &vm->frames.f[pte_ppn(*pte)];
		f->fdirty |= pte_dirty(*pte);
		PM_DEC(f->mapcount);
	} else if (pte_present(*pte)) {
		uint64_t ppn = pte_ppn(*pte);
		pm_frame_t *f = &vm->frames.f[ppn];
		if (f->slot != PM_NONE)
			pm_swapmap_free(&vm->swapmap, f->slot);
		vm->policy->freed(vm->policy_state, ppn);
		pm_frames_push(&vm->frames, ppn);
		PM_DEC(vm->stats.resident);
	} else if (pte_swapped(*pte)) {
		pm_swapmap_free(&vm->swapmap, pte_slot(*pte));
	}
	*pte = 0;
}

/* ---- object pages: truncation, invalidation, the object's end ---------------- */

/* Drop the object page in ppn without writing it (its contents are
 * discarded): unmapped everywhere, out of the cache, freed. */
static void object_page_drop(struct pagemu *vm, uint64_t ppn)
{
	wait_io(vm, &vm->frames.f[ppn]);
	pm_rmap_walk(vm, ppn, unmap_visit, NULL);
	frame_free(vm, ppn);
}

int pm_reclaim_file_resized(struct pagemu *vm, uint32_t obj)
{
	uint64_t before = pm_object_pages(vm, obj), pages;
	int rc = pm_object_refresh(vm, obj);

	if (rc < 0)
		return rc;
	pages = pm_object_pages(vm, obj);
	if (pages >= before)
		return 0;
	/* Truncated: its pages past the new end go, dirty or not, as the
	 * kernel's truncate drops them (pages being read in see the end of
	 * file when their read completes). */
	for (uint64_t ppn = 0; ppn < vm->nframes && vm->cached; ppn++) {
		pm_frame_t *f = &vm->frames.f[ppn];
		if (f->state == PM_FRAME_USED && f->obj == obj && f->index >= pages && !f->busy && !f->pins)
			object_page_drop(vm, ppn);
	}
	return 0;
}

int pm_reclaim_invalidate(struct pagemu *vm, uint64_t ppn)
{
	pm_frame_t *f = &vm->frames.f[ppn];

	if (f->busy || f->pins || f->io || frame_dirty(vm, ppn))
		return -EBUSY;
	object_page_drop(vm, ppn);
	return 0;
}

static void say_lost(struct pagemu *vm, const pm_frame_t *f)
{
	char msg[300], *p = msg, *end = msg + sizeof(msg);

	p = pm_fmt_str(p, end, "pagemu: writing page ");
	p = pm_fmt_u64(p, end, f->index);
	p = pm_fmt_str(p, end, " of a mapped file back failed (errno ");
	p = pm_fmt_u64(p, end, f->wrerr ? f->wrerr : EIO);
	p = pm_fmt_str(p, end, "): its changes are lost\n");
	pm_prim_say(msg);
	PM_UNUSED(vm);
}

int pm_reclaim_drop_object(struct pagemu *vm, uint32_t obj)
{
	uint64_t batch[PM_IO_MAX_RUN];
	unsigned n = 0;
	int rc = 0;

	/* Dirty pages first, to the file, in batches; then every page goes. */
	for (uint64_t ppn = 0; ppn <= vm->nframes; ppn++) {
		pm_frame_t *f = ppn < vm->nframes ? &vm->frames.f[ppn] : NULL;
		if (f && f->state == PM_FRAME_USED && f->obj == obj && !f->io && frame_dirty(vm, ppn))
			batch[n++] = ppn;
		if (n && (!f || n == PM_ARRAY_LEN(batch))) {
			pm_reclaim_writeback(vm, batch, n);
			n = 0;
		}
	}
	pm_swapio_drain(vm);
	for (uint64_t ppn = 0; ppn < vm->nframes; ppn++) {
		pm_frame_t *f = &vm->frames.f[ppn];
		if (f->state != PM_FRAME_USED || f->obj != obj)
			continue;
		if (f->fdirty || frame_dirty(vm, ppn)) {
			say_lost(vm, f);
			rc = -EIO;
		}
		f->pins = 0;
		object_page_drop(vm, ppn);
	}
	return rc;
}

int pm_reclaim_dirty(struct pagemu *vm, uint64_t ppn)
{
	return frame_dirty(vm, ppn);
}
