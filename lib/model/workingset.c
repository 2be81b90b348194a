/* workingset.c - Denning's working set (model; no system calls).
 *
 * W(t, tau) is the set of distinct pages among the tau references ending
 * with reference t (1-based): what a working-set policy keeps resident at
 * time t with window tau. Its size over time shows a program's phases
 * (the set moves between localities, and grows for a moment at each
 * change); its mean over the trace is the memory the policy needs. */
#include <errno.h>
#include <stdlib.h>

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
