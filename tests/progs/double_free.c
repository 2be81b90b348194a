/* double_free.c - frees a large block twice (or reallocs it after its
 * free): under `pagemu run` its region is gone by then, and the shim must
 * abort with pagemu's message instead of handing the pointer to glibc
 * (which crashed on it without a word). usage: double_free free|realloc */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	size_t n = 10u << 20;
	char *p = malloc(n);

	memset(p, 1, n);
	free(p);
	printf("freed once\n");
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "realloc"))
		p = realloc(p, 100);
	else
		free(p);
	printf("still running\n");
	return 0;
}
