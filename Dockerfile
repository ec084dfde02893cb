# syntax=docker/dockerfile:1
# The scoring service: migrates its database, then serves on port 8000.
#
#   docker build -t shipment-targeting .
#   docker run -d -p 8000:8000 -v targeting-data:/app/data -v targeting-mlruns:/app/mlruns shipment-targeting
#
# It serves the champion registered in MLFLOW_TRACKING_URI and does not start without one. To make
# one in the same volumes:
#   docker run --rm -v targeting-data:/app/data -v targeting-mlruns:/app/mlruns shipment-targeting sh -c \
#     'targeting generate --entries 200000 --seed 7 --out data/entries.parquet &&
#      targeting train --data data/entries.parquet && targeting db upgrade &&
#      targeting history load --data data/entries.parquet'
# Every default below can be overridden with -e (DATABASE_URL=postgresql+psycopg://..., WORKERS=4, ...).
# The service runs as uid 10001: a bind-mounted data/ or mlruns/ must be writable by it.
# The reviewers' desk (/desk) signs in with Secure cookies: serve it behind TLS (browsers accept them over plain
# HTTP only from localhost), and set TARGETING_SAMPLE_SECRET with TARGETING_ENVIRONMENT=production. Each worker
# holds TARGETING_MAX_IN_FLIGHT + 4 database connections (16 + 4 by default): WORKERS x that must fit the server.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies in a layer of their own, so that a code change does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -c constraints.txt -r requirements.txt
COPY features features
COPY model model
COPY decisions decisions
COPY training training
COPY service service
COPY cli cli
# A regular (not editable) install: the migrations and their script.py.mako go into site-packages.
# Checked from / so that the installed package is imported, not the sources in /src.
RUN pip install -c constraints.txt . \
    && cd / && python -c "import decisions.migrate as m; assert (m.SCRIPTS / 'script.py.mako').is_file(); print(m.head())" \
    && python -c "import service.web as w; assert (w.STATIC / 'desk.css').is_file() and (w.STATIC.parent / 'templates' / 'entry.html').is_file()"

FROM ${PYTHON_IMAGE} AS runtime
# LightGBM needs OpenMP at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 targeting \
    && useradd --system --uid 10001 --gid targeting --home-dir /app --no-create-home --shell /usr/sbin/nologin targeting
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
RUN mkdir -p data/model-cache mlruns && chown -R targeting:targeting /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    DATABASE_URL=sqlite:////app/data/targeting.db \
    MLFLOW_TRACKING_URI=sqlite:////app/mlruns/mlflow.db \
    TARGETING_MODEL_CACHE=/app/data/model-cache \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    WORKERS=2
# Numeric, so that runtimes which check for a non-root user (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
VOLUME ["/app/data", "/app/mlruns"]
EXPOSE 8000
# No curl in the slim image; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# The metrics directory is emptied at each start, as prometheus multiprocess mode requires, so that /metrics
# sums every worker; exec makes uvicorn PID 1, so that `docker stop` (SIGTERM) shuts it down gracefully.
CMD ["sh", "-c", "set -e; rm -rf \"${PROMETHEUS_MULTIPROC_DIR:?}\"; mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\"; targeting db upgrade; exec uvicorn --factory service.app:app_from_env --host 0.0.0.0 --port 8000 --workers ${WORKERS:-2}"]
