"""Prometheus metrics and JSON logs. Logs carry the request id, route and caller's key name; never a key
or an entry's contents."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
LOG_FIELDS = ("route", "method", "status", "ms", "caller", "entries", "model_version")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid is not None:
            line["request_id"] = rid
        line |= {f: getattr(record, f) for f in LOG_FIELDS if hasattr(record, f)}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """One JSON object per line on stderr, for the service and uvicorn's own loggers."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the service logs each request itself, without its query


class Metrics:
    """The service's metrics; in a registry of its own (one per app), or shared between worker processes
    through PROMETHEUS_MULTIPROC_DIR when it is set."""

    def __init__(self) -> None:
        reg = None if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else CollectorRegistry()
        self.registry = reg
        self.requests = Counter(
            "targeting_requests", "HTTP requests by route and status.", ["route", "method", "status"], registry=reg
        )
        self.latency = Histogram(
            "targeting_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=reg,
        )
        self.scores = Histogram(
            "targeting_score",
            "Calibrated scores of new decisions.",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9, 1),
            registry=reg,
        )
        self.decisions = Counter(
            "targeting_decisions_recorded", "Decisions recorded, by action.", ["action"], registry=reg
        )
        self.model = Gauge(
            "targeting_model_version",
            "The model version serving (by name and alias).",
            ["name", "alias"],
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.drift_psi = Gauge(
            "targeting_drift_psi",
            "Population stability index of recent decisions against the training reference, by feature (and score).",
            ["column"],
            registry=reg,
            multiprocess_mode="livemostrecent",  # every worker computes the same figures: one series, the latest
        )
        self.drift_flagged = Gauge(
            "targeting_drift_flagged_columns",
            "Columns whose PSI is over the threshold (0.2).",
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.drift_decisions = Gauge(
            "targeting_drift_decisions",
            "Recent decisions the last drift figures compared.",
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.expected_precision = Gauge(
            "targeting_expected_precision",
            "Precision at the top k % of recent decisions expected before outcomes: their mean calibrated score.",
            ["k"],
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.in_flight = Gauge(
            "targeting_requests_in_flight",
            "Requests admitted and not yet answered.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.shed = Counter(
            "targeting_requests_shed",
            "Requests answered 503 at once: the worker was at its limit of requests in flight.",
            registry=reg,
        )
        self.group_commit = Histogram(
            "targeting_group_commit_requests",
            "Scoring requests whose decisions one transaction committed (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=reg,
        )
        self.reloads = Counter("targeting_model_reloads", "Model reload attempts by result.", ["result"], registry=reg)

    def drift_computed(self, columns: Iterable[Any], decisions: int, expected: dict[str, float]) -> None:
        """Publish a drift computation: each column's PSI (features and the score), how many are flagged, and the
        precision expected at the top k %."""
        flagged = 0
        self.drift_psi.clear()  # a new model version may have other features: no stale columns
        for c in columns:
            self.drift_psi.labels(c.name).set(c.psi)
            flagged += bool(c.flagged)
        self.drift_flagged.set(flagged)
        self.drift_decisions.set(decisions)
        self.expected_precision.clear()
        for k, value in expected.items():
            self.expected_precision.labels(k).set(value)

    def model_reloaded(self, result: str, name: str, alias: str, version: int) -> None:
        """Count a reload attempt (changed, unchanged, failed) and show the version serving after it."""
        self.reloads.labels(result).inc()
        self.model.labels(name, alias).set(version)

    def exposition(self) -> bytes:
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
