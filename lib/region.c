/* region.c - the region table (VMAs) and the process-wide dispatcher.
 *
 * libsigsegv offers one handler per process; its dispatcher routes a fault
 * address to the area registered for it. pagemu registers every region
 * there. The dispatcher is not thread-safe, so a spin lock (signal-safe)
 * guards it: registration happens outside the handler (pagemu_map and
 * friends), lookups inside it. The region table of an instance is a fixed
 * array mapped at open: a region pointer read in the handler always points
 * to valid memory; the handler re-checks the range under vm->lock. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sigsegv.h>
#include <ucontext.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

static sigsegv_dispatcher dispatcher;
static atomic_flag dispatch_lock = ATOMIC_FLAG_INIT;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_err;

/* The region found by the area handler, for the dispatching thread. */
static __thread pm_region_t *dispatched __attribute__((tls_model("initial-exec")));

static void dlock(void)
{
	while (atomic_flag_test_and_set_explicit(&dispatch_lock, memory_order_acquire))
		__builtin_ia32_pause();
}

static void dunlock(void)
{
	atomic_flag_clear_explicit(&dispatch_lock, memory_order_release);
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
	pm_region_t *r;

	dlock();
	dispatched = NULL;
	r = sigsegv_dispatch(&dispatcher, addr) ? dispatched : NULL;
	dunlock();
	return r;
}

int pm_fault_entry(void *fault_address, int serious);   /* fault.c */

/* libsigsegv passes the handler no access type. On x86-64 the page-fault
 * error code in the signal context has it (bit 1: write), so a thin
 * SA_SIGINFO wrapper records it for this thread and hands the signal on to
 * libsigsegv's own handler, which dispatches as usual. */
static struct sigaction libsigsegv_action;
static __thread int fault_access __attribute__((tls_model("initial-exec")));
static __thread int fault_declined __attribute__((tls_model("initial-exec")));

/* A SIGSEGV handler of the program's own (gnulib's c-stack in grep, gcc's
 * crash reporter, a GC's write barrier), kept aside by whoever installs
 * handlers for the program (the LD_PRELOAD shim) instead of replacing
 * pagemu's: it gets every fault that is not pagemu's to serve. */
static struct sigaction chained_action;
static volatile int chained;

int pm_region_fault_access(void)
{
	return fault_access;
}

int pm_region_chain(const struct sigaction *act, struct sigaction *old)
{
	if (old)
		*old = chained ? chained_action : (struct sigaction){ .sa_handler = SIG_DFL };
	if (act) {
		chained = 0;
		chained_action = *act;
		chained = act->sa_handler != SIG_DFL;
	}
	return 0;
}

int pm_region_chained(void)
{
	fault_declined = 1;
	return chained;
}

/* signal context: hand a fault pagemu does not serve to the program's own
 * handler, as the kernel would have delivered it. */
static void run_chained(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction a = chained_action;

	if (a.sa_handler == SIG_IGN)
		return;                       /* the access restarts: as the program asked */
	if (a.sa_flags & SA_RESETHAND)
		chained = 0;
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, ctx);
	else
		a.sa_handler(sig);
}

/* signal context */
static void access_wrapper(int sig, siginfo_t *si, void *ctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ctx;
	fault_access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? PM_ACCESS_WRITE : PM_ACCESS_READ;
#else
	fault_access = PM_ACCESS_UNKNOWN;
#endif
	if (chained && !pm_region_dispatch(si->si_addr)) {
		run_chained(sig, si, ctx);    /* not in any region: not ours at all */
		return;
	}
	fault_declined = 0;
	libsigsegv_action.sa_sigaction(sig, si, ctx);
	if (fault_declined && chained)
		run_chained(sig, si, ctx);    /* ours, but forbidden: the program's */
}

static void wrap_handler(void)
{
	struct sigaction sa;

	if (sigaction(SIGSEGV, NULL, &libsigsegv_action) < 0 || !(libsigsegv_action.sa_flags & SA_SIGINFO))
		return;         /* not what we expect: libsigsegv alone, access unknown */
	sa = libsigsegv_action;
	sa.sa_sigaction = access_wrapper;
	sigaction(SIGSEGV, &sa, NULL);
}

static void global_init(void)
{
	sigsegv_init(&dispatcher);
	if (sigsegv_install_handler(pm_fault_entry) < 0)
		global_err = -ENOTSUP;
	else
		wrap_handler();
	pm_fork_install();
}

int pm_region_global_init(void)
{
	pthread_once(&global_once, global_init);
	return global_err;
}

static void attach(pm_region_t *r)
{
	dlock();
	r->ticket = sigsegv_register(&dispatcher, (void *)r->start, r->end - r->start, area_handler, r);
	dunlock();
}

static void detach(pm_region_t *r)
{
	dlock();
	if (r->ticket)
		sigsegv_unregister(&dispatcher, r->ticket);
	r->ticket = NULL;
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

pm_region_t *pm_region_new(struct pagemu *vm, uintptr_t start, uintptr_t end, int prot)
{
	pm_region_t *r = slot_new(vm);

	if (!r)
		return NULL;
	r->start = start;
	r->end = end;
	r->prot = prot;
	r->vm = vm;
	r->live = 1;
	attach(r);
	if (!r->ticket) {
		r->live = 0;
		return NULL;
	}
	return r;
}

void pm_region_delete(struct pagemu *vm, pm_region_t *r)
{
	PM_UNUSED(vm);
	detach(r);
	r->live = 0;
}

pm_region_t *pm_region_split(struct pagemu *vm, pm_region_t *r, uintptr_t addr)
{
	pm_region_t *tail = slot_new(vm);

	if (!tail)
		return NULL;
	detach(r);
	tail->start = addr;
	tail->end = r->end;
	tail->prot = r->prot;
	tail->vm = vm;
	tail->live = 1;
	r->end = addr;
	attach(r);
	attach(tail);
	if (!r->ticket || !tail->ticket) {
		/* Out of memory in the dispatcher: undo. */
		detach(tail);
		tail->live = 0;
		detach(r);
		r->end = tail->end;
		attach(r);
		return NULL;
	}
	return tail;
}

pm_region_t *pm_region_find(struct pagemu *vm, uintptr_t addr)
{
	pm_region_t *r = pm_region_dispatch((void *)addr);

	return r && r->live && r->vm == vm && addr >= r->start && addr < r->end ? r : NULL;
}

pagemu_t *pagemu_owner(const void *addr)
{
	pm_region_t *r = pm_region_dispatch((void *)addr);

	return r && r->live ? r->vm : NULL;
}
