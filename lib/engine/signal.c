/* signal.c - the process's SIGSEGV handler.
 *
 * libsigsegv installs the one handler of the process, with the fault
 * path's entry (fault.c) as its handler and region.c's dispatcher to route
 * an address to its region. libsigsegv passes the handler no access type:
 * a thin SA_SIGINFO wrapper in front of libsigsegv's own handler reads it
 * from the signal context, and hands the program's own SIGSEGV handler
 * (chained behind pagemu's by the shim) every fault pagemu does not serve.
 * Everything but pm_signal_init and pm_signal_chain runs in signal
 * context. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sigsegv.h>
#include <ucontext.h>

#include "engine/engine.h"

/* libsigsegv passes the handler no access type. On x86-64 the page-fault
 * error code in the signal context has it (bit 1: write), so a thin
 * SA_SIGINFO wrapper records it for this thread and hands the signal on to
 * libsigsegv's own handler, which dispatches as usual. */
static struct sigaction libsigsegv_action;
static __thread int fault_access __attribute__((tls_model("initial-exec")));
static __thread int fault_declined __attribute__((tls_model("initial-exec")));
static __thread uint64_t fault_insn __attribute__((tls_model("initial-exec")));

/* A SIGSEGV handler of the program's own (gnulib's c-stack in grep, gcc's
 * crash reporter, a GC's write barrier), kept aside by whoever installs
 * handlers for the program (the LD_PRELOAD shim) instead of replacing
 * pagemu's: it gets every fault that is not pagemu's to serve. */
static struct sigaction chained_action;
static volatile int chained;

int pm_signal_fault_access(void)
{
	return fault_access;
}

uint64_t pm_signal_fault_insn(void)
{
	return fault_insn;
}

int pm_signal_chain(const struct sigaction *act, struct sigaction *old)
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

int pm_signal_declined(void)
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
	/* r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip */
	fault_insn = 0x9E3779B97F4A7C15ULL;
	for (int i = REG_R8; i <= REG_RIP; i++)
		fault_insn = (fault_insn ^ (uint64_t)uc->uc_mcontext.gregs[i]) * 0x100000001B3ULL;
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

	if (pm_prim_sigaction(SIGSEGV, NULL, &libsigsegv_action) < 0 || !(libsigsegv_action.sa_flags & SA_SIGINFO))
		return;         /* not what we expect: libsigsegv alone, access unknown */
	sa = libsigsegv_action;
	sa.sa_sigaction = access_wrapper;
	pm_prim_sigaction(SIGSEGV, &sa, NULL);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int (*entry)(void *fault_address, int serious);
static int install_err;

static void install(void)
{
	if (sigsegv_install_handler(entry) < 0)
		install_err = -ENOTSUP;
	else
		wrap_handler();
}

int pm_signal_init(int (*handler)(void *fault_address, int serious))
{
	if (!entry)
		entry = handler;
	pthread_once(&once, install);
	return install_err;
}
