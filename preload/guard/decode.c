/* decode.c - the guard's argument decoder: which arguments of a system
 * call point to memory the kernel reads or writes, to be pinned for the
 * call. As strace's syscallent table: a table indexed by syscall number
 * whose entry describes each pointer argument (which argument, its kind,
 * where its length is), and a decoder function of its own for the few
 * calls whose memory depends on another argument's value. A call not in
 * the table is not decoded: the page of each argument that points into
 * emulated memory is pinned, and the call reported once.
 *
 * All: signal context, with the selector at ALLOW. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "guard.h"

/* What one pointer argument is, and so what is pinned. */
enum arg_kind {
	ARG_END = 0,                      /* (no more arguments) */
	ARG_FIXED,                        /* size bytes: a struct, an int[2]... */
	ARG_BUF,                          /* arg len * size bytes: a buffer (size 1), an array */
	ARG_BYTE_PER,                     /* a byte per size units of arg len, rounded up: fd_set, mincore's vector */
	ARG_CUT,                          /* arg len bytes the call may use in part: arg len becomes what was pinned */
	ARG_PATH,                         /* a NUL-terminated string */
	ARG_STRV,                         /* a NULL-terminated array of strings */
	ARG_IOV,                          /* an iovec array of arg len, and its buffers; may be cut */
	ARG_MSGHDR,                       /* a struct msghdr, and what it points to */
	ARG_MMSG,                         /* an mmsghdr array of arg len (64 at most), and their msghdrs */
	ARG_LENBUF,                       /* a buffer whose length is the socklen_t at arg len, pinned first */
};

struct sysarg {
	uint8_t  kind;                    /* enum arg_kind */
	uint8_t  arg;                     /* the argument (0-5) that points to the memory */
	uint8_t  len;                     /* the argument that holds its length or count */
	uint16_t size;                    /* bytes: the struct (FIXED), an element (BUF), a unit (BYTE_PER) */
};

#define SYSENT_ARGS 5                     /* pointer arguments at most (pselect6) */
#define SYSENT_NR   512                   /* syscall numbers in the table */

struct sysent {
	uint8_t known;                    /* 0: not decoded */
	struct sysarg args[SYSENT_ARGS];  /* pinned in this order */
	void (*decode)(struct pm_call *c);/* then this, if any */
};

#define FIXED(i, sz)     { ARG_FIXED, i, 0, sz }
#define BUF(i, l)        { ARG_BUF, i, l, 1 }
#define ARRAY(i, l, sz)  { ARG_BUF, i, l, sz }
#define FDSET(i, l)      { ARG_BYTE_PER, i, l, 8 }
#define PAGEVEC(i, l)    { ARG_BYTE_PER, i, l, 4096 }
#define CUT(i, l)        { ARG_CUT, i, l, 0 }
#define PATH(i)          { ARG_PATH, i, 0, 0 }
#define STRV(i)          { ARG_STRV, i, 0, 0 }
#define IOV(i, l)        { ARG_IOV, i, l, 0 }
#define MSGHDR(i)        { ARG_MSGHDR, i, 0, 0 }
#define MMSG(i, l)       { ARG_MMSG, i, l, 0 }
#define LENBUF(i, l)     { ARG_LENBUF, i, l, 0 }

#define NOMEM(name)             [SYS_##name] = { .known = 1 }
#define CALL(name, ...)         [SYS_##name] = { .known = 1, .args = { __VA_ARGS__ } }
#define CALL_FN(name, fn, ...)  [SYS_##name] = { .known = 1, .args = { __VA_ARGS__ }, .decode = fn }

#define P(i) ((void *)c->a[i])

/* sigaltstack: a new stack lies where the kernel writes signal frames:
 * keep it resident for good (never unpinned). */
static void decode_sigaltstack(struct pm_call *c)
{
	stack_t *ss = P(0);

	if (pm_guard_pin(c, ss, sizeof(stack_t)) >= 0 && ss && !(ss->ss_flags & SS_DISABLE) &&
	    pm_guard_emulated(ss->ss_sp) && ss->ss_size)
		if (pagemu_pin(pm_guard.vm, ss->ss_sp, ss->ss_size) < 0)
			pm_guard_warn_once((unsigned long)c->nr, "cannot pin an alternate signal stack in emulated memory");
}

/* futex: the timeout and the second word, by operation. */
static void decode_futex(struct pm_call *c)
{
	int op = (int)c->a[1] & 127;      /* FUTEX_CMD_MASK */

	if (op == 0 || op == 9 || op == 6 || op == 11 || op == 13)   /* WAIT, WAIT_BITSET, LOCK_PI(2), WAIT_REQUEUE_PI */
		pm_guard_pin(c, P(3), 16);
	if (op == 3 || op == 4 || op == 5 || op == 11 || op == 12)   /* REQUEUE, CMP_REQUEUE, WAKE_OP, *_PI */
		pm_guard_pin(c, P(4), 4);
}

/* prctl: the 16-byte name of PR_SET_NAME and PR_GET_NAME. */
static void decode_prctl(struct pm_call *c)
{
	if (c->a[0] == 15 || c->a[0] == 16)
		pm_guard_pin(c, P(1), 16);
}

/* Not here, since the handler deals with them before the decoder:
 * rt_sigreturn, clone, clone3, fork, vfork, rt_sigprocmask, rt_sigaction,
 * rt_sigsuspend (when its mask is well formed; else not decoded). */
static const struct sysent sysent[SYSENT_NR] = {
	/* no memory arguments, or memory the kernel does not read or write
	 * through (mappings), or pagemu's own I/O */
	NOMEM(close), NOMEM(lseek), NOMEM(mmap), NOMEM(mprotect), NOMEM(munmap), NOMEM(brk),
	NOMEM(sched_yield), NOMEM(mremap), NOMEM(msync), NOMEM(madvise), NOMEM(dup), NOMEM(dup2),
	NOMEM(dup3), NOMEM(pause), NOMEM(alarm), NOMEM(getpid), NOMEM(socket), NOMEM(shutdown),
	NOMEM(listen), NOMEM(exit), NOMEM(exit_group), NOMEM(kill), NOMEM(tkill), NOMEM(tgkill),
	NOMEM(flock), NOMEM(fsync), NOMEM(fdatasync), NOMEM(ftruncate), NOMEM(fchdir), NOMEM(fchmod),
	NOMEM(fchown), NOMEM(umask), NOMEM(getuid), NOMEM(getgid), NOMEM(geteuid), NOMEM(getegid),
	NOMEM(setuid), NOMEM(setgid), NOMEM(setpgid), NOMEM(getppid), NOMEM(getpgrp), NOMEM(setsid),
	NOMEM(getpgid), NOMEM(getsid), NOMEM(gettid), NOMEM(set_tid_address), NOMEM(fadvise64),
	NOMEM(fallocate), NOMEM(close_range), NOMEM(io_uring_enter), NOMEM(io_uring_register),
	NOMEM(io_uring_setup), NOMEM(memfd_create), NOMEM(eventfd2), NOMEM(epoll_create1),
	NOMEM(epoll_create), NOMEM(mlock), NOMEM(munlock), NOMEM(mlockall), NOMEM(munlockall),
	NOMEM(arch_prctl), NOMEM(rseq), NOMEM(set_robust_list),
	NOMEM(personality), NOMEM(sync), NOMEM(syncfs), NOMEM(setpriority), NOMEM(getpriority),
	NOMEM(readahead), NOMEM(inotify_init1), NOMEM(inotify_rm_watch),
	NOMEM(timerfd_create), NOMEM(membarrier), NOMEM(pidfd_open),
	NOMEM(sched_get_priority_max), NOMEM(sched_get_priority_min), NOMEM(sched_getscheduler),
	NOMEM(setreuid), NOMEM(setregid), NOMEM(setresuid), NOMEM(setresgid), NOMEM(setfsuid),
	NOMEM(setfsgid), NOMEM(ioprio_get), NOMEM(ioprio_set), NOMEM(pidfd_getfd), NOMEM(inotify_init),
	NOMEM(unshare), NOMEM(setns), NOMEM(eventfd), NOMEM(kcmp), NOMEM(userfaultfd), NOMEM(pkey_alloc),
	NOMEM(pkey_free), NOMEM(pkey_mprotect), NOMEM(mlock2), NOMEM(fanotify_init), NOMEM(tee),
	NOMEM(sync_file_range), NOMEM(vhangup), NOMEM(timer_delete), NOMEM(timer_getoverrun),
	NOMEM(remap_file_pages),
	/* pointer arguments are rare and sized by the request: the page of
	 * an emulated one */
	CALL(fcntl,             FIXED(2, 1)),
	CALL(ioctl,             FIXED(2, 1)),

	/* buffers, sockets */
	CALL(read,              CUT(1, 2)),
	CALL(write,             CUT(1, 2)),
	CALL(pread64,           CUT(1, 2)),
	CALL(pwrite64,          CUT(1, 2)),
	CALL(getdents64,        CUT(1, 2)),
	CALL(getdents,          CUT(1, 2)),
	CALL(getrandom,         CUT(0, 1)),
	CALL(recvfrom,          CUT(1, 2), LENBUF(4, 5)),
	CALL(sendto,            CUT(1, 2), BUF(4, 5)),
	CALL(readv,             IOV(1, 2)),
	CALL(writev,            IOV(1, 2)),
	CALL(preadv,            IOV(1, 2)),
	CALL(pwritev,           IOV(1, 2)),
	CALL(preadv2,           IOV(1, 2)),
	CALL(pwritev2,          IOV(1, 2)),
	CALL(recvmsg,           MSGHDR(1)),
	CALL(sendmsg,           MSGHDR(1)),
	CALL(recvmmsg,          MMSG(1, 2), FIXED(4, 16)),
	CALL(sendmmsg,          MMSG(1, 2)),
	CALL(connect,           BUF(1, 2)),
	CALL(bind,              BUF(1, 2)),
	CALL(accept,            LENBUF(1, 2)),
	CALL(accept4,           LENBUF(1, 2)),
	CALL(getsockname,       LENBUF(1, 2)),
	CALL(getpeername,       LENBUF(1, 2)),
	CALL(setsockopt,        BUF(3, 4)),
	CALL(getsockopt,        LENBUF(3, 4)),
	CALL(socketpair,        FIXED(3, 2 * sizeof(int))),
	CALL(pipe,              FIXED(0, 2 * sizeof(int))),
	CALL(pipe2,             FIXED(0, 2 * sizeof(int))),

	/* paths */
	CALL(open,              PATH(0)),
	CALL(access,            PATH(0)),
	CALL(chdir,             PATH(0)),
	CALL(mkdir,             PATH(0)),
	CALL(rmdir,             PATH(0)),
	CALL(creat,             PATH(0)),
	CALL(unlink,            PATH(0)),
	CALL(chmod,             PATH(0)),
	CALL(chown,             PATH(0)),
	CALL(lchown,            PATH(0)),
	CALL(truncate,          PATH(0)),
	CALL(acct,              PATH(0)),
	CALL(chroot,            PATH(0)),
	CALL(swapon,            PATH(0)),
	CALL(swapoff,           PATH(0)),
	CALL(umount2,           PATH(0)),
	CALL(openat,            PATH(1)),
	CALL(mkdirat,           PATH(1)),
	CALL(mknodat,           PATH(1)),
	CALL(fchownat,          PATH(1)),
	CALL(unlinkat,          PATH(1)),
	CALL(fchmodat,          PATH(1)),
	CALL(faccessat,         PATH(1)),
	CALL(faccessat2,        PATH(1)),
	CALL(openat2,           PATH(1), BUF(2, 3)),
	CALL(rename,            PATH(0), PATH(1)),
	CALL(link,              PATH(0), PATH(1)),
	CALL(symlink,           PATH(0), PATH(1)),
	CALL(renameat,          PATH(1), PATH(3)),
	CALL(renameat2,         PATH(1), PATH(3)),
	CALL(linkat,            PATH(1), PATH(3)),
	CALL(symlinkat,         PATH(0), PATH(2)),
	CALL(stat,              PATH(0), FIXED(1, sizeof(struct stat))),
	CALL(lstat,             PATH(0), FIXED(1, sizeof(struct stat))),
	CALL(fstat,             FIXED(1, sizeof(struct stat))),
	CALL(newfstatat,        PATH(1), FIXED(2, sizeof(struct stat))),
	CALL(statx,             PATH(1), FIXED(4, 256)),
	CALL(statfs,            PATH(0), FIXED(1, 120)),
	CALL(fstatfs,           FIXED(1, 120)),
	CALL(readlink,          PATH(0), CUT(1, 2)),
	CALL(readlinkat,        PATH(1), CUT(2, 3)),
	CALL(getcwd,            BUF(0, 1)),
	CALL(utimensat,         PATH(1), FIXED(2, 32)),
	CALL(execve,            PATH(0), STRV(1), STRV(2)),
	CALL(execveat,          PATH(1), STRV(2), STRV(3)),
	CALL(inotify_add_watch, PATH(1)),
	CALL(getxattr,          PATH(0), PATH(1), BUF(2, 3)),
	CALL(lgetxattr,         PATH(0), PATH(1), BUF(2, 3)),
	CALL(setxattr,          PATH(0), PATH(1), BUF(2, 3)),
	CALL(lsetxattr,         PATH(0), PATH(1), BUF(2, 3)),
	CALL(fgetxattr,         PATH(1), BUF(2, 3)),
	CALL(fsetxattr,         PATH(1), BUF(2, 3)),
	CALL(listxattr,         PATH(0), BUF(1, 2)),
	CALL(llistxattr,        PATH(0), BUF(1, 2)),
	CALL(flistxattr,        BUF(1, 2)),

	/* small structs */
	CALL(poll,              ARRAY(0, 1, 8)),
	CALL(ppoll,             ARRAY(0, 1, 8), FIXED(2, 16), FIXED(3, 8)),
	CALL(select,            FDSET(1, 0), FDSET(2, 0), FDSET(3, 0), FIXED(4, 16)),
	CALL(pselect6,          FDSET(1, 0), FDSET(2, 0), FDSET(3, 0), FIXED(4, 16), FIXED(5, 16)),
	CALL(epoll_wait,        ARRAY(1, 2, 12)),
	CALL(epoll_pwait,       ARRAY(1, 2, 12), FIXED(4, 8)),
	CALL(epoll_ctl,         FIXED(3, 12)),
	CALL(nanosleep,         FIXED(0, 16), FIXED(1, 16)),
	CALL(clock_nanosleep,   FIXED(2, 16), FIXED(3, 16)),
	CALL(clock_gettime,     FIXED(1, 16)),
	CALL(clock_getres,      FIXED(1, 16)),
	CALL(clock_settime,     FIXED(1, 16)),
	CALL(gettimeofday,      FIXED(0, 16), FIXED(1, 8)),
	CALL(time,              FIXED(0, 8)),
	CALL(wait4,             FIXED(1, sizeof(int)), FIXED(3, 144)),
	CALL(waitid,            FIXED(2, 128), FIXED(4, 144)),
	CALL(uname,             FIXED(0, 390)),
	CALL(sysinfo,           FIXED(0, 112)),
	CALL(times,             FIXED(0, 32)),
	CALL(getrusage,         FIXED(1, 144)),
	CALL(getrlimit,         FIXED(1, 16)),
	CALL(setrlimit,         FIXED(1, 16)),
	CALL(prlimit64,         FIXED(2, 16), FIXED(3, 16)),
	CALL(sched_getaffinity, BUF(2, 1)),
	CALL(sched_setaffinity, BUF(2, 1)),
	CALL_FN(prctl,          decode_prctl),
	CALL_FN(sigaltstack,    decode_sigaltstack, FIXED(1, sizeof(stack_t))),
	CALL(sendfile,          FIXED(2, 8)),
	CALL(copy_file_range,   FIXED(1, 8), FIXED(3, 8)),
	CALL(splice,            FIXED(1, 8), FIXED(3, 8)),
	CALL(mincore,           PAGEVEC(2, 1)),
	CALL(getgroups,         ARRAY(1, 0, 4)),
	CALL(timerfd_settime,   FIXED(2, 32), FIXED(3, 32)),
	CALL(timerfd_gettime,   FIXED(1, 32)),
	CALL(rt_sigtimedwait,   FIXED(0, 8), FIXED(1, 128), FIXED(2, 16)),
	CALL(rt_sigpending,     FIXED(0, 8)),
	CALL_FN(futex,          decode_futex, FIXED(0, 4)),
	CALL(getitimer,         FIXED(1, 32)),
	CALL(setitimer,         FIXED(1, 32), FIXED(2, 32)),
	CALL(timer_create,      FIXED(1, 64), FIXED(2, sizeof(int))),
	CALL(timer_settime,     FIXED(2, 32), FIXED(3, 32)),
	CALL(timer_gettime,     FIXED(1, 32)),
	CALL(sched_getattr,     BUF(1, 2)),
	CALL(sched_setattr,     FIXED(1, 56)),
	CALL(sched_getparam,    FIXED(1, sizeof(int))),
	CALL(sched_setparam,    FIXED(1, sizeof(int))),
	CALL(sched_setscheduler, FIXED(2, sizeof(int))),
	CALL(sched_rr_get_interval, FIXED(1, 16)),
	CALL(getresuid,         FIXED(0, 4), FIXED(1, 4), FIXED(2, 4)),
	CALL(getresgid,         FIXED(0, 4), FIXED(1, 4), FIXED(2, 4)),
	CALL(setgroups,         ARRAY(1, 0, 4)),
	CALL(capget,            FIXED(0, 8), FIXED(1, 24)),
	CALL(capset,            FIXED(0, 8), FIXED(1, 24)),
	CALL(getcpu,            FIXED(0, 4), FIXED(1, 4)),
	CALL(get_robust_list,   FIXED(1, 8), FIXED(2, 8)),
	CALL(rt_sigqueueinfo,   FIXED(2, 128)),
	CALL(rt_tgsigqueueinfo, FIXED(3, 128)),
	CALL(pidfd_send_signal, FIXED(2, 128)),
	CALL(signalfd,          FIXED(1, 8)),
	CALL(signalfd4,         FIXED(1, 8)),
	CALL(epoll_pwait2,      ARRAY(1, 2, 12), FIXED(3, 16), FIXED(4, 8)),
	CALL(adjtimex,          FIXED(0, 208)),
	CALL(clock_adjtime,     FIXED(1, 208)),
	CALL(utime,             PATH(0), FIXED(1, 16)),
	CALL(utimes,            PATH(0), FIXED(1, 32)),
	CALL(futimesat,         PATH(1), FIXED(2, 32)),
	CALL(mknod,             PATH(0)),
	CALL(sethostname,       BUF(0, 1)),
	CALL(setdomainname,     BUF(0, 1)),
	CALL(syslog,            CUT(1, 2)),
	CALL(vmsplice,          IOV(1, 2)),
	CALL(mount,             PATH(0), PATH(1), PATH(2)),
	CALL(pivot_root,        PATH(0), PATH(1)),
};

/* An array of mmsghdr (64 at most), then each one's msghdr. */
static void pin_mmsg(struct pm_call *c, struct mmsghdr *v, unsigned cnt)
{
	unsigned n = cnt > 64 ? 64 : cnt;

	if (pm_guard_pin(c, v, n * sizeof(*v)) >= 0)
		for (unsigned i = 0; i < n; i++)
			pm_guard_pin_msghdr(c, &v[i].msg_hdr);
}

static void decode_arg(struct pm_call *c, const struct sysarg *d)
{
	void *p = P(d->arg);
	size_t len = (size_t)c->a[d->len];

	switch ((enum arg_kind)d->kind) {
	case ARG_END:
		break;
	case ARG_FIXED:
		pm_guard_pin(c, p, d->size);
		break;
	case ARG_BUF:
		pm_guard_pin(c, p, len * d->size);
		break;
	case ARG_BYTE_PER:
		pm_guard_pin(c, p, (len + d->size - 1) / d->size);
		break;
	case ARG_CUT:
		c->a[d->len] = (long)pm_guard_pin_cut(c, p, len);
		break;
	case ARG_PATH:
		pm_guard_pin_str(c, p);
		break;
	case ARG_STRV:
		pm_guard_pin_strv(c, p);
		break;
	case ARG_IOV:
		c->a[d->len] = pm_guard_pin_iov(c, p, (int)c->a[d->len], 1, &c->a[d->arg]);
		break;
	case ARG_MSGHDR:
		pm_guard_pin_msghdr(c, p);
		break;
	case ARG_MMSG:
		pin_mmsg(c, p, (unsigned)c->a[d->len]);
		break;
	case ARG_LENBUF:
		pm_guard_pin_lenbuf(c, p, (socklen_t *)c->a[d->len]);
		break;
	}
}

/* A call not in the table: pin the page of each argument that points
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
	const struct sysent *e;

	if ((unsigned long)c->nr >= SYSENT_NR || !sysent[c->nr].known) {
		fallback(c);
		return;
	}
	e = &sysent[c->nr];
	for (int i = 0; i < SYSENT_ARGS && e->args[i].kind != ARG_END; i++)
		decode_arg(c, &e->args[i]);
	if (e->decode)
		e->decode(c);
}
