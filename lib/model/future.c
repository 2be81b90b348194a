/* future.c - OPT's knowledge of the future, for a string longer than
 * memory (model; C library only).
 *
 * OPT needs, at each reference, the time of its page's next reference:
 * in memory one backward pass over the string. A trace that does not fit
 * gets three sequential passes instead, over two scratch files the source
 * provides (pm_ref_src_t.scratch), each read or written a block at a time:
 *   1. the trace forward: each reference's dense page id appended to ids;
 *   2. ids backward, block by block from its end: each reference's next
 *      use, from the last time seen per page, appended to next, which so
 *      holds them last reference first;
 *   3. pm_future_read: ids forward beside next backward, the two in the
 *      trace's order, as often as the caller rewinds.
 * Memory: the page ids and one time per page, and a block of each file;
 * disk: 12 bytes per reference. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

#define BLOCK (64u * 1024)                /* references per read or write */

static int scratch_read(FILE *f, size_t size, uint64_t first, size_t count, void *buf)
{
	if (fseek(f, (long)(first * size), SEEK_SET) != 0 || fread(buf, size, count, f) != count) {
		pm_set_error("OPT's scratch file: read failed");
		return -EIO;
	}
	return 0;
}

static int scratch_write(FILE *f, const void *buf, size_t size, size_t count)
{
	if (fwrite(buf, size, count, f) != count) {
		pm_set_error("OPT's scratch file: write failed (is $TMPDIR full?)");
		return -EIO;
	}
	return 0;
}

static int write_ids(void *ctx, const uint32_t *ids, size_t n)
{
	return scratch_write(((pm_future_t *)ctx)->ids, ids, sizeof(*ids), n);
}

/* Pass 1: the ids, and the references and pages counted. */
static int first_pass(pm_future_t *fu, const pm_ref_src_t *src, unsigned page_bits)
{
	pm_pageid_t m;
	int e;

	if ((e = pm_pageid_init(&m)) < 0)
		return e;
	e = pm_ref_src_ids(src, page_bits, &m, fu->id, BLOCK, write_ids, fu, &fu->n);
	fu->distinct = m.n;
	pm_pageid_free(&m);
	return e;
}

/* Pass 2: ids backward, next uses out. */
static int write_next(pm_future_t *fu)
{
	uint64_t *last = malloc((fu->distinct ? fu->distinct : 1) * sizeof(*last));
	int e = 0;

	if (!last)
		return -ENOMEM;
	for (uint64_t p = 0; p < fu->distinct; p++)
		last[p] = PM_NEVER;
	for (uint64_t hi = fu->n; hi > 0 && e == 0; ) {
		size_t m = hi < BLOCK ? (size_t)hi : BLOCK;
		uint64_t lo = hi - m;
		if ((e = scratch_read(fu->ids, sizeof(*fu->id), lo, m, fu->id)) < 0)
			break;
		for (size_t j = m; j-- > 0;) {
			fu->nx[m - 1 - j] = last[fu->id[j]];
			last[fu->id[j]] = lo + j;
		}
		e = scratch_write(fu->next, fu->nx, sizeof(*fu->nx), m);
		hi = lo;
	}
	free(last);
	return e;
}

int pm_future_build(pm_future_t *fu, const pm_ref_src_t *src, unsigned page_bits)
{
	int e = -ENOMEM;

	memset(fu, 0, sizeof(*fu));
	fu->id = malloc(BLOCK * sizeof(*fu->id));
	fu->nx = malloc(BLOCK * sizeof(*fu->nx));
	if (!fu->id || !fu->nx)
		goto fail;
	e = -EIO;
	if (!(fu->ids = src->scratch(src->ctx)) || !(fu->next = src->scratch(src->ctx)))
		goto fail;
	if ((e = first_pass(fu, src, page_bits)) < 0 || (e = write_next(fu)) < 0)
		goto fail;
	return 0;
fail:
	pm_future_free(fu);
	return e;
}

void pm_future_rewind(pm_future_t *fu)
{
	fu->pos = 0;
}

int pm_future_read(pm_future_t *fu, const uint32_t **id, const uint64_t **next, size_t *n)
{
	size_t m = fu->n - fu->pos < BLOCK ? (size_t)(fu->n - fu->pos) : BLOCK;
	int e;

	*n = 0;
	if (!m)
		return 0;
	/* next holds reference t at n - 1 - t */
	if ((e = scratch_read(fu->ids, sizeof(*fu->id), fu->pos, m, fu->id)) < 0 ||
	    (e = scratch_read(fu->next, sizeof(*fu->nx), fu->n - fu->pos - m, m, fu->nx)) < 0)
		return e;
	for (size_t a = 0, b = m - 1; a < b; a++, b--) {
		uint64_t t = fu->nx[a];
		fu->nx[a] = fu->nx[b];
		fu->nx[b] = t;
	}
	fu->pos += m;
	*id = fu->id;
	*next = fu->nx;
	*n = m;
	return 0;
}

void pm_future_free(pm_future_t *fu)
{
	if (fu->ids)
		fclose(fu->ids);
	if (fu->next)
		fclose(fu->next);
	free(fu->id);
	free(fu->nx);
	memset(fu, 0, sizeof(*fu));
}
