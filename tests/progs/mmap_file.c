/* mmap_file.c - a program that maps a file as a database does: reads
 * through a shared mapping, writes with pwrite and through the mapping,
 * msync, a private copy-on-write mapping, mremap to grow the mapping after
 * the file grew, madvise(MADV_DONTNEED) of anonymous memory, fork() with
 * shared mappings of the file and of anonymous memory dirty, munmap. It
 * prints what it read; run natively and under pagemu run --mmap, the two
 * outputs must be the same. Exits 1 on a mismatch it can see itself.
 *
 * usage: mmap_file DIR PAGES */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x9E3779B97F4A7C15ULL;
	return x ^ (x >> 29);
}

int main(int argc, char **argv)
{
	char path[512];
	size_t pages = argc > 2 ? strtoul(argv[2], NULL, 10) : 256, len = pages * PAGE;
	uint64_t sum = 0, buf[PAGE / 8];
	int fd, bad = 0;

	snprintf(path, sizeof(path), "%s/mmap_file.dat", argc > 1 ? argv[1] : ".");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		return 2;
	uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 2;
	/* pwrite, then read through the mapping (SQLite and LMDB's way). */
	for (size_t p = 0; p < pages; p++) {
		for (unsigned i = 0; i < PAGE / 8; i++)
			buf[i] = mix(p * 512 + i);
		if (pwrite(fd, buf, PAGE, (off_t)(p * PAGE)) != PAGE)
			return 2;
	}
	for (size_t p = 0; p < pages; p++)
		for (unsigned i = 0; i < PAGE / 8; i += 61) {
			bad |= m[p * 512 + i] != mix(p * 512 + i);
			sum += m[p * 512 + i];
		}
	printf("after pwrite: %016llx%s\n", (unsigned long long)sum, bad ? " MISMATCH" : "");
	/* Writes through the mapping, then pread (msync first: POSIX). */
	for (size_t p = 0; p < pages; p += 3)
		m[p * 512 + 7] = p;
	msync(m, len, MS_SYNC);
	for (size_t p = 0; p < pages; p += 3) {
		uint64_t w;
		if (pread(fd, &w, 8, (off_t)(p * PAGE + 56)) != 8 || w != p)
			bad |= 2;
	}
	/* A private mapping: its writes are its own. */
	uint64_t *pr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (pr == MAP_FAILED)
		return 2;
	pr[5] = 12345;
	bad |= (m[5] == 12345) << 2;
	bad |= (pr[512 * 3 + 7] != 3) << 3;
	munmap(pr, len);
	/* The file grows; the mapping follows with mremap. */
	if (ftruncate(fd, (off_t)(2 * len)) < 0)
		return 2;
	uint64_t *g = mremap(m, len, 2 * len, MREMAP_MAYMOVE);
	if (g == MAP_FAILED)
		return 2;
	for (size_t p = pages; p < 2 * pages; p++)
		g[p * 512 + 1] = mix(p);
	sum = 0;
	for (size_t p = 0; p < 2 * pages; p++)
		sum += g[p * 512 + 1] + g[p * 512 + 7];
	printf("after mremap: %016llx\n", (unsigned long long)sum);
	munmap(g, 2 * len);
	/* Anonymous memory, and madvise(MADV_DONTNEED): zeros again. */
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return 2;
	memset(a, 7, len);
	madvise(a, len / 2, MADV_DONTNEED);
	sum = 0;
	for (size_t i = 0; i < len; i += 512)
		sum += (unsigned char)a[i];
	printf("after madvise: %llu\n", (unsigned long long)sum);
	munmap(a, len);
	/* fork() (glibc's, its atfork handlers run) with a shared mapping of
	 * the file and a shared anonymous one, both dirty: each side sees the
	 * other's writes. */
	uint64_t *sf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint64_t *sa = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sf == MAP_FAILED || sa == MAP_FAILED)
		return 2;
	sf[3] = 777;
	sa[0] = 41;
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		sf[512 + 3] = sf[3] + 1;
		sa[1] = sa[0] + 1;
		_exit(0);
	}
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		return 2;
	printf("after fork: %llu %llu\n", (unsigned long long)sf[512 + 3], (unsigned long long)sa[1]);
	bad |= (sf[512 + 3] != 778 || sa[1] != 42) << 4;
	munmap(sf, len);
	munmap(sa, PAGE);
	/* A reservation committed piece by piece with MAP_FIXED (as
	 * allocators and runtimes do), then fork: the child reads what the
	 * parent wrote there. */
	char *res = mmap(NULL, 16 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return 2;
	for (int k = 0; k < 8; k++) {
		if (mmap(res + k * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		    res + k * PAGE)
			return 2;
		memset(res + k * PAGE, k + 1, PAGE);
	}
	fflush(stdout);
	child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		unsigned s8 = 0;
		for (int k = 0; k < 8; k++)
			s8 += (unsigned char)res[k * PAGE + 100];
		_exit(s8 == 36 ? 0 : 3);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
		return 2;
	printf("after fixed commit: child %d\n", WEXITSTATUS(status));
	bad |= (WEXITSTATUS(status) != 0) << 5;
	munmap(res, 16 * PAGE);
	/* The file as read(2) sees it at the end. */
	sum = 0;
	lseek(fd, 0, SEEK_SET);
	for (size_t p = 0; p < 2 * pages; p++) {
		if (read(fd, buf, PAGE) != PAGE)
			return 2;
		sum += buf[1] + buf[7] + buf[100];
	}
	printf("file: %016llx%s\n", (unsigned long long)sum, bad ? " MISMATCH" : "");
	close(fd);
	unlink(path);
	return bad ? 1 : 0;
}
