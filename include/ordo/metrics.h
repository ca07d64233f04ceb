/*
 * metrics — counters, gauges and histograms rendered as Prometheus text.
 *
 * A small in-process registry keyed by metric name plus a label string
 * such as `channel="shopify",outcome="accepted"`. Label values come from
 * validated config ids and fixed words, never from request bytes.
 */
#ifndef ORDO_METRICS_H
#define ORDO_METRICS_H

#include <stdint.h>

struct evbuffer;

/* Add `by` to a counter (created at 0 on first use). */
void metrics_inc(const char *name, const char *labels, int64_t by);

/* Set a gauge. */
void metrics_set(const char *name, const char *labels, int64_t value);

/* Record one observation (seconds) in a histogram with fixed buckets
 * from 100 us to 10 s. */
void metrics_observe(const char *name, const char *labels, double seconds);

/* Describe a metric once (HELP text); optional. */
void metrics_help(const char *name, const char *help);

/* The value of a counter or gauge (0 if absent); for tests. */
int64_t metrics_value(const char *name, const char *labels);

/* Append everything in the text exposition format. @return 0 or -1. */
int metrics_render(struct evbuffer *out);

/* Forget everything (tests). */
void metrics_reset(void);

#endif
