/* nbduri.c - the NBD swap store's URIs: nbd://HOST[:PORT][/EXPORT] and
 * nbds://HOST[:PORT][/EXPORT][?PARAMS] (TLS, with libnbd's parameter
 * names), a comma-separated list of them; each into a connection's host,
 * port, export and TLS settings, or a message naming the setting, the
 * URI and what is wrong with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/nbd.h"

/* Copy value [v, vend) into dst (size bytes): 0, or -EINVAL (too long). */
static int param_copy(char *dst, size_t size, const char *v, const char *vend)
{
	size_t n = (size_t)(vend - v);

	if (n >= size)
		return -EINVAL;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/* The query of an nbds:// URI, [p, end): KEY=VALUE pairs joined by '&',
 * the names libnbd's URIs use: tls-psk-file, tls-username,
 * tls-certificates, tls-verify-peer. 0, or -EINVAL with *why. */
static int parse_params(const char *p, const char *end, nbd_conn_t *c, const char **why)
{
	c->tls_verify = 1;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *pend = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pend - p)), *v = eq ? eq + 1 : pend;
		size_t klen = (size_t)((eq ? eq : pend) - p);
		int rc = 0;
#define KEY(k) (klen == sizeof(k) - 1 && strncmp(p, k, klen) == 0)
		if (!c->want_tls) {
			*why = "a query (TLS parameters) needs the nbds:// scheme";
			return -EINVAL;
		}
		if (!eq || v == pend) {
			*why = "a parameter without a value (KEY=VALUE)";
			return -EINVAL;
		}
		if (KEY("tls-psk-file"))
			rc = param_copy(c->tls_psk, sizeof(c->tls_psk), v, pend);
		else if (KEY("tls-username"))
			rc = param_copy(c->tls_user, sizeof(c->tls_user), v, pend);
		else if (KEY("tls-certificates"))
			rc = param_copy(c->tls_certs, sizeof(c->tls_certs), v, pend);
		else if (KEY("tls-verify-peer")) {
			size_t vlen = (size_t)(pend - v);
			if ((vlen == 5 && !strncmp(v, "false", 5)) || (vlen == 1 && *v == '0'))
				c->tls_verify = 0;
			else if ((vlen == 4 && !strncmp(v, "true", 4)) || (vlen == 1 && *v == '1'))
				c->tls_verify = 1;
			else {
				*why = "tls-verify-peer is true or false";
				return -EINVAL;
			}
		} else {
			*why = "an unknown parameter (known: tls-psk-file, tls-username, tls-certificates, "
			       "tls-verify-peer)";
			return -EINVAL;
		}
#undef KEY
		if (rc < 0) {
			*why = "a parameter's value is too long";
			return -EINVAL;
		}
		p = amp ? amp + 1 : end;
	}
	if (c->tls_psk[0] && c->tls_certs[0]) {
		*why = "tls-psk-file and tls-certificates both given (one kind of credentials)";
		return -EINVAL;
	}
	/* Said now, before any server is asked (the handshake says more). */
	if (c->tls_psk[0] && access(c->tls_psk, R_OK) < 0) {
		*why = "tls-psk-file names no file this process can read";
		return -EINVAL;
	}
	if (c->tls_certs[0] && access(c->tls_certs, R_OK | X_OK) < 0) {
		*why = "tls-certificates names no directory this process can read";
		return -EINVAL;
	}
	return 0;
}

/* One URI, nbd://HOST[:PORT][/EXPORT] or nbds://HOST[:PORT][/EXPORT][?PARAMS],
 * into c's host, port, name and TLS parameters.
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
	c->want_tls = len >= 7 && strncmp(p, "nbds://", 7) == 0;
	if (!c->want_tls && (len < 6 || strncmp(p, "nbd://", 6) != 0)) {
		*why = "not nbd://HOST[:PORT][/EXPORT] or nbds://HOST[:PORT][/EXPORT][?PARAMS] (TLS): "
		       "only the nbd and nbds schemes are supported";
		return -EINVAL;
	}
	p += c->want_tls ? 7 : 6;
	c->tls_verify = 1;
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
		while (p < end && *p != ':' && *p != '/' && *p != '?')
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
		if (p == q || v == 0 || v > 65535 || (p < end && *p != '/' && *p != '?')) {
			*why = "the port is not a number from 1 to 65535";
			return -EINVAL;
		}
		snprintf(c->port, sizeof(c->port), "%lu", v);
	}
	if (p < end && *p != '/' && *p != '?') {
		*why = "junk after the host";
		return -EINVAL;
	}
	if (p < end && *p == '/')
		p++;
	const char *q = memchr(p, '?', (size_t)(end - p));
	n = (size_t)((q ? q : end) - p);
	memcpy(c->name, p, n);
	c->name[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c->name[i] < 0x20 || c->name[i] == '#') {
			*why = "the export name holds a control character or '#' (no fragment is supported)";
			return -EINVAL;
		}
	return q ? parse_params(q + 1, end, c, why) : 0;
}

/* Split list (comma-separated URIs) into conns[]: the count, or -EINVAL
 * with pagemu_last_error() naming setting and the bad URI. */
int pm_nbd_parse_list(const char *list, nbd_conn_t *conns, const char *setting)
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
	rc = pm_nbd_parse_list(list, c, setting);
	free(c);
	return rc;
}
