/* guard_io.c - system calls on evicted emulated memory, made directly with
 * syscall(2) so that no interposed wrapper sees them: test_guard runs it
 * natively and under pagemu run (the syscall guard pins what each call
 * refers to) and compares the output. Every buffer, path string, iovec
 * array and msghdr comes from malloc (emulated under pagemu) and is evicted
 * (a much larger area is touched) before the call. Then the same from
 * threads. usage: guard_io FILE DIR */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define EVICT_BYTES (2u << 20)

static const char *file, *dir;

/* Touch far more memory than the frame pool holds. */
static void evict(void)
{
	volatile char *p = malloc(EVICT_BYTES);

	for (int pass = 0; pass < 1; pass++)
		for (size_t i = 0; i < EVICT_BYTES; i += 4096)
			p[i] = (char)(i + pass);
	free((void *)p);
}

static char *dup_str(const char *s)
{
	char *p = malloc(strlen(s) + 1);

	strcpy(p, s);
	return p;
}

/* A result as text: the value or the error. */
static void res(char *out, size_t n, const char *what, long r)
{
	if (r < 0)
		snprintf(out, n, "%s: %s\n", what, strerror(errno));
	else
		snprintf(out, n, "%s: %ld\n", what, r);
}

static unsigned long sum(const unsigned char *p, long n)
{
	unsigned long s = 0;

	for (long i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything once; the report goes to out (size n). */
static void run(char *out, size_t n, int tag)
{
	char *path = dup_str(file), *dpath = dup_str(dir), *line = malloc(256);
	char *link = malloc(512), *target = malloc(512), *lbuf = malloc(512);
	unsigned char *buf = malloc(65536), *buf2 = malloc(3000), *dents = malloc(32768);
	struct iovec *iov = malloc(2 * sizeof(*iov));
	struct stat *st = malloc(sizeof(*st));
	struct statx *stx = malloc(sizeof(*stx));
	struct msghdr *mh = malloc(sizeof(*mh));
	char **names = malloc(4096 * sizeof(char *));
	int *fds = malloc(2 * sizeof(int));
	size_t used = 0;
	long r, fd, dfd;
	int nnames = 0;

#define OUT(...) (used += (size_t)snprintf(out + used, n - used, __VA_ARGS__))
#define RES(what, r) (res(line, 256, what, r), OUT("%s", line))
	snprintf(link, 512, "%s/guard-link-%d", dir, tag);
	snprintf(target, 512, "target-%d", tag);
	evict();

	fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
	RES("openat", fd < 0 ? fd : 0);
	evict();
	r = syscall(SYS_read, fd, buf, 65536);
	RES("read", r);
	OUT("read sum %lu\n", sum(buf, r));
	evict();
	r = syscall(SYS_pread64, fd, buf2, 3000, 1000);
	RES("pread64", r);
	OUT("pread64 sum %lu\n", sum(buf2, r));
	iov[0].iov_base = buf2;
	iov[0].iov_len = 100;
	iov[1].iov_base = buf;
	iov[1].iov_len = 20000;
	evict();
	r = syscall(SYS_preadv, fd, iov, 2, 50, 0);
	RES("preadv", r);
	OUT("preadv sum %lu %lu\n", sum(buf2, 100), sum(buf, r - 100));
	syscall(SYS_lseek, fd, 7, SEEK_SET);
	evict();
	r = syscall(SYS_readv, fd, iov, 2);
	RES("readv", r);
	OUT("readv sum %lu %lu\n", sum(buf2, 100), sum(buf, r - 100));
	close((int)fd);

	evict();
	r = syscall(SYS_newfstatat, AT_FDCWD, path, st, 0);
	RES("newfstatat", r);
	OUT("size %ld\n", (long)st->st_size);
	evict();
	r = syscall(SYS_statx, AT_FDCWD, path, 0, STATX_SIZE, stx);
	RES("statx", r);
	OUT("statx size %llu\n", (unsigned long long)stx->stx_size);
	evict();
	RES("faccessat", syscall(SYS_faccessat, AT_FDCWD, path, R_OK));
	evict();
	RES("access", syscall(SYS_access, dpath, X_OK));

	/* a symlink made, read and removed through evicted strings */
	evict();
	RES("symlinkat", syscall(SYS_symlinkat, target, AT_FDCWD, link));
	evict();
	r = syscall(SYS_readlinkat, AT_FDCWD, link, lbuf, 511);
	RES("readlinkat", r);
	OUT("link -> %.*s\n", (int)(r > 0 ? r : 0), lbuf);
	evict();
	RES("unlinkat", syscall(SYS_unlinkat, AT_FDCWD, link, 0));

	/* the directory */
	evict();
	dfd = syscall(SYS_openat, AT_FDCWD, dpath, O_RDONLY | O_DIRECTORY);
	RES("openat dir", dfd < 0 ? dfd : 0);
	for (;;) {
		evict();
		r = syscall(SYS_getdents64, dfd, dents, 32768);
		if (r <= 0) {
			RES("getdents64 end", r);
			break;
		}
		for (long off = 0; off < r;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
				(void *)(dents + off);
			if (nnames < 4096 && strncmp(d->name, "guard-link-", 11) != 0)
				names[nnames++] = dup_str(d->name);
			off += d->reclen;
		}
	}
	close((int)dfd);
	qsort(names, (size_t)nnames, sizeof(*names), cmp_str);
	OUT("%d entries:", nnames);
	for (int i = 0; i < nnames; i++) {
		OUT(" %s", names[i]);
		free(names[i]);
	}
	OUT("\n");

	/* a pipe and a socket pair */
	evict();
	RES("pipe2", syscall(SYS_pipe2, fds, 0));
	memcpy(buf2, "hello through a pipe", 21);
	iov[0].iov_base = buf2;
	iov[0].iov_len = 6;
	iov[1].iov_base = buf2 + 6;
	iov[1].iov_len = 15;
	evict();
	RES("writev", syscall(SYS_writev, fds[1], iov, 2));
	evict();
	r = syscall(SYS_read, fds[0], buf, 100);
	RES("read pipe", r);
	OUT("got %.*s\n", (int)(r > 0 ? r : 0), (char *)buf);
	close(fds[0]);
	close(fds[1]);
	evict();
	RES("socketpair", syscall(SYS_socketpair, AF_UNIX, SOCK_DGRAM, 0, fds));
	evict();
	RES("sendto", syscall(SYS_sendto, fds[0], buf2, 21, 0, NULL, 0));
	evict();
	r = syscall(SYS_recvfrom, fds[1], buf, 100, 0, NULL, NULL);
	RES("recvfrom", r);
	OUT("got %.*s\n", (int)(r > 0 ? r : 0), (char *)buf);
	memset(mh, 0, sizeof(*mh));
	mh->msg_iov = iov;
	mh->msg_iovlen = 2;
	evict();
	RES("sendmsg", syscall(SYS_sendmsg, fds[0], mh, 0));
	memset(buf, 0, 100);
	iov[0].iov_base = buf;
	iov[0].iov_len = 10;
	iov[1].iov_base = buf + 10;
	iov[1].iov_len = 90;
	evict();
	r = syscall(SYS_recvmsg, fds[1], mh, 0);
	RES("recvmsg", r);
	OUT("got %.*s\n", (int)(r > 0 ? r : 0), (char *)buf);
	close(fds[0]);
	close(fds[1]);

	/* write(2) from an evicted buffer: into out through a pipe */
	evict();
	syscall(SYS_pipe2, fds, 0);
	evict();
	r = syscall(SYS_write, fds[1], buf2, 21);
	RES("write", r);
	r = read(fds[0], line, 255);
	OUT("pipe has %.*s\n", (int)(r > 0 ? r : 0), line);
	close(fds[0]);
	close(fds[1]);
#undef OUT
#undef RES
	free(path), free(dpath), free(line), free(link), free(target), free(lbuf), free(buf), free(buf2);
	free(dents), free(iov), free(st), free(stx), free(mh), free(names), free(fds);
}

#define NT 3
static char *outs[NT + 1];

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;

	run(outs[i], 1 << 16, i);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[NT];

	if (argc < 3)
		return 2;
	file = argv[1];
	dir = argv[2];
	for (int i = 0; i <= NT; i++)
		outs[i] = malloc(1 << 16);
	run(outs[NT], 1 << 16, NT);
	fputs(outs[NT], stdout);
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < NT; i++) {
		pthread_join(t[i], NULL);
		printf("--- thread %d\n", i);
		fputs(outs[i], stdout);
		free(outs[i]);
	}
	free(outs[NT]);
	return 0;
}
