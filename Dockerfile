# Lodestone API image. Not built on the development machines (no container engine there);
# `lodestone migrate` is the one-shot step before a rollout, `lodestone serve` the long-running one.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY service/__init__.py service/__init__.py
RUN pip install --no-compile . && pip uninstall -y lodestone

COPY alembic.ini ./
COPY alembic alembic
COPY service service
RUN pip install --no-deps --no-compile -e . \
    && useradd --system --uid 10001 --home /app lodestone \
    && mkdir -p /app/data && chown lodestone /app/data
USER lodestone
ENV LODESTONE_DATABASE_URL=sqlite:////app/data/lodestone.db HOST=0.0.0.0 PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/readyz')"
CMD ["lodestone", "serve", "--host", "0.0.0.0"]
