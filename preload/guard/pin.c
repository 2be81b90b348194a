/* pin.c - pinning the memory a trapped call refers to: ranges, buffers the
 * call may use in part, strings, string vectors, iovec arrays, msghdrs.
 * What the call pinned is noted in it, to be unpinned when it returns.
 * All: signal context, with the selector at ALLOW. */
#include <errno.h>

#include "guard.h"

/* Is [p, p+n) within the (4 KiB) pages this call pinned already? (execve's
 * strings, a msghdr's pieces: many small ranges on few pages.) */
static int covered(const struct pm_call *c, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095, z = ((uintptr_t)p + n - 1) & ~(uintptr_t)4095;

	for (int i = 0; i < c->npins; i++) {
		uintptr_t ra = (uintptr_t)c->pins[i].p & ~(uintptr_t)4095;
		uintptr_t rz = ((uintptr_t)c->pins[i].p + c->pins[i].n - 1) & ~(uintptr_t)4095;
		if (a >= ra && z <= rz)
			return 1;
	}
	return 0;
}

/* [p, p+n) is partly emulated: pin its emulated pages one by one. 1, or
 * -1 when one failed. */
static int pin_pages(struct pm_call *c, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095, end = (uintptr_t)p + n;
	int rc = 0;

	for (; a < end && c->npins < PM_GUARD_MAXPINS; a += 4096) {
		if (!pm_guard_emulated((void *)a))
			continue;
		if (pagemu_pin(pm_guard.vm, (void *)a, 1) == 0) {
			c->pins[c->npins].p = (void *)a;
			c->pins[c->npins++].n = 1;
		} else {
			rc = -EFAULT;
		}
	}
	if (rc < 0)
		c->failed = rc;
	return rc < 0 ? -1 : 1;
}

/* Pin [p, p+n) if it is emulated memory: 1 pinned, 0 not emulated, -1 failed. */
int pm_guard_pin(struct pm_call *c, const void *p, size_t n)
{
	int rc;

	if (!p || !n)
		return 0;
	if (covered(c, p, n))
		return 1;
	if (!pm_guard_emulated(p) && !pm_guard_emulated((const char *)p + n - 1))
		return 0;
	if (n > c->budget || c->npins >= PM_GUARD_MAXPINS) {
		c->failed = -ENOSPC;
		return -1;
	}
	rc = pagemu_pin(pm_guard.vm, p, n);
	if (rc == -EFAULT)
		return pin_pages(c, p, n);
	if (rc < 0) {
		c->failed = rc;
		return -1;
	}
	c->pins[c->npins].p = p;
	c->pins[c->npins++].n = n;
	c->budget -= n;
	return 1;
}

/* A buffer the call may use in part (read, write, getdents...): cut to what
 * can be pinned; returns the length to use. */
size_t pm_guard_pin_cut(struct pm_call *c, const void *p, size_t n)
{
	if (!p || !n || (!pm_guard_emulated(p) && !pm_guard_emulated((const char *)p + n - 1)))
		return n;
	if (n > c->budget)
		n = c->budget;
	while (n) {
		int failed = c->failed;
		if (pm_guard_pin(c, p, n) > 0)
			return n;
		c->failed = failed;
		if (n <= 4096)
			break;
		n = (n / 2 + 4095) & ~(size_t)4095;
	}
	c->failed = -ENOMEM;
	return n;
}

/* A NUL-terminated string: pin page by page until the NUL. */
void pm_guard_pin_str(struct pm_call *c, const char *s)
{
	const char *p = s;

	if (!s || !pm_guard_emulated(s))
		return;
	for (int pages = 0; pages < 3; pages++) {
		const char *end = (const char *)(((uintptr_t)p | 4095) + 1);
		if (pm_guard_pin(c, p, (size_t)(end - p)) < 0)
			return;
		for (; p < end; p++)
			if (!*p)
				return;
		if (!pm_guard_emulated(p))
			return;
	}
}

/* A NULL-terminated array of strings (execve's argv, envp). */
void pm_guard_pin_strv(struct pm_call *c, char *const *v)
{
	char *const *p = v;

	if (!v)
		return;
	if (!pm_guard_emulated(v)) {
		for (; *p; p++)
			pm_guard_pin_str(c, *p);
		return;
	}
	for (;;) {
		char *const *end = (char *const *)(((uintptr_t)p | 4095) + 1);
		if (pm_guard_pin(c, p, (size_t)((const char *)end - (const char *)p)) < 0)
			return;
		for (; p < end; p++) {
			if (!*p)
				return;
			pm_guard_pin_str(c, *p);
		}
		if (!pm_guard_emulated(p))
			return;
	}
}

/* An iovec array and its buffers. With cut, the call may do less than
 * asked (readv, writev...): returns the count to use (args may be
 * replaced by c->one); else every buffer is pinned or the call fails. */
int pm_guard_pin_iov(struct pm_call *c, const struct iovec *iov, int cnt, int cut, long *iov_arg)
{
	if (!iov || cnt <= 0)
		return cnt;
	if (pm_guard_pin(c, iov, (size_t)cnt * sizeof(*iov)) < 0)
		return cnt;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len || (!pm_guard_emulated(iov[i].iov_base) &&
					!pm_guard_emulated((char *)iov[i].iov_base + iov[i].iov_len - 1)))
			continue;
		if (iov[i].iov_len <= c->budget && pm_guard_pin(c, iov[i].iov_base, iov[i].iov_len) > 0)
			continue;
		if (!cut)
			return cnt;
		if (i > 0) {
			c->failed = 0;
			return i;                 /* a short transfer: the first i buffers */
		}
		c->failed = 0;
		c->one.iov_base = iov[0].iov_base;
		c->one.iov_len = pm_guard_pin_cut(c, iov[0].iov_base, iov[0].iov_len);
		*iov_arg = (long)&c->one;
		return 1;
	}
	return cnt;
}

void pm_guard_pin_msghdr(struct pm_call *c, struct msghdr *m)
{
	long dummy;

	if (!m || pm_guard_pin(c, m, sizeof(*m)) < 0)
		return;
	pm_guard_pin(c, m->msg_name, m->msg_namelen);
	pm_guard_pin_iov(c, m->msg_iov, (int)m->msg_iovlen, 0, &dummy);
	pm_guard_pin(c, m->msg_control, m->msg_controllen);
}

/* *lenp bytes at p, lenp itself pinned first (getsockname, accept...). */
void pm_guard_pin_lenbuf(struct pm_call *c, void *p, socklen_t *lenp)
{
	if (!lenp)
		return;
	if (pm_guard_pin(c, lenp, sizeof(*lenp)) < 0)
		return;
	pm_guard_pin(c, p, *lenp);
}

void pm_guard_unpin_all(struct pm_call *c)
{
	for (int i = c->npins - 1; i >= 0; i--)
		pagemu_unpin(pm_guard.vm, c->pins[i].p, c->pins[i].n);
	c->npins = 0;
}
