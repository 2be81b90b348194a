/* own_segv.c - a program with a SIGSEGV handler of its own (as grep's
 * c-stack or gcc's crash reporter have): under pagemu run, paging must go
 * on behind it, and its handler must see the program's real crash only.
 * usage: own_segv [--exit] [[early-]sigaction|sysv|raw]   (--exit: return
 * instead of crashing, so that pagemu's report at exit shows the paging;
 * how the handler is installed: sigaction (the default), glibc's
 * __sysv_signal (what signal() is under -std=c99), or the rt_sigaction
 * system call; after a first malloc, under pagemu run once pagemu has
 * started, or early-: before any) */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

sighandler_t __sysv_signal(int sig, sighandler_t h);

static volatile int caught;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	static const char msg[] = "own handler: caught the crash\n";

	(void)sig;
	(void)ctx;
	if (si->si_addr == (void *)16 && write(1, msg, sizeof(msg) - 1) > 0)
		_exit(0);
	_exit(3);                 /* a fault the handler should never have seen */
}

/* The handler of sysv (no siginfo): only the real crash may reach it. */
static void on_segv_plain(int sig)
{
	static const char msg[] = "own handler: caught the crash\n";

	(void)sig;
	if (caught++ == 0 && write(1, msg, sizeof(msg) - 1) > 0)
		_exit(0);
	_exit(3);
}

/* The kernel's struct sigaction (x86-64). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct ksigaction k;
	const char *mode = "sigaction";
	int exit_early = 0;
	size_t n = 32 << 20;      /* well over the pool: pages fault and are evicted */
	unsigned long sum = 0;
	char *p;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--exit") == 0)
			exit_early = 1;
		else
			mode = argv[i];
	}
	if (strncmp(mode, "early-", 6) == 0)
		mode += 6;
	else {
		void *volatile first = malloc(64);    /* pagemu starts here, under pagemu run */
		free(first);
	}
	if (strcmp(mode, "sysv") == 0) {
		if (__sysv_signal(SIGSEGV, on_segv_plain) == SIG_ERR)
			return 1;
	} else if (strcmp(mode, "raw") == 0) {
		/* x86-64 delivers only with a restorer; the handler never
		 * returns to it. */
		memset(&k, 0, sizeof(k));
		k.handler = (void *)on_segv;
		k.flags = SA_SIGINFO | 0x04000000 /* SA_RESTORER */;
		k.restorer = (void *)abort;
		if (syscall(SYS_rt_sigaction, SIGSEGV, &k, NULL, 8) != 0)
			return 1;
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
	}
	if (!(p = malloc(n)))
		return 1;
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (char)(i >> 12);
	for (size_t i = 0; i < n; i += 4096)
		sum += (unsigned char)p[i];
	printf("sum %lu\n", sum);
	fflush(stdout);
	if (exit_early)
		return 0;
	*(volatile int *)16 = 1;  /* the real crash */
	return 2;
}
