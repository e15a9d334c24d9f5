# Every target creates the virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED := ../shared

.PHONY: install run test lint schema check-contract clean

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

clean:
	rm -rf $(VENV) .pytest_cache
