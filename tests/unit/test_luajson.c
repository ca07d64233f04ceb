/*
 * test_luajson — jansson <-> Lua conversion: exact integers, reals, null,
 * arrays vs objects, and every way luajson_from_lua must refuse (cycles,
 * depth, functions, NaN, bad keys) without raising.
 */
#include <lauxlib.h>
#include <lualib.h>

#include "ordo/luajson.h"
#include "t.h"

static lua_State *new_state(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	return L;
}

/* Run Lua code that leaves one value on the stack. */
static void eval(lua_State *L, const char *code)
{
	int rc = luaL_loadstring(L, code);

	if (rc == LUA_OK)
		rc = lua_pcall(L, 0, 1, 0);
	if (rc != LUA_OK) {
		fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
		lua_pop(L, 1);
		lua_pushnil(L);
	}
}

static int push_protected(lua_State *L)
{
	luajson_push(L, lua_touserdata(L, 1));
	return 1;
}

/* luajson_push in protected mode. @return the pcall status. */
static int ppush(lua_State *L, const json_t *v)
{
	lua_pushcfunction(L, push_protected);
	lua_pushlightuserdata(L, (void *)v);
	return lua_pcall(L, 1, 1, 0);
}

/* JSON text -> Lua -> JSON: the same value comes back. */
static void roundtrip(const char *text)
{
	lua_State *L = new_state();
	json_error_t jerr;
	json_t *in = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr), *out;
	char err[256];

	CHECK(in != NULL);
	CHECK_INT(ppush(L, in), LUA_OK);
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(out != NULL);
	if (out != NULL && !json_equal(in, out)) {
		char *a = json_dumps(in, JSON_ENCODE_ANY), *b = json_dumps(out, JSON_ENCODE_ANY);

		fprintf(stderr, "roundtrip: %s became %s\n", a, b);
		CHECK(!"roundtrip equal");
		free(a);
		free(b);
	}
	CHECK_INT(lua_gettop(L), 1);
	json_decref(in);
	json_decref(out);
	lua_close(L);
}

static void test_roundtrips(void)
{
	static const char *const cases[] = {
		"{\"a\":1,\"b\":[1,2,3],\"c\":{\"d\":\"x\",\"e\":[{\"f\":true},false]}}",
		"[1,[2,[3,[4,[5]]]]]",
		"\"h\\u00e9llo\"",
		"\"with\\u0000nul\"",
		"0.1", "-2.5", "1e300", "3.0",
		"9007199254740993",
		"9223372036854775807",
		"-9223372036854775808",
		"true", "false",
		"{}",
		"[\"a\",{\"b\":{}}]",
		"{\"1\":\"string key that looks like a number\"}",
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		roundtrip(cases[i]);
}

static void test_big_integers_stay_exact(void)
{
	lua_State *L = new_state();
	json_t *v = json_loads("{\"id\":9007199254740993,\"max\":9223372036854775807}", 0, NULL);
	json_t *out;
	char err[128];

	CHECK_INT(ppush(L, v), LUA_OK);
	lua_getfield(L, -1, "id");
	CHECK(lua_isinteger(L, -1));
	CHECK(lua_tointeger(L, -1) == INT64_C(9007199254740993));
	lua_pop(L, 1);
	lua_getfield(L, -1, "max");
	CHECK(lua_tointeger(L, -1) == INT64_MAX);
	lua_pop(L, 1);
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(json_is_integer(json_object_get(out, "id")));
	CHECK(json_integer_value(json_object_get(out, "id")) == INT64_C(9007199254740993));
	CHECK(json_integer_value(json_object_get(out, "max")) == INT64_MAX);
	json_decref(v);
	json_decref(out);

	/* A Lua integer stays an integer; a float stays a real. */
	eval(L, "return {i = 3, f = 3.0, r = 0.5}");
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(json_is_integer(json_object_get(out, "i")));
	CHECK(json_is_real(json_object_get(out, "f")));
	CHECK(json_real_value(json_object_get(out, "r")) == 0.5);
	json_decref(out);
	lua_close(L);
}

static void test_null(void)
{
	lua_State *L = new_state();
	json_t *v = json_loads("{\"a\":null,\"b\":1}", 0, NULL), *out;
	char err[128];

	CHECK_INT(ppush(L, v), LUA_OK);
	lua_getfield(L, -1, "a");
	CHECK(lua_isnil(L, -1));
	lua_pop(L, 1);
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(json_object_get(out, "a") == NULL);
	CHECK_INT(json_object_size(out), 1);
	json_decref(v);
	json_decref(out);
	lua_settop(L, 0);

	/* Top-level null and nil. */
	CHECK_INT(ppush(L, json_null()), LUA_OK);
	CHECK(lua_isnil(L, -1));
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(json_is_null(out));
	json_decref(out);
	lua_settop(L, 0);

	/* An empty array has no Lua shape of its own: it comes back as {}. */
	v = json_array();
	CHECK_INT(ppush(L, v), LUA_OK);
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(json_is_object(out) && json_object_size(out) == 0);
	json_decref(v);
	json_decref(out);
	lua_close(L);
}

struct shape_case {
	const char *lua;
	const char *json; /* expected, compact with sorted keys; NULL = error */
	const char *err;  /* substring of the error */
};

static void test_shapes(void)
{
	static const struct shape_case cases[] = {
		{ "return {1, 2, 3}", "[1,2,3]", NULL },
		{ "return {}", "{}", NULL },
		{ "return {a = 1}", "{\"a\":1}", NULL },
		{ "return {[1] = 'a', [3] = 'c'}", "{\"1\":\"a\",\"3\":\"c\"}", NULL },
		{ "return {[2] = 'b'}", "{\"2\":\"b\"}", NULL },
		{ "return {[0] = 'z', [1] = 'a'}", "{\"0\":\"z\",\"1\":\"a\"}", NULL },
		{ "return {{}, {x = {}}}", "[{},{\"x\":{}}]", NULL },
		{ "local t = {1} return {a = t, b = t}", "{\"a\":[1],\"b\":[1]}", NULL },
		{ "return {1, 2, x = 3}", NULL, "mixes integer and string keys" },
		{ "return {[true] = 1}", NULL, "key of type boolean" },
		{ "return {[1.5] = 1}", NULL, "key 1.5" },
		{ "return {a = {b = {print}}}", NULL, "at .a.b[1]: a function value" },
		{ "return print", NULL, "function" },
		{ "return coroutine.create(print)", NULL, "thread" },
		{ "return io.stdout", NULL, "userdata" },
		{ "return {x = 0/0}", NULL, "NaN" },
		{ "return {x = math.huge}", NULL, "infinity" },
		{ "return {x = -math.huge}", NULL, "infinity" },
		{ "local t = {} t.self = t return t", NULL, "cycle" },
		{ "local a, b = {}, {} a[1] = b b[1] = a return a", NULL, "cycle" },
		/* a shared subtable counts once per reference: 22 levels of
		 * {a, a} stand for 2^22 values (found in review: 1.5 GB of malloc) */
		{ "local a = {} for i = 1, 22 do a = {a, a} end return a", NULL, "more than 200000 values" },
		{ "return '\\xff\\xfe'", NULL, "UTF-8" },
		{ "return {['\\xff'] = 1}", NULL, "UTF-8" },
		/* raw access only: metamethods are not consulted */
		{ "return setmetatable({}, {__index = function() error('no') end, "
		  "__pairs = function() error('no') end})", "{}", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		lua_State *L = new_state();
		char err[256];
		json_t *out;

		eval(L, cases[i].lua);
		out = luajson_from_lua(L, -1, err, sizeof err);
		CHECK_INT(lua_gettop(L), 1); /* the stack is as it was */
		if (cases[i].json != NULL) {
			char *text = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

			if (out == NULL)
				fprintf(stderr, "case %zu: %s\n", i, err);
			CHECK_STR(text, cases[i].json);
			free(text);
		} else {
			CHECK(out == NULL);
			CHECK_HAS(err, cases[i].err);
		}
		json_decref(out);
		lua_close(L);
	}
}

static void test_depth_limit(void)
{
	lua_State *L = new_state();
	char err[256], *deep;
	json_t *v, *out;
	int n = LUAJSON_MAX_DEPTH + 10;

	/* Lua -> JSON: past the max depth is an error, not a crash. */
	eval(L, "local t = {} for i = 1, 1000 do t = {t} end return t");
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(out == NULL);
	CHECK_HAS(err, "nested deeper than");
	lua_settop(L, 0);

	/* Exactly at the limit is fine. */
	lua_pushinteger(L, 1);
	for (int i = 0; i < LUAJSON_MAX_DEPTH; i++) {
		lua_createtable(L, 1, 0);
		lua_insert(L, -2);
		lua_rawseti(L, -2, 1);
	}
	out = luajson_from_lua(L, -1, err, sizeof err);
	CHECK(out != NULL);
	json_decref(out);
	lua_settop(L, 0);

	/* JSON -> Lua: raises in protected mode, with a message. */
	deep = malloc((size_t)n * 2 + 2);
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	v = json_loads(deep, 0, NULL);
	CHECK(v != NULL);
	CHECK(ppush(L, v) != LUA_OK);
	CHECK_HAS(lua_tostring(L, -1), "nested deeper than");
	json_decref(v);
	free(deep);
	lua_close(L);
}

static void test_negative_index(void)
{
	lua_State *L = new_state();
	char err[64];
	json_t *out;

	eval(L, "return {a = {1, 2}}");
	lua_pushinteger(L, 7); /* the table is now at -2 */
	out = luajson_from_lua(L, -2, err, sizeof err);
	CHECK(json_is_object(out));
	CHECK_INT(lua_gettop(L), 2);
	json_decref(out);
	lua_close(L);
}

T_MAIN(test_roundtrips, test_big_integers_stay_exact, test_null, test_shapes,
    test_depth_limit, test_negative_index)
