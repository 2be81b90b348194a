/* mmu.c - the real MMU: installing and removing translations with mmap and
 * mprotect, and the mapping budget.
 *
 * The kernel allows a process vm.max_map_count mappings (VMAs). Each page
 * of a region is, in the kernel's eyes, in one of three states:
 *   R  part of the PROT_NONE anonymous reservation (never touched, swapped,
 *      or resident but unmapped);
 *   M  a shared mapping of its frame in the pool, read-only or read-write;
 *   W  a reservation window: a PROT_NONE mapping of the frame kept for its
 *      first touch (see fault.c).
 * Two neighbouring pages share one VMA exactly when both are R, or both are
 * M (or both W) of consecutive frames with the same protection. So the
 * number of VMAs changes only at the two boundaries around a page whose
 * state changes, and pagemu counts it exactly as it goes (vm->vmas). When
 * the count reaches the budget, whole runs of mapped pages are unmapped
 * (they stay resident; their next touch is a minor fault).
 *
 * Everything here: signal context; called with vm->lock held. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/engine.h"

enum { VMA_R, VMA_M, VMA_W, VMA_X };

typedef struct vma_key {
	int      kind;                      /* VMA_R, VMA_M, VMA_W, or VMA_X: no region of ours */
	int      write;                     /* M: mapped read-write */
	uint64_t ppn;                       /* M, W: the frame */
} vma_key_t;

/* The frame a stale page still maps (its PTE holds the slot now): the
 * latest entry of the stale queue for vpn. */
static uint64_t stale_ppn(const struct pagemu *vm, uint64_t vpn)
{
	for (uint64_t i = vm->nstale; i-- > 0;)
		if (vm->stale[i] == vpn)
			return vm->stale_ppn[i];
	PM_ASSERT(!"a stale page is in the stale queue");
	return PM_NONE;
}

static vma_key_t key_of(struct pagemu *vm, uint64_t vpn)
{
	pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn, NULL);
	vma_key_t k = { VMA_R, 0, 0 };

	if (p && pte_mapped(*p))
		k = (vma_key_t){ VMA_M, pte_write(*p), pte_ppn(*p) };
	else if (p && pte_kept(*p))
		k = (vma_key_t){ VMA_W, 0, pte_swapped(*p) ? stale_ppn(vm, vpn) : pte_ppn(*p) };
	return k;
}

/* The key of a page next to a change, which may lie outside every region
 * of vm: then it is no mapping of ours, and joins none (VMA_X). A page
 * of another region is a reservation the kernel merges with ours. */
static vma_key_t edge_key(struct pagemu *vm, uint64_t vpn)
{
	pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn, NULL);

	if ((!p || pte_none(*p)) && !pm_region_find(vm, pm_vpn_va(vm, vpn)))
		return (vma_key_t){ VMA_X, 0, 0 };
	return key_of(vm, vpn);
}

/* Do pages a (left) and b (right) lie in one VMA? */
static int joined(vma_key_t a, vma_key_t b)
{
	if (a.kind != b.kind || a.kind == VMA_X)
		return 0;
	if (a.kind == VMA_R)
		return 1;
	return a.ppn != PM_NONE && b.ppn != PM_NONE && b.ppn == a.ppn + 1 && a.write == b.write;
}

/* VMA boundaries at the edges of and inside [lo, hi]. */
static uint64_t boundaries(struct pagemu *vm, uint64_t lo, uint64_t hi)
{
	vma_key_t prev = edge_key(vm, lo - 1), cur;
	uint64_t n = 0;

	for (uint64_t v = lo; v <= hi + 1; v++, prev = cur) {
		cur = v <= hi ? key_of(vm, v) : edge_key(vm, v);
		n += !joined(prev, cur);
	}
	return n;
}

static void account(struct pagemu *vm, uint64_t before, uint64_t after)
{
	PM_ASSERT(vm->vmas + after >= before);
	vm->vmas = vm->vmas + after - before;
}

/* ---- the budget ------------------------------------------------------------ */

/* A resident page whose VA holds a mapping of its frame (mapped or
 * parked) that the budget may take away. */
static int sweepable(const pm_frame_t *f)
{
	/* A frame taken moments ago (a swap-in cluster being read) has no
	 * PTE yet. */
	return f->state == PM_FRAME_USED && !f->obj && !f->shares && f->pte && !f->pins &&
	       (pte_mapped(*f->pte) || pte_kept(*f->pte));
}

/* An object page's mappings go one by one (they may be anywhere), and a
 * page a fork shared (the current space's PTE may not be the owner's). */
static void budget_unmap_visit(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, void *arg)
{
	PM_UNUSED(arg);
	if (!pte_mapped(*pte) && !pte_parked(*pte))
		return;
	pm_tlb_forget(vm, vpn);
	pm_unmap_pte(vm, vpn, pte);
	vm->stats.budget_unmaps++;
}

#define SWEEP_GAP 16                     /* pages a run may skip between two of its pages */

/* May the unmap of a run that ends at vpn `last` (in region r) go on to
 * the page vpn after it, covering the pages between? Only when those are
 * reservations already, of the same region: pages never touched or in
 * swap, no frame kept there, none locked. Not a resident page, even
 * unmapped: a fault may have mapped it outside vm->lock and not yet said
 * so (pm_map_pte_premapped is still to come), and that mapping must
 * stay. Re-reserving the others changes nothing. */
static int sweep_reaches(struct pagemu *vm, const pm_region_t *r, uint64_t last, uint64_t vpn)
{
	if (vpn <= last || vpn - last > SWEEP_GAP || pm_vpn_va(vm, vpn) >= r->end)
		return 0;
	for (uint64_t v = last + 1; v < vpn; v++) {
		pm_pte_t *p = pm_pt_lookup(&vm->pt, v, NULL);
		if (p && (pte_present(*p) || pte_kept(*p) || pte_locked(*p)))
			return 0;
	}
	return 1;
}

/* Unmap runs of mapped pages in frame order until the count is down to
 * target: frames in a row whose pages follow each other in one region,
 * with nothing but reservations between them (often none), one call a
 * run. */
static void budget_sweep(struct pagemu *vm, uint64_t target)
{
	for (uint64_t i = 0; i < vm->nframes && vm->vmas > target; i++) {
		uint64_t f0 = vm->budget_hand, k = 1;
		pm_frame_t *f = &vm->frames.f[f0];
		vm->budget_hand = f0 + 1 == vm->nframes ? 0 : f0 + 1;
		if (f->state == PM_FRAME_USED && (f->obj ? f->mapcount != 0 : f->shares != 0) && !f->pins)
			pm_rmap_walk(vm, f0, budget_unmap_visit, NULL);
		if (!sweepable(f))
			continue;
		const pm_region_t *r = pm_region_find(vm, pm_vpn_va(vm, f->vpn));
		while (r && f0 + k < vm->nframes && k < 512 && sweepable(&vm->frames.f[f0 + k]) &&
		       (vm->frames.f[f0 + k].vpn == vm->frames.f[f0 + k - 1].vpn + 1 ||
			sweep_reaches(vm, r, vm->frames.f[f0 + k - 1].vpn, vm->frames.f[f0 + k].vpn)))
			k++;
		uint64_t last = vm->frames.f[f0 + k - 1].vpn;
		uint64_t before = boundaries(vm, f->vpn, last);
		pm_prim_unmap_page((void *)pm_vpn_va(vm, f->vpn), (last - f->vpn + 1) * vm->page);
		for (uint64_t j = 0; j < k; j++) {
			pm_frame_t *g = &vm->frames.f[f0 + j];
			if (vm->cfg.tlb_exact)
				pm_tlb_invalidate(&vm->tlb, g->vpn);
			if (pte_mapped(*g->pte))
				PM_DEC(vm->stats.mapped);
			else
				PM_DEC(vm->parked);
			*g->pte = pte_clear_kept(pte_mkunmapped(*g->pte));
		}
		vm->map_gen++;
		account(vm, before, boundaries(vm, f->vpn, last));
		vm->stats.budget_unmaps += k;
		vm->budget_hand = f0 + k >= vm->nframes ? 0 : f0 + k;
	}
}

void pm_budget_make_room(struct pagemu *vm)
{
	/* A change adds at most two VMAs. Free a sixteenth at a time: one
	 * sweep pays for many faults. */
	if (vm->vmas + 2 >= vm->map_budget)
		pm_mmu_flush_stale(vm);
	if (vm->vmas + 2 >= vm->map_budget)
		budget_sweep(vm, vm->map_budget - vm->map_budget / 16 - 2);
}

int pm_budget_room(struct pagemu *vm, uint64_t vmas)
{
	return vm->vmas + vmas + vm->map_budget / 8 < vm->map_budget;
}

/* ---- translations ------------------------------------------------------------ */

static int map_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot, int premapped)
{
	void *va = (void *)pm_vpn_va(vm, vpn);
	uint64_t ppn = pte_ppn(*pte), before;
	int rc = premapped ? 0 : -1;

	PM_ASSERT(pte_present(*pte) &&
		  (vm->frames.f[ppn].obj || (vm->frames.f[ppn].pte == pte && vm->frames.f[ppn].vpn == vpn) ||
		   (vm->frames.f[ppn].shares && vm->frames.f[ppn].vpn == vpn)));
	if (pte_cow(*pte))
		prot &= ~PROT_WRITE;             /* copy-on-write: the first write faults */
	pm_budget_make_room(vm);
	before = boundaries(vm, vpn, vpn);
	/* A first touch that finds its frame reserved, or a parked page: the
	 * VA already maps the frame (PROT_NONE), so an mprotect is enough. */
	if (pte_kept(*pte)) {
		if (pte_present(*pte))
			PM_DEC(vm->parked);
		else
			PM_DEC(vm->reserved);
		*pte = pte_clear_kept(*pte);
		if (!premapped)
			rc = pm_prim_protect(va, vm->page, prot);
	}
	if (rc < 0)
		rc = pm_prim_map_frame(va, vm->page, prot, vm->pool_fd, ppn * vm->page);
	if (rc == -ENOMEM) {
		/* The kernel ran out of mappings before our budget did (other
		 * code in the process maps too): shrink and retry once. */
		vm->map_budget = vm->map_budget > 256 ? vm->map_budget * 3 / 4 : vm->map_budget;
		budget_sweep(vm, vm->map_budget / 2);
		before = boundaries(vm, vpn, vpn);
		rc = pm_prim_map_frame(va, vm->page, prot, vm->pool_fd, ppn * vm->page);
	}
	if (rc < 0)
		return rc;
	vm->map_gen++;
	*pte = pte_mkmapped(*pte);
	*pte = (prot & PROT_WRITE) ? pte_mkwrite(*pte) : pte_wrprotect(*pte);
	vm->stats.mapped++;
	account(vm, before, boundaries(vm, vpn, vpn));
	return 0;
}

int pm_map_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot)
{
	return map_pte(vm, vpn, pte, prot, 0);
}

int pm_map_pte_premapped(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot)
{
	return map_pte(vm, vpn, pte, prot, 1);
}

int pm_map_run(struct pagemu *vm, uint64_t vpn, uint64_t ppn, uint64_t n, int prot)
{
	uint64_t before;
	int rc;

	pm_budget_make_room(vm);
	before = boundaries(vm, vpn, vpn + n - 1);
	rc = pm_prim_map_frame((void *)pm_vpn_va(vm, vpn), n * vm->page, prot, vm->pool_fd, ppn * vm->page);
	if (rc < 0)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		pm_pte_t *pte = pm_pt_lookup(&vm->pt, vpn + i, NULL);
		PM_ASSERT(pte && pte_present(*pte) && !pte_kept(*pte) && pte_ppn(*pte) == ppn + i);
		*pte = pte_mkmapped(*pte);
		*pte = (prot & PROT_WRITE) ? pte_mkwrite(*pte) : pte_wrprotect(*pte);
	}
	vm->map_gen++;
	vm->stats.mapped += n;
	account(vm, before, boundaries(vm, vpn, vpn + n - 1));
	return 0;
}

void pm_unmap_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	uint64_t before;

	if (!pte_mapped(*pte) && !pte_parked(*pte))
		return;
	before = boundaries(vm, vpn, vpn);
	pm_prim_unmap_page((void *)pm_vpn_va(vm, vpn), vm->page);
	vm->map_gen++;
	if (pte_mapped(*pte))
		PM_DEC(vm->stats.mapped);
	else
		PM_DEC(vm->parked);
	*pte = pte_clear_kept(pte_mkunmapped(*pte));
	account(vm, before, boundaries(vm, vpn, vpn));
}

void pm_park_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	uint64_t before;

	if (!pte_mapped(*pte))
		return;
	before = boundaries(vm, vpn, vpn);
	if (pm_prim_protect((void *)pm_vpn_va(vm, vpn), vm->page, PROT_NONE) < 0) {
		pm_unmap_pte(vm, vpn, pte);
		return;
	}
	vm->map_gen++;
	*pte = pte_mkkept(pte_mkunmapped(*pte));
	PM_DEC(vm->stats.mapped);
	vm->parked++;
	account(vm, before, boundaries(vm, vpn, vpn));
}

void pm_park_run(struct pagemu *vm, uint64_t vpn, uint64_t n)
{
	uint64_t before = boundaries(vm, vpn, vpn + n - 1);

	if (n == 1 || pm_prim_protect((void *)pm_vpn_va(vm, vpn), n * vm->page, PROT_NONE) < 0) {
		for (uint64_t i = 0; i < n; i++)
			pm_park_pte(vm, vpn + i, pm_pt_lookup(&vm->pt, vpn + i, NULL));
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		pm_pte_t *pte = pm_pt_lookup(&vm->pt, vpn + i, NULL);
		PM_ASSERT(pte && pte_mapped(*pte));
		*pte = pte_mkkept(pte_mkunmapped(*pte));
	}
	vm->map_gen++;
	vm->stats.mapped -= n;
	vm->parked += n;
	account(vm, before, boundaries(vm, vpn, vpn + n - 1));
}

int pm_protect_pte(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, int prot)
{
	uint64_t before = boundaries(vm, vpn, vpn);
	int rc = pm_prim_protect((void *)pm_vpn_va(vm, vpn), vm->page, prot);

	if (rc < 0)
		return rc;
	vm->map_gen++;
	*pte = (prot & PROT_WRITE) ? pte_mkwrite(*pte) : pte_wrprotect(*pte);
	account(vm, before, boundaries(vm, vpn, vpn));
	return 0;
}

void pm_tlb_forget(struct pagemu *vm, uint64_t vpn)
{
	if (!vm->cfg.tlb_exact)
		return;
	if (vm->op_space == vm->cur)
		pm_tlb_invalidate(&vm->tlb, vpn);
	else if (vm->cfg.tlb_asid)
		pm_tlb_invalidate_asid(&vm->tlb, vm->op_space, vpn);
	/* (else the TLB holds nothing of that space: flushed at the switch) */
}

void pm_shootdown(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	pm_tlb_forget(vm, vpn);
	pm_unmap_pte(vm, vpn, pte);
}

int pm_reserve_frames(struct pagemu *vm, uint64_t vpn, uint64_t ppn, uint64_t k)
{
	pm_pte_t *ptes[64];
	uint64_t before;

	if (k > PM_ARRAY_LEN(ptes))
		k = PM_ARRAY_LEN(ptes);
	for (uint64_t i = 0; i < k; i++)
		if (!(ptes[i] = pm_pt_ensure(&vm->pt, vpn + i)))
			return -ENOMEM;
	before = boundaries(vm, vpn, vpn + k - 1);
	if (pm_prim_map_frame((void *)pm_vpn_va(vm, vpn), k * vm->page, PROT_NONE, vm->pool_fd, ppn * vm->page) < 0)
		return -ENOMEM;
	for (uint64_t i = 0; i < k; i++) {
		if (pte_present(*ptes[i])) {          /* a resident page: parked */
			*ptes[i] = pte_mkkept(*ptes[i]);
			vm->parked++;
		} else {                              /* never touched: reserved */
			*ptes[i] = pte_mk_window(ppn + i);
			vm->reserved++;
		}
	}
	account(vm, before, boundaries(vm, vpn, vpn + k - 1));
	return 0;
}

/* ---- eviction: stale mappings, unmapped in runs ---------------------------------- */

void pm_mmu_revoke(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	pm_tlb_forget(vm, vpn);
	pm_park_pte(vm, vpn, pte);
}

/* The page left its frame. A parked mapping is not unmapped now: it stays,
 * PROT_NONE, as a stale mapping of a frame that is no longer the page's (no
 * access can reach the frame through it; a fault on the page maps afresh,
 * replacing it). Stale mappings are queued and unmapped in runs of
 * consecutive pages, one mmap a run: evictions follow the hand, so
 * neighbouring pages tend to leave together. */
void pm_mmu_evicted(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte, pm_pte_t swapped)
{
	int stale = pte_parked(*pte);
	uint64_t before;

	PM_ASSERT(pte_present(*pte) && !pte_mapped(*pte) && pte_swapped(swapped));
	/* Make room in the queue first: the flush changes the neighbours,
	 * and counts that itself. */
	if (stale && vm->nstale == PM_ARRAY_LEN(vm->stale))
		pm_mmu_flush_stale(vm);
	before = boundaries(vm, vpn, vpn);
	if (stale) {
		PM_DEC(vm->parked);
		vm->stale_ppn[vm->nstale] = pte_ppn(*pte);
		vm->stale[vm->nstale++] = vpn;
		swapped = pte_mkkept(swapped);
	}
	*pte = swapped;
	account(vm, before, boundaries(vm, vpn, vpn));
}

/* An object page left its frame (evicted, or its file shrank): its
 * mapping here goes. A parked one (PROT_NONE: CLOCK parks the pages whose
 * reference bit it clears, so a victim usually is) is not unmapped now: it
 * stays as a window of its old frame, queued with the stale mappings and
 * unmapped with them in runs (a touch before then faults on the PROT_NONE
 * mapping, and the fault maps afresh over it). A mapped one goes now. */
void pm_mmu_dropped(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	pm_tlb_forget(vm, vpn);
	if (!pte_parked(*pte)) {
		pm_unmap_pte(vm, vpn, pte);
		*pte = 0;
		return;
	}
	if (vm->nstale == PM_ARRAY_LEN(vm->stale))
		pm_mmu_flush_stale(vm);
	/* The VA keeps its PROT_NONE mapping of the same frame: the same
	 * kernel mapping before and after, no boundary changes. */
	PM_DEC(vm->parked);
	vm->reserved++;
	vm->stale_ppn[vm->nstale] = pte_ppn(*pte);
	vm->stale[vm->nstale++] = vpn;
	*pte = pte_mk_window(pte_ppn(*pte));
}

/* A queued page whose stale mapping is still there: a swapped page's
 * (stale), or a dropped object page's (a window; an anonymous reservation
 * window made there since goes too, harmlessly). Not a locked window: a
 * first touch is mapping its frame there outside vm->lock. */
static int is_stale(struct pagemu *vm, uint64_t vpn)
{
	pm_pte_t *p = pm_pt_lookup(&vm->pt, vpn, NULL);

	return p && !pte_locked(*p) && (pte_stale(*p) || pte_window(*p));
}

/* Sort v[0..n) (insertion: the hand evicts mostly in order, and the
 * fault path may not call qsort, which may allocate). */
static void sort_vpns(uint64_t *v, uint64_t n)
{
	for (uint64_t i = 1; i < n; i++) {
		uint64_t x = v[i], j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

void pm_mmu_flush_stale(struct pagemu *vm)
{
	uint64_t n = vm->nstale, i = 0, vpns[PM_ARRAY_LEN(vm->stale)];

	/* The queue stays until the end: key_of reads the frames of the
	 * stale pages not unmapped yet from it. The runs are built from its
	 * pages in address order (a copy, sorted): pages the hand evicts out
	 * of order still leave in one call. */
	memcpy(vpns, vm->stale, n * sizeof(vpns[0]));
	sort_vpns(vpns, n);
	while (i < n) {
		uint64_t lo = vpns[i++], k = 1, before;
		/* Entries whose page came back (or went) since are not stale. */
		if (!is_stale(vm, lo))
			continue;
		for (; i < n && (vpns[i] == lo + k - 1 || (vpns[i] == lo + k && is_stale(vm, lo + k))); i++)
			k += vpns[i] == lo + k;         /* (a page queued twice: once) */
		before = boundaries(vm, lo, lo + k - 1);
		pm_prim_unmap_page((void *)pm_vpn_va(vm, lo), k * vm->page);
		for (uint64_t v = lo; v < lo + k; v++) {
			pm_pte_t *p = pm_pt_lookup(&vm->pt, v, NULL);
			if (pte_window(*p)) {
				PM_DEC(vm->reserved);
				*p = 0;
			} else {
				*p = pte_clear_kept(*p);
			}
		}
		vm->map_gen++;
		account(vm, before, boundaries(vm, lo, lo + k - 1));
	}
	vm->nstale = 0;
}

/* A reservation window whose frame went to another page: the page will
 * be mapped afresh, and the mmap replaces the window's PROT_NONE mapping.
 * Account as if the window went now and the page were a plain
 * reservation until then: the two changes add up to the kernel's one. */
void pm_mmu_window_void(struct pagemu *vm, uint64_t vpn, pm_pte_t *pte)
{
	uint64_t before = boundaries(vm, vpn, vpn);

	PM_ASSERT(pte_window(*pte));
	PM_DEC(vm->reserved);
	*pte = 0;
	account(vm, before, boundaries(vm, vpn, vpn));
}

/* ---- regions ------------------------------------------------------------------- */

struct count_arg {
	struct pagemu *vm;
	uint64_t lo, hi, n;                 /* range, boundaries found */
};

/* A page that is not R has a boundary on each side its neighbour is not
 * joined to it; count the left one always, the right one when the right
 * neighbour is R (otherwise that neighbour counts it). */
static void count_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct count_arg *a = ctx;
	vma_key_t me = key_of(a->vm, vpn);

	PM_UNUSED(pte);
	if (me.kind == VMA_R)
		return;
	if (vpn > a->lo && !joined(key_of(a->vm, vpn - 1), me))
		a->n++;
	if (vpn < a->hi && key_of(a->vm, vpn + 1).kind == VMA_R)
		a->n++;
}

/* The region's pages went from no mapping to one reservation: one VMA
 * more, unless it merges with a reservation on either side. */
void pm_mmu_region_added(struct pagemu *vm, uint64_t lo, uint64_t hi)
{
	const vma_key_t res = { VMA_R, 0, 0 };

	vm->vmas += !joined(edge_key(vm, lo - 1), res);
	if (joined(res, edge_key(vm, hi + 1)))
		PM_DEC(vm->vmas);
}

/* The pages [lo, hi] of a region are about to be unmapped: every VMA that
 * starts in them goes, and the page after them starts one when it was
 * joined to the last. */
void pm_mmu_range_released(struct pagemu *vm, uint64_t lo, uint64_t hi)
{
	struct count_arg a = { vm, lo, hi, 0 };
	uint64_t starts;

	pm_pt_walk_range(&vm->pt, lo, hi, count_visit, &a, 0);
	starts = a.n + !joined(edge_key(vm, lo - 1), key_of(vm, lo));
	PM_ASSERT(vm->vmas >= starts);
	vm->vmas = vm->vmas - starts + joined(key_of(vm, hi), edge_key(vm, hi + 1));
}

/* Every region was reserved afresh and holds no frame mapping (a forked
 * child): count the VMAs from scratch, one per run of adjacent regions. */
void pm_mmu_regions_recount(struct pagemu *vm)
{
	const vma_key_t res = { VMA_R, 0, 0 };

	vm->vmas = 0;
	for (size_t i = 0; i < vm->nregions_hw; i++)
		if (pm_region_here(vm, &vm->regions[i]))
			vm->vmas += !joined(edge_key(vm, pm_va_vpn(vm, vm->regions[i].start) - 1), res);
}

struct drop_arg {
	uint64_t touched;
	int      clear_t;
};

/* The VA is a reservation again: no real translation, no kept mapping. */
static void drop_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct drop_arg *a = ctx;

	PM_UNUSED(vpn);
	a->touched += pte_touched(*pte);
	if (a->clear_t)
		*pte = pte_untouched(*pte);
	if (pte_present(*pte) || pte_swapped(*pte))
		*pte = pte_clear_kept(pte_mkunmapped(*pte));
	else if (pte_kept(*pte))
		*pte = 0;                  /* a reservation window */
}

uint64_t pm_mmu_drop_all(struct pagemu *vm, int clear_t)
{
	struct drop_arg a = { 0, clear_t };

	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!pm_region_here(vm, r))
			continue;
		pm_prim_unmap_page((void *)r->start, r->end - r->start);
		pm_pt_walk_range(&vm->pt, pm_va_vpn(vm, r->start), pm_va_vpn(vm, r->end - 1), drop_visit, &a, 0);
	}
	vm->stats.mapped = 0;
	vm->parked = 0;
	vm->reserved = 0;
	vm->nstale = 0;
	vm->park_n = 0;
	vm->map_gen++;
	pm_mmu_regions_recount(vm);
	return a.touched;
}

struct wrprotect_arg {
	struct pagemu *vm;
	uint64_t lo, n;                   /* the run of mapped writable pages being gathered */
};

/* The run's pages become read-only, with one mprotect. */
static void wrprotect_run(struct wrprotect_arg *a)
{
	struct pagemu *vm = a->vm;
	uint64_t hi = a->lo + a->n - 1, before;

	if (!a->n)
		return;
	before = boundaries(vm, a->lo, hi);
	if (pm_prim_protect((void *)pm_vpn_va(vm, a->lo), a->n * vm->page, PROT_READ) == 0) {
		for (uint64_t v = a->lo; v <= hi; v++) {
			pm_pte_t *p = pm_pt_lookup(&vm->pt, v, NULL);
			*p = pte_wrprotect(*p);
		}
	} else {
		for (uint64_t v = a->lo; v <= hi; v++)   /* (no memory for the split: unmap them) */
			pm_unmap_pte(vm, v, pm_pt_lookup(&vm->pt, v, NULL));
	}
	vm->map_gen++;
	account(vm, before, boundaries(vm, a->lo, hi));
	a->n = 0;
}

static void wrprotect_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct wrprotect_arg *a = ctx;

	if (!pte_mapped(*pte) || !pte_write(*pte))
		return;
	if (a->n && vpn != a->lo + a->n)
		wrprotect_run(a);
	if (!a->n)
		a->lo = vpn;
	a->n++;
}

void pm_mmu_wrprotect_all(struct pagemu *vm)
{
	struct wrprotect_arg a = { vm, 0, 0 };

	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!pm_region_here(vm, r))
			continue;
		pm_pt_walk_range(&vm->pt, pm_va_vpn(vm, r->start), pm_va_vpn(vm, r->end - 1), wrprotect_visit, &a, 0);
		wrprotect_run(&a);
	}
}

/* ---- invariant checker (tests) ------------------------------------------------- */

struct check_arg {
	uint64_t mapped, parked, reserved, present, bad;
};

static void check_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct check_arg *a = ctx;

	PM_UNUSED(vpn);
	a->mapped += pte_mapped(*pte);
	a->present += pte_present(*pte);
	a->parked += pte_parked(*pte);
	a->reserved += pte_window(*pte);
	/* A page being read in is in swap, with no mapping kept, or is an
	 * object page never touched here (L alone); a first touch mapping
	 * its frame outside the lock is L alone, or its window (K) with L. */
	a->bad += pte_locked(*pte) && *pte != PM_PTE_L && !pte_window(*pte) && (!pte_swapped(*pte) || pte_kept(*pte));
}

int pm_mmu_check(struct pagemu *vm)
{
	struct check_arg a = { 0, 0, 0, 0, 0 };

	uint64_t objpages = 0, views = 0;

	pm_pt_walk_range(&vm->pt, 0, (1ULL << vm->pt.geom.vpn_bits) - 1, check_visit, &a, 0);
	/* The other spaces: present PTEs count, with no real mapping. */
	for (unsigned id = 0; id < PM_SPACES_MAX; id++) {
		struct check_arg o = { 0, 0, 0, 0, 0 };
		if (id == vm->cur || !vm->spaces[id].live)
			continue;
		pm_pt_walk_range(&vm->spaces[id].pt, 0, (1ULL << vm->pt.geom.vpn_bits) - 1, check_visit, &o, 0);
		if (o.mapped || o.parked || o.reserved || o.bad || pm_pt_check(&vm->spaces[id].pt) < 0)
			return -1;
		a.present += o.present;
	}
	/* Present PTEs: one per anonymous page, and an object page's
	 * mapcount each; every object page is in the page cache. */
	for (uint64_t ppn = 0; ppn < vm->nframes; ppn++) {
		const pm_frame_t *f = &vm->frames.f[ppn];
		if (f->state == PM_FRAME_USED && !f->obj)
			views += f->shares;           /* the other spaces' PTEs of a page shared by a fork */
		if (f->state != PM_FRAME_USED || !f->obj)
			continue;
		objpages++;
		views += f->mapcount;
		if (f->busy)
			objpages--;                  /* being read in: not resident yet */
		if (pm_pcache_lookup(vm, f->obj, f->index) != ppn)
			return -1;
	}
	if (a.bad || a.mapped != vm->stats.mapped || a.parked != vm->parked || a.reserved != vm->reserved ||
	    a.present != vm->stats.resident - objpages + views)
		return -1;
	if (pm_pt_check(&vm->pt) < 0 || pm_swapmap_check(&vm->swapmap) < 0)
		return -1;
	return pm_frames_check(&vm->frames);
}
