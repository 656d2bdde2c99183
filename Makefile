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

.PHONY: all deps test unit integration soak run clean fmt fmt-check lint check-layers valgrind bench docker-test \
	openapi-lint
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

run: $(BINS)
	@scripts/run.sh

bench:
	@scripts/deps.sh
	@bench/run.sh

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
include tests/fuzz/fuzz.mk

# Benchmark's ceiling server: same threading model, fixed body.
$(BUILD)/ceiling: $(BUILD)/bench/ceiling.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
