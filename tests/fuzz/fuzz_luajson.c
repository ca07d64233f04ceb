/*
 * fuzz_luajson — JSON -> Lua -> JSON through luajson.
 *
 * Input: JSON text (any value, NUL escapes allowed), parsed with jansson.
 * The value is pushed with luajson_push inside lua_pcall (it may raise),
 * converted back with luajson_from_lua (which must never raise), and
 * compared with json_equal against what the documented mapping says the
 * round trip gives:
 *   - a null object member is absent; a null array element is a hole;
 *   - a sequence 1..n (n > 0) is an array; an empty table is {}; an array
 *     with holes in the middle comes back as an object keyed by the
 *     decimal indexes that are left ("1", "3"); trailing holes vanish;
 *   - integers come back as the same integers, reals as the same doubles
 *     (compared as values, never printed).
 * The push must fail exactly when containers nest deeper than
 * LUAJSON_MAX_DEPTH (the root container is level 1), and then the
 * conversion is not attempted.
 */
#include <inttypes.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ordo/luajson.h"
#include "fuzz_common.h"

static lua_State *L;

/* Container nesting: 0 for a scalar, 1 for [] or {}, ... */
static int depth_of(const json_t *v)
{
	int d = 0;

	if (json_is_object(v)) {
		const char *k;
		json_t *item;

		json_object_foreach((json_t *)v, k, item) {
			int c = depth_of(item);

			if (c > d)
				d = c;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *item;

		json_array_foreach(v, i, item) {
			int c = depth_of(item);

			if (c > d)
				d = c;
		}
		return d + 1;
	}
	return 0;
}

/* What the round trip must give for v (a new reference). */
static json_t *expected(const json_t *v)
{
	json_t *out;

	if (json_is_object(v)) {
		const char *k;
		json_t *item;

		out = json_object();
		json_object_foreach((json_t *)v, k, item) {
			size_t klen = json_object_iter_key_len(json_object_key_to_iter(k));

			if (json_is_null(item))
				continue;
			if (json_object_setn_new(out, k, klen, expected(item)) != 0)
				abort();
		}
		return out;
	}
	if (json_is_array(v)) {
		size_t n = json_array_size(v), count = 0, max = 0, i;
		json_t *item;

		json_array_foreach(v, i, item) {
			if (!json_is_null(item)) {
				count++;
				max = i + 1;
			}
		}
		if (count > 0 && count == max) {
			out = json_array();
			for (i = 0; i < max; i++)
				json_array_append_new(out, expected(json_array_get(v, i)));
			return out;
		}
		out = json_object();
		for (i = 0; i < n; i++) {
			char key[24];

			item = json_array_get(v, i);
			if (json_is_null(item))
				continue;
			snprintf(key, sizeof key, "%zu", i + 1);
			json_object_set_new(out, key, expected(item));
		}
		return out;
	}
	return json_deep_copy(v);
}

static int push(lua_State *l)
{
	const json_t *v = lua_touserdata(l, 1);

	luajson_push(l, v);
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((L = luaL_newstate()) == NULL)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *in, *out, *want;
	char err[256];
	int depth, status;

	in = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (in == NULL)
		return 0;
	depth = depth_of(in);

	lua_settop(L, 0);
	lua_pushcfunction(L, push);
	lua_pushlightuserdata(L, in);
	status = lua_pcall(L, 1, 1, 0);
	if (depth > LUAJSON_MAX_DEPTH) {
		FUZZ_CHECK(status != LUA_OK, "a value %d levels deep was pushed (max %d)",
		    depth, LUAJSON_MAX_DEPTH);
		lua_settop(L, 0);
		lua_gc(L, LUA_GCCOLLECT);
		json_decref(in);
		return 0;
	}
	FUZZ_CHECK(status == LUA_OK, "luajson_push failed on a value %d levels deep: %s",
	    depth, lua_tostring(L, -1));

	err[0] = '\0';
	out = luajson_from_lua(L, 1, err, sizeof err);
	FUZZ_CHECK(out != NULL, "luajson_from_lua refused what luajson_push made: %s", err);
	FUZZ_CHECK(lua_gettop(L) == 1, "luajson_from_lua left the stack at %d", lua_gettop(L));

	want = expected(in);
	if (!json_equal(out, want)) {
		char *a = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
		char *b = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));

		FUZZ_CHECK(0, "round trip differs:\n  want %s\n  got  %s", a ? a : "?", b ? b : "?");
	}
	json_decref(want);
	json_decref(out);
	json_decref(in);
	lua_settop(L, 0);
	/* Free this input's tables now: libFuzzer re-runs any input whose
	 * mallocs and frees do not balance, looking for leaks. */
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
