# Crash soak (tests/soak/): kill -9 under load, restart on the same database,
# then check every acknowledged delivery against the database.
#
#   make soak ROUNDS=20      the full soak (a minute or so)
#   make soak-short          3 rounds (~10 s); part of `make test`
#
# SOAK_FLAGS passes more options to soak.py (--seed N, --senders N,
# --rate N, --keep ...); SANITIZE=address,undefined soaks the sanitizer build.

ROUNDS     ?= 20
SOAK_FLAGS ?=
SOAK        = /usr/bin/python3 tests/soak/soak.py --ordo $(abspath $(BUILD)/ordo)

.PHONY: soak soak-short soak-deps

soak-deps: deps
	$(call ensure_pkgs,python3)

soak: soak-deps $(BUILD)/ordo
	$(SOAK) --rounds $(ROUNDS) $(SOAK_FLAGS)

soak-short: soak-deps $(BUILD)/ordo
	$(SOAK) --rounds 3 $(SOAK_FLAGS)
