/* own_segv.c - a program with a SIGSEGV handler of its own (as grep's
 * c-stack or gcc's crash reporter have): under pagemu run, paging must go
 * on behind it, and its handler must see the program's real crash only.
 * usage: own_segv [--exit]   (--exit: return instead of crashing, so that
 * pagemu's report at exit shows the paging) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
	struct sigaction sa;
	size_t n = 32 << 20;      /* well over the pool: pages fault and are evicted */
	unsigned long sum = 0;
	char *p;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	if (!(p = malloc(n)))
		return 1;
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (char)(i >> 12);
	for (size_t i = 0; i < n; i += 4096)
		sum += (unsigned char)p[i];
	printf("sum %lu\n", sum);
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "--exit") == 0)
		return 0;
	*(volatile int *)16 = 1;  /* the real crash */
	return 2;
}
