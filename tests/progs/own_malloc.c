/* own_malloc.c - a program with an allocator of its own, as programs
 * that link jemalloc, tcmalloc or mimalloc in are (rustc, redis): its
 * malloc family is the process's, ahead of the shim's, and its set-up
 * maps its arena while holding its lock. Under pagemu run, that mmap may
 * be the first call pagemu sees (with --mmap it becomes emulated memory):
 * pagemu must start without calling the program's allocator, which would
 * find its own set-up under way (here: says so and aborts; jemalloc waits
 * for its lock forever). Prints a checksum of a list it builds.
 *
 * usage: own_malloc */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA (64u << 20)

static char *arena;
static size_t used;
static volatile int in_setup;   /* (volatile: mmap is a leaf to the compiler) */

static void *take(size_t n)
{
	if (in_setup) {
		static const char msg[] = "own_malloc: allocator re-entered during its own set-up\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		abort();
	}
	if (!arena) {
		in_setup = 1;
		void *p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		in_setup = 0;
		if (p == MAP_FAILED)
			abort();
		arena = p;
	}
	n = (n + 15) / 16 * 16 + 16;
	if (used + n > ARENA) {
		errno = ENOMEM;
		return NULL;
	}
	char *b = arena + used;
	used += n;
	*(size_t *)b = n - 16;
	return b + 16;
}

void *malloc(size_t n) { return take(n); }
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b)
{
	void *p = take(a * b);
	return p ? memset(p, 0, a * b) : NULL;
}
void *realloc(void *p, size_t n)
{
	void *q = take(n);
	if (p && q) {
		size_t old = *(size_t *)((char *)p - 16);
		memcpy(q, p, old < n ? old : n);
	}
	return q;
}
int posix_memalign(void **out, size_t align, size_t n)
{
	char *p = take(n + align);
	if (!p)
		return ENOMEM;
	*out = (void *)(((uintptr_t)p + align - 1) / align * align);
	return 0;
}
void *aligned_alloc(size_t align, size_t n)
{
	void *p;
	return posix_memalign(&p, align, n) ? NULL : p;
}
void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }

struct node {
	struct node *next;
	uint64_t v;
};

int main(void)
{
	struct node *head = NULL;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < 200000; i++) {
		struct node *n = malloc(sizeof(*n));
		n->v = i * 2654435761u;
		n->next = head;
		head = n;
	}
	for (struct node *n = head; n; n = n->next)
		sum += n->v;
	char *s = strdup("own allocator");
	printf("%s: %llu\n", s, (unsigned long long)sum);
	return 0;
}
