/* space.c - address spaces: several page tables over one frame pool
 * (CSAPP 9.7-9.8: each process has its own page table; a context switch
 * loads another one into CR3; fork shares pages copy-on-write).
 *
 * The current space's page table is vm->pt, and only its regions are
 * registered with the dispatcher: a touch of another space's address is
 * not its fault to serve. A switch is the CR3 write: the old space's real
 * mappings go (one mmap a region), its page table is put away, the new
 * one is loaded; its pages come back through minor faults while their
 * frames are still resident. Frames are the pool's: CLOCK's hand passes
 * over every space's (global replacement), unless a space has a quota
 * (local replacement, reclaim.c).
 *
 * Working sets (Denning): a space's virtual time is its quanta, the
 * switches into it. A fault marks its page touched (T); every ws_tau
 * quanta, at the switch away, the touched pages are counted (the working
 * set W(t, tau) of that window) and the marks cleared. The walk that
 * counts them is the one the switch makes anyway. Load control suspends
 * the space with the largest working set while the working sets of the
 * spaces that run exceed the pool, evicting its pages, and resumes the
 * longest suspended one when its working set fits again.
 *
 * Everything runs under vm->lock, outside the fault handler. */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"

static pm_space_t *space_of(struct pagemu *vm, unsigned id) { return &vm->spaces[id]; }

void pm_space_init(struct pagemu *vm)
{
	pm_space_t *sp = space_of(vm, 0);

	memset(sp, 0, sizeof(*sp));
	sp->vm = vm;
	sp->live = 1;
	sp->id = 0;
	vm->cur = vm->op_space = 0;
	vm->nspaces = 1;
	vm->space_next = 1;
}

/* Is sp a live space of some instance? (A handle to a freed space stays
 * readable: the table lives as long as the instance.) */
static int check_space(const pagemu_space_t *sp, const char *fn)
{
	if (!sp) {
		pm_set_error("%s: the space is NULL", fn);
		return -EINVAL;
	}
	if (!sp->live) {
		pm_set_error("%s: the space was freed", fn);
		return -EINVAL;
	}
	return 0;
}

/* A free slot with a fresh page table, round robin from the last one
 * taken (a freed space's handle stays dead for as long as possible): its
 * number, or -ENOSPC. */
static int slot_new(struct pagemu *vm)
{
	for (unsigned k = 0; k < PM_SPACES_MAX; k++) {
		unsigned id = (unsigned)((vm->space_next + k) % PM_SPACES_MAX);
		pm_space_t *sp = space_of(vm, id);
		if (sp->live)
			continue;
		memset(sp, 0, sizeof(*sp));
		if (pm_pt_init(&sp->pt, &vm->pt.geom, &vm->arena) < 0)
			return -ENOMEM;
		sp->vm = vm;
		sp->id = (uint16_t)id;
		sp->live = 1;
		vm->nspaces++;
		vm->space_next = id + 1;
		return (int)id;
	}
	pm_set_error("pagemu_space_new: %d spaces are live already", PM_SPACES_MAX);
	return -ENOSPC;
}

int pagemu_space_new(pagemu_t *vm, pagemu_space_t **out)
{
	int id;

	if (!vm || !out)
		return -EINVAL;
	pm_lock(vm);
	id = slot_new(vm);
	pm_unlock(vm);
	if (id < 0)
		return id;
	*out = space_of(vm, (unsigned)id);
	return 0;
}

pagemu_space_t *pagemu_space_current(pagemu_t *vm)
{
	return vm ? space_of(vm, vm->cur) : NULL;
}

pagemu_t *pagemu_space_vm(const pagemu_space_t *sp)
{
	return sp ? sp->vm : NULL;
}

unsigned pagemu_space_id(const pagemu_space_t *sp)
{
	return sp ? sp->id : 0;
}

/* No read of the current space's pages may be in flight, nor a window
 * read ahead (their completions land in the page table being put away). */
static void quiesce(struct pagemu *vm)
{
	pm_readahead_drain(vm);
	while (pm_inflight(vm))
		pm_wait_busy(vm);
}

/* Does the current space hold a pinned page (the kernel may be using
 * its address)? */
static int pinned_here(struct pagemu *vm)
{
	if (!vm->pins_held)
		return 0;
	for (uint64_t ppn = 0; ppn < pm_frames_end(vm); ppn++) {
		const pm_frame_t *f = &vm->frames.f[ppn];
		if (f->state == PM_FRAME_USED && f->pins && (f->obj || f->space == vm->cur))
			return 1;
	}
	return 0;
}

/* ---- the switch -------------------------------------------------------------- */

/* The current space's pages lose their real mappings; its window ends
 * when it has run ws_tau quanta (the touched pages counted, the marks
 * cleared). */
static void switch_out(struct pagemu *vm)
{
	pm_space_t *sp = space_of(vm, vm->cur);
	unsigned tau = vm->cfg.ws_tau ? vm->cfg.ws_tau : 1;
	int window_ends = sp->window + 1 >= tau;
	uint64_t touched = pm_mmu_drop_all(vm, window_ends);

	if (window_ends) {
		sp->ws = touched;
		sp->window = 0;
	} else {
		sp->window++;
	}
	pm_region_attach_space(vm, vm->cur, 0);
	sp->pt = vm->pt;
}

/* Load sp's page table: the CR3 write. The modeled TLB keeps the entries
 * of every space with ASIDs, else it is flushed. */
static void switch_in(struct pagemu *vm, pm_space_t *sp)
{
	vm->cur = vm->op_space = sp->id;
	vm->pt = sp->pt;
	pm_region_attach_space(vm, sp->id, 1);
	pm_mmu_regions_recount(vm);
	if (vm->cfg.tlb_asid) {
		pm_tlb_set_asid(&vm->tlb, sp->id);
	} else {
		pm_tlb_flush(&vm->tlb);
		PM_COUNT(vm, tlb_flushes);
	}
	vm->zero_last_vpn = vm->ra_last_vpn = PM_NONE;
	sp->quanta++;
	sp->st.quanta = sp->quanta;
}

/* ---- load control ------------------------------------------------------------ */

/* The working sets of the spaces that run (not suspended). */
static uint64_t active_ws(struct pagemu *vm, unsigned *nactive)
{
	uint64_t sum = 0;

	*nactive = 0;
	for (unsigned id = 0; id < PM_SPACES_MAX; id++) {
		const pm_space_t *sp = space_of(vm, id);
		if (sp->live && !sp->suspended) {
			sum += sp->ws;
			(*nactive)++;
		}
	}
	return sum;
}

static void say_load(struct pagemu *vm, const char *what, const pm_space_t *sp)
{
	if (!vm->cfg.verbose)
		return;
	char msg[160], *p = msg, *end = msg + sizeof(msg);
	p = pm_fmt_str(p, end, "pagemu: load control ");
	p = pm_fmt_str(p, end, what);
	p = pm_fmt_str(p, end, " space ");
	p = pm_fmt_u64(p, end, sp->id);
	p = pm_fmt_str(p, end, " (working set ");
	p = pm_fmt_u64(p, end, sp->ws);
	p = pm_fmt_str(p, end, " pages)\n");
	pm_prim_say(msg);
}

static void suspend(struct pagemu *vm, pm_space_t *sp)
{
	sp->suspended = 1;
	sp->suspend_seq = ++vm->suspend_seq;
	sp->since = vm->stats.space_switches;
	sp->st.suspended = 1;
	PM_COUNT(vm, load_suspends);
	say_load(vm, "suspends", sp);
	pm_reclaim_space(vm, sp->id);
}

static void resume(struct pagemu *vm, pm_space_t *sp)
{
	sp->suspended = 0;
	sp->since = vm->stats.space_switches;
	sp->st.suspended = 0;
	PM_COUNT(vm, load_resumes);
	say_load(vm, "resumes", sp);
}

/* The suspended space waiting longest, or the running one admitted
 * longest ago (suspended = 0). */
static pm_space_t *oldest(struct pagemu *vm, int suspended)
{
	pm_space_t *o = NULL;

	for (unsigned id = 0; id < PM_SPACES_MAX; id++) {
		pm_space_t *sp = space_of(vm, id);
		if (sp->live && sp->suspended == suspended &&
		    (!o || (suspended ? sp->suspend_seq < o->suspend_seq : sp->since < o->since)))
			o = sp;
	}
	return o;
}

/* Switches a suspended space waits, at most, while others run: then it
 * changes places with the space admitted longest ago (no space starves). */
#define ROTATE_PER_ACTIVE 4

/* While the running spaces' working sets exceed the pool, suspend the one
 * with the largest (its pages go to swap: a medium-term scheduler's swap
 * out); then resume the longest suspended while its working set fits.
 * One that waited ROTATE_PER_ACTIVE switches per running space without
 * fitting takes the place of the space admitted longest ago (one such
 * rotation per that many switches), as the
 * working-set model's swapping rotates the processes it keeps in memory.
 * At least one space always runs. Called at a switch, before it. */
static void load_control(struct pagemu *vm)
{
	unsigned nactive;
	uint64_t sum = active_ws(vm, &nactive);
	pm_space_t *next;

	while (sum > vm->nframes && nactive > 1) {
		pm_space_t *big = NULL;
		for (unsigned id = 0; id < PM_SPACES_MAX; id++) {
			pm_space_t *sp = space_of(vm, id);
			if (sp->live && !sp->suspended && (!big || sp->ws > big->ws))
				big = sp;
		}
		suspend(vm, big);
		sum -= big->ws;
		nactive--;
	}
	while ((next = oldest(vm, 1)) && (!nactive || sum + next->ws <= vm->nframes)) {
		resume(vm, next);
		sum += next->ws;
		nactive++;
	}
	uint64_t period = ROTATE_PER_ACTIVE * (uint64_t)(nactive + 1), now = vm->stats.space_switches;
	if (next && now - next->since >= period && now - vm->rotated_at >= period) {
		pm_space_t *out = oldest(vm, 0);
		suspend(vm, out);
		resume(vm, next);
		vm->rotated_at = now;            /* (one rotation a period: the waiting ones take turns) */
	}
}

int pagemu_space_switch(pagemu_t *vm, pagemu_space_t *sp)
{
	int rc = check_space(sp, "pagemu_space_switch");

	if (rc == 0 && (!vm || sp->vm != vm)) {
		pm_set_error("pagemu_space_switch: the space is not the instance's");
		rc = -EINVAL;
	}
	if (rc < 0)
		return rc;
	pm_lock(vm);
	quiesce(vm);
	if (pinned_here(vm)) {
		pm_unlock(vm);
		pm_set_error("pagemu_space_switch: the current space has pinned pages (pagemu_unpin them first)");
		return -EBUSY;
	}
	/* Load control first, on the working sets of the windows completed
	 * so far: a space it suspends does not run, and nothing else changes. */
	if (vm->cfg.load_control)
		load_control(vm);
	if (sp->suspended) {
		pm_unlock(vm);
		pm_set_error("pagemu_space_switch: space %u is suspended by load control", sp->id);
		return -EAGAIN;
	}
	switch_out(vm);
	switch_in(vm, sp);
	PM_COUNT(vm, space_switches);
	pm_unlock(vm);
	return 0;
}

/* ---- free, reset ------------------------------------------------------------- */

/* The space sp (not current) goes: its regions, pages and page table
 * (frames and slots others share stay theirs), its TLB entries, its slot. */
static void space_end(struct pagemu *vm, pm_space_t *sp)
{
	pm_mapping_drop_space(vm, sp->id, 1);
	pm_reclaim_release_range(vm, sp->id, 0, (1ULL << vm->pt.geom.vpn_bits) - 1);
	PM_ASSERT(sp->frames == 0 && sp->pt.nodes == 1);
	pm_arena_release(&vm->arena, sp->pt.root);
	if (vm->cfg.tlb_exact && vm->cfg.tlb_asid)
		pm_tlb_flush_asid(&vm->tlb, sp->id);
	sp->live = 0;
	vm->nspaces--;
}

int pagemu_space_free(pagemu_space_t *sp)
{
	int rc = check_space(sp, "pagemu_space_free");
	struct pagemu *vm;

	if (rc < 0)
		return rc;
	vm = sp->vm;
	pm_lock(vm);
	if (sp->id == vm->cur) {
		pm_unlock(vm);
		pm_set_error("pagemu_space_free: space %u is the current one (switch away first)", sp->id);
		return -EBUSY;
	}
	quiesce(vm);
	pm_swapio_drain(vm);             /* no write may land in a slot freed here */
	space_end(vm, sp);
	pm_writeback_trim_swap(vm, 0);
	pm_unlock(vm);
	return 0;
}

int pagemu_space_reset(pagemu_space_t *sp)
{
	int rc = check_space(sp, "pagemu_space_reset");
	struct pagemu *vm;

	if (rc < 0)
		return rc;
	vm = sp->vm;
	pm_lock(vm);
	quiesce(vm);
	pm_swapio_drain(vm);
	pm_mapping_drop_space(vm, sp->id, 0);
	pm_writeback_trim_swap(vm, 0);
	pm_unlock(vm);
	return 0;
}

int pagemu_space_set_quota(pagemu_space_t *sp, uint64_t frames)
{
	int rc = check_space(sp, "pagemu_space_set_quota");

	if (rc < 0)
		return rc;
	if (frames > sp->vm->nframes) {
		pm_set_error("pagemu_space_set_quota: %llu frames is more than the pool's %llu",
			     (unsigned long long)frames, (unsigned long long)sp->vm->nframes);
		return -EINVAL;
	}
	pm_lock(sp->vm);
	sp->quota = frames;
	pm_unlock(sp->vm);
	return 0;
}

/* ---- fork ------------------------------------------------------------------ */

struct fork_arg {
	struct pagemu *vm;
	pm_space_t    *child;
	int            err;
};

/* One PTE of the parent into the child: a resident anonymous page is
 * shared, both PTEs copy-on-write; an object page is mapped by one more
 * PTE (a private mapping's view stays copy-on-write); a page in swap is
 * shared by its slot. Reservation windows are the parent's alone. */
static void fork_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	struct fork_arg *a = ctx;
	struct pagemu *vm = a->vm;
	pm_pte_t copy = *pte & ~(PM_PTE_M | PM_PTE_W | PM_PTE_K | PM_PTE_T | PM_PTE_R), *c;

	if (a->err || !(pte_present(*pte) || pte_swapped(*pte)))
		return;
	if (!(c = pm_pt_ensure(&a->child->pt, vpn))) {
		a->err = -ENOMEM;
		return;
	}
	if (pte_swapped(*pte)) {
		if (pm_swapmap_dup(&vm->swapmap, pte_slot(*pte)) < 0) {
			a->err = -ENOMEM;
			return;
		}
		*c = copy;
		return;
	}
	pm_frame_t *f = &vm->frames.f[pte_ppn(*pte)];
	if (f->obj) {
		f->mapcount++;
	} else {
		f->shares++;
		*pte = pte_mkcow(*pte);
		copy = pte_mkcow(copy);
	}
	*c = copy;
}

int pagemu_space_fork(pagemu_space_t *sp, pagemu_space_t **out)
{
	int rc = check_space(sp, "pagemu_space_fork");
	struct pagemu *vm;
	int id;

	if (rc < 0 || !out)
		return rc < 0 ? rc : -EINVAL;
	vm = sp->vm;
	pm_lock(vm);
	if (sp->id == vm->cur && pm_inflight(vm)) {
		pm_unlock(vm);
		pm_set_error("pagemu_space_fork: a page of the space is being read in (a fault in flight): fork it after");
		return -EBUSY;
	}
	pm_readahead_drain(vm);
	if ((id = slot_new(vm)) < 0) {
		pm_unlock(vm);
		return id;
	}
	pm_space_t *child = space_of(vm, (unsigned)id);
	/* The parent's pages become read-only where they are mapped, as the
	 * kernel's fork write-protects the parent's PTEs: its reads go on
	 * without a fault, its first write to a shared page copies it. */
	if (sp->id == vm->cur)
		pm_mmu_wrprotect_all(vm);
	struct fork_arg a = { vm, child, 0 };
	for (size_t i = 0; i < vm->nregions_hw && !a.err; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!r->live || r->space != sp->id)
			continue;
		pm_region_t *c = pm_region_new(vm, child->id, r->start, r->end, r->prot);
		if (!c) {
			a.err = -ENOMEM;
			break;
		}
		c->obj = r->obj;
		c->shared = r->shared;
		c->pgoff = r->pgoff;
		pm_pt_walk_range(pm_space_pt(vm, sp->id), pm_va_vpn(vm, r->start), pm_va_vpn(vm, r->end - 1), fork_visit,
				 &a, 0);
	}
	if (a.err) {
		space_end(vm, child);          /* (half forked: what it has goes) */
		pm_unlock(vm);
		pm_set_error("pagemu_space_fork: out of page-table or region memory");
		return a.err;
	}
	child->quota = sp->quota;
	PM_COUNT(vm, space_forks);
	pm_unlock(vm);
	*out = child;
	return 0;
}

/* ---- statistics -------------------------------------------------------------- */

int pagemu_space_stats(pagemu_space_t *sp, pagemu_space_stats_t *out)
{
	int rc = check_space(sp, "pagemu_space_stats");
	struct pagemu *vm;

	if (rc < 0 || !out)
		return rc < 0 ? rc : -EINVAL;
	vm = sp->vm;
	pm_lock(vm);
	*out = sp->st;
	out->id = sp->id;
	out->current = sp->id == vm->cur;
	out->suspended = sp->suspended;
	out->quota = sp->quota;
	out->quanta = sp->quanta;
	out->resident = sp->frames;
	out->working_set = sp->ws;
	out->regions = 0;
	for (size_t i = 0; i < vm->nregions_hw; i++)
		out->regions += vm->regions[i].live && vm->regions[i].space == sp->id;
	pm_unlock(vm);
	return 0;
}
