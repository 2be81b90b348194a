/* swapio.c - the swap file and the io_uring that does all its I/O.
 *
 * The file is created unlinked (O_TMPFILE, else mkstemp + unlink) with mode
 * 0600: paged-out memory is never visible to other users and never outlives
 * the process. Reads are synchronous for the faulting thread (a cluster of
 * consecutive slots in one readv). Writes are queued in runs of consecutive
 * slots (one writev each), submitted as a batch and reaped later: a frame
 * under write keeps io = 1 until its completion is reaped.
 * Everything but open/close: signal context; called with vm->lock held. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine.h"

#define RING_ENTRIES 128
#define MAX_WREQ     64                  /* write requests in flight */
#define MAX_RREQ     64                  /* read requests in flight */
_Static_assert(MAX_WREQ + MAX_RREQ <= PM_NBD_REQS, "nbd.c holds a request per read and write");
#define READ_TAG     (1ULL << 32)        /* user_data of read i: READ_TAG + i */
#define CQ_NAP_NS    2000000             /* a missed wake-up costs at most this */

typedef struct pm_wreq {
	int          fd;                     /* the swap file, or an object's file */
	uint64_t     off;                    /* byte offset in it */
	size_t       bytes;                  /* bytes to write (a file's last page may be short) */
	unsigned     n;                      /* frames, 0 = request unused */
	int          res;                    /* the completion's result, once finished */
	_Atomic int  finished;               /* completed, not yet handed to reclaim */
	uint64_t     ppns[PM_IO_MAX_RUN];
	struct iovec iov[PM_IO_MAX_RUN];
} pm_wreq_t;

typedef struct pm_rreq {
	int          busy;                   /* in use (under vm->lock) */
	int          file;                   /* an object's file: a short read is the end of file, not an error */
	unsigned     n;                      /* frames */
	int          res;                    /* the completion's result, once done */
	_Atomic int  done;
	struct iovec iov[PM_IO_MAX_RUN];
} pm_rreq_t;

struct pm_swapio {
	int            fd;                   /* the swap file */
	struct io_uring ring;
	unsigned       inflight;             /* frames under write */
	unsigned       queued;               /* SQEs prepared, not yet submitted */
	unsigned       reqs_busy;            /* write requests in flight */
	unsigned       reads;                /* read requests in flight */
	atomic_flag    cq_lock;              /* who may move the completion queue's head */
	_Atomic uint32_t cq_seq;             /* bumped when completions were taken */
	_Atomic uint32_t cq_waiters;         /* threads sleeping on cq_seq */
	_Atomic unsigned finished;           /* writes finished, not yet handed to reclaim */
	_Atomic int    wait_err;             /* a wait on the ring failed outside vm->lock */
	int            broken;               /* 0, or -errno: the ring failed, no completion will come */
	pm_swapio_done_fn done;              /* reclaim's bookkeeping of a finished write */
	int            no_punch;             /* the file system cannot punch holes */
	struct pm_nbd *nbd;                  /* swap on NBD servers (nbd.c): slot I/O goes there; NULL = the file */
	pm_wreq_t      wreq[MAX_WREQ];
	pm_rreq_t      rreq[MAX_RREQ];
};

/* The swap file of cfg, sized, and an io_uring in ring: 0, or -errno with
 * the message naming the setting at fault as dir and size say. */
static int swap_file_and_ring(const pagemu_config_t *cfg, const char *dir, const char *size, struct io_uring *ring)
{
	int fd = pm_prim_tmpfile(cfg->swap_dir, cfg->swap_direct, 0), rc;

	if (fd < 0) {
		rc = fd;
		pm_set_error("%s: cannot create the swap file%s: %s", dir,
			     cfg->swap_direct ? " with O_DIRECT (PAGEMU_SWAP_DIRECT=1; tmpfs has no O_DIRECT)" : "",
			     strerror(-rc));
		return rc;
	}
	if (ftruncate(fd, (off_t)(cfg->swap_size / cfg->page_size * cfg->page_size)) < 0) {
		rc = -errno;
		pm_set_error("%s: cannot size the swap file in \"%s\": %s", size, cfg->swap_dir, strerror(-rc));
		goto err_close;
	}
	rc = pm_prim_ring_init(ring, RING_ENTRIES);
	if (rc < 0) {
		pm_set_error("io_uring_queue_init: %s (is io_uring disabled? /proc/sys/kernel/io_uring_disabled)", strerror(-rc));
		goto err_close;
	}
	return fd;

err_close:
	pm_prim_close(fd);
	return rc;
}

int pm_swapio_probe(const pagemu_config_t *cfg, const char *dir, const char *size)
{
	struct io_uring ring;
	int fd = swap_file_and_ring(cfg, dir, size, &ring);

	if (fd < 0)
		return fd;
	pm_prim_ring_exit(&ring);
	pm_prim_close(fd);
	return 0;
}

/* Swap on the NBD servers of vm->cfg.swap (nbd.c), its completions
 * posted into io's ring: no file (-1: io->fd), or -errno with the message
 * naming the server and PAGEMU_SWAP. */
static int remote_and_ring(struct pagemu *vm, struct pm_swapio *io)
{
	char swap[1200];
	int rc = pm_prim_ring_init(&io->ring, RING_ENTRIES);

	if (rc < 0) {
		pm_set_error("io_uring_queue_init: %s (is io_uring disabled? /proc/sys/kernel/io_uring_disabled)", strerror(-rc));
		return rc;
	}
	pm_config_name("PAGEMU_SWAP", &vm->cfg, NULL, swap, sizeof(swap));
	rc = pm_nbd_open(&vm->cfg, vm->nslots, io->ring.ring_fd, swap, &io->nbd);
	if (rc < 0) {
		pm_prim_ring_exit(&io->ring);
		return rc;
	}
	io->no_punch = 1;                    /* freed slots are reused first, as on a file system without holes */
	return -1;
}

int pm_swapio_open(struct pagemu *vm, pm_swapio_done_fn done)
{
	struct pm_swapio *io;
	char dir[600], size[600];

	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	pm_config_name("PAGEMU_SWAP_DIR", &vm->cfg, NULL, dir, sizeof(dir));
	pm_config_name("PAGEMU_SWAP_SIZE", &vm->cfg, NULL, size, sizeof(size));
	io->fd = vm->cfg.swap[0] ? remote_and_ring(vm, io) : swap_file_and_ring(&vm->cfg, dir, size, &io->ring);
	if (io->fd < 0 && !io->nbd) {
		int rc = io->fd;
		free(io);
		return rc;
	}
	io->done = done;
	vm->io = io;
	return 0;
}

void pm_swapio_close(struct pagemu *vm)
{
	struct pm_swapio *io = vm->io;

	if (!io)
		return;
	pm_nbd_close(io->nbd);               /* its threads post into the ring: first */
	pm_prim_ring_exit(&io->ring);
	if (io->fd >= 0)
		pm_prim_close(io->fd);
	free(io);
	vm->io = NULL;
}

int pm_swapio_punch(struct pagemu *vm, uint64_t slot, uint64_t n)
{
	struct pm_swapio *io = vm->io;
	int rc;

	if (io->no_punch)
		return -EOPNOTSUPP;
	rc = pm_prim_punch_hole(io->fd, slot * vm->page, n * vm->page);
	if (rc == -EOPNOTSUPP)
		io->no_punch = 1;            /* the blocks stay; freed slots are still reused first */
	return rc;
}

int pm_swapio_fd(struct pagemu *vm)
{
	return vm->io->fd;
}

/* Before a fork: a copy of the swap file for the child. The used slots
 * are copied in the kernel (copy_file_range), so every PTE's slot number
 * stays valid. Writes were drained. Returns the new fd or -errno. */
int pm_swapio_copy(struct pagemu *vm)
{
	struct pm_swapio *io = vm->io;
	int fd = pm_prim_tmpfile(vm->cfg.swap_dir, vm->cfg.swap_direct, 0), rc;
	uint64_t s = 0;

	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)(vm->nslots * vm->page)) < 0)
		goto err;
	if (io->nbd) {                        /* the child's swap is a local file (README, "Swap on NBD") */
		if ((rc = pm_nbd_copy(io->nbd, &vm->swapmap, vm->nslots, fd)) < 0) {
			pm_prim_close(fd);
			return rc;
		}
		return fd;
	}
	while ((s = pm_swapmap_next_used(&vm->swapmap, s)) != PM_NONE) {
		uint64_t run = 0;
		while (s + run < vm->nslots && pm_swapmap_test(&vm->swapmap, s + run))
			run++;
		loff_t in = (loff_t)(s * vm->page), out = in;
		size_t len = run * vm->page;
		while (len) {
			ssize_t n = copy_file_range(io->fd, &in, fd, &out, len, 0);
			if (n <= 0) {
				errno = n < 0 ? errno : EIO;
				goto err;
			}
			len -= (size_t)n;
		}
		s += run;
	}
	return fd;
err:
	rc = -errno;
	pm_prim_close(fd);
	return rc;
}

/* In the child: the copied swap file and a ring of its own (the inherited
 * ring is the parent's: let go of our mappings of it). */
int pm_swapio_adopt(struct pagemu *vm, int fd)
{
	struct pm_swapio *io = vm->io;
	int rc;

	if (io->nbd) {
		/* The parent's connections are not the child's: its swap is the
		 * local copy from now on. */
		pm_nbd_forget(io->nbd);
		io->nbd = NULL;
		io->no_punch = 0;
		vm->cfg.swap[0] = '\0';
	}
	pm_prim_ring_exit(&io->ring);
	if (io->fd >= 0)
		pm_prim_close(io->fd);
	io->fd = fd;
	io->inflight = io->queued = io->reqs_busy = io->reads = 0;
	io->broken = 0;
	atomic_store(&io->finished, 0);
	atomic_store(&io->wait_err, 0);
	atomic_flag_clear(&io->cq_lock);
	memset(io->wreq, 0, sizeof(io->wreq));
	memset(io->rreq, 0, sizeof(io->rreq));
	rc = pm_prim_ring_init(&io->ring, RING_ENTRIES);
	return rc < 0 ? rc : 0;
}

/* A short write: the file system ran out of space part way (a write that
 * copied some bytes returns their count, not ENOSPC). Write the rest at
 * once, so that the frames are either all in their slots or fail with the
 * real error. 0 or -errno.
 * signal context; called with vm->lock held. */
static int write_rest(const pm_wreq_t *w, size_t done)
{
	size_t at = 0;

	for (unsigned i = 0; i < w->n; at += w->iov[i++].iov_len) {
		size_t len = w->iov[i].iov_len, skip = done > at ? done - at : 0;
		if (skip >= len)
			continue;
		int rc = pm_prim_pwrite(w->fd, (const char *)w->iov[i].iov_base + skip, len - skip, w->off + at + skip);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the completion queue ------------------------------------------------ */

static int cq_trylock(struct pm_swapio *io)
{
	return !atomic_flag_test_and_set_explicit(&io->cq_lock, memory_order_acquire);
}

static void cq_unlock(struct pm_swapio *io)
{
	atomic_flag_clear_explicit(&io->cq_lock, memory_order_release);
	/* Another thread may be waiting for a completion this one will not
	 * take any more. */
	atomic_fetch_add_explicit(&io->cq_seq, 1, memory_order_release);
	if (atomic_load_explicit(&io->cq_waiters, memory_order_relaxed))
		pm_prim_futex_wake((uint32_t *)&io->cq_seq, INT_MAX);
}

/* Take every completion there is: a read's request is done, a write's is
 * finished (pm_swapio_reap hands it to reclaim). cq_lock held. Returns
 * the completions taken. */
static unsigned cq_take(struct pm_swapio *io)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
		uint64_t tag = cqe->user_data;
		if (tag >= READ_TAG) {
			pm_rreq_t *r = &io->rreq[tag - READ_TAG];
			r->res = cqe->res;
			atomic_store_explicit(&r->done, 1, memory_order_release);
		} else {
			pm_wreq_t *w = &io->wreq[tag];
			w->res = cqe->res;
			atomic_store_explicit(&w->finished, 1, memory_order_release);
			atomic_fetch_add_explicit(&io->finished, 1, memory_order_release);
		}
		io_uring_cqe_seen(&io->ring, cqe);
		n++;
	}
	return n;
}

/* ---- the submission queue ------------------------------------------------ */

/* Make the SQEs prepared so far visible to the kernel (what liburing's
 * io_uring_submit does before it enters), without entering: vm->lock
 * held. A read's submission then rides on its thread's wait, outside
 * vm->lock (sq_enter): one system call for both, and none under the
 * lock. */
static void sq_publish(struct pm_swapio *io)
{
	struct io_uring_sq *sq = &io->ring.sq;
	unsigned tail = sq->sqe_tail;

	for (unsigned i = sq->sqe_head; i != tail; i++)
		sq->array[i & sq->ring_mask] = i & sq->ring_mask;
	sq->sqe_head = tail;
	io_uring_smp_store_release(sq->ktail, tail);
}

/* Published SQEs the kernel has not taken yet. Any thread. */
static unsigned sq_pending(struct pm_swapio *io)
{
	return __atomic_load_n(io->ring.sq.ktail, __ATOMIC_ACQUIRE) - io_uring_smp_load_acquire(io->ring.sq.khead);
}

/* Submit what is published and, wait = 1, sleep for the next completion.
 * (The kernel waits only when it took as many SQEs as asked: another
 * thread may have taken some meanwhile; then this returns at once and
 * the caller waits again.) Any thread; cq_lock held when wait = 1. 0 or
 * -errno. */
static int sq_enter(struct pm_swapio *io, int wait)
{
	int rc;

	do
		rc = io_uring_enter((unsigned)io->ring.ring_fd, sq_pending(io), wait ? 1 : 0,
				    wait ? IORING_ENTER_GETEVENTS : 0, NULL);
	while (rc == -EINTR);
	return rc == -EAGAIN || rc == -EBUSY ? 0 : rc < 0 ? rc : 0;
}

/* cq_lock held: sleep until the next completion arrives (some I/O must
 * be in flight), then take what there is. 0 or -errno. */
static int cq_wait(struct pm_swapio *io)
{
	struct io_uring_cqe *cqe;
	int rc;

	do
		rc = io_uring_wait_cqe(&io->ring, &cqe);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	cq_take(io);
	return 0;
}

/* Hand the finished writes to reclaim. Returns the requests handed. */
static int writes_finish(struct pagemu *vm)
{
	struct pm_swapio *io = vm->io;
	int handed = 0;

	if (!atomic_load_explicit(&io->finished, memory_order_acquire))
		return 0;
	for (unsigned i = 0; i < MAX_WREQ; i++) {
		pm_wreq_t *w = &io->wreq[i];
		if (!w->n || !atomic_load_explicit(&w->finished, memory_order_acquire))
			continue;
		int res = w->res < 0 ? w->res : (size_t)w->res == w->bytes ? 0 : write_rest(w, (size_t)w->res);
		unsigned n = w->n;
		atomic_store_explicit(&w->finished, 0, memory_order_relaxed);
		atomic_fetch_sub_explicit(&io->finished, 1, memory_order_relaxed);
		w->n = 0;
		io->reqs_busy--;
		io->inflight -= n;
		for (unsigned k = 0; k < n; k++)
			io->done(vm, w->ppns[k], res);
		handed++;
	}
	return handed;
}

static struct io_uring_sqe *get_sqe(struct pagemu *vm)
{
	struct pm_swapio *io = vm->io;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe) {
		pm_swapio_submit(vm);
		sqe = io_uring_get_sqe(&io->ring);
	}
	return sqe;
}

int pm_swapio_submit(struct pagemu *vm)
{
	struct pm_swapio *io = vm->io;
	int rc;

	if (io->nbd)
		pm_nbd_kick(io->nbd);
	if (!io->queued)
		return 0;
	do
		rc = io_uring_submit(&io->ring);
	while (rc == -EINTR || rc == -EAGAIN);
	if (rc >= 0)
		io->queued = 0;
	return rc < 0 ? rc : 0;
}

/* The ring failed: waiting on it returned an error (its descriptor
 * closed or replaced under us, or the kernel refused). No completion will
 * come, so nothing may wait for one again: every read and write in flight fails
 * (its frame keeps a dirty page, which cannot be evicted: the fault that
 * needs it gets SIGBUS), and so does all later I/O. Returns err. */
static int ring_failed(struct pagemu *vm, int err)
{
	struct pm_swapio *io = vm->io;
	char msg[200], *p = msg, *end = msg + sizeof(msg);

	if (!io->broken) {
		p = pm_fmt_str(p, end, "pagemu: swap I/O: the io_uring failed (errno ");
		p = pm_fmt_u64(p, end, (uint64_t)-err);
		p = pm_fmt_str(p, end, "; was pagemu's descriptor closed?); pages that need swap get SIGBUS\n");
		pm_prim_say(msg);
		io->broken = err;
	}
	for (unsigned i = 0; i < MAX_RREQ; i++) {
		pm_rreq_t *r = &io->rreq[i];
		if (r->busy && !atomic_load(&r->done)) {
			r->res = err;
			atomic_store(&r->done, 1);
		}
	}
	for (unsigned i = 0; i < MAX_WREQ; i++) {
		pm_wreq_t *w = &io->wreq[i];
		unsigned n = w->n;
		if (!n)
			continue;
		atomic_store(&w->finished, 0);
		w->n = 0;
		io->reqs_busy--;
		io->inflight -= n;
		for (unsigned k = 0; k < n; k++)
			io->done(vm, w->ppns[k], err);
	}
	return err;
}

int pm_swapio_reap(struct pagemu *vm, int wait)
{
	struct pm_swapio *io = vm->io;
	int reaped = 0, rc;

	if (io->broken)
		return io->broken;
	rc = atomic_exchange(&io->wait_err, 0);
	if (rc < 0)
		return ring_failed(vm, rc);
	for (;;) {
		/* Someone else holding the queue takes the completions for us. */
		if (cq_trylock(io)) {
			cq_take(io);
			cq_unlock(io);
		}
		reaped += writes_finish(vm);
		if (reaped || !wait || !io->reqs_busy)
			return reaped;
		pm_swapio_submit(vm);
		while (!cq_trylock(io))
			sched_yield();
		rc = atomic_load(&io->finished) ? 0 : cq_wait(io);
		cq_unlock(io);
		if (rc < 0)
			return ring_failed(vm, rc);
	}
}

unsigned pm_swapio_inflight(struct pagemu *vm)
{
	return vm->io->inflight;
}

void pm_swapio_drain(struct pagemu *vm)
{
	while (vm->io->inflight)
		if (pm_swapio_reap(vm, 1) < 0)
			break;
}

/* Slot I/O of the remote store (nbd.c) rather than of a descriptor: the
 * swap's slots when they live on NBD servers (io->fd is then -1). */
static int remote(const struct pm_swapio *io, int fd)
{
	return fd < 0 && io->nbd;
}

/* Queue one write of frames ppns[0..n) to fd at byte off, the last frame
 * last bytes long. */
static int write_at(struct pagemu *vm, int fd, uint64_t off, const uint64_t *ppns, unsigned n, size_t last)
{
	struct pm_swapio *io = vm->io;
	struct io_uring_sqe *sqe;
	pm_wreq_t *w = NULL;
	unsigned i;

	if (io->broken)
		return io->broken;
	while (io->reqs_busy == MAX_WREQ)            /* all requests in flight: wait */
		if (pm_swapio_reap(vm, 1) < 0)
			return -EIO;
	for (i = 0; i < MAX_WREQ && !w; i++)
		if (!io->wreq[i].n)
			w = &io->wreq[i];
	sqe = remote(io, fd) ? NULL : get_sqe(vm);
	if (!sqe && !remote(io, fd))
		return -EBUSY;
	w->fd = fd;
	w->off = off;
	w->n = n;
	for (i = 0; i < n; i++) {
		w->ppns[i] = ppns[i];
		w->iov[i].iov_base = pm_frame_addr(vm, ppns[i]);
		w->iov[i].iov_len = i + 1 < n ? vm->page : last;
	}
	w->bytes = (size_t)(n - 1) * vm->page + last;
	io->reqs_busy++;
	io->inflight += n;
	if (!sqe)                             /* slots on NBD: sent at pm_swapio_submit */
		return pm_nbd_write(io->nbd, (unsigned)(w - io->wreq), (uint64_t)(w - io->wreq), off / vm->page, w->iov, n);
	io_uring_prep_writev(sqe, fd, w->iov, n, off);
	io_uring_sqe_set_data64(sqe, (uint64_t)(w - io->wreq));
	io->queued++;
	return 0;
}

int pm_swapio_write(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n)
{
	return write_at(vm, vm->io->fd, slot * vm->page, ppns, n, vm->page);
}

int pm_swapio_file_write(struct pagemu *vm, int fd, uint64_t off, const uint64_t *ppns, unsigned n, size_t last)
{
	return write_at(vm, fd, off, ppns, n, last);
}

/* Start reading n pages of fd from byte off into frames ppns[0..n). */
static int read_at(struct pagemu *vm, int fd, uint64_t off, const uint64_t *ppns, unsigned n, int file)
{
	struct pm_swapio *io = vm->io;
	struct io_uring_sqe *sqe;
	pm_rreq_t *r = NULL;
	unsigned id;

	if (io->broken)
		return io->broken;
	for (id = 0; id < MAX_RREQ && !r; id++)
		if (!io->rreq[id].busy)
			r = &io->rreq[id];
	if (!r)
		return -EBUSY;
	for (unsigned i = 0; i < n; i++) {
		r->iov[i].iov_base = pm_frame_addr(vm, ppns[i]);
		r->iov[i].iov_len = vm->page;
	}
	sqe = remote(io, fd) ? NULL : get_sqe(vm);
	if (!sqe && !remote(io, fd))
		return -EBUSY;
	r->busy = 1;
	r->file = file;
	r->n = n;
	atomic_store_explicit(&r->done, 0, memory_order_relaxed);
	if (!sqe) {                           /* its wait sleeps on the ring, where the completion is posted */
		io->reads++;
		pm_nbd_read(io->nbd, MAX_WREQ + (unsigned)(r - io->rreq), READ_TAG + (uint64_t)(r - io->rreq), off / vm->page,
			    r->iov, n);
		return (int)(r - io->rreq);
	}
	io_uring_prep_readv(sqe, fd, r->iov, n, off);
	io_uring_sqe_set_data64(sqe, READ_TAG + (uint64_t)(r - io->rreq));
	io->reads++;
	sq_publish(io);                       /* submitted by its wait (pm_swapio_read_wait) */
	return (int)(r - io->rreq);
}

int pm_swapio_read_start(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n)
{
	return read_at(vm, vm->io->fd, slot * vm->page, ppns, n, 0);
}

int pm_swapio_file_read_start(struct pagemu *vm, int fd, uint64_t off, const uint64_t *ppns, unsigned n)
{
	return read_at(vm, fd, off, ppns, n, 1);
}

void pm_swapio_read_wait(struct pagemu *vm, int id)
{
	struct pm_swapio *io = vm->io;
	pm_rreq_t *r = &io->rreq[id];

	while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
		if (cq_trylock(io)) {
			cq_take(io);
			int rc = 0;
			if (!atomic_load_explicit(&r->done, memory_order_acquire)) {
				if (sq_pending(io) && (rc = sq_enter(io, 1)) == 0)
					cq_take(io);
				else if (rc == 0)
					rc = cq_wait(io);
			}
			if (rc < 0) {
				/* The ring failed: the next reap under vm->lock says so
				 * and fails everything in flight, this read too. */
				atomic_store(&io->wait_err, rc);
				cq_unlock(io);
				return;
			}
			cq_unlock(io);
			continue;
		}
		/* Another thread sleeps on the queue: it wakes us when it has
		 * taken completions, or lets go of the queue. Our read must be
		 * on its way first. */
		if (sq_pending(io) && sq_enter(io, 0) < 0) {
			atomic_store(&io->wait_err, -EIO);
			return;
		}
		uint32_t seen = atomic_load_explicit(&io->cq_seq, memory_order_acquire);
		if (atomic_load_explicit(&r->done, memory_order_acquire))
			break;
		atomic_fetch_add_explicit(&io->cq_waiters, 1, memory_order_relaxed);
		pm_prim_futex_wait((uint32_t *)&io->cq_seq, seen, CQ_NAP_NS);
		atomic_fetch_sub_explicit(&io->cq_waiters, 1, memory_order_relaxed);
	}
}

int pm_swapio_read_res(struct pagemu *vm, int id)
{
	pm_rreq_t *r = &vm->io->rreq[id];

	if (!atomic_load_explicit(&r->done, memory_order_acquire))
		return -EIO;                  /* a wait failed */
	if (r->res < 0 || r->file)
		return r->res;
	return (size_t)r->res == (size_t)r->n * vm->page ? 0 : -EIO;
}

int pm_swapio_read_end(struct pagemu *vm, int id)
{
	struct pm_swapio *io = vm->io;
	pm_rreq_t *r = &io->rreq[id];
	int rc;

	if (!atomic_load_explicit(&r->done, memory_order_acquire)) {
		rc = atomic_exchange(&io->wait_err, 0);
		ring_failed(vm, rc < 0 ? rc : -EIO);    /* a wait failed: r is failed now */
	}
	rc = pm_swapio_read_res(vm, id);
	r->busy = 0;
	io->reads--;
	return rc;
}

void pm_swapio_read_kick(struct pagemu *vm)
{
	if (sq_pending(vm->io))
		sq_enter(vm->io, 0);
}

int pm_swapio_read_done(struct pagemu *vm, int id)
{
	struct pm_swapio *io = vm->io;

	if (!atomic_load_explicit(&io->rreq[id].done, memory_order_acquire) && cq_trylock(io)) {
		cq_take(io);
		cq_unlock(io);
	}
	return atomic_load_explicit(&io->rreq[id].done, memory_order_acquire);
}

unsigned pm_swapio_reads(struct pagemu *vm)
{
	return vm->io->reads;
}

void pm_swapio_stats(struct pagemu *vm, pagemu_stats_t *s)
{
	if (vm->io && vm->io->nbd)
		pm_nbd_stats(vm->io->nbd, s);
}
