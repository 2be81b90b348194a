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
#define READ_TAG     UINT64_MAX

typedef struct pm_wreq {
	uint64_t     slot;                   /* first slot */
	unsigned     n;                      /* frames, 0 = request unused */
	uint64_t     ppns[PM_IO_MAX_RUN];
	struct iovec iov[PM_IO_MAX_RUN];
} pm_wreq_t;

struct pm_swapio {
	int            fd;                   /* the swap file */
	struct io_uring ring;
	unsigned       inflight;             /* frames under write */
	unsigned       queued;               /* SQEs prepared, not yet submitted */
	unsigned       reqs_busy;            /* write requests in flight */
	int            read_done;            /* the pending read completed */
	int            read_res;             /* its result */
	int            broken;               /* 0, or -errno: the ring failed, no completion will come */
	pm_swapio_done_fn done;              /* reclaim's bookkeeping of a finished write */
	int            no_punch;             /* the file system cannot punch holes */
	pm_wreq_t      wreq[MAX_WREQ];
};

static int open_swap_file(const pagemu_config_t *cfg)
{
	int flags = O_RDWR | O_CLOEXEC | (cfg->swap_direct ? O_DIRECT : 0);
	int fd = open(cfg->swap_dir, flags | O_TMPFILE, 0600);

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char path[300];
		snprintf(path, sizeof(path), "%s/pagemu-swap-XXXXXX", cfg->swap_dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0) {
			unlink(path);
			if (cfg->swap_direct && fcntl(fd, F_SETFL, O_DIRECT) < 0) {
				int err = errno;
				pm_prim_close(fd);
				errno = err;
				return -1;
			}
		}
	}
	return pm_prim_own_fd(fd);
}

/* The swap file of cfg, sized, and an io_uring in ring: 0, or -errno with
 * the message naming the setting at fault as dir and size say. */
static int swap_file_and_ring(const pagemu_config_t *cfg, const char *dir, const char *size, struct io_uring *ring)
{
	int fd = open_swap_file(cfg), rc;

	if (fd < 0) {
		rc = -errno;
		pm_set_error("%s: cannot create the swap file%s: %s", dir,
			     cfg->swap_direct ? " with O_DIRECT (PAGEMU_SWAP_DIRECT=1; tmpfs has no O_DIRECT)" : "",
			     strerror(-rc));
		return rc;
	}
	fchmod(fd, 0600);
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

int pm_swapio_open(struct pagemu *vm, pm_swapio_done_fn done)
{
	struct pm_swapio *io;
	char dir[600], size[600];

	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	pm_config_name("PAGEMU_SWAP_DIR", &vm->cfg, NULL, dir, sizeof(dir));
	pm_config_name("PAGEMU_SWAP_SIZE", &vm->cfg, NULL, size, sizeof(size));
	io->fd = swap_file_and_ring(&vm->cfg, dir, size, &io->ring);
	if (io->fd < 0) {
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
	pm_prim_ring_exit(&io->ring);
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
	int fd = open_swap_file(&vm->cfg), rc;
	uint64_t s = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(vm->nslots * vm->page)) < 0)
		goto err;
	while (s < vm->nslots) {
		uint64_t run = 0;
		while (s < vm->nslots && !pm_swapmap_test(&vm->swapmap, s))
			s++;
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

	pm_prim_ring_exit(&io->ring);
	pm_prim_close(io->fd);
	io->fd = fd;
	io->inflight = io->queued = io->reqs_busy = io->broken = 0;
	memset(io->wreq, 0, sizeof(io->wreq));
	rc = pm_prim_ring_init(&io->ring, RING_ENTRIES);
	return rc < 0 ? rc : 0;
}

/* A short write: the file system ran out of space part way (a write that
 * copied some bytes returns their count, not ENOSPC). Write the rest at
 * once, so that the frames are either all in their slots or fail with the
 * real error. 0 or -errno.
 * signal context; called with vm->lock held. */
static int write_rest(struct pagemu *vm, const pm_wreq_t *w, size_t done)
{
	for (unsigned i = (unsigned)(done / vm->page); i < w->n; i++) {
		size_t skip = i == done / vm->page ? done % vm->page : 0;
		int rc = pm_prim_pwrite(vm->io->fd, (const char *)w->iov[i].iov_base + skip, vm->page - skip,
					(w->slot + i) * vm->page + skip);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* signal context; called with vm->lock held. */
static void complete(struct pagemu *vm, struct io_uring_cqe *cqe)
{
	struct pm_swapio *io = vm->io;

	if (cqe->user_data == READ_TAG) {
		io->read_done = 1;
		io->read_res = cqe->res;
		return;
	}
	pm_wreq_t *w = &io->wreq[cqe->user_data];
	size_t want = (size_t)w->n * vm->page;
	int res = cqe->res < 0 ? cqe->res : (size_t)cqe->res == want ? 0 : write_rest(vm, w, (size_t)cqe->res);
	unsigned n = w->n;

	w->n = 0;
	io->reqs_busy--;
	io->inflight -= n;
	for (unsigned i = 0; i < n; i++)
		io->done(vm, w->ppns[i], res);
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
 * come, so nothing may wait for one again: every write in flight fails
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
	for (unsigned i = 0; i < MAX_WREQ; i++) {
		pm_wreq_t *w = &io->wreq[i];
		unsigned n = w->n;
		if (!n)
			continue;
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
	struct io_uring_cqe *cqe;
	int reaped = 0, rc;

	if (io->broken)
		return io->broken;
	for (;;) {
		rc = io_uring_peek_cqe(&io->ring, &cqe);
		if (rc == -EAGAIN && wait && !reaped && io->reqs_busy) {
			pm_swapio_submit(vm);
			rc = io_uring_wait_cqe(&io->ring, &cqe);
			if (rc == -EINTR)
				continue;
			if (rc < 0)
				return ring_failed(vm, rc);
		}
		if (rc < 0)
			break;
		complete(vm, cqe);
		io_uring_cqe_seen(&io->ring, cqe);
		reaped++;
	}
	return reaped;
}

unsigned pm_swapio_inflight(struct pagemu *vm)
{
	return vm->io->inflight;
}

int pm_swapio_write(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n)
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
	sqe = get_sqe(vm);
	if (!sqe)
		return -EBUSY;
	w->slot = slot;
	w->n = n;
	for (i = 0; i < n; i++) {
		w->ppns[i] = ppns[i];
		w->iov[i].iov_base = pm_frame_addr(vm, ppns[i]);
		w->iov[i].iov_len = vm->page;
	}
	io_uring_prep_writev(sqe, io->fd, w->iov, n, slot * vm->page);
	io_uring_sqe_set_data64(sqe, (uint64_t)(w - io->wreq));
	io->reqs_busy++;
	io->inflight += n;
	io->queued++;
	return 0;
}

int pm_swapio_read(struct pagemu *vm, uint64_t slot, const uint64_t *ppns, unsigned n)
{
	struct pm_swapio *io = vm->io;
	struct iovec iov[PM_IO_MAX_RUN];
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int rc;

	if (io->broken)
		return io->broken;
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = pm_frame_addr(vm, ppns[i]);
		iov[i].iov_len = vm->page;
	}
	sqe = get_sqe(vm);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_readv(sqe, io->fd, iov, n, slot * vm->page);
	io_uring_sqe_set_data64(sqe, READ_TAG);
	io->queued++;
	io->read_done = 0;
	rc = pm_swapio_submit(vm);
	if (rc < 0)
		return ring_failed(vm, rc);   /* (the read, left queued, must never go) */
	/* Writes may complete first: handle them on the way. */
	while (!io->read_done) {
		rc = io_uring_wait_cqe(&io->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return ring_failed(vm, rc);
		complete(vm, cqe);
		io_uring_cqe_seen(&io->ring, cqe);
	}
	if (io->read_res < 0)
		return io->read_res;
	return (size_t)io->read_res == (size_t)n * vm->page ? 0 : -EIO;
}
