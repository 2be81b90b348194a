/* setup.c - turning the syscall guard on: the SIGSYS handler, the other
 * handlers' restorer, the allowed range; registering each thread
 * (the first at start, new ones through pthread_create, a fork child in
 * the shim's atfork handler). PAGEMU_SYSCALL_GUARD=0 turns it off (the
 * shim then does not call pm_guard_init). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "guard.h"

struct pm_guard pm_guard;
__thread volatile char pm_guard_sel IE = SUD_ALLOW;
static __thread int registered IE;
static __thread uintptr_t scratch[6] IE;  /* pm_sud_vchild's (tramp.c) */

int pm_guard_active(void) { return atomic_load_explicit(&pm_guard.active, memory_order_relaxed); }

/* Register this thread (selector BLOCK). */
void pm_guard_thread(void)
{
	if (!pm_guard_active())
		return;
	pm_guard_sel = SUD_BLOCK;
	if (raw6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, SUD_ON, (long)pm_guard.lo, (long)(pm_guard.hi - pm_guard.lo),
		 (long)&pm_guard_sel, 0) == 0)
		registered = 1;
	else
		pm_guard_sel = SUD_ALLOW;
}

/* pagemu's own work on this thread in the program's context (fork()'s
 * atfork handlers: the engine's run there): its system calls are not the
 * program's, and pass as they are. Pairs may nest. */
static __thread char own_prev IE;
static __thread int own_depth IE;

void pm_guard_own_enter(void)
{
	if (!own_depth++) {
		own_prev = pm_guard_sel;
		pm_guard_sel = SUD_ALLOW;
	}
}

void pm_guard_own_leave(void)
{
	if (own_depth && !--own_depth)
		pm_guard_sel = own_prev;
}

/* The allowed range: this object's executable segment, which must hold
 * the trampolines and the handler. 0 or -1. */
static int find_range(void)
{
	if (pm_shim_code_segment((const void *)&pm_guard_init, &pm_guard.lo, &pm_guard.hi) < 0)
		return -1;
	if (!pm_guard.lo || (uintptr_t)pm_sud_tramps < pm_guard.lo || (uintptr_t)pm_sud_tramps >= pm_guard.hi ||
	    (uintptr_t)pm_guard_sigsys < pm_guard.lo || (uintptr_t)pm_guard_sigsys >= pm_guard.hi)
		return -1;
	return 0;
}

/* Handlers installed so far return through our restorer and do not block
 * SIGSYS; pagemu's fault handler runs with the selector at ALLOW. */
static void wrap_handlers(void)
{
	struct ksigaction old;

	for (int s = 1; s <= 64; s++) {
		if (s == SIGKILL || s == SIGSTOP || s == SIGSYS)
			continue;
		if (raw6(SYS_rt_sigaction, s, 0, (long)&old, 8, 0, 0) < 0)
			continue;
		if (old.handler == SIG_DFL || old.handler == SIG_IGN)
			continue;
		if (old.flags & K_SA_RESTORER)
			old.restorer = (void *)pm_sud_restorer;
		old.mask &= ~SIGBIT(SIGSYS);
		if ((s == SIGSEGV || s == SIGBUS) && (old.flags & SA_SIGINFO)) {
			pm_guard.real_segv[s == SIGBUS] = old.handler;
			old.handler = (void *)pm_guard_segv;
		}
		raw6(SYS_rt_sigaction, s, (long)&old, 0, 8, 0, 0);
	}
}

/* What a vfork child needs to register itself from its trampoline. */
static void set_vfork_registration(void)
{
	uintptr_t tp;

	__asm__("mov %%fs:0, %0" : "=r"(tp));
	pm_sud_lo = pm_guard.lo;
	pm_sud_len = pm_guard.hi - pm_guard.lo;
	pm_sud_sel_off = (long)((uintptr_t)&pm_guard_sel - tp);
	pm_sud_scr_off = (long)((uintptr_t)scratch - tp);
}

int pm_guard_init(pagemu_t *vm, size_t limit)
{
	struct ksigaction sa = { 0 };

	pm_guard.vm = vm;
	pm_guard.budget = limit ? limit : 1 << 20;
	if (find_range() < 0) {
		pm_guard_say("pagemu-preload: syscall guard: cannot find the shim's code; guard off\n");
		return -1;
	}
	/* Probe: is syscall user dispatch there? (OFF is harmless.) */
	if (raw6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, 0, 0, 0, 0, 0) < 0) {
		pm_guard_say("pagemu-preload: syscall guard: PR_SET_SYSCALL_USER_DISPATCH unsupported (Linux >= 5.11); guard off\n");
		return -1;
	}
	sa.handler = (void *)pm_guard_sigsys;
	sa.flags = SA_SIGINFO | SA_NODEFER | K_SA_RESTORER;
	sa.restorer = (void *)pm_sud_restorer;
	if (raw6(SYS_rt_sigaction, SIGSYS, (long)&sa, 0, 8, 0, 0) < 0)
		return -1;
	wrap_handlers();
	pm_guard_death_init();
	set_vfork_registration();
	atomic_store(&pm_guard.active, 1);
	pm_guard_thread();
	if (!registered) {
		atomic_store(&pm_guard.active, 0);
		return -1;
	}
	return 0;
}

/* ---- new threads --------------------------------------------------------- */

struct start {
	void *(*fn)(void *);
	void *arg;
};

/* A new thread registers before the program's start routine runs. */
static void *thread_start(void *p)
{
	struct start s = *(struct start *)p;

	pm_boot_free(p);
	pm_guard_thread();
	return s.fn(s.arg);
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	REAL(int, pthread_create, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)
	struct start *s;
	int rc;

	if (!real_pthread_create)
		return EAGAIN;
	/* Whether or not the guard is on yet: the first pthread_create may be
	 * what starts pagemu (glibc callocs the new thread's DTV), and the
	 * thread must then register all the same. */
	if (!(s = pm_boot_alloc(0, sizeof(*s))))
		return real_pthread_create(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	rc = real_pthread_create(t, attr, thread_start, s);
	if (rc)
		pm_boot_free(s);
	return rc;
}
