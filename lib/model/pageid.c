/* pageid.c - page numbers to dense ids, and a reference string read in
 * passes (model; C library only).
 *
 * The analyses of a trace keep state per page, never per reference, so
 * that a trace of any length streams through them: a page gets the next
 * id 0, 1, 2 ... at its first reference (an open-addressing table, grown
 * at half full), and arrays indexed by id hold the rest. A pm_ref_src_t
 * hands out a string a batch at a time and starts it again on demand: a
 * file (tools/tracefile.c) or an array in memory (here). */
#include <errno.h>
#include <stdlib.h>

#include "model/model.h"

#define ID_EMPTY UINT32_MAX

static size_t id_hash(uint64_t page, size_t mask)
{
	return (size_t)((page * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
}

int pm_pageid_init(pm_pageid_t *m)
{
	m->mask = 1023;
	m->n = 0;
	m->key = malloc((m->mask + 1) * sizeof(*m->key));
	m->val = malloc((m->mask + 1) * sizeof(*m->val));
	m->page = malloc(512 * sizeof(*m->page));
	if (!m->key || !m->val || !m->page) {
		pm_pageid_free(m);
		return -ENOMEM;
	}
	for (size_t h = 0; h <= m->mask; h++)
		m->val[h] = ID_EMPTY;
	return 0;
}

void pm_pageid_free(pm_pageid_t *m)
{
	free(m->key);
	free(m->val);
	free(m->page);
	m->key = NULL;
	m->val = NULL;
	m->page = NULL;
}

/* Twice the slots (and room for as many ids as half of them). */
static int id_grow(pm_pageid_t *m)
{
	size_t cap = 2 * (m->mask + 1);
	uint64_t *key = malloc(cap * sizeof(*key)), *page = realloc(m->page, cap / 2 * sizeof(*page));
	uint32_t *val = malloc(cap * sizeof(*val));

	if (page)
		m->page = page;
	if (!key || !val || !page) {
		free(key);
		free(val);
		return -ENOMEM;
	}
	for (size_t h = 0; h < cap; h++)
		val[h] = ID_EMPTY;
	for (size_t h = 0; h <= m->mask; h++) {
		size_t g;
		if (m->val[h] == ID_EMPTY)
			continue;
		for (g = id_hash(m->key[h], cap - 1); val[g] != ID_EMPTY; g = (g + 1) & (cap - 1))
			;
		key[g] = m->key[h];
		val[g] = m->val[h];
	}
	free(m->key);
	free(m->val);
	m->key = key;
	m->val = val;
	m->mask = cap - 1;
	return 0;
}

int pm_pageid_get(pm_pageid_t *m, uint64_t page, uint32_t *id)
{
	size_t h;
	int e;

	for (h = id_hash(page, m->mask); m->val[h] != ID_EMPTY; h = (h + 1) & m->mask)
		if (m->key[h] == page) {
			*id = m->val[h];
			return 0;
		}
	if (m->n == ID_EMPTY - 1) {
		pm_set_error("more than %u distinct pages: page ids are 32 bits", ID_EMPTY - 1);
		return -EOVERFLOW;
	}
	if (2 * ((size_t)m->n + 1) > m->mask + 1) {
		if ((e = id_grow(m)) < 0)
			return e;
		for (h = id_hash(page, m->mask); m->val[h] != ID_EMPTY; h = (h + 1) & m->mask)
			;
	}
	m->key[h] = page;
	m->val[h] = m->n;
	m->page[m->n] = page;
	*id = m->n++;
	return 0;
}

int pm_refs_densify(const uint64_t *pages, size_t n, uint32_t *ids, uint64_t *distinct)
{
	pm_pageid_t m;
	int e;

	if ((e = pm_pageid_init(&m)) < 0)
		return e;
	for (size_t i = 0; i < n && e == 0; i++)
		e = pm_pageid_get(&m, pages[i], &ids[i]);
	*distinct = m.n;
	pm_pageid_free(&m);
	return e;
}

int pm_refs_distinct(const uint64_t *pages, size_t n, uint64_t *distinct)
{
	pm_pageid_t m;
	uint32_t id;
	int e;

	if ((e = pm_pageid_init(&m)) < 0)
		return e;
	for (size_t i = 0; i < n && e == 0; i++)
		e = pm_pageid_get(&m, pages[i], &id);
	*distinct = m.n;
	pm_pageid_free(&m);
	return e;
}

/* ---- a string in passes ------------------------------------------------- */

static int mem_rewind(void *ctx)
{
	((pm_refs_cursor_t *)ctx)->pos = 0;
	return 0;
}

static int mem_next(void *ctx, const uint64_t **va, const uint8_t **access, size_t *n)
{
	pm_refs_cursor_t *c = ctx;
	size_t left = c->refs->n - c->pos;

	*n = left < c->batch ? left : c->batch;
	*va = c->refs->va + c->pos;
	*access = c->refs->access + c->pos;
	c->pos += *n;
	return 0;
}

static FILE *mem_scratch(void *ctx)
{
	FILE *f = tmpfile();

	PM_UNUSED(ctx);
	if (!f)
		pm_set_error("no temporary file for OPT's future (tmpfile failed)");
	return f;
}

void pm_ref_src_refs(pm_ref_src_t *src, pm_refs_cursor_t *c, const pm_refs_t *refs, size_t batch)
{
	c->refs = refs;
	c->pos = 0;
	c->batch = batch ? batch : 1;
	src->rewind = mem_rewind;
	src->next = mem_next;
	src->scratch = mem_scratch;
	src->ctx = c;
}

int pm_ref_src_pages(const pm_ref_src_t *src, unsigned page_bits,
		     int (*fn)(void *ctx, const uint64_t *pages, size_t n), void *ctx)
{
	const uint64_t *va;
	const uint8_t *acc;
	uint64_t *pages = NULL;
	size_t n, cap = 0;
	int e;

	if ((e = src->rewind(src->ctx)) < 0)
		return e;
	while ((e = src->next(src->ctx, &va, &acc, &n)) == 0 && n > 0) {
		if (n > cap) {
			uint64_t *p = realloc(pages, n * sizeof(*pages));
			if (!p) {
				e = -ENOMEM;
				break;
			}
			pages = p;
			cap = n;
		}
		for (size_t i = 0; i < n; i++)
			pages[i] = va[i] >> page_bits;
		if ((e = fn(ctx, pages, n)) < 0)
			break;
	}
	free(pages);
	return e;
}

typedef struct ids_pass {
	pm_pageid_t *m;
	uint32_t *ids;
	size_t max;
	int (*fn)(void *ctx, const uint32_t *ids, size_t n);
	void *ctx;
	uint64_t nrefs;
} ids_pass_t;

static int ids_of(void *ctx, const uint64_t *pages, size_t n)
{
	ids_pass_t *p = ctx;
	int e = 0;

	for (size_t i = 0; i < n && e == 0; i += p->max) {
		size_t b = n - i < p->max ? n - i : p->max;
		for (size_t j = 0; j < b && e == 0; j++)
			e = pm_pageid_get(p->m, pages[i + j], &p->ids[j]);
		if (e == 0 && p->fn)
			e = p->fn(p->ctx, p->ids, b);
	}
	p->nrefs += n;
	return e;
}

int pm_ref_src_ids(const pm_ref_src_t *src, unsigned page_bits, pm_pageid_t *m, uint32_t *ids, size_t max,
		   int (*fn)(void *ctx, const uint32_t *ids, size_t n), void *ctx, uint64_t *nrefs)
{
	ids_pass_t p = { m, ids, max, fn, ctx, 0 };
	int e = pm_ref_src_pages(src, page_bits, ids_of, &p);

	*nrefs = p.nrefs;
	return e;
}

int pm_ref_src_count(const pm_ref_src_t *src, unsigned page_bits, uint64_t *nrefs, uint64_t *distinct)
{
	uint32_t ids[1024];
	pm_pageid_t m;
	int e;

	if ((e = pm_pageid_init(&m)) < 0)
		return e;
	e = pm_ref_src_ids(src, page_bits, &m, ids, PM_ARRAY_LEN(ids), NULL, NULL, nrefs);
	*distinct = m.n;
	pm_pageid_free(&m);
	return e;
}
