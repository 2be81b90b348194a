/* reclaim.c - taking a frame, and eviction; a file's pages dropped
 * (truncation, invalidation, the object's end).
 *
 * Eviction is exact: the victim is the one the policy names, at the moment
 * a frame is needed (no free-frame reserve that would evict pages the
 * policy would keep). Write-back is kept off the fault's critical path by
 * pre-cleaning instead (writeback.c): the dirty pages the policy will
 * evict next are written out ahead of the hand, so that when it reaches
 * them they are clean and their frame is reused at once.
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
	/* Local replacement: the space at its quota evicts its own pages. */
	if (vm->reclaim_local && (f->obj || f->shares || f->space != vm->cur))
		return 0;
	if (!f->obj)
		return !needed_now(f->vpn);
	pm_rmap_walk(vm, ppn, needed_visit, &needed);
	return !needed;
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
	if (f->obj || f->shares)
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
	else
		PM_DEC(vm->spaces[vm->frames.f[ppn].space].frames);
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
	f->fdirty |= pte_dirty(*pte);
	PM_DEC(f->mapcount);
	pm_mmu_dropped(vm, vpn, pte);
}

/* Evict an object page: unmap it from every mapping, write it to its
 * file if dirty, and drop it (a clean file page is read again from the
 * file, not from swap). As evict() for the rest. */
static int evict_object_page(struct pagemu *vm, uint64_t ppn, int nowrite)
{
	pm_frame_t *f = &vm->frames.f[ppn];
	int rc;

	wait_io(vm, f);
	if (nowrite && pm_writeback_dirty(vm, ppn))
		return -EAGAIN;
	pm_rmap_walk(vm, ppn, unmap_visit, NULL);
	PM_ASSERT(f->mapcount == 0);
	if (f->fdirty) {
		rc = pm_writeback_start(vm, &ppn, 1);
		if (rc < 0)
			return rc;
		pm_writeback_preclean(vm);
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

static void revoke_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(arg);
	pm_mmu_revoke(vm, vpn, pte);
}

/* A clean victim still mapped (FIFO's and the random policy's victims
 * usually are; CLOCK's were parked when their bit was cleared) is
 * unmapped at once: parked, it would cost a second system call later,
 * when its stale mapping is unmapped. (A clean page is mapped read-only:
 * no write can slip in.) A parked one stays parked: its stale mapping
 * leaves in a run with its neighbours'. */
static void drop_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(arg);
	pm_tlb_forget(vm, vpn);
	if (pte_mapped(*pte))
		pm_unmap_pte(vm, vpn, pte);
}

struct evict_arg {
	uint64_t slot;
	unsigned n;                       /* PTEs pointed at the slot so far */
};

/* Each PTE of the page takes a reference to its slot: the first the one
 * the frame held, the others (sharers after a fork) one more each. The
 * working-set mark (T) stays. */
static void evicted_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	struct evict_arg *e = arg;

	if (e->n++)
		pm_swapmap_dup(&vm->swapmap, e->slot);
	vm->spaces[vm->op_space].st.evictions++;
	pm_mmu_evicted(vm, vpn, pte, pte_mk_swapped(e->slot) | (*pte & PM_PTE_T));
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
	/* No access while it is written out; a clean one goes now. */
	pm_rmap_walk(vm, ppn, pte_dirty(*pte) ? revoke_visit : drop_visit, NULL);
	if (pte_dirty(*pte)) {
		rc = pm_writeback_start(vm, &ppn, 1);
		if (rc < 0)
			return rc;
		pm_writeback_preclean(vm);      /* the next victims ride along */
		pm_swapio_submit(vm);
		wait_io(vm, f);
		if (pte_dirty(*pte))
			return f->wrerr ? -(int)f->wrerr : -EIO;
	} else {
		PM_COUNT(vm, clean_evictions);
	}
	struct evict_arg e = { f->slot, 0 };
	uint64_t vpn = f->vpn;
	pm_rmap_walk(vm, ppn, evicted_visit, &e);
	if (vm->trace_fd >= 0)
		pm_tracefile_event(vm, PM_TRACE_EVICT, pm_vpn_va(vm, vpn), ppn, e.slot, 0);
	f->shares = 0;
	frame_free(vm, ppn);
	PM_COUNT(vm, evictions);
	return 0;
}

static int swap_full_said;

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

/* Local replacement: the current space holds its quota of frames; evict
 * one of its own pages (the policy's order, over its frames only). */
static uint64_t reclaim_local(struct pagemu *vm, int *err)
{
	uint64_t ppn = PM_NONE;

	vm->reclaim_local = 1;
	for (uint64_t tries = 0; tries <= vm->nframes; tries++) {
		uint64_t v = vm->policy->victim(vm->policy_state, &vm->policy_env);
		park_flush(vm);
		if (v == PM_NONE)
			break;
		int r = evict(vm, v, 0);
		if (r == 0) {
			ppn = pm_frames_pop(&vm->frames);
			break;
		}
		if (r != -EAGAIN) {
			*err = r;
			break;
		}
	}
	vm->reclaim_local = 0;
	return ppn;
}

int pm_reclaim_at_quota(struct pagemu *vm)
{
	const pm_space_t *sp = &vm->spaces[vm->cur];

	return sp->quota && sp->frames + vm->quota_pending >= sp->quota;
}

uint64_t pm_reclaim_frame(struct pagemu *vm, int *err)
{
	uint64_t ppn;
	int rc = -ENOMEM, nowrite = 0;

	if (pm_reclaim_at_quota(vm)) {
		if ((ppn = reclaim_local(vm, err)) != PM_NONE)
			return ppn;
		if (vm->quota_pending) {
			*err = -ENOMEM;          /* a swap-in cluster has all its quota: it stops there */
			return PM_NONE;
		}
	}
	ppn = pm_frames_pop(&vm->frames);
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
			/* The lead of clean pages ahead of the hand is looked at
			 * every eighth of a batch of evictions, not at each: it
			 * shrinks by one a victim, and asking the policy for the
			 * candidates ahead is a scan of its own. */
			if (++vm->preclean_tick >= (vm->cfg.reclaim_batch + 7) / 8) {
				vm->preclean_tick = 0;
				pm_writeback_preclean(vm);
			}
			return pm_frames_pop(&vm->frames);
		}
		if (r == -EAGAIN)
			continue;
		rc = r;
		if (r == -ENOSPC && pm_writeback_trim_swap(vm, 1))
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

void pm_frame_unshare(struct pagemu *vm, uint64_t ppn, const pm_pte_t *pte)
{
	pm_frame_t *f = &vm->frames.f[ppn];

	PM_ASSERT(f->shares);
	f->shares--;
	if (f->pte != pte)
		return;
	/* The owner's PTE goes: another sharer becomes the owner. */
	for (unsigned id = 0; id < PM_SPACES_MAX; id++) {
		if (id == f->space || !vm->spaces[id].live)
			continue;
		pm_pte_t *p = pm_pt_lookup(pm_space_pt(vm, id), f->vpn, NULL);
		if (p && pte_present(*p) && pte_ppn(*p) == ppn) {
			PM_DEC(vm->spaces[f->space].frames);
			f->space = (uint16_t)id;
			f->pte = p;
			vm->spaces[id].frames++;
			return;
		}
	}
	PM_ASSERT(0);                     /* shares said there was one */
}

void pm_frame_own(struct pagemu *vm, uint64_t ppn, uint64_t vpn, pm_pte_t *pte)
{
	pm_frame_t *f = &vm->frames.f[ppn];

	f->vpn = vpn;
	f->pte = pte;
	f->space = vm->cur;
	f->shares = 0;
	vm->spaces[vm->cur].frames++;
}

static void release_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	pm_page_release(ctx, vpn, pte);
}

void pm_reclaim_release_range(struct pagemu *vm, unsigned id, uint64_t lo, uint64_t hi)
{
	vm->op_space = (uint16_t)id;
	pm_pt_walk_range(pm_space_pt(vm, id), lo, hi, release_visit, vm, 1);
	vm->op_space = vm->cur;
}

void pm_page_release(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	pm_tlb_forget(vm, vpn);
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
	} else if (pte_present(*pte) && vm->frames.f[pte_ppn(*pte)].shares) {
		pm_frame_unshare(vm, pte_ppn(*pte), pte);   /* a page shared after a fork: the others keep it */
	} else if (pte_present(*pte)) {
		uint64_t ppn = pte_ppn(*pte);
		pm_frame_t *f = &vm->frames.f[ppn];
		PM_DEC(vm->spaces[f->space].frames);
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
	for (uint64_t ppn = 0; ppn < pm_frames_end(vm) && vm->cached; ppn++) {
		pm_frame_t *f = &vm->frames.f[ppn];
		if (f->state == PM_FRAME_USED && f->obj == obj && f->index >= pages && !f->busy && !f->pins)
			object_page_drop(vm, ppn);
	}
	return 0;
}

int pm_reclaim_invalidate(struct pagemu *vm, uint64_t ppn)
{
	pm_frame_t *f = &vm->frames.f[ppn];

	if (f->busy || f->pins || f->io || pm_writeback_dirty(vm, ppn))
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

/* Which frames a batched write-back takes (with arg). */
typedef int (*frame_pick_fn)(const pm_frame_t *f, uint64_t arg);

/* Write the dirty frames `pick` takes, in batches, and wait for them. */
static void write_back_picked(struct pagemu *vm, frame_pick_fn pick, uint64_t arg)
{
	uint64_t batch[PM_IO_MAX_RUN], end = pm_frames_end(vm);
	unsigned n = 0;

	for (uint64_t ppn = 0; ppn <= end; ppn++) {
		pm_frame_t *f = ppn < end ? &vm->frames.f[ppn] : NULL;
		if (f && f->state == PM_FRAME_USED && !f->io && pick(f, arg) && pm_writeback_dirty(vm, ppn))
			batch[n++] = ppn;
		if (n && (!f || n == PM_ARRAY_LEN(batch))) {
			pm_writeback_submit(vm, batch, n);
			n = 0;
		}
	}
	pm_swapio_drain(vm);
}

static int of_object(const pm_frame_t *f, uint64_t obj)
{
	return f->obj == obj;
}

int pm_reclaim_drop_object(struct pagemu *vm, uint32_t obj)
{
	int rc = 0;

	/* Dirty pages first, to the file, in batches; then every page goes. */
	write_back_picked(vm, of_object, obj);
	for (uint64_t ppn = 0; ppn < pm_frames_end(vm); ppn++) {
		pm_frame_t *f = &vm->frames.f[ppn];
		if (f->state != PM_FRAME_USED || f->obj != obj)
			continue;
		if (f->fdirty || pm_writeback_dirty(vm, ppn)) {
			say_lost(vm, f);
			rc = -EIO;
		}
		f->pins = 0;
		object_page_drop(vm, ppn);
	}
	return rc;
}

/* ---- load control ------------------------------------------------------------- */

/* An anonymous page space id holds alone, and may evict. */
static int space_owns(const pm_frame_t *f, uint64_t id)
{
	return !f->obj && f->space == id && !f->shares && !f->pins && !f->busy;
}

void pm_reclaim_space(struct pagemu *vm, unsigned id)
{
	/* Its dirty pages to swap first, in batches; then each goes clean. */
	write_back_picked(vm, space_owns, id);
	for (uint64_t ppn = 0; ppn < pm_frames_end(vm); ppn++)
		if (vm->frames.f[ppn].state == PM_FRAME_USED && space_owns(&vm->frames.f[ppn], id))
			evict(vm, ppn, 1);       /* (a page whose write failed stays) */
}
