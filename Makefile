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
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wvla -Wno-unused-parameter
CPPFLAGS := -D_GNU_SOURCE -Iinclude $(EXTRA_CPPFLAGS)
LDLIBS  := -lm

LIB_SRC := $(wildcard loader/*.c runtime/*.c ops/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
DEPS    := $(LIB_OBJ:.o=.d) $(BUILD)/tools/onyx.d

.PHONY: all test unit conformance robustness asan fuzz clean
all: $(BUILD)/onyx

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libonyx.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/onyx: $(BUILD)/tools/onyx.o $(BUILD)/libonyx.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(DEPS)
