/* jit.c - a program that changes the protection of memory malloc gave it,
 * as JITs (tcc -run) and checkers do, then pages it out and in again.
 * usage: jit exec|guard|noexec|raw MIB
 *   exec    code written into the heap, made executable (mprotect), run
 *           before and after MIB MiB of other heap evict it
 *   raw     the same, with the mprotect system call made directly
 *   guard   a heap page made PROT_NONE: touching it, after the eviction,
 *           is the program's SIGSEGV (its handler says so and exits 0)
 *   noexec  code run from a heap page never made executable: SIGSEGV,
 *           never a hang */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void on_segv(int sig)
{
	static const char msg[] = "SIGSEGV, as expected\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) > 0)
		_exit(0);
	_exit(1);
}

/* MIB MiB of heap written and read back: under a small pool, the pages
 * touched before are evicted. */
static unsigned long churn(size_t mib)
{
	size_t n = mib << 20;
	unsigned char *p = malloc(n);
	unsigned long sum = 0;

	if (!p)
		exit(1);
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	for (size_t i = 0; i < n; i += 4096)
		sum += p[i];
	free(p);
	return sum;
}

int main(int argc, char **argv)
{
	/* mov eax, 42; ret */
	static const unsigned char insn[] = { 0xb8, 42, 0, 0, 0, 0xc3 };
	const char *mode = argc > 1 ? argv[1] : "exec";
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 8;
	unsigned char *page = aligned_alloc(4096, 3 * 4096);
	int (*f)(void) = (int (*)(void))(page + 4096);
	int rwx = PROT_READ | PROT_WRITE | PROT_EXEC;

	if (!page)
		return 1;
	signal(SIGSEGV, on_segv);
	memset(page, 7, 3 * 4096);
	memcpy(page + 4096, insn, sizeof(insn));
	if (strcmp(mode, "exec") == 0 || strcmp(mode, "raw") == 0) {
		int rc = strcmp(mode, "raw") == 0 ? (int)syscall(SYS_mprotect, page + 4096, 4096, rwx)
						  : mprotect(page + 4096, 4096, rwx);
		if (rc != 0) {
			perror("mprotect");
			return 1;
		}
		printf("before: %d\n", f());
		printf("churn %lu\n", churn(mib));
		printf("after: %d, neighbours %d %d\n", f(), page[0], page[2 * 4096]);
		return 0;
	}
	if (strcmp(mode, "guard") == 0) {
		if (mprotect(page + 4096, 4096, PROT_NONE) != 0) {
			perror("mprotect");
			return 1;
		}
		printf("churn %lu, neighbours %d %d\n", churn(mib), page[0], page[2 * 4096]);
		fflush(stdout);
		printf("%d\n", *(volatile unsigned char *)(page + 4096));
		return 2;
	}
	if (strcmp(mode, "noexec") == 0) {
		printf("churn %lu\n", churn(mib));
		fflush(stdout);
		printf("%d\n", f());
		return 2;
	}
	fprintf(stderr, "usage: jit exec|guard|noexec|raw MIB\n");
	return 1;
}
