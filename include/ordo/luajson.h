/*
 * luajson — conversion between jansson values and Lua values.
 *
 * JSON integers become Lua integers and back (int64 both ways, so storefront
 * ids above 2^53 stay exact); JSON reals become Lua floats; null becomes
 * nil (an object key with null is absent in Lua). A Lua table is an array
 * when its keys are exactly 1..n (n > 0), otherwise an object whose keys
 * must be strings (or integers, written as decimal text). An empty table is
 * an empty object.
 */
#ifndef ORDO_LUAJSON_H
#define ORDO_LUAJSON_H

#include <stddef.h>
#include <jansson.h>
#include <lua.h>

/* Deepest nesting converted either way. */
#define LUAJSON_MAX_DEPTH 64

/* Most values converted from one Lua value (shared subtables count once
 * per reference). */
#define LUAJSON_MAX_VALUES 200000

/*
 * Push `v` onto L. May raise a Lua error (out of memory, too deep): call it
 * only in protected mode, and hold nothing C-owned across it.
 */
void luajson_push(lua_State *L, const json_t *v);

/*
 * Convert the value at `idx` to a new JSON reference (caller json_decref's).
 * Never raises. @return NULL with a message in err on functions, userdata,
 * threads, cycles, NaN/inf, mixed or non-string keys, depth past the max,
 * or more than LUAJSON_MAX_VALUES values.
 */
json_t *luajson_from_lua(lua_State *L, int idx, char *err, size_t errlen);

#endif
