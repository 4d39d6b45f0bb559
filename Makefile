# fcd — self-hosted Function Compute. The two commands: `make run` and `make test`.
#
# Variables:
#   CC=clang            build with clang instead of gcc
#   SAN=address,undefined | SAN=thread   sanitizer build (own build directory)
#   QUICK=1             shorter benchmarks

CC      ?= cc
SAN     ?=
PREFIX  ?= /usr/local

# Debian packages, by purpose. `make deps` installs only what is missing.
PKGS_BUILD = build-essential pkg-config liburing-dev liblmdb-dev libmsgpack-dev \
             libjansson-dev libssl-dev libzip-dev libyaml-dev
PKGS_TEST  = clang libclang-rt-14-dev curl python3 procps gunicorn python3-flask
PKGS_BENCH = wrk nginx-light haproxy gnuplot-nox
PKGS       = $(PKGS_BUILD) $(PKGS_TEST) $(PKGS_BENCH)

CFLAGS_BASE = -std=gnu11 -Wall -Wextra -Werror -O2 -g -pthread -D_GNU_SOURCE \
              -fno-omit-frame-pointer -I.
LIBS        = -luring -ljansson -lcrypto -llmdb -lmsgpackc -lzip -pthread

ifneq ($(SAN),)
CFLAGS_SAN = -fsanitize=$(SAN) -fno-sanitize-recover=all
endif

comma := ,
BUILD := build/$(notdir $(CC))$(if $(SAN),-$(subst $(comma),-,$(SAN)))
CFLAGS += $(CFLAGS_BASE) $(CFLAGS_SAN)
LDFLAGS += $(CFLAGS_SAN)

# Library modules (everything but the programs' mains), shared by fcd and the tests.
CORE_SRC = core/buf.c core/log.c core/config.c core/reqid.c core/errors.c core/wheel.c core/ring.c core/registry.c core/uring.c core/auth.c core/async.c core/cron.c core/invocation.c core/instance.c core/sched.c core/worker.c core/apidoc.c core/ctl.c core/ctl_api.c
STORE_SRC = store/crc32c.c store/record.c store/jobs.c store/catalog.c store/code.c
IO_SRC   = io/http.c io/response.c io/router.c io/server.c io/conn.c io/dispatch.c io/tasks.c
LIB_SRC  = $(CORE_SRC) $(STORE_SRC) $(IO_SRC)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)

UNIT_TESTS = apidoc auth buf catalog code config cron errors fcrt http invocation log record registry reqid response ring router store wheel
UNIT_SRC = $(UNIT_TESTS:%=tests/unit/test_%.c) tests/unit/runner.c
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/%.o)

FCD      = $(BUILD)/fcd
FCCTL    = $(BUILD)/fcctl
FCSHIM   = $(BUILD)/fcshim
FCRT     = $(BUILD)/libfcrt.a
UNIT     = $(BUILD)/unit-tests
# The C example function: its code directory holds the built `bootstrap`
# (git-ignored), as FC's custom runtime expects.
HELLO    = examples/hello-c/bootstrap
OPENLOOP = $(BUILD)/openloop
BINS     = $(FCD) $(FCCTL) $(FCSHIM) $(FCRT) $(UNIT) $(HELLO) $(OPENLOOP)

.PHONY: all deps run test test-crash unit e2e fuzz bench bench-http bench-sync bench-spawn bench-store bench-ring clean format
all: $(BINS)

# ---- dependencies ---------------------------------------------------------------
# Non-interactive, idempotent: installs only missing packages and runs
# `apt-get update` once, only when something must be installed.
deps:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; done; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The Express example's node_modules (git-ignored), from the npm registry.
	@[ -d examples/express/node_modules/express ] || \
	  (cd examples/express && npm install --omit=dev --no-audit --no-fund --loglevel=error)
	@# The official Node SDK the end-to-end tests drive fcd with (git-ignored).
	@[ -d tests/e2e/sdk/node_modules/@alicloud/fc2 ] || \
	  (cd tests/e2e/sdk && npm install --no-audit --no-fund --loglevel=error)
	@# Cloudflare's workerd, a peer in bench/sync.sh (git-ignored; prebuilt binary from npm).
	@[ -x bench/workerd/node_modules/@cloudflare/workerd-linux-64/bin/workerd ] || \
	  (cd bench/workerd && npm install --no-audit --no-fund --loglevel=error)

# ---- build ----------------------------------------------------------------------
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(FCD): $(BUILD)/core/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(UNIT): $(UNIT_OBJ) $(LIB_OBJ) $(FCRT)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# fcctl: the CLI (signs with fcd's own signer, parses with its HTTP parser).
FCCTL_SRC = io/fcctl.c io/fcctl_http.c io/fcctl_cmds.c io/fcctl_deploy.c io/fcctl_zip.c
$(FCCTL): $(FCCTL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/core/auth.o $(BUILD)/core/buf.o $(BUILD)/io/http.o
	$(CC) $(LDFLAGS) -o $@ $^ -ljansson -lcrypto -lyaml -lzip

# fcd finds fcshim next to itself.
$(FCSHIM): $(BUILD)/runtime-shim/fcshim.o
	$(CC) $(LDFLAGS) -o $@ $^

# libfcrt: the C runtime library (reuses fcd's HTTP parser).
$(FCRT): $(BUILD)/runtime-shim/fcrt.o $(BUILD)/io/http.o
	$(AR) rcs $@ $^

# The example is the user's code: always a plain optimised build, whatever SAN says.
$(HELLO): examples/hello-c/hello.c runtime-shim/fcrt.c runtime-shim/fcrt.h io/http.c io/http.h
	$(CC) $(CFLAGS_BASE) -o $@ examples/hello-c/hello.c runtime-shim/fcrt.c io/http.c

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- the two commands -----------------------------------------------------------
RUN_DIR ?= /tmp/fcd-run
run: deps all
	@mkdir -p $(RUN_DIR)
	@echo "fcd listening on 127.0.0.1:8000 (data in $(RUN_DIR)); try:"
	@echo "  curl -i http://127.0.0.1:8000/healthz"
	@echo "  curl -i -X POST http://127.0.0.1:8000/2016-08-15/services/default/functions/hello/invocations -d world"
	@echo "  curl -i http://127.0.0.1:8000/2016-08-15/proxy/default/hello/any/path?x=1"
	@echo "  curl -i -X POST http://127.0.0.1:8000/2016-08-15/services/default/functions/node/invocations -d world"
	@echo "  curl -i -X POST http://127.0.0.1:8000/2016-08-15/services/default/functions/python/invocations -d world"
	@echo "  curl -s http://127.0.0.1:8000/2016-08-15/services/default/functions   # management API (open: --api-anonymous, loopback only)"
	$(FCD) --foreground --listen 127.0.0.1:8000 --data-dir $(RUN_DIR) \
	    --function hello=examples/hello-c --function node=examples/node \
	    --function python=examples/python --api-anonymous

test: deps all
	@FCD=$(FCD) UNIT=$(UNIT) tests/run.sh

unit: all
	$(UNIT)

e2e: all
	FCD=$(FCD) python3 tests/e2e/run.py

# Crash safety (issue 5): 20 SIGKILLs of fcd while 8 clients submit async
# jobs into one data dir; fails if any acknowledged job is lost.
test-crash: all
	python3 tests/e2e/crash_harness.py --rounds 20 --seed $(or $(SEED),1) --fcd $(FCD)

# ---- fuzzing (clang's libFuzzer) ------------------------------------------------
FUZZ_TIME ?= 60
fuzz: deps
	@mkdir -p build/fuzz
	clang -std=gnu11 -O1 -g -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
	    -o build/fuzz/fuzz_http tests/fuzz/fuzz_http.c io/http.c
	build/fuzz/fuzz_http -max_total_time=$(FUZZ_TIME) -max_len=4096 \
	    build/fuzz/corpus tests/fuzz/corpus_http 2>&1 | tail -n 5
	@mkdir -p build/fuzz/corpus

# ---- benchmarks ------------------------------------------------------------------
# Every benchmark scenario (issue 7) into bench/results/<date>-<host>/, then
# one PNG per scenario (gnuplot).
bench: deps all $(BUILD)/fcshim_bench $(BUILD)/bench_jobs $(BUILD)/openloop
	FCD=$(FCD) QUICK=$(QUICK) bench/run.sh

bench-http: deps all
	FCD=$(FCD) QUICK=$(QUICK) bench/http.sh

# Sync invoke: fcd's HTTP trigger and InvokeFunction vs nginx reverse proxy vs
# the C backend directly, plus cold starts against the spawn floor.
bench-sync: deps all $(BUILD)/fcshim_bench
	FCD=$(FCD) QUICK=$(QUICK) bench/sync.sh

# The spawn floor: posix_spawn of /bin/true, fcshim → /bin/true, and the C
# example with and without fcshim until its port accepts (medians of 20).
$(BUILD)/fcshim_bench: $(BUILD)/runtime-shim/fcshim_bench.o
	$(CC) $(LDFLAGS) -o $@ $^
bench-spawn: all $(BUILD)/fcshim_bench
	$(BUILD)/fcshim_bench $(FCSHIM) examples/hello-c 20

# The io thread -> worker hand-off through fc_ring: spin vs eventfd wake,
# same CPU vs two.
$(BUILD)/ring_bench: $(BUILD)/bench/ring_bench.o $(BUILD)/core/ring.o
	$(CC) $(LDFLAGS) -o $@ $^ -pthread
bench-ring: $(BUILD)/ring_bench
	$(BUILD)/ring_bench 20000

# The store's commit floor (BENCH.md's LMDB rows): 1, 64, 1024 jobs per txn.
$(BUILD)/bench_jobs: $(BUILD)/store/bench_jobs.o $(BUILD)/store/jobs.o $(BUILD)/store/record.o \
                     $(BUILD)/store/crc32c.o $(BUILD)/core/buf.o
	$(CC) $(LDFLAGS) -o $@ $^ -llmdb -lmsgpackc -pthread
bench-store: all $(BUILD)/bench_jobs
	taskset -c 0 $(BUILD)/bench_jobs
	taskset -c 0 $(BUILD)/bench_jobs --sizes

# Open-loop load generator (constant rate, latency from the intended send
# time), validated against wrk on fcd's hello function.
.PHONY: bench-openloop
$(BUILD)/openloop: bench/openloop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -luring
bench-openloop: deps all $(BUILD)/openloop
	FCD=$(FCD) QUICK=$(QUICK) bench/openloop.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
