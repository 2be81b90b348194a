/* region.c - the region table (VMAs) and the process-wide dispatcher.
 *
 * libsigsegv offers one handler per process; its dispatcher routes a fault
 * address to the area registered for it. pagemu registers every region
 * there. The dispatcher is not thread-safe, so a spin lock (signal-safe)
 * guards it: registration happens outside the handler (pagemu_map and
 * friends), lookups inside it and in pagemu_owner. Lookups share the lock:
 * a signal handler that faults while its thread is inside pagemu_owner
 * must dispatch all the same. Registration takes it alone, under vm->lock
 * (so with the asynchronous signals blocked: no handler of the same thread
 * waits on it). The region table of an instance is a fixed array mapped
 * at open: a region pointer read in the handler always points to valid
 * memory; the handler re-checks the range under vm->lock. */
#include <errno.h>
#include <pthread.h>
#include <sigsegv.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/engine.h"

static sigsegv_dispatcher dispatcher;
static pthread_once_t dispatcher_once = PTHREAD_ONCE_INIT;
static atomic_int dispatch_lock;          /* lookups inside; -1: a registration */

/* The region found by the area handler, for the dispatching thread. */
static __thread pm_region_t *dispatched __attribute__((tls_model("initial-exec")));

/* A lookup waits for a registration only, never for other lookups. */
static void dlock_shared(void)
{
	int n = atomic_load_explicit(&dispatch_lock, memory_order_relaxed);

	for (;;) {
		if (n < 0) {
			__builtin_ia32_pause();
			n = atomic_load_explicit(&dispatch_lock, memory_order_relaxed);
		} else if (atomic_compare_exchange_weak_explicit(&dispatch_lock, &n, n + 1, memory_order_acquire,
								 memory_order_relaxed)) {
			return;
		}
	}
}

static void dunlock_shared(void)
{
	atomic_fetch_sub_explicit(&dispatch_lock, 1, memory_order_release);
}

static void dlock(void)
{
	int none = 0;

	while (!atomic_compare_exchange_weak_explicit(&dispatch_lock, &none, -1, memory_order_acquire,
						      memory_order_relaxed)) {
		none = 0;
		__builtin_ia32_pause();
	}
}

static void dunlock(void)
{
	atomic_store_explicit(&dispatch_lock, 0, memory_order_release);
}

/* signal context; called with dispatch_lock held. */
static int area_handler(void *fault_address, void *user_arg)
{
	PM_UNUSED(fault_address);
	dispatched = user_arg;
	return 1;
}

pm_region_t *pm_region_dispatch(void *addr)
{
	pm_region_t *outer = dispatched;      /* of a lookup a signal handler interrupted */
	pm_region_t *r;

	dlock_shared();
	dispatched = NULL;
	r = sigsegv_dispatch(&dispatcher, addr) ? dispatched : NULL;
	dunlock_shared();
	dispatched = outer;
	return r;
}

static void dispatcher_init(void)
{
	sigsegv_init(&dispatcher);
}

/* Outside the handler: the first attach makes the dispatcher (until then
 * it holds no area, and a zero tree is libsigsegv's empty one). */
static void attach_locked(pm_region_t *r)
{
	r->ticket = sigsegv_register(&dispatcher, (void *)r->start, r->end - r->start, area_handler, r);
}

static void attach(pm_region_t *r)
{
	pthread_once(&dispatcher_once, dispatcher_init);
	dlock();
	attach_locked(r);
	dunlock();
}

static void detach_locked(pm_region_t *r)
{
	if (r->ticket)
		sigsegv_unregister(&dispatcher, r->ticket);
	r->ticket = NULL;
}

static void detach(pm_region_t *r)
{
	dlock();
	detach_locked(r);
	dunlock();
}

/* A free slot: a reused one below the high-water mark, else the next. */
static pm_region_t *slot_new(struct pagemu *vm)
{
	for (size_t i = 0; i < vm->nregions_hw; i++)
		if (!vm->regions[i].live)
			return &vm->regions[i];
	if (vm->nregions_hw == vm->nregions_max)
		return NULL;
	return &vm->regions[vm->nregions_hw++];
}

pm_region_t *pm_region_new(struct pagemu *vm, unsigned space, uintptr_t start, uintptr_t end, int prot)
{
	pm_region_t *r = slot_new(vm);

	if (!r)
		return NULL;
	r->start = start;
	r->end = end;
	r->prot = prot;
	r->vm = vm;
	r->obj = 0;
	r->shared = 0;
	r->pgoff = 0;
	r->space = (uint16_t)space;
	r->ticket = NULL;
	r->live = 1;
	if (space != vm->cur)
		return r;                /* registered when its space is switched in */
	attach(r);
	if (!r->ticket) {
		r->live = 0;
		return NULL;
	}
	return r;
}

void pm_region_attach_space(struct pagemu *vm, unsigned space, int on)
{
	pthread_once(&dispatcher_once, dispatcher_init);
	dlock();
	for (size_t i = 0; i < vm->nregions_hw; i++) {
		pm_region_t *r = &vm->regions[i];
		if (!r->live || r->space != space)
			continue;
		if (on && !r->ticket)
			attach_locked(r);
		else if (!on)
			detach_locked(r);
	}
	dunlock();
}

/* The last regions deleted, for pm_region_recently_gone (a ring; an entry
 * read while it is rewritten is at worst a try too many or too few). */
#define GONE_MAX 64
static struct {
	_Atomic uintptr_t start, end;
} gone[GONE_MAX];
static atomic_uint gone_next;

int pm_region_recently_gone(uintptr_t addr)
{
	for (unsigned i = 0; i < GONE_MAX; i++)
		if (addr >= atomic_load_explicit(&gone[i].start, memory_order_relaxed) &&
		    addr < atomic_load_explicit(&gone[i].end, memory_order_relaxed))
			return 1;
	return 0;
}

void pm_region_delete(struct pagemu *vm, pm_region_t *r)
{
	PM_UNUSED(vm);
	if (r->ticket) {
		unsigned i = atomic_fetch_add_explicit(&gone_next, 1, memory_order_relaxed) % GONE_MAX;
		atomic_store_explicit(&gone[i].end, 0, memory_order_relaxed);
		atomic_store_explicit(&gone[i].start, r->start, memory_order_relaxed);
		atomic_store_explicit(&gone[i].end, r->end, memory_order_relaxed);
	}
	detach(r);
	r->live = 0;
}

/* r keeps [start, addr), tail takes [addr, end) and what r maps there. */
static void cut(struct pagemu *vm, pm_region_t *r, pm_region_t *tail, uintptr_t addr)
{
	tail->start = addr;
	tail->end = r->end;
	tail->prot = r->prot;
	tail->vm = vm;
	tail->obj = r->obj;
	tail->shared = r->shared;
	tail->pgoff = r->pgoff + ((addr - r->start) >> vm->page_shift);
	tail->space = r->space;
	tail->ticket = NULL;
	tail->live = 1;
	r->end = addr;
}

/* One registration change, all of it under the dispatcher's lock: a
 * fault in the region meanwhile (another thread's) must find one half or
 * the other, never neither (it would be declined: a SIGSEGV). A region of
 * a space not current is registered nowhere: cut alone. */
pm_region_t *pm_region_split(struct pagemu *vm, pm_region_t *r, uintptr_t addr)
{
	pm_region_t *tail = slot_new(vm);

	if (!tail)
		return NULL;
	if (!r->ticket) {
		cut(vm, r, tail, addr);
		return tail;
	}
	dlock();
	detach_locked(r);
	cut(vm, r, tail, addr);
	attach_locked(r);
	attach_locked(tail);
	if (!r->ticket || !tail->ticket) {
		/* Out of memory in the dispatcher: undo. */
		detach_locked(tail);
		tail->live = 0;
		detach_locked(r);
		r->end = tail->end;
		attach_locked(r);
		dunlock();
		return NULL;
	}
	dunlock();
	return tail;
}

pm_region_t *pm_region_find(struct pagemu *vm, uintptr_t addr)
{
	pm_region_t *r = pm_region_dispatch((void *)addr);

	return r && pm_region_here(vm, r) && r->vm == vm && addr >= r->start && addr < r->end ? r : NULL;
}

pagemu_t *pagemu_owner(const void *addr)
{
	pm_region_t *r = pm_region_dispatch((void *)addr);

	return r && r->live ? r->vm : NULL;
}
