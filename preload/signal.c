/* signal.c - signals: the program's own SIGSEGV handler is chained behind
 * pagemu's, and no mask the program sets blocks SIGSEGV or SIGBUS. */
#include <signal.h>
#include <string.h>

#include "engine/engine_api.h"
#include "shim.h"

/* Programs install SIGSEGV handlers of their own (gnulib's c-stack in grep
 * and coreutils, gcc's crash reporter, garbage collectors). Installed for
 * real, such a handler would take pagemu's faults. Instead it is chained
 * behind pagemu's handler, which hands it every fault pagemu does not
 * serve (lib/engine/signal.c). Before pagemu starts it is installed as
 * well, so that it works meanwhile. */
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int s = atomic_load(&pm_shim.state);
	struct sigaction copy;

	/* pagemu's own calls (libsigsegv installing its handler, at start) are
	 * real ones. */
	if (pm_shim_depth)
		return __sigaction(sig, act, old);
	if (act) {
		/* A handler's mask blocks neither SIGSEGV nor SIGBUS (below). */
		copy = *act;
		sigdelset(&copy.sa_mask, SIGSEGV);
		sigdelset(&copy.sa_mask, SIGBUS);
		act = &copy;
	}
	if (sig != SIGSEGV)
		return __sigaction(sig, act, old);
	pm_signal_chain(act, old);
	if (s != SHIM_READY && act)
		return __sigaction(sig, act, NULL);
	return 0;
}

static sighandler_t set_handler(int sig, sighandler_t h, int flags)
{
	struct sigaction a, o;

	memset(&a, 0, sizeof(a));
	a.sa_handler = h;
	a.sa_flags = flags;
	sigemptyset(&a.sa_mask);
	if (sigaction(sig, &a, &o) < 0)
		return SIG_ERR;
	return o.sa_handler;
}

/* BSD semantics, as glibc's signal(). */
EXPORT sighandler_t signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESTART); }
EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESTART); }
EXPORT sighandler_t sysv_signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESETHAND | SA_NODEFER); }
/* What signal() is under strict standards (-std=c99 without
 * _DEFAULT_SOURCE: zstd, for one), and ISO C's ssignal. */
EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESETHAND | SA_NODEFER); }
EXPORT sighandler_t ssignal(int sig, sighandler_t h) { return set_handler(sig, h, SA_RESTART); }

/* A synchronous SIGSEGV that the faulting thread blocks kills the process
 * without any handler running (the kernel cannot deliver it later). GLib,
 * for one, starts its threads with every signal blocked. So no mask the
 * program sets may block SIGSEGV or SIGBUS while pagemu serves faults:
 * not these functions', nor a handler's (sigaction, above). glibc's own
 * raw calls (a thread's exit blocks every signal, then frees its blocks)
 * only the syscall guard sees (guard/sigsys.c). */
static const sigset_t *unblock_faults(int how, const sigset_t *set, sigset_t *copy)
{
	if (!set || how == SIG_UNBLOCK)
		return set;
	*copy = *set;
	sigdelset(copy, SIGSEGV);
	sigdelset(copy, SIGBUS);
	return copy;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	REAL(int, sigprocmask, int, const sigset_t *, sigset_t *)

	return real_sigprocmask(how, unblock_faults(how, set, &copy), old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	REAL(int, pthread_sigmask, int, const sigset_t *, sigset_t *)

	return real_pthread_sigmask(how, unblock_faults(how, set, &copy), old);
}
