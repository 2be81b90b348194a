/* nbd.h - the NBD swap store's own header: its types and the functions
 * its five files share. Who may include it: nbd.c (URIs, handshake,
 * connections, open and close, fork, statistics), nbdio.c (the queues,
 * the I/O threads, completions and failures, the fault path's side),
 * nbdrepair.c (placement of copies, re-replication), nbdtls.c (TLS) and
 * nbduri.c (the URIs). The engine sees the
 * store through engine.h's pm_nbd_* only.
 *
 * Glossary. chunk: STRIPE consecutive slots, the unit of striping and of
 * copies. copy k of chunk c: one replica, on server (c + k) mod n at first.
 * region: a part of an export holding one chunk per row (n chunks).
 * request: one of swapio's reads or writes (by its index), or SYNC_REQ /
 * REPAIR_REQ. segment: a request's slots in one chunk. piece: a segment
 * sent to one server (one copy). handle: request << 8 | piece. */
#ifndef PAGEMU_ENGINE_NBD_H
#define PAGEMU_ENGINE_NBD_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

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
#define NBD_OPT_STARTTLS    5
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
	int          want_tls;            /* nbds://: TLS or nothing */
	int          tls_verify;          /* check the server's certificate (tls-verify-peer) */
	char         tls_psk[PM_NBD_URI_MAX];     /* tls-psk-file: a PSK file, "" for X.509 */
	char         tls_user[128];       /* tls-username: its identity, "" for the file's first */
	char         tls_certs[PM_NBD_URI_MAX];   /* tls-certificates: a directory, "" for the system's */
	struct nbd_tls *tls;              /* the TLS session, once up (nbdtls.c), else NULL */
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

/* Big-endian integers of the protocol. */
static inline void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline uint64_t get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- nbduri.c: the URIs ------------------------------------------------------------- */

/* Split list (comma-separated URIs) into conns[] (PM_NBD_MAX_SERVERS of
 * them): the count, or -EINVAL with pagemu_last_error() naming setting
 * and the bad URI. */
int   pm_nbd_parse_list(const char *list, nbd_conn_t *conns, const char *setting);

/* ---- nbdio.c: the queues, the I/O threads, completions ------------------------------- */

/* Send (or, recv = 1, receive) all of iov[0..n) on c's socket (over TLS
 * when c->tls); live: the I/O threads' call (a request of c overdue ends
 * the wait), 0: the socket's timeout is the deadline (the handshake). 0
 * or -errno (-ECONNRESET: closed). */
int   pm_nbd_xfer(nbd_conn_t *c, struct iovec *iov, int n, int recv_, int live);
/* The I/O threads of a connection (arg: its nbd_conn_t). */
void *pm_nbd_sender_main(void *arg);
void *pm_nbd_receiver_main(void *arg);
/* A thread of pagemu's is past glibc's start-up (a futex counter). */
void  pm_nbd_thread_started(_Atomic uint32_t *started);
/* Wake c's sender if it sleeps. Any thread. */
void  pm_nbd_wake(nbd_conn_t *c);
/* Queue request req: n pages of iov from slot; a write to every live copy
 * (or only copy `only`), a read to one. signal context; called with
 * vm->lock held; or from the repair thread (REPAIR_REQ). */
void  pm_nbd_queue(struct pm_nbd *nbd, unsigned req, uint64_t tag, int write, uint64_t slot,
		   const struct iovec *iov, unsigned n, unsigned only, int kick);
/* Queue SYNC_REQ or REPAIR_REQ and wait for it: 0 or -errno. */
int   pm_nbd_run_sync(struct pm_nbd *nbd, unsigned req, int write, uint64_t slot, const struct iovec *iov,
		      unsigned n, unsigned only);
/* One line on stderr from parts (NULL-terminated), without stdio. */
void  pm_nbd_say(const char *const *parts);

/* ---- nbdtls.c: NBD over TLS (GnuTLS, loaded when a URI asks) -------------------------- */

/* After the server's ACK of NBD_OPT_STARTTLS: the TLS handshake on c->sock
 * with c's credentials, within the socket's timeouts. 0 with c->tls set,
 * or -errno with msg (len bytes) saying why. Open time. */
int   pm_nbd_tls_start(nbd_conn_t *c, char *msg, size_t len);
/* pm_nbd_xfer over c's TLS session: send (or receive) all of iov[0..n),
 * which it may change. While the socket's tick passes, it waits on as
 * long as wait_on(c) says 1 (NULL: not at all: -ETIMEDOUT). One sender
 * and one receiver may run at once. 0 or -errno (-ECONNRESET: closed,
 * -EPROTO: a TLS error). */
int   pm_nbd_tls_xfer(nbd_conn_t *c, struct iovec *iov, int n, int recv_, int (*wait_on)(nbd_conn_t *));
/* TLS's own polite end (close_notify), when c speaks TLS: after the
 * last request, while the receiver may still read. */
void  pm_nbd_tls_bye(nbd_conn_t *c);
/* End c's session (no I/O thread may use it any more). */
void  pm_nbd_tls_end(nbd_conn_t *c);
/* A fork child: forget c's session without touching it (the parent's
 * threads may have been inside it). */
void  pm_nbd_tls_forget(nbd_conn_t *c);

/* ---- nbdrepair.c: placement and re-replication --------------------------------------- */

/* Every copy at its first place; the spare regions free. */
void     pm_nbd_place_init(struct pm_nbd *nbd);
/* The server of copy k of chunk, the byte offset of its slot `in` there
 * in *off. Any thread. */
unsigned pm_nbd_place(struct pm_nbd *nbd, uint64_t chunk, unsigned k, unsigned in, uint64_t *off);
/* A live, up-to-date copy of chunk not in tried, or NO_COPY. Any thread. */
unsigned pm_nbd_read_copy(struct pm_nbd *nbd, uint64_t chunk, unsigned tried);
/* The repair thread (arg: the pm_nbd). */
void    *pm_nbd_repair_main(void *arg);

#endif
