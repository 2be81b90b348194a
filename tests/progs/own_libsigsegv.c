/* own_libsigsegv.c - a program linked with libsigsegv that installs its
 * own handlers (as CLISP, GNU m4 or GNU Smalltalk do): a SIGSEGV handler
 * that serves faults on a PROT_NONE page of its own, and a stack overflow
 * handler on an alternate stack that brings it back to the main loop.
 * Under pagemu run both must work as natively while its heap memory pages
 * through pagemu. cc -o own_libsigsegv own_libsigsegv.c -lsigsegv */
#include <setjmp.h>
#include <signal.h>
#include <sigsegv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *own_page;                    /* PROT_NONE until the handler opens it */
static size_t pagesize;
static volatile int served;               /* faults the SIGSEGV handler served */
static sigjmp_buf mainloop;
static char altstack[64 << 10];

static int on_fault(void *addr, int serious)
{
	(void)serious;
	if ((char *)addr < own_page || (char *)addr >= own_page + pagesize)
		return 0;                         /* not mine */
	if (mprotect(own_page, pagesize, PROT_READ | PROT_WRITE) < 0)
		return 0;
	served++;
	return 1;
}

static void back_to_main(void *a, void *b, void *c)
{
	(void)a; (void)b; (void)c;
	siglongjmp(mainloop, 1);
}

static void on_overflow(int emergency, stackoverflow_context_t ctx)
{
	(void)ctx;
	sigsegv_leave_handler(back_to_main, NULL, NULL, NULL);
	_exit(emergency ? 4 : 5);            /* not reached */
}

static volatile unsigned long depth;

static unsigned long recurse(unsigned long n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	depth = n;
	if (n == ~0UL)
		return 0;                 /* never: the stack overflows first */
	return recurse(n + 1) + pad[0];   /* not a tail call */
}

/* 32 MiB through the heap, well over the pool: pages fault and are evicted. */
static unsigned long heap_sum(unsigned seed)
{
	size_t n = 32 << 20;
	unsigned long sum = 0;
	char *p = malloc(n);

	if (!p)
		exit(1);
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (char)((i >> 12) * seed);
	for (size_t i = 0; i < n; i += 4096)
		sum += (unsigned char)p[i];
	free(p);
	return sum;
}

int main(void)
{
	pagesize = (size_t)sysconf(_SC_PAGESIZE);
	if (sigsegv_install_handler(on_fault) < 0 ||
	    stackoverflow_install_handler(on_overflow, altstack, sizeof(altstack)) < 0) {
		printf("libsigsegv cannot catch faults here\n");
		return 0;
	}
	printf("heap %lu\n", heap_sum(3));
	own_page = mmap(NULL, pagesize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own_page == MAP_FAILED)
		return 1;
	own_page[1] = 42;                         /* faults: the handler opens the page */
	printf("own page %d, served %d\n", own_page[1], served);
	if (sigsetjmp(mainloop, 1) == 0)
		recurse(0);
	else
		printf("stack overflow caught\n");
	printf("heap %lu\n", heap_sum(5));
	return 0;
}
