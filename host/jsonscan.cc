/*
 * jsonscan — see include/ordo/jsonscan.h. The one C++ file: simdjson's DOM
 * API behind a C function, built without exceptions (every simdjson call
 * here returns an error code). Depends on nothing else in ordo.
 */
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <simdjson.h>

#include "ordo/jsonscan.h"

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

thread_local padded buf;
thread_local simdjson::dom::parser parser;

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

/* An integer simdjson holds as uint64 (2^63 and up) anywhere in `e`:
 * jansson refuses those ("too big integer"). */
bool has_uint64(element e)
{
	simdjson::dom::array arr;
	simdjson::dom::object obj;

	switch (e.type()) {
	case element_type::UINT64:
		return true;
	case element_type::ARRAY:
		if (e.get_array().get(arr) != simdjson::SUCCESS)
			return true;
		for (element c : arr)
			if (has_uint64(c))
				return true;
		return false;
	case element_type::OBJECT:
		if (e.get_object().get(obj) != simdjson::SUCCESS)
			return true;
		for (simdjson::dom::key_value_pair kv : obj)
			if (has_uint64(kv.value))
				return true;
		return false;
	default:
		return false;
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
	size_t i = 0;

	for (int k = 0; k < JSONSCAN_KEYS; k++)
		out[k][0] = '\0';
	/* Only '{' may lead: simdjson would skip a byte-order mark jansson refuses. */
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len || text[i] != '{' || strict_escape(text, len))
		return 0;
	if (buf.cap < len + simdjson::SIMDJSON_PADDING) {
		size_t cap = len + simdjson::SIMDJSON_PADDING;
		char *p = static_cast<char *>(std::realloc(buf.p, cap));

		if (p == nullptr)
			return 0;
		buf.p = p;
		buf.cap = cap;
	}
	std::memcpy(buf.p, text, len);
	std::memset(buf.p + len, 0, simdjson::SIMDJSON_PADDING);
	if (parser.parse(buf.p, len, false).get(doc) != simdjson::SUCCESS ||
	    doc.get_object().get(obj) != simdjson::SUCCESS || has_uint64(doc))
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
