/*
 * jsonscan — the ingress fast path's look at a JSON body, through simdjson
 * (Debian's libsimdjson, C++; this header is its C face).
 *
 * Checks that a body is one JSON object that jansson, the dispatcher's
 * parser, reads the same way, and reads a few top-level members as exact
 * text. It answers "yes" only when sure; anything it is unsure of goes to
 * jansson, on the cold path, which also explains malformed bodies with a
 * byte offset. Not sure means: malformed (simdjson says only that), not an
 * object, a key asked for given twice (simdjson reads the first, jansson
 * keeps the last), an integer in 2^63..2^64-1 (simdjson's uint64, which
 * jansson refuses), a "\u0000" or surrogate escape (jansson is stricter
 * about both), nesting past simdjson's 1024 levels, or out of memory.
 * Keeps one parser per thread; nothing else outlives a call.
 */
#ifndef ORDO_JSONSCAN_H
#define ORDO_JSONSCAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JSONSCAN_KEYS 3
#define JSONSCAN_LEN 128

/*
 * Read the top-level members `keys` (entries may be NULL) of `text`:
 * integers as their decimal digits (int64, never a double), strings as
 * they are when shorter than JSONSCAN_LEN bytes, anything else or an absent
 * member as "".
 * @return 1 when `text` is an object jansson reads the same way (out
 * filled), 0 when unsure (out is "" throughout).
 */
int jsonscan_object(const char *text, size_t len, const char *const keys[JSONSCAN_KEYS],
    char out[JSONSCAN_KEYS][JSONSCAN_LEN]);

#ifdef __cplusplus
}
#endif

#endif
