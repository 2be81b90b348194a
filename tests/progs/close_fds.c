/* close_fds.c - a program that closes descriptors it did not open, as
 * spawn helpers (GLib's g_spawn) and daemons do, then pages: under
 * `pagemu run` pagemu's own descriptors (pool, swap file, io_uring, trace,
 * report) must survive it. test_hostile compares its output with a native
 * run. usage: close_fds MODE MIB
 *   loop      close(fd) for every fd from 3 to sysconf(_SC_OPEN_MAX)
 *   range     close_range(3, ~0U, 0)
 *   closefrom closefrom(3)
 *   dup2      dup2 /dev/null onto every fd from 3 to the limit, then close them
 *   fcntl     fcntl(F_GETFD) and F_SETFD 0 on every fd from 3 to the limit
 *   spawn     fork; the child closes every fd above 2 (close_range) and
 *             execs echo; the parent waits
 *   ring      close the io_uring descriptor found in /proc/self/fd with a
 *             raw close (for PAGEMU_SYSCALL_GUARD=0: the next eviction
 *             must end in SIGBUS with a message, never a hang)
 * then writes MIB MiB of new malloc'd memory, reads back and rewrites the
 * first MIB MiB, and prints a sum. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long open_max(void)
{
	long n = sysconf(_SC_OPEN_MAX);

	return n > 0 && n < (1 << 20) ? n : 1024;
}

/* The io_uring descriptor of the process, found by its link, or -1. */
static int find_ring(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fd = -1;

	while (d && (e = readdir(d))) {
		char path[64], link[64];
		ssize_t n;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = 0, strstr(link, "io_uring")))
			fd = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return fd;
}

static void hostile(const char *mode)
{
	long max = open_max(), ok = 0;

	if (!strcmp(mode, "loop")) {
		for (int fd = 3; fd < max; fd++)
			ok += close(fd) == 0;
		printf("closed %ld\n", ok);
	} else if (!strcmp(mode, "range")) {
		printf("close_range %ld\n", syscall(SYS_close_range, 3U, ~0U, 0));
	} else if (!strcmp(mode, "closefrom")) {
		closefrom(3);
		printf("closefrom\n");
	} else if (!strcmp(mode, "dup2")) {
		int null = open("/dev/null", O_RDONLY);
		for (int fd = 3; fd < max; fd++)
			if (fd != null)
				dup2(null, fd);
		for (int fd = 3; fd < max; fd++)
			close(fd);
		printf("dup2\n");
	} else if (!strcmp(mode, "fcntl")) {
		for (int fd = 3; fd < max; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				ok += fcntl(fd, F_SETFD, 0) == 0;
		printf("fcntl %ld\n", ok);
	} else if (!strcmp(mode, "spawn")) {
		pid_t pid = fork();
		int st;
		if (pid == 0) {
			syscall(SYS_close_range, 3U, ~0U, 0);
			execlp("echo", "echo", "child", (char *)NULL);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		printf("spawned %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	} else if (!strcmp(mode, "ring")) {
		int fd = find_ring();
		if (fd >= 0)
			syscall(SYS_close, fd);
		printf("ring\n");
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 8, n = mib << 20, pages = n / 4096;
	volatile uint64_t *p, *q;
	uint64_t sum = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: close_fds MODE MIB\n");
		return 2;
	}
	/* Some paging first: the ring and the swap file are in use. */
	p = malloc(n);
	for (size_t i = 0; i < pages; i++)
		p[i * 512] = i;
	hostile(argv[1]);
	/* New pages first: evictions write dirty pages out before any page
	 * comes back from swap. */
	q = malloc(n);
	for (size_t i = 0; i < pages; i++)
		q[i * 512] = i * 7;
	for (int round = 1; round <= 2; round++)
		for (size_t i = 0; i < pages; i++)
			p[i * 512 + round] = p[i * 512] * 3 + (uint64_t)round;
	for (size_t i = 0; i < pages; i++)
		sum += p[i * 512] + p[i * 512 + 1] + p[i * 512 + 2] + q[i * 512];
	printf("sum %llu\n", (unsigned long long)sum);
	free((void *)q);
	free((void *)p);
	return 0;
}
