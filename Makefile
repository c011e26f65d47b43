# The two commands of the README: `make demo` and `make test`. Each installs what it needs, system packages
# included, into a local .venv; run them again and they only do what is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs on this many pytest-xdist workers, each test file on one of them (its module fixtures, such as a
# set of PostgreSQL clusters, made once), each worker with a PostgreSQL database of its own (tests/conftest.py).
# Most tests wait on sockets, pipes and subprocesses rather than compute, so two workers fit a 2-core machine.
TEST_WORKERS ?= 2

.PHONY: demo test lint typecheck unit bench reliability clean

demo: $(STAMP)
	$(BIN)/kiosk demo

test: lint typecheck unit

# The floor plan too: import-linter's contracts in pyproject.toml (layers of the kiosk, what the centre may use).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The central server's tests run on SQLite and on a throwaway PostgreSQL cluster that scripts/with-postgres.sh
# starts for the run and stops and deletes after it (no other cluster is touched); its web pages are tested in
# Debian's headless chromium, driven by Playwright (no browser download); the shell scripts pass shellcheck.
# tests/test_failover.py starts a pg_auto_failover formation of its own (pg_autoctl: monitor, primary, standby).
unit: $(STAMP)
	scripts/system-deps.sh chromium shellcheck postgresql postgresql-15-auto-failover pg-auto-failover-cli
	scripts/with-postgres.sh $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# The figures of BENCHMARKS.md (about 65 minutes, reliability included: memory runs the kiosk for 10, and the
# tracing benchmark fills PostgreSQL with 10 million events the first time). JSON in bench/out/.
bench: $(STAMP)
	mkdir -p bench/out
	$(BIN)/python bench/loop_cost.py --json > bench/out/loop_cost.json
	$(BIN)/python bench/latency.py --json > bench/out/latency.json
	$(BIN)/python bench/decode_success.py --json > bench/out/decode_success.json
	$(BIN)/python bench/decode_hard.py --json > bench/out/decode_hard.json
	$(BIN)/python bench/verify_time.py --json > bench/out/verify_time.json
	$(BIN)/python bench/ingest.py --json > bench/out/ingest.json
	$(BIN)/python bench/drain.py --json > bench/out/drain.json
	$(BIN)/python bench/output_latency.py --json > bench/out/output_latency.json
	$(BIN)/python bench/voice_latency.py --json > bench/out/voice_latency.json
	$(BIN)/python bench/screen_render.py --json > bench/out/screen_render.json
	$(BIN)/python bench/cold_start.py --json > bench/out/cold_start.json
	$(BIN)/python bench/watchdog_restart.py --json > bench/out/watchdog_restart.json
	$(BIN)/python bench/trace_bench.py --reuse --json > bench/out/trace.json
	url="$$(scripts/test-postgres.sh)" && KIOSK_TEST_PG_URL="$$url" $(BIN)/python bench/dashboard_bench.py --json > bench/out/dashboard.json
	$(BIN)/python bench/memory.py --minutes 10 --json > bench/out/memory.json
	$(MAKE) reliability

# Issue 8's figures (about 45 minutes: the crash loop takes 1,000 kills, the network faults drain 10,000 events
# seven times). JSON in bench/out/.
reliability: $(STAMP)
	mkdir -p bench/out
	$(BIN)/python bench/chaos.py --kills 1000 --json > bench/out/chaos.json
	$(BIN)/python bench/netfaults.py --json > bench/out/netfaults.json
	$(BIN)/python bench/drain.py --outage-s 60 --json > bench/out/outage.json
	$(BIN)/python bench/store_check.py --events 100000 --json > bench/out/store_check.json
	$(BIN)/python bench/retention_bench.py --json > bench/out/retention.json
	$(BIN)/python bench/fuzz.py --json > bench/out/fuzz.json

# constraints.txt pins every package to the versions the suite last passed with.
$(STAMP): pyproject.toml constraints.txt scripts/system-deps.sh
	scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
