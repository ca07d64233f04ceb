/*
 * log — JSON-lines logging on stderr.
 *
 * One line per record: {"ts":"...Z","level":"info","msg":"...", key: value...}.
 * Values are strings; the encoder escapes them, so any bytes a script or a
 * payload hands us stay one line. Never blocks on anything but the stream.
 */
#ifndef ORDO_LOG_H
#define ORDO_LOG_H

#include <stdio.h>
#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* A JSON string of `s` with each byte that is not part of valid UTF-8
 * replaced by U+FFFD (jansson refuses such text, and a dropped error
 * tells an operator nothing). NULL only when out of memory. */
json_t *json_text_lossy(const char *s);

/* Records below `level` are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);

/* Where records go; default stderr. Tests point it at a memstream. */
void log_set_stream(FILE *fp);

/*
 * Write one record. The variadic part is pairs of `const char *key,
 * const char *value`, ended by a single NULL. A NULL value is written as
 * JSON null.
 */
void log_write(enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
