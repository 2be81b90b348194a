/* signal.c - the process's SIGSEGV handler.
 *
 * libsigsegv installs the one handler of the process, with the fault
 * path's entry (fault.c) as its handler and region.c's dispatcher to route
 * an address to its region. libsigsegv passes the handler no access type:
 * a thin SA_SIGINFO wrapper in front of libsigsegv's own handler reads it
 * from the signal context, and hands the program's own SIGSEGV handler
 * (chained behind pagemu's by the shim) every fault pagemu does not serve.
 *
 * Signals: the handler runs with every asynchronous signal blocked (its
 * sa_mask), and so does every holder of vm->lock (pm_lock): a signal
 * handler of the program may touch emulated memory, so its fault is served
 * once pagemu's critical section is over, instead of spinning on the lock
 * its own thread holds.
 *
 * Stacks: the handler is installed with SA_ONSTACK, so that a stack
 * overflow reaches the program's handler on the program's alternate
 * stack, as natively. pagemu's own work then runs on a stack of pagemu's
 * (below): alternate stacks are small.
 *
 * Everything but pm_signal_init and pm_signal_chain runs in signal
 * context. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sigsegv.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "engine/engine.h"

#define IE __attribute__((tls_model("initial-exec")))
#define SIGBIT(s) (1ULL << ((s) - 1))     /* the kernel's mask layout */

/* The asynchronous signals: all but those a fault or a trap raises, which
 * must stay deliverable (the kernel kills a thread that blocks the
 * synchronous signal it raises). SIGKILL and SIGSTOP cannot be blocked. */
static const uint64_t async_signals =
	~(SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) | SIGBIT(SIGILL) | SIGBIT(SIGFPE) | SIGBIT(SIGTRAP) |
	  SIGBIT(SIGSYS) | SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));

/* 1 while this thread runs pagemu's fault handler, where the kernel
 * blocked the asynchronous signals on entry (the handler's sa_mask). */
static __thread int in_handler IE;

/* The first 64 signals of a sigset_t, in the kernel's layout, and back. */
static uint64_t mask_of(const sigset_t *set)
{
	uint64_t m;

	memcpy(&m, set, sizeof(m));
	return m;
}

static void set_of(uint64_t m, sigset_t *set)
{
	sigemptyset(set);
	memcpy(set, &m, sizeof(m));
}

int pm_signal_block_async(uint64_t *old)
{
	if (in_handler)
		return 0;
	return pm_prim_sigmask(SIG_BLOCK, &async_signals, old) == 0;
}

void pm_signal_restore(const uint64_t *old)
{
	pm_prim_sigmask(SIG_SETMASK, old, NULL);
}

/* libsigsegv passes the handler no access type. On x86-64 the page-fault
 * error code in the signal context has it (bit 1: write), so a thin
 * SA_SIGINFO wrapper records it for this thread and hands the signal on to
 * libsigsegv's own handler, which dispatches as usual. */
static struct sigaction libsigsegv_action;
static __thread int fault_access IE;
static __thread int fault_declined IE;
static __thread uint64_t fault_insn IE;

/* A SIGSEGV handler of the program's own (gnulib's c-stack in grep, gcc's
 * crash reporter, a GC's write barrier), kept aside by whoever installs
 * handlers for the program (the LD_PRELOAD shim) instead of replacing
 * pagemu's: it gets every fault that is not pagemu's to serve. */
static struct sigaction chained_action;
static volatile int chained;
static void (*fatal_hook)(void);

void pm_signal_set_fatal_hook(void (*fn)(void))
{
	fatal_hook = fn;
}

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
 * handler, as the kernel would have delivered it: with the mask the
 * kernel would have set (the interrupted one, its sa_mask, and sig unless
 * SA_NODEFER), except that SIGSEGV and SIGBUS stay unblocked, so that it
 * can touch emulated memory. (A fault of its own on other memory enters it
 * again, as with SA_NODEFER.) */
static void run_chained(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction a = chained_action;
	uint64_t mask = mask_of(&((const ucontext_t *)ctx)->uc_sigmask) | mask_of(&a.sa_mask);

	if (a.sa_handler == SIG_IGN)
		return;                       /* the access restarts: as the program asked */
	if (a.sa_flags & SA_RESETHAND)
		chained = 0;
	if (!(a.sa_flags & SA_NODEFER))
		mask |= SIGBIT(sig);
	mask &= ~(SIGBIT(SIGSEGV) | SIGBIT(SIGBUS));
	pm_prim_sigmask(SIG_SETMASK, &mask, NULL);   /* sigreturn restores ours */
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, ctx);
	else
		a.sa_handler(sig);
}

/* ---- the stacks pagemu serves faults on ------------------------------------
 * With SA_ONSTACK the kernel enters the handler on the program's alternate
 * stack whenever the program set one. Those are small: 8 KiB in Rust and
 * with the old SIGSTKSZ, of which the kernel's signal frame takes 2.9 KiB
 * here (AVX-512). pagemu's fault path needs 8 KiB more (measured: reclaim,
 * write-back and swap-in keep page lists on the stack). So the wrapper
 * hands the fault to libsigsegv on a stack of pagemu's own, and leaves the
 * program's alternate stack to the program (and the kernel's frame): one
 * stack per fault in flight, from a pool that keeps them for the next
 * faults. The pool is lock-free (a slot is taken by exchange): a fork
 * that copies it while another thread holds a stack loses that stack. */
struct fault_call {
	int sig;
	siginfo_t *si;
	void *ctx;
};

/* signal context: libsigsegv's handler, on whichever stack. */
static void to_libsigsegv(void *arg)
{
	struct fault_call *c = arg;

	libsigsegv_action.sa_sigaction(c->sig, c->si, c->ctx);
}

#if defined(__x86_64__)
#define FAULT_STACK (256u << 10)          /* bytes, guard page included; ASan frames are large */
#define FAULT_STACKS 64                   /* stacks the pool keeps */

static _Atomic(char *) stack_pool[FAULT_STACKS];
static size_t guard_page;                 /* host page size, set at install */

/* signal context: a stack (its lowest address), NULL when none can be had. */
static char *stack_take(void)
{
	char *s;

	for (int i = 0; i < FAULT_STACKS; i++)
		if (atomic_load_explicit(&stack_pool[i], memory_order_relaxed) &&
		    (s = atomic_exchange_explicit(&stack_pool[i], NULL, memory_order_acquire)))
			return s;
	s = pm_prim_alloc_tables(FAULT_STACK);
	if (s && pm_prim_protect(s, guard_page, PROT_NONE) < 0) {
		pm_prim_release(s, FAULT_STACK);
		s = NULL;
	}
	return s;
}

/* signal context */
static void stack_give(char *s)
{
	for (int i = 0; i < FAULT_STACKS; i++) {
		char *none = NULL;
		if (atomic_compare_exchange_strong_explicit(&stack_pool[i], &none, s, memory_order_release,
							    memory_order_relaxed))
			return;
	}
	pm_prim_release(s, FAULT_STACK);
}

/* At install: a first stack in the pool, so that the first fault makes
 * no call on the program's alternate stack (a lazily bound one runs the
 * dynamic linker's resolver, which saves every vector register there). */
static void stacks_init(void)
{
	char *s;

	guard_page = pm_prim_host_page();
	if ((s = stack_take()))
		stack_give(s);
}

/* Call fn(arg) with the stack pointer at top (16-byte aligned), then come
 * back to this stack. %rbp keeps the old stack pointer (and the CFA, for
 * debuggers). */
void pm_signal_call_on(char *top, void (*fn)(void *), void *arg) __attribute__((visibility("hidden")));
__asm__(".text\n"
	".globl pm_signal_call_on\n"
	".hidden pm_signal_call_on\n"
	".type pm_signal_call_on, @function\n"
	"pm_signal_call_on:\n"
	"	.cfi_startproc\n"
	"	push %rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	mov %rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	mov %rdi, %rsp\n"
	"	mov %rdx, %rdi\n"
	"	call *%rsi\n"
	"	mov %rbp, %rsp\n"
	"	pop %rbp\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size pm_signal_call_on, .-pm_signal_call_on\n");

/* signal context: libsigsegv's handler on a stack of pagemu's own (on this
 * one when none can be had). */
static void serve(int sig, siginfo_t *si, void *ctx)
{
	struct fault_call c = { sig, si, ctx };
	char *s = stack_take();

	if (!s) {
		to_libsigsegv(&c);
		return;
	}
	pm_signal_call_on(s + FAULT_STACK, to_libsigsegv, &c);
	stack_give(s);
}
#else
static void stacks_init(void) {}

/* signal context: on this stack (the program's alternate stack when set). */
static void serve(int sig, siginfo_t *si, void *ctx)
{
	struct fault_call c = { sig, si, ctx };

	to_libsigsegv(&c);
}
#endif

/* ---- the handler ------------------------------------------------------------ */

/* signal context */
static void access_wrapper(int sig, siginfo_t *si, void *ctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ctx;
	/* The page-fault error code: bit 1 a write, bit 4 an instruction fetch. */
	fault_access = (uc->uc_mcontext.gregs[REG_ERR] & 2)    ? PM_ACCESS_WRITE
		       : (uc->uc_mcontext.gregs[REG_ERR] & 0x10) ? PM_ACCESS_EXEC
								 : PM_ACCESS_READ;
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
	int nested = in_handler;

	fault_declined = 0;
	in_handler = 1;
	serve(sig, si, ctx);
	in_handler = 0;
	if (fault_declined && chained)
		run_chained(sig, si, ctx);    /* ours, but forbidden: the program's */
	else if (fault_declined && !nested && fatal_hook)
		fatal_hook();                 /* no handler takes it: the access faults again, and the process ends */
}

/* Install libsigsegv's handler again, behind the wrapper, blocking every
 * asynchronous signal while it runs, on the alternate stack when the
 * thread has one. */
static void wrap_handler(void)
{
	struct sigaction sa;

	if (pm_prim_sigaction(SIGSEGV, NULL, &libsigsegv_action) < 0)
		return;
	sa = libsigsegv_action;
	set_of(mask_of(&sa.sa_mask) | async_signals, &sa.sa_mask);
	sa.sa_flags |= SA_ONSTACK;
	if (sa.sa_flags & SA_SIGINFO)
		sa.sa_sigaction = access_wrapper;
	/* (else not what we expect: libsigsegv alone, access unknown) */
	pm_prim_sigaction(SIGSEGV, &sa, NULL);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int (*entry)(void *fault_address, int serious);
static int install_err;

/* A SIGSEGV handler the process installed before pagemu started, in a
 * way pagemu did not see (the rt_sigaction system call, a library's own
 * sigaction before the shim's): chained, as if installed afterwards, so
 * that pagemu's handler does not silently take its place. */
static void chain_prior(void)
{
	struct sigaction prior;

	if (chained || pm_prim_sigaction(SIGSEGV, NULL, &prior) < 0)
		return;
	if (prior.sa_handler != SIG_DFL && prior.sa_handler != SIG_IGN)
		pm_signal_chain(&prior, NULL);
}

static void install(void)
{
	stacks_init();
	chain_prior();
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
