/* guard_misc.c - what the syscall guard must leave working: signal
 * handlers (their return is a system call), masks, a blocking call cut by
 * a signal (EINTR), fork, execve with argv strings in evicted emulated
 * memory, system(), and threads. test_guard compares its output with a
 * native run. usage: guard_misc */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hits, alarms;

static void on_usr1(int sig)
{
	(void)sig;
	hits++;
	syscall(SYS_getppid);                   /* a guarded call inside a handler */
}

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void evict(void)
{
	volatile char *p = malloc(2u << 20);

	for (size_t i = 0; i < (2u << 20); i += 4096)
		p[i] = (char)i;
	free((void *)p);
}

static void *spinner(void *arg)
{
	long n = 0;

	(void)arg;
	for (int i = 0; i < 20000; i++)
		n += syscall(SYS_getppid) > 0;
	return (void *)n;
}

int main(void)
{
	struct sigaction sa;
	sigset_t set, old, pend;
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	int fds[2];
	char c;
	pid_t pid;
	int st;

	setvbuf(stdout, NULL, _IONBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigfillset(&sa.sa_mask);                /* SIGSYS included: the guard takes it out */
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 3; i++)
		raise(SIGUSR1);
	printf("handler ran %d times\n", (int)hits);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise(SIGUSR1);
	sigpending(&pend);
	printf("pending while blocked: %d, hits %d\n", sigismember(&pend, SIGUSR1), (int)hits);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("after unblock: hits %d\n", (int)hits);
	sigfillset(&set);
	sigprocmask(SIG_BLOCK, &set, &old);     /* "everything" */
	printf("getppid with all blocked: %d\n", syscall(SYS_getppid) > 0);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* a blocking read cut by SIGALRM (no SA_RESTART): EINTR */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	if (pipe(fds))
		return 1;
	setitimer(ITIMER_REAL, &it, NULL);
	long r = syscall(SYS_read, fds[0], &c, 1);
	printf("read cut by a signal: %ld %s, alarms %d\n", r, r < 0 ? strerror(errno) : "", (int)alarms);

	/* fork: the child writes from an evicted buffer */
	char *msg = malloc(64);
	strcpy(msg, "from the child\n");
	evict();
	pid = fork();
	if (pid == 0) {
		evict();
		syscall(SYS_write, fds[1], msg, strlen("from the child\n"));
		_exit(7);
	}
	char got[64] = { 0 };
	close(fds[1]);
	r = read(fds[0], got, sizeof(got) - 1);
	waitpid(pid, &st, 0);
	printf("child said: %s", got);
	printf("child exit %d\n", WEXITSTATUS(st));

	/* execve with everything in evicted emulated memory */
	char **argv = malloc(4 * sizeof(char *));
	argv[0] = strdup("echo");
	argv[1] = malloc(100);
	strcpy(argv[1], "exec'd with evicted argv");
	argv[2] = NULL;
	char *path = strdup("/bin/echo");
	evict();
	pid = fork();
	if (pid == 0) {
		evict();
		syscall(SYS_execve, path, argv, (char *[]){ NULL });
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("exec exit %d\n", WEXITSTATUS(st));
	printf("system: %d\n", system("echo from system"));

	/* posix_spawn and vfork: the child shares the parent's memory and
	 * execs with evicted argv and envp; 100 times, each with a new
	 * environment block (not freed): pins the children left behind would
	 * exhaust the 64-frame pool */
	char **envp = malloc(3 * sizeof(char *));
	envp[0] = strdup("GUARD_A=1");
	envp[1] = malloc(3000);
	memset(envp[1], 'e', 2999);
	memcpy(envp[1], "GUARD_B=", 8);
	envp[1][2999] = 0;
	envp[2] = NULL;
	int ok = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(argv[1], 100, "spawn %d", i);
		envp[1] = malloc(3000);
		memset(envp[1], 'e', 2999);
		memcpy(envp[1], "GUARD_B=", 8);
		envp[1][2999] = 0;
		evict();
		if (posix_spawn(&pid, path, NULL, NULL, argv, envp) == 0 && waitpid(pid, &st, 0) == pid &&
		    WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		envp[1] = malloc(3000);
		memset(envp[1], 'f', 2999);
		memcpy(envp[1], "GUARD_B=", 8);
		envp[1][2999] = 0;
		evict();
		pid = vfork();
		if (pid == 0) {
			execve(path, argv, envp);
			_exit(127);
		}
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	printf("spawned %d of 100\n", ok);

	/* threads making guarded calls */
	pthread_t t[3];
	long total = 0;
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, spinner, NULL);
	for (int i = 0; i < 3; i++) {
		void *v;
		pthread_join(t[i], &v);
		total += (long)v;
	}
	printf("threads made %ld calls\n", total);
	return 0;
}
