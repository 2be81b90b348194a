/* curve.c - fault curves of a reference string against the frame count
 * (model; no system calls).
 *
 * The textbook's three views of one experiment: the miss-ratio curve
 * (faults / references, falling with frames), the lifetime curve
 * (references / faults, Denning's mean time between faults, rising with
 * frames) and its knee, and Belady's anomaly (FIFO is no stack algorithm:
 * more frames can mean more faults).
 *
 * OPT's stack (Mattson, Gecsei, Slutz and Traiger, 1970): after each
 * reference the pages are ordered so that the top F of the stack are what
 * OPT holds with F frames, for every F at once. The referenced page goes
 * on top; the page pushed down from the top is compared, position by
 * position down to where the referenced page was, with the page there:
 * the one referenced sooner stays, the other goes on down. A reference
 * faults with F frames exactly when its page was deeper than F. Pages
 * below the deepest frame count asked for never come back above it
 * without being referenced, so the stack is cut there. */
#include <errno.h>
#include <stdlib.h>

#include "model/model.h"

#define NEVER UINT64_MAX                  /* next use of a page never referenced again */

static uint64_t max_of(const uint64_t *v, size_t k)
{
	uint64_t m = 0;

	for (size_t i = 0; i < k; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

int pm_opt_stack_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults)
{
	uint64_t depth = max_of(frames, k), distinct = 0, deep = 0, len = 0;
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids)), *stack = NULL;
	uint64_t *nextuse = malloc((n ? n : 1) * sizeof(*nextuse)), *prio = NULL, *hist = NULL;
	int err = -ENOMEM;

	if (depth > n)
		depth = n;                        /* never more pages than references */
	if (!ids || !nextuse || pm_refs_densify(pages, n, ids, &distinct) < 0)
		goto free_arrays;
	if (depth > distinct)
		depth = distinct;
	stack = malloc((depth ? depth : 1) * sizeof(*stack));
	prio = malloc((distinct ? distinct : 1) * sizeof(*prio));   /* a page's next reference */
	hist = calloc(depth + 1, sizeof(*hist));                     /* hist[d]: hits at depth d */
	if (!stack || !prio || !hist)
		goto free_arrays;
	for (uint64_t i = 0; i < distinct; i++)
		prio[i] = NEVER;
	for (size_t i = n; i-- > 0;) {
		nextuse[i] = prio[ids[i]];
		prio[ids[i]] = i;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t x = ids[i], y;
		uint64_t d = 0, limit;

		while (d < len && stack[d] != x)
			d++;
		if (d < len)
			hist[d + 1]++;
		else
			deep++;                   /* first reference, or deeper than any count */
		prio[x] = nextuse[i];
		if (len == 0) {
			if (depth)
				stack[len++] = x;
			continue;
		}
		y = stack[0];
		stack[0] = x;
		if (d == 0)
			continue;
		limit = d < len ? d : len;
		for (uint64_t j = 1; j < limit; j++)
			if (prio[y] < prio[stack[j]]) {
				uint32_t t = stack[j];
				stack[j] = y;
				y = t;
			}
		if (d < len)
			stack[d] = y;
		else if (len < depth)
			stack[len++] = y;
		/* else y falls below the deepest count: no longer tracked */
	}
	for (size_t j = 0; j < k; j++) {
		uint64_t f = deep;
		for (uint64_t d = frames[j] + 1; d <= depth; d++)
			f += hist[d];
		faults[j] = f;
	}
	err = 0;
free_arrays:
	free(hist);
	free(prio);
	free(stack);
	free(nextuse);
	free(ids);
	return err;
}

/* Every other policy: the model, once per frame count. */
static int replay(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_refs_t *refs,
		  uint64_t frames, uint64_t *faults)
{
	pagemu_model_config_t c = *cfg;
	pagemu_model_stats_t st;
	pagemu_model_t *m;
	int e;

	c.policy = policy;
	c.frames = frames;
	if ((e = pagemu_model_new(&c, &m)) < 0)
		return e;
	for (size_t i = 0; i < refs->n; i++)
		if ((e = pagemu_model_access(m, refs->va[i], refs->access[i])) < 0) {
			pm_set_error("reference %zu: address 0x%llx %s", i + 1, (unsigned long long)refs->va[i],
				     e == -EINVAL ? "is beyond the VA bits" : "could not be modeled (out of memory)");
			pagemu_model_free(m);
			return e;
		}
	pagemu_model_get_stats(m, &st);
	pagemu_model_free(m);
	*faults = st.faults;
	return 0;
}

int pm_curve_faults(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_refs_t *refs,
		    const uint64_t *frames, size_t k, uint64_t *faults)
{
	uint64_t *pages;
	int e = 0;

	if (policy != PAGEMU_POLICY_LRU && policy != PAGEMU_POLICY_OPT) {
		for (size_t j = 0; j < k && e == 0; j++)
			e = replay(cfg, policy, refs, frames[j], &faults[j]);
		return e;
	}
	if (!(pages = malloc((refs->n ? refs->n : 1) * sizeof(*pages))))
		return -ENOMEM;
	for (size_t i = 0; i < refs->n; i++)
		pages[i] = refs->va[i] >> cfg->page_bits;
	e = policy == PAGEMU_POLICY_LRU ? pm_lru_sweep(pages, refs->n, frames, k, faults)
					: pm_opt_stack_sweep(pages, refs->n, frames, k, faults);
	free(pages);
	return e;
}

size_t pm_curve_knee(const uint64_t *frames, const uint64_t *faults, size_t k)
{
	size_t best = 0;

	/* Least faults x frames = greatest lifetime / frames; long double
	 * keeps the products exact well past 2^53. */
	for (size_t i = 1; i < k; i++) {
		long double a = (long double)faults[i] * frames[i], b = (long double)faults[best] * frames[best];
		if (a < b || (a == b && frames[i] < frames[best]))
			best = i;
	}
	return best;
}

size_t pm_curve_anomalies(const uint64_t *frames, const uint64_t *faults, size_t k, size_t *at)
{
	size_t n = 0;

	PM_UNUSED(frames);
	for (size_t i = 0; i + 1 < k; i++)
		if (faults[i + 1] > faults[i])
			at[n++] = i;
	return n;
}
