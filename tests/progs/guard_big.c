/* guard_big.c - reads and writes of a regular file, each one system call
 * (made with syscall(2): no interposed wrapper sees them) on a buffer far
 * larger than the syscall guard pins at once (a quarter of the pool):
 * test_guard runs it natively and under pagemu run and compares the
 * output. The kernel moves the whole buffer to or from a regular file in
 * one call; so must the call under the guard, or a program that writes a
 * large buffer once loses the rest. With "libc", the same calls through
 * libc's read, write, pread and pwrite (the shim's wrappers pin them when
 * the guard is off). usage: guard_big FILE [libc] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint32_t sum(const unsigned char *p, long n)
{
	uint32_t h = 2166136261u;

	for (long i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int use_libc;

static long do_write(int fd, const void *p, size_t n)
{
	return use_libc ? write(fd, p, n) : syscall(SYS_write, fd, p, n);
}

static long do_read(int fd, void *p, size_t n)
{
	return use_libc ? read(fd, p, n) : syscall(SYS_read, fd, p, n);
}

static long do_pwrite(int fd, const void *p, size_t n, long off)
{
	return use_libc ? pwrite(fd, p, n, off) : syscall(SYS_pwrite64, fd, p, n, off);
}

static long do_pread(int fd, void *p, size_t n, long off)
{
	return use_libc ? pread(fd, p, n, off) : syscall(SYS_pread64, fd, p, n, off);
}

int main(int argc, char **argv)
{
	const size_t n = 3u << 20;
	unsigned char *a = malloc(n), *b = malloc(n);
	int fd;
	long w, pw, r, pr;

	if (argc < 2 || !a || !b)
		return 2;
	use_libc = argc > 2;
	for (size_t i = 0; i < n; i++)
		a[i] = (unsigned char)(i * 7 + i / 4096);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 3;
	w = do_write(fd, a, n);
	pw = do_pwrite(fd, a + 1000, n - 5000, (long)n);
	pr = do_pread(fd, b, n, 0L);
	printf("write %ld, pwrite %ld, pread %ld: %08x\n", w, pw, pr, sum(b, pr));
	lseek(fd, (off_t)n, SEEK_SET);
	r = do_read(fd, b, n);                         /* up to the end: n - 5000 */
	printf("read %ld: %08x\n", r, sum(b, r));
	r = do_read(fd, b, n);                         /* at the end */
	printf("read at the end %ld\n", r);
	close(fd);
	return 0;
}
