/* nbd.c - swap slots on NBD servers: the remote backing store beneath
 * swapio.c's slot I/O (PAGEMU_SWAP=nbd://HOST:PORT/EXPORT[,nbd://...]).
 *
 * The client speaks the NBD protocol's simple requests itself over one TCP
 * connection per server: the fixed newstyle handshake with NBD_OPT_GO,
 * then NBD_CMD_READ and NBD_CMD_WRITE with simple replies (no structured
 * replies are asked for), NBD_CMD_DISC at close. Several servers stripe
 * the slots: STRIPE consecutive slots on one server, the next STRIPE on
 * the next, round robin.
 *
 * Who does what. The fault path and reclaim (signal context, vm->lock
 * held) only queue: a request (swapio's read or write request, by its
 * index) is cut at stripe boundaries into pieces, each piece's index goes
 * into its server's queue (a ring of indices: one producer at a time,
 * since producers hold vm->lock; one consumer), and the server's sender
 * thread is woken with a futex when it sleeps. Nothing there allocates,
 * uses stdio or takes a lock. Each server has two threads of its own:
 * the sender sends each piece's request (and a write's pages, straight
 * from the physmap); the receiver reads the replies (a read's pages
 * straight into its frames) and, when a request's last piece is done,
 * posts its completion into swapio's io_uring with IORING_OP_MSG_RING:
 * user_data the request's tag, res the bytes moved or -errno. So swapio's
 * completion machinery (read waits outside vm->lock, reaped write
 * batches) is the local file's, unchanged.
 *
 * A server that fails (connection closed, a request refused) is named on
 * stderr once; the pieces it held fail with -EREMOTEIO, which the fault
 * path turns into SIGBUS (there is no replica). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/engine.h"

#define STRIPE        16                  /* consecutive slots on one server */
#define MAX_PIECES    (PM_IO_MAX_RUN / STRIPE + 1)   /* pieces of one request, at most */
#define QLEN          1024                /* queue entries per server (>= requests x pieces) */
#define SYNC_REQ      PM_NBD_REQS         /* the request of pm_nbd_copy (waited for, not posted) */
#define NREQ          (PM_NBD_REQS + 1)
#define IDLE_NAP_NS   200000000L          /* a sender's sleep, at most (a missed wake-up costs this) */

/* The protocol's numbers (the NBD protocol document, "Fixed newstyle
 * negotiation", "Transmission phase"). */
#define NBD_MAGIC           0x4e42444d41474943ULL    /* "NBDMAGIC" */
#define NBD_IHAVEOPT        0x49484156454f5054ULL    /* "IHAVEOPT" */
#define NBD_OLDSTYLE        0x0000420281861253ULL
#define NBD_REP_MAGIC       0x0003e889045565a9ULL
#define NBD_FLAG_FIXED_NEWSTYLE 1
#define NBD_FLAG_NO_ZEROES  2
#define NBD_OPT_GO          7
#define NBD_REP_ACK         1
#define NBD_REP_INFO        3
#define NBD_REP_FLAG_ERROR  (1U << 31)
#define NBD_INFO_EXPORT     0
#define NBD_FLAG_READ_ONLY  (1U << 1)
#define NBD_REQUEST_MAGIC   0x25609513U
#define NBD_REPLY_MAGIC     0x67446698U
#define NBD_CMD_READ        0
#define NBD_CMD_WRITE       1
#define NBD_CMD_DISC        2

/* A piece is queued, sent, then (its reply read) being received: its
 * pages are written into its frames, so only the receiver may end it
 * then, never a failure of the connection seen by the sender. */
enum piece_state { PIECE_FREE = 0, PIECE_QUEUED, PIECE_SENT, PIECE_RECV, PIECE_DONE };

typedef struct nbd_piece {
	_Atomic int state;                /* enum piece_state */
	unsigned    server;               /* the connection it goes to */
	unsigned    iov0, n;              /* its pages: iov[iov0 .. iov0 + n) */
	uint64_t    off;                  /* byte offset on the server */
} nbd_piece_t;

typedef struct nbd_req {
	const struct iovec *iov;          /* one page each (swapio's request's) */
	uint64_t     tag;                 /* the completion's user_data */
	int          write;               /* NBD_CMD_WRITE, else a read */
	unsigned     n;                   /* pages */
	unsigned     npieces;
	_Atomic unsigned left;            /* pieces not done */
	_Atomic int  err;                 /* the first piece's error, 0 = none */
	_Atomic uint32_t done;            /* SYNC_REQ: 1 when every piece is done (a futex) */
	nbd_piece_t  p[MAX_PIECES];
} nbd_req_t;

typedef struct nbd_conn {
	struct pm_nbd *nbd;
	char         uri[PM_NBD_URI_MAX]; /* as the user wrote it, for messages */
	char         host[256], port[16], name[PM_NBD_URI_MAX];   /* the export */
	int          sock;                /* -1 = none */
	uint64_t     size;                /* the export's bytes */
	pm_thread_t  sender, receiver;
	int          threads;             /* 1 when both run */
	_Atomic uint32_t started;         /* threads past their start-up (a futex) */
	_Atomic uint32_t qtail;           /* written by producers (vm->lock), the sender's futex */
	_Atomic uint32_t qhead;           /* written by the sender */
	_Atomic int  sleeping;            /* the sender sleeps (or is about to) on qtail */
	_Atomic int  dead;                /* the server failed: every piece fails */
	_Atomic int  said;                /* its failure was said on stderr */
	_Atomic uint64_t reads, read_bytes, writes, write_bytes, errors;
	uint32_t     q[QLEN];             /* piece handles: request << 8 | piece */
} nbd_conn_t;

struct pm_nbd {
	unsigned     nconn;
	size_t       page;
	int          target;              /* swapio's ring: where completions are posted */
	_Atomic int  stop;                /* closing: threads leave, nothing is said */
	pthread_mutex_t post_lock;        /* the messenger ring (the I/O threads only) */
	struct io_uring post;             /* the messenger ring: MSG_RING submissions */
	int          post_ok;             /* post was set up */
	nbd_req_t    req[NREQ];
	nbd_conn_t   conn[PM_NBD_MAX_SERVERS];
};

/* ---- URIs ------------------------------------------------------------------ */

/* One URI, nbd://HOST[:PORT][/EXPORT], into c's host, port and name.
 * HOST may be a bracketed IPv6 address. 0 or -EINVAL with *why. */
static int parse_one(const char *uri, size_t len, nbd_conn_t *c, const char **why)
{
	const char *p = uri, *end = uri + len, *h, *hend;
	size_t n;

	*why = NULL;
	if (len >= sizeof(c->uri)) {
		*why = "too long";
		return -EINVAL;
	}
	memcpy(c->uri, uri, len);
	c->uri[len] = '\0';
	if (len < 6 || strncmp(p, "nbd://", 6) != 0) {
		*why = "not nbd://HOST[:PORT][/EXPORT] (only the nbd scheme is supported)";
		return -EINVAL;
	}
	p += 6;
	if (*p == '[') {
		h = ++p;
		while (p < end && *p != ']')
			p++;
		if (p == end) {
			*why = "an IPv6 address without its closing ']'";
			return -EINVAL;
		}
		hend = p++;
	} else {
		h = p;
		while (p < end && *p != ':' && *p != '/')
			p++;
		hend = p;
	}
	n = (size_t)(hend - h);
	if (!n || n >= sizeof(c->host)) {
		*why = n ? "host name too long" : "no host";
		return -EINVAL;
	}
	memcpy(c->host, h, n);
	c->host[n] = '\0';
	strcpy(c->port, "10809");              /* the NBD port IANA assigned */
	if (p < end && *p == ':') {
		const char *q = ++p;
		unsigned long v = 0;
		while (p < end && *p >= '0' && *p <= '9' && v <= 65535)
			v = v * 10 + (unsigned long)(*p++ - '0');
		if (p == q || v == 0 || v > 65535 || (p < end && *p != '/')) {
			*why = "the port is not a number from 1 to 65535";
			return -EINVAL;
		}
		snprintf(c->port, sizeof(c->port), "%lu", v);
	}
	if (p < end && *p != '/') {
		*why = "junk after the host";
		return -EINVAL;
	}
	if (p < end)
		p++;
	n = (size_t)(end - p);
	memcpy(c->name, p, n);
	c->name[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c->name[i] < 0x20 || c->name[i] == '?' || c->name[i] == '#') {
			*why = "the export name holds a control character, '?' or '#' (no query or fragment is supported)";
			return -EINVAL;
		}
	return 0;
}

/* Split list (comma-separated URIs) into conns[]: the count, or -EINVAL
 * with pagemu_last_error() naming setting and the bad URI. */
static int parse_list(const char *list, nbd_conn_t *conns, const char *setting)
{
	const char *p = list, *why;
	unsigned n = 0;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (n == PM_NBD_MAX_SERVERS) {
			pm_set_error("%s: more than %d servers", setting, PM_NBD_MAX_SERVERS);
			return -EINVAL;
		}
		if (parse_one(p, len, &conns[n], &why) < 0) {
			pm_set_error("%s: \"%.*s\": %s", setting, (int)len, p, why);
			return -EINVAL;
		}
		n++;
		if (!comma)
			return (int)n;
		p = comma + 1;
	}
}

int pm_nbd_check_uri(const char *list, const char *setting)
{
	nbd_conn_t *c = calloc(PM_NBD_MAX_SERVERS, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	rc = parse_list(list, c, setting);
	free(c);
	return rc < 0 ? rc : 0;
}

/* ---- the handshake (open time: blocking, with a deadline) --------------------- */

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* recv/send exactly len bytes (the socket's timeouts bound each call),
 * with raw system calls (prim: never the shim's recv and send, which the
 * I/O threads must not enter). 0, -errno, or -ECONNRESET for the peer's
 * close. */
static int recv_all(int sock, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		long n = pm_prim_recv(sock, p, len);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (n == -EAGAIN ? -ETIMEDOUT : (int)n) : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send (or, recv = 1, receive) all of iov[0..n), which it may change. */
static int xfer_iov(int sock, struct iovec *iov, int n, int recv_)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	while (m.msg_iovlen) {
		long k = pm_prim_msg(sock, &m, recv_);
		if (k == -EINTR)
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
	return 0;
}

static int send_all(int sock, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	return xfer_iov(sock, &v, 1, 0);
}

static void set_timeout(int sock, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A connected TCP socket to c's host and port within ms, owned: the fd,
 * or -errno with *what saying which step failed. */
static int dial(nbd_conn_t *c, unsigned ms, const char **what)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res, *a;
	int rc, sock = -1, one = 1;

	*what = "cannot resolve the host";
	rc = getaddrinfo(c->host, c->port, &hints, &res);
	if (rc != 0)
		return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	*what = "cannot connect";
	rc = -EHOSTUNREACH;
	for (a = res; a; a = a->ai_next) {
		struct pollfd pfd;
		int err = 0;
		socklen_t elen = sizeof(err);
		sock = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (sock < 0) {
			rc = -errno;
			continue;
		}
		if (connect(sock, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			rc = -errno;
			goto next;
		}
		pfd = (struct pollfd){ .fd = sock, .events = POLLOUT };
		rc = poll(&pfd, 1, (int)ms);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto next;
		}
		if (rc < 0 || getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
			rc = -errno;
			goto next;
		}
		if (err) {
			rc = -err;
			goto next;
		}
		break;
next:
		close(sock);
		sock = -1;
	}
	freeaddrinfo(res);
	if (sock < 0)
		return rc;
	/* Blocking from now on, each call bounded by the socket's timeouts. */
	if (fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = -errno;
		close(sock);
		return rc;
	}
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_timeout(sock, ms);
	return pm_prim_own_fd(sock);
}

/* What a refused NBD_OPT_GO means. */
static const char *rep_error(uint32_t type)
{
	switch (type & ~NBD_REP_FLAG_ERROR) {
	case 1:  return "the server does not support NBD_OPT_GO";
	case 2:  return "refused by the server's policy";
	case 3:  return "the server found the request invalid";
	case 4:  return "not supported on the server's platform";
	case 5:  return "the server requires TLS (not supported yet)";
	case 6:  return "no such export on the server";
	case 7:  return "the server is shutting down";
	case 8:  return "the server requires a block size negotiation";
	default: return "refused by the server";
	}
}

/* The fixed newstyle handshake on c->sock, ending in the transmission
 * phase with c->size set: 0, or -errno with msg (len bytes) saying why. */
static int handshake(nbd_conn_t *c, char *msg, size_t len)
{
	uint8_t b[32], opt[16 + 4 + PM_NBD_URI_MAX + 2], data[1024];
	size_t nlen = strlen(c->name);
	uint32_t hflags;
	int rc, have_size = 0;

	if ((rc = recv_all(c->sock, b, 18)) < 0)
		goto io;
	if (get_be(b, 8) != NBD_MAGIC || get_be(b + 8, 8) != NBD_IHAVEOPT) {
		snprintf(msg, len, get_be(b + 8, 8) == NBD_OLDSTYLE ? "an oldstyle NBD server (only newstyle is supported)"
			 : "not an NBD server (no NBDMAGIC/IHAVEOPT greeting)");
		return -EPROTO;
	}
	hflags = (uint32_t)get_be(b + 16, 2);
	if (!(hflags & NBD_FLAG_FIXED_NEWSTYLE)) {
		snprintf(msg, len, "the server does not speak the fixed newstyle handshake");
		return -EPROTO;
	}
	put_be(b, NBD_FLAG_FIXED_NEWSTYLE | (hflags & NBD_FLAG_NO_ZEROES), 4);
	if ((rc = send_all(c->sock, b, 4)) < 0)
		goto io;
	put_be(opt, NBD_IHAVEOPT, 8);
	put_be(opt + 8, NBD_OPT_GO, 4);
	put_be(opt + 12, 4 + nlen + 2, 4);
	put_be(opt + 16, nlen, 4);
	memcpy(opt + 20, c->name, nlen);
	put_be(opt + 20 + nlen, 0, 2);             /* no information requests */
	if ((rc = send_all(c->sock, opt, 22 + nlen)) < 0)
		goto io;
	for (;;) {
		uint32_t type, dlen, keep;
		if ((rc = recv_all(c->sock, b, 20)) < 0)
			goto io;
		if (get_be(b, 8) != NBD_REP_MAGIC || get_be(b + 8, 4) != NBD_OPT_GO) {
			snprintf(msg, len, "a malformed reply to NBD_OPT_GO");
			return -EPROTO;
		}
		type = (uint32_t)get_be(b + 12, 4);
		dlen = (uint32_t)get_be(b + 16, 4);
		keep = dlen < sizeof(data) - 1 ? dlen : (uint32_t)sizeof(data) - 1;
		if ((rc = recv_all(c->sock, data, keep)) < 0)
			goto io;
		for (uint32_t skip = dlen - keep; skip; ) {        /* the rest of a long reply */
			uint32_t k = skip < 32 ? skip : 32;
			if ((rc = recv_all(c->sock, b, k)) < 0)
				goto io;
			skip -= k;
		}
		data[keep] = '\0';
		if (type & NBD_REP_FLAG_ERROR) {
			snprintf(msg, len, "export \"%s\": %s%s%s", c->name, rep_error(type), keep ? ": " : "",
				 keep ? (char *)data : "");
			return type == (NBD_REP_FLAG_ERROR | 6) ? -ENOENT : -EACCES;
		}
		if (type == NBD_REP_INFO && keep >= 12 && get_be(data, 2) == NBD_INFO_EXPORT) {
			c->size = get_be(data + 2, 8);
			if (get_be(data + 10, 2) & NBD_FLAG_READ_ONLY) {
				snprintf(msg, len, "export \"%s\" is read-only", c->name);
				return -EROFS;
			}
			have_size = 1;
		}
		if (type == NBD_REP_ACK)
			break;
	}
	if (!have_size) {
		snprintf(msg, len, "the server did not say the export's size");
		return -EPROTO;
	}
	return 0;
io:
	snprintf(msg, len, "handshake: %s", rc == -ECONNRESET ? "the server closed the connection"
		 : rc == -ETIMEDOUT ? "no answer in time (PAGEMU_SWAP_TIMEOUT)" : strerror(-rc));
	return rc;
}

/* Connect c and handshake, its export at least need bytes: 0, or -errno
 * with pagemu_last_error() naming setting and c's URI. */
static int conn_open(nbd_conn_t *c, uint64_t need, unsigned ms, const char *setting)
{
	const char *what;
	char msg[1200];
	int rc;

	c->sock = dial(c, ms, &what);
	if (c->sock < 0) {
		rc = c->sock;
		pm_set_error("%s: %s: %s %s:%s: %s", setting, c->uri, what, c->host, c->port,
			     rc == -ETIMEDOUT ? "no answer in time (PAGEMU_SWAP_TIMEOUT)" : strerror(-rc));
		return rc;
	}
	if ((rc = handshake(c, msg, sizeof(msg))) < 0) {
		pm_set_error("%s: %s: %s", setting, c->uri, msg);
		goto err_close;
	}
	if (c->size < need) {
		rc = -ENOSPC;
		pm_set_error("%s: %s: the export holds %llu bytes, less than the %llu this server must hold of the "
			     "swap (swap_size, PAGEMU_SWAP_SIZE): lower PAGEMU_SWAP_SIZE or grow the export", setting,
			     c->uri, (unsigned long long)c->size, (unsigned long long)need);
		goto err_close;
	}
	set_timeout(c->sock, 0);              /* replies come when they come */
	return 0;
err_close:
	pm_prim_close(c->sock);
	c->sock = -1;
	return rc;
}

/* Bytes each of n servers holds of nslots slots of page bytes. */
static uint64_t share(uint64_t nslots, unsigned n, size_t page)
{
	uint64_t chunks = (nslots + STRIPE - 1) / STRIPE;

	return n == 1 ? nslots * page : (chunks + n - 1) / n * STRIPE * page;
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

/* The server of c failed (then = what follows): say so once, naming it.
 * I/O threads: formatted with pm_fmt (no stdio, no strerror: both read
 * the locale, which the program's heap holds, emulated memory the I/O
 * threads must not touch). */
static void say_failed(nbd_conn_t *c, const char *what, int err, const char *then)
{
	char line[900], *p = line, *end = line + sizeof(line);

	if (atomic_load(&c->nbd->stop) || atomic_exchange(&c->said, 1))
		return;
	p = pm_fmt_str(p, end, "pagemu: swap server ");
	p = pm_fmt_str(p, end, c->uri);
	p = pm_fmt_str(p, end, " (PAGEMU_SWAP): ");
	p = pm_fmt_str(p, end, what);
	if (err) {
		p = pm_fmt_str(p, end, " (errno ");
		p = pm_fmt_u64(p, end, (uint64_t)err);
		p = pm_fmt_str(p, end, ")");
	}
	p = pm_fmt_str(p, end, "; ");
	p = pm_fmt_str(p, end, then);
	pm_fmt_str(p, end, "\n");
	pm_prim_say(line);
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

/* Piece p of request r is done (err 0 or -errno): the last one completes
 * r. Once per piece, whoever comes first. I/O threads. */
static void piece_done(struct pm_nbd *nbd, nbd_req_t *r, nbd_piece_t *p, int err)
{
	nbd_conn_t *c = &nbd->conn[p->server];
	int old = atomic_exchange(&p->state, PIECE_DONE), none = 0;

	if (old != PIECE_QUEUED && old != PIECE_SENT && old != PIECE_RECV)
		return;
	if (err) {
		atomic_compare_exchange_strong(&r->err, &none, err);
		atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
	} else if (r->write) {
		atomic_fetch_add_explicit(&c->writes, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->write_bytes, (uint64_t)p->n * nbd->page, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&c->reads, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->read_bytes, (uint64_t)p->n * nbd->page, memory_order_relaxed);
	}
	if (atomic_fetch_sub(&r->left, 1) != 1)
		return;
	err = atomic_load(&r->err);
	if (r - nbd->req == SYNC_REQ) {
		atomic_store(&r->done, 1);
		pm_prim_futex_wake((uint32_t *)&r->done, INT_MAX);
	} else {
		post(nbd, r->tag, err ? err : (int)(r->n * nbd->page));
	}
}

/* The connection failed: from now on every piece of it fails; those sent
 * fail now (the sender fails the queued ones as it takes them). */
static void conn_fail(nbd_conn_t *c, const char *what, int err)
{
	struct pm_nbd *nbd = c->nbd;

	atomic_store(&c->dead, 1);
	say_failed(c, what, err, "pages held there get SIGBUS");
	for (unsigned i = 0; i < NREQ; i++) {
		nbd_req_t *r = &nbd->req[i];
		for (unsigned k = 0; k < MAX_PIECES; k++)
			if (r->p[k].server == (unsigned)(c - nbd->conn) && atomic_load(&r->p[k].state) == PIECE_SENT)
				piece_done(nbd, r, &r->p[k], -EREMOTEIO);
	}
}

/* ---- the I/O threads ------------------------------------------------------------ */

/* A thread of c is past glibc's start-up, which reads the locale (see
 * start_threads). */
static void thread_started(nbd_conn_t *c)
{
	atomic_fetch_add(&c->started, 1);
	pm_prim_futex_wake((uint32_t *)&c->started, INT_MAX);
}

/* The sender: takes piece handles from the queue, sends their requests. */
static void *sender_main(void *arg)
{
	nbd_conn_t *c = arg;
	struct pm_nbd *nbd = c->nbd;
	struct iovec iov[1 + PM_IO_MAX_RUN];
	uint8_t hdr[28];

	thread_started(c);
	while (!atomic_load(&nbd->stop)) {
		uint32_t head = atomic_load_explicit(&c->qhead, memory_order_relaxed);
		uint32_t tail = atomic_load(&c->qtail);
		if (head == tail) {
			atomic_store(&c->sleeping, 1);
			if (atomic_load(&c->qtail) == tail && !atomic_load(&nbd->stop))
				pm_prim_futex_wait((uint32_t *)&c->qtail, tail, IDLE_NAP_NS);
			atomic_store(&c->sleeping, 0);
			continue;
		}
		uint32_t h = c->q[head % QLEN];
		atomic_store_explicit(&c->qhead, head + 1, memory_order_release);
		nbd_req_t *r = &nbd->req[h >> 8];
		nbd_piece_t *p = &r->p[h & 0xff];
		int expect = PIECE_QUEUED;
		if (!atomic_compare_exchange_strong(&p->state, &expect, PIECE_SENT))
			continue;
		if (atomic_load(&c->dead)) {
			piece_done(nbd, r, p, -EREMOTEIO);
			continue;
		}
		put_be(hdr, NBD_REQUEST_MAGIC, 4);
		put_be(hdr + 4, 0, 2);
		put_be(hdr + 6, r->write ? NBD_CMD_WRITE : NBD_CMD_READ, 2);
		put_be(hdr + 8, h, 8);
		put_be(hdr + 16, p->off, 8);
		put_be(hdr + 24, (uint64_t)p->n * nbd->page, 4);
		iov[0] = (struct iovec){ hdr, sizeof(hdr) };
		unsigned niov = 1;
		if (r->write)
			for (unsigned i = 0; i < p->n; i++)
				iov[niov++] = r->iov[p->iov0 + i];
		int rc = xfer_iov(c->sock, iov, (int)niov, 0);
		if (rc < 0) {
			conn_fail(c, "cannot send a request", -rc);
			piece_done(nbd, r, p, -EREMOTEIO);
		}
	}
	return NULL;
}

/* The receiver: reads the replies, a read's pages into its frames. */
static void *receiver_main(void *arg)
{
	nbd_conn_t *c = arg;
	struct pm_nbd *nbd = c->nbd;
	struct iovec iov[PM_IO_MAX_RUN];
	uint8_t rep[16];

	thread_started(c);
	for (;;) {
		int rc = recv_all(c->sock, rep, sizeof(rep));
		if (rc < 0) {
			conn_fail(c, rc == -ECONNRESET ? "the server closed the connection" : "connection lost",
				  rc == -ECONNRESET ? 0 : -rc);
			return NULL;
		}
		uint64_t h = get_be(rep + 8, 8);
		uint32_t error = (uint32_t)get_be(rep + 4, 4);
		nbd_req_t *r = (h >> 8) < NREQ ? &nbd->req[h >> 8] : NULL;
		nbd_piece_t *p = r && (h & 0xff) < MAX_PIECES ? &r->p[h & 0xff] : NULL;
		if (get_be(rep, 4) != NBD_REPLY_MAGIC || !p || atomic_load(&p->state) != PIECE_SENT) {
			conn_fail(c, "protocol error (a reply this client did not expect)", 0);
			return NULL;
		}
		if (error) {
			char what[200], *w = what, *wend = what + sizeof(what);
			w = pm_fmt_str(w, wend, r->write ? "the server failed a write of " : "the server failed a read of ");
			w = pm_fmt_u64(w, wend, (uint64_t)p->n * nbd->page);
			w = pm_fmt_str(w, wend, " bytes at offset ");
			w = pm_fmt_u64(w, wend, p->off);
			w = pm_fmt_str(w, wend, " (NBD error ");
			w = pm_fmt_u64(w, wend, error);
			w = pm_fmt_str(w, wend, ", ");
			w = pm_fmt_str(w, wend, nbd_error_name(error));
			pm_fmt_str(w, wend, ")");
			say_failed(c, what, 0, "a read gets SIGBUS, a write keeps its page in memory "
				   "(further errors are counted in remote_errors)");
			piece_done(nbd, r, p, -EREMOTEIO);
			continue;
		}
		int expect = PIECE_SENT;
		if (!atomic_compare_exchange_strong(&p->state, &expect, PIECE_RECV)) {
			conn_fail(c, "a reply came for a request already failed", 0);
			return NULL;
		}
		if (!r->write) {
			for (unsigned i = 0; i < p->n; i++)
				iov[i] = r->iov[p->iov0 + i];
			if ((rc = xfer_iov(c->sock, iov, (int)p->n, 1)) < 0) {
				conn_fail(c, "connection lost in a reply", rc == -ECONNRESET ? 0 : -rc);
				piece_done(nbd, r, p, -EREMOTEIO);     /* being received: conn_fail left it */
				return NULL;
			}
		}
		piece_done(nbd, r, p, 0);
	}
}

/* ---- open and close ------------------------------------------------------------ */

/* Parse cfg->swap and connect to every server: 0 with nbd's connections
 * up (no threads yet), or -errno with pagemu_last_error(). */
static int connect_all(struct pm_nbd *nbd, const pagemu_config_t *cfg, uint64_t nslots, const char *setting)
{
	int n = parse_list(cfg->swap, nbd->conn, setting), rc;

	if (n < 0)
		return n;
	nbd->nconn = (unsigned)n;
	nbd->page = cfg->page_size;
	for (unsigned i = 0; i < nbd->nconn; i++) {
		nbd->conn[i].nbd = nbd;
		nbd->conn[i].sock = -1;
	}
	for (unsigned i = 0; i < nbd->nconn; i++)
		if ((rc = conn_open(&nbd->conn[i], share(nslots, nbd->nconn, nbd->page), cfg->swap_timeout_ms, setting)) < 0)
			return rc;
	return 0;
}

static void disconnect_all(struct pm_nbd *nbd)
{
	for (unsigned i = 0; i < nbd->nconn; i++)
		if (nbd->conn[i].sock >= 0) {
			pm_prim_close(nbd->conn[i].sock);
			nbd->conn[i].sock = -1;
		}
}

int pm_nbd_probe(const pagemu_config_t *cfg, const char *setting)
{
	struct pm_nbd *nbd = calloc(1, sizeof(*nbd));
	int rc;

	if (!nbd)
		return -ENOMEM;
	rc = connect_all(nbd, cfg, cfg->swap_size / cfg->page_size, setting);
	disconnect_all(nbd);
	free(nbd);
	return rc;
}

/* Start c's two threads (pagemu's own: the program's signals go to its
 * own threads), and wait until both are past glibc's thread start-up: it
 * reads the locale, which later lives in the program's heap (emulated
 * memory, perhaps swapped to these very servers); at open, the instance
 * has no emulated memory yet. From then on the threads touch pagemu's
 * own memory only (no stdio, no strerror: see say_failed). */
static int start_threads(nbd_conn_t *c)
{
	int rc = pm_prim_thread_start(&c->sender, sender_main, c);

	if (rc == 0 && (rc = pm_prim_thread_start(&c->receiver, receiver_main, c)) < 0) {
		atomic_store(&c->nbd->stop, 1);
		pm_prim_futex_wake((uint32_t *)&c->qtail, 1);
		pm_prim_thread_join(c->sender);
	}
	c->threads = rc == 0;
	for (uint32_t n; rc == 0 && (n = atomic_load(&c->started)) < 2; )
		pm_prim_futex_wait((uint32_t *)&c->started, n, IDLE_NAP_NS);
	return rc;
}

int pm_nbd_open(const pagemu_config_t *cfg, uint64_t nslots, int target, const char *setting, struct pm_nbd **out)
{
	struct pm_nbd *nbd = calloc(1, sizeof(*nbd));
	int rc;

	if (!nbd)
		return -ENOMEM;
	nbd->target = target;
	pthread_mutex_init(&nbd->post_lock, NULL);
	if ((rc = connect_all(nbd, cfg, nslots, setting)) < 0)
		goto err;
	if ((rc = pm_prim_ring_init(&nbd->post, 64)) < 0) {
		pm_set_error("io_uring_queue_init: %s", strerror(-rc));
		goto err;
	}
	nbd->post_ok = 1;
	for (unsigned i = 0; i < nbd->nconn; i++)
		if ((rc = start_threads(&nbd->conn[i])) < 0) {
			pm_set_error("%s: cannot start the I/O threads of %s: %s", setting, nbd->conn[i].uri, strerror(-rc));
			goto err;
		}
	*out = nbd;
	return 0;
err:
	pm_nbd_close(nbd);
	return rc;
}

/* The threads' end: they leave when stop is set and their socket is shut. */
static void stop_threads(struct pm_nbd *nbd)
{
	uint8_t disc[28] = { 0 };

	atomic_store(&nbd->stop, 1);
	put_be(disc, NBD_REQUEST_MAGIC, 4);
	put_be(disc + 6, NBD_CMD_DISC, 2);
	for (unsigned i = 0; i < nbd->nconn; i++) {
		nbd_conn_t *c = &nbd->conn[i];
		if (!c->threads)
			continue;
		pm_prim_futex_wake((uint32_t *)&c->qtail, 1);
		pm_prim_thread_join(c->sender);
		if (!atomic_load(&c->dead))
			send_all(c->sock, disc, sizeof(disc));     /* a polite end; no reply comes */
		shutdown(c->sock, SHUT_RDWR);
		pm_prim_thread_join(c->receiver);
		c->threads = 0;
	}
}

void pm_nbd_close(struct pm_nbd *nbd)
{
	if (!nbd)
		return;
	stop_threads(nbd);
	disconnect_all(nbd);
	if (nbd->post_ok)
		pm_prim_ring_exit(&nbd->post);
	pthread_mutex_destroy(&nbd->post_lock);
	free(nbd);
}

void pm_nbd_forget(struct pm_nbd *nbd)
{
	/* In a fork child: the threads were the parent's; the descriptors are
	 * copies of the parent's connections, which the child must not use. */
	disconnect_all(nbd);
	if (nbd->post_ok)
		pm_prim_ring_exit(&nbd->post);
	free(nbd);
}

/* ---- the fault path's side --------------------------------------------------------- */

/* Cut request `req` (n pages of iov from slot) into pieces, one per
 * stripe, and queue them; the senders are woken when kick says so.
 * signal context; called with vm->lock held (the only producer). */
static int queue(struct pm_nbd *nbd, unsigned req, uint64_t tag, int write, uint64_t slot,
		 const struct iovec *iov, unsigned n, int kick)
{
	nbd_req_t *r = &nbd->req[req];
	unsigned np = 0, done = 0;
	unsigned wake[PM_NBD_MAX_SERVERS] = { 0 };

	r->iov = iov;
	r->tag = tag;
	r->write = write;
	r->n = n;
	atomic_store(&r->err, 0);
	atomic_store(&r->done, 0);
	while (done < n) {
		uint64_t s = slot + done, chunk = s / STRIPE;
		unsigned len = nbd->nconn == 1 ? n - done : (unsigned)(STRIPE - s % STRIPE);
		nbd_piece_t *p = &r->p[np++];
		if (len > n - done)
			len = n - done;
		p->server = nbd->nconn == 1 ? 0 : (unsigned)(chunk % nbd->nconn);
		p->off = (nbd->nconn == 1 ? s : (chunk / nbd->nconn) * STRIPE + s % STRIPE) * nbd->page;
		p->iov0 = done;
		p->n = len;
		atomic_store(&p->state, PIECE_QUEUED);
		done += len;
	}
	for (unsigned k = np; k < MAX_PIECES; k++)
		atomic_store(&r->p[k].state, PIECE_FREE);
	r->npieces = np;
	atomic_store(&r->left, np);
	for (unsigned k = 0; k < np; k++) {
		nbd_conn_t *c = &nbd->conn[r->p[k].server];
		uint32_t tail = atomic_load_explicit(&c->qtail, memory_order_relaxed);
		c->q[tail % QLEN] = req << 8 | k;
		atomic_store(&c->qtail, tail + 1);         /* seq_cst: against the sender's sleeping */
		wake[r->p[k].server] = 1;
	}
	if (kick)
		for (unsigned i = 0; i < nbd->nconn; i++)
			if (wake[i] && atomic_load(&nbd->conn[i].sleeping))
				pm_prim_futex_wake((uint32_t *)&nbd->conn[i].qtail, 1);
	return 0;
}

int pm_nbd_read(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n)
{
	return queue(nbd, req, tag, 0, slot, iov, n, 1);
}

int pm_nbd_write(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n)
{
	return queue(nbd, req, tag, 1, slot, iov, n, 0);
}

void pm_nbd_kick(struct pm_nbd *nbd)
{
	for (unsigned i = 0; i < nbd->nconn; i++)
		if (atomic_load(&nbd->conn[i].sleeping))
			pm_prim_futex_wake((uint32_t *)&nbd->conn[i].qtail, 1);
}

/* ---- fork: the child's copy -------------------------------------------------------- */

int pm_nbd_copy(struct pm_nbd *nbd, const pm_swapmap_t *map, uint64_t nslots, int fd)
{
	size_t page = nbd->page;
	struct iovec iov[PM_IO_MAX_RUN];
	char *buf = pm_prim_alloc_tables(PM_IO_MAX_RUN * page);
	nbd_req_t *r = &nbd->req[SYNC_REQ];
	uint64_t s = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < PM_IO_MAX_RUN; i++)
		iov[i] = (struct iovec){ buf + i * page, page };
	while (s < nslots && rc == 0) {
		unsigned run = 0;
		while (s < nslots && !pm_swapmap_test(map, s))
			s++;
		while (s + run < nslots && run < PM_IO_MAX_RUN && pm_swapmap_test(map, s + run))
			run++;
		if (!run)
			break;
		queue(nbd, SYNC_REQ, 0, 0, s, iov, run, 1);
		while (!atomic_load(&r->done))
			pm_prim_futex_wait((uint32_t *)&r->done, 0, IDLE_NAP_NS);
		rc = atomic_load(&r->err);
		if (rc == 0)
			rc = pm_prim_pwrite(fd, buf, run * page, s * page);
		s += run;
	}
	pm_prim_release(buf, PM_IO_MAX_RUN * page);
	return rc;
}

/* ---- statistics ------------------------------------------------------------------ */

void pm_nbd_stats(struct pm_nbd *nbd, pagemu_stats_t *s)
{
	s->nservers = nbd->nconn;
	for (unsigned i = 0; i < nbd->nconn; i++) {
		nbd_conn_t *c = &nbd->conn[i];
		pagemu_server_stats_t *v = &s->servers[i];
		snprintf(v->server, sizeof(v->server), "%s", c->uri);
		v->reads = atomic_load_explicit(&c->reads, memory_order_relaxed);
		v->read_bytes = atomic_load_explicit(&c->read_bytes, memory_order_relaxed);
		v->writes = atomic_load_explicit(&c->writes, memory_order_relaxed);
		v->write_bytes = atomic_load_explicit(&c->write_bytes, memory_order_relaxed);
		v->errors = atomic_load_explicit(&c->errors, memory_order_relaxed);
		v->up = !atomic_load(&c->dead);
		s->remote_reads += v->reads;
		s->remote_read_bytes += v->read_bytes;
		s->remote_writes += v->writes;
		s->remote_write_bytes += v->write_bytes;
		s->remote_errors += v->errors;
	}
}
