/* nbd.c - swap slots on NBD servers: the remote backing store beneath
 * swapio.c's slot I/O (PAGEMU_SWAP=nbd://HOST:PORT/EXPORT[,nbd://...]).
 * This file: the connections (fixed newstyle handshake with
 * NBD_OPT_GO, after NBD_OPT_STARTTLS for nbds://, at open, blocking with a
 * deadline), open and close, the fork child's copy, the statistics.
 * nbdio.c moves the slots; nbdrepair.c places their copies and makes them
 * again when a server dies; nbdtls.c is TLS (GnuTLS) for nbds://;
 * nbduri.c reads the URIs.
 *
 * The client speaks the NBD protocol's simple requests itself over one TCP
 * connection per server: NBD_CMD_READ and NBD_CMD_WRITE with simple
 * replies (no structured replies are asked for), NBD_CMD_DISC at close.
 * Several servers stripe the slots: STRIPE consecutive slots (a chunk) on
 * one server, the next chunk on the next, round robin. With replicas
 * (PAGEMU_SWAP_REPLICAS=R) each export holds R + 1 regions: one per copy
 * and a spare one (nbdrepair.c). */
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

#include "engine/nbd.h"

/* ---- the handshake (open time: blocking, with a deadline) --------------------- */

/* Receive or send exactly len bytes on c (over TLS once it is up), each
 * call bounded by the socket's timeouts, with raw system calls (prim:
 * never the shim's recv and send, which the I/O threads must not enter).
 * 0, -errno, or -ECONNRESET for the peer's close. The handshake's. */
static int recv_all(nbd_conn_t *c, void *buf, size_t len)
{
	struct iovec v = { buf, len };

	return pm_nbd_xfer(c, &v, 1, 1, 0);
}

static int send_all(nbd_conn_t *c, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	return pm_nbd_xfer(c, &v, 1, 0, 0);
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
	case 5:  return "the server requires TLS: use nbds://HOST[:PORT]/EXPORT?tls-psk-file=FILE (or "
			"?tls-certificates=DIR, or the system's trusted authorities)";
	case 6:  return "no such export on the server";
	case 7:  return "the server is shutting down";
	case 8:  return "the server requires a block size negotiation";
	default: return "refused by the server";
	}
}

/* Say what a failed socket call of the handshake (rc) means. */
static int io_failed(int rc, char *msg, size_t len)
{
	snprintf(msg, len, "handshake: %s", rc == -ECONNRESET ? "the server closed the connection"
		 : rc == -ETIMEDOUT ? "no answer in time (PAGEMU_SWAP_TIMEOUT)" : strerror(-rc));
	return rc;
}

/* Send option opt with its data (dlen bytes). 0 or -errno with msg. */
static int option_send(nbd_conn_t *c, uint32_t opt, const void *odata, uint32_t dlen, char *msg, size_t len)
{
	uint8_t b[16];
	int rc;

	put_be(b, NBD_IHAVEOPT, 8);
	put_be(b + 8, opt, 4);
	put_be(b + 12, dlen, 4);
	if ((rc = send_all(c, b, 16)) < 0 || (dlen && (rc = send_all(c, odata, dlen)) < 0))
		return io_failed(rc, msg, len);
	return 0;
}

/* Read one reply to option opt: its type in *type, its data (at most
 * size - 1 bytes kept, the rest read and dropped, NUL-terminated) in
 * data, the bytes kept in *keep. 0, or -errno with msg. */
static int option_reply(nbd_conn_t *c, uint32_t opt, uint32_t *type, char *data, uint32_t size, uint32_t *keep,
			char *msg, size_t len)
{
	uint8_t b[32];
	uint32_t rlen;
	int rc;

	if ((rc = recv_all(c, b, 20)) < 0)
		return io_failed(rc, msg, len);
	if (get_be(b, 8) != NBD_REP_MAGIC || get_be(b + 8, 4) != opt) {
		snprintf(msg, len, "a malformed reply to %s", opt == NBD_OPT_GO ? "NBD_OPT_GO" : "NBD_OPT_STARTTLS");
		return -EPROTO;
	}
	*type = (uint32_t)get_be(b + 12, 4);
	rlen = (uint32_t)get_be(b + 16, 4);
	*keep = rlen < size - 1 ? rlen : size - 1;
	if ((rc = recv_all(c, data, *keep)) < 0)
		return io_failed(rc, msg, len);
	for (uint32_t skip = rlen - *keep; skip; ) {        /* the rest of a long reply */
		uint32_t k = skip < 32 ? skip : 32;
		if ((rc = recv_all(c, b, k)) < 0)
			return io_failed(rc, msg, len);
		skip -= k;
	}
	data[*keep] = '\0';
	return 0;
}

/* nbds://: NBD_OPT_STARTTLS, then the TLS handshake (nbdtls.c); the rest
 * of the negotiation runs over TLS. 0, or -errno with msg. */
static int start_tls(nbd_conn_t *c, char *msg, size_t len)
{
	char data[256];
	uint32_t type, keep;
	int rc = option_send(c, NBD_OPT_STARTTLS, NULL, 0, msg, len);

	if (rc < 0 || (rc = option_reply(c, NBD_OPT_STARTTLS, &type, data, sizeof(data), &keep, msg, len)) < 0)
		return rc;
	if (type & NBD_REP_FLAG_ERROR) {
		snprintf(msg, len, "the server does not offer TLS (NBD_OPT_STARTTLS refused: %s%s%s): start it with "
			 "--tls=on or --tls=require, or use nbd://", rep_error(type), keep ? ": " : "", keep ? data : "");
		return -EPROTONOSUPPORT;
	}
	if (type != NBD_REP_ACK) {
		snprintf(msg, len, "a malformed reply to NBD_OPT_STARTTLS");
		return -EPROTO;
	}
	return pm_nbd_tls_start(c, msg, len);
}

/* The fixed newstyle handshake on c->sock (TLS first for nbds://), ending
 * in the transmission phase with c->size set: 0, or -errno with msg (len
 * bytes) saying why. */
static int handshake(nbd_conn_t *c, char *msg, size_t len)
{
	uint8_t b[32], opt[4 + PM_NBD_URI_MAX + 2];
	char data[1024];
	size_t nlen = strlen(c->name);
	uint32_t hflags;
	int rc, have_size = 0;

	if ((rc = recv_all(c, b, 18)) < 0)
		return io_failed(rc, msg, len);
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
	if ((rc = send_all(c, b, 4)) < 0)
		return io_failed(rc, msg, len);
	if (c->want_tls && (rc = start_tls(c, msg, len)) < 0)
		return rc;
	put_be(opt, nlen, 4);
	memcpy(opt + 4, c->name, nlen);
	put_be(opt + 4 + nlen, 0, 2);             /* no information requests */
	if ((rc = option_send(c, NBD_OPT_GO, opt, (uint32_t)(4 + nlen + 2), msg, len)) < 0)
		return rc;
	for (;;) {
		uint32_t type, keep;
		if ((rc = option_reply(c, NBD_OPT_GO, &type, data, sizeof(data), &keep, msg, len)) < 0)
			return rc;
		if (type & NBD_REP_FLAG_ERROR) {
			snprintf(msg, len, "export \"%s\": %s%s%.300s", c->name, rep_error(type), keep ? ": " : "",
				 keep ? data : "");
			return type == (NBD_REP_FLAG_ERROR | 6) ? -ENOENT : -EACCES;
		}
		if (type == NBD_REP_INFO && keep >= 12 && get_be((uint8_t *)data, 2) == NBD_INFO_EXPORT) {
			c->size = get_be((uint8_t *)data + 2, 8);
			if (get_be((uint8_t *)data + 10, 2) & NBD_FLAG_READ_ONLY) {
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
	pm_nbd_tls_end(c);
	pm_prim_close(c->sock);
	c->sock = -1;
	return rc;
}

/* ---- open and close ------------------------------------------------------------ */

/* Parse cfg->swap and connect to every server: 0 with nbd's connections
 * up (no threads yet), or -errno with pagemu_last_error(). */
static int connect_all(struct pm_nbd *nbd, const pagemu_config_t *cfg, uint64_t nslots, const char *setting)
{
	int n = pm_nbd_parse_list(cfg->swap, nbd->conn, setting), rc;
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
		pm_nbd_tls_end(&nbd->conn[i]);
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
	int rc = pm_prim_thread_start(&c->sender, pm_nbd_sender_main, c);

	if (rc == 0 && (rc = pm_prim_thread_start(&c->receiver, pm_nbd_receiver_main, c)) < 0) {
		atomic_store(&c->nbd->stop, 1);
		pm_nbd_wake(c);
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
	if ((rc = pm_prim_thread_start(&nbd->repairer, pm_nbd_repair_main, nbd)) < 0)
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
	pm_nbd_place_init(nbd);
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
		pm_nbd_wake(c);
		pm_prim_thread_join(c->sender);
		if (!atomic_load(&c->dead)) {
			send_all(c, disc, sizeof(disc));     /* a polite end; no reply comes */
			pm_nbd_tls_bye(c);
		}
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
	for (unsigned i = 0; i < nbd->nconn; i++)
		pm_nbd_tls_forget(&nbd->conn[i]);
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
	while (rc == 0 && (s = pm_swapmap_next_used(map, s)) != PM_NONE) {
		unsigned run = 0;
		while (s + run < nslots && run < PM_IO_MAX_RUN && pm_swapmap_test(map, s + run))
			run++;
		if (!run)
			break;
		rc = pm_nbd_run_sync(nbd, SYNC_REQ, 0, s, iov, run, NO_COPY);
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
		v->tls = c->tls != NULL;
		s->remote_reads += v->reads;
		s->remote_read_bytes += v->read_bytes;
		s->remote_writes += v->writes;
		s->remote_write_bytes += v->write_bytes;
		s->remote_errors += v->errors;
	}
}

