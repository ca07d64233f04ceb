/*
 * jsonscan — see include/ordo/jsonscan.h. The one C++ file: simdjson's DOM
 * API behind C functions, built without exceptions (every simdjson call
 * here returns an error code). Depends on Lua's C API, nothing in ordo.
 */
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <simdjson.h>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "ordo/jsonscan.h"

/* What jsonscan_load hands out: the root of the kept document. */
struct jsonscan_doc {
	simdjson::dom::element root;
};

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

/* simdjson reads past the end of its input: it wants SIMDJSON_PADDING
 * spare bytes, so the body is copied into a buffer kept for the next. */
struct padded {
	char *p = nullptr;
	size_t cap = 0;
	~padded() { std::free(p); }
};

thread_local padded buf, doc_buf;
thread_local simdjson::dom::parser parser, doc_parser;
thread_local jsonscan_doc kept;

/* Parse text with p through b. @return 0 or -1 (malformed, out of memory). */
int parse(simdjson::dom::parser &p, padded &b, const char *text, size_t len, element *out)
{
	if (b.cap < len + simdjson::SIMDJSON_PADDING) {
		size_t cap = len + simdjson::SIMDJSON_PADDING;
		char *q = static_cast<char *>(std::realloc(b.p, cap));

		if (q == nullptr)
			return -1;
		b.p = q;
		b.cap = cap;
	}
	std::memcpy(b.p, text, len);
	std::memset(b.p + len, 0, simdjson::SIMDJSON_PADDING);
	return p.parse(b.p, len, false).get(*out) == simdjson::SUCCESS ? 0 : -1;
}

/* "\u0000" (jansson refuses a NUL) and surrogate escapes (jansson checks
 * their pairing itself): not for the fast path. A backslash's next byte is
 * skipped, so "\\u0000" (an escaped backslash, then text) is not one. */
bool strict_escape(const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	while (p < end && (p = static_cast<const char *>(std::memchr(p, '\\', end - p))) != nullptr) {
		if (end - p >= 6 && p[1] == 'u') {
			const char *h = p + 2;

			if (std::memcmp(h, "0000", 4) == 0 ||
			    ((h[0] == 'd' || h[0] == 'D') && h[1] != '\0' &&
			    std::strchr("89abAB", h[1]) != nullptr))
				return true;
		}
		p += 2;
	}
	return false;
}

/* Anything in `e` jansson reads otherwise or refuses: an integer simdjson
 * holds as uint64 (2^63 and up; jansson: "too big integer"), or an array or
 * object `depth` or more levels down when depth_left reaches 0. */
bool unsure(element e, int depth_left)
{
	simdjson::dom::array arr;
	simdjson::dom::object obj;

	switch (e.type()) {
	case element_type::UINT64:
		return true;
	case element_type::ARRAY:
		if (depth_left <= 0 || e.get_array().get(arr) != simdjson::SUCCESS)
			return true;
		for (element c : arr)
			if (unsure(c, depth_left - 1))
				return true;
		return false;
	case element_type::OBJECT:
		if (depth_left <= 0 || e.get_object().get(obj) != simdjson::SUCCESS)
			return true;
		for (simdjson::dom::key_value_pair kv : obj)
			if (unsure(kv.value, depth_left - 1))
				return true;
		return false;
	default:
		return false;
	}
}

/* The first byte that is not JSON whitespace, or -1. */
int lead(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	return i < len ? static_cast<unsigned char>(text[i]) : -1;
}

/* Every local is trivially destructible: a Lua error may longjmp out. */
void push(lua_State *L, element e)
{
	luaL_checkstack(L, 3, "JSON value nested too deeply");
	/* The type is known, so each value_unsafe() below holds a value. */
	switch (e.type()) {
	case element_type::OBJECT: {
		simdjson::dom::object obj = e.get_object().value_unsafe();

		lua_createtable(L, 0, static_cast<int>(obj.size() < (1u << 20) ? obj.size() : 1u << 20));
		for (simdjson::dom::key_value_pair kv : obj) {
			lua_pushlstring(L, kv.key.data(), kv.key.size());
			/* A null member is an absent key; set as nil, so that of a
			 * key given twice the last wins, as in jansson. */
			if (kv.value.is_null())
				lua_pushnil(L);
			else
				push(L, kv.value);
			lua_rawset(L, -3);
		}
		break;
	}
	case element_type::ARRAY: {
		simdjson::dom::array arr = e.get_array().value_unsafe();
		lua_Integer i = 0;

		lua_createtable(L, static_cast<int>(arr.size() < (1u << 20) ? arr.size() : 1u << 20), 0);
		for (element c : arr) {
			push(L, c); /* null elements leave holes */
			lua_rawseti(L, -2, ++i);
		}
		break;
	}
	case element_type::STRING: {
		std::string_view s = e.get_string().value_unsafe();

		lua_pushlstring(L, s.data(), s.size());
		break;
	}
	case element_type::INT64:
		lua_pushinteger(L, static_cast<lua_Integer>(e.get_int64().value_unsafe()));
		break;
	case element_type::DOUBLE:
		lua_pushnumber(L, static_cast<lua_Number>(e.get_double().value_unsafe()));
		break;
	case element_type::BOOL:
		lua_pushboolean(L, e.get_bool().value_unsafe());
		break;
	default:
		lua_pushnil(L);
		break;
	}
}

void member_text(element v, char *out)
{
	int64_t n;
	std::string_view s;

	if (v.type() == element_type::INT64 && v.get_int64().get(n) == simdjson::SUCCESS) {
		std::snprintf(out, JSONSCAN_LEN, "%" PRId64, n);
	} else if (v.type() == element_type::STRING && v.get_string().get(s) == simdjson::SUCCESS &&
	    s.size() < JSONSCAN_LEN && std::memchr(s.data(), '\0', s.size()) == nullptr) {
		std::memcpy(out, s.data(), s.size());
		out[s.size()] = '\0';
	}
}

} // namespace

extern "C" int jsonscan_object(const char *text, size_t len, const char *const keys[JSONSCAN_KEYS],
    char out[JSONSCAN_KEYS][JSONSCAN_LEN])
{
	element doc;
	simdjson::dom::object obj;
	int seen[JSONSCAN_KEYS] = { 0 };

	for (int k = 0; k < JSONSCAN_KEYS; k++)
		out[k][0] = '\0';
	/* Only '{' may lead: simdjson might skip a byte-order mark jansson refuses. */
	if (lead(text, len) != '{' || strict_escape(text, len) ||
	    parse(parser, buf, text, len, &doc) != 0 ||
	    doc.get_object().get(obj) != simdjson::SUCCESS || unsure(doc, INT32_MAX))
		return 0;
	for (simdjson::dom::key_value_pair kv : obj) {
		for (int k = 0; k < JSONSCAN_KEYS; k++) {
			if (keys[k] == nullptr || kv.key != keys[k])
				continue;
			if (seen[k]++ > 0) {
				for (int j = 0; j < JSONSCAN_KEYS; j++)
					out[j][0] = '\0';
				return 0;
			}
			member_text(kv.value, out[k]);
		}
	}
	return 1;
}

extern "C" const struct jsonscan_doc *jsonscan_load(const char *text, size_t len, int max_depth)
{
	int c = lead(text, len);

	if (c < 0 || c >= 0x80 || strict_escape(text, len) ||
	    parse(doc_parser, doc_buf, text, len, &kept.root) != 0 || unsure(kept.root, max_depth))
		return nullptr;
	return &kept;
}

extern "C" void jsonscan_push_lua(lua_State *L, const struct jsonscan_doc *doc)
{
	push(L, doc->root);
}
