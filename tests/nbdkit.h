/* nbdkit.h - real nbdkit servers on 127.0.0.1 for the tests and the
 * benchmarks of swap on NBD (tests/test_nbd.c, bench/nbd_cost.c).
 *
 * Each server gets its listening socket from us (socket activation:
 * LISTEN_FDS=1, LISTEN_PID; nbdkit-service(1)), bound to an ephemeral
 * port first: no race for a port, no wait for the server to be ready
 * (connections wait in the socket's backlog until nbdkit accepts). */
#ifndef PAGEMU_TEST_NBDKIT_H
#define PAGEMU_TEST_NBDKIT_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct server {
	pid_t pid;
	int   port;
	char  uri[128];
} server_t;

/* A socket bound to 127.0.0.1 on an ephemeral port (in *port), listening
 * with backlog (< 0: not listening: a connection is refused): the fd or -1. */
static inline int listen_any(int *port, int backlog)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (backlog >= 0 && listen(fd, backlog) < 0) ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Why nbdkit cannot serve here, or NULL when it can. */
static inline const char *nbdkit_missing(void)
{
	int st = system("nbdkit --version >/dev/null 2>&1");

	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return "nbdkit does not run here (apt-get install nbdkit)";
	return NULL;
}

/* Start `nbdkit --exit-with-parent args...` (NULL-terminated, at most 12)
 * on a fresh port; s->uri names export on it. 0, or -1. */
static inline int server_start(server_t *s, const char *export, const char *const *args)
{
	const char *argv[16] = { "nbdkit", "--exit-with-parent" };
	int lfd = listen_any(&s->port, 64), n = 2;

	if (lfd < 0)
		return -1;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	snprintf(s->uri, sizeof(s->uri), "nbd://127.0.0.1:%d/%s", s->port, export);
	s->pid = fork();
	if (s->pid == 0) {
		char pid[32];
		if (lfd == 3)                        /* SD_LISTEN_FDS_START, inherited across exec */
			fcntl(3, F_SETFD, 0);
		else
			dup2(lfd, 3);                /* (dup2 clears close-on-exec) */
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		execvp("nbdkit", (char *const *)argv);
		_exit(127);
	}
	close(lfd);
	return s->pid > 0 ? 0 : -1;
}

/* A PSK file at path for nbdkit's --tls-psk and pagemu's tls-psk-file:
 * a line "ident:HEXKEY", a 256-bit key from /dev/urandom (other_ident,
 * when not NULL: another line, another key, before it). 0 or -1. */
static inline int psk_file_write(const char *path, const char *ident, const char *other_ident)
{
	unsigned char key[32];
	FILE *r = fopen("/dev/urandom", "r"), *f = fopen(path, "w");
	int rc = r && f ? 0 : -1;

	for (int line = other_ident ? 0 : 1; rc == 0 && line < 2; line++) {
		if (fread(key, 1, sizeof(key), r) != sizeof(key)) {
			rc = -1;
			break;
		}
		fprintf(f, "%s:", line ? ident : other_ident);
		for (size_t i = 0; i < sizeof(key); i++)
			fprintf(f, "%02x", key[i]);
		fputc('\n', f);
	}
	if (r)
		fclose(r);
	if (f && fclose(f) != 0)
		rc = -1;
	return rc;
}

static inline void server_kill(server_t *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

#endif
