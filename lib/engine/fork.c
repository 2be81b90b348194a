/* fork.c - fork(): parent and child each keep a private, correct view of
 * emulated memory, including pages that were in swap at the fork.
 *
 * A forked child inherits the pool memfd and the swap file as *shared*
 * files, and the io_uring ring: used as they are, each side would see and
 * overwrite the other's frames and slots. So, in pthread_atfork handlers:
 *   prepare  every instance is locked with its write-backs drained, its
 *            shared mappings handed to the kernel (filemap.c: both sides
 *            must see each other's writes), and a copy is made for the
 *            child: a new pool holding the frames in use, a new swap
 *            file holding the slots in use (copied in the kernel).
 *            Copying before the fork means the parent cannot change
 *            what the child copies once it runs again.
 *   parent   closes its references to the copies and unlocks.
 *   child    adopts the copies (a new physmap, a new ring), drops every
 *            real mapping (they map the parent's pool; pinned pages are
 *            mapped again), leaves the parent's trace (tracefile.c) and
 *            unlocks.
 * posix_spawn and vfork do not run atfork handlers: they stay cheap. A
 * real fork costs a copy of the frames and the swap in use. A fork made
 * without the atfork handlers (the fork system call made directly,
 * glibc's _Fork, clone without CLONE_VM) needs the same: the LD_PRELOAD
 * shim's syscall guard sees those calls and runs the handlers around them
 * itself (pm_fork_prepare & co., engine_api.h). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"

#define MAX_INSTANCES 256

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pagemu *instances[MAX_INSTANCES];
static atomic_int prepared;               /* a fork is prepared (list_lock held)... */
static pthread_t  preparer;               /* ...by this thread */

static void install(void);
static void (*hook_enter)(void), (*hook_leave)(void);

void pm_fork_set_hooks(void (*enter)(void), void (*leave)(void))
{
	hook_enter = enter;
	hook_leave = leave;
}

static void enter(void)
{
	if (hook_enter)
		hook_enter();
}

static void leave(void)
{
	if (hook_leave)
		hook_leave();
}

static pthread_once_t install_once = PTHREAD_ONCE_INIT;

void pm_fork_register(struct pagemu *vm)
{
	pthread_once(&install_once, install);      /* the atfork handlers, once */
	vm->fork_pool_fd = vm->fork_swap_fd = -1;
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

/* A new pool holding a copy of the frames in use: its fd, or -errno. */
static int copy_pool(struct pagemu *vm)
{
	uint64_t size = vm->nframes * vm->page;
	int fd = pm_prim_memfd("pagemu-pool", size);
	char *copy;

	if (fd < 0)
		return fd;
	copy = pm_prim_map_pool(fd, size);
	if (!copy) {
		pm_prim_close(fd);
		return -ENOMEM;
	}
	for (uint64_t f = 0; f < pm_frames_end(vm); f++)
		if (vm->frames.f[f].state == PM_FRAME_USED)
			memcpy(copy + f * vm->page, vm->physmap + f * vm->page, vm->page);
	pm_prim_release(copy, size);
	return fd;
}

static void close_copies(struct pagemu *vm)
{
	if (vm->fork_pool_fd >= 0)
		pm_prim_close(vm->fork_pool_fd);
	if (vm->fork_swap_fd >= 0)
		pm_prim_close(vm->fork_swap_fd);
	vm->fork_pool_fd = vm->fork_swap_fd = -1;
}

void pm_fork_prepare(void)
{
	enter();
	pthread_mutex_lock(&list_lock);
	preparer = pthread_self();
	atomic_store(&prepared, 1);
	for (int i = 0; i < MAX_INSTANCES; i++) {
		struct pagemu *vm = instances[i];
		if (!vm)
			continue;
		pm_lock(vm);
		pm_readahead_drain(vm);
		while (pm_inflight(vm))        /* the child could not finish them */
			pm_wait_busy(vm);
		pm_filemap_fork(vm);           /* shared mappings: the kernel's from now on */
		pm_swapio_drain(vm);
		vm->fork_pool_fd = copy_pool(vm);
		vm->fork_swap_fd = vm->fork_pool_fd >= 0 ? pm_swapio_copy(vm) : -1;
		if (vm->fork_swap_fd < 0)
			close_copies(vm);     /* the child will report it */
	}
	leave();
}

void pm_fork_parent(void)
{
	enter();
	atomic_store(&prepared, 0);
	for (int i = 0; i < MAX_INSTANCES; i++)
		if (instances[i]) {
			close_copies(instances[i]);
			pm_unlock(instances[i]);
		}
	pthread_mutex_unlock(&list_lock);
	leave();
}

static int adopt(struct pagemu *vm)
{
	uint64_t size = vm->nframes * vm->page;
	char *phys;

	if (vm->fork_pool_fd < 0 || vm->fork_swap_fd < 0)
		return -ENOMEM;
	phys = pm_prim_map_pool(vm->fork_pool_fd, size);
	if (!phys)
		return -ENOMEM;
	pm_prim_release(vm->physmap, size);
	pm_prim_close(vm->pool_fd);
	vm->pool_fd = vm->fork_pool_fd;
	vm->physmap = phys;
	vm->fork_pool_fd = -1;
	pm_mmu_drop_all(vm, 0);          /* every VA a reservation again */
	pm_tlb_flush(&vm->tlb);
	/* Pinned pages must stay reachable for the kernel: map them again. */
	for (uint64_t f = 0; f < pm_frames_end(vm); f++) {
		pm_frame_t *fr = &vm->frames.f[f];
		pm_region_t *r;
		if (fr->state != PM_FRAME_USED || !fr->pins || (!fr->obj && fr->space != vm->cur))
			continue;
		r = pm_region_find(vm, pm_vpn_va(vm, fr->vpn));
		if (r)
			pm_map_pte(vm, fr->vpn, fr->pte, r->prot & (pte_dirty(*fr->pte) ? ~0 : ~PROT_WRITE));
	}
	int fd = vm->fork_swap_fd;
	vm->fork_swap_fd = -1;
	return pm_swapio_adopt(vm, fd);
}

void pm_fork_child(void)
{
	enter();
	atomic_store(&prepared, 0);
	for (int i = 0; i < MAX_INSTANCES; i++) {
		struct pagemu *vm = instances[i];
		if (!vm)
			continue;
		pm_tracefile_forked(vm);
		if (adopt(vm) < 0) {
			pm_prim_say("pagemu: fork: could not copy emulated memory for the child; its faults get SIGBUS\n");
			vm->broken = 1;
		}
		pm_unlock(vm);
	}
	pthread_mutex_unlock(&list_lock);
	leave();
}

int pm_fork_prepared(void)
{
	return atomic_load(&prepared) && pthread_equal(preparer, pthread_self());
}

static void install(void)
{
	pthread_atfork(pm_fork_prepare, pm_fork_parent, pm_fork_child);
}
