/* close_all.c - a program that closes every descriptor above 2, as daemons
 * and sandboxes do, and then uses its heap: under pagemu run the heap's
 * frames and swap must stay reachable although the descriptors the shim
 * opened are gone.
 * usage: close_all MBYTES              close_range(3, ~0U, 0), then the heap work
 *        close_all MBYTES --daemon     fork; the child calls setsid, closes
 *                                      every descriptor (0-2 reopened on
 *                                      /dev/null, the result sent back on a
 *                                      pipe first dup'ed to 0), does the heap
 *                                      work; the parent waits and prints
 * Prints the checksum of the heap work: MBYTES of blocks of 24 KiB written,
 * half freed and allocated again, everything read back. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCK (24 << 10)

static uint64_t fill(unsigned char *b, uint64_t x)
{
	for (size_t i = 0; i < BLOCK; i += 64) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		b[i] = (unsigned char)(x >> 56);
	}
	return x;
}

static uint64_t heap_work(size_t mbytes)
{
	size_t n = (mbytes << 20) / BLOCK;
	unsigned char **blk = malloc(n * sizeof(*blk));
	uint64_t x = 1, sum = 0;

	if (!blk)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!(blk[i] = malloc(BLOCK)))
			return 0;
		x = fill(blk[i], x);
	}
	for (size_t i = 0; i < n; i += 2) {          /* holes, then refill them */
		free(blk[i]);
		if (!(blk[i] = malloc(BLOCK)))
			return 0;
		x = fill(blk[i], x);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < BLOCK; j += 64)
			sum = sum * 31 + blk[i][j];
		free(blk[i]);
	}
	free(blk);
	return sum;
}

int main(int argc, char **argv)
{
	size_t mbytes = argc > 1 ? strtoul(argv[1], NULL, 10) : 16;
	char *before = strdup("heap in use before the descriptors are closed");
	int fd[2];
	pid_t pid;
	int st;

	if (argc < 3 || strcmp(argv[2], "--daemon")) {
		if (close_range(3, ~0U, 0) < 0) {
			perror("close_range");
			return 1;
		}
		printf("%s; after close_range: %016llx\n", before, (unsigned long long)heap_work(mbytes));
		free(before);
		return 0;
	}
	if (pipe(fd) < 0 || (pid = fork()) < 0) {
		perror("pipe/fork");
		return 1;
	}
	if (pid == 0) {
		char line[64];
		int n, null;

		setsid();
		if (dup2(fd[1], 0) < 0)
			_exit(2);
		close_range(1, ~0U, 0);                 /* all but the pipe, now 0 */
		null = open("/dev/null", O_RDWR);       /* 1 */
		if (null != 1 || dup2(null, 2) != 2)
			_exit(3);
		n = snprintf(line, sizeof(line), "daemon: %016llx\n", (unsigned long long)heap_work(mbytes));
		_exit(write(0, line, n) == n ? 0 : 4);
	}
	close(fd[1]);
	{
		char buf[64];
		ssize_t n = read(fd[0], buf, sizeof(buf) - 1);

		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "close_all: daemon child failed (status 0x%x)\n", st);
			return 1;
		}
		buf[n > 0 ? n : 0] = 0;
		printf("%s; %s", before, buf);
	}
	free(before);
	return 0;
}
