# Lodestone: `make run` serves the demo, `make test` runs lint and the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PORT ?= 8000
export LODESTONE_DATABASE_URL ?= sqlite:///./data/lodestone.db

.PHONY: run test lint fmt openapi bench docs-check clean install

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP) $@

install: $(STAMP)

run: $(STAMP)
	@$(VENV)/bin/lodestone demo
	@echo
	@echo "  Lodestone on http://127.0.0.1:$(PORT)   Swagger UI: http://127.0.0.1:$(PORT)/docs"
	@echo "  API key: $$($(VENV)/bin/lodestone key)"
	@echo "  Try the SKU question:"
	@echo "    curl -s -H \"Authorization: Bearer $$($(VENV)/bin/lodestone key)\" \\"
	@echo "      'http://127.0.0.1:$(PORT)/v1/skus/EV-MOTOR-200/origin?countries=CN'"
	@echo
	@PORT=$(PORT) $(VENV)/bin/lodestone serve --port $(PORT)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check service tests scripts alembic
	$(VENV)/bin/ruff format --check service tests scripts alembic
	$(VENV)/bin/mypy service tests scripts
	$(VENV)/bin/hadolint Dockerfile

fmt: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix service tests scripts alembic
	$(VENV)/bin/ruff format service tests scripts alembic

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

openapi: $(STAMP)
	$(VENV)/bin/lodestone openapi > openapi/openapi.json

# Not part of `make test`: minutes of load on a real server. BENCH_ARGS="--size full" for 1k, 100k and 1M lots.
# Ingest is also measured on PostgreSQL: LODESTONE_BENCH_POSTGRES_URL, or the machine's own (started when root).
bench: $(DEV_STAMP)
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@url="$${LODESTONE_BENCH_POSTGRES_URL:-$$( [ "$$(id -u)" = 0 ] && bash scripts/start_postgres.sh 2>/dev/null | tail -1 )}"; \
	$(PY) scripts/bench.py $${url:+--postgres-url "$$url"} $(BENCH_ARGS)

docs-check: $(DEV_STAMP)
	$(PY) scripts/check_docs_render.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
