/*
 * l_orders — the `orders` Lua module: thin bindings over orders.h.
 */
#ifndef ORDO_L_ORDERS_H
#define ORDO_L_ORDERS_H

#include <lua.h>

/* Push the `orders` module table. For struct sandbox_module. */
int l_orders_open(lua_State *L);

#endif
