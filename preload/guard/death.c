/* death.c - a death by signal: before a signal whose default action ends
 * the process kills it, the dirty pages of the program's shared file
 * mappings reach their files, as they would have: the kernel's page cache
 * outlives a process, whatever ends it; pagemu's pool does not.
 *
 * While the program leaves such a signal at its default action, the
 * guard's handler stands in for it (the program is told SIG_DFL, which is
 * what it set): it writes the pages out, puts the default action back and
 * sends the signal again, which ends the process as it would have ended.
 * A handler of the program's, or SIG_IGN, is installed as usual; its
 * SIG_DFL brings the stand-in back. Only with PAGEMU_MMAP (no shared file
 * mapping is pagemu's otherwise), and only while the guard is on: the
 * guard alone sees every rt_sigaction (glibc's own, a raw syscall).
 *
 * What stays lost: SIGKILL (the OOM killer's too) cannot be caught;
 * SIGSEGV and SIGBUS are pagemu's own signals (a fault that is the
 * program's ends it without this); a signal that arrives while its thread
 * is inside pagemu (an emulated mmap, say, which holds the lock the
 * write-back takes) ends the process without it.
 *
 * Everything here runs in signal context or under the guard's handler. */
#include <string.h>
#include <sys/syscall.h>

#include "guard.h"

/* The signals whose default action ends the process (SIGKILL aside, and
 * SIGSEGV, SIGBUS and SIGSYS, which are pagemu's). */
#define FATAL (SIGBIT(SIGHUP) | SIGBIT(SIGINT) | SIGBIT(SIGQUIT) | SIGBIT(SIGILL) | SIGBIT(SIGTRAP) |           \
	       SIGBIT(SIGABRT) | SIGBIT(SIGFPE) | SIGBIT(SIGUSR1) | SIGBIT(SIGUSR2) | SIGBIT(SIGPIPE) |            \
	       SIGBIT(SIGALRM) | SIGBIT(SIGTERM) | SIGBIT(SIGSTKFLT) | SIGBIT(SIGXCPU) | SIGBIT(SIGXFSZ) |        \
	       SIGBIT(SIGVTALRM) | SIGBIT(SIGPROF) | SIGBIT(SIGIO) | SIGBIT(SIGPWR))

static _Atomic uint64_t standing;         /* signals whose stand-in is installed (the program's SIG_DFL) */

static void stand_in(int sig, siginfo_t *si, void *uc)
{
	struct ksigaction dfl = { 0 };

	(void)si;
	(void)uc;
	pm_guard_sel = SUD_ALLOW;
	if (!pm_shim_depth)
		pm_shim_mmap_exit();
	/* The default action back, then the signal again: not blocked here
	 * (SA_NODEFER, and the mask leaves it out), it ends the process as
	 * the system call returns. */
	atomic_fetch_and(&standing, ~SIGBIT(sig));
	raw6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
	raw3(SYS_tgkill, raw3(SYS_getpid, 0, 0, 0), raw3(SYS_gettid, 0, 0, 0), sig);
}

/* The stand-in for sig, in place of the default action. 0 or -errno. */
static long install(int sig)
{
	struct ksigaction sa = { 0 };
	long rc;

	sa.handler = (void *)stand_in;
	sa.flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | K_SA_RESTORER;
	sa.restorer = (void *)pm_sud_restorer;
	sa.mask = ~(SIGBIT(sig) | PM_GUARD_UNBLOCKABLE);
	rc = raw6(SYS_rt_sigaction, sig, (long)&sa, 0, 8, 0, 0);
	if (rc == 0)
		atomic_fetch_or(&standing, SIGBIT(sig));
	return rc;
}

void pm_guard_death_init(void)
{
	struct ksigaction old;

	if (!pm_shim.mmap)
		return;
	for (int sig = 1; sig < 64; sig++)
		if ((FATAL & SIGBIT(sig)) && raw6(SYS_rt_sigaction, sig, 0, (long)&old, 8, 0, 0) == 0 &&
		    old.handler == SIG_DFL)
			install(sig);
}

int pm_guard_death_action(int sig, const struct ksigaction *act, struct ksigaction *oact, long *ret)
{
	int stands;

	if (sig < 1 || sig >= 64 || !(FATAL & SIGBIT(sig)) || !pm_shim.mmap)
		return 0;
	stands = (atomic_load(&standing) & SIGBIT(sig)) != 0;
	if (act && act->handler != SIG_DFL)
		return 0;                        /* the program's own action: made as any other */
	if (!stands && !act)
		return 0;
	if (!stands) {
		/* SIG_DFL: the stand-in takes its place; what was there is the
		 * program's old action. */
		struct ksigaction prev;
		*ret = raw6(SYS_rt_sigaction, sig, 0, (long)&prev, 8, 0, 0);
		if (*ret == 0)
			*ret = install(sig);
		if (*ret == 0 && oact)
			*oact = prev;
		return 1;
	}
	if (oact)
		memset(oact, 0, sizeof(*oact));  /* SIG_DFL, as the program left it */
	*ret = 0;
	return 1;
}

int pm_guard_death_stands(int sig)
{
	return sig >= 1 && sig < 64 && (atomic_load(&standing) & SIGBIT(sig)) != 0;
}

void pm_guard_death_replaced(int sig, struct ksigaction *oact)
{
	atomic_fetch_and(&standing, ~SIGBIT(sig));
	if (oact)
		memset(oact, 0, sizeof(*oact));  /* the stand-in was SIG_DFL to the program */
}
