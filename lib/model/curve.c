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
#include <string.h>

#include "model/model.h"

#define CURVE_GROUP 16                  /* models fed side by side in one pass */

static uint64_t max_of(const uint64_t *v, size_t k)
{
	uint64_t m = 0;

	for (size_t i = 0; i < k; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

void pm_opt_stack_init(pm_opt_stack_t *s, uint64_t depth)
{
	memset(s, 0, sizeof(*s));
	s->depth = depth;
}

/* Room for page id's priority and one more stack entry. */
static int stack_reserve(pm_opt_stack_t *s, uint32_t id)
{
	if (id >= s->pcap) {
		size_t cap = s->pcap ? s->pcap : 1024;
		uint64_t *prio;
		while (cap <= id)
			cap *= 2;
		if (!(prio = realloc(s->prio, cap * sizeof(*prio))))
			return -ENOMEM;
		for (size_t i = s->pcap; i < cap; i++)
			prio[i] = PM_NEVER;
		s->prio = prio;
		s->pcap = cap;
	}
	if (s->len == s->cap && s->len < s->depth) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint32_t *stack = realloc(s->stack, cap * sizeof(*stack));
		uint64_t *hist;
		if (stack)
			s->stack = stack;
		if (!stack || !(hist = realloc(s->hist, (cap + 1) * sizeof(*hist))))
			return -ENOMEM;
		memset(hist + s->cap + (s->cap ? 1 : 0), 0, (cap + 1 - s->cap - (s->cap ? 1 : 0)) * sizeof(*hist));
		s->hist = hist;
		s->cap = cap;
	}
	return 0;
}

int pm_opt_stack_push(pm_opt_stack_t *s, const uint32_t *ids, const uint64_t *next, size_t n)
{
	uint32_t *stack;
	int e;

	for (size_t i = 0; i < n; i++) {
		uint32_t x = ids[i], y;
		uint64_t d = 0, limit;

		if ((e = stack_reserve(s, x)) < 0)
			return e;
		stack = s->stack;
		while (d < s->len && stack[d] != x)
			d++;
		if (d < s->len)
			s->hist[d + 1]++;
		else
			s->deep++;                /* first reference, or deeper than any count */
		s->prio[x] = next[i];
		if (s->len == 0) {
			if (s->depth)
				stack[s->len++] = x;
			continue;
		}
		y = stack[0];
		stack[0] = x;
		if (d == 0)
			continue;
		limit = d < s->len ? d : s->len;
		for (uint64_t j = 1; j < limit; j++)
			if (s->prio[y] < s->prio[stack[j]]) {
				uint32_t t = stack[j];
				stack[j] = y;
				y = t;
			}
		if (d < s->len)
			stack[d] = y;
		else if (s->len < s->depth)
			stack[s->len++] = y;
		/* else y falls below the deepest count: no longer tracked */
	}
	return 0;
}

void pm_opt_stack_faults(const pm_opt_stack_t *s, const uint64_t *frames, size_t k, uint64_t *faults)
{
	for (size_t j = 0; j < k; j++) {
		uint64_t f = s->deep;
		for (uint64_t d = frames[j] + 1; d <= s->len; d++)
			f += s->hist[d];
		faults[j] = f;
	}
}

void pm_opt_stack_free(pm_opt_stack_t *s)
{
	free(s->stack);
	free(s->hist);
	free(s->prio);
	memset(s, 0, sizeof(*s));
}

int pm_opt_stack_sweep(const uint64_t *pages, size_t n, const uint64_t *frames, size_t k, uint64_t *faults)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	uint64_t *nextuse = malloc((n ? n : 1) * sizeof(*nextuse)), *last = NULL, distinct = 0;
	pm_opt_stack_t s;
	int err = -ENOMEM;

	pm_opt_stack_init(&s, max_of(frames, k));
	if (!ids || !nextuse || pm_refs_densify(pages, n, ids, &distinct) < 0)
		goto free_arrays;
	if (!(last = malloc((distinct ? distinct : 1) * sizeof(*last))))
		goto free_arrays;
	for (uint64_t i = 0; i < distinct; i++)
		last[i] = PM_NEVER;
	for (size_t i = n; i-- > 0;) {
		nextuse[i] = last[ids[i]];
		last[ids[i]] = i;
	}
	if ((err = pm_opt_stack_push(&s, ids, nextuse, n)) == 0)
		pm_opt_stack_faults(&s, frames, k, faults);
free_arrays:
	pm_opt_stack_free(&s);
	free(last);
	free(nextuse);
	free(ids);
	return err;
}

/* ---- curves over a string read in passes -------------------------------- */

static int lru_push(void *ctx, const uint64_t *pages, size_t n)
{
	return pm_lru_stream_push(ctx, pages, n);
}

/* LRU: one pass of stack distances. */
static int lru_faults(unsigned page_bits, const pm_ref_src_t *src, const uint64_t *frames, size_t k,
		      uint64_t *faults)
{
	pm_lru_stream_t ls;
	int e;

	if ((e = pm_lru_stream_init(&ls, frames, k)) < 0)
		return e;
	if ((e = pm_ref_src_pages(src, page_bits, lru_push, &ls)) == 0)
		memcpy(faults, ls.faults, k * sizeof(*faults));
	pm_lru_stream_free(&ls);
	return e;
}

/* OPT: its stack over the future of every reference (future.c). */
static int opt_faults(unsigned page_bits, const pm_ref_src_t *src, const uint64_t *frames, size_t k,
		      uint64_t *faults)
{
	const uint32_t *ids;
	const uint64_t *next;
	pm_future_t fu;
	pm_opt_stack_t s;
	size_t n;
	int e;

	if ((e = pm_future_build(&fu, src, page_bits)) < 0)
		return e;
	pm_opt_stack_init(&s, max_of(frames, k));
	while ((e = pm_future_read(&fu, &ids, &next, &n)) == 0 && n > 0)
		if ((e = pm_opt_stack_push(&s, ids, next, n)) < 0)
			break;
	if (e == 0)
		pm_opt_stack_faults(&s, frames, k, faults);
	pm_opt_stack_free(&s);
	pm_future_free(&fu);
	return e;
}

/* Every other policy: the model once per frame count, k <= CURVE_GROUP
 * of them fed each batch in one pass. */
static int replay_group(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_ref_src_t *src,
			const uint64_t *frames, size_t k, uint64_t *faults)
{
	pagemu_model_t *m[CURVE_GROUP];
	pagemu_model_config_t c = *cfg;
	pagemu_model_stats_t st;
	const uint64_t *va;
	const uint8_t *acc;
	uint64_t base = 0;
	size_t made, n;
	int e = 0;

	c.policy = policy;
	for (made = 0; made < k && e == 0; made++) {
		c.frames = frames[made];
		if ((e = pagemu_model_new(&c, &m[made])) < 0)
			break;
	}
	if (e == 0)
		e = src->rewind(src->ctx);
	while (e == 0 && (e = src->next(src->ctx, &va, &acc, &n)) == 0 && n > 0) {
		for (size_t j = 0; j < made && e == 0; j++) {
			size_t done = 0;
			if ((e = pagemu_model_replay(m[j], va, acc, n, &done)) < 0)
				pm_set_error("reference %llu: address 0x%llx %s", (unsigned long long)(base + done + 1),
					     (unsigned long long)va[done],
					     e == -EINVAL ? "is beyond the VA bits" : "could not be modeled (out of memory)");
		}
		base += n;
	}
	for (size_t j = 0; j < made; j++) {
		pagemu_model_get_stats(m[j], &st);
		faults[j] = st.faults;
		pagemu_model_free(m[j]);
	}
	return e;
}

int pm_curve_faults_src(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_ref_src_t *src,
			const uint64_t *frames, size_t k, uint64_t *faults)
{
	int e = 0;

	if (policy == PAGEMU_POLICY_LRU)
		return lru_faults(cfg->page_bits, src, frames, k, faults);
	if (policy == PAGEMU_POLICY_OPT)
		return opt_faults(cfg->page_bits, src, frames, k, faults);
	for (size_t j = 0; j < k && e == 0; j += CURVE_GROUP)
		e = replay_group(cfg, policy, src, frames + j, k - j < CURVE_GROUP ? k - j : CURVE_GROUP, faults + j);
	return e;
}

int pm_curve_faults(const pagemu_model_config_t *cfg, pagemu_policy_t policy, const pm_refs_t *refs,
		    const uint64_t *frames, size_t k, uint64_t *faults)
{
	pm_refs_cursor_t c;
	pm_ref_src_t src;

	pm_ref_src_refs(&src, &c, refs, refs->n);
	return pm_curve_faults_src(cfg, policy, &src, frames, k, faults);
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
