/* sigsys.c - the SIGSYS handler: one trapped system call from start to
 * end. Most are made here with what they refer to pinned; the signal calls
 * are emulated so that SIGSYS stays the guard's; the calls that must run
 * in the caller's context go to a trampoline, but for a fork fork()'s
 * atfork handlers did not prepare, made here around them. Also the
 * wrapper that runs pagemu's fault handler with the selector at ALLOW. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "engine/engine_api.h"
#include "heap/heap.h"
#include "guard.h"

/* Pins of an execve in flight: if it succeeds in a vfork child, the parent
 * (same thread memory) releases them when it next traps. */
static __thread struct {
	int n;
	struct pm_pin pins[PM_GUARD_MAXPINS];
} exec_pins IE;

/* signal context: sig's action back to the default. */
static void default_action(int sig)
{
	struct ksigaction dfl = { 0 };

	raw6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
}

/* signal context: rt_sigprocmask on the mask sigreturn restores (uc's),
 * which never blocks SIGSYS, SIGSEGV or SIGBUS. */
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
		*cur = nw & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) | PM_GUARD_UNBLOCKABLE);
	}
	if (oset)
		*oset = old;
	return 0;
}

/* signal context: a SIGSEGV handler installed with the system call itself
 * (glibc's __sysv_signal, sigset and ssignal reach it without the shim's
 * sigaction; a static library; the program's own syscall()): chained
 * behind pagemu's handler as the shim's sigaction does, never installed,
 * or it would take pagemu's faults. */
static long chain_segv(const struct ksigaction *act, struct ksigaction *oact)
{
	struct sigaction a, o;

	if (act) {
		memset(&a, 0, sizeof(a));
		a.sa_handler = (sighandler_t)act->handler;
		a.sa_flags = (int)(act->flags & ~K_SA_RESTORER);
		memcpy(&a.sa_mask, &act->mask, sizeof(act->mask));
		sigdelset(&a.sa_mask, SIGSEGV);
		sigdelset(&a.sa_mask, SIGBUS);
	}
	pm_signal_chain(act ? &a : NULL, &o);
	if (oact) {
		memset(oact, 0, sizeof(*oact));
		oact->handler = (void *)o.sa_handler;
		oact->flags = (unsigned long)(unsigned)o.sa_flags;
		memcpy(&oact->mask, &o.sa_mask, sizeof(oact->mask));
	}
	return 0;
}

/* signal context: rt_sigaction. SIGSYS stays the guard's; other handlers
 * return through our restorer and block neither SIGSYS, SIGSEGV nor SIGBUS. */
static long sys_sigaction(int sig, const struct ksigaction *act, struct ksigaction *oact, size_t size)
{
	struct ksigaction k;
	long ret;
	int stood;

	if (size != 8)
		return -EINVAL;
	if (sig == SIGSYS) {
		/* Keep the guard's; the program sees the default. */
		if (oact)
			memset(oact, 0, sizeof(*oact));
		return 0;
	}
	if (sig == SIGSEGV && !pm_shim_depth && atomic_load(&pm_shim.state) == SHIM_READY)
		return chain_segv(act, oact);
	if (pm_guard_death_action(sig, act, oact, &ret))
		return ret;                      /* SIG_DFL of a fatal signal: the stand-in (death.c) */
	if (!act)
		return raw6(SYS_rt_sigaction, sig, 0, (long)oact, 8, 0, 0);
	stood = pm_guard_death_stands(sig);
	k = *act;
	k.mask &= ~PM_GUARD_UNBLOCKABLE;
	if (k.handler != SIG_DFL && k.handler != SIG_IGN && (k.flags & K_SA_RESTORER))
		k.restorer = (void *)pm_sud_restorer;
	/* (real_segv stays: pm_guard_segv only runs while it is installed, and
	 * a posix_spawn child, sharing our memory, resets every handler.) */
	ret = raw6(SYS_rt_sigaction, sig, (long)&k, (long)oact, 8, 0, 0);
	if (ret == 0 && stood)
		pm_guard_death_replaced(sig, oact);
	return ret;
}

/* signal context: c makes a child with a copy of this process's memory
 * (no CLONE_VM) that fork()'s atfork handlers did not prepare (the fork
 * system call made directly, glibc's _Fork, a raw clone): 1 when it can be
 * made here, in the handler, around what those handlers do. The child
 * then goes on from the handler on its copy of this stack: so not on a
 * stack or a TLS of its own. */
static int fork_here(const struct pm_call *c)
{
	uint64_t flags, stack;

	if (c->nr == SYS_vfork || pm_fork_prepared())
		return 0;
	if (c->nr == SYS_fork) {
		flags = stack = 0;
	} else if (c->nr == SYS_clone) {
		flags = (uint64_t)c->a[0];
		stack = (uint64_t)c->a[1];
	} else {
		const uint64_t *args = (const uint64_t *)c->a[0];  /* struct clone_args */
		if (!args || (size_t)c->a[1] < 64)
			return 0;
		flags = args[0];
		stack = args[5];
	}
	if (flags & CLONE_VM)
		return 0;                 /* memory shared anyway: a thread, a vfork */
	if (stack || (flags & CLONE_SETTLS)) {
		pm_guard_warn_once((unsigned long)c->nr, "a child without CLONE_VM on a stack or TLS of its own: "
							 "it shares emulated memory with its parent");
		return 0;
	}
	return 1;
}

/* signal context: the fork c, with what fork()'s atfork handlers do around
 * it: the heap's and the engine's (the child's private copy of emulated
 * memory), and the child's registration with the guard. Parent and child
 * both return from here. */
static long fork_with_handlers(const struct pm_call *c)
{
	long ret;

	pm_guard_sel = SUD_ALLOW;
	pm_heap_fork_prepare();
	pm_fork_prepare();
	ret = raw6(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
	if (ret == 0) {
		pm_fork_child();
		pm_heap_fork_child();
		pm_guard_thread();        /* the kernel does not pass it on */
	} else {
		pm_fork_parent();
		pm_heap_fork_release();
	}
	pm_guard_sel = c->prev;
	return ret;
}

/* signal context: clone, clone3, fork, vfork go on from a trampoline. */
static void to_trampoline(const struct pm_call *c, greg_t *g)
{
	char *t = pm_guard_tramp(c, (uintptr_t)g[REG_RIP]);

	if (t) {
		g[REG_RIP] = (greg_t)(uintptr_t)t;
		g[REG_RAX] = c->nr;
	} else {
		pm_guard_warn_once((unsigned long)c->nr, "no trampoline left for this call site; ENOSYS");
		g[REG_RAX] = -ENOSYS;
	}
}

/* signal context: the calls not made here as they are. 1 when c was dealt
 * with (the registers in uc say what comes next), 0 to make it. */
static int emulate(const struct pm_call *c, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	long ret;

	switch (c->nr) {
	case SYS_rt_sigreturn:
		/* A restorer outside the range: do it from inside, same stack. */
		g[REG_RIP] = (greg_t)(uintptr_t)pm_sud_sigreturn;
		g[REG_RAX] = SYS_rt_sigreturn;
		return 1;
	case SYS_clone: case SYS_clone3: case SYS_fork: case SYS_vfork:
		if (fork_here(c))
			g[REG_RAX] = fork_with_handlers(c);
		else
			to_trampoline(c, g);
		return 1;
	case SYS_rt_sigprocmask:
		g[REG_RAX] = sys_sigprocmask(uc, (int)c->a[0], (const uint64_t *)c->a[1], (uint64_t *)c->a[2],
					     (size_t)c->a[3]);
		return 1;
	case SYS_mprotect:
		if (!pm_shim_protect((void *)c->a[0], (size_t)c->a[1], (int)c->a[2], &ret))
			return 0;
		g[REG_RAX] = ret;
		return 1;
	case SYS_rt_sigaction:
		g[REG_RAX] = sys_sigaction((int)c->a[0], (const struct ksigaction *)c->a[1],
					   (struct ksigaction *)c->a[2], (size_t)c->a[3]);
		return 1;
	case SYS_close: case SYS_dup: case SYS_dup2: case SYS_dup3: case SYS_fcntl: case SYS_close_range:
		if (!pm_guard_fds(c, &ret))
			return 0;
		g[REG_RAX] = ret;
		return 1;
	case SYS_rt_sigsuspend:
		if (c->a[1] == 8 && c->a[0]) {
			uint64_t m = *(uint64_t *)c->a[0] & ~PM_GUARD_UNBLOCKABLE;
			g[REG_RAX] = raw3(SYS_rt_sigsuspend, (long)&m, 8, 0);
			return 1;
		}
		return 0;
	}
	return 0;
}

/* signal context: a vfork child of this thread exec'd with these pinned. */
static void release_exec_pins(char prev)
{
	if (!exec_pins.n)
		return;
	pm_guard_sel = SUD_ALLOW;
	for (int i = 0; i < exec_pins.n; i++)
		pagemu_unpin(pm_guard.vm, exec_pins.pins[i].p, exec_pins.pins[i].n);
	exec_pins.n = 0;
	pm_guard_sel = prev;
}

/* signal context: pin what c refers to (not for pagemu's own calls). */
static void pin_args(struct pm_call *c)
{
	c->npins = 0;
	c->failed = 0;
	c->budget = pm_guard.budget;
	if (pm_shim_depth)
		return;
	pm_guard_sel = SUD_ALLOW;
	pm_guard_decode(c);
	pm_guard_sel = c->prev;
	if (c->failed)
		pm_guard_warn_once((unsigned long)c->nr, c->failed == -ENOSPC ? "emulated memory too large to pin; may fail with EFAULT"
								 : "could not pin emulated memory; may fail with EFAULT");
}

/* signal context: the mask a call sets for its duration (ppoll,
 * pselect6, epoll_pwait, epoll_pwait2) becomes a copy in c that blocks
 * nothing of PM_GUARD_UNBLOCKABLE. */
static void unblock_in_call(struct pm_call *c)
{
	int i;

	switch (c->nr) {
	case SYS_ppoll:
		i = 3;
		break;
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
		i = 4;
		break;
	case SYS_pselect6: {
		const struct { const uint64_t *ss; size_t len; } *arg = (const void *)c->a[5];
		if (!arg || !arg->ss || arg->len != 8)
			return;
		c->mask = *arg->ss & ~PM_GUARD_UNBLOCKABLE;
		c->sel6.ss = &c->mask;
		c->sel6.len = 8;
		c->a[5] = (long)&c->sel6;
		return;
	}
	default:
		return;
	}
	if (!c->a[i] || c->a[i + 1] != 8)
		return;
	c->mask = *(const uint64_t *)c->a[i] & ~PM_GUARD_UNBLOCKABLE;
	c->a[i] = (long)&c->mask;
}

/* signal context: the process ends or becomes another program: the
 * instance, never closed, must write out what it holds first: the dirty
 * pages of the program's shared file mappings (the kernel's page cache
 * would keep them; pagemu's pool goes with the process), then its trace.
 * (An execve that fails has only written them early.) */
static void before_exit(const struct pm_call *c)
{
	if (c->nr != SYS_exit_group && c->nr != SYS_execve && c->nr != SYS_execveat)
		return;
	pm_guard_sel = SUD_ALLOW;
	pm_shim_mmap_exit();
	pm_tracefile_flush(pm_guard.vm);
	pm_guard_sel = c->prev;
}

/* ---- PAGEMU_MMAP: a mapped file's own reads and writes ------------------- */

/* The bytes an iovec array covers. */
static uint64_t iov_bytes(const struct iovec *iov, long cnt)
{
	uint64_t n = 0;

	for (long i = 0; iov && i < cnt && i < 1024; i++)
		n += iov[i].iov_len;
	return n;
}

/* The file position of fd (for read and write, which use it). */
static uint64_t position(long fd)
{
	long pos = raw3(SYS_lseek, fd, 0, SEEK_CUR);

	return pos < 0 ? 0 : (uint64_t)pos;
}

/* signal context: c reads from a file (before == 1: not made yet) or
 * wrote ret bytes to one. When pagemu maps that file, its copy of the
 * pages and the file must agree, as the kernel's one page cache makes
 * them: before a read, the dirty pages there reach the file; after a
 * write, the written bytes reach pagemu's pages. */
static void file_io(const struct pm_call *c, long ret, int before)
{
	long fd = -1;
	uint64_t off = 0, len = 0;
	int write = 0;

	if (!pm_shim.mmap || pm_shim_depth || (!before && ret < 0))
		return;
	switch (c->nr) {
	case SYS_read:     fd = c->a[0]; off = position(fd); len = (uint64_t)c->a[2]; break;
	case SYS_readv:    fd = c->a[0]; off = position(fd); len = iov_bytes((const void *)c->a[1], c->a[2]); break;
	case SYS_pread64:  fd = c->a[0]; off = (uint64_t)c->a[3]; len = (uint64_t)c->a[2]; break;
	case SYS_preadv: case SYS_preadv2:
		fd = c->a[0];
		off = c->a[3] == -1 ? position(fd) : (uint64_t)c->a[3];
		len = iov_bytes((const void *)c->a[1], c->a[2]);
		break;
	case SYS_sendfile:
		fd = c->a[1];
		off = c->a[2] ? *(const uint64_t *)c->a[2] : position(fd);
		len = (uint64_t)c->a[3];
		break;
	case SYS_copy_file_range:
		fd = c->a[0];
		off = c->a[1] ? *(const uint64_t *)c->a[1] : position(fd);
		len = (uint64_t)c->a[4];
		break;
	case SYS_write:    write = 1; fd = c->a[0]; len = (uint64_t)ret; off = before ? 0 : position(fd) - len; break;
	case SYS_writev:   write = 1; fd = c->a[0]; len = (uint64_t)ret; off = before ? 0 : position(fd) - len; break;
	case SYS_pwrite64: write = 1; fd = c->a[0]; len = (uint64_t)ret; off = (uint64_t)c->a[3]; break;
	case SYS_pwritev: case SYS_pwritev2:
		write = 1;
		fd = c->a[0];
		len = (uint64_t)ret;
		off = c->a[3] == -1 ? (before ? 0 : position(fd) - len) : (uint64_t)c->a[3];
		break;
	case SYS_ftruncate:
		write = 1;
		fd = c->a[0];
		break;
	case SYS_fallocate:
		write = 1;
		fd = c->a[0];
		off = (uint64_t)c->a[2];
		len = (uint64_t)c->a[3];
		break;
	default:
		return;
	}
	if (write == before)
		return;
	pm_guard_sel = SUD_ALLOW;
	if (write)
		pm_filemap_file_written(pm_guard.vm, (int)fd, off, len);
	else
		pm_filemap_file_reading(pm_guard.vm, (int)fd, off, len);
	pm_guard_sel = c->prev;
}

/* signal context: make c with what it refers to pinned; its result. */
static long make_call(struct pm_call *c)
{
	long ret;

	before_exit(c);
	pin_args(c);
	unblock_in_call(c);
	if ((c->nr == SYS_execve || c->nr == SYS_execveat) && c->npins) {
		memcpy(exec_pins.pins, c->pins, sizeof(c->pins[0]) * (size_t)c->npins);
		exec_pins.n = c->npins;
	}
	file_io(c, 0, 1);
	ret = raw6(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
	file_io(c, ret, 0);
	exec_pins.n = 0;                 /* (only reached when it failed) */
	if (c->npins) {
		pm_guard_sel = SUD_ALLOW;
		pm_guard_unpin_all(c);
		pm_guard_sel = c->prev;
	}
	return ret;
}

/* fd is a regular file or a block device: a read or write of it moves
 * every byte asked for, unless at the end of the file or on an error. */
static int whole_file(long fd)
{
	struct stat st;

	return raw3(SYS_fstat, fd, (long)&st, 0) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/* signal context: read, write, pread64 and pwrite64. Their buffer is
 * pinned a budget (a quarter of the pool) at a time: a larger one would
 * make a short transfer where the kernel makes a whole one, and a
 * program that writes a large buffer to a file once, without looking at
 * the count, would lose the rest. So on a regular file the call is made
 * again for the rest of the buffer as long as each part went whole, and
 * returns the bytes of all (or the error, when nothing moved). A pipe's,
 * a socket's or a terminal's short count is theirs to give: returned. */
static long whole_call(struct pm_call *c)
{
	int pos = c->nr == SYS_pread64 || c->nr == SYS_pwrite64;
	long buf = c->a[1], want = c->a[2], off = c->a[3], done = 0, ret;

	if (c->nr != SYS_read && c->nr != SYS_write && !pos)
		return make_call(c);
	for (;;) {
		ret = make_call(c);               /* (c->a[2]: the length cut to the pins) */
		if (ret <= 0)
			return done ? done : ret;
		done += ret;
		if (done >= want || ret < c->a[2] || !whole_file(c->a[0]))
			return done;
		c->a[1] = buf + done;             /* (c is made afresh: pin_args) */
		c->a[2] = want - done;
		if (pos)
			c->a[3] = off + done;
	}
}

void pm_guard_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	int saved_errno = errno;
	struct pm_call c;

	if (si->si_code != SYS_USER_DISPATCH) {
		/* Not ours (seccomp, kill): what the default would do. */
		default_action(SIGSYS);
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
	c.prev = pm_guard_sel;
	release_exec_pins(c.prev);
	if (!emulate(&c, uc))
		g[REG_RAX] = whole_call(&c);
	errno = saved_errno;
}

void pm_guard_segv(int sig, siginfo_t *si, void *uc)
{
	void (*h)(int, siginfo_t *, void *) = pm_guard.real_segv[sig == SIGBUS];
	char prev = pm_guard_sel;

	if (!h) {
		/* Replaced meanwhile (not expected): the default action. */
		default_action(sig);
		return;
	}
	pm_guard_sel = SUD_ALLOW;
	h(sig, si, uc);
	pm_guard_sel = prev;
}
