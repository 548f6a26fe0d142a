# onyx - one Makefile for the library, the CLI, tests and benches.
# make                 library + CLI (build/libonyx.a, build/onyx)
# make CC=clang        same with clang
# make test            installs test dependencies when missing, then runs every test
# make asan            conformance suite under address+undefined sanitizers
# make fuzz            libFuzzer target for the loader (clang)
# BUILD=dir            where outputs go (default build)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g -pthread
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wvla -Wno-unused-parameter -Wno-missing-field-initializers
CPPFLAGS := -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude $(EXTRA_CPPFLAGS)
LDLIBS  := -lm -pthread

LIB_SRC := $(wildcard loader/*.c runtime/*.c runtime/passes/*.c ops/*.c quant/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC := $(wildcard tools/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
DEPS    := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

.PHONY: all deps test unit conformance robustness portability zoo parity optimized demo cross asan fuzz clean
all: $(BUILD)/onyx

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libonyx.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/onyx: $(CLI_OBJ) $(BUILD)/libonyx.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(DEPS)

# ---------------------------------------------------------------- tests
PYTHON   := /usr/bin/python3
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/rewrite_model: tests/tools/rewrite_model.c $(BUILD)/libonyx.a
	@mkdir -p $(dir $@)
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libonyx.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libonyx.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libonyx.a $(LDLIBS)

deps:
	@sh tests/deps.sh

# RUN: a wrapper such as qemu-aarch64 for cross-compiled tests
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $(RUN) $$t; done

conformance: $(BUILD)/onyx
	$(PYTHON) tests/conformance.py --onyx $(BUILD)/onyx --expected tests/conformance_pass.txt

robustness: $(BUILD)/onyx
	$(PYTHON) tests/mutate.py --onyx $(BUILD)/onyx

test: deps all
	@MAKE="$(MAKE)" sh tests/run_all.sh

# Builds with clang too, and checks the CLI links nothing but libc and libm.
portability:
	@$(MAKE) --no-print-directory BUILD=build-clang CC=clang build-clang/onyx
	@sh tests/check_deps.sh $(BUILD)/onyx build-clang/onyx

# ARM under qemu: aarch64 (unit tests, conformance, zoo parity of MobileNetV2
# and UDnet) and ARMv6 hard-float, the Raspberry Pi Zero (unit tests, conformance).
cross: zoo
	@sh tests/cross_arm.sh

# The model zoo (models/build_zoo.sh: PyTorch export + ONNX Runtime references),
# cached outside the clone; models/zoo points at it.
zoo:
	@bash models/build_zoo.sh --strict

# Every zoo model against ONNX Runtime, INT8 models (onyx's integer kernels vs
# ONNX Runtime on the same QDQ file, and vs the float parent), and the bisect
# finding an injected fault.
parity: all zoo $(BUILD)/tests/rewrite_model
	@sh tests/zoo_parity.sh $(BUILD)/onyx
	@sh tests/int8_parity.sh $(BUILD)/onyx
	@sh tests/roundtrip_test.sh $(BUILD)
	@$(MAKE) --no-print-directory BUILD=build-hooks EXTRA_CPPFLAGS=-DONYX_TEST_HOOKS build-hooks/onyx
	@sh tests/bisect_test.sh build-hooks/onyx

# `onyx optimize` on every zoo model: the standard-op file through ONNX Runtime
# and the fused-op file through onyx reproduce the zoo's references.
optimized: all zoo
	@sh tests/optimized_test.sh $(BUILD)/onyx

# The README's first command: set up, build, build the zoo, run every model.
demo: all zoo
	@sh tools/demo.sh $(BUILD)/onyx

# The whole conformance suite under address and undefined-behaviour sanitizers;
# any report is a crash (exit 99) and fails the run.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# Also the weights test (weights unaligned in a mapped file, released after
# packing, shared between sessions and threads), which only sanitizers see through.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" build-asan/onyx build-asan/tests/test_weights
	ASAN_OPTIONS=exitcode=99:detect_leaks=1 UBSAN_OPTIONS=exitcode=99:print_stacktrace=1 build-asan/tests/test_weights
	ASAN_OPTIONS=exitcode=99:detect_leaks=1 UBSAN_OPTIONS=exitcode=99:print_stacktrace=1 \
	    $(PYTHON) tests/conformance.py --onyx build-asan/onyx --expected tests/conformance_pass.txt --timeout 600

# libFuzzer on the loader and session creation, seeded with the suite's models.
FUZZ_SECONDS ?= 30
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libonyx.a
	@mkdir -p build-fuzz/corpus
	clang $(CPPFLAGS) $(WARN) -O1 -g $(FUZZ_SAN) tests/fuzz_loader.c build-fuzz/libonyx.a -lm -o build-fuzz/fuzz_loader
	@for f in /usr/share/libonnx-testdata/data/*/*/model.onnx; do \
	    d=build-fuzz/corpus/$$(echo $$f | md5sum | cut -c1-12).onnx; [ -e $$d ] || cp $$f $$d; done
	build-fuzz/fuzz_loader -artifact_prefix=build-fuzz/ -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 build-fuzz/corpus >build-fuzz/fuzz.log 2>&1 || (tail -40 build-fuzz/fuzz.log; exit 1)
	@grep -E 'stat::number_of_executed_units' build-fuzz/fuzz.log

clean:
	rm -rf build build-asan build-fuzz build-clang build-hooks build-aarch64 build-armv6

# ---------------------------------------------------------------- bench
# Every zoo model in onyx and in ONNX Runtime (bench/run.py, bench/ort_bench.js),
# 1 and 2 threads, alternating; writes bench/results/latest.json and .md.
# Then INT8 (bench/int8.py): each model quantized, onyx FP32 / onyx INT8 / ORT on
# the same QDQ file, sizes and accuracy; writes bench/results/int8.json and .md.
.PHONY: bench bench-int8
bench: $(BUILD)/onyx
	$(PYTHON) bench/run.py --onyx $(BUILD)/onyx
	$(PYTHON) bench/int8.py --onyx $(BUILD)/onyx

bench-int8: $(BUILD)/onyx
	$(PYTHON) bench/int8.py --onyx $(BUILD)/onyx
