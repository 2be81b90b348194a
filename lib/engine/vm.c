/* vm.c - the instance: open and close, pinning, statistics and
 * translation of a live address (the regions' calls are mapping.c's).
 * Everything that changes the page table or the region table runs under
 * vm->lock, outside the fault handler. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"

#define REGIONS_MAX 65536                 /* regions per instance */
#define VA_BITS     48                    /* modeled virtual address width */
#define PT_LEVELS   4

/* ---- the mapping budget, shared by the instances of the process ---------- */

static atomic_long budget_left = -1;

static size_t budget_take(size_t want)
{
	long left = atomic_load(&budget_left);

	if (left < 0) {
		/* The VMAs the process does not use yet, less a slack for the
		 * rest of the program (libraries, malloc arenas, thread stacks). */
		long total = pm_prim_max_map_count() - pm_prim_map_count() - 4096;
		long expect = -1;
		atomic_compare_exchange_strong(&budget_left, &expect, total < 64 ? 64 : total);
	}
	for (;;) {
		left = atomic_load(&budget_left);
		long got = (long)want < left ? (long)want : left;
		if (got < 16)
			got = 16;       /* always enough to make progress */
		if (atomic_compare_exchange_weak(&budget_left, &left, left - got))
			return (size_t)got;
	}
}

static void budget_give(size_t n)
{
	atomic_fetch_add(&budget_left, (long)n);
}

/* ---- hooks of the layers above --------------------------------------------- */

static void (*_Atomic close_hooks[4])(pagemu_t *vm);

int pm_engine_on_close(void (*fn)(pagemu_t *vm))
{
	for (size_t i = 0; i < PM_ARRAY_LEN(close_hooks); i++) {
		void (*expect)(pagemu_t *) = NULL;
		if (atomic_load(&close_hooks[i]) == fn ||
		    atomic_compare_exchange_strong(&close_hooks[i], &expect, fn))
			return 0;
	}
	return -ENOSPC;
}

void pm_engine_run_close_hooks(struct pagemu *vm)
{
	for (size_t i = 0; i < PM_ARRAY_LEN(close_hooks); i++) {
		void (*fn)(pagemu_t *) = atomic_load(&close_hooks[i]);
		if (fn)
			fn(vm);
	}
}

/* ---- open and close ------------------------------------------------------- */

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

/* Carve every table out of one lazily-backed mapping made now, so that the
 * fault handler never allocates. */
static int tables_init(struct pagemu *vm)
{
	pm_pt_geom_t g;
	size_t node, off = 0, o_spaces, o_frames, o_policy, o_swap, o_regions, o_objects, o_pcache, o_tlb, o_arena, arena_len, tlb_len;
	uint64_t pcache_slots = 2;
	const pagemu_config_t *c = &vm->cfg;
	char *mem;

	if (pm_pt_geom_init(&g, VA_BITS - vm->page_shift, PT_LEVELS, NULL) < 0 ||
	    pm_tlb_mem_size(c->tlb_sets[0], c->tlb_ways[0], c->tlb_sets[1], c->tlb_ways[1], &tlb_len) < 0)
		return -EINVAL;
	node = pm_pt_node_size(&g);
	/* Worst case one leaf (and its parents) per page that can exist. */
	arena_len = align_up((vm->nframes + vm->nslots + 64) * node * 2, node);
	if (arena_len > (1ULL << 40))
		arena_len = 1ULL << 40;
	o_frames = off;  off = align_up(off + pm_frames_mem_size(vm->nframes), 64);
	o_policy = off;  off = align_up(off + vm->policy->state_size(vm->nframes), 64);
	o_swap = off;    off = align_up(off + pm_swapmap_mem_size(vm->nslots, c->swap_checksum), 64);
	o_regions = off; off = align_up(off + REGIONS_MAX * sizeof(pm_region_t), 64);
	o_spaces = off;  off = align_up(off + PM_SPACES_MAX * sizeof(pm_space_t), 64);
	while (pcache_slots < 2 * vm->nframes)
		pcache_slots <<= 1;
	o_objects = off; off = align_up(off + PM_OBJECTS_MAX * sizeof(pm_object_t), 64);
	o_pcache = off;  off = align_up(off + pcache_slots * sizeof(uint32_t), 64);
	o_tlb = off;     off = align_up(off + tlb_len, node);
	o_arena = off;
	/* Only address space, backed as used. Under a limit on it (ulimit
	 * -v), the page-table arena takes an eighth of what is left at most
	 * (its worst case is one table per page; the program and the pool
	 * need the rest), less if even that cannot be had: a fault that then
	 * finds it spent gets SIGBUS, saying so. */
	uint64_t room = pm_prim_as_room() / 8;
	if (room < arena_len)
		arena_len = align_up(room > 64 * node ? room - node : 64 * node, node);
	for (;;) {
		mem = pm_prim_alloc_tables(off + arena_len);
		if (mem || arena_len <= 64 * node)
			break;
		arena_len = align_up(arena_len / 2, node);
	}
	if (!mem)
		return -ENOMEM;
	off += arena_len;
	vm->tables_mem = mem;
	vm->tables_len = off;
	pm_frames_init(&vm->frames, vm->nframes, mem + o_frames);
	vm->policy_state = mem + o_policy;
	vm->policy->init(vm->policy_state, vm->nframes, vm->cfg.seed);
	pm_swapmap_init(&vm->swapmap, vm->nslots, mem + o_swap, c->swap_checksum);
	vm->regions = (pm_region_t *)(mem + o_regions);
	vm->spaces = (pm_space_t *)(mem + o_spaces);
	vm->objects = (pm_object_t *)(mem + o_objects);
	vm->pcache = (uint32_t *)(mem + o_pcache);
	vm->pcache_mask = pcache_slots - 1;
	vm->nregions_max = REGIONS_MAX;
	if (pm_tlb_init(&vm->tlb, c->tlb_sets[0], c->tlb_ways[0], c->tlb_sets[1], c->tlb_ways[1], mem + o_tlb) < 0 ||
	    pm_tlb_set_policy(&vm->tlb, c->tlb_policy, c->seed) < 0)
		return -EINVAL;
	vm->tlb_mru_only = c->tlb_exact && pm_tlb_policy_sees_hits(c->tlb_policy[0]);
	pm_arena_init(&vm->arena, mem + o_arena, arena_len, node);
	pm_space_init(vm);
	return pm_pt_init(&vm->pt, &g, &vm->arena);
}

/* A fresh instance from a validated configuration, with no resource yet. */
static struct pagemu *instance_new(const pagemu_config_t *cfg)
{
	struct pagemu *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	atomic_store(&vm->lock, 0);
	vm->cfg = *cfg;
	vm->page = cfg->page_size;
	vm->page_shift = pm_log2(cfg->page_size);
	vm->nframes = cfg->frames;
	vm->nslots = cfg->swap_size / cfg->page_size;
	vm->policy = pm_policy_get(cfg->policy);
	vm->ra_window = cfg->readahead;
	vm->pool_fd = -1;
	vm->trace_fd = -1;
	vm->check_faults = PM_DEBUG && getenv("PAGEMU_CHECK") && strcmp(getenv("PAGEMU_CHECK"), "1") == 0;
	pm_assert_say = pm_prim_say;        /* assertions write with the raw write */
	pm_reclaim_env_init(vm);
	pm_crc32c_init();                   /* its tables, before a fault needs them */
	return vm;
}

/* The frame pool (a sparse memfd: frames get memory as they are first
 * used) and the physmap. 0 or -errno with a message. */
static int pool_open(struct pagemu *vm)
{
	uint64_t size = (uint64_t)vm->nframes * vm->page;
	int rc = pm_prim_memfd("pagemu-pool", size);

	if (rc < 0) {
		pm_set_error("frames (PAGEMU_FRAMES) = %zu: cannot create the frame pool: %s", vm->cfg.frames,
			     strerror(-rc));
		return rc;
	}
	vm->pool_fd = rc;
	vm->physmap = pm_prim_map_pool(vm->pool_fd, size);
	if (!vm->physmap) {
		pm_set_error("frames (PAGEMU_FRAMES) = %zu: cannot map the frame pool (%llu bytes)", vm->cfg.frames,
			     (unsigned long long)size);
		pm_prim_close(vm->pool_fd);
		return -ENOMEM;
	}
	return 0;
}

static void say_open(const struct pagemu *vm)
{
	const pagemu_config_t *cfg = &vm->cfg;

	fprintf(stderr, "pagemu: open: %zu frames of %zu bytes, swap %llu MiB in %s%s%s, policy %s, map budget %zu%s%s\n",
		cfg->frames, vm->page, (unsigned long long)(cfg->swap_size >> 20), cfg->swap_dir,
		cfg->swap_direct ? " (O_DIRECT)" : "", cfg->swap_checksum ? " with crc32c" : "",
		pagemu_policy_name(cfg->policy), vm->map_budget,
		cfg->tlb_exact ? ", exact TLB, L1 " : "", cfg->tlb_exact ? pagemu_tlb_policy_name(cfg->tlb_policy[0]) : "");
}

int pagemu_open(const pagemu_config_t *cfg, pagemu_t **out)
{
	struct pagemu *vm;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		pm_set_error("pagemu_open: cfg is NULL (fill one with pagemu_config_default)");
		return -EINVAL;
	}
	if ((rc = pagemu_config_validate(cfg)) < 0 || (rc = pm_config_check_memory(cfg, NULL)) < 0)
		return rc;
	rc = pm_signal_init(pm_fault_entry);
	if (rc < 0) {
		pm_set_error("libsigsegv: cannot install the SIGSEGV handler");
		return rc;
	}
	if (!(vm = instance_new(cfg)))
		return -ENOMEM;
	rc = tables_init(vm);
	if (rc < 0) {
		pm_set_error("frames/swap_size: cannot map pagemu's tables: %s", strerror(-rc));
		goto err_tables;
	}
	if ((rc = pool_open(vm)) < 0)
		goto err_tables;
	if ((rc = pm_swapio_open(vm, pm_writeback_done)) < 0)
		goto err_pool;
	if ((rc = pm_tracefile_open(vm)) < 0)
		goto err_swapio;
	/* Two VMAs per frame is the most scattered pages can use. */
	vm->map_budget = budget_take(cfg->map_budget ? cfg->map_budget : 2 * vm->nframes + 1024);
	vm->stats.map_budget = vm->map_budget;
	pm_fork_register(vm);
	if (cfg->verbose)
		say_open(vm);
	*out = vm;
	return 0;

err_swapio:
	pm_swapio_close(vm);
err_pool:
	pm_prim_release(vm->physmap, vm->nframes * vm->page);
	pm_prim_close(vm->pool_fd);
err_tables:
	if (vm->tables_mem)
		pm_prim_release(vm->tables_mem, vm->tables_len);
	free(vm);
	return rc;
}


void pagemu_close(pagemu_t *vm)
{
	if (!vm)
		return;
	if (vm->cfg.verbose)
		fprintf(stderr, "pagemu: close: %llu faults (%llu major), %llu evictions\n",
			(unsigned long long)vm->stats.faults, (unsigned long long)vm->stats.faults_major,
			(unsigned long long)vm->stats.evictions);
	pm_fork_unregister(vm);
	pm_engine_run_close_hooks(vm);      /* the heap's, before its regions go */
	pm_lock(vm);
	pm_readahead_drain(vm);
	while (pm_inflight(vm))
		pm_wait_busy(vm);
	pm_swapio_drain(vm);
	pm_filemap_close(vm);
	pm_mapping_release_all(vm);
	pm_unlock(vm);
	budget_give(vm->map_budget);
	pm_tracefile_close(vm);
	pm_swapio_close(vm);
	pm_prim_release(vm->physmap, vm->nframes * vm->page);
	pm_prim_close(vm->pool_fd);
	pm_prim_release(vm->tables_mem, vm->tables_len);
	free(vm);
}

/* ---- pinning ---------------------------------------------------------------- */

/* Make the page at va resident and mapped as the kernel will use it.
 * Called with vm->lock held. */
static int pin_page(struct pagemu *vm, uintptr_t va)
{
	for (int tries = 0; tries < 4; tries++) {
		pm_region_t *r = pm_region_find(vm, va);
		if (!r || !(r->prot & PROT_READ))
			return -EFAULT;
		int want_write = (r->prot & PROT_WRITE) != 0;
		pm_pte_t *pte = pm_pt_lookup(&vm->pt, pm_va_vpn(vm, va), NULL);
		if (pte && pte_mapped(*pte) && (pte_write(*pte) || !want_write)) {
			vm->frames.f[pte_ppn(*pte)].pins++;
			vm->pins_held++;
			return 0;
		}
		struct pm_fault f = { .vm = vm, .region = r, .va = va,
				      .access = want_write ? PM_ACCESS_WRITE : PM_ACCESS_READ };
		enum pm_fault_outcome out = pm_fault_handle(&f);
		if (out == PM_FAULT_SIGBUS) {
			pm_prim_unmap_page((void *)(va & ~(uintptr_t)(vm->page - 1)), vm->page);
			return -ENOMEM;
		}
		if (out == PM_FAULT_DECLINE)
			return -EFAULT;
		if (out == PM_FAULT_RETRY) {     /* being read in by another thread */
			pm_wait_busy(vm);
			tries--;
		}
	}
	return -EFAULT;
}

int pagemu_pin(pagemu_t *vm, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(vm ? vm->page - 1 : 0), end = (uintptr_t)addr + len;
	int rc = 0;

	if (!vm || !len || end < a)
		return -EINVAL;
	pm_lock(vm);
	for (uintptr_t va = a; va < end && rc == 0; va += vm->page) {
		rc = pin_page(vm, va);
		if (rc < 0 && va > a)  /* undo what this call pinned */
			for (uintptr_t u = a; u < va; u += vm->page) {
				vm->frames.f[pte_ppn(*pm_pt_lookup(&vm->pt, pm_va_vpn(vm, u), NULL))].pins--;
				PM_DEC(vm->pins_held);
			}
	}
	pm_unlock(vm);
	return rc;
}

int pagemu_unpin(pagemu_t *vm, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(vm ? vm->page - 1 : 0), end = (uintptr_t)addr + len;
	int rc = 0;

	if (!vm || !len || end < a)
		return -EINVAL;
	pm_lock(vm);
	for (uintptr_t va = a; va < end; va += vm->page) {
		pm_pte_t *pte = pm_pt_lookup(&vm->pt, pm_va_vpn(vm, va), NULL);
		if (pte && pte_present(*pte) && vm->frames.f[pte_ppn(*pte)].pins) {
			vm->frames.f[pte_ppn(*pte)].pins--;
			if (vm->pins_held)
				vm->pins_held--;
		} else
			rc = -EINVAL;          /* not pinned */
	}
	pm_unlock(vm);
	return rc;
}

/* ---- statistics and translation --------------------------------------------- */

size_t pagemu_page_size(const pagemu_t *vm)
{
	return vm->page;
}

uint64_t pagemu_capacity(const pagemu_t *vm)
{
	return (vm->nframes + vm->nslots) * vm->page;
}

void pagemu_get_stats(pagemu_t *vm, pagemu_stats_t *out)
{
	pm_lock(vm);
	vm->stats.frames_free = vm->frames.nfree;
	vm->stats.swap_used = vm->swapmap.used;
	vm->stats.map_budget = vm->map_budget;
	vm->stats.reserved = vm->reserved;
	vm->stats.vmas = vm->vmas;
	vm->stats.parked = vm->parked;
	vm->stats.file_pages = vm->cached;
	vm->stats.shared_frames = 0;
	vm->stats.spaces = vm->nspaces;
	for (uint64_t ppn = 0; ppn < pm_frames_end(vm) && (vm->cached || vm->stats.space_forks); ppn++)
		vm->stats.shared_frames += vm->frames.f[ppn].state == PM_FRAME_USED &&
					   (vm->frames.f[ppn].mapcount > 1 || vm->frames.f[ppn].shares);
	*out = vm->stats;
	pm_swapio_stats(vm, out);
	pm_unlock(vm);
}

int pagemu_translate(pagemu_t *vm, uintptr_t va, int access, pagemu_xlate_t *out)
{
	unsigned levels, tlb_bits = (unsigned)__builtin_ctz(vm->cfg.tlb_sets[0]);
	pm_region_t *r;
	pm_pte_t *pte;

	memset(out, 0, sizeof(*out));
	out->va = va;
	out->vpn = pm_va_vpn(vm, va);
	out->vpo = va & (vm->page - 1);
	out->tlbi = out->vpn & (vm->cfg.tlb_sets[0] - 1);
	out->tlbt = out->vpn >> tlb_bits;
	pm_lock(vm);
	if (vm->cfg.tlb_exact) {
		uint64_t ppn;
		out->tlb_hit = (int)pm_tlb_probe(&vm->tlb, out->vpn, &ppn);
	}
	r = pm_region_find(vm, va);
	if (!r) {
		pm_unlock(vm);
		return -EFAULT;
	}
	pte = pm_pt_lookup(&vm->pt, out->vpn, &levels);
	out->levels = (int)levels;
	for (unsigned l = 0; l < levels && l < PAGEMU_MAX_LEVELS; l++)
		out->level_index[l] = pm_pt_index(&vm->pt.geom, out->vpn, l);
	out->page_fault = !pte || !pte_present(*pte);
	out->prot_fault = ((access & PROT_WRITE) && !(r->prot & PROT_WRITE)) ||
			  ((access & PROT_EXEC) && !(r->prot & PROT_EXEC)) || !(r->prot & PROT_READ);
	if (pte && pte_present(*pte)) {
		out->ppn = pte_ppn(*pte);
		out->pa = (out->ppn << vm->page_shift) | out->vpo;
		out->dirty = pte_dirty(*pte);
		out->accessed = pte_young(*pte);
	}
	if (pte && pte_swapped(*pte)) {
		out->swapped = 1;
		out->swap_slot = pte_slot(*pte);
	}
	pm_unlock(vm);
	return 0;
}
