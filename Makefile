# ordo — build, run, test, bench.
#
#   make run     install what is missing, build, start the daemon on config/ordo.yaml
#   make test    install what is missing, build, run every test
#   make bench   run the benchmarks and print one table
#
# SANITIZE=address,undefined builds into build/san/ with the sanitizers.

CC       ?= cc
PKGS      = lua5.4 sqlite3 libevent yaml-0.1 jansson openssl libcurl
SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD    ?= build
OPT      ?= -O2
else
BUILD    ?= build/san
OPT      ?= -O1
SANFLAGS  = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CFLAGS   += -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
            -Wstrict-prototypes -Wmissing-prototypes -Iinclude $(SANFLAGS) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lm
LDFLAGS  += $(SANFLAGS)

HOST_SRC  = $(wildcard host/*.c)
HOST_OBJ  = $(HOST_SRC:host/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/openapi_json.o
LIB_OBJ   = $(filter-out $(BUILD)/obj/main.o,$(HOST_OBJ))
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Debian packages, by what needs them.
DEPS_BUILD = gcc make pkg-config liblua5.4-dev libsqlite3-dev libevent-dev \
             libyaml-dev libjansson-dev libssl-dev libcurl4-openssl-dev libcsv-dev tzdata
DEPS_TEST  = python3 python3-pytest python3-requests
DEPS_BENCH = wrk python3

PYTEST     = /usr/bin/python3 -m pytest -q -p no:cacheprovider

.PHONY: all run test unit e2e specs bench deps deps-test deps-bench clean check-config

all: deps $(BUILD)/ordo

# Install missing Debian packages when root; otherwise print the exact
# apt-get line and stop.
define ensure_pkgs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "ordo: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null || exit 1; \
	  else \
	    echo "ordo: missing packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call ensure_pkgs,$(DEPS_BUILD))
deps-test: deps
	$(call ensure_pkgs,$(DEPS_TEST))
deps-bench: deps
	$(call ensure_pkgs,$(DEPS_BENCH))

$(BUILD)/obj/%.o: host/%.c $(wildcard include/ordo/*.h) | $(BUILD)/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

# The OpenAPI document, built in as a byte array (od is in coreutils).
$(BUILD)/gen/openapi_json.c: api/openapi.json | $(BUILD)/gen
	@echo "  GEN     $@"
	@{ echo '#include "ordo/openapi.h"'; echo 'const unsigned char openapi_json[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; echo 'const size_t openapi_json_len = sizeof openapi_json;'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/openapi_json.o: $(BUILD)/gen/openapi_json.c include/ordo/openapi.h | $(BUILD)/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/ordo: $(HOST_OBJ)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/t.h $(LIB_OBJ) | $(BUILD)/tests
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/gen var:
	mkdir -p $@

run: all | var
	$(BUILD)/ordo serve -c config/ordo.yaml

check-config: all
	$(BUILD)/ordo check -c config/ordo.yaml

unit: deps $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

# Workflow specs (`ordo test`): the shipped workflows on an in-memory
# database and a virtual clock.
specs: deps $(BUILD)/ordo
	$(BUILD)/ordo test -c tests/workflows/ordo-test.yaml

e2e: deps-test $(BUILD)/ordo
	ORDO_BIN=$(abspath $(BUILD)/ordo) $(PYTEST) tests/e2e

# Everything that guards behaviour: unit tests, config check, workflow specs, end-to-end,
# the unit and end-to-end tests again under ASan and UBSan, a short kill -9
# soak, and the fuzz regressions plus a short run of every fuzz target.
test: deps-test
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory check-config
	$(MAKE) --no-print-directory specs
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory SANITIZE=address,undefined unit specs e2e
	$(MAKE) --no-print-directory soak-short
	$(MAKE) --no-print-directory fuzz-smoke

bench: deps-bench $(BUILD)/ordo
	/usr/bin/python3 tests/bench/run.py --ordo $(BUILD)/ordo

clean:
	rm -rf build

# Fuzz targets (make fuzz FUZZ_SECONDS=N) and the crash soak (make soak ROUNDS=N)
# live with their tests.
-include tests/fuzz/fuzz.mk
-include tests/soak/soak.mk
