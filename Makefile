# normcache - see README.md. `make` builds, `make test` tests, `make run` serves.
# Every target installs missing Debian packages by itself (scripts/deps.sh).

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2 -g
PKGS     := libmicrohttpd hiredis libutf8proc libcurl libcrypto
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# A fresh machine has none of the libraries: install them before pkg-config
# is asked for flags, unless the goal is `deps` itself.
ifeq ($(filter deps fmt fmt-check clean,$(MAKECMDGOALS)),)
ifneq ($(shell scripts/deps.sh --check >/dev/null 2>&1 || echo missing),)
$(info normcache: installing missing packages (scripts/deps.sh))
DEPS_STATUS := $(shell scripts/deps.sh >&2 && echo ok)
ifneq ($(DEPS_STATUS),ok)
$(error scripts/deps.sh failed: install the packages it names and retry)
endif
endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread

CFLAGS   := -std=c11 -Wall -Wextra -Werror $(OPT) -D_GNU_SOURCE -Iinclude \
            -DNC_VERSION=\"$(VERSION)\" -MMD -MP $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  += $(EXTRA_LDFLAGS)
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(shell find src -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libnormcache.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BINS     := $(BUILD)/normcache $(BUILD)/upstream-stub

.PHONY: all deps test unit integration soak run clean fmt fmt-check lint check-layers valgrind bench profile \
        docker-test asan tsan openapi-lint
# Keep intermediate objects (and keep make quiet after the test summary).
.SECONDARY:
all: $(BINS)

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/normcache: $(BUILD)/cmd/normcache/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The stub is every .c file in its directory (stub.h is their shared header).
STUB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard cmd/upstream-stub/*.c)))
$(BUILD)/upstream-stub: $(STUB_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# The README's test command. tests/run.sh starts its own redis-server.
test: $(BINS) $(UNIT_BIN)
	@BUILD=$(BUILD) tests/run.sh

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) tests/run.sh --unit

integration: $(BINS)
	@BUILD=$(BUILD) tests/run.sh --integration

# The long fault-injection run (README "Reliability"): 1 000 000 mixed requests.
soak: $(BINS)
	@BUILD=$(BUILD) NC_SOAK_REQUESTS=1000000 NC_TEST_ONLY='^test_fault_memory' tests/run.sh --integration

# Integration suite with every server under valgrind's memcheck.
valgrind: $(BINS) $(UNIT_BIN)
	@BUILD=$(BUILD) NC_VALGRIND=1 tests/run.sh

# Sanitizer builds, each in its own folder, with every report fatal
# (tests/run.sh gives each unit binary and script a log_path for reports,
# keeps the stderr of every process a script starts, and fails the part that
# leaves a report). Timings in the scripts are scaled (NC_TIME_SCALE).
# asan: the whole suite under AddressSanitizer (leaks included) and
# UndefinedBehaviorSanitizer (plus float-cast-overflow, which GCC leaves out
# of "undefined"). tsan: the unit tests and the scripts matching TSAN_SCRIPTS
# (a regex, default NC_TEST_ONLY or all) under ThreadSanitizer, services with THREADS=4;
# tests/tsan.supp lists what is not ours.
SAN_MAKE    = $(MAKE) --no-print-directory
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
TSAN_SCRIPTS ?= $(or $(NC_TEST_ONLY),.)

asan:
	@$(SAN_MAKE) BUILD=$(ASAN_BUILD) SANITIZE=address,undefined,float-cast-overflow \
		EXTRA_CFLAGS=-fno-sanitize-recover=all all $(UNIT_BIN:$(BUILD)/%=$(ASAN_BUILD)/%)
	@BUILD=$(ASAN_BUILD) NC_SANITIZE=1 NC_TIME_SCALE=$${NC_TIME_SCALE:-2} \
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		tests/run.sh

tsan:
	@$(SAN_MAKE) BUILD=$(TSAN_BUILD) SANITIZE=thread \
		all $(UNIT_BIN:$(BUILD)/%=$(TSAN_BUILD)/%)
	@BUILD=$(TSAN_BUILD) NC_SANITIZE=1 NC_TIME_SCALE=$${NC_TIME_SCALE:-3} NC_TEST_THREADS=4 \
		NC_TEST_ONLY='$(TSAN_SCRIPTS)' \
		TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp" \
		tests/run.sh

run: $(BINS)
	@scripts/run.sh

bench:
	@scripts/deps.sh
	@bench/run.sh

profile:
	@bench/profile.sh

docker-test:
	@tests/docker/run.sh

fmt:
	clang-format -i $$(find src include cmd tests bench -name '*.[ch]')

fmt-check:
	clang-format --dry-run -Werror $$(find src include cmd tests bench -name '*.[ch]')

# Layering (scripts/check_layers.sh: no include cycle between modules, no .c
# over 600 lines), then static analysis: cppcheck and clang-tidy (.clang-tidy)
# must stay quiet.
lint: check-layers
	cppcheck --enable=warning,performance,portability --std=c11 --quiet --error-exitcode=1 \
		-Iinclude --suppress=missingIncludeSystem src cmd
	clang-tidy --quiet --warnings-as-errors='*' $(LIB_SRC) $(wildcard cmd/*/*.c) -- -std=c11 -D_GNU_SOURCE \
		-DNC_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS)

check-layers:
	@scripts/check_layers.sh

# docs/openapi.yaml linted by Redocly CLI (pinned, from npm; see the script).
openapi-lint:
	@scripts/openapi_lint.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# libFuzzer targets (`make fuzz`) and the network fuzzer (`make netfuzz`).
# Optional, so that a tree without tests/ (the Docker build stage) still builds.
-include tests/fuzz/fuzz.mk

# Benchmark's ceiling server: same threading model, fixed body.
$(BUILD)/ceiling: $(BUILD)/bench/ceiling.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The near cache's micro benchmark (bench/near_bench.c): ops/s, 1 vs 2 threads.
$(BUILD)/near-bench: $(BUILD)/bench/near_bench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
