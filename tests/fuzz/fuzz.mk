# tests/fuzz/fuzz.mk — libFuzzer targets (included by the main Makefile).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="config money"]
#       build every target with clang (-fsanitize=fuzzer,address,undefined)
#       and run each, one after the other on one worker, for FUZZ_SECONDS,
#       starting from tests/fuzz/corpus/<target>/. New inputs go to
#       build/fuzz/corpus/<target>/, crashes to build/fuzz/artifacts/<target>/;
#       the committed corpus is only read. FUZZ_FLAGS adds libFuzzer options
#       (e.g. FUZZ_FLAGS=-runs=1000000); ORDO_FUZZ_KNOWN in the environment
#       skips checks of reported, unfixed bugs (tests/fuzz/README.md).
#   make fuzz-smoke [FUZZ_SMOKE_SECONDS=10]
#       for `make test`: every file in tests/fuzz/regressions/<target>/ once
#       through its target (must not crash), then each target briefly. Skips,
#       saying so, when clang's libFuzzer runtime is not installed.
#   make fuzz-build    just build them (build/fuzz/fuzz_<target>).
#
# Host code is compiled again with clang into build/fuzz/obj/ (coverage and
# sanitizers); the gcc objects in build/obj/ are never reused.

FUZZ_CC            ?= clang
FUZZ_BUILD         := build/fuzz
FUZZ_TARGETS       ?= config webhook money luajson http csv
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_FLAGS         ?=
FUZZ_DEPS           = clang libclang-rt-14-dev

FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter -Iinclude \
                $(FUZZ_SAN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lm

FUZZ_HOST_OBJ = $(patsubst host/%.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out host/main.c,$(wildcard host/*.c))) \
                $(FUZZ_BUILD)/obj/web_assets.o
FUZZ_COMMON   = $(FUZZ_BUILD)/obj/fuzz_common.o
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# Per-target libFuzzer options. The HTTP and webhook targets need bigger
# inputs than the default 4096 bytes (the body limit is 8 KiB in the HTTP
# target's config, fixtures are up to 6 KiB). They keep Lua states and a
# database across inputs, so mallocs and frees never balance per input and
# libFuzzer's per-input leak check would run LeakSanitizer after every one
# (20x slower); their leaks are reported when the process exits instead
# (ASan's leak check at exit fails the run), and the regression inputs run
# with per-input checks.
FUZZ_OPTS_http    = -max_len=16384 -detect_leaks=0
FUZZ_OPTS_webhook = -max_len=16384 -detect_leaks=0
FUZZ_OPTS_config  = -max_len=8192

# Can clang build and link a libFuzzer binary here?
FUZZ_PROBE = mkdir -p $(FUZZ_BUILD) && \
  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  > $(FUZZ_BUILD)/probe.c && \
  $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $(FUZZ_BUILD)/probe $(FUZZ_BUILD)/probe.c >/dev/null 2>&1

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-smoke-run fuzz-tools
.PRECIOUS: $(FUZZ_BUILD)/obj/%.o $(FUZZ_BUILD)/obj/fuzz_%.o

fuzz-tools:
	$(call ensure_pkgs,$(FUZZ_DEPS))

fuzz-build: deps fuzz-tools
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: host/%.c $(wildcard include/ordo/*.h)
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/obj/web_assets.o: build/gen/web_assets.c include/ordo/web.h
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(wildcard include/ordo/*.h)
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -DORDO_ROOT='"$(CURDIR)"' -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz_%.o $(FUZZ_COMMON) $(FUZZ_HOST_OBJ)
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDLIBS)

# Shell: the options and dictionary of target $$t into $$opts.
FUZZ_OPTS_OF = opts=""; \
  case $$t in http) opts="$(FUZZ_OPTS_http)";; webhook) opts="$(FUZZ_OPTS_webhook)";; \
    config) opts="$(FUZZ_OPTS_config)";; esac; \
  [ -f tests/fuzz/dict/$$t.dict ] && opts="$$opts -dict=tests/fuzz/dict/$$t.dict"

# Shell: the first finding in log $(1) (the broken invariant, or the
# sanitizer's report with the top of its stack).
FUZZ_SHOW = awk '/invariant broken|ERROR: [A-Za-z]*Sanitizer|runtime error:/ { n = 14 } n > 0 { print "    " $$0; n-- }' $(1) | head -n 14

# One target at a time, one worker each: the machine is shared.
fuzz: fuzz-build
	@fail=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  $(FUZZ_OPTS_OF); \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=25 -workers=1 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $$opts $(FUZZ_FLAGS) \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	    > $(FUZZ_BUILD)/$$t.log 2>&1 || { fail="$$fail $$t"; $(call FUZZ_SHOW,$(FUZZ_BUILD)/$$t.log); }; \
	  grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' $(FUZZ_BUILD)/$$t.log | sed "s/^/  $$t /"; \
	done; \
	if [ -n "$$fail" ]; then \
	  echo "fuzz: FAILED:$$fail (logs: $(FUZZ_BUILD)/<target>.log, inputs: $(FUZZ_BUILD)/artifacts/<target>/)"; exit 1; \
	fi; echo "fuzz: no crash"

# Installs the fuzzer tools when root (and the network allows); otherwise
# skips rather than failing `make test` on a machine without them.
fuzz-smoke: deps
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory fuzz-tools || true; fi
	@if $(FUZZ_PROBE); then \
	  $(MAKE) --no-print-directory fuzz-smoke-run; \
	else \
	  echo "fuzz-smoke: skipped: clang cannot link a libFuzzer binary (apt-get install -y $(FUZZ_DEPS))"; \
	fi

# Regression inputs run one by one (a crash stops libFuzzer), with every
# check on (ORDO_FUZZ_KNOWN cleared) and the per-input leak check.
fuzz-smoke-run: $(FUZZ_BINS)
	@fail=""; for t in $(FUZZ_TARGETS); do \
	  for f in $$(find tests/fuzz/regressions/$$t -type f 2>/dev/null | sort); do \
	    if ORDO_FUZZ_KNOWN= $(FUZZ_BUILD)/fuzz_$$t $$f > $(FUZZ_BUILD)/regression.log 2>&1; then \
	      echo "fuzz-smoke: $$f: ok"; \
	    else \
	      fail="$$fail $$f"; echo "fuzz-smoke: $$f: FAILED"; \
	      $(call FUZZ_SHOW,$(FUZZ_BUILD)/regression.log); \
	    fi; \
	  done; \
	  rm -rf $(FUZZ_BUILD)/smoke/$$t; mkdir -p $(FUZZ_BUILD)/smoke/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  $(FUZZ_OPTS_OF); \
	  ORDO_FUZZ_KNOWN= $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) -timeout=25 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $$opts \
	    $(FUZZ_BUILD)/smoke/$$t tests/fuzz/corpus/$$t > $(FUZZ_BUILD)/$$t.smoke.log 2>&1 || \
	    { fail="$$fail $$t"; $(call FUZZ_SHOW,$(FUZZ_BUILD)/$$t.smoke.log); }; \
	  echo "fuzz-smoke: $$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/$$t.smoke.log) runs in $(FUZZ_SMOKE_SECONDS)s"; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz-smoke: FAILED:$$fail"; exit 1; fi; echo "fuzz-smoke: ok"
