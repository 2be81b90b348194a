/* io.c - the I/O wrappers: the common I/O entry points a program calls
 * (read, write, pread, pwrite, readv, writev, recv, send, recvfrom, sendto,
 * fread, fwrite, fputs, puts) pin the program's buffer in emulated memory
 * around the real call, since the kernel does not fault on it. Not when
 * the syscall guard is on: it pins the buffer of the system call itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "heap/heap.h"
#include "shim.h"

/* Pin [buf, buf+len) when it is pagemu memory; 1 when pinned. At most a
 * quarter of the pool: a larger buffer is cut to *len (the I/O call may
 * return short, as read and write may) unless cut is 0. */
static int pin_buf(const void *buf, size_t *len, int cut)
{
	size_t max = pm_shim.pin_limit;
	int rc;

	if (!buf || !*len || pm_shim_depth || atomic_load_explicit(&pm_shim.state, memory_order_relaxed) != SHIM_READY ||
	    pm_guard_active() || !pm_heap_owns(pm_shim.vm, buf))
		return 0;
	if (*len > max) {
		if (!cut)
			return 0;
		*len = max;
	}
	pm_shim_depth++;
	rc = pagemu_pin(pm_shim.vm, buf, *len);
	pm_shim_depth--;
	return rc == 0;
}

static void unpin_buf(const void *buf, size_t len, int pinned)
{
	if (!pinned)
		return;
	pm_shim_depth++;
	pagemu_unpin(pm_shim.vm, buf, len);
	pm_shim_depth--;
}

/* Return call, made with [buf, buf+len) pinned; in call, `n_` is the
 * (possibly cut) length. */
#define PINNED_CALL(buf, len, call)                                             \
	do {                                                                    \
		size_t n_ = (len);                                              \
		int pin_ = pin_buf((buf), &n_, 1), e_;                          \
		__typeof__(call) r_ = call;                                     \
		e_ = errno;                                                     \
		unpin_buf((buf), n_, pin_);                                     \
		errno = e_;                                                     \
		return r_;                                                      \
	} while (0)

/* fd is a regular file or a block device: a read or write of it moves
 * every byte asked for, unless at the end of the file or on an error. */
static int whole_file(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/* As PINNED_CALL, for read, write, pread and pwrite: a buffer cut to the
 * pin limit would make a short transfer where the kernel makes a whole
 * one on a regular file (and a program that writes a large buffer once
 * without looking at the count would lose the rest), so there the call
 * is made again for the rest, at b_ + done_, while each part went whole.
 * Returns the bytes of all parts, or the first part's error. */
#define WHOLE_CALL(fd, buf, len, call)                                                  \
	do {                                                                            \
		size_t done_ = 0;                                                       \
		for (;;) {                                                              \
			size_t n_ = (len) - done_, asked_;                              \
			char *b_ = (char *)(uintptr_t)(buf) + done_;                    \
			int pin_ = pin_buf(b_, &n_, 1), e_;                             \
			ssize_t r_;                                                     \
			asked_ = n_;                                                    \
			r_ = call;                                                      \
			e_ = errno;                                                     \
			unpin_buf(b_, n_, pin_);                                        \
			errno = e_;                                                     \
			if (r_ <= 0)                                                    \
				return done_ ? (ssize_t)done_ : r_;                     \
			done_ += (size_t)r_;                                            \
			if (done_ >= (len) || (size_t)r_ < asked_ || !whole_file(fd))   \
				return (ssize_t)done_;                                  \
		}                                                                       \
	} while (0)

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	REAL(ssize_t, read, int, void *, size_t)
	WHOLE_CALL(fd, buf, len, real_read(fd, b_, n_));
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(ssize_t, write, int, const void *, size_t)
	WHOLE_CALL(fd, buf, len, real_write(fd, b_, n_));
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	REAL(ssize_t, pread, int, void *, size_t, off_t)
	WHOLE_CALL(fd, buf, len, real_pread(fd, b_, n_, off + (off_t)done_));
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
	WHOLE_CALL(fd, buf, len, real_pwrite(fd, b_, n_, off + (off_t)done_));
}

/* off_t is 64 bits here: glibc's pread64 and pwrite64 are pread and
 * pwrite under another name (one address). So are ours. */
EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t off) __attribute__((alias("pread")));
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	REAL(ssize_t, recv, int, void *, size_t, int)
	PINNED_CALL(buf, len, real_recv(fd, buf, n_, flags));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	REAL(ssize_t, send, int, const void *, size_t, int)
	PINNED_CALL(buf, len, real_send(fd, buf, n_, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *al)
{
	REAL(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *)
	PINNED_CALL(buf, len, real_recvfrom(fd, buf, n_, flags, a, al));
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a, socklen_t al)
{
	REAL(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t)
	PINNED_CALL(buf, len, real_sendto(fd, buf, n_, flags, a, al));
}

/* readv/writev: pin each buffer that fits (all or nothing per buffer). */
#define IOV_PIN_MAX 64
static unsigned pin_iov(const struct iovec *iov, int cnt, unsigned char *pinned)
{
	unsigned any = 0;

	for (int i = 0; i < cnt && i < IOV_PIN_MAX; i++) {
		size_t n = iov[i].iov_len;
		pinned[i] = (unsigned char)pin_buf(iov[i].iov_base, &n, 0);
		any |= pinned[i];
	}
	return any;
}

static void unpin_iov(const struct iovec *iov, int cnt, const unsigned char *pinned)
{
	for (int i = 0; i < cnt && i < IOV_PIN_MAX; i++)
		unpin_buf(iov[i].iov_base, iov[i].iov_len, pinned[i]);
}

/* fn(fd, iov, cnt), the real readv or writev, with the buffers pinned. */
static ssize_t pinned_iov_call(ssize_t (*fn)(int, const struct iovec *, int), int fd, const struct iovec *iov, int cnt)
{
	unsigned char pinned[IOV_PIN_MAX];
	unsigned any = pin_iov(iov, cnt, pinned);
	ssize_t r = fn(fd, iov, cnt);
	int e = errno;
	if (any)
		unpin_iov(iov, cnt, pinned);
	errno = e;
	return r;
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, readv, int, const struct iovec *, int)
	return pinned_iov_call(real_readv, fd, iov, cnt);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, writev, int, const struct iovec *, int)
	return pinned_iov_call(real_writev, fd, iov, cnt);
}

/* stdio reads and writes a large request straight between the program's
 * buffer and the file, with libc-internal calls no wrapper sees: pin the
 * buffer around the call, cutting it into parts that fit the pin limit. */
/* One body for fread, fread_unlocked, fwrite and fwrite_unlocked (gnulib's
 * unlocked-io makes coreutils call the _unlocked ones). */
#undef fread_unlocked
#undef fwrite_unlocked
#define STDIO_CHUNKED(name, cv)                                                   \
EXPORT size_t name(cv void *ptr, size_t size, size_t nmemb, FILE *f)              \
{                                                                                 \
	REAL(size_t, name, cv void *, size_t, size_t, FILE *)                     \
	size_t done = 0, per = size && pm_shim.pin_limit / size ? pm_shim.pin_limit / size : nmemb; \
	if (!size || !nmemb)                                                      \
		return 0;                                                         \
	while (done < nmemb) {                                                    \
		size_t k = nmemb - done < per ? nmemb - done : per, n = k * size, got; \
		cv char *p = (cv char *)ptr + done * size;                        \
		int pin = pin_buf(p, &n, 0), e;                                   \
		got = real_##name(p, size, k, f);                                 \
		e = errno;                                                        \
		unpin_buf(p, n, pin);                                             \
		errno = e;                                                        \
		done += got;                                                      \
		if (got < k)                                                      \
			break;                                                    \
	}                                                                         \
	return done;                                                              \
}

STDIO_CHUNKED(fread, )
STDIO_CHUNKED(fread_unlocked, )
STDIO_CHUNKED(fwrite, const)
STDIO_CHUNKED(fwrite_unlocked, const)

EXPORT int fputs(const char *s, FILE *f)
{
	REAL(int, fputs, const char *, FILE *)
	size_t len = strlen(s);
	PINNED_CALL(s, len, (n_ == len ? real_fputs(s, f) : (int)fwrite(s, 1, len, f) == (int)len ? 0 : EOF));
}

EXPORT int puts(const char *s)
{
	REAL(int, puts, const char *)
	size_t len = strlen(s);
	PINNED_CALL(s, len, (n_ == len ? real_puts(s) : fputs(s, stdout) == EOF ? EOF : putchar('\n')));
}
