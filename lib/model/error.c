/* error.c - the message of the last failed call of this thread, for
 * pagemu_last_error(). Every layer records its errors here (it is the
 * bottom layer, so nobody calls up to report one). */
#include <stdarg.h>
#include <stdio.h>

#include "model/model.h"

static __thread char last_error[512];

void pm_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void pm_clear_error(void)
{
	last_error[0] = 0;
}

const char *pagemu_last_error(void)
{
	return last_error;
}
