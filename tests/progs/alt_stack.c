/* alt_stack.c - a program that catches its own stack overflow with a
 * SIGSEGV handler on an alternate stack (as gnulib's c-stack and Rust's
 * overflow message do) and leaves with status 42, after its heap paged
 * through pagemu. The handler reads heap memory too. Natively and under
 * pagemu run it exits 42. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static unsigned char *heap;
static size_t heap_len = 16 << 20;
static unsigned long heap_sum;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	unsigned long sum = 0;
	char here;
	stack_t ss;

	(void)sig; (void)si; (void)ctx;
	/* On the alternate stack, and the heap still reads right. */
	if (sigaltstack(NULL, &ss) < 0 || !(ss.ss_flags & SS_ONSTACK) ||
	    &here < (char *)ss.ss_sp || &here >= (char *)ss.ss_sp + ss.ss_size)
		_exit(43);
	for (size_t i = 0; i < heap_len; i += 4096)
		sum += heap[i];
	_exit(sum == heap_sum ? 42 : 44);
}

static unsigned long recurse(unsigned long n)
{
	volatile char pad[256];

	pad[0] = (char)n;
	if (n == ~0UL)
		return 0;                 /* never: the stack overflows first */
	return recurse(n + 1) + pad[0];   /* not a tail call */
}

int main(void)
{
	/* A small alternate stack: room for two signal frames of the kernel
	 * (the handler's heap reads fault under pagemu) and a little more,
	 * 8 KiB at least (Rust's and the old SIGSTKSZ). Once it is set,
	 * every fault, pagemu's too, enters on it. */
	static char alt[64 << 10];
	size_t frame = (size_t)getauxval(AT_MINSIGSTKSZ), size = 2 * frame + 2048;
	stack_t ss = { .ss_sp = alt, .ss_size = size < 8192 ? 8192 : size };
	struct sigaction sa;

	if (ss.ss_size > sizeof(alt) || !(heap = malloc(heap_len)))
		return 1;
	if (sigaltstack(&ss, NULL) < 0)
		return 2;
	for (size_t i = 0; i < heap_len; i += 4096) {
		heap[i] = (unsigned char)(i >> 12);
		heap_sum += heap[i];
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	printf("recursing\n");
	fflush(stdout);
	return (int)recurse(0);
}
