/* json.c - the members of the JSON objects pagemu writes (its statistics,
 * the model's, the heap's): one writer for every X-macro list of counters.
 * Not signal-safe (stdio). */
#include <inttypes.h>

#include "model/model.h"

void pm_json_u64(FILE *f, int *n, const char *name, uint64_t v)
{
	fprintf(f, "%s\"%s\":%" PRIu64, (*n)++ ? "," : "", name, v);
}

void pm_json_f64(FILE *f, int *n, const char *name, double v)
{
	fprintf(f, "%s\"%s\":%.4f", (*n)++ ? "," : "", name, v);
}

void pm_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	fputc('"', f);
}
