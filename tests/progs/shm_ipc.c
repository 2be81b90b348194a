/* shm_ipc.c - two processes that are not parent and child by fork share
 * memory as programs do (POSIX shared memory: shm_open, then a shared
 * mapping): the first writes, starts a second program (posix_spawn, so
 * that under pagemu run it has an instance of its own), which maps the
 * same object, reads the first's write and answers through it; the first
 * then reads the answer. Natively each sees the other's writes at once.
 * Prints what it read; exits 1 on a mismatch it can see itself.
 *
 * usage: shm_ipc            (the first)
 *        shm_ipc answer NAME (the second, started by the first) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile uint64_t *attach(const char *name, int create)
{
	int fd = shm_open(name, O_RDWR | (create ? O_CREAT | O_EXCL : 0), 0600);
	void *p;

	if (fd < 0 || (create && ftruncate(fd, 4096) < 0))
		return NULL;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	char name[64];
	volatile uint64_t *m;

	if (argc == 3 && !strcmp(argv[1], "answer")) {
		if (!(m = attach(argv[2], 0)))
			return 2;
		m[1] = m[0] + 1;
		return 0;
	}
	snprintf(name, sizeof(name), "/pagemu-shm-ipc-%d", (int)getpid());
	if (!(m = attach(name, 1)))
		return 2;
	m[0] = 41;
	char *args[] = { argv[0], "answer", name, NULL };
	pid_t pid;
	int status, rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ);
	if (rc == 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)))
		rc = -1;
	shm_unlink(name);
	if (rc)
		return 2;
	printf("answer: %llu\n", (unsigned long long)m[1]);
	return m[1] == 42 ? 0 : 1;
}
