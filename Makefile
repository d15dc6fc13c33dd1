# The two commands of custodata: `make demo` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test lint services bench bench-protection bench-service bench-audit bench-monitoring clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/custodata demo --out out

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/mypy

# PostgreSQL (the operational store's production engine) and Debian's Chromium (console tests);
# the OpenID Connect provider the identity tests start (Node.js, npm ci of tests/oidc_provider)
services:
	./scripts/ensure-services.sh
	./scripts/ensure-oidc-provider.sh

test: lint services
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/resolution.py

# the protection benchmark also needs the [bench] extra (Presidio, the peer of the scan)
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,bench]'
	touch $(BENCH_STAMP)

bench-protection: $(BENCH_STAMP)
	$(BIN)/python benchmarks/protection.py

# the service at 50 clients over 1M customers (SQLite and PostgreSQL), the audit log, the insider-leak monitor
bench-service: $(STAMP) services
	$(BIN)/python benchmarks/service.py

bench-audit: $(STAMP) services
	$(BIN)/python benchmarks/audit.py

bench-monitoring: $(STAMP)
	$(BIN)/python benchmarks/monitoring.py

clean:
	rm -rf out out.keys .pytest_cache .mypy_cache .ruff_cache
