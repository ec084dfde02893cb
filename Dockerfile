FROM python:3.11-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml constraints.txt README.md ./
COPY features features
COPY training training
COPY service service
RUN pip install --no-cache-dir -c constraints.txt .
ENV MLFLOW_TRACKING_URI=sqlite:////app/mlruns/mlflow.db
VOLUME ["/app/mlruns", "/app/data"]
# Until the scoring service lands: train a model if no champion is registered.
CMD ["sh", "-c", "targeting champion || { test -f data/entries.parquet || targeting generate --out data/entries.parquet; targeting train --data data/entries.parquet; }"]
