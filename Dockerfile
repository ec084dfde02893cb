# syntax=docker/dockerfile:1
# The scoring service on port 8000. Its database is migrated by a separate run of the same image (a job: several
# replicas never race to migrate), before the service starts and after each upgrade of the image:
#
#   docker build -t shipment-targeting .
#   docker run --rm -v targeting-data:/app/data -v targeting-mlruns:/app/mlruns shipment-targeting targeting db upgrade
#   docker run -d -p 8000:8000 -v targeting-data:/app/data -v targeting-mlruns:/app/mlruns shipment-targeting
#
# The image holds the service only; `--build-arg EXTRAS=train` adds training (optuna, matplotlib, shap, dask).
# The base is python:3.11-slim; pin it by digest for reproducible builds (`docker buildx imagetools inspect
# python:3.11-slim` names it): --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>. Any Debian-based
# image with python and its venv module serves (README: how it was built here, with no registry in reach).
#
# It serves the champion registered in MLFLOW_TRACKING_URI and does not start without one. To make
# one in the same volumes (an image built with EXTRAS=train):
#   docker run --rm -v targeting-data:/app/data -v targeting-mlruns:/app/mlruns shipment-targeting sh -c \
#     'targeting generate --entries 200000 --seed 7 --out data/entries.parquet &&
#      targeting train --data data/entries.parquet && targeting db upgrade &&
#      targeting history load --data data/entries.parquet'
# Behind a proxy: FORWARDED_ALLOW_IPS names the proxies whose X-Forwarded-* headers are believed (uvicorn).
# The root filesystem may be read-only (--read-only --tmpfs /tmp): the service writes only to /tmp and the volumes.
# Every default below can be overridden with -e (DATABASE_URL=postgresql+psycopg://..., WORKERS=4, ...).
# The service runs as uid 10001: a bind-mounted data/ or mlruns/ must be writable by it.
# The reviewers' desk (/desk) signs in with Secure cookies: serve it behind TLS (browsers accept them over plain
# HTTP only from localhost), and set TARGETING_SAMPLE_SECRET with TARGETING_ENVIRONMENT=production. Each worker
# holds TARGETING_MAX_IN_FLIGHT + 4 database connections (16 + 4 by default): WORKERS x that must fit the server.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies in a layer of their own, so that a code change does not reinstall them: every package from the
# lock (requirements/service.txt, or train.txt with EXTRAS=train), each checked against its hashes.
COPY requirements requirements
RUN pip install --require-hashes -r "requirements/${EXTRAS:-service}.txt"
COPY pyproject.toml README.md ./
COPY features features
COPY model model
COPY decisions decisions
COPY training training
COPY service service
COPY cli cli
COPY client client
# LightGBM needs OpenMP: the checks below import it, and so does the numba warm-up.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
# A regular (not editable) install: the migrations and their script.py.mako go into site-packages. Its dependencies
# are in already, and it is built with the locked setuptools. Checked from / so that the installed package is
# imported, not the sources in /src.
RUN pip install --no-deps --no-build-isolation . \
    && cd / && python -c "import decisions.migrate as m; assert (m.SCRIPTS / 'script.py.mako').is_file(); print(m.head())" \
    && python -c "import service.web as w; assert (w.STATIC / 'desk.css').is_file() and (w.STATIC.parent / 'templates' / 'entry.html').is_file()"
# numba's compiled TreeSHAP kernels, made now: a worker loads them instead of compiling at start. numba needs its
# cache folder writable, so the service starts by copying it to /tmp (a read-only root filesystem works).
ENV NUMBA_CACHE_DIR=/opt/numba-cache
RUN cd / && python -c "import numpy as np, lightgbm as lgb; from model.treeshap import TreeShap; \
x = np.random.default_rng(0).normal(size=(500, 4)); x[::7, 1] = np.nan; \
data = lgb.Dataset(x, (x[:, 0] > 0).astype(float), categorical_feature=[3], params={'verbose': -1}); \
booster = lgb.train({'verbose': -1, 'num_leaves': 7, 'min_data_per_group': 5, 'cat_smooth': 1}, data, 5); \
TreeShap.from_booster(booster).warm(); print('numba cache:', sum(1 for _ in __import__('pathlib').Path('/opt/numba-cache').rglob('*.nbc')))"

FROM ${PYTHON_IMAGE} AS runtime
# LightGBM needs OpenMP at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 targeting \
    && useradd --system --uid 10001 --gid targeting --home-dir /app --no-create-home --shell /usr/sbin/nologin targeting
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/numba-cache /opt/numba-cache
WORKDIR /app
RUN mkdir -p data/model-cache mlruns && chown -R targeting:targeting /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    DATABASE_URL=sqlite:////app/data/targeting.db \
    MLFLOW_TRACKING_URI=sqlite:////app/mlruns/mlflow.db \
    TARGETING_MODEL_CACHE=/app/data/model-cache \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    FORWARDED_ALLOW_IPS=127.0.0.1 \
    WORKERS=2
# Numeric, so that runtimes which check for a non-root user (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
VOLUME ["/app/data", "/app/mlruns"]
EXPOSE 8000
# No curl in the slim image; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# The metrics directory is the service's alone (set here, not in ENV: the image's other commands, such as the
# MLflow server in compose.yaml, would find it missing) and emptied at each start, as prometheus multiprocess mode
# requires, so that /metrics sums every worker; the compiled kernels are copied where numba may write; no
# migration here (see the top); exec makes uvicorn PID 1, so that `docker stop` (SIGTERM) shuts it down gracefully.
CMD ["sh", "-c", "set -e; export PROMETHEUS_MULTIPROC_DIR=\"${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}\"; rm -rf \"$PROMETHEUS_MULTIPROC_DIR\"; mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" \"${NUMBA_CACHE_DIR:?}\"; cp -r /opt/numba-cache/. \"$NUMBA_CACHE_DIR\"; exec uvicorn --factory service.app:app_from_env --host 0.0.0.0 --port 8000 --workers ${WORKERS:-2} --proxy-headers"]
