/* fork.c - fork(): parent and child each keep a private, correct view of
 * emulated memory, including pages that were in swap at the fork.
 *
 * A forked child inherits the pool memfd and the swap file as *shared*
 * files, and the io_uring ring: used as they are, each side would see and
 * overwrite the other's frames and slots. So, in pthread_atfork handlers:
 *   prepare  every instance is locked with its write-backs drained;
 *   parent   unlocked, nothing else changes;
 *   child    a new pool with the used frames copied, every real mapping
 *            dropped (they map the parent's pool; pinned pages are mapped
 *            again), a new swap file with the used slots copied in the
 *            kernel, a new ring; then unlocked.
 * posix_spawn and vfork do not run atfork handlers: they stay cheap. The
 * cost is in the child of a real fork: a copy of the frames in use and of
 * the swap in use. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define MAX_INSTANCES 256

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pagemu *instances[MAX_INSTANCES];

void pm_fork_register(struct pagemu *vm)
{
	pthread_mutex_lock(&list_lock);
	for (int i = 0; i < MAX_INSTANCES; i++)
		if (!instances[i]) {
			instances[i] = vm;
			break;
		}
	pthread_mutex_unlock(&list_lock);
}

void pm_fork_unregister(struct pagemu *vm)
{
	pthread_mutex_lock(&list_lock);
	for (int i = 0; i < MAX_INSTANCES; i++)
		if (instances[i] == vm)
			instances[i] = NULL;
	pthread_mutex_unlock(&list_lock);
}

static void prepare(void)
{
	pthread_mutex_lock(&list_lock);
	for (int i = 0; i < MAX_INSTANCES; i++) {
		struct pagemu *vm = instances[i];
		if (!vm)
			continue;
		pm_lock(vm);
		while (pm_swapio_inflight(vm))
			if (pm_swapio_reap(vm, 1) < 0)
				break;
	}
}

static void parent(void)
{
	for (int i = 0; i < MAX_INSTANCES; i++)
		if (instances[i])
			pm_unlock(instances[i]);
	pthread_mutex_unlock(&list_lock);
}

/* Forget every real translation: the VAs are reservations again. */
static void drop_visit(void *ctx, uint64_t vpn, pm_pte_t *pte)
{
	PM_UNUSED(ctx);
	PM_UNUSED(vpn);
	if (pte_present(*pte) || pte_swapped(*pte))
		*pte = pte_clear_reserved(pte_mkunmapped(*pte));
	else if (pte_reserved(*pte))
		*pte = 0;                  /* a reservation window of the parent's pool */
}

/* A private pool with the frames in use copied. */
static int copy_pool(struct pagemu *vm)
{
	uint64_t size = vm->nframes * vm->page;
	int fd = pm_prim_memfd("pagemu-pool", size);
	char *phys;

	if (fd < 0)
		return fd;
	phys = pm_prim_map_pool(fd, size);
	if (!phys) {
		close(fd);
		return -ENOMEM;
	}
	for (uint64_t f = 0; f < vm->nframes; f++)
		if (vm->frames.f[f].state == PM_FRAME_USED)
			memcpy(phys + f * vm->page, vm->physmap + f * vm->page, vm->page);
	pm_prim_release(vm->physmap, size);
	close(vm->pool_fd);
	vm->pool_fd = fd;
	vm->physmap = phys;
	return 0;
}

static int fork_child(struct pagemu *vm)
{
	int rc = copy_pool(vm);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < vm->nregions_max; i++) {
		pm_region_t *r = &vm->regions[i];
		if (r->live)
			pm_prim_unmap_page((void *)r->start, r->end - r->start);
	}
	pm_pt_walk_range(&vm->pt, 0, (1ULL << vm->pt.geom.vpn_bits) - 1, drop_visit, NULL, 0);
	vm->stats.mapped = 0;
	vm->parked = 0;
	vm->reserved = 0;
	vm->vmas = 0;
	vm->nstale = 0;
	vm->map_gen++;
	pm_tlb_flush(&vm->tlb);
	for (size_t i = 0; i < vm->nregions_max; i++)
		if (vm->regions[i].live)
			pm_mmu_region_added(vm);
	/* Pinned pages must stay reachable for the kernel: map them again. */
	for (uint64_t f = 0; f < vm->nframes; f++) {
		pm_frame_t *fr = &vm->frames.f[f];
		pm_region_t *r;
		if (fr->state != PM_FRAME_USED || !fr->pins)
			continue;
		r = pm_region_find(vm, pm_vpn_va(vm, fr->vpn));
		if (r)
			pm_map_pte(vm, fr->vpn, fr->pte, r->prot & (pte_dirty(*fr->pte) ? ~0 : ~PROT_WRITE));
	}
	return pm_swapio_fork_child(vm);
}

static void child(void)
{
	for (int i = 0; i < MAX_INSTANCES; i++) {
		struct pagemu *vm = instances[i];
		if (!vm)
			continue;
		if (fork_child(vm) < 0) {
			pm_prim_say("pagemu: fork: could not copy emulated memory for the child; its faults get SIGBUS\n");
			vm->broken = 1;
		}
		pm_unlock(vm);
	}
	pthread_mutex_unlock(&list_lock);
}

void pm_fork_install(void)
{
	pthread_atfork(prepare, parent, child);
}
