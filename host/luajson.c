/*
 * luajson — jansson values to Lua values and back.
 *
 * Depends on jansson and the Lua C API only. Two directions with two
 * different contracts:
 *
 *  - luajson_push() runs inside Lua (a binding, or the sandbox's protected
 *    call) and may raise: out of memory, or a document nested deeper than
 *    LUAJSON_MAX_DEPTH. It owns nothing, so a raise leaks nothing.
 *  - luajson_from_lua() is called from C with values a script built, and
 *    must never raise: it reads tables with raw access only (no
 *    metamethods run), never converts a value in place (lua_tolstring on a
 *    number would allocate, and on a key would confuse lua_next), and asks
 *    lua_checkstack instead of luaL_checkstack. Every failure becomes NULL
 *    plus a message naming where in the value it happened (".items[2].price").
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/luajson.h"

/* ------------------------------------------------------------------ */
/* JSON -> Lua                                                         */
/* ------------------------------------------------------------------ */

static void push_value(lua_State *L, const json_t *v, int depth)
{
	luaL_checkstack(L, 3, "JSON value nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *item;

		if (depth >= LUAJSON_MAX_DEPTH)
			luaL_error(L, "JSON value nested deeper than %d levels", LUAJSON_MAX_DEPTH);
		lua_createtable(L, 0, (int)(json_object_size(v) < 1u << 20 ? json_object_size(v) : 1u << 20));
		json_object_foreach((json_t *)v, key, item) {
			if (json_is_null(item))
				continue; /* a null member is an absent key */
			lua_pushlstring(L, key, json_object_iter_key_len(json_object_key_to_iter(key)));
			push_value(L, item, depth + 1);
			lua_rawset(L, -3);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);

		if (depth >= LUAJSON_MAX_DEPTH)
			luaL_error(L, "JSON value nested deeper than %d levels", LUAJSON_MAX_DEPTH);
		lua_createtable(L, (int)(n < 1u << 20 ? n : 1u << 20), 0);
		for (size_t i = 0; i < n; i++) {
			/* null elements leave holes, as nil does in a Lua sequence */
			push_value(L, json_array_get(v, i), depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, (lua_Number)json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
	default:
		lua_pushnil(L);
		break;
	}
}

void luajson_push(lua_State *L, const json_t *v)
{
	if (v == NULL)
		lua_pushnil(L);
	else
		push_value(L, v, 0);
}

/* ------------------------------------------------------------------ */
/* Lua -> JSON                                                         */
/* ------------------------------------------------------------------ */

struct conv {
	lua_State *L;
	char *err;
	size_t errlen;
	/* The tables on the path from the root to here: a table met again on
	 * its own path is a cycle (a table shared by siblings is fine). */
	const void *path_tables[LUAJSON_MAX_DEPTH];
	/* Where we are, for messages: ".items[2].price". */
	char where[160];
	size_t wlen;
	/* Values converted so far: a table shared by siblings is converted
	 * once per reference, so a small DAG can stand for billions of values
	 * built with plain malloc, outside the sandbox's memory cap. */
	size_t values;
};

static json_t *fail(struct conv *c, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->err != NULL && c->errlen > 0) {
		if (c->wlen > 0)
			snprintf(c->err, c->errlen, "at %s: %s", c->where, msg);
		else
			snprintf(c->err, c->errlen, "%s", msg);
	}
	return NULL;
}

/* Append one path step; the path is only for messages, so it is cut
 * (with "...") rather than failing when it grows long. */
static size_t path_push(struct conv *c, const char *fmt, ...)
{
	size_t old = c->wlen;
	va_list ap;
	int n;

	if (old >= sizeof c->where - 4)
		return old;
	va_start(ap, fmt);
	n = vsnprintf(c->where + old, sizeof c->where - old, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof c->where - old) {
		memcpy(c->where + sizeof c->where - 4, "...", 4);
		c->wlen = sizeof c->where - 1;
	} else {
		c->wlen = old + (size_t)n;
	}
	return old;
}

static void path_pop(struct conv *c, size_t old)
{
	c->wlen = old;
	c->where[old] = '\0';
}

static json_t *convert(struct conv *c, int idx, int depth);

/*
 * Classify a table's keys: *n is the key count; the return value is 'a'
 * (keys are exactly 1..n, n > 0), 'o' (all strings, or all integers as in
 * a sparse array), 'e' (empty), or 0 with c->err set.
 */
static int classify(struct conv *c, int t, lua_Integer *n)
{
	lua_State *L = c->L;
	int strings = 0, ints = 0;
	lua_Integer count = 0, max = 0;

	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		int kt = lua_type(L, -2);

		lua_pop(L, 1); /* the value; the key stays for lua_next */
		count++;
		if (kt == LUA_TSTRING) {
			strings = 1;
		} else if (kt == LUA_TNUMBER && lua_isinteger(L, -1)) {
			lua_Integer k = lua_tointeger(L, -1);

			ints = 1;
			/* n distinct integer keys, all in 1..n, are exactly 1..n */
			if (k < 1)
				max = LUA_MAXINTEGER;
			else if (k > max)
				max = k;
		} else if (kt == LUA_TNUMBER) {
			double d = (double)lua_tonumber(L, -1);

			lua_pop(L, 1);
			fail(c, "table key %g is neither a string nor an integer", d);
			return 0;
		} else {
			lua_pop(L, 1);
			fail(c, "table key of type %s (keys must be strings)",
			    lua_typename(L, kt));
			return 0;
		}
	}
	*n = count;
	if (count == 0)
		return 'e';
	if (strings && ints) {
		fail(c, "table mixes integer and string keys");
		return 0;
	}
	if (strings)
		return 'o';
	return max == count ? 'a' : 'o';
}

static json_t *convert_table(struct conv *c, int t, int depth)
{
	lua_State *L = c->L;
	const void *self = lua_topointer(L, t);
	lua_Integer n = 0;
	json_t *out;
	int kind;

	if (depth >= LUAJSON_MAX_DEPTH)
		return fail(c, "nested deeper than %d levels", LUAJSON_MAX_DEPTH);
	for (int i = 0; i < depth; i++)
		if (c->path_tables[i] == self)
			return fail(c, "table contains itself (a cycle)");
	if (!lua_checkstack(L, 4))
		return fail(c, "out of Lua stack space");
	c->path_tables[depth] = self;

	if ((kind = classify(c, t, &n)) == 0)
		return NULL;

	if (kind == 'a') {
		if ((out = json_array()) == NULL)
			return fail(c, "out of memory");
		for (lua_Integer i = 1; i <= n; i++) {
			size_t mark = path_push(c, "[%" PRId64 "]", (int64_t)i);
			json_t *item;

			lua_rawgeti(L, t, i);
			item = convert(c, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
			path_pop(c, mark);
			if (item == NULL || json_array_append_new(out, item) != 0) {
				json_decref(out);
				return item == NULL ? NULL : fail(c, "out of memory");
			}
		}
		return out;
	}

	if ((out = json_object()) == NULL)
		return fail(c, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		char numkey[24];
		const char *key;
		size_t klen, mark;
		json_t *item;

		/* Read the key from a copy: the original must stay untouched
		 * for lua_next. Strings are read as they are (no conversion,
		 * no allocation); integer keys are formatted here. */
		lua_pushvalue(L, -2);
		if (lua_type(L, -1) == LUA_TSTRING) {
			key = lua_tolstring(L, -1, &klen);
		} else {
			klen = (size_t)snprintf(numkey, sizeof numkey, "%" PRId64,
			    (int64_t)lua_tointeger(L, -1));
			key = numkey;
		}
		mark = path_push(c, ".%.*s", (int)(klen < 40 ? klen : 40), key);
		item = convert(c, lua_gettop(L) - 1, depth + 1);
		path_pop(c, mark);
		if (item == NULL) {
			lua_pop(L, 3);
			json_decref(out);
			return NULL;
		}
		if (json_object_setn_new(out, key, klen, item) != 0) {
			json_t *probe = json_stringn(key, klen);
			int utf8 = probe != NULL;

			json_decref(probe);
			lua_pop(L, 3);
			json_decref(out);
			return utf8 ? fail(c, "out of memory") : fail(c, "key is not valid UTF-8");
		}
		lua_pop(L, 2); /* the key copy and the value */
	}
	return out;
}

static json_t *convert(struct conv *c, int idx, int depth)
{
	lua_State *L = c->L;
	json_t *v;

	if (++c->values > LUAJSON_MAX_VALUES)
		return fail(c, "more than %d values", LUAJSON_MAX_VALUES);

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		v = json_null();
		break;
	case LUA_TBOOLEAN:
		v = json_boolean(lua_toboolean(L, idx));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			v = json_integer((json_int_t)lua_tointeger(L, idx));
		} else {
			double d = (double)lua_tonumber(L, idx);

			if (isnan(d))
				return fail(c, "NaN cannot be written as JSON");
			if (isinf(d))
				return fail(c, "infinity cannot be written as JSON");
			v = json_real(d);
		}
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);

		if ((v = json_stringn(s, len)) == NULL)
			return fail(c, "string is not valid UTF-8");
		return v;
	}
	case LUA_TTABLE:
		return convert_table(c, idx, depth);
	default:
		return fail(c, "a %s value cannot be written as JSON",
		    lua_typename(L, lua_type(L, idx)));
	}
	if (v == NULL)
		return fail(c, "out of memory");
	return v;
}

json_t *luajson_from_lua(lua_State *L, int idx, char *err, size_t errlen)
{
	struct conv c;
	int top = lua_gettop(L);
	json_t *v;

	memset(&c, 0, sizeof c);
	c.L = L;
	c.err = err;
	c.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	v = convert(&c, lua_absindex(L, idx), 0);
	lua_settop(L, top); /* only pops: never raises */
	return v;
}
