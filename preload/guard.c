/* guard.c - the syscall guard of libpagemu-preload.so.
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
 * of the call in the ucontext. The handler here
 *   - decodes the call (number in RAX; arguments in RDI, RSI, RDX, R10, R8, R9),
 *   - pins the emulated memory the arguments refer to (pagemu_pin on what
 *     pagemu_owner says is the instance's: buffers, path strings page by
 *     page up to their NUL, iovec and msghdr arrays and then their buffers,
 *     output structs),
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
 * Signals: SIGSYS is installed with SA_NODEFER, so a handler of the
 * program that runs during a blocking call made by the guard is guarded
 * too. The program can neither block SIGSYS nor change its action:
 * rt_sigprocmask is emulated on the saved mask in the ucontext (what
 * sigreturn restores), with SIGSYS removed; rt_sigaction on SIGSYS
 * succeeds without effect; other actions lose SIGSYS from their mask.
 *
 * Threads and processes: the kernel does not pass the setting on to new
 * threads nor to fork children, and clears it at execve. pthread_create is
 * interposed (the new thread registers before the start routine), and the
 * fork child registers again in its atfork handler. A vfork child (vfork,
 * posix_spawn: CLONE_VM | CLONE_VFORK, the parent's TLS) registers in its
 * trampoline, before it runs on; what its execve pinned stays pinned in
 * the shared memory when the execve succeeds, so the pins are noted in the
 * thread's (shared) TLS and the parent releases them when it next traps.
 * Threads created inside glibc without pthread_create are not guarded.
 * PAGEMU_SYSCALL_GUARD=0 turns the guard off. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine/engine_api.h"
#include "heap/heap.h"
#include "shim.h"

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

#define NTRAMP 64

/* ---- code inside the allowed range ----------------------------------------------
 * The restorer, the sigreturn trampoline and the call-site trampolines.
 * (The whole executable segment of this object is the allowed range; these
 * only need to be in it.) */
__asm__(".text\n"
	".globl pm_sud_restorer\n.hidden pm_sud_restorer\n.type pm_sud_restorer,@function\n"
	".p2align 4\n"
	"pm_sud_restorer:\n"
	"	mov $15, %eax\n"
	"	syscall\n"
	"	ud2\n"
	".size pm_sud_restorer, .-pm_sud_restorer\n"
	".globl pm_sud_sigreturn\n.hidden pm_sud_sigreturn\n.type pm_sud_sigreturn,@function\n"
	"pm_sud_sigreturn:\n"
	"	syscall\n"
	"	ud2\n"
	".size pm_sud_sigreturn, .-pm_sud_sigreturn\n"
	".globl pm_sud_tramps\n.hidden pm_sud_tramps\n.type pm_sud_tramps,@function\n"
	".p2align 4\n"
	"pm_sud_tramps:\n"
	".set pm_sud_i, 0\n"
	".rept 64\n"
	"	syscall\n"
	"	jmp *(pm_sud_slots + pm_sud_i * 8)(%rip)\n"
	".set pm_sud_i, pm_sud_i + 1\n"
	".endr\n"
	".size pm_sud_tramps, .-pm_sud_tramps\n"
	/* vfork-like calls (CLONE_VM | CLONE_VFORK, same TLS): the child
	 * registers itself (the kernel does not pass the setting on) before
	 * it continues, with the registers the call left. It shares the
	 * parent's memory and TLS, and the parent waits: the scratch is the
	 * thread's. */
	".globl pm_sud_vtramps\n.hidden pm_sud_vtramps\n.type pm_sud_vtramps,@function\n"
	".p2align 6\n"
	"pm_sud_vtramps:\n"
	".set pm_sud_i, 0\n"
	".rept 64\n"
	".p2align 6\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov pm_sud_scr_off(%rip), %rcx\n"
	"	mov %rdi, %fs:(%rcx)\n"
	"	mov (pm_sud_vslots + pm_sud_i * 8)(%rip), %rdi\n"
	"	mov %rdi, %fs:40(%rcx)\n"
	"	jmp pm_sud_vchild\n"
	"1:	jmp *(pm_sud_vslots + pm_sud_i * 8)(%rip)\n"
	".set pm_sud_i, pm_sud_i + 1\n"
	".endr\n"
	".size pm_sud_vtramps, .-pm_sud_vtramps\n"
	".type pm_sud_vchild,@function\n"
	"pm_sud_vchild:\n"
	"	mov %rsi, %fs:8(%rcx)\n"
	"	mov %rdx, %fs:16(%rcx)\n"
	"	mov %r10, %fs:24(%rcx)\n"
	"	mov %r8, %fs:32(%rcx)\n"
	"	mov $59, %edi\n"                 /* PR_SET_SYSCALL_USER_DISPATCH */
	"	mov $1, %esi\n"                  /* PR_SYS_DISPATCH_ON */
	"	mov pm_sud_lo(%rip), %rdx\n"
	"	mov pm_sud_len(%rip), %r10\n"
	"	mov %fs:0, %r8\n"
	"	add pm_sud_sel_off(%rip), %r8\n"
	"	mov $157, %eax\n"                /* prctl */
	"	syscall\n"
	"	mov pm_sud_scr_off(%rip), %rcx\n"
	"	mov %fs:(%rcx), %rdi\n"
	"	mov %fs:8(%rcx), %rsi\n"
	"	mov %fs:16(%rcx), %rdx\n"
	"	mov %fs:24(%rcx), %r10\n"
	"	mov %fs:32(%rcx), %r8\n"
	"	xor %eax, %eax\n"
	"	jmp *%fs:40(%rcx)\n"
	".size pm_sud_vchild, .-pm_sud_vchild\n");

extern void pm_sud_restorer(void) __attribute__((visibility("hidden")));
extern void pm_sud_sigreturn(void) __attribute__((visibility("hidden")));
extern char pm_sud_tramps[] __attribute__((visibility("hidden")));
extern char pm_sud_vtramps[] __attribute__((visibility("hidden")));
/* Return addresses of the trampolines; a slot, once set, never changes. */
__attribute__((visibility("hidden"))) uintptr_t pm_sud_slots[NTRAMP], pm_sud_vslots[NTRAMP];
/* For the vfork child's registration: the allowed range, and the offsets
 * of the selector and of a scratch area from the thread pointer. */
__attribute__((visibility("hidden"))) uintptr_t pm_sud_lo, pm_sud_len;
__attribute__((visibility("hidden"))) long pm_sud_sel_off, pm_sud_scr_off;

#define TRAMP_SIZE 8    /* syscall (2) + jmp *disp32(%rip) (6) */
#define VTRAMP_SIZE 64

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

/* ---- state ---------------------------------------------------------------------- */

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static pagemu_t *gvm;
static size_t budget_max;                 /* bytes one call may pin */
static uintptr_t range_lo, range_hi;      /* the allowed range */
static atomic_int active;                 /* 1: the guard is on in this process */
static __thread volatile char sel IE = SUD_ALLOW;    /* this thread's selector */
static __thread int registered IE;
static __thread uintptr_t scratch[6] IE;  /* pm_sud_vchild's */
/* Pins of an execve in flight: if it succeeds in a vfork child, the parent
 * (same thread memory) releases them when it next traps. */
#define MAXPINS 128
static __thread struct {
	int n;
	struct { const void *p; size_t n; } pins[MAXPINS];
} exec_pins IE;
static void *real_segv[2];                /* libsigsegv's SIGSEGV, SIGBUS handlers */
static _Atomic uint64_t warned[8];        /* syscall numbers already reported */

#define SIGBIT(s) (1ULL << ((s) - 1))

int pm_guard_active(void) { return atomic_load_explicit(&active, memory_order_relaxed); }

static void say(const char *s)
{
	raw3(SYS_write, 2, (long)s, (long)strlen(s));
}

static char *utoa(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	*p = 0;
	return p;
}

static void warn_once(unsigned long nr, const char *what)
{
	char msg[160], *p;
	uint64_t bit = 1ULL << (nr % 64);

	if (nr >= 512 || (atomic_fetch_or(&warned[nr / 64], bit) & bit))
		return;
	p = msg;
	p = stpcpy(p, "pagemu-preload: syscall guard: system call ");
	p = utoa(p, nr);
	p = stpcpy(p, ": ");
	p = stpcpy(p, what);
	stpcpy(p, "\n");
	say(msg);
}

/* Register this thread (selector BLOCK). */
void pm_guard_thread(void)
{
	if (!pm_guard_active())
		return;
	sel = SUD_BLOCK;
	if (raw6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, SUD_ON, (long)range_lo, (long)(range_hi - range_lo),
		 (long)&sel, 0) == 0)
		registered = 1;
	else
		sel = SUD_ALLOW;
}

/* ---- pinning ---------------------------------------------------------------------- */

struct call {
	long nr, a[6];
	struct { const void *p; size_t n; } pins[MAXPINS];
	int npins;
	size_t budget;
	int failed;
	struct iovec one;                     /* a cut single iovec */
	char prev;                            /* the selector when the call trapped */
};

static inline int emulated(const void *p)
{
	return (uintptr_t)p >= 65536 && pagemu_owner(p) == gvm;
}

/* Is [p, p+n) within the (4 KiB) pages this call pinned already? (execve's
 * strings, a msghdr's pieces: many small ranges on few pages.) */
static int covered(const struct call *c, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095, z = ((uintptr_t)p + n - 1) & ~(uintptr_t)4095;

	for (int i = 0; i < c->npins; i++) {
		uintptr_t ra = (uintptr_t)c->pins[i].p & ~(uintptr_t)4095;
		uintptr_t rz = ((uintptr_t)c->pins[i].p + c->pins[i].n - 1) & ~(uintptr_t)4095;
		if (a >= ra && z <= rz)
			return 1;
	}
	return 0;
}

/* Pin [p, p+n) if it is emulated memory: 1 pinned, 0 not emulated, -1 failed. */
static int pin(struct call *c, const void *p, size_t n)
{
	int rc;

	if (!p || !n)
		return 0;
	if (covered(c, p, n))
		return 1;
	if (!emulated(p) && !emulated((const char *)p + n - 1))
		return 0;
	if (n > c->budget || c->npins >= MAXPINS) {
		c->failed = -ENOSPC;
		return -1;
	}
	rc = pagemu_pin(gvm, p, n);
	if (rc == -EFAULT) {
		/* Partly emulated: pin its emulated pages one by one. */
		uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095, end = (uintptr_t)p + n;
		rc = 0;
		for (; a < end && c->npins < MAXPINS; a += 4096) {
			if (!emulated((void *)a))
				continue;
			if (pagemu_pin(gvm, (void *)a, 1) == 0) {
				c->pins[c->npins].p = (void *)a;
				c->pins[c->npins++].n = 1;
			} else {
				rc = -EFAULT;
			}
		}
		if (rc < 0)
			c->failed = rc;
		return rc < 0 ? -1 : 1;
	}
	if (rc < 0) {
		c->failed = rc;
		return -1;
	}
	c->pins[c->npins].p = p;
	c->pins[c->npins++].n = n;
	c->budget -= n;
	return 1;
}

/* A buffer the call may use in part (read, write, getdents...): cut to what
 * can be pinned; returns the length to use. */
static size_t pin_cut(struct call *c, const void *p, size_t n)
{
	if (!p || !n || (!emulated(p) && !emulated((const char *)p + n - 1)))
		return n;
	if (n > c->budget)
		n = c->budget;
	while (n) {
		int failed = c->failed;
		if (pin(c, p, n) > 0)
			return n;
		c->failed = failed;
		if (n <= 4096)
			break;
		n = (n / 2 + 4095) & ~(size_t)4095;
	}
	c->failed = -ENOMEM;
	return n;
}

/* A NUL-terminated string: pin page by page until the NUL. */
static void pin_str(struct call *c, const char *s)
{
	const char *p = s;

	if (!s || !emulated(s))
		return;
	for (int pages = 0; pages < 3; pages++) {
		const char *end = (const char *)(((uintptr_t)p | 4095) + 1);
		if (pin(c, p, (size_t)(end - p)) < 0)
			return;
		for (; p < end; p++)
			if (!*p)
				return;
		if (!emulated(p))
			return;
	}
}

/* A NULL-terminated array of strings (execve's argv, envp). */
static void pin_strv(struct call *c, char *const *v)
{
	char *const *p = v;

	if (!v)
		return;
	if (!emulated(v)) {
		for (; *p; p++)
			pin_str(c, *p);
		return;
	}
	for (;;) {
		char *const *end = (char *const *)(((uintptr_t)p | 4095) + 1);
		if (pin(c, p, (size_t)((const char *)end - (const char *)p)) < 0)
			return;
		for (; p < end; p++) {
			if (!*p)
				return;
			pin_str(c, *p);
		}
		if (!emulated(p))
			return;
	}
}

/* An iovec array and its buffers. With cut, the call may do less than
 * asked (readv, writev...): returns the count to use (args may be
 * replaced by c->one); else every buffer is pinned or the call fails. */
static int pin_iov(struct call *c, const struct iovec *iov, int cnt, int cut, long *iov_arg)
{
	if (!iov || cnt <= 0)
		return cnt;
	if (pin(c, iov, (size_t)cnt * sizeof(*iov)) < 0)
		return cnt;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len || (!emulated(iov[i].iov_base) &&
					!emulated((char *)iov[i].iov_base + iov[i].iov_len - 1)))
			continue;
		if (iov[i].iov_len <= c->budget && pin(c, iov[i].iov_base, iov[i].iov_len) > 0)
			continue;
		if (!cut)
			return cnt;
		if (i > 0) {
			c->failed = 0;
			return i;                 /* a short transfer: the first i buffers */
		}
		c->failed = 0;
		c->one.iov_base = iov[0].iov_base;
		c->one.iov_len = pin_cut(c, iov[0].iov_base, iov[0].iov_len);
		*iov_arg = (long)&c->one;
		return 1;
	}
	return cnt;
}

static void pin_msghdr(struct call *c, struct msghdr *m)
{
	long dummy;

	if (!m || pin(c, m, sizeof(*m)) < 0)
		return;
	pin(c, m->msg_name, m->msg_namelen);
	pin_iov(c, m->msg_iov, (int)m->msg_iovlen, 0, &dummy);
	pin(c, m->msg_control, m->msg_controllen);
}

/* *lenp bytes at p, lenp itself pinned first (getsockname, accept...). */
static void pin_lenbuf(struct call *c, void *p, socklen_t *lenp)
{
	if (!lenp)
		return;
	if (pin(c, lenp, sizeof(*lenp)) < 0)
		return;
	pin(c, p, *lenp);
}

static void unpin_all(struct call *c)
{
	for (int i = c->npins - 1; i >= 0; i--)
		pagemu_unpin(gvm, c->pins[i].p, c->pins[i].n);
	c->npins = 0;
}

/* ---- decoding ----------------------------------------------------------------------- */

#define A(i) (c->a[i])
#define P(i) ((void *)c->a[i])

/* 1: decoded (or nothing to pin); 0: unknown. */
static int decode(struct call *c)
{
	switch (c->nr) {
	/* no memory arguments, or memory the kernel does not read or write
	 * through (mappings), or pagemu's own I/O */
	case SYS_close: case SYS_lseek: case SYS_mmap: case SYS_mprotect: case SYS_munmap: case SYS_brk:
	case SYS_sched_yield: case SYS_mremap: case SYS_msync: case SYS_madvise: case SYS_dup: case SYS_dup2:
	case SYS_dup3: case SYS_pause: case SYS_alarm: case SYS_getpid: case SYS_socket: case SYS_shutdown:
	case SYS_listen: case SYS_exit: case SYS_exit_group: case SYS_kill: case SYS_tkill: case SYS_tgkill:
	case SYS_flock: case SYS_fsync: case SYS_fdatasync: case SYS_ftruncate: case SYS_fchdir: case SYS_fchmod:
	case SYS_fchown: case SYS_umask: case SYS_getuid: case SYS_getgid: case SYS_geteuid: case SYS_getegid:
	case SYS_setuid: case SYS_setgid: case SYS_setpgid: case SYS_getppid: case SYS_getpgrp: case SYS_setsid:
	case SYS_getpgid: case SYS_getsid: case SYS_gettid: case SYS_set_tid_address: case SYS_fadvise64:
	case SYS_fallocate: case SYS_close_range: case SYS_io_uring_enter: case SYS_io_uring_register:
	case SYS_io_uring_setup: case SYS_memfd_create: case SYS_eventfd2: case SYS_epoll_create1:
	case SYS_epoll_create: case SYS_mlock: case SYS_munlock: case SYS_mlockall: case SYS_munlockall:
	case SYS_arch_prctl: case SYS_rseq: case SYS_set_robust_list:
	case SYS_personality: case SYS_sync: case SYS_syncfs: case SYS_setpriority: case SYS_getpriority:
	case SYS_readahead: case SYS_inotify_init1: case SYS_inotify_rm_watch:
	case SYS_timerfd_create: case SYS_membarrier: case SYS_pidfd_open: case SYS_fcntl:
	case SYS_ioctl:
		/* fcntl and ioctl: pointer arguments are rare and sized by the
		 * request; a page of emulated memory is pinned below */
		if (c->nr == SYS_fcntl || c->nr == SYS_ioctl)
			pin(c, P(2), 1);
		return 1;

	case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64: case SYS_getdents64:
	case SYS_getdents: case SYS_getrandom:
		if (c->nr == SYS_getrandom)
			c->a[1] = (long)pin_cut(c, P(0), (size_t)A(1));
		else
			c->a[2] = (long)pin_cut(c, P(1), (size_t)A(2));
		return 1;
	case SYS_recvfrom: case SYS_sendto:
		c->a[2] = (long)pin_cut(c, P(1), (size_t)A(2));
		if (c->nr == SYS_recvfrom)
			pin_lenbuf(c, P(4), P(5));
		else
			pin(c, P(4), (size_t)A(5));
		return 1;
	case SYS_readv: case SYS_writev: case SYS_preadv: case SYS_pwritev: case SYS_preadv2:
	case SYS_pwritev2:
		c->a[2] = pin_iov(c, P(1), (int)A(2), 1, &c->a[1]);
		return 1;
	case SYS_recvmsg: case SYS_sendmsg:
		pin_msghdr(c, P(1));
		return 1;
	case SYS_recvmmsg: case SYS_sendmmsg: {
		struct mmsghdr *v = P(1);
		unsigned n = (unsigned)A(2) > 64 ? 64 : (unsigned)A(2);
		if (pin(c, v, n * sizeof(*v)) >= 0)
			for (unsigned i = 0; i < n; i++)
				pin_msghdr(c, &v[i].msg_hdr);
		if (c->nr == SYS_recvmmsg)
			pin(c, P(4), 16);
		return 1;
	}
	case SYS_connect: case SYS_bind:
		pin(c, P(1), (size_t)A(2));
		return 1;
	case SYS_accept: case SYS_accept4: case SYS_getsockname: case SYS_getpeername:
		pin_lenbuf(c, P(1), P(2));
		return 1;
	case SYS_setsockopt:
		pin(c, P(3), (size_t)A(4));
		return 1;
	case SYS_getsockopt:
		pin_lenbuf(c, P(3), P(4));
		return 1;
	case SYS_socketpair:
		pin(c, P(3), 2 * sizeof(int));
		return 1;
	case SYS_pipe: case SYS_pipe2:
		pin(c, P(0), 2 * sizeof(int));
		return 1;

	/* paths */
	case SYS_open: case SYS_access: case SYS_chdir: case SYS_mkdir: case SYS_rmdir: case SYS_creat:
	case SYS_unlink: case SYS_chmod: case SYS_chown: case SYS_lchown: case SYS_truncate:
	case SYS_acct: case SYS_chroot: case SYS_swapon: case SYS_swapoff: case SYS_umount2:
		pin_str(c, P(0));
		return 1;
	case SYS_openat: case SYS_mkdirat: case SYS_mknodat: case SYS_fchownat: case SYS_unlinkat:
	case SYS_fchmodat: case SYS_faccessat: case SYS_faccessat2:
		pin_str(c, P(1));
		return 1;
	case SYS_openat2:
		pin_str(c, P(1));
		pin(c, P(2), (size_t)A(3));
		return 1;
	case SYS_rename: case SYS_link: case SYS_symlink:
		pin_str(c, P(0));
		pin_str(c, P(1));
		return 1;
	case SYS_renameat: case SYS_renameat2: case SYS_linkat:
		pin_str(c, P(1));
		pin_str(c, P(3));
		return 1;
	case SYS_symlinkat:
		pin_str(c, P(0));
		pin_str(c, P(2));
		return 1;
	case SYS_stat: case SYS_lstat:
		pin_str(c, P(0));
		pin(c, P(1), sizeof(struct stat));
		return 1;
	case SYS_fstat:
		pin(c, P(1), sizeof(struct stat));
		return 1;
	case SYS_newfstatat:
		pin_str(c, P(1));
		pin(c, P(2), sizeof(struct stat));
		return 1;
	case SYS_statx:
		pin_str(c, P(1));
		pin(c, P(4), 256);
		return 1;
	case SYS_statfs:
		pin_str(c, P(0));
		pin(c, P(1), 120);
		return 1;
	case SYS_fstatfs:
		pin(c, P(1), 120);
		return 1;
	case SYS_readlink:
		pin_str(c, P(0));
		c->a[2] = (long)pin_cut(c, P(1), (size_t)A(2));
		return 1;
	case SYS_readlinkat:
		pin_str(c, P(1));
		c->a[3] = (long)pin_cut(c, P(2), (size_t)A(3));
		return 1;
	case SYS_getcwd:
		pin(c, P(0), (size_t)A(1));
		return 1;
	case SYS_utimensat:
		pin_str(c, P(1));
		pin(c, P(2), 32);
		return 1;
	case SYS_execve:
		pin_str(c, P(0));
		pin_strv(c, P(1));
		pin_strv(c, P(2));
		return 1;
	case SYS_execveat:
		pin_str(c, P(1));
		pin_strv(c, P(2));
		pin_strv(c, P(3));
		return 1;
	case SYS_inotify_add_watch:
		pin_str(c, P(1));
		return 1;
	case SYS_getxattr: case SYS_lgetxattr: case SYS_setxattr: case SYS_lsetxattr:
		pin_str(c, P(0));
		pin_str(c, P(1));
		pin(c, P(2), (size_t)A(3));
		return 1;
	case SYS_fgetxattr: case SYS_fsetxattr:
		pin_str(c, P(1));
		pin(c, P(2), (size_t)A(3));
		return 1;
	case SYS_listxattr: case SYS_llistxattr:
		pin_str(c, P(0));
		pin(c, P(1), (size_t)A(2));
		return 1;
	case SYS_flistxattr:
		pin(c, P(1), (size_t)A(2));
		return 1;

	/* small structs */
	case SYS_poll:
		pin(c, P(0), (size_t)A(1) * 8);
		return 1;
	case SYS_ppoll:
		pin(c, P(0), (size_t)A(1) * 8);
		pin(c, P(2), 16);
		pin(c, P(3), 8);
		return 1;
	case SYS_select: case SYS_pselect6:
		for (int i = 1; i <= 3; i++)
			pin(c, P(i), ((size_t)A(0) + 7) / 8);
		pin(c, P(4), 16);
		if (c->nr == SYS_pselect6)
			pin(c, P(5), 16);
		return 1;
	case SYS_epoll_wait: case SYS_epoll_pwait:
		pin(c, P(1), (size_t)A(2) * 12);
		if (c->nr == SYS_epoll_pwait)
			pin(c, P(4), 8);
		return 1;
	case SYS_epoll_ctl:
		pin(c, P(3), 12);
		return 1;
	case SYS_nanosleep:
		pin(c, P(0), 16);
		pin(c, P(1), 16);
		return 1;
	case SYS_clock_nanosleep:
		pin(c, P(2), 16);
		pin(c, P(3), 16);
		return 1;
	case SYS_clock_gettime: case SYS_clock_getres: case SYS_clock_settime:
		pin(c, P(1), 16);
		return 1;
	case SYS_gettimeofday:
		pin(c, P(0), 16);
		pin(c, P(1), 8);
		return 1;
	case SYS_time:
		pin(c, P(0), 8);
		return 1;
	case SYS_wait4:
		pin(c, P(1), sizeof(int));
		pin(c, P(3), 144);
		return 1;
	case SYS_waitid:
		pin(c, P(2), 128);
		pin(c, P(4), 144);
		return 1;
	case SYS_uname:
		pin(c, P(0), 390);
		return 1;
	case SYS_sysinfo:
		pin(c, P(0), 112);
		return 1;
	case SYS_times:
		pin(c, P(0), 32);
		return 1;
	case SYS_getrusage:
		pin(c, P(1), 144);
		return 1;
	case SYS_getrlimit: case SYS_setrlimit:
		pin(c, P(1), 16);
		return 1;
	case SYS_prlimit64:
		pin(c, P(2), 16);
		pin(c, P(3), 16);
		return 1;
	case SYS_sched_getaffinity: case SYS_sched_setaffinity:
		pin(c, P(2), (size_t)A(1));
		return 1;
	case SYS_prctl:
		if (A(0) == 15 || A(0) == 16)      /* PR_SET_NAME, PR_GET_NAME */
			pin(c, P(1), 16);
		return 1;
	case SYS_sigaltstack: {
		stack_t *ss = P(0);
		pin(c, P(1), sizeof(stack_t));
		if (pin(c, ss, sizeof(stack_t)) >= 0 && ss && !(ss->ss_flags & SS_DISABLE) &&
		    emulated(ss->ss_sp) && ss->ss_size)
			/* The kernel writes signal frames there: keep it resident
			 * for good (never unpinned). */
			if (pagemu_pin(gvm, ss->ss_sp, ss->ss_size) < 0)
				warn_once((unsigned long)c->nr, "cannot pin an alternate signal stack in emulated memory");
		return 1;
	}
	case SYS_sendfile:
		pin(c, P(2), 8);
		return 1;
	case SYS_copy_file_range: case SYS_splice:
		pin(c, P(1), 8);
		pin(c, P(3), 8);
		return 1;
	case SYS_mincore:
		pin(c, P(2), ((size_t)A(1) + 4095) / 4096);
		return 1;
	case SYS_getgroups:
		pin(c, P(1), (size_t)A(0) * 4);
		return 1;
	case SYS_timerfd_settime:
		pin(c, P(2), 32);
		pin(c, P(3), 32);
		return 1;
	case SYS_timerfd_gettime:
		pin(c, P(1), 32);
		return 1;
	case SYS_rt_sigtimedwait:
		pin(c, P(0), 8);
		pin(c, P(1), 128);
		pin(c, P(2), 16);
		return 1;
	case SYS_rt_sigpending:
		pin(c, P(0), 8);
		return 1;
	case SYS_futex: {
		int op = (int)A(1) & 127;   /* FUTEX_CMD_MASK */
		pin(c, P(0), 4);
		if (op == 0 || op == 9 || op == 6 || op == 11 || op == 13)   /* WAIT, WAIT_BITSET, LOCK_PI(2), WAIT_REQUEUE_PI */
			pin(c, P(3), 16);
		if (op == 3 || op == 4 || op == 5 || op == 11 || op == 12)   /* REQUEUE, CMP_REQUEUE, WAKE_OP, *_PI */
			pin(c, P(4), 4);
		return 1;
	}
	}
	return 0;
}

/* Calls the guard cannot decode: pin the page of each argument that points
 * into emulated memory, and say so once. */
static void fallback(struct call *c)
{
	int any = 0;

	for (int i = 0; i < 6; i++)
		if (emulated(P(i))) {
			pin(c, P(i), 1);
			any = 1;
		}
	if (any)
		warn_once((unsigned long)c->nr, "not decoded; pinned the page of each argument in emulated memory");
}

/* ---- the handler ------------------------------------------------------------------ */

/* The trampoline for a call site (the address after its syscall). */
static char *tramp_for(uintptr_t ret, int vfork_like)
{
	uintptr_t *slots = vfork_like ? pm_sud_vslots : pm_sud_slots;
	char *base = vfork_like ? pm_sud_vtramps : pm_sud_tramps;
	size_t size = vfork_like ? VTRAMP_SIZE : TRAMP_SIZE;

	for (int i = 0; i < NTRAMP; i++) {
		uintptr_t v = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
		if (v == ret)
			return base + i * size;
		if (v == 0) {
			uintptr_t z = 0;
			if (__atomic_compare_exchange_n(&slots[i], &z, ret, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
			    z == ret)
				return base + i * size;
		}
	}
	return NULL;
}

/* clone/clone3/vfork whose child shares memory and TLS and makes the
 * parent wait (vfork, posix_spawn): the child can register itself. */
static int vfork_like(const struct call *c)
{
	uint64_t f;

	if (c->nr == SYS_vfork)
		return 1;
	if (c->nr == SYS_clone)
		f = (uint64_t)c->a[0];
	else if (c->nr == SYS_clone3 && c->a[0] && (size_t)c->a[1] >= 8)
		f = *(const uint64_t *)c->a[0];
	else
		return 0;
	return (f & CLONE_VM) && (f & CLONE_VFORK) && !(f & CLONE_SETTLS) && pm_sud_scr_off;
}

static long sys_sigprocmask(ucontext_t *uc, int how, const uint64_t *set, uint64_t *oset, size_t size)
{
	uint64_t *cur = (uint64_t *)(void *)&uc->uc_sigmask;   /* the kernel's 64 signals */
	uint64_t old, nw;

	if (size != 8)
		return -EINVAL;
	old = *cur;
	if (set) {
		uint64_t s = *set;
		switch (how) {
		case SIG_BLOCK: nw = old | s; break;
		case SIG_UNBLOCK: nw = old & ~s; break;
		case SIG_SETMASK: nw = s; break;
		default: return -EINVAL;
		}
		*cur = nw & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) | SIGBIT(SIGSYS));
	}
	if (oset)
		*oset = old;
	return 0;
}

static void segv_wrap(int sig, siginfo_t *si, void *uc);

static long sys_sigaction(int sig, const struct ksigaction *act, struct ksigaction *oact, size_t size)
{
	struct ksigaction k;

	if (size != 8)
		return -EINVAL;
	if (sig == SIGSYS) {
		/* Keep the guard's; the program sees the default. */
		if (oact)
			memset(oact, 0, sizeof(*oact));
		return 0;
	}
	if (!act)
		return raw6(SYS_rt_sigaction, sig, 0, (long)oact, 8, 0, 0);
	k = *act;
	k.mask &= ~SIGBIT(SIGSYS);
	if (k.handler != SIG_DFL && k.handler != SIG_IGN && (k.flags & K_SA_RESTORER))
		k.restorer = (void *)pm_sud_restorer;
	/* (real_segv stays: segv_wrap only runs while it is installed, and a
	 * posix_spawn child, sharing our memory, resets every handler.) */
	return raw6(SYS_rt_sigaction, sig, (long)&k, (long)oact, 8, 0, 0);
}

static void sigsys_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	int saved_errno = errno;
	struct call c;
	long ret;

	if (si->si_code != SYS_USER_DISPATCH) {
		/* Not ours (seccomp, kill): what the default would do. */
		struct ksigaction dfl = { 0 };
		raw6(SYS_rt_sigaction, SIGSYS, (long)&dfl, 0, 8, 0, 0);
		raw3(SYS_tgkill, raw3(SYS_getpid, 0, 0, 0), raw3(SYS_gettid, 0, 0, 0), SIGSYS);
		return;
	}
	c.nr = g[REG_RAX];
	c.a[0] = g[REG_RDI];
	c.a[1] = g[REG_RSI];
	c.a[2] = g[REG_RDX];
	c.a[3] = g[REG_R10];
	c.a[4] = g[REG_R8];
	c.a[5] = g[REG_R9];
	c.prev = sel;
	if (exec_pins.n) {
		/* A vfork child of this thread exec'd with these pinned. */
		sel = SUD_ALLOW;
		for (int i = 0; i < exec_pins.n; i++)
			pagemu_unpin(gvm, exec_pins.pins[i].p, exec_pins.pins[i].n);
		exec_pins.n = 0;
		sel = c.prev;
	}

	switch (c.nr) {
	case SYS_rt_sigreturn:
		/* A restorer outside the range: do it from inside, same stack. */
		g[REG_RIP] = (greg_t)(uintptr_t)pm_sud_sigreturn;
		g[REG_RAX] = SYS_rt_sigreturn;
		errno = saved_errno;
		return;
	case SYS_clone: case SYS_clone3: case SYS_fork: case SYS_vfork: {
		char *t = tramp_for((uintptr_t)g[REG_RIP], vfork_like(&c));
		if (t) {
			g[REG_RIP] = (greg_t)(uintptr_t)t;
			g[REG_RAX] = c.nr;
		} else {
			warn_once((unsigned long)c.nr, "no trampoline left for this call site; ENOSYS");
			g[REG_RAX] = -ENOSYS;
		}
		errno = saved_errno;
		return;
	}
	case SYS_rt_sigprocmask:
		g[REG_RAX] = sys_sigprocmask(uc, (int)c.a[0], (const uint64_t *)c.a[1], (uint64_t *)c.a[2],
					     (size_t)c.a[3]);
		errno = saved_errno;
		return;
	case SYS_rt_sigaction:
		g[REG_RAX] = sys_sigaction((int)c.a[0], (const struct ksigaction *)c.a[1],
					   (struct ksigaction *)c.a[2], (size_t)c.a[3]);
		errno = saved_errno;
		return;
	case SYS_rt_sigsuspend:
		if (c.a[1] == 8 && c.a[0]) {
			uint64_t m = *(uint64_t *)c.a[0] & ~SIGBIT(SIGSYS);
			g[REG_RAX] = raw3(SYS_rt_sigsuspend, (long)&m, 8, 0);
			errno = saved_errno;
			return;
		}
		break;
	}

	c.npins = 0;
	c.failed = 0;
	c.budget = budget_max;
	if (!pm_shim_depth) {
		sel = SUD_ALLOW;
		if (!decode(&c))
			fallback(&c);
		sel = c.prev;
		if (c.failed)
			warn_once((unsigned long)c.nr, c.failed == -ENOSPC ? "emulated memory too large to pin; may fail with EFAULT"
						   : "could not pin emulated memory; may fail with EFAULT");
	}
	if ((c.nr == SYS_execve || c.nr == SYS_execveat) && c.npins) {
		memcpy(exec_pins.pins, c.pins, sizeof(c.pins[0]) * (size_t)c.npins);
		exec_pins.n = c.npins;
	}
	ret = raw6(c.nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5]);
	exec_pins.n = 0;                 /* (only reached when it failed) */
	if (c.npins) {
		sel = SUD_ALLOW;
		unpin_all(&c);
		sel = c.prev;
	}
	g[REG_RAX] = ret;
	errno = saved_errno;
}

/* pagemu's fault handler (libsigsegv's) runs with the selector at ALLOW. */
static void segv_wrap(int sig, siginfo_t *si, void *uc)
{
	void (*h)(int, siginfo_t *, void *) = real_segv[sig == SIGBUS];
	char prev = sel;

	if (!h) {
		/* Replaced meanwhile (not expected): the default action. */
		struct ksigaction dfl = { 0 };
		raw6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
		return;
	}
	sel = SUD_ALLOW;
	h(sig, si, uc);
	sel = prev;
}

/* ---- set-up --------------------------------------------------------------------------- */

static int find_range(void)
{
	Dl_info info;

	if (!dladdr((void *)&pm_guard_init, &info) || !info.dli_fbase)
		return -1;
	const ElfW(Ehdr) *eh = info.dli_fbase;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	uintptr_t base = (uintptr_t)eh;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
			range_lo = base + ph[i].p_vaddr;
			range_hi = range_lo + ph[i].p_memsz;
		}
	if (!range_lo || (uintptr_t)pm_sud_tramps < range_lo || (uintptr_t)pm_sud_tramps >= range_hi ||
	    (uintptr_t)sigsys_handler < range_lo || (uintptr_t)sigsys_handler >= range_hi)
		return -1;
	return 0;
}

int pm_guard_init(pagemu_t *vm, size_t limit)
{
	struct ksigaction sa = { 0 }, old;
	const char *env = getenv("PAGEMU_SYSCALL_GUARD");

	if (env && strcmp(env, "0") == 0)
		return 0;
	gvm = vm;
	budget_max = limit ? limit : 1 << 20;
	if (find_range() < 0) {
		say("pagemu-preload: syscall guard: cannot find the shim's code; guard off\n");
		return -1;
	}
	/* Probe: is syscall user dispatch there? (OFF is harmless.) */
	if (raw6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, 0, 0, 0, 0, 0) < 0) {
		say("pagemu-preload: syscall guard: PR_SET_SYSCALL_USER_DISPATCH unsupported (Linux >= 5.11); guard off\n");
		return -1;
	}
	sa.handler = (void *)sigsys_handler;
	sa.flags = SA_SIGINFO | SA_NODEFER | K_SA_RESTORER;
	sa.restorer = (void *)pm_sud_restorer;
	if (raw6(SYS_rt_sigaction, SIGSYS, (long)&sa, 0, 8, 0, 0) < 0)
		return -1;
	/* Handlers installed so far return through our restorer; pagemu's
	 * fault handler runs with the selector at ALLOW. */
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
			real_segv[s == SIGBUS] = old.handler;
			old.handler = (void *)segv_wrap;
		}
		raw6(SYS_rt_sigaction, s, (long)&old, 0, 8, 0, 0);
	}
	{
		uintptr_t tp;
		__asm__("mov %%fs:0, %0" : "=r"(tp));
		pm_sud_lo = range_lo;
		pm_sud_len = range_hi - range_lo;
		pm_sud_sel_off = (long)((uintptr_t)&sel - tp);
		pm_sud_scr_off = (long)((uintptr_t)scratch - tp);
	}
	atomic_store(&active, 1);
	pm_guard_thread();
	if (!registered) {
		atomic_store(&active, 0);
		return -1;
	}
	return 0;
}

/* ---- new threads ------------------------------------------------------------------------ */

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *thread_start(void *p)
{
	struct start s = *(struct start *)p;

	pm_boot_free(p);
	pm_guard_thread();
	return s.fn(s.arg);
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	struct start *s;
	int rc;

	if (!real)
		real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))pm_shim_dlsym("pthread_create");
	if (!real)
		return EAGAIN;
	if (!pm_guard_active() || !(s = pm_boot_alloc(0, sizeof(*s))))
		return real(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	rc = real(t, attr, thread_start, s);
	if (rc)
		pm_boot_free(s);
	return rc;
}
