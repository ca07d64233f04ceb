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
 *
 * The dispatcher uses it too: jsonscan_load() parses a stored payload and
 * jsonscan_push_lua() builds the Lua value luajson_push() would build from
 * jansson's tree, several times faster (a 3 KB order: ~2 us against ~70).
 * Keeps two parsers per thread (one for each use); the document
 * jsonscan_load() returns lives until its next call.
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

struct lua_State;
struct jsonscan_doc;

/*
 * Parse one JSON value for jsonscan_push_lua(). Unsure (NULL) as above,
 * and also for arrays or objects nested max_depth or more levels deep
 * (luajson_push raises there: let it say so).
 * @return the document, valid until the next call on this thread, or NULL.
 */
const struct jsonscan_doc *jsonscan_load(const char *text, size_t len, int max_depth);

/* Push the document as luajson_push() pushes jansson's reading of the same
 * text: objects and arrays as tables, a null member absent, a null element
 * a hole, integers as Lua integers, other numbers as floats, of a key given
 * twice the last. (Only then may pairs() visit an object's keys in another
 * order than on jansson's path: its table is sized for both members. Lua
 * leaves that order unspecified anyway.) Raises what lua_push* raise
 * (memory); allocates nothing itself. */
void jsonscan_push_lua(struct lua_State *L, const struct jsonscan_doc *doc);

#ifdef __cplusplus
}
#endif

#endif
