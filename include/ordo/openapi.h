/*
 * openapi — the API's OpenAPI 3 description (api/openapi.json), built into
 * the binary by the Makefile (build/gen/openapi_json.c) and served at
 * GET /api/v1/openapi.json.
 */
#ifndef ORDO_OPENAPI_H
#define ORDO_OPENAPI_H

#include <stddef.h>

/* The document's bytes (not NUL-terminated) and their count. */
extern const unsigned char openapi_json[];
extern const size_t openapi_json_len;

#endif
