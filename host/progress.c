/*
 * progress — a bar on a terminal, plain lines elsewhere. See progress.h.
 */
#include <unistd.h>

#include "ordo/progress.h"

#define BAR_WIDTH 30

void progress_init(struct progress *p, FILE *out, const char *label, uint64_t total)
{
	p->out = out;
	p->label = label;
	p->total = total;
	p->tty = isatty(fileno(out));
	p->last = -1;
	p->done = 0;
}

static int percent(const struct progress *p, uint64_t done)
{
	if (p->total == 0)
		return 0;
	return done >= p->total ? 100 : (int)(done * 100 / p->total);
}

void progress_update(struct progress *p, uint64_t done, const char *detail)
{
	int pct = percent(p, done);

	p->done = done;

	if (p->tty) {
		static const char fill[] = "##############################";
		int w = pct * BAR_WIDTH / 100;

		if (p->total > 0)
			fprintf(p->out, "\r%s [%-*.*s] %3d%%%s%s\033[K", p->label, BAR_WIDTH, w, fill,
			    pct, detail ? "  " : "", detail ? detail : "");
		else
			fprintf(p->out, "\r%s: %llu%s%s\033[K", p->label, (unsigned long long)done,
			    detail ? "  " : "", detail ? detail : "");
		fflush(p->out);
		return;
	}
	if (p->total > 0 && pct / 10 > p->last) {
		p->last = pct / 10;
		fprintf(p->out, "%s: %d%%%s%s%s\n", p->label, pct, detail ? " (" : "",
		    detail ? detail : "", detail ? ")" : "");
		fflush(p->out);
	}
}

void progress_finish(struct progress *p, const char *detail)
{
	if (p->tty) {
		progress_update(p, p->total ? p->total : p->done, detail);
		fputc('\n', p->out);
	} else if (p->last < 10) {
		p->last = 9;
		if (p->total > 0)
			progress_update(p, p->total, detail);
		else
			fprintf(p->out, "%s: done%s%s\n", p->label, detail ? ", " : "",
			    detail ? detail : "");
	}
	fflush(p->out);
}
