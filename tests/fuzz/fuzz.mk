# fuzz.mk - libFuzzer targets (included by the Makefile; see tests/fuzz/run.sh).
#
#   make fuzz [FUZZ_SECONDS=30] [FUZZ_TARGETS='fuzz_params fuzz_body']
#   make netfuzz     the ASan service under tests/tools/netfuzz.py
#
# The library is rebuilt with clang and the fuzzers' flags into its own
# folder ($(FUZZ_BUILD)) by a sub-make of this Makefile, so the normal build
# is never touched. The same goes for netfuzz's ASan build (BUILD=build-asan
# SANITIZE=address,undefined, the names `make asan` uses).

FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_ALL     := $(sort $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_ALL)
ASAN_BUILD   ?= build-asan
ASAN_SANITIZE ?= address,undefined
NETFUZZ_REQUESTS ?= 25000
NETFUZZ_SECONDS  ?= 240

.PHONY: fuzz fuzz-build fuzz-bins netfuzz

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	@scripts/deps.sh --fuzz
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
		SANITIZE=fuzzer-no-link,address,undefined \
		EXTRA_CFLAGS='-fno-sanitize-recover=all -Wno-unused-command-line-argument' fuzz-bins

# Only meaningful inside the sub-make above (BUILD=$(FUZZ_BUILD)).
fuzz-bins: $(FUZZ_ALL:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

netfuzz:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SANITIZE=$(ASAN_SANITIZE) all
	@BUILD=$(ASAN_BUILD) NETFUZZ_REQUESTS=$(NETFUZZ_REQUESTS) NETFUZZ_SECONDS=$(NETFUZZ_SECONDS) \
		tests/tools/netfuzz.sh
