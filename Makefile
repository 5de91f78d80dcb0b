# shoal: plain Makefile. Everything is discovered from the tree:
#   lib/<topic>/*.c      -> $(O)/libshoal.a
#   bin/<prog>/*.c       -> $(O)/bin/<prog>
#   tests/unit/<t>.c     -> $(O)/tests/<t>        (run by tests/unit.bats)
#   tests/tools/<t>.c    -> $(O)/tests/<t>        (helpers that tests drive)
#   lib/proto/shoal.schema -> $(O)/gen/proto_gen.{h,c} (lib/proto/gen.py; never edited)
# O selects the build directory: `make check-asan` builds the same tree in build-asan/.

O        ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
PYTHON   ?= python3

CC       ?= gcc
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -pthread -D_GNU_SOURCE $(WARN) $(if $(WERROR),-Werror) $(EXTRA_CFLAGS)
CPPFLAGS += -Ilib -I$(O)/gen -MMD -MP
LDLIBS   := -lcbor -lev -lsodium -ltdb -lm
LDFLAGS  += $(EXTRA_LDFLAGS)

ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
GEN_SRC   := $(O)/gen/proto_gen.c
LIB_OBJ   := $(LIB_SRC:%.c=$(O)/obj/%.o) $(O)/gen/proto_gen.o
PROGS     := $(notdir $(patsubst %/,%,$(sort $(dir $(wildcard bin/*/*.c)))))
BINS      := $(PROGS:%=$(O)/bin/%)
TEST_SRC  := $(sort $(wildcard tests/unit/*.c tests/tools/*.c))
TESTS     := $(patsubst tests/%.c,$(O)/tests/%,$(TEST_SRC))
# Daemons go to libexec/shoal, everything else (the CLIs) to bin.
DAEMONS   := $(filter memberd leaderd dbd recoverd vacuumd ipd svcd logfwd,$(PROGS))
CLIS      := $(filter-out $(DAEMONS),$(PROGS))

.PHONY: all all-asan deps check check-asan bench fuzz demo install clean tests
all: deps $(BINS) $(TESTS)

# Install missing packages only when something is missing (deps.sh --check is quick).
deps:
	@contrib/deps.sh --check 2>/dev/null || contrib/deps.sh

# One run of gen.py makes both files: a grouped target (&:), or make runs it once for each
# and the second run leaves every object older than the header it was built against. Every
# object waits for this header, and the header for deps, so `make -j` on a fresh machine
# installs the libraries' headers before it compiles against them.
$(O)/gen/proto_gen.c $(O)/gen/proto_gen.h &: lib/proto/shoal.schema lib/proto/gen.py | deps
	@mkdir -p $(O)/gen
	$(PYTHON) lib/proto/gen.py lib/proto/shoal.schema $(O)/gen/proto_gen

# Every object may include the generated header.
$(O)/obj/%.o: %.c | $(O)/gen/proto_gen.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/gen/proto_gen.o: $(O)/gen/proto_gen.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/libshoal.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

define PROG_RULE
$(O)/bin/$(1): $(patsubst %.c,$(O)/obj/%.o,$(wildcard bin/$(1)/*.c)) $(O)/libshoal.a
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call PROG_RULE,$(p))))

$(O)/tests/%: $(O)/obj/tests/%.o $(O)/libshoal.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: all

# Keep objects of tests (pattern-rule intermediates) so rebuilds are incremental.
.SECONDARY:

# The test command of the README. SHOAL_BUILD tells the suites which build to drive.
check: all
	SHOAL_BUILD=$(abspath $(O)) tests/run-suites

check-asan:
	$(MAKE) O=build-asan EXTRA_CFLAGS="$(ASAN_FLAGS)" EXTRA_LDFLAGS="$(ASAN_FLAGS)" check

# The sanitized build alone (.ci/run builds it once, then runs its suites in two halves).
all-asan:
	$(MAKE) O=build-asan EXTRA_CFLAGS="$(ASAN_FLAGS)" EXTRA_LDFLAGS="$(ASAN_FLAGS)" all

bench: all
	SHOAL_BUILD=$(abspath $(O)) tests/bench/run

# libFuzzer target for the protocol decoder (clang); runs a short smoke pass.
fuzz: deps
	contrib/deps.sh --check fuzz 2>/dev/null || contrib/deps.sh fuzz
	$(MAKE) O=build-fuzz CC=clang \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
		$(patsubst %.c,build-fuzz/obj/%.o,$(wildcard lib/proto/*.c)) build-fuzz/gen/proto_gen.o
	@mkdir -p build-fuzz/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Ilib -Ibuild-fuzz/gen -o build-fuzz/fuzz/proto_decode \
		tests/fuzz/proto_decode.c $(patsubst %.c,build-fuzz/obj/%.o,$(wildcard lib/proto/*.c)) \
		build-fuzz/gen/proto_gen.o -lcbor
	@echo "run: build-fuzz/fuzz/proto_decode -max_total_time=60 tests/fuzz/corpus"

demo: all
	SHOAL_BUILD=$(abspath $(O)) tests/demo

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/shoal $(DESTDIR)$(PREFIX)/share/shoal
	$(if $(CLIS),install -m 755 $(CLIS:%=$(O)/bin/%) $(DESTDIR)$(PREFIX)/bin)
	$(if $(DAEMONS),install -m 755 $(DAEMONS:%=$(O)/bin/%) $(DESTDIR)$(PREFIX)/libexec/shoal)
	cp -R svc conf events.d $(DESTDIR)$(PREFIX)/share/shoal/

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(O) -name '*.d' 2>/dev/null)
