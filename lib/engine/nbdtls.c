/* nbdtls.c - NBD over TLS (nbds://HOST[:PORT]/EXPORT[?PARAMS]): GnuTLS,
 * loaded the first time a URI asks for it; the credentials (a PSK file, or
 * X.509 with the system's trusted authorities or a directory's); the
 * handshake after the server's ACK of NBD_OPT_STARTTLS; the records the
 * I/O threads send and receive once it is up.
 *
 * Loaded, not linked: a program under `pagemu run` must not get GnuTLS
 * and its libraries (their constructors allocate, before pagemu runs)
 * unless it swaps over TLS. dlopen happens in the thread that opens the
 * instance; under the shim that thread is inside pagemu, so what GnuTLS
 * allocates then comes from the bootstrap arena, never from the program's
 * heap. The I/O threads are inside pagemu for good (the thread hook,
 * pm_prim_set_thread_hook): GnuTLS allocates while it sends and receives
 * records, and none of that may be emulated memory, whose faults could
 * need these very threads. The fault path never calls GnuTLS: it queues.
 *
 * The transport is pagemu's raw system calls on the socket (never the
 * shim's send and recv), with the socket's timeouts: a call that times
 * out returns GNUTLS_E_AGAIN and is made again while the connection's
 * requests are not overdue (nbdio.c's rule). One thread sends and one
 * receives at once, as GnuTLS allows. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/nbd.h"

#define RECORD 16384                      /* a TLS record's plaintext, at most */

struct nbd_tls {
	gnutls_session_t session;
	gnutls_psk_client_credentials_t psk;
	gnutls_certificate_credentials_t x509;
	char out[RECORD];                 /* a record being gathered (the sender's) */
};

/* ---- GnuTLS, loaded ------------------------------------------------------------- */

#define GNUTLS_FUNCS(X)                                                                          \
	X(int, global_init, (void))                                                              \
	X(int, init, (gnutls_session_t *, unsigned))                                             \
	X(void, deinit, (gnutls_session_t))                                                      \
	X(int, set_default_priority, (gnutls_session_t))                                         \
	X(int, priority_set_direct, (gnutls_session_t, const char *, const char **))             \
	X(int, psk_allocate_client_credentials, (gnutls_psk_client_credentials_t *))             \
	X(void, psk_free_client_credentials, (gnutls_psk_client_credentials_t))                  \
	X(int, psk_set_client_credentials, (gnutls_psk_client_credentials_t, const char *,       \
					    const gnutls_datum_t *, gnutls_psk_key_flags))         \
	X(int, certificate_allocate_credentials, (gnutls_certificate_credentials_t *))           \
	X(void, certificate_free_credentials, (gnutls_certificate_credentials_t))                \
	X(int, certificate_set_x509_system_trust, (gnutls_certificate_credentials_t))            \
	X(int, certificate_set_x509_trust_file, (gnutls_certificate_credentials_t, const char *,  \
						 gnutls_x509_crt_fmt_t))                          \
	X(int, certificate_set_x509_key_file, (gnutls_certificate_credentials_t, const char *,    \
					       const char *, gnutls_x509_crt_fmt_t))              \
	X(int, credentials_set, (gnutls_session_t, gnutls_credentials_type_t, void *))           \
	X(int, server_name_set, (gnutls_session_t, gnutls_server_name_type_t, const void *, size_t)) \
	X(void, session_set_verify_cert, (gnutls_session_t, const char *, unsigned))            \
	X(unsigned, session_get_verify_cert_status, (gnutls_session_t))                          \
	X(void, transport_set_ptr, (gnutls_session_t, gnutls_transport_ptr_t))                   \
	X(void, transport_set_pull_function, (gnutls_session_t, gnutls_pull_func))               \
	X(void, transport_set_pull_timeout_function, (gnutls_session_t, gnutls_pull_timeout_func)) \
	X(void, transport_set_vec_push_function, (gnutls_session_t, gnutls_vec_push_func))       \
	X(int, handshake, (gnutls_session_t))                                                    \
	X(int, bye, (gnutls_session_t, gnutls_close_request_t))                                  \
	X(ssize_t, record_send, (gnutls_session_t, const void *, size_t))                        \
	X(ssize_t, record_recv, (gnutls_session_t, void *, size_t))                              \
	X(const char *, strerror, (int))

static struct {
#define FIELD(ret, name, args) ret (*name) args;
	GNUTLS_FUNCS(FIELD)
#undef FIELD
} g;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;                        /* 1: g is ready; -1: it cannot be (load_why) */
static char load_why[300];

/* GnuTLS's functions into g, once. 0, or -ENOSYS with msg. */
static int load(char *msg, size_t len)
{
	pthread_mutex_lock(&load_lock);
	if (!loaded) {
		void *h = dlopen("libgnutls.so.30", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE), *sym;
		const char *missing = NULL;
		loaded = -1;
		if (!h) {
			snprintf(load_why, sizeof(load_why), "nbds:// needs GnuTLS (libgnutls.so.30: apt-get install "
				 "libgnutls30): %s", dlerror());
			goto out;
		}
#define LOAD(ret, name, args)                                       \
		if (!missing) {                                     \
			sym = dlsym(h, "gnutls_" #name);            \
			if (sym)                                    \
				memcpy(&g.name, &sym, sizeof(sym)); \
			else                                        \
				missing = "gnutls_" #name;          \
		}
		GNUTLS_FUNCS(LOAD)
#undef LOAD
		if (missing) {
			snprintf(load_why, sizeof(load_why), "nbds://: the GnuTLS here has no %s (GnuTLS 3.6 or later "
				 "is needed)", missing);
			goto out;
		}
		int rc = g.global_init();
		if (rc < 0) {
			snprintf(load_why, sizeof(load_why), "nbds://: GnuTLS cannot start: %s", g.strerror(rc));
			goto out;
		}
		loaded = 1;
	}
out:
	pthread_mutex_unlock(&load_lock);
	if (loaded < 0)
		snprintf(msg, len, "%s", load_why);
	return loaded > 0 ? 0 : -ENOSYS;
}

/* ---- the transport: pagemu's raw system calls ----------------------------------- */

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	long n = pm_prim_recv_some(((nbd_conn_t *)p)->sock, buf, len);

	if (n < 0) {
		errno = (int)-n;                  /* GnuTLS reads the thread's errno */
		return -1;
	}
	return n;
}

static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	int rc = pm_prim_wait_readable(((nbd_conn_t *)p)->sock, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);

	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

static ssize_t push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	long k = pm_prim_msg(((nbd_conn_t *)p)->sock, &m, 0);

	if (k < 0) {
		errno = (int)-k;
		return -1;
	}
	return k;
}

/* ---- credentials ---------------------------------------------------------------- */

/* The PSK of c->tls_user (or the first) in c->tls_psk, a file of
 * IDENTITY:HEXKEY lines (psktool's, nbdkit's --tls-psk), into t->psk.
 * 0, or -errno with msg. */
static int psk_load(nbd_conn_t *c, struct nbd_tls *t, char *msg, size_t len)
{
	FILE *f = fopen(c->tls_psk, "re");
	char line[1024];
	int rc = -ENOENT;

	if (!f) {
		rc = -errno;
		snprintf(msg, len, "tls-psk-file=%s: %s", c->tls_psk, strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *key, *e;
		if (!colon || line[0] == '#')
			continue;
		*colon = '\0';
		if (c->tls_user[0] && strcmp(line, c->tls_user) != 0)
			continue;
		key = colon + 1;
		for (e = key; (*e >= '0' && *e <= '9') || (*e >= 'a' && *e <= 'f') || (*e >= 'A' && *e <= 'F'); e++)
			;
		if (e == key || (*e && *e != '\n' && *e != '\r')) {
			snprintf(msg, len, "tls-psk-file=%s: the key of identity \"%s\" is not hexadecimal", c->tls_psk,
				 line);
			rc = -EINVAL;
			break;
		}
		gnutls_datum_t d = { (unsigned char *)key, (unsigned)(e - key) };
		rc = g.psk_allocate_client_credentials(&t->psk);
		if (rc == 0)
			rc = g.psk_set_client_credentials(t->psk, line, &d, GNUTLS_PSK_KEY_HEX);
		if (rc < 0) {
			snprintf(msg, len, "tls-psk-file=%s: identity \"%s\": %s", c->tls_psk, line, g.strerror(rc));
			rc = -EINVAL;
		}
		break;
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (rc == -ENOENT)
		snprintf(msg, len, "tls-psk-file=%s: %s", c->tls_psk, c->tls_user[0] ? "no key for this identity "
			 "(tls-username)" : "no IDENTITY:HEXKEY line");
	return rc;
}

/* X.509: the authorities in c->tls_certs/ca-cert.pem (and the client's
 * certificate and key beside it, when there), or the system's. 0, or
 * -errno with msg. */
static int x509_load(nbd_conn_t *c, struct nbd_tls *t, char *msg, size_t len)
{
	char ca[PM_NBD_URI_MAX + 32], cert[PM_NBD_URI_MAX + 32], key[PM_NBD_URI_MAX + 32];
	int rc = g.certificate_allocate_credentials(&t->x509);

	if (rc < 0) {
		snprintf(msg, len, "TLS credentials: %s", g.strerror(rc));
		return -ENOMEM;
	}
	if (!c->tls_certs[0]) {
		rc = g.certificate_set_x509_system_trust(t->x509);
		if (rc <= 0 && c->tls_verify) {
			snprintf(msg, len, "no trusted authorities on this system (%s): give tls-certificates=DIR "
				 "(DIR/ca-cert.pem) or tls-psk-file=FILE", rc < 0 ? g.strerror(rc) : "none found");
			return -ENOENT;
		}
		return 0;
	}
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", c->tls_certs);
	snprintf(cert, sizeof(cert), "%s/client-cert.pem", c->tls_certs);
	snprintf(key, sizeof(key), "%s/client-key.pem", c->tls_certs);
	rc = g.certificate_set_x509_trust_file(t->x509, ca, GNUTLS_X509_FMT_PEM);
	if (rc <= 0) {
		snprintf(msg, len, "tls-certificates=%s: %s: %s", c->tls_certs, ca,
			 rc < 0 ? g.strerror(rc) : "holds no certificate");
		return access(ca, R_OK) < 0 ? -ENOENT : -EINVAL;
	}
	if (access(cert, R_OK) == 0 || access(key, R_OK) == 0) {
		rc = g.certificate_set_x509_key_file(t->x509, cert, key, GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			snprintf(msg, len, "tls-certificates=%s: the client's certificate and key (client-cert.pem, "
				 "client-key.pem): %s", c->tls_certs, g.strerror(rc));
			return -EINVAL;
		}
	}
	return 0;
}

/* Why the server's certificate was refused (status: GnuTLS's bits), the
 * first reason that applies. */
static const char *cert_why(unsigned status)
{
	static const struct { unsigned bit; const char *why; } reasons[] = {
		{ GNUTLS_CERT_UNEXPECTED_OWNER, "it was issued to another name than the URI's host" },
		{ GNUTLS_CERT_SIGNER_NOT_FOUND, "no authority pagemu trusts signed it (tls-certificates=DIR with "
						"DIR/ca-cert.pem)" },
		{ GNUTLS_CERT_EXPIRED, "it has expired" },
		{ GNUTLS_CERT_NOT_ACTIVATED, "it is not valid yet" },
		{ GNUTLS_CERT_REVOKED, "it was revoked" },
		{ GNUTLS_CERT_INSECURE_ALGORITHM, "it is signed with an insecure algorithm" },
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (status & reasons[i].bit)
			return reasons[i].why;
	return "it does not verify";
}

/* ---- the session ---------------------------------------------------------------- */

static void tls_free(struct nbd_tls *t)
{
	if (t->session)
		g.deinit(t->session);
	if (t->psk)
		g.psk_free_client_credentials(t->psk);
	if (t->x509)
		g.certificate_free_credentials(t->x509);
	free(t);
}

int pm_nbd_tls_start(nbd_conn_t *c, char *msg, size_t len)
{
	struct nbd_tls *t;
	unsigned char ip[16];
	int rc;

	if ((rc = load(msg, len)) < 0)
		return rc;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	rc = c->tls_psk[0] ? psk_load(c, t, msg, len) : x509_load(c, t, msg, len);
	if (rc < 0)
		goto fail;
	if ((rc = g.init(&t->session, GNUTLS_CLIENT)) < 0) {
		snprintf(msg, len, "TLS: %s", g.strerror(rc));
		rc = -ENOMEM;
		goto fail;
	}
	if (t->psk) {
		/* nbdkit's own PSK priorities: (EC)DHE-PSK for forward secrecy. */
		rc = g.priority_set_direct(t->session, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK", NULL);
		if (rc == 0)
			rc = g.credentials_set(t->session, GNUTLS_CRD_PSK, t->psk);
	} else {
		rc = g.set_default_priority(t->session);
		if (rc == 0)
			rc = g.credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->x509);
		if (rc == 0 && inet_pton(AF_INET, c->host, ip) != 1 && inet_pton(AF_INET6, c->host, ip) != 1)
			rc = g.server_name_set(t->session, GNUTLS_NAME_DNS, c->host, strlen(c->host));
		if (rc == 0 && c->tls_verify)
			g.session_set_verify_cert(t->session, c->host, 0);
	}
	if (rc < 0) {
		snprintf(msg, len, "TLS: %s", g.strerror(rc));
		rc = -EINVAL;
		goto fail;
	}
	g.transport_set_ptr(t->session, c);
	g.transport_set_pull_function(t->session, pull);
	g.transport_set_pull_timeout_function(t->session, pull_timeout);
	g.transport_set_vec_push_function(t->session, push);
	do
		rc = g.handshake(t->session);
	while (rc == GNUTLS_E_INTERRUPTED);
	if (rc < 0) {
		if (rc == GNUTLS_E_AGAIN)
			snprintf(msg, len, "TLS handshake: no answer in time (PAGEMU_SWAP_TIMEOUT)");
		else if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
			snprintf(msg, len, "TLS handshake: the server's certificate is refused: %s (tls-verify-peer=false "
				 "skips the check, and with it the protection against a server in the middle)",
				 cert_why(g.session_get_verify_cert_status(t->session)));
		else
			snprintf(msg, len, "TLS handshake: %s%s", g.strerror(rc), t->psk ? " (is the key of this "
				 "identity the server's? tls-psk-file, tls-username)" : "");
		rc = rc == GNUTLS_E_AGAIN ? -ETIMEDOUT : -EPROTO;
		goto fail;
	}
	c->tls = t;
	return 0;
fail:
	tls_free(t);
	return rc;
}

/* What to do after a call that moved nothing (k): 0 to call again, or
 * -errno. */
static int trouble(nbd_conn_t *c, ssize_t k, int (*wait_on)(nbd_conn_t *))
{
	if (k == GNUTLS_E_INTERRUPTED)
		return 0;
	if (k == GNUTLS_E_AGAIN)
		return wait_on && wait_on(c) ? 0 : -ETIMEDOUT;
	if (k == 0 || k == GNUTLS_E_PREMATURE_TERMINATION || k == GNUTLS_E_PUSH_ERROR || k == GNUTLS_E_PULL_ERROR)
		return -ECONNRESET;
	return -EPROTO;
}

int pm_nbd_tls_xfer(nbd_conn_t *c, struct iovec *iov, int n, int recv_, int (*wait_on)(nbd_conn_t *))
{
	struct nbd_tls *t = c->tls;
	int rc;

	if (recv_) {
		for (int i = 0; i < n; i++) {
			char *p = iov[i].iov_base;
			size_t left = iov[i].iov_len;
			while (left) {
				ssize_t k = g.record_recv(t->session, p, left);
				if (k > 0) {
					p += k;
					left -= (size_t)k;
				} else if ((rc = trouble(c, k, wait_on)) < 0) {
					return rc;
				}
			}
		}
		return 0;
	}
	/* Gather the pieces (a request's header, its pages) into whole
	 * records: one system call a record, not one a piece. */
	for (int i = 0; i < n;) {
		size_t fill = 0, off = 0;
		while (i < n && fill < RECORD) {
			size_t k = iov[i].iov_len < RECORD - fill ? iov[i].iov_len : RECORD - fill;
			memcpy(t->out + fill, iov[i].iov_base, k);
			fill += k;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			if (!(iov[i].iov_len -= k))
				i++;
		}
		while (off < fill) {
			ssize_t k = g.record_send(t->session, t->out + off, fill - off);
			if (k > 0)
				off += (size_t)k;
			else if ((rc = trouble(c, k, wait_on)) < 0)
				return rc;
		}
	}
	return 0;
}

void pm_nbd_tls_bye(nbd_conn_t *c)
{
	if (c->tls)
		g.bye(c->tls->session, GNUTLS_SHUT_WR);
}

void pm_nbd_tls_end(nbd_conn_t *c)
{
	if (c->tls) {
		tls_free(c->tls);
		c->tls = NULL;
	}
}

void pm_nbd_tls_forget(nbd_conn_t *c)
{
	c->tls = NULL;
}
