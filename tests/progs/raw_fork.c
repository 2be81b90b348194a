/* raw_fork.c - a fork made without fork(): the fork system call, glibc's
 * _Fork, a raw clone without CLONE_VM. Run no atfork handler, yet parent
 * and child must each keep a private view of malloc'd memory: the child
 * sees none of the parent's later writes, the parent none of the child's.
 * test_hostile compares its output with a native run under a pool smaller
 * than the buffer. usage: raw_fork fork|_Fork|clone [MIB] */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t raw_fork(const char *how)
{
	if (!strcmp(how, "_Fork"))
		return _Fork();
	if (!strcmp(how, "clone"))
		return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	return (pid_t)syscall(SYS_fork);
}

int main(int argc, char **argv)
{
	size_t pages = (argc > 2 ? strtoul(argv[2], NULL, 10) : 8) << 8, seen = 0, bad = 0;
	volatile uint64_t *p = malloc(pages * 4096);
	int down[2], up[2], st;
	char c;
	pid_t pid;

	if (argc < 2 || !p || pipe(down) || pipe(up))
		return 2;
	for (size_t i = 0; i < pages; i++)
		p[i * 512] = i;
	pid = raw_fork(argv[1]);
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		if (read(down[0], &c, 1) != 1)      /* the parent has written again */
			_exit(3);
		for (size_t i = 0; i < pages; i++)
			seen += p[i * 512] != i;
		for (size_t i = 0; i < pages; i++)
			p[i * 512] = i + 1000000;
		for (size_t i = 0; i < pages; i++)
			bad += p[i * 512] != i + 1000000;
		printf("%s: the child saw %zu of %zu later parent writes; %zu of its own lost\n", argv[1], seen, pages, bad);
		fflush(stdout);
		if (write(up[1], "x", 1) != 1)
			_exit(3);
		_exit(0);
	}
	for (size_t i = 0; i < pages; i++)
		p[i * 512] = i * 3 + 7;
	if (write(down[1], "x", 1) != 1 || read(up[0], &c, 1) != 1 || waitpid(pid, &st, 0) != pid)
		return 1;
	for (size_t i = 0; i < pages; i++)
		bad += p[i * 512] != i * 3 + 7;
	printf("%s: the parent saw %zu child writes; the child's status %d\n", argv[1], bad,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	free((void *)p);
	return 0;
}
