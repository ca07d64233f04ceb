/*
 * metrics — the process's Prometheus registry.
 *
 * Depends on libevent's evbuffer for output only. A flat array of series,
 * looked up linearly: there are a few dozen series (metric x channel x
 * merchant x outcome), so a hash table would be ceremony. Must never grow
 * with request content: labels are built only from config ids and fixed
 * words.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ordo/metrics.h"

enum series_kind { COUNTER, GAUGE, HISTOGRAM };

static const double buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct series {
	char *name;
	char *labels;
	enum series_kind kind;
	int64_t value;                /* counter, gauge; histogram count */
	double sum;                   /* histogram */
	int64_t counts[N_BUCKETS];    /* histogram, cumulative at render */
};

struct help {
	char *name;
	char *text;
};

static struct series *all;
static size_t n_all, cap_all;
static struct help *helps;
static size_t n_helps;

static struct series *find(const char *name, const char *labels, enum series_kind kind)
{
	struct series *s;

	if (labels == NULL)
		labels = "";
	for (size_t i = 0; i < n_all; i++)
		if (strcmp(all[i].name, name) == 0 && strcmp(all[i].labels, labels) == 0)
			return &all[i];
	if (n_all == cap_all) {
		size_t cap = cap_all ? cap_all * 2 : 32;
		struct series *p = realloc(all, cap * sizeof *p);

		if (p == NULL)
			return NULL;
		all = p;
		cap_all = cap;
	}
	s = &all[n_all];
	memset(s, 0, sizeof *s);
	s->name = strdup(name);
	s->labels = strdup(labels);
	if (s->name == NULL || s->labels == NULL) {
		free(s->name);
		free(s->labels);
		return NULL;
	}
	s->kind = kind;
	n_all++;
	return s;
}

void metrics_inc(const char *name, const char *labels, int64_t by)
{
	struct series *s = find(name, labels, COUNTER);

	if (s != NULL)
		s->value += by;
}

void metrics_set(const char *name, const char *labels, int64_t value)
{
	struct series *s = find(name, labels, GAUGE);

	if (s != NULL)
		s->value = value;
}

void metrics_observe(const char *name, const char *labels, double seconds)
{
	struct series *s = find(name, labels, HISTOGRAM);

	if (s == NULL)
		return;
	s->value++;
	s->sum += seconds;
	for (size_t i = 0; i < N_BUCKETS; i++)
		if (seconds <= buckets[i]) {
			s->counts[i]++;
			break;
		}
}

void metrics_help(const char *name, const char *text)
{
	struct help *p;

	for (size_t i = 0; i < n_helps; i++)
		if (strcmp(helps[i].name, name) == 0)
			return;
	p = realloc(helps, (n_helps + 1) * sizeof *p);
	if (p == NULL)
		return;
	helps = p;
	helps[n_helps].name = strdup(name);
	helps[n_helps].text = strdup(text);
	if (helps[n_helps].name && helps[n_helps].text)
		n_helps++;
}

int64_t metrics_value(const char *name, const char *labels)
{
	if (labels == NULL)
		labels = "";
	for (size_t i = 0; i < n_all; i++)
		if (strcmp(all[i].name, name) == 0 && strcmp(all[i].labels, labels) == 0)
			return all[i].value;
	return 0;
}

static const char *kind_name(enum series_kind k)
{
	return k == COUNTER ? "counter" : k == GAUGE ? "gauge" : "histogram";
}

static void render_one(struct evbuffer *out, const struct series *s)
{
	const char *sep = s->labels[0] ? "," : "";
	int64_t cum = 0;

	if (s->kind != HISTOGRAM) {
		if (s->labels[0])
			evbuffer_add_printf(out, "%s{%s} %lld\n", s->name, s->labels, (long long)s->value);
		else
			evbuffer_add_printf(out, "%s %lld\n", s->name, (long long)s->value);
		return;
	}
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += s->counts[i];
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %lld\n", s->name, s->labels, sep,
		    buckets[i], (long long)cum);
	}
	evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", s->name, s->labels, sep,
	    (long long)s->value);
	if (s->labels[0]) {
		evbuffer_add_printf(out, "%s_sum{%s} %.6f\n", s->name, s->labels, s->sum);
		evbuffer_add_printf(out, "%s_count{%s} %lld\n", s->name, s->labels, (long long)s->value);
	} else {
		evbuffer_add_printf(out, "%s_sum %.6f\n", s->name, s->sum);
		evbuffer_add_printf(out, "%s_count %lld\n", s->name, (long long)s->value);
	}
}

int metrics_render(struct evbuffer *out)
{
	/* Group series by name, in first-seen order, each family once. */
	for (size_t i = 0; i < n_all; i++) {
		int seen = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(all[j].name, all[i].name) == 0;
		if (seen)
			continue;
		for (size_t h = 0; h < n_helps; h++)
			if (strcmp(helps[h].name, all[i].name) == 0)
				evbuffer_add_printf(out, "# HELP %s %s\n", all[i].name, helps[h].text);
		evbuffer_add_printf(out, "# TYPE %s %s\n", all[i].name, kind_name(all[i].kind));
		for (size_t j = i; j < n_all; j++)
			if (strcmp(all[j].name, all[i].name) == 0)
				render_one(out, &all[j]);
	}
	return 0;
}

void metrics_reset(void)
{
	for (size_t i = 0; i < n_all; i++) {
		free(all[i].name);
		free(all[i].labels);
	}
	for (size_t i = 0; i < n_helps; i++) {
		free(helps[i].name);
		free(helps[i].text);
	}
	free(all);
	free(helps);
	all = NULL;
	helps = NULL;
	n_all = cap_all = n_helps = 0;
}
