/* guard.h - the syscall guard of libpagemu-preload.so (preload/guard/):
 * what its files share. What the rest of the shim calls is in ../shim.h.
 *
 * The kernel does not fault on its own accesses: a system call handed an
 * emulated buffer that is evicted (or parked, or never touched) fails with
 * EFAULT. glibc makes many calls internally, where no interposed wrapper
 * sees them, so the guard works one level lower, on every system call.
 *
 * Mechanism: Linux syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH,
 * 5.11+). Each guarded thread registers a selector byte (thread-local) and
 * an allowed range: this shared object's executable segment. A system call
 * made from anywhere else while the selector says BLOCK is not executed:
 * the kernel raises SIGSYS (si_code SYS_USER_DISPATCH) with the registers
 * of the call in the ucontext. The handler (sigsys.c)
 *   - decodes the call (number in RAX; arguments in RDI, RSI, RDX, R10, R8, R9),
 *   - pins the emulated memory the arguments refer to (pagemu_pin on what
 *     pagemu_owner says is the instance's: buffers, path strings page by
 *     page up to their NUL, iovec and msghdr arrays and then their buffers,
 *     output structs) as the decoder's table says (decode.c, pin.c),
 *   - performs the call itself with a `syscall` instruction of its own,
 *     which lies in the allowed range,
 *   - unpins, puts the result in RAX and returns.
 * Calls it cannot decode: any argument that points into emulated memory
 * has its page pinned, and the number is reported on stderr once.
 *
 * The selector is switched to ALLOW only while pagemu's own code runs in
 * the handler (pagemu_pin may evict, read swap, mmap...: those calls go
 * through glibc, outside the range) and while pagemu's fault handler runs:
 * the SIGSEGV and SIGBUS actions libsigsegv installed are wrapped by one
 * that sets ALLOW around them, so the engine's system calls cost nothing.
 *
 * Returning from a signal handler is itself a system call (rt_sigreturn)
 * made by the handler's restorer: glibc's __restore_rt lies outside the
 * range. Every handler (ours, and the program's, since rt_sigaction is a
 * guarded call) gets a restorer of ours inside the range instead. An
 * rt_sigreturn that still traps (a handler installed by other means) is
 * sent to a `syscall` instruction inside the range, with the stack
 * untouched.
 *
 * Calls that must run in the caller's own context, not inside the
 * handler, are clone, clone3, fork and vfork (a new thread starts on a new
 * stack; a vfork child shares the stack): the handler sends them to a
 * trampoline in the range, `syscall; jmp *slot(%rip)`, one per call site,
 * whose slot holds the address after the original instruction: parent
 * and child both continue there with every register as the call left it.
 *
 * A fork that fork()'s atfork handlers did not prepare (the fork system
 * call made directly, glibc's _Fork, clone without CLONE_VM) would leave
 * parent and child sharing emulated memory (the pool is a shared file):
 * it is made inside the handler instead, around what those handlers do
 * (the heap's and the engine's: the child's private copy), and the child
 * returns from the handler on its copy of the stack. A child on a stack or
 * TLS of its own cannot: it goes to a trampoline, and a warning says so.
 *
 * Signals: SIGSYS is installed with SA_NODEFER, so a handler of the
 * program that runs during a blocking call made by the guard is guarded
 * too. The program can neither block SIGSYS nor change its action:
 * rt_sigprocmask is emulated on the saved mask in the ucontext (what
 * sigreturn restores); rt_sigaction on SIGSYS succeeds without effect.
 * Nor may it block SIGSEGV or SIGBUS, which serve pagemu's faults (glibc
 * blocks every signal with raw calls: when a thread exits, around clone,
 * which passes the mask on): no mask it sets keeps them, neither
 * rt_sigprocmask's, nor an action's, nor the mask of the call's duration
 * of rt_sigsuspend, ppoll, pselect6, epoll_pwait and epoll_pwait2
 * (PM_GUARD_UNBLOCKABLE). (signalfd's set blocks nothing: a synchronous
 * SIGSEGV is delivered, never queued for it.)
 *
 * Descriptors: pagemu's own (the pool, the swap file, the io_uring, the
 * trace, the report) are listed by the engine. The program's close, dup,
 * dup2, dup3 and fcntl aimed at one fail with EBADF, as if it were not
 * open, and its close_range closes the ranges around them (fds.c).
 *
 * Threads and processes: the kernel does not pass the setting on to new
 * threads nor to fork children, and clears it at execve. pthread_create is
 * interposed (the new thread registers before the start routine), and the
 * fork child registers again in its atfork handler (or in the handler,
 * for a fork made there). A vfork child (vfork, posix_spawn: CLONE_VM |
 * CLONE_VFORK, the parent's TLS) registers in its trampoline, before it
 * runs on; what its execve pinned stays pinned in
 * the shared memory when the execve succeeds, so the pins are noted in the
 * thread's (shared) TLS and the parent releases them when it next traps.
 * Threads created inside glibc without pthread_create are not guarded.
 * The shim never closes its instance: before exit_group, execve and
 * execveat the guard writes its trace out. PAGEMU_SYSCALL_GUARD=0 turns
 * the guard off.
 *
 * The files; calls go down the list:
 *   setup.c    turning the guard on; registering threads (pthread_create)
 *   sigsys.c   the SIGSYS handler: one trapped call from start to end, and
 *              the signal calls it emulates; pagemu's fault handler at ALLOW
 *   tramp.c    code inside the allowed range: the restorer, the sigreturn
 *              and the call-site trampolines
 *   fds.c      pagemu's descriptors: the program's close, dup2... refused
 *   decode.c   the argument decoder: a table indexed by syscall number
 *   death.c    a death by signal: the mapped files' pages written first
 *   pin.c      pinning the memory a call refers to
 *   warn.c     what the guard says on stderr
 * Every function of sigsys.c, tramp.c, fds.c, decode.c, death.c, pin.c and warn.c
 * runs in signal context (the SIGSYS handler): no malloc, no stdio, no
 * locks. */
#ifndef PAGEMU_PRELOAD_GUARD_H
#define PAGEMU_PRELOAD_GUARD_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pagemu.h"
#include "../shim.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#define SUD_ON     1
#define SUD_ALLOW  0
#define SUD_BLOCK  1
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif
#define K_SA_RESTORER 0x04000000UL
#define SIGBIT(s) (1ULL << ((s) - 1))
/* What no mask of the program's blocks: SIGSYS (the guard's), SIGSEGV and
 * SIGBUS (pagemu's faults: the kernel kills a thread whose synchronous
 * fault signal is blocked, before any handler runs). */
#define PM_GUARD_UNBLOCKABLE (SIGBIT(SIGSYS) | SIGBIT(SIGSEGV) | SIGBIT(SIGBUS))

/* The kernel's struct sigaction (rt_sigaction with a sigset of 8 bytes). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/* A system call made from here: inside the allowed range. */
static inline long raw6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long raw3(long n, long a, long b, long c) { return raw6(n, a, b, c, 0, 0, 0); }

#define PM_GUARD_MAXPINS 128              /* ranges one call pins at most */

/* A pinned range. */
struct pm_pin {
	const void *p;
	size_t      n;
};

/* One trapped call. */
struct pm_call {
	long nr, a[6];                    /* the number and the arguments (what is made) */
	struct pm_pin pins[PM_GUARD_MAXPINS]; /* what the call pinned, in order */
	int npins;
	size_t budget;                    /* bytes the call may still pin */
	int failed;                       /* 0, or -errno: a pin failed */
	struct iovec one;                 /* a cut single iovec (a[] may point here) */
	uint64_t mask;                    /* the call's signal mask, less PM_GUARD_UNBLOCKABLE (a[] may point here) */
	struct { const uint64_t *ss; size_t len; } sel6; /* pselect6's mask argument, pointing at mask */
	char prev;                        /* the selector when the call trapped */
};

/* ---- setup.c - turning the guard on -------------------------------------- */

/* Written by pm_guard_init before active becomes 1. */
struct pm_guard {
	pagemu_t  *vm;                    /* the instance whose memory is pinned */
	size_t     budget;                /* bytes one call may pin: the shim's pin limit, or 1 MiB */
	uintptr_t  lo, hi;                /* the allowed range: this object's executable segment */
	atomic_int active;                /* 1: the guard is on in this process */
	void      *real_segv[2];          /* libsigsegv's SIGSEGV and SIGBUS handlers, behind pm_guard_segv */
};
PM_HIDDEN extern struct pm_guard pm_guard;
/* This thread's selector: SUD_BLOCK while it is guarded and not inside pagemu. */
PM_HIDDEN extern __thread volatile char pm_guard_sel IE;

/* ---- sigsys.c - the SIGSYS handler --------------------------------------- */

/* signal context: one trapped system call (si_code SYS_USER_DISPATCH). */
PM_HIDDEN void pm_guard_sigsys(int sig, siginfo_t *si, void *uc);
/* signal context: pagemu's SIGSEGV/SIGBUS handler, with the selector at ALLOW. */
PM_HIDDEN void pm_guard_segv(int sig, siginfo_t *si, void *uc);

/* ---- death.c - a death by signal writes the mapped files first ---------- */

/* The stand-in installed for every fatal signal left at SIG_DFL (PAGEMU_MMAP). */
PM_HIDDEN void pm_guard_death_init(void);
/* rt_sigaction(sig, act, oact) when it sets or asks SIG_DFL of a fatal
 * signal: made here (1, *ret its result), or 0: the caller makes it. */
PM_HIDDEN int  pm_guard_death_action(int sig, const struct ksigaction *act, struct ksigaction *oact, long *ret);
/* 1 while the stand-in is sig's action. */
PM_HIDDEN int  pm_guard_death_stands(int sig);
/* The program's own action replaced the stand-in: oact says SIG_DFL. */
PM_HIDDEN void pm_guard_death_replaced(int sig, struct ksigaction *oact);

/* ---- tramp.c - code inside the allowed range ----------------------------- */

/* The restorer every handler returns through (rt_sigreturn from inside). */
PM_HIDDEN void pm_sud_restorer(void);
/* `syscall` with the registers as they are: an rt_sigreturn that trapped. */
PM_HIDDEN void pm_sud_sigreturn(void);
PM_HIDDEN extern char pm_sud_tramps[];
/* For the vfork child's registration: the allowed range, and the offsets
 * of the selector and of a scratch area (6 words) from the thread pointer. */
PM_HIDDEN extern uintptr_t pm_sud_lo, pm_sud_len;
PM_HIDDEN extern long pm_sud_sel_off, pm_sud_scr_off;

/* signal context: the trampoline for c, a clone, clone3, fork or vfork
 * whose call site's next instruction is at ret; NULL when every
 * trampoline is taken. */
PM_HIDDEN char *pm_guard_tramp(const struct pm_call *c, uintptr_t ret);

/* ---- pin.c - pinning what a call refers to ------------------------------- */

/* signal context: p is the guarded instance's memory. */
static inline int pm_guard_emulated(const void *p)
{
	return (uintptr_t)p >= 65536 && pagemu_owner(p) == pm_guard.vm;
}

/* All of pin.c: signal context, with the selector at ALLOW. */

/* Pin [p, p+n) if it is emulated memory: 1 pinned, 0 not emulated, -1 failed. */
PM_HIDDEN int    pm_guard_pin(struct pm_call *c, const void *p, size_t n);
/* A buffer the call may use in part (read, write, getdents...): cut to what
 * can be pinned; returns the length to use. */
PM_HIDDEN size_t pm_guard_pin_cut(struct pm_call *c, const void *p, size_t n);
/* A NUL-terminated string: page by page until the NUL (3 pages at most). */
PM_HIDDEN void   pm_guard_pin_str(struct pm_call *c, const char *s);
/* A NULL-terminated array of strings (execve's argv, envp). */
PM_HIDDEN void   pm_guard_pin_strv(struct pm_call *c, char *const *v);
/* An iovec array and its buffers. With cut, the call may do less than
 * asked (readv, writev...): returns the count to use (*iov_arg may be
 * replaced by &c->one); else every buffer is pinned or the call fails. */
PM_HIDDEN int    pm_guard_pin_iov(struct pm_call *c, const struct iovec *iov, int cnt, int cut, long *iov_arg);
/* A msghdr: its name, its iovec array and buffers, its control data. */
PM_HIDDEN void   pm_guard_pin_msghdr(struct pm_call *c, struct msghdr *m);
/* *lenp bytes at p, lenp itself pinned first (getsockname, accept...). */
PM_HIDDEN void   pm_guard_pin_lenbuf(struct pm_call *c, void *p, socklen_t *lenp);
/* Unpin what the call pinned, last first. */
PM_HIDDEN void   pm_guard_unpin_all(struct pm_call *c);

/* ---- decode.c - the argument decoder ------------------------------------- */

/* signal context, selector at ALLOW: pin what the arguments of c refer
 * to, as the table says for c->nr (arguments may be cut); a call not in
 * the table has the page of each emulated argument pinned, and is
 * reported once. */
PM_HIDDEN void pm_guard_decode(struct pm_call *c);

/* ---- fds.c - pagemu's descriptors ---------------------------------------- */

/* signal context: c (close, dup, dup2, dup3, fcntl, close_range) aimed at
 * pagemu's descriptors: 1 with the result in *ret (EBADF, or close_range
 * made around them); 0 when the call may be made as it is. */
PM_HIDDEN int pm_guard_fds(const struct pm_call *c, long *ret);

/* ---- warn.c - what the guard says ---------------------------------------- */

/* signal context: write s to stderr. */
PM_HIDDEN void pm_guard_say(const char *s);
/* signal context: "system call nr: what", once per number. */
PM_HIDDEN void pm_guard_warn_once(unsigned long nr, const char *what);

#endif
