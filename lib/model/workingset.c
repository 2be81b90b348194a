/* workingset.c - Denning's working set (model; no system calls).
 *
 * W(t, tau) is the set of distinct pages among the tau references ending
 * with reference t (1-based): what a working-set policy keeps resident at
 * time t with window tau. Its size over time shows a program's phases
 * (the set moves between localities, and grows for a moment at each
 * change); its mean over the trace is the memory the policy needs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int pm_ws_sizes(const uint64_t *pages, size_t n, uint64_t tau, uint32_t *w)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids)), *count = NULL, size = 0;
	uint64_t distinct = 0;
	int err = -ENOMEM;

	if (!ids || pm_refs_densify(pages, n, ids, &distinct) < 0)
		goto free_arrays;
	if (!(count = calloc(distinct ? distinct : 1, sizeof(*count))))   /* references in the window */
		goto free_arrays;
	for (size_t t = 0; t < n; t++) {
		if (count[ids[t]]++ == 0)
			size++;
		if (t >= tau && --count[ids[t - tau]] == 0)
			size--;
		w[t] = size;
	}
	err = 0;
free_arrays:
	free(count);
	free(ids);
	return err;
}

static int cmp_page(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int pm_ws_set(const uint64_t *pages, size_t n, size_t t, uint64_t tau, uint64_t *out, size_t max, size_t *count)
{
	size_t first = t > tau ? t - tau : 0, c = 0;

	if (t < 1 || t > n)
		return -EINVAL;
	/* Small windows: a linear scan of what is already kept. */
	for (size_t i = first; i < t; i++) {
		int seen = 0;
		for (size_t j = 0; j < c && !seen; j++)
			seen = out[j] == pages[i];
		if (!seen && c == max)
			return -ENOSPC;
		if (!seen)
			out[c++] = pages[i];
	}
	qsort(out, c, sizeof(*out), cmp_page);
	*count = c;
	return 0;
}

/* ---- over a stream ----------------------------------------------------------
 *
 * The pages in order of their last reference, newest first (a list over
 * page ids), and how many at its head fall in the window: W(t, tau) is
 * that prefix, and edge its oldest page. A reference moves its page to
 * the head (one more in the window if it was not in it), then pages whose
 * last reference has left the window drop off at the edge. Memory: three
 * words per distinct page, whatever the trace's length and tau. */
#define WS_NIL UINT32_MAX

int pm_ws_stream_init(pm_ws_stream_t *s, uint64_t tau)
{
	memset(s, 0, sizeof(*s));
	s->tau = tau;
	s->head = s->edge = WS_NIL;
	return pm_pageid_init(&s->ids);
}

void pm_ws_stream_free(pm_ws_stream_t *s)
{
	pm_pageid_free(&s->ids);
	free(s->prev);
	free(s->next);
	free(s->last);
	memset(s, 0, sizeof(*s));
}

static int ws_reserve(pm_ws_stream_t *s, uint32_t id)
{
	size_t cap = s->cap ? s->cap : 1024;
	uint32_t *prev, *next;
	uint64_t *last;

	if (id < s->cap)
		return 0;
	while (cap <= id)
		cap *= 2;
	if ((prev = realloc(s->prev, cap * sizeof(*prev))))
		s->prev = prev;
	if ((next = realloc(s->next, cap * sizeof(*next))))
		s->next = next;
	if ((last = realloc(s->last, cap * sizeof(*last))))
		s->last = last;
	if (!prev || !next || !last)
		return -ENOMEM;
	memset(last + s->cap, 0, (cap - s->cap) * sizeof(*last));
	s->cap = cap;
	return 0;
}

static void ws_unlink(pm_ws_stream_t *s, uint32_t id)
{
	if (s->prev[id] != WS_NIL)
		s->next[s->prev[id]] = s->next[id];
	else
		s->head = s->next[id];
	if (s->next[id] != WS_NIL)
		s->prev[s->next[id]] = s->prev[id];
}

int pm_ws_stream_push(pm_ws_stream_t *s, uint64_t page)
{
	uint64_t t = s->t + 1;
	uint32_t id;
	int e, in;

	if ((e = pm_pageid_get(&s->ids, page, &id)) < 0 || (e = ws_reserve(s, id)) < 0)
		return e;
	/* in W(t - 1): referenced at t - tau or later */
	in = s->last[id] && s->last[id] + s->tau >= t;
	if (in && id == s->edge && s->size > 1)
		s->edge = s->prev[id];
	if (s->last[id])
		ws_unlink(s, id);
	s->prev[id] = WS_NIL;
	s->next[id] = s->head;
	if (s->head != WS_NIL)
		s->prev[s->head] = id;
	s->head = id;
	if (!in && s->size++ == 0)
		s->edge = id;
	s->last[id] = s->t = t;
	/* W(t) holds the references after t - tau */
	while (s->size && s->last[s->edge] + s->tau <= t) {
		s->edge = s->prev[s->edge];
		s->size--;
	}
	return 0;
}

int pm_ws_stream_set(const pm_ws_stream_t *s, uint64_t *out, size_t max, size_t *count)
{
	uint32_t id = s->head;

	if (s->size > max)
		return -ENOSPC;
	for (size_t i = 0; i < s->size; i++, id = s->next[id])
		out[i] = s->ids.page[id];
	qsort(out, (size_t)s->size, sizeof(*out), cmp_page);
	*count = (size_t)s->size;
	return 0;
}
