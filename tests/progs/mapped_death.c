/* mapped_death.c - writes every page of a file through a shared mapping,
 * then ends one way or another without msync or munmap: the kernel's page
 * cache keeps the writes whatever ends a process (only a crash of the
 * machine loses them), so every page must be in the file afterwards.
 *
 *   mapped_death FILE MODE    write, then end by MODE:
 *     return, exit, _exit     the ordinary ends
 *     exec                    execve of /bin/true (the mapping goes with the image)
 *     term, quit, pipe        SIGTERM sent to itself, SIGQUIT, a write to a pipe no one reads
 *     thread                  another thread sends SIGINT while this one sleeps
 *     abort                   abort() (an assert's end)
 *     segv                    a store through a null pointer (a bug of the program's)
 *     dfl                     SIGTERM is SIG_DFL when asked; a handler of its own
 *                             then runs (prints "handled"); SIG_DFL again, and SIGTERM
 *   mapped_death FILE check   read(2) the file: "pages N of 256 written"
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 256
#define PAGE 4096

static void mark(char *page, int i)
{
	snprintf(page, 64, "page %d of the file, written through the mapping", i);
}

static int check(const char *path)
{
	char want[64], got[PAGE];
	int fd = open(path, O_RDONLY), ok = 0;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	for (int i = 0; i < PAGES; i++) {
		memset(want, 0, sizeof(want));
		mark(want, i);
		if (pread(fd, got, PAGE, (off_t)i * PAGE) == PAGE && memcmp(got, want, strlen(want) + 1) == 0)
			ok++;
	}
	close(fd);
	printf("pages %d of %d written\n", ok, PAGES);
	return 0;
}

static volatile sig_atomic_t handled;

static void on_term(int sig)
{
	(void)sig;
	handled = 1;
}

static void *interrupter(void *arg)
{
	(void)arg;
	usleep(20000);
	kill(getpid(), SIGINT);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode;
	struct sigaction sa, old;
	char *p;
	int fd, fds[2];
	pthread_t t;

	if (argc != 3) {
		fprintf(stderr, "usage: mapped_death FILE MODE|check\n");
		return 2;
	}
	mode = argv[2];
	if (!strcmp(mode, "check"))
		return check(argv[1]);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)PAGES * PAGE) < 0) {
		perror(argv[1]);
		return 1;
	}
	p = mmap(NULL, (size_t)PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	close(fd);
	for (int i = 0; i < PAGES; i++)
		mark(p + (size_t)i * PAGE, i);

	if (!strcmp(mode, "return"))
		return 0;
	if (!strcmp(mode, "exit"))
		exit(0);
	if (!strcmp(mode, "_exit"))
		_exit(0);
	if (!strcmp(mode, "exec")) {
		execl("/bin/true", "true", (char *)NULL);
		return 1;
	}
	if (!strcmp(mode, "term"))
		kill(getpid(), SIGTERM);
	if (!strcmp(mode, "quit"))
		raise(SIGQUIT);
	if (!strcmp(mode, "pipe")) {
		if (pipe(fds) < 0)
			return 1;
		close(fds[0]);
		if (write(fds[1], "x", 1) < 0)
			perror("write");     /* not reached: SIGPIPE ends it first */
	}
	if (!strcmp(mode, "thread")) {
		pthread_create(&t, NULL, interrupter, NULL);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "abort"))
		abort();
	if (!strcmp(mode, "segv"))
		*(volatile int *)(uintptr_t)argc = 1;   /* address 3: nothing is mapped there */
	if (!strcmp(mode, "dfl")) {
		if (sigaction(SIGTERM, NULL, &old) < 0 || old.sa_handler != SIG_DFL) {
			printf("SIGTERM is not SIG_DFL at start\n");
			return 1;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigaction(SIGTERM, &sa, &old);
		if (old.sa_handler != SIG_DFL)
			printf("the old action was not SIG_DFL\n");
		raise(SIGTERM);
		printf(handled ? "handled\n" : "not handled\n");
		fflush(stdout);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &sa, &old);
		if (old.sa_handler != on_term)
			printf("the old action was not the handler\n");
		fflush(stdout);
		raise(SIGTERM);
	}
	fprintf(stderr, "mapped_death: still alive after %s\n", mode);
	return 1;
}
