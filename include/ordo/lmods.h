/*
 * lmods — the host's own Lua modules, which every sandbox gets.
 *
 *   log     log.debug/info/warn/error(msg [, fields])   (host/l_log.c)
 *   money   money.parse/format/exponent                 (host/l_money.c)
 *   json    json.encode/decode                          (host/l_json.c)
 *   time    time.iso/parse                              (host/l_time.c)
 *
 * plus two globals: print (to the log, tagged with the merchant) and
 * now() (ms UTC from clock_now_ms()). The openers push the module's table,
 * luaopen_ style; sandbox.c installs them. l_log needs a state made by
 * sandbox_new() (it tags records with the merchant); the others work in
 * any state.
 */
#ifndef ORDO_LMODS_H
#define ORDO_LMODS_H

#include <lua.h>

int l_log_open(lua_State *L);
int l_money_open(lua_State *L);
int l_json_open(lua_State *L);
int l_time_open(lua_State *L);

/* The `print` replacement: one info record, args tostring'd and
 * tab-joined. May raise (a __tostring that raises, out of memory). */
int l_log_print(lua_State *L);

/* The global `now()`: integer ms UTC. */
int l_time_now(lua_State *L);

/* json.encode as a C function: encodes the value at index 1, pushes the
 * string. Raises on values JSON cannot hold. l_log uses it for tables. */
int l_json_encode(lua_State *L);

#endif
