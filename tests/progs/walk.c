/* walk.c - a program test_sweep runs natively and under pagemu sweep: it
 * allocates MiB mebibytes (argument; default 2) in 64 KiB blocks, writes
 * them, walks them ROUNDS times (second argument; default 3) and prints a
 * checksum, so that a pool smaller than its heap pages and the output
 * stays the same. A third argument "fail" makes it exit 3 (a program that
 * fails natively). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (64 * 1024)

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 2, n = mib * 1024 * 1024 / BLOCK;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	uint64_t sum = 0;
	uint8_t **b;

	if (argc > 3 && !strcmp(argv[3], "fail")) {
		fprintf(stderr, "walk: failing as asked\n");
		return 3;
	}
	if (!(b = malloc(n * sizeof(*b))))
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (!(b[i] = malloc(BLOCK)))
			return 1;
		for (size_t j = 0; j < BLOCK; j++)
			b[i][j] = (uint8_t)(i * 31 + j);
	}
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < BLOCK; j += 512)
				sum = sum * 1099511628211ULL + b[i][j] + (uint64_t)r;
	printf("walk %zu MiB, %d rounds: %016llx\n", mib, rounds, (unsigned long long)sum);
	for (size_t i = 0; i < n; i++)
		free(b[i]);
	free(b);
	return 0;
}
