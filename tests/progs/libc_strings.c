/* libc_strings.c - strings made by libc's own allocations (strdup,
 * asprintf: malloc called from inside libc), each followed by a block of
 * the program's of 4000 bytes, so that the strings lie on pages of their
 * own: many more than the pool holds, all live at once, then checked and
 * freed. Under pagemu run with
 * the syscall guard, libc's blocks must be paged like any other (pinned,
 * they filled the pool: SIGBUS).
 * usage: libc_strings COUNT */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	char **v = malloc(n * sizeof(*v)), **big = malloc(n * sizeof(*big));
	unsigned long sum = 0;

	if (!v || !big)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (i % 2) {
			if (asprintf(&v[i], "string %zu of %zu, made by asprintf", i, n) < 0)
				return 1;
		} else if (!(v[i] = strdup("a string made by strdup, forty-odd bytes"))) {
			return 1;
		}
		if (!(big[i] = malloc(4000)))
			return 1;
		memset(big[i], (int)i, 4000);
	}
	for (size_t i = 0; i < n; i++) {
		sum += strlen(v[i]) + (unsigned char)v[i][i % 20] + (unsigned char)big[i][i % 4000];
		free(v[i]);
		free(big[i]);
	}
	free(v);
	free(big);
	printf("%zu strings, sum %lu\n", n, sum);
	return 0;
}
