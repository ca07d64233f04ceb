/*
 * test_jsonscan — the dispatcher's fast path: jsonscan_push_lua builds the
 * same Lua value luajson_push builds from jansson's tree (same types,
 * integer or float included), and jsonscan_load is unsure wherever the two
 * could differ.
 */
#include <lauxlib.h>
#include <lualib.h>

#include <jansson.h>

#include "ordo/jsonscan.h"
#include "ordo/luajson.h"
#include "t.h"

/* Deep equality that tells an integer from a float of the same value. */
static const char *same_chunk =
    "local function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then return math.type(a) == math.type(b) and a == b end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "return same\n";

/* Push `text` both ways and compare. @return 1 same, 0 different, -1 when
 * jsonscan_load was unsure. */
static int both_ways(lua_State *L, const char *text)
{
	const struct jsonscan_doc *doc = jsonscan_load(text, strlen(text), LUAJSON_MAX_DEPTH);
	json_error_t jerr;
	json_t *v;
	int same;

	if (doc == NULL)
		return -1;
	if ((v = json_loadb(text, strlen(text), JSON_DECODE_ANY, &jerr)) == NULL) {
		fprintf(stderr, "jansson refused what jsonscan took: %s: %s\n", text, jerr.text);
		return 0;
	}
	lua_pushvalue(L, 1);               /* same() */
	jsonscan_push_lua(L, doc);
	luajson_push(L, v);
	json_decref(v);
	lua_call(L, 2, 1);
	same = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return same;
}

static void test_push_same_as_jansson(void)
{
	static const char *const docs[] = {
		"{\"id\":5912345678901234567,\"total\":\"19.99\",\"lines\":[{\"sku\":\"A\",\"q\":2}]}",
		"{\"a\":null,\"b\":[1,null,3],\"c\":{}}",               /* null member absent, hole */
		"{\"a\":1,\"a\":null}",                                   /* last wins: absent */
		"{\"a\":null,\"a\":2}",
		"{\"a\":1,\"a\":\"two\"}",
		"[-0, 0, 1.0, 1e2, -2.5e-3, 1e-400, 9223372036854775807, -9223372036854775808]",
		"\"Zo\\u00eb \\u6771 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"",
		"{\"k\\u00e9y\":\"\xc3\xa9\",\"\":\"empty key\"}",
		"true", "false", "null", "42", "[]", "{}", " [ [ [ ] ] ] ",
	};
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	CHECK_INT(luaL_dostring(L, same_chunk), LUA_OK);
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		int r = both_ways(L, docs[i]);

		if (r != 1)
			fprintf(stderr, "  for %s\n", docs[i]);
		CHECK_INT(r, 1);
	}
	lua_close(L);
}

/* Nested 63 levels luajson pushes; 64 it refuses: jsonscan leaves that to it. */
static void test_depth(void)
{
	char text[300];
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	CHECK_INT(luaL_dostring(L, same_chunk), LUA_OK);
	for (int depth = 63; depth <= 65; depth++) {
		int n = 0;

		for (int i = 0; i <= depth; i++)
			text[n++] = '[';
		for (int i = 0; i <= depth; i++)
			text[n++] = ']';
		text[n] = '\0';
		CHECK_INT(both_ways(L, text), depth < LUAJSON_MAX_DEPTH ? 1 : -1);
	}
	lua_close(L);
}

static void test_unsure(void)
{
	static const char *const docs[] = {
		"[9223372036854775808]",       /* uint64: jansson says too big */
		"[18446744073709551616]",      /* past uint64 */
		"[-9223372036854775809]",
		"[1e400]",
		"\"\\u0000\"",                 /* jansson refuses NUL */
		"\"\\ud83d\\ude00\"",          /* surrogates: jansson checks the pairs */
		"\xef\xbb\xbf{}",              /* byte-order mark */
		"\"\xff\"",                    /* not UTF-8 */
		"[1,]", "", "   ", "{\"a\":1} 2",
	};

	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		if (jsonscan_load(docs[i], strlen(docs[i]), LUAJSON_MAX_DEPTH) != NULL)
			fprintf(stderr, "  for %s\n", docs[i]);
		CHECK(jsonscan_load(docs[i], strlen(docs[i]), LUAJSON_MAX_DEPTH) == NULL);
	}
}

T_MAIN(test_push_same_as_jansson, test_depth, test_unsure)
