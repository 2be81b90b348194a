/* decode.c - the guard's argument decoder: which arguments of a system
 * call are memory the kernel reads or writes, to be pinned. All: signal
 * context, with the selector at ALLOW. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "guard.h"

#define A(i) (c->a[i])
#define P(i) ((void *)c->a[i])

/* 1: decoded (or nothing to pin); 0: unknown. */
static int decode(struct pm_call *c)
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
			pm_guard_pin(c, P(2), 1);
		return 1;

	case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64: case SYS_getdents64:
	case SYS_getdents: case SYS_getrandom:
		if (c->nr == SYS_getrandom)
			c->a[1] = (long)pm_guard_pin_cut(c, P(0), (size_t)A(1));
		else
			c->a[2] = (long)pm_guard_pin_cut(c, P(1), (size_t)A(2));
		return 1;
	case SYS_recvfrom: case SYS_sendto:
		c->a[2] = (long)pm_guard_pin_cut(c, P(1), (size_t)A(2));
		if (c->nr == SYS_recvfrom)
			pm_guard_pin_lenbuf(c, P(4), P(5));
		else
			pm_guard_pin(c, P(4), (size_t)A(5));
		return 1;
	case SYS_readv: case SYS_writev: case SYS_preadv: case SYS_pwritev: case SYS_preadv2:
	case SYS_pwritev2:
		c->a[2] = pm_guard_pin_iov(c, P(1), (int)A(2), 1, &c->a[1]);
		return 1;
	case SYS_recvmsg: case SYS_sendmsg:
		pm_guard_pin_msghdr(c, P(1));
		return 1;
	case SYS_recvmmsg: case SYS_sendmmsg: {
		struct mmsghdr *v = P(1);
		unsigned n = (unsigned)A(2) > 64 ? 64 : (unsigned)A(2);
		if (pm_guard_pin(c, v, n * sizeof(*v)) >= 0)
			for (unsigned i = 0; i < n; i++)
				pm_guard_pin_msghdr(c, &v[i].msg_hdr);
		if (c->nr == SYS_recvmmsg)
			pm_guard_pin(c, P(4), 16);
		return 1;
	}
	case SYS_connect: case SYS_bind:
		pm_guard_pin(c, P(1), (size_t)A(2));
		return 1;
	case SYS_accept: case SYS_accept4: case SYS_getsockname: case SYS_getpeername:
		pm_guard_pin_lenbuf(c, P(1), P(2));
		return 1;
	case SYS_setsockopt:
		pm_guard_pin(c, P(3), (size_t)A(4));
		return 1;
	case SYS_getsockopt:
		pm_guard_pin_lenbuf(c, P(3), P(4));
		return 1;
	case SYS_socketpair:
		pm_guard_pin(c, P(3), 2 * sizeof(int));
		return 1;
	case SYS_pipe: case SYS_pipe2:
		pm_guard_pin(c, P(0), 2 * sizeof(int));
		return 1;

	/* paths */
	case SYS_open: case SYS_access: case SYS_chdir: case SYS_mkdir: case SYS_rmdir: case SYS_creat:
	case SYS_unlink: case SYS_chmod: case SYS_chown: case SYS_lchown: case SYS_truncate:
	case SYS_acct: case SYS_chroot: case SYS_swapon: case SYS_swapoff: case SYS_umount2:
		pm_guard_pin_str(c, P(0));
		return 1;
	case SYS_openat: case SYS_mkdirat: case SYS_mknodat: case SYS_fchownat: case SYS_unlinkat:
	case SYS_fchmodat: case SYS_faccessat: case SYS_faccessat2:
		pm_guard_pin_str(c, P(1));
		return 1;
	case SYS_openat2:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin(c, P(2), (size_t)A(3));
		return 1;
	case SYS_rename: case SYS_link: case SYS_symlink:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin_str(c, P(1));
		return 1;
	case SYS_renameat: case SYS_renameat2: case SYS_linkat:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin_str(c, P(3));
		return 1;
	case SYS_symlinkat:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin_str(c, P(2));
		return 1;
	case SYS_stat: case SYS_lstat:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin(c, P(1), sizeof(struct stat));
		return 1;
	case SYS_fstat:
		pm_guard_pin(c, P(1), sizeof(struct stat));
		return 1;
	case SYS_newfstatat:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin(c, P(2), sizeof(struct stat));
		return 1;
	case SYS_statx:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin(c, P(4), 256);
		return 1;
	case SYS_statfs:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin(c, P(1), 120);
		return 1;
	case SYS_fstatfs:
		pm_guard_pin(c, P(1), 120);
		return 1;
	case SYS_readlink:
		pm_guard_pin_str(c, P(0));
		c->a[2] = (long)pm_guard_pin_cut(c, P(1), (size_t)A(2));
		return 1;
	case SYS_readlinkat:
		pm_guard_pin_str(c, P(1));
		c->a[3] = (long)pm_guard_pin_cut(c, P(2), (size_t)A(3));
		return 1;
	case SYS_getcwd:
		pm_guard_pin(c, P(0), (size_t)A(1));
		return 1;
	case SYS_utimensat:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin(c, P(2), 32);
		return 1;
	case SYS_execve:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin_strv(c, P(1));
		pm_guard_pin_strv(c, P(2));
		return 1;
	case SYS_execveat:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin_strv(c, P(2));
		pm_guard_pin_strv(c, P(3));
		return 1;
	case SYS_inotify_add_watch:
		pm_guard_pin_str(c, P(1));
		return 1;
	case SYS_getxattr: case SYS_lgetxattr: case SYS_setxattr: case SYS_lsetxattr:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin_str(c, P(1));
		pm_guard_pin(c, P(2), (size_t)A(3));
		return 1;
	case SYS_fgetxattr: case SYS_fsetxattr:
		pm_guard_pin_str(c, P(1));
		pm_guard_pin(c, P(2), (size_t)A(3));
		return 1;
	case SYS_listxattr: case SYS_llistxattr:
		pm_guard_pin_str(c, P(0));
		pm_guard_pin(c, P(1), (size_t)A(2));
		return 1;
	case SYS_flistxattr:
		pm_guard_pin(c, P(1), (size_t)A(2));
		return 1;

	/* small structs */
	case SYS_poll:
		pm_guard_pin(c, P(0), (size_t)A(1) * 8);
		return 1;
	case SYS_ppoll:
		pm_guard_pin(c, P(0), (size_t)A(1) * 8);
		pm_guard_pin(c, P(2), 16);
		pm_guard_pin(c, P(3), 8);
		return 1;
	case SYS_select: case SYS_pselect6:
		for (int i = 1; i <= 3; i++)
			pm_guard_pin(c, P(i), ((size_t)A(0) + 7) / 8);
		pm_guard_pin(c, P(4), 16);
		if (c->nr == SYS_pselect6)
			pm_guard_pin(c, P(5), 16);
		return 1;
	case SYS_epoll_wait: case SYS_epoll_pwait:
		pm_guard_pin(c, P(1), (size_t)A(2) * 12);
		if (c->nr == SYS_epoll_pwait)
			pm_guard_pin(c, P(4), 8);
		return 1;
	case SYS_epoll_ctl:
		pm_guard_pin(c, P(3), 12);
		return 1;
	case SYS_nanosleep:
		pm_guard_pin(c, P(0), 16);
		pm_guard_pin(c, P(1), 16);
		return 1;
	case SYS_clock_nanosleep:
		pm_guard_pin(c, P(2), 16);
		pm_guard_pin(c, P(3), 16);
		return 1;
	case SYS_clock_gettime: case SYS_clock_getres: case SYS_clock_settime:
		pm_guard_pin(c, P(1), 16);
		return 1;
	case SYS_gettimeofday:
		pm_guard_pin(c, P(0), 16);
		pm_guard_pin(c, P(1), 8);
		return 1;
	case SYS_time:
		pm_guard_pin(c, P(0), 8);
		return 1;
	case SYS_wait4:
		pm_guard_pin(c, P(1), sizeof(int));
		pm_guard_pin(c, P(3), 144);
		return 1;
	case SYS_waitid:
		pm_guard_pin(c, P(2), 128);
		pm_guard_pin(c, P(4), 144);
		return 1;
	case SYS_uname:
		pm_guard_pin(c, P(0), 390);
		return 1;
	case SYS_sysinfo:
		pm_guard_pin(c, P(0), 112);
		return 1;
	case SYS_times:
		pm_guard_pin(c, P(0), 32);
		return 1;
	case SYS_getrusage:
		pm_guard_pin(c, P(1), 144);
		return 1;
	case SYS_getrlimit: case SYS_setrlimit:
		pm_guard_pin(c, P(1), 16);
		return 1;
	case SYS_prlimit64:
		pm_guard_pin(c, P(2), 16);
		pm_guard_pin(c, P(3), 16);
		return 1;
	case SYS_sched_getaffinity: case SYS_sched_setaffinity:
		pm_guard_pin(c, P(2), (size_t)A(1));
		return 1;
	case SYS_prctl:
		if (A(0) == 15 || A(0) == 16)      /* PR_SET_NAME, PR_GET_NAME */
			pm_guard_pin(c, P(1), 16);
		return 1;
	case SYS_sigaltstack: {
		stack_t *ss = P(0);
		pm_guard_pin(c, P(1), sizeof(stack_t));
		if (pm_guard_pin(c, ss, sizeof(stack_t)) >= 0 && ss && !(ss->ss_flags & SS_DISABLE) &&
		    pm_guard_emulated(ss->ss_sp) && ss->ss_size)
			/* The kernel writes signal frames there: keep it resident
			 * for good (never unpinned). */
			if (pagemu_pin(pm_guard.vm, ss->ss_sp, ss->ss_size) < 0)
				pm_guard_warn_once((unsigned long)c->nr, "cannot pin an alternate signal stack in emulated memory");
		return 1;
	}
	case SYS_sendfile:
		pm_guard_pin(c, P(2), 8);
		return 1;
	case SYS_copy_file_range: case SYS_splice:
		pm_guard_pin(c, P(1), 8);
		pm_guard_pin(c, P(3), 8);
		return 1;
	case SYS_mincore:
		pm_guard_pin(c, P(2), ((size_t)A(1) + 4095) / 4096);
		return 1;
	case SYS_getgroups:
		pm_guard_pin(c, P(1), (size_t)A(0) * 4);
		return 1;
	case SYS_timerfd_settime:
		pm_guard_pin(c, P(2), 32);
		pm_guard_pin(c, P(3), 32);
		return 1;
	case SYS_timerfd_gettime:
		pm_guard_pin(c, P(1), 32);
		return 1;
	case SYS_rt_sigtimedwait:
		pm_guard_pin(c, P(0), 8);
		pm_guard_pin(c, P(1), 128);
		pm_guard_pin(c, P(2), 16);
		return 1;
	case SYS_rt_sigpending:
		pm_guard_pin(c, P(0), 8);
		return 1;
	case SYS_futex: {
		int op = (int)A(1) & 127;   /* FUTEX_CMD_MASK */
		pm_guard_pin(c, P(0), 4);
		if (op == 0 || op == 9 || op == 6 || op == 11 || op == 13)   /* WAIT, WAIT_BITSET, LOCK_PI(2), WAIT_REQUEUE_PI */
			pm_guard_pin(c, P(3), 16);
		if (op == 3 || op == 4 || op == 5 || op == 11 || op == 12)   /* REQUEUE, CMP_REQUEUE, WAKE_OP, *_PI */
			pm_guard_pin(c, P(4), 4);
		return 1;
	}
	}
	return 0;
}

/* Calls the guard cannot decode: pin the page of each argument that points
 * into emulated memory, and say so once. */
static void fallback(struct pm_call *c)
{
	int any = 0;

	for (int i = 0; i < 6; i++)
		if (pm_guard_emulated(P(i))) {
			pm_guard_pin(c, P(i), 1);
			any = 1;
		}
	if (any)
		pm_guard_warn_once((unsigned long)c->nr, "not decoded; pinned the page of each argument in emulated memory");
}

void pm_guard_decode(struct pm_call *c)
{
	if (!decode(c))
		fallback(c);
}
