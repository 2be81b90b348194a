/* alloc_mix.c - a program test_preload runs natively and under pagemu run:
 * threads, stdio (a file read with fgets, large printf and fwrite), realloc
 * growth, posix_memalign, and fork + exec. Its output must not depend on
 * the allocator. usage: alloc_mix FILE */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long result[3];

static void *worker(void *arg)
{
	uint64_t s = (uintptr_t)arg, sum = 0;
	char **v = NULL;
	size_t n = 0;

	for (int i = 0; i < 20000; i++) {           /* realloc-heavy: a growing vector of strings */
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n] = malloc(16 + i % 300);
		snprintf(v[n], 16, "%d", i);
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		sum += strtoul(v[i], NULL, 10) * s;
		free(v[i]);
	}
	free(v);
	for (int i = 0; i < 2000; i++) {            /* posix_memalign-heavy */
		void *p;
		size_t a = (size_t)16 << (i % 8);
		if (posix_memalign(&p, a, 100 + i) || (uintptr_t)p % a)
			return (void *)1;
		memset(p, i, 100 + i);
		sum += ((unsigned char *)p)[99 + i];
		free(p);
	}
	result[s] = (unsigned long)sum;         /* printed by main, in order */
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	char line[256], *big;
	unsigned long lines = 0, chars = 0;
	FILE *f;

	if (argc < 2 || !(f = fopen(argv[1], "r")))
		return 2;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		chars += strlen(line);
	}
	fclose(f);
	printf("read %lu lines, %lu chars\n", lines, chars);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("workers: %lu %lu\n", result[1], result[2]);
	big = malloc(300000);                       /* one large printf, one large fwrite */
	for (int i = 0; i < 299999; i++)
		big[i] = (char)('a' + i % 26);
	big[299999] = 0;
	printf("%s\n", big);
	fwrite(big, 1, 299999, stdout);
	printf("\n");
	free(big);
	fflush(stdout);
	pid_t pid = fork();                         /* fork + exec */
	if (pid == 0) {
		execl("/bin/echo", "echo", "child says hi", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	pid = fork();                               /* fork, exit without exec */
	if (pid == 0)
		exit(3);
	waitpid(pid, &st, 0);
	printf("child exit %d\n", WEXITSTATUS(st));
	return 0;
}
