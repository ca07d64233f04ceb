/*
 * config — loads the YAML configuration with libyaml and validates it into
 * the plain structs of include/ordo/config.h.
 *
 * Three steps. An event pass over the text reports syntax errors and refuses
 * what the schema never needs but an attacker could use: aliases (the
 * "billion laughs" bomb), nesting deeper than MAX_DEPTH, a second document.
 * Then libyaml's loader builds the node tree, and one small function per
 * section walks it: check_keys() holds each mapping to its allowed keys
 * (unknown and duplicate keys are errors), the scalar getters expand ${ENV}
 * and convert, and the section function applies defaults and ranges. New
 * sections (locations, suppliers, gateways, ...) are one more function and
 * one more entry in their parent's key list.
 *
 * The first error wins and becomes "file:line:column: where: message", with
 * 1-based positions from libyaml's marks. Depends on libyaml, money_exponent()
 * and the file system (workflow files, scripts folder, tz database). Never
 * touches the database or Lua, never puts a secret or an API key in a
 * message, and frees everything on every error path: the fuzzer runs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "ordo/calendar.h"
#include "ordo/config.h"
#include "ordo/money.h"

/* The schema nests five levels; the margin is for sections still to come. */
#define MAX_DEPTH       32
/* A config file is hand-written; anything this big is a mistake. */
#define MAX_FILE_SIZE   (16 << 20)
#define MIN_API_KEY_LEN 16

#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

/* Indexed by enum channel_kind, NULL-terminated so it doubles as the list of
 * keys allowed under `channels`. */
static const char *const channel_names[CH_COUNT + 1] = {
	[CH_SHOPIFY] = "shopify",
	[CH_WOOCOMMERCE] = "woocommerce",
	[CH_GENERIC] = "generic",
	[CH_CARRIER] = "carrier",
	[CH_COUNT] = NULL,
};

struct ctx {
	const char *name;       /* the file name for messages */
	const char *dir;        /* absolute folder relative paths resolve against */
	yaml_document_t *doc;
	struct ordo_config *cfg;
	char *err;              /* the first error, malloc'd */
};

/* ------------------------------------------------------------------------
 * Errors
 */

static int fail_at(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A copy of `s` with control bytes written as \n, \t or \xNN: a message
 * quoting a path or a value stays one printable line in a log or terminal.
 * NULL when out of memory. */
static char *escape_controls(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += ((unsigned char)*p < 0x20 || *p == 0x7f) ? 4 : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (ch == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			o += sprintf(o, "\\x%02x", ch);
		} else {
			*o++ = (char)ch;
		}
	}
	*o = '\0';
	return out;
}

static int vfail_at(struct ctx *c, size_t line, size_t col, const char *fmt,
    va_list ap)
{
	char *msg = NULL;

	/* Later errors are usually consequences of the first. */
	if (c->err != NULL)
		return -1;
	if (vasprintf(&msg, fmt, ap) < 0)
		return -1;
	if (asprintf(&c->err, "%s:%zu:%zu: %s", c->name, line, col, msg) < 0)
		c->err = NULL;
	free(msg);
	if (c->err != NULL && (msg = escape_controls(c->err)) != NULL) {
		free(c->err);
		c->err = msg;
	}
	return -1;
}

/* line and col are 1-based. @return -1, for `return fail_at(...)`. */
static int fail_at(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(c, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

/* At the start of node `n` (the top of the file when n is NULL). */
static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	size_t line = n ? n->start_mark.line + 1 : 1;
	size_t col = n ? n->start_mark.column + 1 : 1;

	va_start(ap, fmt);
	vfail_at(c, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Text from the file made safe for a one-line message: control bytes become
 * '?' and long text is cut, so a hostile file cannot forge log lines.
 */
static const char *show(const void *text, size_t len, char *buf, size_t size)
{
	const unsigned char *s = text;
	size_t o = 0, i;

	for (i = 0; i < len && o + 4 < size; i++)
		buf[o++] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Turns libyaml's own error into ours. */
static int yaml_fail(struct ctx *c, const yaml_parser_t *p, const char *buf,
    size_t len)
{
	size_t line = 1, col = 1;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return fail_at(c, 1, 1, "out of memory");
	case YAML_READER_ERROR:
		/* The reader gives only a byte offset: count lines and characters. */
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		return fail_at(c, line, col, "invalid text: %s", p->problem);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (p->context != NULL)
			return fail_at(c, p->problem_mark.line + 1,
			    p->problem_mark.column + 1,
			    "YAML syntax error: %s (%s at line %zu, column %zu)",
			    p->problem, p->context, p->context_mark.line + 1,
			    p->context_mark.column + 1);
		return fail_at(c, p->problem_mark.line + 1,
		    p->problem_mark.column + 1, "YAML syntax error: %s", p->problem);
	default:
		return fail_at(c, p->problem_mark.line + 1, p->problem_mark.column + 1,
		    "YAML error: %s", p->problem ? p->problem : "unknown");
	}
}

/* ------------------------------------------------------------------------
 * Small parsers (public ones first)
 */

/* Decimal digits only: no sign, no spaces, no '+', no '_'. Advances *pp. */
static int parse_digits(const char **pp, int64_t *out)
{
	const char *p = *pp;
	int64_t v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	*pp = p;
	*out = v;
	return 0;
}

int config_parse_size(const char *text, int64_t *out)
{
	static const struct { const char *unit; int64_t bytes; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "KB", 1000 }, { "kB", 1000 }, { "MB", 1000000 },
		{ "GB", 1000000000 }, { "TB", INT64_C(1000000000000) },
		{ "KiB", KIB }, { "MiB", MIB }, { "GiB", GIB }, { "TiB", GIB * 1024 },
	};
	const char *p = text;
	int64_t n;

	if (p == NULL || parse_digits(&p, &n) != 0)
		return -1;
	/* "64 MiB" reads naturally; "64 " does not. */
	if (*p == ' ' && p[1] != '\0')
		p++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (n > INT64_MAX / units[i].bytes)
			return -1;
		*out = n * units[i].bytes;
		return 0;
	}
	return -1;
}

int config_parse_duration(const char *text, int64_t *out_ms)
{
	/* "ms" before "m" so that "5ms" is not five minutes and an "s". */
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 3600 * 1000 }, { "d", 86400 * 1000 },
	};
	const char *p = text;
	int64_t total = 0, n;

	if (p == NULL || *p == '\0')
		return -1;
	/* A sequence like "1h30m"; every number needs its unit, so "30" (seconds?
	 * milliseconds?) is refused rather than guessed. */
	while (*p != '\0') {
		size_t i, ulen = 0;

		if (parse_digits(&p, &n) != 0)
			return -1;
		for (i = 0; i < sizeof units / sizeof units[0]; i++) {
			ulen = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, ulen) == 0 &&
			    !((p[ulen] >= 'a' && p[ulen] <= 'z') ||
			      (p[ulen] >= 'A' && p[ulen] <= 'Z')))
				break;
		}
		if (i == sizeof units / sizeof units[0])
			return -1;
		if (n > (INT64_MAX - total) / units[i].ms)
			return -1;
		total += n * units[i].ms;
		p += ulen;
	}
	*out_ms = total;
	return 0;
}

/* A signed decimal integer, strictly. @return 0 or -1. */
static int parse_int(const char *text, int64_t *out)
{
	const char *p = text;
	int neg = 0;
	int64_t v;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (parse_digits(&p, &v) != 0 || *p != '\0')
		return -1;
	*out = neg ? -v : v;
	return 0;
}

/*
 * "HOST:PORT", ":PORT" (host 127.0.0.1, like --listen: exposing the daemon
 * takes an explicit 0.0.0.0 or [::]) or "[V6]:PORT". The host is an IPv6
 * literal in brackets, or a name or IPv4 address. @return 0 or -1.
 */
int config_parse_listen(const char *text, char **host_out, int *port_out)
{
	const char *colon = strrchr(text, ':');
	char host[256];
	const char *p;
	int64_t port;
	size_t hl;

	if (colon == NULL)
		return -1;
	p = colon + 1;
	if (strlen(p) > 5 || parse_digits(&p, &port) != 0 || *p != '\0' ||
	    port > 65535)
		return -1;
	hl = (size_t)(colon - text);
	if (hl >= sizeof host)
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (host[0] == '[') {
		struct in6_addr a6;

		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -1;
	} else {
		for (size_t i = 0; i < hl; i++) {
			char ch = host[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
				return -1;
		}
	}
	if ((*host_out = strdup(hl ? host : "127.0.0.1")) == NULL)
		return -1;
	*port_out = (int)port;
	return 0;
}

static int valid_merchant_id(const char *id)
{
	size_t n = strlen(id);

	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
		    id[i] == '_' || id[i] == '-'))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------------
 * Paths
 */

/* Folds "//", "/./" and "/x/../" out of an absolute path, in place. Purely
 * lexical, so it works for files that do not exist yet. */
static void path_fold(char *p)
{
	size_t n = strlen(p), i = 0, w = 1;

	/* The write index never passes the read index: every component written
	 * was preceded by at least one '/' that was read. */
	p[0] = '/';
	while (i < n) {
		size_t start, len;

		while (i < n && p[i] == '/')
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && p[i] != '/')
			i++;
		len = i - start;
		if (len == 1 && p[start] == '.')
			continue;
		if (len == 2 && p[start] == '.' && p[start + 1] == '.') {
			while (w > 1 && p[w - 1] != '/')
				w--;
			if (w > 1)
				w--;
			continue;
		}
		if (w > 1)
			p[w++] = '/';
		memmove(p + w, p + start, len);
		w += len;
	}
	p[w] = '\0';
}

/* `path` if absolute, else dir/path; folded. @return malloc'd or NULL. */
static char *path_join(const char *dir, const char *path)
{
	char *out = NULL;

	if (path[0] == '/')
		out = strdup(path);
	else if (asprintf(&out, "%s/%s", dir, path) < 0)
		out = NULL;
	if (out != NULL)
		path_fold(out);
	return out;
}

/*
 * The folder part through realpath() when that folder exists (symlinks
 * resolved, like the paths that must exist); otherwise the folded path as
 * is, since the database's folder may be created later. @return malloc'd.
 */
static char *path_real_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL, *real = NULL, *out = NULL;

	if (slash == NULL || slash == path)
		return strdup(path);
	if ((dir = strndup(path, (size_t)(slash - path))) == NULL)
		goto out;
	if ((real = realpath(dir, NULL)) == NULL) {
		out = strdup(path);
		goto out;
	}
	if (asprintf(&out, "%s%s", strcmp(real, "/") == 0 ? "" : real, slash) < 0)
		out = NULL;
out:
	free(dir);
	free(real);
	return out;
}

/* ------------------------------------------------------------------------
 * Nodes
 */

static yaml_node_t *node_at(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	    memcmp(n->data.scalar.value, s, len) == 0;
}

/* YAML's null: an empty plain value, "~" or "null". */
static int is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (n->data.scalar.length == 0 || scalar_is(n, "~") ||
	     scalar_is(n, "null") || scalar_is(n, "Null") || scalar_is(n, "NULL"));
}

static const char *kind_of(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return is_null(n) ? "an empty value" : "a string";
	}
}

/* "parent.key" for messages. */
static const char *sub(char *buf, size_t size, const char *parent, const char *key)
{
	snprintf(buf, size, "%s.%s", parent, key);
	return buf;
}

/*
 * Every key of mapping `map` must be a string from `allowed` (NULL-ended,
 * at most 64) and appear once. `where` names the mapping in messages.
 */
static int check_keys(struct ctx *c, const yaml_node_t *map, const char *where,
    const char *const *allowed)
{
	uint64_t seen = 0;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node_at(c, p->key);
		char shown[80], list[512];
		size_t i, o = 0;

		if (k == NULL || k->type != YAML_SCALAR_NODE)
			return fail(c, k, "%s: a key must be a string, not %s", where,
			    k ? kind_of(k) : "nothing");
		for (i = 0; allowed[i] != NULL; i++)
			if (scalar_is(k, allowed[i]))
				break;
		show(k->data.scalar.value, k->data.scalar.length, shown, sizeof shown);
		if (allowed[i] == NULL) {
			list[0] = '\0';
			for (size_t j = 0; allowed[j] != NULL && o < sizeof list; j++)
				o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
				    j ? ", " : "", allowed[j]);
			return fail(c, k, "unknown key \"%s\" in %s (allowed: %s)",
			    shown, where, list);
		}
		if (seen & (UINT64_C(1) << i))
			return fail(c, k, "duplicate key \"%s\" in %s", shown, where);
		seen |= UINT64_C(1) << i;
	}
	return 0;
}

/* The value under `key`, or NULL. Call after check_keys(). */
static yaml_node_t *map_get(struct ctx *c, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);

		if (k != NULL && scalar_is(k, key))
			return node_at(c, p->value);
	}
	return NULL;
}

/* The value under `key`, or an error at `map` naming the missing key. */
static yaml_node_t *require(struct ctx *c, const yaml_node_t *map,
    const char *where, const char *key)
{
	yaml_node_t *v = map_get(c, map, key);

	if (v == NULL)
		fail(c, map, "%s: missing required key \"%s\"", where, key);
	return v;
}

/*
 * A container of `type`. An empty value counts as an empty container, so
 * that a section whose entries are all commented out is still valid.
 * @return 1 to walk it, 0 if empty, -1 on another type.
 */
static int want(struct ctx *c, const yaml_node_t *n, yaml_node_type_t type,
    const char *where)
{
	if (n->type == type)
		return 1;
	if (is_null(n))
		return 0;
	return fail(c, n, "%s: expected %s, got %s", where,
	    type == YAML_MAPPING_NODE ? "a mapping" : "a list", kind_of(n));
}

/* ------------------------------------------------------------------------
 * Scalars: ${ENV} expansion and conversions
 */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int is_name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int is_name_char(char ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9');
}

/*
 * The scalar's text with ${NAME} replaced by the environment's value and
 * "$$" by "$". A '$' before anything else stays as it is, since secrets
 * contain them. @return malloc'd text, or NULL with the error set.
 */
static char *expand(struct ctx *c, const yaml_node_t *n, const char *where)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length, i = 0;
	struct sbuf b = { 0 };
	char *out = NULL;

	/* Text with a NUL in it ("\0" in double quotes) would be cut short
	 * silently by every C string function after this. */
	if (memchr(s, '\0', len) != NULL) {
		fail(c, n, "%s: the value contains a NUL character", where);
		goto out;
	}
	if (sbuf_add(&b, "", 0) != 0)
		goto oom;
	while (i < len) {
		char name[256];
		const char *val;
		size_t j;

		if (s[i] != '$') {
			for (j = i; j < len && s[j] != '$'; j++)
				;
			if (sbuf_add(&b, s + i, j - i) != 0)
				goto oom;
			i = j;
			continue;
		}
		if (i + 1 == len || (s[i + 1] != '$' && s[i + 1] != '{')) {
			if (sbuf_add(&b, "$", 1) != 0)
				goto oom;
			i++;
			continue;
		}
		if (s[i + 1] == '$') {
			if (sbuf_add(&b, "$", 1) != 0)
				goto oom;
			i += 2;
			continue;
		}
		j = i + 2;
		if (j < len && is_name_start(s[j]))
			for (j++; j < len && is_name_char(s[j]); j++)
				;
		if (j == i + 2 || j >= len || s[j] != '}' || j - i - 2 >= sizeof name) {
			fail(c, n, "%s: bad variable reference: write ${NAME} with a "
			    "NAME of letters, digits and _, or $$ for a literal $", where);
			goto out;
		}
		memcpy(name, s + i + 2, j - i - 2);
		name[j - i - 2] = '\0';
		if ((val = getenv(name)) == NULL) {
			fail(c, n, "%s: environment variable %s is not set", where, name);
			goto out;
		}
		if (sbuf_add(&b, val, strlen(val)) != 0)
			goto oom;
		i = j + 1;
	}
	out = b.p;
	b.p = NULL;
	goto out;
oom:
	fail(c, n, "out of memory");
out:
	free(b.p);
	return out;
}

/* Any scalar but null, expanded. Replaces *out. @return 0 or -1. */
static int get_string(struct ctx *c, const yaml_node_t *n, const char *where,
    char **out)
{
	char *s;

	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(c, n, "%s: expected a string, got %s", where, kind_of(n));
	if ((s = expand(c, n, where)) == NULL)
		return -1;
	free(*out);
	*out = s;
	return 0;
}

static int get_int(struct ctx *c, const yaml_node_t *n, const char *where,
    int64_t min, int64_t max, int64_t *out)
{
	char *s = NULL, shown[80];
	int rc = -1;
	int64_t v;

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		fail(c, n, "%s: expected an integer, got %s", where, kind_of(n));
		goto out;
	}
	if (get_string(c, n, where, &s) != 0)
		goto out;
	if (parse_int(s, &v) != 0) {
		fail(c, n, "%s: expected an integer, got \"%s\"", where,
		    show(s, strlen(s), shown, sizeof shown));
		goto out;
	}
	if (v < min || v > max) {
		fail(c, n, "%s: must be between %lld and %lld, got %lld", where,
		    (long long)min, (long long)max, (long long)v);
		goto out;
	}
	*out = v;
	rc = 0;
out:
	free(s);
	return rc;
}

/* A size ("64MiB") or a duration ("2s") between min and max, which `range`
 * spells out for the message. */
static int get_unit(struct ctx *c, const yaml_node_t *n, const char *where,
    int duration, int64_t min, int64_t max, const char *range, int64_t *out)
{
	char *s = NULL, shown[80];
	int rc = -1;
	int64_t v;

	if (get_string(c, n, where, &s) != 0)
		goto out;
	if ((duration ? config_parse_duration(s, &v) : config_parse_size(s, &v)) != 0) {
		fail(c, n, duration
		    ? "%s: bad duration \"%s\": expected a number and a unit "
		      "(ms, s, m, h, d), e.g. 250ms, 2s, 1h30m"
		    : "%s: bad size \"%s\": expected bytes or a number and a unit "
		      "(B, KB, MB, GB, KiB, MiB, GiB), e.g. 512KiB",
		    where, show(s, strlen(s), shown, sizeof shown));
		goto out;
	}
	if (v < min || v > max) {
		fail(c, n, "%s: must be between %s, got \"%s\"", where, range,
		    show(s, strlen(s), shown, sizeof shown));
		goto out;
	}
	*out = v;
	rc = 0;
out:
	free(s);
	return rc;
}

/* ------------------------------------------------------------------------
 * server
 */

static const char *const server_keys[] = {
	"listen", "database", "durability", "body_limit", "scripts", "retry", "inbox_limit",
	"header_limit", "max_connections", "read_timeout", "write_timeout", "trusted_proxies",
	NULL,
};
static const char *const retry_keys[] = {
	"max_attempts", "base_delay", "max_delay", NULL,
};

/* base_delay and max_delay of a retry policy (0ms to 30d, base <= max). */
static int get_delays(struct ctx *c, const yaml_node_t *map, const char *where,
    int64_t *base_ms, int64_t *max_ms)
{
	const yaml_node_t *base, *max;
	char w[128];

	if ((base = map_get(c, map, "base_delay")) != NULL &&
	    get_unit(c, base, sub(w, sizeof w, where, "base_delay"), 1, 0,
	    INT64_C(30) * 86400000, "0ms and 30d", base_ms) != 0)
		return -1;
	if ((max = map_get(c, map, "max_delay")) != NULL &&
	    get_unit(c, max, sub(w, sizeof w, where, "max_delay"), 1, 0,
	    INT64_C(30) * 86400000, "0ms and 30d", max_ms) != 0)
		return -1;
	if (*base_ms > *max_ms)
		return fail(c, max ? max : base,
		    "%s: base_delay (%lldms) is longer than max_delay (%lldms)", where,
		    (long long)*base_ms, (long long)*max_ms);
	return 0;
}

static int parse_retry(struct ctx *c, const yaml_node_t *map, struct server_config *s)
{
	static const char *const where = "server.retry";
	const yaml_node_t *v;
	char w[96];
	int64_t n;
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, retry_keys) != 0)
		return -1;
	if ((v = map_get(c, map, "max_attempts")) != NULL) {
		if (get_int(c, v, sub(w, sizeof w, where, "max_attempts"), 1, 100, &n) != 0)
			return -1;
		s->max_attempts = (int)n;
	}
	/* 0 is allowed: a hot retry is bounded by max_attempts anyway. */
	return get_delays(c, map, where, &s->retry_base_ms, &s->retry_max_ms);
}

static int get_string_list(struct ctx *c, const yaml_node_t *list, const char *where,
    char ***out, size_t *n_out);

static int parse_server(struct ctx *c, const yaml_node_t *map)
{
	static const char *const where = "server";
	struct server_config *s = &c->cfg->server;
	const yaml_node_t *v;
	char *text = NULL, *path = NULL, w[96], shown[80];
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, server_keys) != 0)
		return -1;
	rc = -1;
	if ((v = map_get(c, map, "listen")) != NULL) {
		char *host = NULL;

		if (get_string(c, v, "server.listen", &text) != 0)
			goto out;
		if (config_parse_listen(text, &host, &s->listen_port) != 0) {
			fail(c, v, "server.listen: bad address \"%s\": expected HOST:PORT, "
			    ":PORT or [IPv6]:PORT with a port from 0 to 65535",
			    show(text, strlen(text), shown, sizeof shown));
			goto out;
		}
		free(s->listen_host);
		s->listen_host = host;
	}
	if ((v = map_get(c, map, "database")) != NULL) {
		struct stat st;

		if (get_string(c, v, "server.database", &text) != 0)
			goto out;
		if (text[0] == '\0' || (path = path_join(c->dir, text)) == NULL) {
			fail(c, v, "server.database: expected a file path");
			goto out;
		}
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			fail(c, v, "server.database: %s is a folder; name the database file",
			    path);
			goto out;
		}
		free(s->database);
		s->database = path_real_dir(path);
		free(path);
		path = NULL;
		if (s->database == NULL) {
			fail(c, v, "out of memory");
			goto out;
		}
	}
	if ((v = map_get(c, map, "durability")) != NULL) {
		if (get_string(c, v, "server.durability", &text) != 0)
			goto out;
		if (strcmp(text, "full") == 0) {
			s->durability_full = 1;
		} else if (strcmp(text, "normal") == 0) {
			s->durability_full = 0;
		} else {
			fail(c, v, "server.durability: expected full or normal, got \"%s\"",
			    show(text, strlen(text), shown, sizeof shown));
			goto out;
		}
	}
	if ((v = map_get(c, map, "body_limit")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "body_limit"), 0, 1, GIB,
	    "1 byte and 1GiB", &s->body_limit) != 0)
		goto out;
	if ((v = map_get(c, map, "inbox_limit")) != NULL &&
	    get_int(c, v, sub(w, sizeof w, where, "inbox_limit"), 1, INT64_C(100000000),
	    &s->inbox_limit) != 0)
		goto out;
	if ((v = map_get(c, map, "header_limit")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "header_limit"), 0, KIB, MIB,
	    "1KiB and 1MiB", &s->header_limit) != 0)
		goto out;
	if ((v = map_get(c, map, "max_connections")) != NULL &&
	    get_int(c, v, sub(w, sizeof w, where, "max_connections"), 1, 1000000,
	    &s->max_connections) != 0)
		goto out;
	if ((v = map_get(c, map, "read_timeout")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "read_timeout"), 1, 100, 3600 * 1000,
	    "100ms and 1h", &s->read_timeout_ms) != 0)
		goto out;
	if ((v = map_get(c, map, "write_timeout")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "write_timeout"), 1, 100, 3600 * 1000,
	    "100ms and 1h", &s->write_timeout_ms) != 0)
		goto out;
	if ((v = map_get(c, map, "trusted_proxies")) != NULL) {
		if (get_string_list(c, v, "server.trusted_proxies", &s->trusted_proxies,
		    &s->n_trusted_proxies) != 0)
			goto out;
		for (size_t i = 0; i < s->n_trusted_proxies; i++) {
			unsigned char a[16];
			const char *ip = s->trusted_proxies[i];

			if (inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, a) != 1) {
				fail(c, node_at(c, v->data.sequence.items.start[i]),
				    "server.trusted_proxies[%zu]: expected an IP address, got \"%s\"", i,
				    show(ip, strlen(ip), shown, sizeof shown));
				goto out;
			}
		}
	}
	if ((v = map_get(c, map, "scripts")) != NULL) {
		struct stat st;

		if (get_string(c, v, "server.scripts", &text) != 0)
			goto out;
		if ((path = path_join(c->dir, text)) == NULL) {
			fail(c, v, "out of memory");
			goto out;
		}
		free(s->scripts_dir);
		if ((s->scripts_dir = realpath(path, NULL)) == NULL) {
			fail(c, v, "server.scripts: cannot open folder %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (stat(s->scripts_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fail(c, v, "server.scripts: %s is not a folder", s->scripts_dir);
			goto out;
		}
	}
	if ((v = map_get(c, map, "retry")) != NULL && parse_retry(c, v, s) != 0)
		goto out;
	rc = 0;
out:
	free(text);
	free(path);
	return rc;
}

/* ------------------------------------------------------------------------
 * merchants
 */

static const char *const merchant_keys[] = {
	"id", "name", "currency", "timezone", "workflow", "api_keys", "channels",
	"limits", "payments", "notifications", "webhooks", "effects", "locations", "suppliers",
	"digital", NULL,
};
static const char *const digital_keys[] = {
	"assets", "base_url", "link_expiry", "download_limit", "products", NULL,
};
static const char *const product_keys[] = { "sku", "file", "content_type", "license", NULL };
static const char *const supplier_keys[] = {
	"id", "name", "url", "secret", "lead_time_days", "location", NULL,
};
static const char *const location_keys[] = { "id", "name", "region", "priority", "kind", NULL };
static const char *const payment_keys[] = { "gateway", "base_url", "api_key", NULL };
static const char *const notify_keys[] = { "url", "secret", "templates", NULL };
static const char *const template_keys[] = { "subject", "body", NULL };
static const char *const webhook_keys[] = { "url", "secret", "topics", NULL };
static const char *const effect_keys[] = {
	"timeout", "max_attempts", "base_delay", "max_delay", "concurrency", "allow", NULL,
};
static const char *const channel_keys[] = { "secret", NULL };
static const char *const limit_keys[] = { "instructions", "memory", "webhooks_per_second", NULL };

/* API keys must be unique across every merchant: authentication finds the
 * merchant by its key, so a shared key would log in as whichever is first. */
static int parse_api_keys(struct ctx *c, const yaml_node_t *list,
    const char *where, struct merchant_config *m)
{
	const struct ordo_config *cfg = c->cfg;
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, where)) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if ((m->api_keys = calloc(n ? n : 1, sizeof *m->api_keys)) == NULL)
		return fail(c, list, "out of memory");
	m->n_api_keys = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *v = node_at(c, list->data.sequence.items.start[i]);
		char w[128];
		size_t len;

		snprintf(w, sizeof w, "%s[%zu]", where, i);
		if (get_string(c, v, w, &m->api_keys[i]) != 0)
			return -1;
		/* Never echo the key itself: messages end up in logs. */
		if ((len = strlen(m->api_keys[i])) < MIN_API_KEY_LEN)
			return fail(c, v, "%s: an API key needs at least %d characters, "
			    "this one has %zu", w, MIN_API_KEY_LEN, len);
		for (const struct merchant_config *o = cfg->merchants; o <= m; o++)
			for (size_t k = 0; k < o->n_api_keys && (o < m || k < i); k++)
				if (o->api_keys[k] && strcmp(o->api_keys[k], m->api_keys[i]) == 0)
					return fail(c, v, "%s: this API key is already used by "
					    "merchant \"%s\"; every key must be unique", w,
					    o->id ? o->id : "?");
	}
	return 0;
}

static int parse_channels(struct ctx *c, const yaml_node_t *map,
    const char *where, struct merchant_config *m)
{
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, channel_names) != 0)
		return -1;
	for (int k = 0; k < CH_COUNT; k++) {
		const yaml_node_t *ch = map_get(c, map, channel_names[k]), *v;
		char w[128], ws[140];

		if (ch == NULL)
			continue;
		sub(w, sizeof w, where, channel_names[k]);
		/* An empty channel falls through to "missing secret", which says
		 * what to write. */
		if (want(c, ch, YAML_MAPPING_NODE, w) < 0)
			return -1;
		if (ch->type == YAML_MAPPING_NODE &&
		    check_keys(c, ch, w, channel_keys) != 0)
			return -1;
		if (ch->type != YAML_MAPPING_NODE || (v = map_get(c, ch, "secret")) == NULL)
			return fail(c, ch, "%s: missing required key \"secret\"", w);
		sub(ws, sizeof ws, w, "secret");
		if (get_string(c, v, ws, &m->channel_secret[k]) != 0)
			return -1;
		if (m->channel_secret[k][0] == '\0')
			return fail(c, v, "%s: must not be empty", ws);
	}
	return 0;
}

static int parse_limits(struct ctx *c, const yaml_node_t *map,
    const char *where, struct merchant_config *m)
{
	const yaml_node_t *v;
	char w[128];
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, limit_keys) != 0)
		return -1;
	if ((v = map_get(c, map, "instructions")) != NULL &&
	    get_int(c, v, sub(w, sizeof w, where, "instructions"), 1000,
	    INT64_C(10000000000), &m->instruction_limit) != 0)
		return -1;
	if ((v = map_get(c, map, "memory")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "memory"), 0, MIB, 4 * GIB,
	    "1MiB and 4GiB", &m->memory_limit) != 0)
		return -1;
	if ((v = map_get(c, map, "webhooks_per_second")) != NULL &&
	    get_int(c, v, sub(w, sizeof w, where, "webhooks_per_second"), 0, 1000000,
	    &m->webhook_rate) != 0)
		return -1;
	return 0;
}

int config_url_ok(const char *url)
{
	const char *host;

	if (url == NULL)
		return 0;
	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return 0;
	if (*host == '\0' || *host == '/' || *host == ':')
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

/* A string that must be an http(s) URL. */
static int get_url(struct ctx *c, const yaml_node_t *n, const char *where, char **out)
{
	char shown[80];

	if (get_string(c, n, where, out) != 0)
		return -1;
	if (!config_url_ok(*out))
		return fail(c, n, "%s: expected an http:// or https:// URL, got \"%s\"", where,
		    show(*out, strlen(*out), shown, sizeof shown));
	return 0;
}

/* A list of non-empty strings. */
static int get_string_list(struct ctx *c, const yaml_node_t *list, const char *where,
    char ***out, size_t *n_out)
{
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, where)) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if ((*out = calloc(n ? n : 1, sizeof **out)) == NULL)
		return fail(c, list, "out of memory");
	*n_out = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *v = node_at(c, list->data.sequence.items.start[i]);
		char w[128];

		snprintf(w, sizeof w, "%s[%zu]", where, i);
		if (v == NULL || get_string(c, v, w, &(*out)[i]) != 0)
			return -1;
		if ((*out)[i][0] == '\0')
			return fail(c, v, "%s: must not be empty", w);
	}
	return 0;
}

static int valid_gateway_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int parse_payments(struct ctx *c, const yaml_node_t *map,
    const char *where, struct merchant_config *m)
{
	const yaml_node_t *v, *gw;
	char w[128], shown[80];
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, payment_keys) != 0)
		return -1;
	if ((gw = require(c, map, where, "gateway")) == NULL)
		return -1;
	if (get_string(c, gw, sub(w, sizeof w, where, "gateway"), &m->pay_gateway) != 0)
		return -1;
	if (!valid_gateway_name(m->pay_gateway))
		return fail(c, gw, "%s: bad gateway name \"%s\": expected the name of a module in "
		    "scripts/payments/ (a-z, 0-9, _), e.g. stripe or manual", w,
		    show(m->pay_gateway, strlen(m->pay_gateway), shown, sizeof shown));
	if ((v = map_get(c, map, "base_url")) != NULL) {
		size_t n;

		if (get_url(c, v, sub(w, sizeof w, where, "base_url"), &m->pay_base_url) != 0)
			return -1;
		n = strlen(m->pay_base_url);
		while (n > 0 && m->pay_base_url[n - 1] == '/')
			m->pay_base_url[--n] = '\0';
	} else if (strcmp(m->pay_gateway, "manual") != 0) {
		return fail(c, map, "%s: missing required key \"base_url\" (the %s gateway's "
		    "address)", where, m->pay_gateway);
	}
	if ((v = map_get(c, map, "api_key")) != NULL &&
	    get_string(c, v, sub(w, sizeof w, where, "api_key"), &m->pay_api_key) != 0)
		return -1;
	return 0;
}

static int parse_templates(struct ctx *c, const yaml_node_t *map,
    const char *where, struct merchant_config *m)
{
	size_t n;
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if ((m->templates = calloc(n ? n : 1, sizeof *m->templates)) == NULL)
		return fail(c, map, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];
		const yaml_node_t *k = node_at(c, p->key), *t = node_at(c, p->value), *v;
		struct notify_template *tp = &m->templates[i];
		char w[160], ws[180];

		m->n_templates = i + 1;
		if (k == NULL || t == NULL || k->type != YAML_SCALAR_NODE || is_null(k))
			return fail(c, k ? k : map, "%s: a template name must be a string", where);
		if ((tp->name = strndup((const char *)k->data.scalar.value, k->data.scalar.length)) == NULL)
			return fail(c, k, "out of memory");
		if (!valid_merchant_id(tp->name))
			return fail(c, k, "%s: bad template name: use 1 to 64 of a-z, 0-9, _ and -", where);
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->templates[j].name, tp->name) == 0)
				return fail(c, k, "%s: duplicate template \"%s\"", where, tp->name);
		sub(w, sizeof w, where, tp->name);
		if (want(c, t, YAML_MAPPING_NODE, w) <= 0)
			return t->type == YAML_MAPPING_NODE ? -1 :
			    fail(c, t, "%s: expected a mapping with subject and body", w);
		if (check_keys(c, t, w, template_keys) != 0)
			return -1;
		if ((v = require(c, t, w, "body")) == NULL ||
		    get_string(c, v, sub(ws, sizeof ws, w, "body"), &tp->body) != 0)
			return -1;
		if ((v = map_get(c, t, "subject")) != NULL &&
		    get_string(c, v, sub(ws, sizeof ws, w, "subject"), &tp->subject) != 0)
			return -1;
	}
	return 0;
}

static int parse_notifications(struct ctx *c, const yaml_node_t *map,
    const char *where, struct merchant_config *m)
{
	const yaml_node_t *v;
	char w[128];
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, notify_keys) != 0)
		return -1;
	if ((v = require(c, map, where, "url")) == NULL ||
	    get_url(c, v, sub(w, sizeof w, where, "url"), &m->notify_url) != 0)
		return -1;
	if ((v = require(c, map, where, "secret")) == NULL ||
	    get_string(c, v, sub(w, sizeof w, where, "secret"), &m->notify_secret) != 0)
		return -1;
	if (m->notify_secret[0] == '\0')
		return fail(c, v, "%s: must not be empty", w);
	if ((v = map_get(c, map, "templates")) != NULL &&
	    parse_templates(c, v, sub(w, sizeof w, where, "templates"), m) != 0)
		return -1;
	return 0;
}

static int parse_webhooks(struct ctx *c, const yaml_node_t *list,
    const char *where, struct merchant_config *m)
{
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, where)) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if ((m->webhooks = calloc(n ? n : 1, sizeof *m->webhooks)) == NULL)
		return fail(c, list, "out of memory");
	m->n_webhooks = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *map = node_at(c, list->data.sequence.items.start[i]), *v;
		struct webhook_sub *ws = &m->webhooks[i];
		char w[128], wk[150];

		snprintf(w, sizeof w, "%s[%zu]", where, i);
		if (map == NULL || map->type != YAML_MAPPING_NODE)
			return fail(c, map ? map : list, "%s: expected a mapping with url, secret "
			    "and topics", w);
		if (check_keys(c, map, w, webhook_keys) != 0)
			return -1;
		if ((v = require(c, map, w, "url")) == NULL ||
		    get_url(c, v, sub(wk, sizeof wk, w, "url"), &ws->url) != 0)
			return -1;
		if ((v = require(c, map, w, "secret")) == NULL ||
		    get_string(c, v, sub(wk, sizeof wk, w, "secret"), &ws->secret) != 0)
			return -1;
		if (ws->secret[0] == '\0')
			return fail(c, v, "%s: must not be empty", wk);
		if ((v = require(c, map, w, "topics")) == NULL ||
		    get_string_list(c, v, sub(wk, sizeof wk, w, "topics"), &ws->topics,
		    &ws->n_topics) != 0)
			return -1;
		if (ws->n_topics == 0)
			return fail(c, v, "%s: name at least one topic (e.g. order.created, or \"*\")", wk);
	}
	return 0;
}

static int parse_effects(struct ctx *c, const yaml_node_t *map,
    const char *where, struct merchant_config *m)
{
	struct effects_config *e = &m->effects;
	const yaml_node_t *v;
	char w[128];
	int64_t n;
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, effect_keys) != 0)
		return -1;
	if ((v = map_get(c, map, "timeout")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "timeout"), 1, 10, 600000,
	    "10ms and 10m", &e->timeout_ms) != 0)
		return -1;
	if ((v = map_get(c, map, "max_attempts")) != NULL) {
		if (get_int(c, v, sub(w, sizeof w, where, "max_attempts"), 1, 100, &n) != 0)
			return -1;
		e->max_attempts = (int)n;
	}
	if (get_delays(c, map, where, &e->base_delay_ms, &e->max_delay_ms) != 0)
		return -1;
	if ((v = map_get(c, map, "concurrency")) != NULL) {
		if (get_int(c, v, sub(w, sizeof w, where, "concurrency"), 1, 256, &n) != 0)
			return -1;
		e->concurrency = (int)n;
	}
	if ((v = map_get(c, map, "allow")) != NULL) {
		if (get_string_list(c, v, sub(w, sizeof w, where, "allow"), &e->allow,
		    &e->n_allow) != 0)
			return -1;
		for (size_t i = 0; i < e->n_allow; i++)
			if (!config_url_ok(e->allow[i]))
				return fail(c, node_at(c, v->data.sequence.items.start[i]),
				    "%s[%zu]: expected an http:// or https:// URL prefix", w, i);
	}
	return 0;
}

static int cmp_location(const void *a, const void *b)
{
	const struct location_config *x = a, *y = b;

	return x->priority != y->priority ? (x->priority < y->priority ? -1 : 1)
	    : strcmp(x->id, y->id);
}

static int parse_locations(struct ctx *c, const yaml_node_t *list,
    const char *where, struct merchant_config *m)
{
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, where)) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if ((m->locations = calloc(n ? n : 1, sizeof *m->locations)) == NULL)
		return fail(c, list, "out of memory");
	m->n_locations = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *map = node_at(c, list->data.sequence.items.start[i]), *v;
		struct location_config *l = &m->locations[i];
		char w[128], wk[150], shown[80];
		int64_t prio = 100;

		snprintf(w, sizeof w, "%s[%zu]", where, i);
		if (map == NULL || map->type != YAML_MAPPING_NODE)
			return fail(c, map ? map : list, "%s: expected a mapping with id, name, region,"
			    " priority and kind", w);
		if (check_keys(c, map, w, location_keys) != 0)
			return -1;
		if ((v = require(c, map, w, "id")) == NULL ||
		    get_string(c, v, sub(wk, sizeof wk, w, "id"), &l->id) != 0)
			return -1;
		if (!valid_merchant_id(l->id))
			return fail(c, v, "%s: bad location id \"%s\": use 1 to 64 of a-z, 0-9, _ and -", wk,
			    show(l->id, strlen(l->id), shown, sizeof shown));
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->locations[j].id, l->id) == 0)
				return fail(c, v, "%s: duplicate location \"%s\"", wk, l->id);
		if ((v = map_get(c, map, "name")) != NULL &&
		    get_string(c, v, sub(wk, sizeof wk, w, "name"), &l->name) != 0)
			return -1;
		if ((v = map_get(c, map, "region")) != NULL &&
		    get_string(c, v, sub(wk, sizeof wk, w, "region"), &l->region) != 0)
			return -1;
		if ((v = map_get(c, map, "priority")) != NULL &&
		    get_int(c, v, sub(wk, sizeof wk, w, "priority"), 0, 1000000, &prio) != 0)
			return -1;
		l->priority = (int)prio;
		if ((v = map_get(c, map, "kind")) != NULL) {
			if (get_string(c, v, sub(wk, sizeof wk, w, "kind"), &l->kind) != 0)
				return -1;
			if (strcmp(l->kind, "warehouse") != 0 && strcmp(l->kind, "store") != 0 &&
			    strcmp(l->kind, "supplier") != 0)
				return fail(c, v, "%s: expected warehouse, store or supplier, got \"%s\"", wk,
				    show(l->kind, strlen(l->kind), shown, sizeof shown));
		} else if ((l->kind = strdup("warehouse")) == NULL) {
			return fail(c, map, "out of memory");
		}
		if (l->name == NULL && (l->name = strdup(l->id)) == NULL)
			return fail(c, map, "out of memory");
	}
	qsort(m->locations, n, sizeof *m->locations, cmp_location);
	return 0;
}

static int parse_suppliers(struct ctx *c, const yaml_node_t *list,
    const char *where, struct merchant_config *m)
{
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, where)) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if ((m->suppliers = calloc(n ? n : 1, sizeof *m->suppliers)) == NULL)
		return fail(c, list, "out of memory");
	m->n_suppliers = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *map = node_at(c, list->data.sequence.items.start[i]), *v;
		struct supplier_config *sp = &m->suppliers[i];
		char w[128], wk[150];
		int64_t days = 7;

		snprintf(w, sizeof w, "%s[%zu]", where, i);
		sp->lead_time_days = 7;
		if (map == NULL || map->type != YAML_MAPPING_NODE)
			return fail(c, map ? map : list, "%s: expected a mapping with id, url and secret", w);
		if (check_keys(c, map, w, supplier_keys) != 0)
			return -1;
		if ((v = require(c, map, w, "id")) == NULL ||
		    get_string(c, v, sub(wk, sizeof wk, w, "id"), &sp->id) != 0)
			return -1;
		if (!valid_merchant_id(sp->id))
			return fail(c, v, "%s: bad supplier id: use 1 to 64 of a-z, 0-9, _ and -", wk);
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->suppliers[j].id, sp->id) == 0)
				return fail(c, v, "%s: duplicate supplier \"%s\"", wk, sp->id);
		if ((v = require(c, map, w, "url")) == NULL ||
		    get_url(c, v, sub(wk, sizeof wk, w, "url"), &sp->url) != 0)
			return -1;
		if ((v = require(c, map, w, "secret")) == NULL ||
		    get_string(c, v, sub(wk, sizeof wk, w, "secret"), &sp->secret) != 0)
			return -1;
		if (sp->secret[0] == '\0')
			return fail(c, v, "%s: must not be empty", wk);
		if ((v = map_get(c, map, "name")) != NULL &&
		    get_string(c, v, sub(wk, sizeof wk, w, "name"), &sp->name) != 0)
			return -1;
		if ((v = map_get(c, map, "lead_time_days")) != NULL) {
			if (get_int(c, v, sub(wk, sizeof wk, w, "lead_time_days"), 0, 365, &days) != 0)
				return -1;
			sp->lead_time_days = (int)days;
		}
		if ((v = map_get(c, map, "location")) != NULL) {
			if (get_string(c, v, sub(wk, sizeof wk, w, "location"), &sp->location) != 0)
				return -1;
			if (config_location(m, sp->location) == NULL)
				return fail(c, v, "%s: no location \"%s\" in this merchant's locations", wk,
				    sp->location);
		}
		if (sp->name == NULL && (sp->name = strdup(sp->id)) == NULL)
			return fail(c, map, "out of memory");
	}
	return 0;
}

/*
 * A product's file: relative, no "." or ".." segment, and once symlinks are
 * resolved a regular file inside the asset folder. Downloads serve only what
 * passed here (the token names a grant, never a path).
 */
static int check_asset(struct ctx *c, const yaml_node_t *v, const char *where,
    const struct digital_config *d, const char *file)
{
	char *path = NULL, *real = NULL, shown[80], *copy, *seg, *save = NULL;
	size_t alen = d->assets ? strlen(d->assets) : 0;
	struct stat st;
	int bad = file[0] == '\0' || file[0] == '/' || strlen(file) > 1024;
	int rc = -1;

	show(file, strlen(file), shown, sizeof shown);
	if ((copy = strdup(file)) == NULL)
		return fail(c, v, "out of memory");
	for (seg = strtok_r(copy, "/", &save); !bad && seg; seg = strtok_r(NULL, "/", &save))
		bad = strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0;
	free(copy);
	if (bad)
		return fail(c, v, "%s: \"%s\" must be a path inside digital.assets, without"
		    " \"..\" or a leading \"/\"", where, shown);
	if (d->assets == NULL)
		return fail(c, v, "%s: a file needs digital.assets, the folder it is in", where);
	if (asprintf(&path, "%s/%s", d->assets, file) < 0)
		return fail(c, v, "out of memory");
	if ((real = realpath(path, NULL)) == NULL)
		fail(c, v, "%s: cannot open %s: %s", where, path, strerror(errno));
	else if (strncmp(real, d->assets, alen) != 0 || real[alen] != '/')
		fail(c, v, "%s: %s leads outside digital.assets (%s)", where, path, real);
	else if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
		fail(c, v, "%s: %s is not a file", where, path);
	else
		rc = 0;
	free(path);
	free(real);
	return rc;
}

static int parse_products(struct ctx *c, const yaml_node_t *list, const char *where,
    struct digital_config *d)
{
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, where)) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if ((d->products = calloc(n ? n : 1, sizeof *d->products)) == NULL)
		return fail(c, list, "out of memory");
	d->n_products = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *map = node_at(c, list->data.sequence.items.start[i]), *v, *fv;
		struct digital_product *p = &d->products[i];
		char w[180], wk[200], *lic = NULL;

		snprintf(w, sizeof w, "%s[%zu]", where, i);
		if (map == NULL || map->type != YAML_MAPPING_NODE)
			return fail(c, map ? map : list, "%s: expected a mapping with sku and file"
			    " (or license: true)", w);
		if (check_keys(c, map, w, product_keys) != 0)
			return -1;
		if ((v = require(c, map, w, "sku")) == NULL ||
		    get_string(c, v, sub(wk, sizeof wk, w, "sku"), &p->sku) != 0)
			return -1;
		if (p->sku[0] == '\0' || strlen(p->sku) > 255)
			return fail(c, v, "%s: a SKU must be 1 to 255 bytes", wk);
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->products[j].sku, p->sku) == 0)
				return fail(c, v, "%s: duplicate digital product \"%s\"", wk, p->sku);
		if ((v = map_get(c, map, "license")) != NULL) {
			if (get_string(c, v, sub(wk, sizeof wk, w, "license"), &lic) != 0)
				return -1;
			p->license = strcmp(lic, "true") == 0;
			rc = p->license || strcmp(lic, "false") == 0 ? 0 : -1;
			free(lic);
			if (rc != 0)
				return fail(c, v, "%s: expected true or false", wk);
		}
		if ((fv = map_get(c, map, "file")) != NULL) {
			if (get_string(c, fv, sub(wk, sizeof wk, w, "file"), &p->file) != 0 ||
			    check_asset(c, fv, wk, d, p->file) != 0)
				return -1;
		}
		if ((fv == NULL) == !p->license)
			return fail(c, map, "%s: give either file (a download) or license: true"
			    " (a key from the pool)", w);
		if ((v = map_get(c, map, "content_type")) != NULL &&
		    get_string(c, v, sub(wk, sizeof wk, w, "content_type"), &p->content_type) != 0)
			return -1;
		if (p->content_type && (p->content_type[0] == '\0' ||
		    strcspn(p->content_type, "\r\n") != strlen(p->content_type)))
			return fail(c, v, "%s: expected a media type such as application/pdf", wk);
	}
	return 0;
}

static int parse_digital(struct ctx *c, const yaml_node_t *map, const char *where,
    struct merchant_config *m)
{
	struct digital_config *d = &m->digital;
	const yaml_node_t *v;
	char w[150], *text = NULL, *path = NULL;
	struct stat st;
	int rc;

	if ((rc = want(c, map, YAML_MAPPING_NODE, where)) <= 0)
		return rc;
	if (check_keys(c, map, where, digital_keys) != 0)
		return -1;
	if ((v = map_get(c, map, "assets")) != NULL) {
		sub(w, sizeof w, where, "assets");
		if (get_string(c, v, w, &text) != 0)
			return -1;
		path = text[0] ? path_join(c->dir, text) : NULL;
		free(text);
		if (path == NULL)
			return fail(c, v, "%s: expected the path of a folder", w);
		d->assets = realpath(path, NULL);
		rc = d->assets == NULL ? fail(c, v, "%s: cannot open %s: %s", w, path, strerror(errno))
		    : stat(d->assets, &st) != 0 || !S_ISDIR(st.st_mode)
		    ? fail(c, v, "%s: %s is not a folder", w, path) : 0;
		free(path);
		if (rc != 0)
			return -1;
	}
	if ((v = map_get(c, map, "base_url")) != NULL) {
		if (get_url(c, v, sub(w, sizeof w, where, "base_url"), &d->base_url) != 0)
			return -1;
		if (d->base_url[0] && d->base_url[strlen(d->base_url) - 1] == '/')
			d->base_url[strlen(d->base_url) - 1] = '\0';
	}
	if ((v = map_get(c, map, "link_expiry")) != NULL &&
	    get_unit(c, v, sub(w, sizeof w, where, "link_expiry"), 1, 1000, INT64_C(3650) * 86400000,
	    "1s and 3650d", &d->link_expiry_ms) != 0)
		return -1;
	if ((v = map_get(c, map, "download_limit")) != NULL &&
	    get_int(c, v, sub(w, sizeof w, where, "download_limit"), 1, 1000000,
	    &d->download_limit) != 0)
		return -1;
	if ((v = map_get(c, map, "products")) != NULL &&
	    parse_products(c, v, sub(w, sizeof w, where, "products"), d) != 0)
		return -1;
	return 0;
}

const struct digital_product *config_digital(const struct merchant_config *m, const char *sku)
{
	for (size_t i = 0; m != NULL && sku != NULL && i < m->digital.n_products; i++)
		if (strcmp(m->digital.products[i].sku, sku) == 0)
			return &m->digital.products[i];
	return NULL;
}

const struct supplier_config *config_supplier(const struct merchant_config *m, const char *id)
{
	for (size_t i = 0; m != NULL && id != NULL && i < m->n_suppliers; i++)
		if (strcmp(m->suppliers[i].id, id) == 0)
			return &m->suppliers[i];
	return NULL;
}

const struct location_config *config_location(const struct merchant_config *m, const char *id)
{
	for (size_t i = 0; m != NULL && id != NULL && i < m->n_locations; i++)
		if (strcmp(m->locations[i].id, id) == 0)
			return &m->locations[i];
	return NULL;
}

static int parse_merchant(struct ctx *c, const yaml_node_t *map, size_t idx)
{
	struct merchant_config *m = &c->cfg->merchants[idx];
	const yaml_node_t *v, *id_node, *cur_node, *wf_node;
	char where[48], w[96], shown[80], *text = NULL, *path = NULL;
	struct stat st;
	int rc = -1;

	snprintf(where, sizeof where, "merchants[%zu]", idx);
	m->line = (int)map->start_mark.line + 1;
	m->instruction_limit = 10000000;
	m->digital.link_expiry_ms = INT64_C(7) * 86400000;
	m->digital.download_limit = 5;
	m->memory_limit = 64 * MIB;
	m->effects.timeout_ms = 10000;
	m->effects.max_attempts = 8;
	m->effects.base_delay_ms = 1000;
	m->effects.max_delay_ms = 3600 * 1000;
	m->effects.concurrency = 4;
	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, "%s: expected a mapping, got %s", where, kind_of(map));
	if (check_keys(c, map, where, merchant_keys) != 0)
		return -1;
	if ((id_node = require(c, map, where, "id")) == NULL ||
	    (cur_node = require(c, map, where, "currency")) == NULL ||
	    (wf_node = require(c, map, where, "workflow")) == NULL)
		return -1;

	if (get_string(c, id_node, sub(w, sizeof w, where, "id"), &m->id) != 0)
		goto out;
	if (!valid_merchant_id(m->id)) {
		fail(c, id_node, "%s: bad merchant id \"%s\": use 1 to 64 of a-z, 0-9, "
		    "_ and -", w, show(m->id, strlen(m->id), shown, sizeof shown));
		goto out;
	}
	for (size_t i = 0; i < idx; i++)
		if (strcmp(c->cfg->merchants[i].id, m->id) == 0) {
			fail(c, id_node, "%s: duplicate merchant id \"%s\" (first at line %d)",
			    w, m->id, c->cfg->merchants[i].line);
			goto out;
		}

	if ((v = map_get(c, map, "name")) != NULL) {
		if (get_string(c, v, sub(w, sizeof w, where, "name"), &m->name) != 0)
			goto out;
	} else if ((m->name = strdup(m->id)) == NULL) {
		fail(c, map, "out of memory");
		goto out;
	}

	if (get_string(c, cur_node, sub(w, sizeof w, where, "currency"), &m->currency) != 0)
		goto out;
	if (money_exponent(m->currency) < 0) {
		fail(c, cur_node, "%s: unknown currency \"%s\": expected an ISO 4217 "
		    "code such as USD or EUR", w,
		    show(m->currency, strlen(m->currency), shown, sizeof shown));
		goto out;
	}

	if ((v = map_get(c, map, "timezone")) != NULL) {
		if (get_string(c, v, sub(w, sizeof w, where, "timezone"), &m->timezone) != 0)
			goto out;
		/* The calendar module decides what counts as a zone (the same
		 * check subscriptions use). */
		if (!calendar_tz_known(m->timezone)) {
			fail(c, v, "%s: unknown time zone \"%s\": expected an IANA name "
			    "such as Europe/Paris", w,
			    show(m->timezone, strlen(m->timezone), shown, sizeof shown));
			goto out;
		}
	} else if ((m->timezone = strdup("UTC")) == NULL) {
		fail(c, map, "out of memory");
		goto out;
	}

	sub(w, sizeof w, where, "workflow");
	if (get_string(c, wf_node, w, &text) != 0)
		goto out;
	if (text[0] == '\0' || (path = path_join(c->dir, text)) == NULL) {
		fail(c, wf_node, "%s: expected the path of a .lua file", w);
		goto out;
	}
	if ((m->workflow = realpath(path, NULL)) == NULL) {
		fail(c, wf_node, "%s: cannot open %s: %s", w, path, strerror(errno));
		goto out;
	}
	if (stat(m->workflow, &st) != 0 || !S_ISREG(st.st_mode)) {
		fail(c, wf_node, "%s: %s is not a file", w, m->workflow);
		goto out;
	}

	if ((v = map_get(c, map, "api_keys")) != NULL &&
	    parse_api_keys(c, v, sub(w, sizeof w, where, "api_keys"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "channels")) != NULL &&
	    parse_channels(c, v, sub(w, sizeof w, where, "channels"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "limits")) != NULL &&
	    parse_limits(c, v, sub(w, sizeof w, where, "limits"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "payments")) != NULL &&
	    parse_payments(c, v, sub(w, sizeof w, where, "payments"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "notifications")) != NULL &&
	    parse_notifications(c, v, sub(w, sizeof w, where, "notifications"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "webhooks")) != NULL &&
	    parse_webhooks(c, v, sub(w, sizeof w, where, "webhooks"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "effects")) != NULL &&
	    parse_effects(c, v, sub(w, sizeof w, where, "effects"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "locations")) != NULL &&
	    parse_locations(c, v, sub(w, sizeof w, where, "locations"), m) != 0)
		goto out;
	/* After locations: a supplier names the one it delivers to. */
	if ((v = map_get(c, map, "suppliers")) != NULL &&
	    parse_suppliers(c, v, sub(w, sizeof w, where, "suppliers"), m) != 0)
		goto out;
	if ((v = map_get(c, map, "digital")) != NULL &&
	    parse_digital(c, v, sub(w, sizeof w, where, "digital"), m) != 0)
		goto out;
	rc = 0;
out:
	free(text);
	free(path);
	return rc;
}

static int parse_merchants(struct ctx *c, const yaml_node_t *list)
{
	size_t n;
	int rc;

	if ((rc = want(c, list, YAML_SEQUENCE_NODE, "merchants")) <= 0)
		return rc;
	n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	/* Counted at once, all fields NULL, so config_free() can clean up after
	 * an error in any merchant. */
	if ((c->cfg->merchants = calloc(n, sizeof *c->cfg->merchants)) == NULL)
		return fail(c, list, "out of memory");
	c->cfg->n_merchants = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *m = node_at(c, list->data.sequence.items.start[i]);

		if (m == NULL || parse_merchant(c, m, i) != 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * The document
 */

static const char *const top_keys[] = { "server", "merchants", NULL };

static int set_defaults(struct ctx *c)
{
	struct server_config *s = &c->cfg->server;

	s->listen_port = 8080;
	s->durability_full = 1;
	s->body_limit = MIB;
	s->inbox_limit = 100000;
	s->header_limit = 64 * KIB;
	s->max_connections = 1024;
	s->read_timeout_ms = 10 * 1000;
	s->write_timeout_ms = 30 * 1000;
	s->max_attempts = 8;
	s->retry_base_ms = 1000;
	s->retry_max_ms = 3600 * 1000;
	if ((s->listen_host = strdup("127.0.0.1")) == NULL)
		return fail(c, NULL, "out of memory");
	return 0;
}

/* Paths whose default depends on the config's folder, after parsing so an
 * explicit value is not computed twice. */
static int set_path_defaults(struct ctx *c)
{
	struct server_config *s = &c->cfg->server;
	char *p = NULL;

	if (s->database == NULL) {
		if ((p = path_join(c->dir, "../var/ordo.db")) == NULL ||
		    (s->database = path_real_dir(p)) == NULL)
			goto oom;
		free(p);
		p = NULL;
	}
	if (s->scripts_dir == NULL) {
		/* Missing is not an error here: the sandbox reports it when a
		 * workflow requires something, and a test config needs none. */
		if ((p = path_join(c->dir, "../scripts")) == NULL)
			goto oom;
		if ((s->scripts_dir = realpath(p, NULL)) == NULL) {
			s->scripts_dir = p;
			p = NULL;
		}
		free(p);
	}
	return 0;
oom:
	free(p);
	return fail(c, NULL, "out of memory");
}

static int parse_root(struct ctx *c, const yaml_node_t *root)
{
	const yaml_node_t *v;

	if (root == NULL)
		return fail(c, NULL, "the config is empty: expected a mapping with "
		    "server and merchants");
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, root, "expected a mapping with server and merchants "
		    "at the top level, got %s", kind_of(root));
	if (check_keys(c, root, "the config", top_keys) != 0)
		return -1;
	if ((v = map_get(c, root, "server")) != NULL && parse_server(c, v) != 0)
		return -1;
	if ((v = map_get(c, root, "merchants")) == NULL)
		return fail(c, root, "missing required key \"merchants\" in the config");
	return parse_merchants(c, v);
}

/*
 * The event pass: syntax errors, a single document, no aliases, bounded
 * nesting. Refusing aliases outright keeps "billion laughs" out, and the
 * schema has no use for them. Also makes sure the loader that runs next
 * cannot fail on anything but memory.
 */
static int prescan(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, rc = -1;
	char shown[80];

	if (!yaml_parser_initialize(&p))
		return fail(c, NULL, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	for (;;) {
		yaml_event_type_t type;
		int bad = 0;

		if (!yaml_parser_parse(&p, &ev)) {
			yaml_fail(c, &p, buf, len);
			goto out;
		}
		type = ev.type;
		if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
			bad = fail_at(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
			    "only one YAML document is allowed in the config");
		else if (type == YAML_ALIAS_EVENT)
			bad = fail_at(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
			    "aliases (*%s) are not allowed in the config; write the "
			    "value out", show(ev.data.alias.anchor,
			    strlen((const char *)ev.data.alias.anchor), shown, sizeof shown));
		else if ((type == YAML_MAPPING_START_EVENT ||
		    type == YAML_SEQUENCE_START_EVENT) && ++depth > MAX_DEPTH)
			bad = fail_at(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
			    "nested deeper than %d levels", MAX_DEPTH);
		else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
		if (bad)
			goto out;
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	if (docs == 0) {
		fail(c, NULL, "the config is empty: expected a mapping with server "
		    "and merchants");
		goto out;
	}
	rc = 0;
out:
	yaml_parser_delete(&p);
	return rc;
}

/* `dir` made absolute; the current folder when NULL. @return malloc'd. */
static char *absolute_dir(const char *dir)
{
	char *real, *cwd, *out = NULL;

	if (dir == NULL)
		dir = ".";
	if ((real = realpath(dir, NULL)) != NULL)
		return real;
	if (dir[0] == '/')
		out = strdup(dir);
	else if ((cwd = realpath(".", NULL)) != NULL) {
		if (asprintf(&out, "%s/%s", cwd, dir) < 0)
			out = NULL;
		free(cwd);
	}
	if (out != NULL)
		path_fold(out);
	return out;
}

/* ------------------------------------------------------------------------
 * Public
 */

struct ordo_config *config_parse(const char *name, const char *dir,
    const char *buf, size_t len, char **err)
{
	struct ctx c = { .name = name ? name : "<config>" };
	struct ordo_config *cfg = NULL, *ret = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	int parser_ready = 0, loaded = 0;

	if (err != NULL)
		*err = NULL;
	if (buf == NULL) {
		buf = "";
		len = 0;
	}
	if ((cfg = calloc(1, sizeof *cfg)) == NULL ||
	    (cfg->path = strdup(c.name)) == NULL ||
	    (cfg->dir = absolute_dir(dir)) == NULL) {
		fail(&c, NULL, "out of memory or bad folder");
		goto out;
	}
	c.cfg = cfg;
	c.dir = cfg->dir;
	if (set_defaults(&c) != 0 || prescan(&c, buf, len) != 0)
		goto out;

	if (!yaml_parser_initialize(&parser)) {
		fail(&c, NULL, "out of memory");
		goto out;
	}
	parser_ready = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	/* On failure libyaml has already deleted the document. */
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_fail(&c, &parser, buf, len);
		goto out;
	}
	loaded = 1;
	c.doc = &doc;
	if (parse_root(&c, yaml_document_get_root_node(&doc)) != 0 ||
	    set_path_defaults(&c) != 0)
		goto out;
	ret = cfg;
	cfg = NULL;
out:
	if (loaded)
		yaml_document_delete(&doc);
	if (parser_ready)
		yaml_parser_delete(&parser);
	config_free(cfg);
	if (ret == NULL && err != NULL) {
		*err = c.err;
		c.err = NULL;
	}
	free(c.err);
	return ret;
}

struct ordo_config *config_load(const char *path, char **err)
{
	struct ordo_config *cfg = NULL;
	char *buf = NULL, *copy = NULL;
	size_t len = 0, cap = 0;
	FILE *f = NULL;
	int saved;

	if (err != NULL)
		*err = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		saved = errno;
		if (err != NULL && asprintf(err, "%s: cannot open: %s", path,
		    strerror(saved)) < 0)
			*err = NULL;
		goto out;
	}
	/* Read to EOF rather than trusting st_size, so /dev/stdin works too. */
	for (;;) {
		size_t n;

		if (len == cap) {
			char *p;

			cap = cap ? cap * 2 : 8192;
			if (cap > MAX_FILE_SIZE + 1)
				cap = MAX_FILE_SIZE + 1;
			if (len == cap || (p = realloc(buf, cap)) == NULL) {
				if (err != NULL && asprintf(err, "%s: %s", path, len == cap
				    ? "file is larger than 16 MiB" : "out of memory") < 0)
					*err = NULL;
				goto out;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		if (err != NULL && asprintf(err, "%s: cannot read", path) < 0)
			*err = NULL;
		goto out;
	}
	if (len > MAX_FILE_SIZE) {
		if (err != NULL && asprintf(err, "%s: file is larger than 16 MiB", path) < 0)
			*err = NULL;
		goto out;
	}
	/* The folder the file is in as named, not where a symlink to it leads:
	 * that is the folder an operator reads relative paths against. */
	if ((copy = strdup(path)) == NULL) {
		if (err != NULL)
			*err = strdup("out of memory");
		goto out;
	}
	cfg = config_parse(path, dirname(copy), buf, len, err);
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	free(copy);
	return cfg;
}

void config_free(struct ordo_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		struct merchant_config *m = &cfg->merchants[i];

		free(m->id);
		free(m->name);
		free(m->currency);
		free(m->timezone);
		free(m->workflow);
		for (size_t k = 0; k < m->n_api_keys; k++)
			free(m->api_keys[k]);
		free(m->api_keys);
		for (int k = 0; k < CH_COUNT; k++)
			free(m->channel_secret[k]);
		free(m->pay_gateway);
		free(m->pay_base_url);
		free(m->pay_api_key);
		free(m->notify_url);
		free(m->notify_secret);
		for (size_t k = 0; k < m->n_templates; k++) {
			free(m->templates[k].name);
			free(m->templates[k].subject);
			free(m->templates[k].body);
		}
		free(m->templates);
		for (size_t k = 0; k < m->n_webhooks; k++) {
			free(m->webhooks[k].url);
			free(m->webhooks[k].secret);
			for (size_t t = 0; t < m->webhooks[k].n_topics; t++)
				free(m->webhooks[k].topics[t]);
			free(m->webhooks[k].topics);
		}
		free(m->webhooks);
		for (size_t k = 0; k < m->effects.n_allow; k++)
			free(m->effects.allow[k]);
		free(m->effects.allow);
		for (size_t k = 0; k < m->n_locations; k++) {
			free(m->locations[k].id);
			free(m->locations[k].name);
			free(m->locations[k].region);
			free(m->locations[k].kind);
		}
		free(m->locations);
		for (size_t k = 0; k < m->n_suppliers; k++) {
			free(m->suppliers[k].id);
			free(m->suppliers[k].name);
			free(m->suppliers[k].url);
			free(m->suppliers[k].secret);
			free(m->suppliers[k].location);
		}
		free(m->suppliers);
		for (size_t k = 0; k < m->digital.n_products; k++) {
			free(m->digital.products[k].sku);
			free(m->digital.products[k].file);
			free(m->digital.products[k].content_type);
		}
		free(m->digital.products);
		free(m->digital.assets);
		free(m->digital.base_url);
	}
	free(cfg->merchants);
	free(cfg->server.listen_host);
	free(cfg->server.database);
	free(cfg->server.scripts_dir);
	for (size_t i = 0; i < cfg->server.n_trusted_proxies; i++)
		free(cfg->server.trusted_proxies[i]);
	free(cfg->server.trusted_proxies);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const struct merchant_config *config_merchant(const struct ordo_config *cfg,
    const char *id)
{
	if (cfg == NULL || id == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		if (cfg->merchants[i].id != NULL && strcmp(cfg->merchants[i].id, id) == 0)
			return &cfg->merchants[i];
	return NULL;
}

int config_channel_kind(const char *name)
{
	for (int k = 0; name != NULL && k < CH_COUNT; k++)
		if (strcmp(channel_names[k], name) == 0)
			return k;
	return -1;
}

const char *config_channel_name(enum channel_kind kind)
{
	return (unsigned)kind < CH_COUNT ? channel_names[kind] : NULL;
}
