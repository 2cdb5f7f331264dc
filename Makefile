# SPDX-License-Identifier: MIT
# Thin front for CMake (see CMakePresets.json). Targets:
#   make / make all   configure (preset default) and build into build/
#   make run          install Debian deps if needed, build, run the world/hello demo
#   make test         deps (incl. npm ci for interop peers), build, ctest (all labels)
#   make test-asan    the same with ASan+UBSan, built with clang, in build-asan/ (with a short
#                     run of each libFuzzer harness, ctest label fuzz)
#   make test-tsan    the thread tests (ctest label threads) under ThreadSanitizer, built with
#                     clang in build-tsan/ (preset tsan): only those tests and the library
#   make fuzz         build-asan/, then each harness of fuzz/ for FUZZ_SECONDS (60) with the
#                     dictionary; FUZZ_ONLY=name (or "a b") narrows it (fuzz/README.md)
#   make test-valgrind
#                     deps (incl. valgrind), build the valgrind tree (preset valgrind: the default
#                     build, in build-valgrind/), ctest VALGRIND_LABELS (unit, integration,
#                     interop, soak, docs) under valgrind memcheck one at a time; slow (README)
#   make soak         build, then the long soak runs (test/soak/run.sh): 10 million events from
#                     4 clients over a Unix socket and over TCP, 10 000 idle connections on one
#                     server; short versions run in `make test` (ctest label soak)
#   make bench        deps (incl. libzmq3-dev, npm ci), build, run the benchmarks (bench/README.md);
#                     BENCH_ARGS is passed to bench/run.js (e.g. BENCH_ARGS="--only latency")
#   make install      cmake --install build --prefix $(PREFIX)   (PREFIX=/usr/local)
#   make format / format-check / clean
.DEFAULT_GOAL := all
MAKEFLAGS += --no-print-directory

PREFIX ?= /usr/local
CMAKE  ?= cmake
CTEST  ?= ctest
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
CLANG_FORMAT ?= clang-format

C_FILES = $(shell find include src examples test fuzz tools bench -name node_modules -prune -o \
                   -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null)

BENCH_ARGS ?=

FUZZ_SECONDS ?= 60
FUZZ_HARNESSES = $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_ONLY ?= $(FUZZ_HARNESSES)

.PHONY: all build run test test-asan test-tsan test-valgrind soak fuzz bench deps deps-node install format format-check clean

all: build

# Configure once per build tree; afterwards `cmake --build` re-runs CMake by itself.
build/CMakeCache.txt:
	$(CMAKE) --preset default
build-asan/CMakeCache.txt:
	$(CMAKE) --preset asan
build-tsan/CMakeCache.txt:
	$(CMAKE) --preset tsan

build: build/CMakeCache.txt
	$(CMAKE) --build --preset default -j $(JOBS)

deps:
	bash scripts/deps.sh --no-node
deps-node:
	bash scripts/deps.sh

run: deps
	$(MAKE) build
	bash scripts/demo.sh build

test: deps-node
	$(MAKE) build
	$(CTEST) --test-dir build --output-on-failure

test-asan: export ASAN_OPTIONS = detect_leaks=1:abort_on_error=1
test-asan: export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
test-asan: deps-node
	$(MAKE) build-asan/CMakeCache.txt
	$(CMAKE) --build --preset asan -j $(JOBS)
	$(CTEST) --test-dir build-asan --output-on-failure

# tests_threads builds the library and the tests labelled threads, nothing else.
test-tsan: export TSAN_OPTIONS = halt_on_error=1:second_deadlock_stack=1
test-tsan: deps
	$(MAKE) build-tsan/CMakeCache.txt
	$(CMAKE) --build --preset tsan -j $(JOBS) --target tests_threads
	$(CTEST) --test-dir build-tsan --output-on-failure -L threads

# Each harness fuzzes from fuzz/corpus/<name> and keeps what it finds in build-asan/fuzz/work/<name>
# (so a second run goes on from there); a crash is saved in build-asan/fuzz/artifacts/.
fuzz: export ASAN_OPTIONS = detect_leaks=1:abort_on_error=1
fuzz: export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
fuzz: deps
	$(MAKE) build-asan/CMakeCache.txt
	$(CMAKE) --build --preset asan -j $(JOBS)
	@for h in $(FUZZ_ONLY); do \
	    [ -f fuzz/fuzz_$$h.c ] || { echo "fuzz: no harness fuzz/fuzz_$$h.c" >&2; exit 2; }; \
	    echo "== fuzz_$$h, $(FUZZ_SECONDS) s"; \
	    bash fuzz/run.sh fuzz build-asan/fuzz/fuzz_$$h fuzz/corpus/$$h $(FUZZ_SECONDS) \
	        fuzz/nipc.dict build-asan/fuzz/artifacts/$$h- build-asan/fuzz/work/$$h || exit 1; \
	done

# The tests whose commands are programs of ours; the others (examples, tools, readme, install,
# bench) drive them from bash or node, which valgrind.sh leaves untraced.
VALGRIND_LABELS ?= unit|integration|interop|soak|docs
build-valgrind/CMakeCache.txt:
	$(CMAKE) --preset valgrind

test-valgrind:
	bash scripts/deps.sh --valgrind
	$(MAKE) build-valgrind/CMakeCache.txt
	$(CMAKE) --build --preset valgrind -j $(JOBS)
	$(CTEST) --test-dir build-valgrind -j1 --output-on-failure -L '$(VALGRIND_LABELS)'

soak: build
	bash test/soak/run.sh build

# Configures again (cheap) so that a libzmq installed since the first configure is found.
bench:
	bash scripts/deps.sh --bench
	$(CMAKE) --preset default
	$(CMAKE) --build --preset default -j $(JOBS)
	node bench/run.js --build-dir build $(BENCH_ARGS)

install: build
	$(CMAKE) --install build --prefix "$(PREFIX)"

format:
	$(CLANG_FORMAT) -i $(C_FILES)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(C_FILES)

clean:
	rm -rf build build-debug build-asan build-tsan build-valgrind
