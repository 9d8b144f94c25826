# spanrelay — the only entry point: build, run, test, bench, deps.
#
#   make            build/spanrelay (and build/spanrelay-emit)
#   make run        build and start the daemon on config/spanrelay.yaml (installs only what
#                   building and running need)
#   make test       every suite: unit (plain and sanitized), the image, integration, interop
#   make asan       the same binaries under -fsanitize=address,undefined in build/asan
#   make image      the container image localhost/spanrelay:$(VERSION), with podman, no registry
#   make bench      the load benchmark (bench/)
#   make soak       ten minutes of mixed load and faults (tests/soak/; SOAK_SECONDS)
#   make deps       install everything make test needs (idempotent, silent when present)

BUILD   ?= build
SAN     ?=
CC      ?= cc
PKGS    := libuv libnghttp2 libprotobuf-c yaml-0.1 openssl zlib libzstd libdeflate json-c
# Libraries loaded with dlopen, only when a configuration needs them: compiled against,
# never linked. libcurl serves only OTLP/HTTP destinations (daemon/export/curl_lib.h).
# `make dlopen-libs` prints them: the image ships them beside what ldd lists.
CURL_LIB_SONAME := libcurl.so.4
DLOPEN_PKGS := libcurl
DLOPEN_LIBS := $(CURL_LIB_SONAME)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g \
               -DSPANRELAY_VERSION=\"$(VERSION)\" -DCURL_LIB_SONAME=\"$(CURL_LIB_SONAME)\"
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(DLOPEN_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lm
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

PROTOS    := $(shell cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
GEN_DIR   := $(BUILD)/gen
GEN_C     := $(PROTOS:%.proto=$(GEN_DIR)/%.pb-c.c)
GEN_H     := $(PROTOS:%.proto=$(GEN_DIR)/%.pb-c.h)
GEN_O     := $(GEN_C:%.c=%.o)

# daemon/ follows the data flow: receive/ -> pipeline/ -> export/, with base/ under all;
# cli/ holds spanrelay-emit, which shares the library but is not part of the daemon.
DAEMON_DIRS := daemon/base daemon/receive daemon/pipeline daemon/export
LIB_SRCS  := $(wildcard $(DAEMON_DIRS:%=%/*.c)) cli/emit.c
LIB_HDRS  := $(wildcard $(DAEMON_DIRS:%=%/*.h)) cli/emit.h
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(addprefix $(BUILD)/tests/,$(notdir $(UNIT_SRCS:.c=)))

ALL_CFLAGS = $(CFLAGS_BASE) -I$(GEN_DIR) -Idaemon -I. $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_SAN) $(LDFLAGS)

.PHONY: all gen run test asan unit bench deps deps-run deps-image image clean fuzz soak dlopen-libs
.SECONDARY:

all: $(BUILD)/spanrelay $(BUILD)/spanrelay-emit

$(GEN_DIR)/%.pb-c.c $(GEN_DIR)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN_DIR)
	@echo "  PROTOC  $<"
	@protoc-c --proto_path=proto --c_out=$(GEN_DIR) $<

$(GEN_DIR)/%.pb-c.o: $(GEN_DIR)/%.pb-c.c $(GEN_H)
	@echo "  CC      $@"
	@$(CC) $(ALL_CFLAGS) -Wno-unused-parameter -c $< -o $@

# The wire walk is half of the daemon's CPU per span; -O3 makes it about a quarter
# cheaper (make bench), so its two files get it and the rest stays at -O2.
$(BUILD)/obj/daemon/pipeline/otlp.o $(BUILD)/obj/daemon/base/utf8.o: CFLAGS_HOT = -O3

$(BUILD)/obj/%.o: %.c $(LIB_HDRS) $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(ALL_CFLAGS) $(CFLAGS_HOT) -c $< -o $@

$(BUILD)/libspanrelay.a: $(LIB_OBJS) $(GEN_O)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/spanrelay: $(BUILD)/obj/daemon/main.o $(BUILD)/libspanrelay.a
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/spanrelay-emit: $(BUILD)/obj/cli/emit_main.o $(BUILD)/libspanrelay.a
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# A unit suite's binary is named for its file; the source sits in the folder that
# mirrors the daemon file it tests.
vpath test_%.c $(sort $(dir $(UNIT_SRCS)))
$(BUILD)/tests/%: %.c $(wildcard tests/unit/*.h tests/unit/*/*.h) $(BUILD)/libspanrelay.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(ALL_CFLAGS) -Itests/unit $(shell pkg-config --cflags check) -o $@ $< \
	    $(BUILD)/libspanrelay.a $(ALL_LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

gen: $(GEN_C) $(GEN_H)

dlopen-libs:
	@echo $(DLOPEN_LIBS)

unit: all $(UNIT_BINS)

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 unit

deps:
	@scripts/deps.sh test

deps-run:
	@scripts/deps.sh run

deps-image:
	@scripts/deps.sh image

run: deps-run all
	$(BUILD)/spanrelay -c config/spanrelay.yaml

image: deps-image
	@scripts/image.sh

test: deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory asan
	@tests/run.sh

$(BUILD)/bench/loadgen: bench/loadgen.c $(BUILD)/libspanrelay.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libspanrelay.a $(PKG_LIBS) -lpthread

bench: deps all $(BUILD)/bench/loadgen
	@/usr/bin/python3 bench/run.py

# The long mixed run of tests/soak/soak.py against SOAK_BIN: SOAK_SECONDS (10 minutes
# by default) of load, overload, backend faults and hostile clients; one summary line.
# Not part of `make test`. Under ASan: make asan; SPANRELAY_ASAN=1 make soak
# SOAK_BIN=build/asan/spanrelay. Under valgrind: SOAK_VALGRIND=1 make soak.
SOAK_SECONDS ?= 600
SOAK_BIN ?= $(BUILD)/spanrelay
soak: deps all $(BUILD)/bench/loadgen
	@tests/integration/pygen.sh >/dev/null
	@SOAK_SECONDS=$(SOAK_SECONDS) SPANRELAY_BIN=$(SOAK_BIN) SOAK_LOADGEN=$(BUILD)/bench/loadgen \
	    nice /usr/bin/python3 tests/soak/soak.py

# libFuzzer targets (clang): the wire walk, OTLP/JSON, the YAML configuration, spool
# recovery, and the two receivers (an HTTP/2 and an HTTP/1.1 server connection driven
# in process by tests/fuzz/conn_driver.c, the real pipeline behind them), and the UTF-8
# validator against a plain one (differential). The whole
# library is built again with clang, instrumented, in build/fuzz/lib. FUZZ_SECONDS each; seeds are
# tests/fuzz/corpus/<target>/, what the runs find goes to build/fuzz/corpus_<target>/,
# crashes to build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= otlp json config spool grpc http utf8
FUZZ_LIB := build/fuzz/lib
ifeq ($(SAN),fuzz)
CFLAGS_BASE += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
endif

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/conn_driver.c tests/fuzz/conn_driver.h \
                   $(FUZZ_LIB)/libspanrelay.a
	@echo "  CC      $@"
	@clang $(CFLAGS_BASE) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=undefined -I$(FUZZ_LIB)/gen -Idaemon -I. -Itests/fuzz \
	    $(PKG_CFLAGS) -o $@ $< tests/fuzz/conn_driver.c $(FUZZ_LIB)/libspanrelay.a $(PKG_LIBS)

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_LIB) SAN=fuzz CC=clang $(FUZZ_LIB)/libspanrelay.a
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	    echo "  FUZZ    $$t ($(FUZZ_SECONDS)s)"; \
	    mkdir -p build/fuzz/corpus_$$t tests/fuzz/corpus/$$t; \
	    (cd build/fuzz && ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        corpus_$$t ../../tests/fuzz/corpus/$$t 2>&1 | tail -3) || exit 1; \
	done

clean:
	rm -rf build
