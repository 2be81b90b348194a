/* nbdio.c - the NBD swap store's I/O: the servers' queues, their sender
 * and receiver threads, completions, failures and timeouts, and the
 * fault path's side (cutting a request into pieces).
 *
 * Who does what. The fault path and reclaim (signal context, vm->lock
 * held) only queue: a request (swapio's read or write request, by its
 * index) is cut at chunk boundaries into segments, each segment into a
 * piece per copy it goes to, and each piece's handle goes into its
 * server's queue (a bounded lock-free ring, several producers: the fault
 * path, and the I/O threads that retry a read elsewhere; one consumer);
 * the server's sender thread is woken with a futex when it sleeps.
 * Nothing there allocates, uses stdio or takes a lock. Each server has
 * two threads of its own: the sender sends each piece's request (a
 * write's pages straight from the physmap); the receiver reads the
 * replies (a read's pages straight into its frames) and, when a request's
 * last piece is done, posts its completion into swapio's io_uring with
 * IORING_OP_MSG_RING: user_data the request's tag, res the bytes moved or
 * -errno. So swapio's completion machinery (read waits outside vm->lock,
 * reaped write batches) is the local file's, unchanged.
 *
 * Failures. A server has failed when its connection closes, when it
 * refuses a request with replicas (with one copy the request alone
 * fails), or when a request sent to it is older than PAGEMU_SWAP_TIMEOUT
 * (the sockets wake the threads every tick to look). It is said once on
 * stderr and marked dead; with replicas that is a failover: a read it
 * held is retried on another copy, a write completes with the other
 * copies, and the repair thread (nbdrepair.c) is woken. With one copy
 * its pages fail with -EREMOTEIO: SIGBUS.
 *
 * A piece's state word holds its server too, so that a transition made
 * for one server (a failure of its connection) never takes a piece that
 * was retried on another meanwhile. */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/nbd.h"

static int overdue(nbd_conn_t *c);

/* c's request overdue? Not: its I/O threads wait on (pm_nbd_tls_xfer). */
static int wait_on(nbd_conn_t *c)
{
	return !overdue(c);
}

/* Send (or, recv = 1, receive) all of iov[0..n), which it may change.
 * live: the connection's I/O threads, whose socket wakes them every tick:
 * they wait on unless a request of c is overdue (-ETIMEDOUT); 0 (the
 * handshake): the socket's timeout is the deadline. */
int pm_nbd_xfer(nbd_conn_t *c, struct iovec *iov, int n, int recv_, int live)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	if (c->tls)
		return pm_nbd_tls_xfer(c, iov, n, recv_, live ? wait_on : NULL);
	for (;;) {
		/* (An empty piece moves nothing: a recvmsg of 0 bytes would
		 * return 0, which is the peer's close.) */
		while (m.msg_iovlen && !m.msg_iov->iov_len) {
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (!m.msg_iovlen)
			return 0;
		long k = pm_prim_msg(c->sock, &m, recv_);
		if (k == -EINTR || (k == -EAGAIN && live && !overdue(c)))
			continue;
		if (k <= 0)
			return k < 0 ? (k == -EAGAIN ? -ETIMEDOUT : (int)k) : -ECONNRESET;
		while (m.msg_iovlen && (size_t)k >= m.msg_iov->iov_len) {
			k -= (ssize_t)m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + k;
			m.msg_iov->iov_len -= (size_t)k;
		}
	}
}

/* ---- the queues ---------------------------------------------------------------------- */

/* Put handle h in c's queue. Any thread (lock-free; never full: see
 * QLEN). */
static void push(nbd_conn_t *c, uint32_t h)
{
	uint32_t pos = atomic_load_explicit(&c->qtail, memory_order_relaxed);
	nbd_cell_t *cell;

	for (;;) {
		cell = &c->q[pos % QLEN];
		uint32_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
		if (seq == pos) {
			if (atomic_compare_exchange_weak_explicit(&c->qtail, &pos, pos + 1, memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else {
			pos = atomic_load_explicit(&c->qtail, memory_order_relaxed);
		}
	}
	cell->h = h;
	atomic_store(&cell->seq, pos + 1);         /* seq_cst: against the sender's sleeping */
}

/* Does c's queue hold a handle at its head? The sender's. */
static int pending(nbd_conn_t *c)
{
	return atomic_load(&c->q[c->qhead % QLEN].seq) == c->qhead + 1;
}

/* Take the handle at the head of c's queue: 1, or 0 when empty. The sender's. */
static int pop(nbd_conn_t *c, uint32_t *h)
{
	nbd_cell_t *cell = &c->q[c->qhead % QLEN];

	if (!pending(c))
		return 0;
	*h = cell->h;
	atomic_store_explicit(&cell->seq, c->qhead + QLEN, memory_order_release);
	c->qhead++;
	return 1;
}

/* Wake c's sender if it sleeps. Any thread. */
void pm_nbd_wake(nbd_conn_t *c)
{
	if (atomic_load(&c->sleeping)) {
		atomic_fetch_add(&c->bell, 1);
		pm_prim_futex_wake((uint32_t *)&c->bell, 1);
	}
}

/* ---- completions -------------------------------------------------------------- */

/* Post a completion into swapio's ring: user_data tag, res. I/O threads. */
static void post(struct pm_nbd *nbd, uint64_t tag, int res)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	pthread_mutex_lock(&nbd->post_lock);
	sqe = io_uring_get_sqe(&nbd->post);
	if (sqe) {
		io_uring_prep_msg_ring(sqe, nbd->target, (unsigned)res, tag, 0);
		io_uring_submit(&nbd->post);
	}
	while (io_uring_peek_cqe(&nbd->post, &cqe) == 0)
		io_uring_cqe_seen(&nbd->post, cqe);
	pthread_mutex_unlock(&nbd->post_lock);
}

/* Say line (parts, NULL-terminated) on stderr. Formatted with pm_fmt (no
 * stdio, no strerror: both read the locale, which the program's heap
 * holds, emulated memory pagemu's threads must not touch). */
void pm_nbd_say(const char *const *parts)
{
	char line[1200], *p = line, *end = line + sizeof(line);

	for (; *parts; parts++)
		p = pm_fmt_str(p, end, *parts);
	pm_fmt_str(p, end, "\n");
	pm_prim_say(line);
}

/* The server of c failed (then = what follows): say so once, naming it.
 * I/O threads. */
static void say_failed(nbd_conn_t *c, const char *what, int err, const char *then)
{
	char num[24] = "";

	if (atomic_load(&c->nbd->stop) || atomic_exchange(&c->said, 1))
		return;
	if (err)
		pm_fmt_str(pm_fmt_u64(pm_fmt_str(num, num + sizeof(num), " (errno "), num + sizeof(num), (uint64_t)err),
			   num + sizeof(num), ")");
	pm_nbd_say((const char *const[]){ "pagemu: swap server ", c->uri, " (PAGEMU_SWAP): ", what, num, "; ", then, NULL });
}

/* The errors the NBD protocol carries (its "Error values"). */
static const char *nbd_error_name(uint32_t e)
{
	switch (e) {
	case EPERM:     return "EPERM";
	case EIO:       return "EIO";
	case ENOMEM:    return "ENOMEM";
	case EINVAL:    return "EINVAL";
	case ENOSPC:    return "ENOSPC";
	case EOVERFLOW: return "EOVERFLOW";
	case ENOTSUP:   return "ENOTSUP";
	case ESHUTDOWN: return "ESHUTDOWN";
	default:        return "unknown";
	}
}

/* Every piece of r is done: post its completion, res the bytes moved or
 * -EREMOTEIO when a segment has no copy done (or wake its waiter:
 * SYNC_REQ, REPAIR_REQ). I/O threads. */
static void req_finish(struct pm_nbd *nbd, nbd_req_t *r)
{
	unsigned all = (1u << r->nsegs) - 1;
	int res = atomic_load(&r->segs_ok) == all ? (int)(r->n * nbd->page) : -EREMOTEIO;

	if (r->tracked)
		for (unsigned g = 0; g < r->nsegs; g++)
			atomic_fetch_sub(&nbd->chunks[r->seg[g].chunk].writing, 1);
	if (r - nbd->req >= SYNC_REQ) {
		atomic_store(&r->res, res);
		atomic_store(&r->done, 1);
		pm_prim_futex_wake((uint32_t *)&r->done, INT_MAX);
	} else {
		if (!r->write)
			atomic_fetch_add_explicit(&nbd->read_ns, pm_prim_now_ns() - r->queued_ns, memory_order_relaxed);
		post(nbd, r->tag, res);
	}
}

/* Read piece p failed: queue it on another live, up-to-date copy. 1 when
 * it was, 0 when there is none. Its owner (state ENDING). */
static int retry(struct pm_nbd *nbd, nbd_req_t *r, nbd_piece_t *p)
{
	nbd_seg_t *g = &r->seg[p->seg];
	unsigned k = pm_nbd_read_copy(nbd, g->chunk, p->tried), s;

	if (k == NO_COPY)
		return 0;
	s = pm_nbd_place(nbd, g->chunk, k, g->in, &p->off);
	p->copy = k;
	p->tried |= 1u << k;
	atomic_store(&p->sent_ns, 0);
	atomic_fetch_add_explicit(&nbd->retries, 1, memory_order_relaxed);
	atomic_store(&p->state, STATE(PIECE_QUEUED, s));
	push(&nbd->conn[s], (uint32_t)((r - nbd->req) << 8 | (p - r->p)));
	pm_nbd_wake(&nbd->conn[s]);
	return 1;
}

/* Piece p of request r ends (err 0 or -errno): a failed read is retried
 * on another copy when there is one; the last piece completes r. Its
 * owner (state ENDING): I/O threads. */
static void piece_end(struct pm_nbd *nbd, nbd_req_t *r, nbd_piece_t *p, int err)
{
	unsigned s = SERVER(atomic_load(&p->state));
	nbd_conn_t *c = &nbd->conn[s];
	uint64_t bytes = (uint64_t)r->seg[p->seg].n * nbd->page;

	if (err) {
		atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
		if (!r->write && retry(nbd, r, p))
			return;
	} else {
		atomic_fetch_add_explicit(r->write ? &c->writes : &c->reads, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(r->write ? &c->write_bytes : &c->read_bytes, bytes, memory_order_relaxed);
		atomic_fetch_or(&r->segs_ok, 1u << p->seg);
	}
	atomic_store(&p->state, STATE(PIECE_DONE, s));
	if (atomic_fetch_sub(&r->left, 1) == 1)
		req_finish(nbd, r);
}

/* Move p from state `from` on server s to ENDING: 1 when this thread now
 * owns it. */
static int claim(nbd_piece_t *p, enum piece_state from, unsigned s)
{
	int want = STATE(from, s);

	return atomic_compare_exchange_strong(&p->state, &want, STATE(PIECE_ENDING, s));
}

/* The connection failed: say so once, mark it dead (with replicas: fail
 * over, and wake the repair thread), shut it (which wakes both its
 * threads); its pieces sent and not being received end now (a read is
 * retried on another copy); the sender ends the queued ones as it takes
 * them. I/O threads. */
static void conn_fail(nbd_conn_t *c, const char *what, int err)
{
	struct pm_nbd *nbd = c->nbd;
	unsigned me = (unsigned)(c - nbd->conn);

	if (!atomic_exchange(&c->dead, 1)) {
		if (nbd->copies > 1 && !atomic_load(&nbd->stop)) {
			atomic_fetch_add(&nbd->failovers, 1);
			say_failed(c, what, err, "failing over: its slots are read from their other copies and copied "
				   "again to the live servers (PAGEMU_SWAP_REPLICAS)");
			atomic_fetch_add(&nbd->repair_bell, 1);
			pm_prim_futex_wake((uint32_t *)&nbd->repair_bell, 1);
		} else {
			say_failed(c, what, err, "pages held there get SIGBUS");
		}
		shutdown(c->sock, SHUT_RDWR);
	}
	for (unsigned i = 0; i < NREQ; i++) {
		nbd_req_t *r = &nbd->req[i];
		for (unsigned k = 0; k < MAX_PIECES; k++)
			if (claim(&r->p[k], PIECE_SENT, me))
				piece_end(nbd, r, &r->p[k], -EREMOTEIO);
	}
}

/* c's I/O failed with rc: its server has failed (what: the step). */
static void io_failed(nbd_conn_t *c, const char *what, int rc)
{
	char ms[24], line[200];

	if (rc == -ETIMEDOUT) {
		pm_fmt_u64(ms, ms + sizeof(ms), c->nbd->timeout_ns / 1000000);
		pm_fmt_str(pm_fmt_str(pm_fmt_str(line, line + sizeof(line), "no answer to a request in "), line + sizeof(line), ms),
			   line + sizeof(line), " ms (PAGEMU_SWAP_TIMEOUT)");
		conn_fail(c, line, 0);
	} else if (rc == -ECONNRESET) {
		conn_fail(c, "the server closed the connection", 0);
	} else if (rc == -EPROTO) {
		conn_fail(c, "a TLS error (a record that does not decrypt, or an alert)", 0);
	} else {
		conn_fail(c, what, -rc);
	}
}

/* Has a request sent to c waited for its answer longer than
 * PAGEMU_SWAP_TIMEOUT (or is pagemu closing)? c's I/O threads. */
static int overdue(nbd_conn_t *c)
{
	struct pm_nbd *nbd = c->nbd;
	unsigned me = (unsigned)(c - nbd->conn);
	uint64_t now = pm_prim_now_ns();

	if (atomic_load(&nbd->stop) || atomic_load(&c->dead))
		return 1;
	for (unsigned i = 0; i < NREQ; i++)
		for (unsigned k = 0; k < MAX_PIECES; k++) {
			nbd_piece_t *p = &nbd->req[i].p[k];
			int st = atomic_load_explicit(&p->state, memory_order_relaxed);
			uint64_t t = atomic_load_explicit(&p->sent_ns, memory_order_relaxed);
			if ((st == STATE(PIECE_SENT, me) || st == STATE(PIECE_ENDING, me)) && t && now > t &&
			    now - t > nbd->timeout_ns)
				return 1;
		}
	return 0;
}

/* Wait until the monotonic clock reads t: sleeping, then spinning for
 * the last SPIN_NS (a futex's timeout is late by the timer slack). */
static void hold_until(uint64_t t)
{
	uint32_t never = 0;

	for (uint64_t now; (now = pm_prim_now_ns()) < t; )
		if (t - now > SPIN_NS)
			pm_prim_futex_wait(&never, 0, (long)(t - now - SPIN_NS / 2));
}

/* ---- the I/O threads ------------------------------------------------------------ */

/* A thread is past glibc's start-up, which reads the locale (see
 * start_threads). */
void pm_nbd_thread_started(_Atomic uint32_t *started)
{
	atomic_fetch_add(started, 1);
	pm_prim_futex_wake((uint32_t *)started, INT_MAX);
}

/* The sender sleeps until a producer rings its bell (or its nap ends). */
static void sender_sleep(nbd_conn_t *c)
{
	uint32_t bell = atomic_load(&c->bell);

	atomic_store(&c->sleeping, 1);
	if (!pending(c) && !atomic_load(&c->nbd->stop))
		pm_prim_futex_wait((uint32_t *)&c->bell, bell, IDLE_NAP_NS);
	atomic_store(&c->sleeping, 0);
}

/* Send piece p of r (handle h) on c: its request, a write's pages. 0 or -errno. */
static int send_piece(nbd_conn_t *c, nbd_req_t *r, nbd_piece_t *p, uint32_t h)
{
	struct iovec iov[1 + PM_IO_MAX_RUN];
	const nbd_seg_t *g = &r->seg[p->seg];
	uint8_t hdr[28];
	unsigned niov = 1;

	put_be(hdr, NBD_REQUEST_MAGIC, 4);
	put_be(hdr + 4, 0, 2);
	put_be(hdr + 6, r->write ? NBD_CMD_WRITE : NBD_CMD_READ, 2);
	put_be(hdr + 8, h, 8);
	put_be(hdr + 16, p->off, 8);
	put_be(hdr + 24, (uint64_t)g->n * c->nbd->page, 4);
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	if (r->write)
		for (unsigned i = 0; i < g->n; i++)
			iov[niov++] = r->iov[g->iov0 + i];
	return pm_nbd_xfer(c, iov, (int)niov, 0, 1);
}

/* The sender: takes piece handles from the queue, sends their requests;
 * once the server has failed, ends them (a read is retried elsewhere). */
void *pm_nbd_sender_main(void *arg)
{
	nbd_conn_t *c = arg;
	struct pm_nbd *nbd = c->nbd;
	unsigned me = (unsigned)(c - nbd->conn);
	uint32_t h;

	pm_nbd_thread_started(&c->started);
	while (!atomic_load(&nbd->stop)) {
		if (!pop(c, &h)) {
			sender_sleep(c);
			continue;
		}
		nbd_req_t *r = &nbd->req[h >> 8];
		nbd_piece_t *p = &r->p[h & 0xff];
		int want = STATE(PIECE_QUEUED, me);
		if (atomic_load(&c->dead)) {
			if (claim(p, PIECE_QUEUED, me))
				piece_end(nbd, r, p, -EREMOTEIO);
			continue;
		}
		if (!atomic_compare_exchange_strong(&p->state, &want, STATE(PIECE_SENT, me)))
			continue;
		atomic_store(&p->sent_ns, pm_prim_now_ns());
		int rc = send_piece(c, r, p, h);
		if (rc < 0)
			io_failed(c, "cannot send a request", rc);    /* ends p too: it is sent */
	}
	return NULL;
}

/* An NBD error in a reply to p: say it, naming the server; with replicas
 * the server fails over. p is the caller's (ENDING). */
static void reply_error(nbd_conn_t *c, nbd_req_t *r, nbd_piece_t *p, uint32_t error)
{
	char what[200], *w = what, *wend = what + sizeof(what);

	w = pm_fmt_str(w, wend, r->write ? "the server failed a write of " : "the server failed a read of ");
	w = pm_fmt_u64(w, wend, (uint64_t)r->seg[p->seg].n * c->nbd->page);
	w = pm_fmt_str(w, wend, " bytes at offset ");
	w = pm_fmt_u64(w, wend, p->off);
	w = pm_fmt_str(w, wend, " (NBD error ");
	w = pm_fmt_u64(w, wend, error);
	w = pm_fmt_str(w, wend, ", ");
	w = pm_fmt_str(w, wend, nbd_error_name(error));
	pm_fmt_str(w, wend, ")");
	if (c->nbd->copies > 1)
		conn_fail(c, what, 0);
	else
		say_failed(c, what, 0, "a read gets SIGBUS, a write keeps its page in memory "
			   "(further errors are counted in remote_errors)");
}

/* Receive the pages of read piece p (the receiver's: ENDING) into its frames and
 * hold it until its request is PAGEMU_SWAP_DELAY_US old: 0 or -errno. */
static int recv_pages(nbd_conn_t *c, nbd_req_t *r, nbd_piece_t *p)
{
	struct iovec iov[PM_IO_MAX_RUN];
	const nbd_seg_t *g = &r->seg[p->seg];
	int rc;

	for (unsigned i = 0; i < g->n; i++)
		iov[i] = r->iov[g->iov0 + i];
	if ((rc = pm_nbd_xfer(c, iov, (int)g->n, 1, 1)) < 0)
		return rc;
	if (c->nbd->delay_ns)
		hold_until(r->queued_ns + c->nbd->delay_ns);
	return 0;
}

/* The receiver: reads the replies, a read's pages into its frames. */
void *pm_nbd_receiver_main(void *arg)
{
	nbd_conn_t *c = arg;
	struct pm_nbd *nbd = c->nbd;
	unsigned me = (unsigned)(c - nbd->conn);
	uint64_t checked = pm_prim_now_ns(), tick = (uint64_t)nbd->tick_ms * 1000000;
	uint8_t rep[16];

	pm_nbd_thread_started(&c->started);
	while (!atomic_load(&c->dead)) {
		struct iovec v = { rep, sizeof(rep) };
		int rc = pm_nbd_xfer(c, &v, 1, 1, 1);
		if (rc < 0) {
			io_failed(c, "connection lost", rc);
			return NULL;
		}
		uint64_t h = get_be(rep + 8, 8);
		uint32_t error = (uint32_t)get_be(rep + 4, 4);
		nbd_req_t *r = (h >> 8) < NREQ ? &nbd->req[h >> 8] : NULL;
		nbd_piece_t *p = r && (h & 0xff) < MAX_PIECES ? &r->p[h & 0xff] : NULL;
		/* Claimed, the piece is the receiver's: conn_fail leaves it. */
		if (get_be(rep, 4) != NBD_REPLY_MAGIC || !p || !claim(p, PIECE_SENT, me)) {
			conn_fail(c, "protocol error (a reply this client did not expect)", 0);
			return NULL;
		}
		if (error) {
			reply_error(c, r, p, error);
			piece_end(nbd, r, p, -EREMOTEIO);
			continue;
		}
		if (!r->write && (rc = recv_pages(c, r, p)) < 0) {
			io_failed(c, "connection lost in a reply", rc);
			piece_end(nbd, r, p, -EREMOTEIO);          /* being received: conn_fail left it */
			return NULL;
		}
		piece_end(nbd, r, p, 0);
		/* Replies flowing never time the socket out: look for an
		 * overdue request every tick all the same. */
		if (pm_prim_now_ns() - checked > tick) {
			checked = pm_prim_now_ns();
			if (overdue(c)) {
				io_failed(c, "", -ETIMEDOUT);
				return NULL;
			}
		}
	}
	return NULL;
}

/* ---- the fault path's side --------------------------------------------------------- */

/* Cut r (n pages from slot) into segments at chunk boundaries (with one
 * server, one segment). */
static void cut(struct pm_nbd *nbd, nbd_req_t *r, uint64_t slot, unsigned n)
{
	unsigned done = 0, ns = 0;

	while (done < n) {
		uint64_t s = slot + done;
		nbd_seg_t *g = &r->seg[ns++];
		unsigned len = nbd->nconn == 1 ? n - done : STRIPE - (unsigned)(s % STRIPE);
		if (len > n - done)
			len = n - done;
		*g = (nbd_seg_t){ .chunk = s / STRIPE, .in = (unsigned)(s % STRIPE), .iov0 = done, .n = len };
		done += len;
	}
	r->nsegs = ns;
}

/* Piece np of r: segment g, copy k, at server s (in srv[np]). */
static unsigned plan(struct pm_nbd *nbd, nbd_req_t *r, unsigned np, unsigned g, unsigned k, unsigned *srv)
{
	nbd_piece_t *p = &r->p[np];

	p->seg = g;
	p->copy = k;
	p->tried = 1u << k;
	atomic_store(&p->sent_ns, 0);
	srv[np] = pm_nbd_place(nbd, r->seg[g].chunk, k, r->seg[g].in, &p->off);
	return np + 1;
}

/* The pieces of segment g of a write: one per copy on a live server (a
 * dead server's copy moves: the repair thread writes it again), or only
 * copy `only` (the repair thread's). When every copy's server is dead, a
 * piece that fails. */
static unsigned plan_write(struct pm_nbd *nbd, nbd_req_t *r, unsigned np, unsigned g, unsigned only, unsigned *srv)
{
	unsigned first = np;

	for (unsigned k = 0; k < nbd->copies; k++) {
		if (only != NO_COPY && k != only)
			continue;
		np = plan(nbd, r, np, g, k, srv);
		if (only == NO_COPY && atomic_load(&nbd->conn[srv[np - 1]].dead))
			np--;
	}
	return np > first ? np : plan(nbd, r, np, g, only == NO_COPY ? 0 : only, srv);
}

/* Queue request `req` (n pages of iov from slot): its pieces into their
 * servers' queues; the senders are woken when kick says so. A write goes
 * to every copy (or only to copy `only`), a read to one.
 * signal context; called with vm->lock held; or from the repair thread
 * (REPAIR_REQ). */
void pm_nbd_queue(struct pm_nbd *nbd, unsigned req, uint64_t tag, int write, uint64_t slot,
		  const struct iovec *iov, unsigned n, unsigned only, int kick)
{
	nbd_req_t *r = &nbd->req[req];
	unsigned srv[MAX_PIECES], np = 0;

	r->iov = iov;
	r->tag = tag;
	r->write = write;
	r->n = n;
	r->tracked = write && nbd->chunks && only == NO_COPY;
	r->queued_ns = write ? 0 : pm_prim_now_ns();
	atomic_store(&r->segs_ok, 0);
	atomic_store(&r->done, 0);
	cut(nbd, r, slot, n);
	for (unsigned g = 0; g < r->nsegs; g++) {
		if (r->tracked) {
			/* Before the placement is read: the repair thread sees a
			 * write it may have missed (repair_chunk). */
			atomic_fetch_add(&nbd->chunks[r->seg[g].chunk].writing, 1);
			atomic_fetch_add(&nbd->chunks[r->seg[g].chunk].gen, 1);
		}
		if (write) {
			np = plan_write(nbd, r, np, g, only, srv);
		} else {
			unsigned k = pm_nbd_read_copy(nbd, r->seg[g].chunk, 0);
			np = plan(nbd, r, np, g, k == NO_COPY ? 0 : k, srv);    /* none: it fails at its dead server */
		}
	}
	for (unsigned k = np; k < MAX_PIECES; k++)
		atomic_store(&r->p[k].state, PIECE_FREE);
	r->npieces = np;
	atomic_store(&r->left, np);
	for (unsigned k = 0; k < np; k++) {
		atomic_store(&r->p[k].state, STATE(PIECE_QUEUED, srv[k]));
		push(&nbd->conn[srv[k]], req << 8 | k);
	}
	for (unsigned k = 0; kick && k < np; k++)
		pm_nbd_wake(&nbd->conn[srv[k]]);
}

int pm_nbd_read(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n)
{
	pm_nbd_queue(nbd, req, tag, 0, slot, iov, n, NO_COPY, 1);
	return 0;
}

int pm_nbd_write(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n)
{
	pm_nbd_queue(nbd, req, tag, 1, slot, iov, n, NO_COPY, 0);
	return 0;
}

void pm_nbd_kick(struct pm_nbd *nbd)
{
	for (unsigned i = 0; i < nbd->nconn; i++)
		pm_nbd_wake(&nbd->conn[i]);
}

/* Queue request req (SYNC_REQ or REPAIR_REQ) and wait for it: 0 or
 * -errno (-ECANCELED: pagemu is closing). */
int pm_nbd_run_sync(struct pm_nbd *nbd, unsigned req, int write, uint64_t slot, const struct iovec *iov, unsigned n,
		    unsigned only)
{
	nbd_req_t *r = &nbd->req[req];
	int res;

	pm_nbd_queue(nbd, req, 0, write, slot, iov, n, only, 1);
	while (!atomic_load(&r->done)) {
		if (atomic_load(&nbd->stop))
			return -ECANCELED;
		pm_prim_futex_wait((uint32_t *)&r->done, 0, IDLE_NAP_NS);
	}
	res = atomic_load(&r->res);
	return res < 0 ? res : 0;
}

