/* nbd.c - swap slots on NBD servers: the remote backing store beneath
 * swapio.c's slot I/O (PAGEMU_SWAP=nbd://HOST:PORT/EXPORT[,nbd://...]).
 *
 * The client speaks the NBD protocol's simple requests itself over one TCP
 * connection per server: the fixed newstyle handshake with NBD_OPT_GO,
 * then NBD_CMD_READ and NBD_CMD_WRITE with simple replies (no structured
 * replies are asked for), NBD_CMD_DISC at close. Several servers stripe
 * the slots: STRIPE consecutive slots (a chunk) on one server, the next
 * chunk on the next, round robin.
 *
 * Replicas (PAGEMU_SWAP_REPLICAS=R). Copy k of chunk c lives on server
 * (c + k) mod n, in region k of its export: an export is cut into
 * regions of `rows` chunks, chunk c at row c / n of its region. One more
 * region on each server is spare room for re-replication. A write goes to
 * every live copy and completes when they all answered (one copy at
 * least); a read goes to one live, up-to-date copy and, when its server
 * fails, is retried on another (remote_retries). A server that fails (its
 * connection closed, a request refused, a request older than
 * PAGEMU_SWAP_TIMEOUT) is said once on stderr and marked dead
 * (remote_failovers); the repair thread then moves each of its copies to
 * a live server that holds no copy of that chunk and has a spare region,
 * and copies the chunks there in the background from a surviving copy.
 * Until a chunk's new copy is written it is stale (never read). With
 * R = 1 a dead server's pages fail with -EREMOTEIO: SIGBUS.
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
 * A piece's state word holds its server too, so that a transition made
 * for one server (a failure of its connection) never takes a piece that
 * was retried on another meanwhile. */
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

#define STRIPE        16                  /* consecutive slots on one server: a chunk */
#define MAX_COPIES    PM_NBD_MAX_SERVERS  /* replicas, at most */
#define MAX_SEGS      (PM_IO_MAX_RUN / STRIPE + 1)   /* chunks one request spans, at most */
#define MAX_PIECES    (MAX_SEGS * MAX_COPIES)        /* pieces of one request, at most */
#define QLEN          1024                /* queue entries per server */
#define SYNC_REQ      PM_NBD_REQS         /* the request of pm_nbd_copy (waited for, not posted) */
#define REPAIR_REQ    (PM_NBD_REQS + 1)   /* the repair thread's request (waited for) */
#define NREQ          (PM_NBD_REQS + 2)
#define IDLE_NAP_NS   200000000L          /* a sender's sleep, at most (a missed wake-up costs this) */
#define TICK_MAX_MS   100                 /* a blocked socket call wakes this often to look for overdue requests */
#define SPIN_NS       300000              /* an injected delay shorter than this is waited for spinning */
#define NO_COPY       0xffu

/* A server's queue holds at most a piece per segment of each request: a
 * request's pieces on one server are its segments' (one copy each). */
_Static_assert(NREQ * MAX_SEGS <= QLEN, "a server's queue holds every piece that can be queued there");
_Static_assert(MAX_PIECES <= 256 && NREQ < (1u << 23), "a handle is request << 8 | piece");

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

/* A piece is queued, sent, then ENDING: whoever moved it there owns it
 * (the receiver, which reads its reply and a read's pages into its
 * frames; or whoever fails it) and retries it elsewhere or ends it. The
 * state word is st | server << 8 (STATE, SERVER). */
enum piece_state { PIECE_FREE = 0, PIECE_QUEUED, PIECE_SENT, PIECE_ENDING, PIECE_DONE };
#define STATE(st, server)  ((int)((unsigned)(st) | (unsigned)(server) << 8))
#define SERVER(state)      ((unsigned)(state) >> 8)

typedef struct nbd_piece {
	_Atomic int state;                /* STATE(enum piece_state, server) */
	unsigned    seg;                  /* its segment of the request */
	unsigned    copy;                 /* which copy of the segment's chunk */
	unsigned    tried;                /* copies tried (bit k: copy k), a read's */
	uint64_t    off;                  /* byte offset on its server */
	_Atomic uint64_t sent_ns;         /* when its request was sent (timeouts) */
} nbd_piece_t;

typedef struct nbd_seg {
	uint64_t     chunk;               /* the chunk of its slots */
	unsigned     in;                  /* its first slot's place in the chunk */
	unsigned     iov0, n;             /* its pages: iov[iov0 .. iov0 + n) */
} nbd_seg_t;

typedef struct nbd_req {
	const struct iovec *iov;          /* one page each (swapio's request's) */
	uint64_t     tag;                 /* the completion's user_data */
	int          write;               /* NBD_CMD_WRITE, else a read */
	int          tracked;             /* a write counted in its chunks' gen and writing */
	unsigned     n;                   /* pages */
	unsigned     nsegs, npieces;
	uint64_t     queued_ns;           /* a read: when it was queued (its latency, the injected delay) */
	_Atomic unsigned left;            /* pieces not done */
	_Atomic unsigned segs_ok;         /* segments with a copy done (bit per segment) */
	_Atomic int  res;                 /* SYNC_REQ, REPAIR_REQ: the result, once done */
	_Atomic uint32_t done;            /* SYNC_REQ, REPAIR_REQ: 1 when every piece is done (a futex) */
	nbd_seg_t    seg[MAX_SEGS];
	nbd_piece_t  p[MAX_PIECES];
} nbd_req_t;

/* A queue entry: Vyukov's bounded queue (its sequence says whether the
 * cell is free for position pos (seq == pos) or holds it (seq == pos + 1)). */
typedef struct nbd_cell {
	_Atomic uint32_t seq;
	uint32_t     h;                   /* a piece handle: request << 8 | piece */
} nbd_cell_t;

typedef struct nbd_conn {
	struct pm_nbd *nbd;
	char         uri[PM_NBD_URI_MAX]; /* as the user wrote it, for messages */
	char         host[256], port[16], name[PM_NBD_URI_MAX];   /* the export */
	int          sock;                /* -1 = none */
	uint64_t     size;                /* the export's bytes */
	pm_thread_t  sender, receiver;
	int          threads;             /* 1 when both run */
	_Atomic uint32_t started;         /* threads past their start-up (a futex) */
	_Atomic uint32_t qtail;           /* producers take positions here */
	uint32_t     qhead;               /* the sender's */
	_Atomic uint32_t bell;            /* bumped to wake the sender (its futex) */
	_Atomic int  sleeping;            /* the sender sleeps (or is about to) on bell */
	_Atomic int  dead;                /* the server failed: every piece fails */
	_Atomic int  said;                /* its failure was said on stderr */
	int          relocated;           /* the repair thread moved its copies (repair thread) */
	_Atomic uint64_t reads, read_bytes, writes, write_bytes, errors;
	nbd_cell_t   q[QLEN];
} nbd_conn_t;

/* A chunk's bookkeeping for re-replication (replicas > 1 only). */
typedef struct nbd_chunk {
	_Atomic uint32_t gen;             /* writes queued to it, ever */
	_Atomic uint16_t writing;         /* writes queued, not completed */
	_Atomic uint8_t  stale;           /* copies not written yet at their new place (bit k: copy k) */
} nbd_chunk_t;

struct pm_nbd {
	unsigned     nconn;
	unsigned     copies;              /* replicas: copies of each chunk */
	unsigned     regions;             /* regions per export: copies, + 1 spare when copies > 1 */
	size_t       page;
	uint64_t     nslots, nchunks, rows;
	uint64_t     timeout_ns;          /* a request older than this fails its server */
	uint64_t     delay_ns;            /* injected read latency (PAGEMU_SWAP_DELAY_US) */
	unsigned     tick_ms;             /* socket calls wake this often */
	int          target;              /* swapio's ring: where completions are posted */
	_Atomic int  stop;                /* closing: threads leave, nothing is said */
	pthread_mutex_t post_lock;        /* the messenger ring (the I/O threads only) */
	struct io_uring post;             /* the messenger ring: MSG_RING submissions */
	int          post_ok;             /* post was set up */
	/* Placement: where[i][k] = server | region << 8 of copy k of the
	 * chunks c with c mod n = i; changed by the repair thread only. */
	_Atomic uint16_t where[PM_NBD_MAX_SERVERS][MAX_COPIES];
	int8_t       used[PM_NBD_MAX_SERVERS][MAX_COPIES + 1];    /* region g of server j holds position i, -1 none */
	nbd_chunk_t *chunks;              /* nchunks of them (copies > 1), else NULL */
	pm_thread_t  repairer;
	int          repairing;           /* the repair thread runs */
	_Atomic uint32_t repair_bell;     /* bumped when a server died (its futex) */
	_Atomic uint32_t repair_started;  /* the repair thread is past its start-up (a futex) */
	char        *repair_buf;          /* a chunk's pages (the repair thread's) */
	struct iovec repair_iov[STRIPE];  /* its pages */
	_Atomic uint64_t retries, failovers, repairs;
	_Atomic uint64_t read_ns;         /* swapio's reads: queued to completed, summed */
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
	return rc;
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

/* recv exactly len bytes (the socket's timeouts bound each call), with
 * raw system calls (prim: never the shim's recv and send, which the I/O
 * threads must not enter). 0, -errno, or -ECONNRESET for the peer's
 * close. The handshake's. */
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

static int overdue(nbd_conn_t *c);

/* Send (or, recv = 1, receive) all of iov[0..n), which it may change.
 * live: the connection's I/O threads, whose socket wakes them every tick:
 * they wait on unless a request of live is overdue (-ETIMEDOUT); NULL
 * (the handshake): the socket's timeout is the deadline. */
static int xfer_iov(int sock, struct iovec *iov, int n, int recv_, nbd_conn_t *live)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	while (m.msg_iovlen) {
		long k = pm_prim_msg(sock, &m, recv_);
		if (k == -EINTR || (k == -EAGAIN && live && !overdue(live)))
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

	return xfer_iov(sock, &v, 1, 0, NULL);
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

/* Regions per export: one per copy, and a spare one (room to re-replicate
 * a failed server's copies) when there are copies. */
static unsigned regions_of(unsigned copies)
{
	return copies > 1 ? copies + 1 : 1;
}

/* Bytes each of n servers holds of nslots slots of page bytes: `regions`
 * regions of a chunk per row (n chunks). */
static uint64_t share(uint64_t nslots, unsigned n, unsigned regions, size_t page)
{
	uint64_t chunks = (nslots + STRIPE - 1) / STRIPE;

	return n == 1 ? nslots * page : regions * ((chunks + n - 1) / n) * STRIPE * page;
}

/* Connect c and handshake, its export at least need bytes: 0, or -errno
 * with pagemu_last_error() naming setting and c's URI. */
static int conn_open(nbd_conn_t *c, uint64_t need, const pagemu_config_t *cfg, unsigned tick_ms, const char *setting)
{
	const char *what;
	char msg[1200];
	int rc;

	c->sock = dial(c, cfg->swap_timeout_ms, &what);
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
			     "swap (swap_size, PAGEMU_SWAP_SIZE%s): lower PAGEMU_SWAP_SIZE or grow the export", setting,
			     c->uri, (unsigned long long)c->size, (unsigned long long)need,
			     cfg->swap_replicas > 1 ? "; with PAGEMU_SWAP_REPLICAS its copies, and room for a failed "
			     "server's" : "");
		goto err_close;
	}
	/* Replies come when they come; the I/O threads' calls wake every
	 * tick to see whether a request is overdue (PAGEMU_SWAP_TIMEOUT). */
	set_timeout(c->sock, tick_ms);
	return 0;
err_close:
	pm_prim_close(c->sock);
	c->sock = -1;
	return rc;
}

/* ---- placement: where each copy of a chunk lives ------------------------------------- */

static unsigned loc_server(uint16_t loc)
{
	return loc & 0xff;
}

static unsigned loc_region(uint16_t loc)
{
	return loc >> 8;
}

/* The server of copy k of chunk, and in *off the byte offset there of
 * the chunk's slot `in`. Any thread. */
static unsigned place(struct pm_nbd *nbd, uint64_t chunk, unsigned k, unsigned in, uint64_t *off)
{
	uint16_t loc;

	if (nbd->nconn == 1) {
		*off = (chunk * STRIPE + in) * nbd->page;
		return 0;
	}
	loc = atomic_load(&nbd->where[chunk % nbd->nconn][k]);
	*off = ((loc_region(loc) * nbd->rows + chunk / nbd->nconn) * STRIPE + in) * nbd->page;
	return loc_server(loc);
}

/* Copy k of the chunks at position i (chunk mod n) on server i + k, in
 * its region k; the spare regions free. */
static void place_init(struct pm_nbd *nbd)
{
	memset(nbd->used, -1, sizeof(nbd->used));
	for (unsigned i = 0; i < nbd->nconn; i++)
		for (unsigned k = 0; k < nbd->copies; k++) {
			unsigned j = (i + k) % nbd->nconn;
			atomic_store(&nbd->where[i][k], (uint16_t)(j | k << 8));
			nbd->used[j][k] = (int8_t)i;
		}
}

/* A copy of chunk to read: on a live server, up to date, not in tried;
 * NO_COPY when there is none. Any thread. */
static unsigned read_copy(struct pm_nbd *nbd, uint64_t chunk, unsigned tried)
{
	for (unsigned k = 0; k < nbd->copies; k++) {
		uint64_t off;
		unsigned s = place(nbd, chunk, k, 0, &off);
		/* The placement first, then stale: the repair thread marks a
		 * copy stale before it moves it. */
		unsigned stale = nbd->chunks ? atomic_load(&nbd->chunks[chunk].stale) : 0;
		if (!((tried | stale) & 1u << k) && !atomic_load(&nbd->conn[s].dead))
			return k;
	}
	return NO_COPY;
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
static void wake(nbd_conn_t *c)
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
static void say(const char *const *parts)
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
	say((const char *const[]){ "pagemu: swap server ", c->uri, " (PAGEMU_SWAP): ", what, num, "; ", then, NULL });
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
	unsigned k = read_copy(nbd, g->chunk, p->tried), s;

	if (k == NO_COPY)
		return 0;
	s = place(nbd, g->chunk, k, g->in, &p->off);
	p->copy = k;
	p->tried |= 1u << k;
	atomic_store(&p->sent_ns, 0);
	atomic_fetch_add_explicit(&nbd->retries, 1, memory_order_relaxed);
	atomic_store(&p->state, STATE(PIECE_QUEUED, s));
	push(&nbd->conn[s], (uint32_t)((r - nbd->req) << 8 | (p - r->p)));
	wake(&nbd->conn[s]);
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
static void thread_started(_Atomic uint32_t *started)
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
	return xfer_iov(c->sock, iov, (int)niov, 0, c);
}

/* The sender: takes piece handles from the queue, sends their requests;
 * once the server has failed, ends them (a read is retried elsewhere). */
static void *sender_main(void *arg)
{
	nbd_conn_t *c = arg;
	struct pm_nbd *nbd = c->nbd;
	unsigned me = (unsigned)(c - nbd->conn);
	uint32_t h;

	thread_started(&c->started);
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
	if ((rc = xfer_iov(c->sock, iov, (int)g->n, 1, c)) < 0)
		return rc;
	if (c->nbd->delay_ns)
		hold_until(r->queued_ns + c->nbd->delay_ns);
	return 0;
}

/* The receiver: reads the replies, a read's pages into its frames. */
static void *receiver_main(void *arg)
{
	nbd_conn_t *c = arg;
	struct pm_nbd *nbd = c->nbd;
	unsigned me = (unsigned)(c - nbd->conn);
	uint64_t checked = pm_prim_now_ns(), tick = (uint64_t)nbd->tick_ms * 1000000;
	uint8_t rep[16];

	thread_started(&c->started);
	while (!atomic_load(&c->dead)) {
		struct iovec v = { rep, sizeof(rep) };
		int rc = xfer_iov(c->sock, &v, 1, 1, c);
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
	srv[np] = place(nbd, r->seg[g].chunk, k, r->seg[g].in, &p->off);
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
static void queue(struct pm_nbd *nbd, unsigned req, uint64_t tag, int write, uint64_t slot,
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
			unsigned k = read_copy(nbd, r->seg[g].chunk, 0);
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
		wake(&nbd->conn[srv[k]]);
}

int pm_nbd_read(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n)
{
	queue(nbd, req, tag, 0, slot, iov, n, NO_COPY, 1);
	return 0;
}

int pm_nbd_write(struct pm_nbd *nbd, unsigned req, uint64_t tag, uint64_t slot, const struct iovec *iov, unsigned n)
{
	queue(nbd, req, tag, 1, slot, iov, n, NO_COPY, 0);
	return 0;
}

void pm_nbd_kick(struct pm_nbd *nbd)
{
	for (unsigned i = 0; i < nbd->nconn; i++)
		wake(&nbd->conn[i]);
}

/* Queue request req (SYNC_REQ or REPAIR_REQ) and wait for it: 0 or
 * -errno (-ECANCELED: pagemu is closing). */
static int run_sync(struct pm_nbd *nbd, unsigned req, int write, uint64_t slot, const struct iovec *iov, unsigned n,
		    unsigned only)
{
	nbd_req_t *r = &nbd->req[req];
	int res;

	queue(nbd, req, 0, write, slot, iov, n, only, 1);
	while (!atomic_load(&r->done)) {
		if (atomic_load(&nbd->stop))
			return -ECANCELED;
		pm_prim_futex_wait((uint32_t *)&r->done, 0, IDLE_NAP_NS);
	}
	res = atomic_load(&r->res);
	return res < 0 ? res : 0;
}

/* ---- re-replication: the repair thread ------------------------------------------------ */

/* Does server j hold a copy of the chunks at position i? */
static int holds(struct pm_nbd *nbd, unsigned j, unsigned i)
{
	for (unsigned k = 0; k < nbd->copies; k++)
		if (loc_server(atomic_load(&nbd->where[i][k])) == j)
			return 1;
	return 0;
}

/* A new home for a copy of the chunks at position i: a live server that
 * holds none of them, with a free region (in *g). The server, or -1. */
static int new_home(struct pm_nbd *nbd, unsigned i, unsigned *g)
{
	for (unsigned t = 0; t < nbd->nconn; t++) {
		unsigned j = (i + nbd->copies + t) % nbd->nconn;     /* spread: the next server past the copies */
		if (atomic_load(&nbd->conn[j].dead) || holds(nbd, j, i))
			continue;
		for (*g = 0; *g < nbd->regions; (*g)++)
			if (nbd->used[j][*g] < 0)
				return (int)j;
	}
	return -1;
}

/* Server d died: move each copy it held to a new home. The chunks'
 * copies are marked stale before the placement changes, so that no read
 * takes a copy before the repair has written it. 0, or the positions
 * left without a new home. */
static unsigned relocate(struct pm_nbd *nbd, unsigned d)
{
	unsigned homeless = 0, g;

	for (unsigned i = 0; i < nbd->nconn; i++)
		for (unsigned k = 0; k < nbd->copies; k++) {
			if (loc_server(atomic_load(&nbd->where[i][k])) != d)
				continue;
			int j = new_home(nbd, i, &g);
			if (j < 0) {
				homeless++;
				continue;
			}
			for (uint64_t c = i; c < nbd->nchunks; c += nbd->nconn)
				atomic_fetch_or(&nbd->chunks[c].stale, (uint8_t)(1u << k));
			nbd->used[j][g] = (int8_t)i;
			atomic_store(&nbd->where[i][k], (uint16_t)((unsigned)j | g << 8));
		}
	return homeless;
}

/* Sleep about a millisecond. */
static void nap(void)
{
	uint32_t never = 0;

	pm_prim_futex_wait(&never, 0, 1000000);
}

/* Write copy k of chunk c at its new home from a live copy, until no
 * write to the chunk raced with the copy: a write queued meanwhile may
 * have reached the new home before the copy's older pages did. Then the
 * copy is up to date (no longer stale). Slots copied, or -errno. */
static long repair_chunk(struct pm_nbd *nbd, uint64_t c, unsigned k)
{
	nbd_chunk_t *ch = &nbd->chunks[c];
	unsigned n = (unsigned)(nbd->nslots - c * STRIPE < STRIPE ? nbd->nslots - c * STRIPE : STRIPE);
	int rc;

	for (;;) {
		while (atomic_load(&ch->writing))
			if (atomic_load(&nbd->stop))
				return -ECANCELED;
			else
				nap();
		uint32_t gen = atomic_load(&ch->gen);
		if (gen == 0) {                       /* never written: nothing to copy */
			atomic_fetch_and(&ch->stale, (uint8_t)~(1u << k));
			return 0;
		}
		if ((rc = run_sync(nbd, REPAIR_REQ, 0, c * STRIPE, nbd->repair_iov, n, NO_COPY)) < 0 ||
		    (rc = run_sync(nbd, REPAIR_REQ, 1, c * STRIPE, nbd->repair_iov, n, k)) < 0)
			return rc;
		if (!atomic_load(&ch->writing) && atomic_load(&ch->gen) == gen) {
			atomic_fetch_and(&ch->stale, (uint8_t)~(1u << k));
			return n;
		}
	}
}

/* Repair every stale copy; say what became of them. */
static void repair_all(struct pm_nbd *nbd, unsigned homeless)
{
	uint64_t copied = 0, lost = 0;
	char a[24], b[24];

	for (uint64_t c = 0; c < nbd->nchunks && !atomic_load(&nbd->stop); c++)
		for (unsigned k = 0; k < nbd->copies; k++) {
			if (!(atomic_load(&nbd->chunks[c].stale) & 1u << k))
				continue;
			long n = repair_chunk(nbd, c, k);
			if (n < 0)
				lost++;
			else
				copied += (uint64_t)n;
		}
	if (atomic_load(&nbd->stop))
		return;
	atomic_fetch_add(&nbd->repairs, copied);
	pm_fmt_u64(a, a + sizeof(a), copied);
	pm_fmt_u64(b, b + sizeof(b), lost);
	if (!lost && !homeless)
		say((const char *const[]){ "pagemu: swap: ", a, " slots copied to a new replica; every slot has its "
			"copies again (PAGEMU_SWAP_REPLICAS)", NULL });
	else
		say((const char *const[]){ "pagemu: swap: ", a, " slots copied to a new replica",
			lost ? "; chunks of 16 slots not copied (their last copy failed too: SIGBUS when read): " : "",
			lost ? b : "",
			homeless ? "; no live server has room for another copy of some slots (each copy needs a server "
			"of its own): they keep fewer copies" : "", NULL });
}

/* The repair thread: when a server dies, moves its copies and writes
 * them again from the surviving ones, in the background. */
static void *repair_main(void *arg)
{
	struct pm_nbd *nbd = arg;

	thread_started(&nbd->repair_started);
	while (!atomic_load(&nbd->stop)) {
		uint32_t bell = atomic_load(&nbd->repair_bell);
		unsigned homeless = 0;
		int died = 0;
		for (unsigned d = 0; d < nbd->nconn; d++)
			if (atomic_load(&nbd->conn[d].dead) && !nbd->conn[d].relocated) {
				nbd->conn[d].relocated = 1;
				homeless += relocate(nbd, d);
				died = 1;
			}
		if (died)
			repair_all(nbd, homeless);
		else
			pm_prim_futex_wait((uint32_t *)&nbd->repair_bell, bell, IDLE_NAP_NS);
	}
	return NULL;
}

/* ---- open and close ------------------------------------------------------------ */

/* Parse cfg->swap and connect to every server: 0 with nbd's connections
 * up (no threads yet), or -errno with pagemu_last_error(). */
static int connect_all(struct pm_nbd *nbd, const pagemu_config_t *cfg, uint64_t nslots, const char *setting)
{
	int n = parse_list(cfg->swap, nbd->conn, setting), rc;
	unsigned copies = cfg->swap_replicas ? cfg->swap_replicas : 1;

	if (n < 0)
		return n;
	if (copies > (unsigned)n) {
		pm_set_error("swap_replicas (PAGEMU_SWAP_REPLICAS) = %u: more copies than swap servers (%d in %s)",
			     copies, n, setting);
		return -EINVAL;
	}
	nbd->nconn = (unsigned)n;
	nbd->copies = copies;
	nbd->regions = regions_of(copies);
	nbd->page = cfg->page_size;
	nbd->nslots = nslots;
	nbd->nchunks = (nslots + STRIPE - 1) / STRIPE;
	nbd->rows = (nbd->nchunks + nbd->nconn - 1) / nbd->nconn;
	nbd->timeout_ns = (uint64_t)cfg->swap_timeout_ms * 1000000;
	nbd->delay_ns = (uint64_t)cfg->swap_delay_us * 1000;
	nbd->tick_ms = cfg->swap_timeout_ms / 4 < 1 ? 1 : cfg->swap_timeout_ms / 4 > TICK_MAX_MS ? TICK_MAX_MS
		       : cfg->swap_timeout_ms / 4;
	for (unsigned i = 0; i < nbd->nconn; i++) {
		nbd->conn[i].nbd = nbd;
		nbd->conn[i].sock = -1;
		for (uint32_t k = 0; k < QLEN; k++)
			atomic_store(&nbd->conn[i].q[k].seq, k);
	}
	for (unsigned i = 0; i < nbd->nconn; i++)
		if ((rc = conn_open(&nbd->conn[i], share(nslots, nbd->nconn, nbd->regions, nbd->page), cfg, nbd->tick_ms,
				    setting)) < 0)
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

/* Wait until *started reaches n. */
static void wait_started(_Atomic uint32_t *started, uint32_t n)
{
	for (uint32_t v; (v = atomic_load(started)) < n; )
		pm_prim_futex_wait((uint32_t *)started, v, IDLE_NAP_NS);
}

/* Start c's two threads (pagemu's own: the program's signals go to its
 * own threads), and wait until both are past glibc's thread start-up: it
 * reads the locale, which later lives in the program's heap (emulated
 * memory, perhaps swapped to these very servers); at open, the instance
 * has no emulated memory yet. From then on the threads touch pagemu's
 * own memory only (no stdio, no strerror: see say). */
static int start_threads(nbd_conn_t *c)
{
	int rc = pm_prim_thread_start(&c->sender, sender_main, c);

	if (rc == 0 && (rc = pm_prim_thread_start(&c->receiver, receiver_main, c)) < 0) {
		atomic_store(&c->nbd->stop, 1);
		wake(c);
		pm_prim_thread_join(c->sender);
	}
	c->threads = rc == 0;
	if (rc == 0)
		wait_started(&c->started, 2);
	return rc;
}

/* With replicas: the chunks' bookkeeping, the repair thread and its
 * buffer. 0 or -errno. */
static int start_repair(struct pm_nbd *nbd)
{
	int rc;

	if (nbd->copies == 1)
		return 0;
	nbd->chunks = pm_prim_alloc_tables(nbd->nchunks * sizeof(nbd_chunk_t));
	nbd->repair_buf = pm_prim_alloc_tables(STRIPE * nbd->page);
	if (!nbd->chunks || !nbd->repair_buf)
		return -ENOMEM;
	for (unsigned i = 0; i < STRIPE; i++)
		nbd->repair_iov[i] = (struct iovec){ nbd->repair_buf + i * nbd->page, nbd->page };
	if ((rc = pm_prim_thread_start(&nbd->repairer, repair_main, nbd)) < 0)
		return rc;
	nbd->repairing = 1;
	wait_started(&nbd->repair_started, 1);
	return 0;
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
	place_init(nbd);
	if ((rc = pm_prim_ring_init(&nbd->post, 64)) < 0) {
		pm_set_error("io_uring_queue_init: %s", strerror(-rc));
		goto err;
	}
	nbd->post_ok = 1;
	if ((rc = start_repair(nbd)) < 0) {
		pm_set_error("%s: cannot start re-replication (PAGEMU_SWAP_REPLICAS): %s", setting, strerror(-rc));
		goto err;
	}
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

/* The threads' end: the repair thread first (it queues requests for the
 * I/O threads); they leave when stop is set and their socket is shut. */
static void stop_threads(struct pm_nbd *nbd)
{
	uint8_t disc[28] = { 0 };

	atomic_store(&nbd->stop, 1);
	if (nbd->repairing) {
		atomic_fetch_add(&nbd->repair_bell, 1);
		pm_prim_futex_wake((uint32_t *)&nbd->repair_bell, 1);
		pm_prim_thread_join(nbd->repairer);
		nbd->repairing = 0;
	}
	put_be(disc, NBD_REQUEST_MAGIC, 4);
	put_be(disc + 6, NBD_CMD_DISC, 2);
	for (unsigned i = 0; i < nbd->nconn; i++) {
		nbd_conn_t *c = &nbd->conn[i];
		if (!c->threads)
			continue;
		atomic_store(&c->sleeping, 1);
		wake(c);
		pm_prim_thread_join(c->sender);
		if (!atomic_load(&c->dead))
			send_all(c->sock, disc, sizeof(disc));     /* a polite end; no reply comes */
		shutdown(c->sock, SHUT_RDWR);
		pm_prim_thread_join(c->receiver);
		c->threads = 0;
	}
}

/* Let go of the memory the replicas' bookkeeping took. */
static void free_repair(struct pm_nbd *nbd)
{
	if (nbd->chunks)
		pm_prim_release(nbd->chunks, nbd->nchunks * sizeof(nbd_chunk_t));
	if (nbd->repair_buf)
		pm_prim_release(nbd->repair_buf, STRIPE * nbd->page);
}

void pm_nbd_close(struct pm_nbd *nbd)
{
	if (!nbd)
		return;
	stop_threads(nbd);
	disconnect_all(nbd);
	if (nbd->post_ok)
		pm_prim_ring_exit(&nbd->post);
	free_repair(nbd);
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
	free_repair(nbd);
	free(nbd);
}

/* ---- fork: the child's copy -------------------------------------------------------- */

int pm_nbd_copy(struct pm_nbd *nbd, const pm_swapmap_t *map, uint64_t nslots, int fd)
{
	size_t page = nbd->page;
	struct iovec iov[PM_IO_MAX_RUN];
	char *buf = pm_prim_alloc_tables(PM_IO_MAX_RUN * page);
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
		rc = run_sync(nbd, SYNC_REQ, 0, s, iov, run, NO_COPY);
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
	s->remote_retries += atomic_load_explicit(&nbd->retries, memory_order_relaxed);
	s->remote_failovers += atomic_load_explicit(&nbd->failovers, memory_order_relaxed);
	s->remote_repairs += atomic_load_explicit(&nbd->repairs, memory_order_relaxed);
	s->remote_read_ns += atomic_load_explicit(&nbd->read_ns, memory_order_relaxed);
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
