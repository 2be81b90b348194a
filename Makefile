# pagemu - a plain Makefile.  `make V=1` shows full commands.
#
#   make            build/libpagemu.a, build/libpagemu.so, build/pagemu.pc, tools
#   make demo       set-up + build + the flagship demo, then demo-multi
#   make demo-multi N emulated processes over one pool: Denning's thrashing curve
#   make check      set-up + build + every test (plain, then ASan/UBSan)
#   make compat     the compatibility corpus: Debian's programs under pagemu run
#   make bench      benchmarks (ratios against baselines in the same run)
#   make sweep-sort pagemu sweep of GNU sort at 8 pool sizes (README "Experiments")
#   make stress     long soaks
#   make install PREFIX=/usr/local   (the shim goes to PREFIX/lib/pagemu/)
#   make check-install  install into a temporary prefix and use it from there

CC      ?= cc
PREFIX  ?= /usr/local
CFLAGS  ?= -O2 -g
LDFLAGS ?=
override CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
                    -fPIC -fvisibility=hidden -Iinclude -Ilib -DPAGEMU_BUILD -pthread
override LDLIBS  += -lsigsegv -luring -lpthread -lm
# The shared objects carry a private copy of libsigsegv, its symbols hidden
# (--exclude-libs): libsigsegv keeps one handler registry per copy, and a
# program linked with libsigsegv installs its handlers in its own copy, not
# in pagemu's. Debian's libsigsegv.a is position-independent (its objects
# are PIE code: calls through the PLT, data relative to their own
# sections), so it links into a shared object; were it not, this link
# would fail ("recompile with -fPIC").
# -z now: every symbol the objects use is bound at load. Lazily bound, the
# first io_uring_submit would run the dynamic linker inside the fault
# handler, and its lookup walks the scopes of libraries the program
# dlopen'ed, allocated with malloc (emulated memory, perhaps evicted):
# a fault inside the fault handler (tcc -run died so).
SO_LDLIBS = -Wl,-z,now -Wl,-z,relro -Wl,--exclude-libs,libsigsegv.a -l:libsigsegv.a $(filter-out -lsigsegv,$(LDLIBS))
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

B       ?= build
# The version is the header's (PAGEMU_VERSION): one place.
VERSION := $(shell sed -n 's/^\#define PAGEMU_VERSION "\(.*\)"/\1/p' include/pagemu.h)
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
UBSAN_FLAGS = -fsanitize=undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

ifeq ($(V),1)
Q =
else
Q = @
endif

# The layers, bottom up: model (pure) <- engine (effects) <- heap <- preload.
MODEL_SRC := $(wildcard lib/model/*.c)
LIB_SRC   := $(MODEL_SRC) $(wildcard lib/engine/*.c lib/heap/*.c)
MODEL_OBJ := $(MODEL_SRC:lib/%.c=$(B)/obj/%.o)
LIB_OBJ   := $(LIB_SRC:lib/%.c=$(B)/obj/%.o)
PRELOAD_SRC := $(wildcard preload/*.c preload/guard/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# tools/*.c are programs, but for the parts they share (tools/tools.h).
PAGEMU_PARTS := tools/sweep.c tools/runs.c tools/baseline.c tools/results.c tools/plot.c
SIM_PARTS := tools/analysis.c tools/plot.c tools/tracefile.c
TOOL_PARTS := $(sort $(PAGEMU_PARTS) $(SIM_PARTS))
TOOL_SRC  := $(filter-out $(TOOL_PARTS),$(wildcard tools/*.c))
TOOL_BIN  := $(TOOL_SRC:tools/%.c=$(B)/%)
DEMO_SRC  := $(wildcard demos/*.c)
DEMO_BIN  := $(DEMO_SRC:demos/%.c=$(B)/demos/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
HDRS      := $(wildcard include/*.h lib/*/*.h preload/*.h preload/guard/*.h)

.PHONY: all deps debug demo demo-multi sweep-sort check check-plain check-asan check-accept-fast check-compat-fast check-install bench stress install clean tests accept compat FORCE
all: $(B)/.deps $(B)/libpagemu.a $(B)/libpagemu-model.a $(B)/libpagemu.so $(B)/libpagemu-preload.so $(B)/pagemu.pc $(TOOL_BIN) $(DEMO_BIN)

# ---- set-up: install what the build needs (Debian 12) -----------------------
DEB_PKGS = libsigsegv-dev liburing-dev check pkg-config gnuplot-nox nbdkit libgnutls28-dev gnutls-bin
$(B)/.deps: Makefile
	$(Q)sh tools/deps.sh $(DEB_PKGS)
	$(Q)mkdir -p $(B) && touch $@
deps: $(B)/.deps

# ---- the library --------------------------------------------------------------
$(B)/obj/%.o: lib/%.c $(HDRS) | $(B)/.deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(B)/libpagemu.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The model layer alone: what pagemu-sim links.
$(B)/libpagemu-model.a: $(MODEL_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/libpagemu.so: $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SO_LDLIBS)

# The LD_PRELOAD shim: the process's malloc on a pagemu heap (preload/).
# -Bsymbolic-functions: pagemu's own calls to the functions the shim
# defines (malloc, calloc, free, mmap, ...) are the shim's, also in a
# program that defines them itself (rustc links jemalloc in: pagemu's
# start, from jemalloc's first mmap, called jemalloc's calloc, which waited
# for the lock jemalloc held while it mapped).
$(B)/libpagemu-preload.so: $(PRELOAD_SRC) $(LIB_OBJ) $(HDRS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(CFLAGS) $(LDFLAGS) -Wl,-Bsymbolic-functions -o $@ $(PRELOAD_SRC) $(LIB_OBJ) $(SO_LDLIBS) -ldl

# pagemu.pc holds PREFIX: the stamp changes whenever PREFIX does, so that
# `make install PREFIX=DIR` after a plain `make` installs DIR's.
$(B)/.prefix: FORCE
	@mkdir -p $(B)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@

$(B)/pagemu.pc: Makefile include/pagemu.h $(B)/.prefix
	@mkdir -p $(B)
	$(Q)printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: pagemu\nDescription: demand paging emulated in user space with real faults\nVersion: %s\nLibs: -L$${libdir} -lpagemu\nLibs.private: -lsigsegv -luring -lpthread -lm\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' > $@

# ---- programs -------------------------------------------------------------------
# pagemu-sim is the model alone: no libsigsegv, no liburing, no engine.
$(B)/pagemu-sim: tools/pagemu-sim.c $(SIM_PARTS) tools/tools.h $(B)/libpagemu-model.a
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(SIM_PARTS) $(B)/libpagemu-model.a $(LDFLAGS) -lm

# pagemu: run, and sweep (tools/sweep.c), which draws with tools/plot.c.
$(B)/pagemu: tools/pagemu.c $(PAGEMU_PARTS) tools/tools.h tools/sweep.h $(B)/libpagemu.a
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(PAGEMU_PARTS) $(B)/libpagemu.a $(LDFLAGS) $(LDLIBS)

$(B)/%: tools/%.c $(B)/libpagemu.a
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(B)/libpagemu.a $(LDFLAGS) $(LDLIBS)

$(B)/demos/%: demos/%.c $(B)/libpagemu.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(B)/libpagemu.a $(LDFLAGS) $(LDLIBS)

$(B)/bench/%: bench/%.c bench/benchutil.h tests/nbdkit.h $(B)/libpagemu.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(B)/libpagemu.a $(LDFLAGS) $(LDLIBS)

# Tests find their build (pagemu, the shim, pagemu-sim) and the sources
# (tests/progs, tests/data) by absolute paths, from any directory.
$(B)/tests/%: tests/%.c tests/testutil.h tests/progtest.h tests/nbdkit.h $(B)/libpagemu.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -Itests -DPM_BUILD_DIR='"$(abspath $(B))"' -DPM_SRC_DIR='"$(CURDIR)"' \
	  -o $@ $< $(B)/libpagemu.a $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

tests: $(TEST_BIN)

# ---- targets a user runs ----------------------------------------------------------
demo: all
	$(Q)./$(B)/demos/locality
	$(Q)./$(B)/demos/multiprog --csv $(B)/multiprog.csv

# N emulated processes over one pool: throughput against N, with and
# without load control (README, "Emulated processes"); 60-85 s here.
demo-multi: all
	$(Q)./$(B)/demos/multiprog --csv $(B)/multiprog.csv

# Every test, then the same tests built with ASan+UBSan (ASan must leave
# SIGSEGV to pagemu: handle_segv=0). Each run ends "tests: N passed, N
# failed, N skipped". The sanitizer build's program tests run its pagemu
# with a shim built with UBSan only (build-asan/ubsan/): an ASan shim cannot
# be preloaded into programs built without ASan (tests/progtest.h).
check: check-plain check-asan check-accept-fast check-compat-fast check-install

check-plain: all $(TEST_BIN)
	$(Q)sh tests/run.sh $(B)/tests $(TEST_BIN:$(B)/tests/%=%)

check-asan: $(B)/.deps
	$(Q)$(MAKE) --no-print-directory B=build-asan CFLAGS="-O1 -g $(SAN_FLAGS) -DPAGEMU_DEBUG" LDFLAGS="$(SAN_FLAGS)" all tests
	$(Q)$(MAKE) --no-print-directory B=build-asan/ubsan CFLAGS="-O1 -g $(UBSAN_FLAGS) -DPAGEMU_DEBUG" LDFLAGS="$(UBSAN_FLAGS)" \
	  build-asan/ubsan/libpagemu-preload.so
	$(Q)ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:allow_user_segv_handler=1:detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  sh tests/run.sh build-asan/tests $(TEST_BIN:$(B)/tests/%=%)

# The debug build: PM_ASSERT compiled in (the sanitizer build has them too);
# PAGEMU_CHECK=1 then runs the invariant checkers after every fault.
debug: $(B)/.deps
	$(Q)$(MAKE) --no-print-directory B=build-debug CFLAGS="-O1 -g -DPAGEMU_DEBUG" all tests

bench: all $(BENCH_BIN)
	$(Q)sh bench/run.sh $(B)

# The acceptance run of pagemu sweep (README, "Experiments"): GNU sort over
# a 50 MB file at 8 pool sizes, outputs checked against a native run; about
# 25 minutes. Results in $(B)/sweep-sort/ (remove it to run again).
sweep-sort: all
	$(Q)sh bench/sweep_sort.sh $(B) $(B)/sweep-sort

stress: all $(TEST_BIN)
	$(Q)PAGEMU_STRESS=1 sh tests/run.sh $(B)/tests $(TEST_BIN:$(B)/tests/%=%)

# The acceptance programs that take well under a minute: uthash's test
# suite, SQLite's speedtest1 (memdb and file), SQLite reading a database
# through mmap and LMDB (pagemu run --mmap), output against a native run. A source package that cannot be fetched is reported as skipped.
check-accept-fast: all
	$(Q)B=$(B) ACCEPT_SETUP_SKIP=1 sh tests/accept/run.sh uthash speedtest1 sqlite_mmap lmdb

# Real programs (uthash tests, speedtest1, sort, jq) under pagemu run, output
# compared with a native run (tests/accept/; installs what they need as root).
accept: all
	$(Q)B=$(B) sh tests/accept/run.sh

# The compatibility corpus (tests/compat/): programs and test suites from
# Debian, each run natively and under pagemu run with a quarter of its
# native peak RSS, output and exit status compared, paging checked in the
# reports. make check runs the half that takes well under 3 minutes (a
# program that cannot be installed is skipped there); make compat all of it.
check-compat-fast: all
	$(Q)B=$(B) COMPAT_SETUP_SKIP=1 sh tests/compat/run.sh --fast

compat: all
	$(Q)B=$(B) sh tests/compat/run.sh

# The shim goes to PREFIX/lib/pagemu/, where the installed pagemu run looks
# for it (../lib/pagemu from PREFIX/bin).
install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/lib/pagemu \
	  $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/pagemu.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/libpagemu.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libpagemu.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libpagemu-preload.so $(DESTDIR)$(PREFIX)/lib/pagemu/
	install -m 644 $(B)/pagemu.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	$(if $(TOOL_BIN),install -m 755 $(TOOL_BIN) $(DESTDIR)$(PREFIX)/bin/)

# Install into a temporary prefix, build and run a program against it with
# pkg-config, run a program under the installed pagemu run.
check-install: all
	$(Q)B=$(B) CC="$(CC)" MAKE="$(MAKE)" sh tools/check-install.sh

clean:
	rm -rf build build-asan
