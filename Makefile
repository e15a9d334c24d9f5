# Every target creates the virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED := ../shared

.PHONY: install run test lint schema clean soak bench-subscriptions bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	GQL_SERVICE_OUTBOUND_ALLOW_PRIVATE=true $(BIN)/gql-service serve --demo

test: install
	$(BIN)/python -m pytest -q
	@if [ -f $(SHARED)/tools/check_contract.py ]; then \
		$(BIN)/python $(SHARED)/tools/check_contract.py schema.graphql --cap core,events,workflows,vultr; \
	else \
		echo "check_contract: $(SHARED) not found, contract check skipped"; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: install
	$(BIN)/gql-service export-schema > schema.graphql

# Loopback-only load: 100 clients for 60 s; stops by itself within 2 minutes.
soak: install
	$(BIN)/python -m bench.soak

# Live-feed figures: 1,000 subscribers on one process, 100 changes.
bench-subscriptions: install
	ulimit -n 8192 && $(BIN)/python -m bench.subscriptions

# Throughput and latency of the API on a 10,000-resource data set, against a
# plain-JSON baseline; about three minutes, loopback only. Uses wrk (installed
# with apt-get when missing and running as root), else a bounded httpx load
# generator. BENCH_ARGS passes options, e.g. BENCH_ARGS="--seconds 5".
bench: install
	@if ! command -v wrk >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null 2>&1; then \
		echo "Installing wrk with apt-get"; \
		apt-get install -y -qq wrk >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null 2>&1 \
				&& apt-get install -y -qq wrk >/dev/null 2>&1; } \
			|| echo "apt-get could not install wrk"; \
	fi
	@command -v wrk >/dev/null 2>&1 \
		|| echo "wrk is not available: using the httpx load generator instead"
	@timeout 1200 $(BIN)/python -m bench.performance $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
