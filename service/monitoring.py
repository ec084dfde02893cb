"""Drift: how far the serving model's recent traffic has moved from its training reference, feature by
feature and for the score (population stability index, training/drift.py), kept fresh for the desk, the
API and /metrics."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from decisions import store
from decisions.policy import Policy
from decisions.store import desk
from decisions.store import performance as measured
from model.drift import SCORE, THRESHOLD, ColumnDrift, compare
from model.scoring import Scorer
from service.observe import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftReport:
    model_name: str
    model_version: int
    days: int
    since: datetime
    computed_at: datetime
    decisions: int  # recent decisions compared
    reference: str  # which window the reference describes; empty when the model has none
    threshold: float = THRESHOLD
    columns: list[ColumnDrift] = field(default_factory=list)  # worst first
    note: str = ""  # why nothing was compared, when nothing was
    expected_precision: dict[str, float] = field(default_factory=dict)  # "5pct": see `expected_precision`

    @property
    def flagged(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.flagged]


def recent_values(rows: list[tuple[float, list[dict[str, object]]]], names: list[str]) -> dict[str, np.ndarray]:
    """Each feature's model inputs (NaN where missing) and the scores of decisions (score, contributions)."""
    matrix = np.full((len(rows), len(names)), np.nan)
    where = {name: j for j, name in enumerate(names)}
    for i, (_, contributions) in enumerate(rows):
        for c in contributions:
            j = where.get(str(c["feature"]))
            value = c.get("input")
            if j is not None and isinstance(value, int | float):
                matrix[i, j] = value
    values = {name: matrix[:, j] for name, j in where.items()}
    values[SCORE] = np.fromiter((score for score, _ in rows), dtype=float, count=len(rows))
    return values


TOP_SHARES = {"1pct": 0.01, "2pct": 0.02, "5pct": 0.05, "10pct": 0.10}  # the k of training's precision@k


def expected_precision(scores: np.ndarray) -> dict[str, float]:
    """Precision at the top k % of these decisions as the model expects it, before any outcome is known: the
    mean calibrated score of the k % scored highest (at least one). It holds while the scores stay calibrated;
    the outcomes, when they come, say whether they did (measured success)."""
    if not len(scores):
        return {}
    ranked = np.sort(scores)[::-1]
    return {k: float(ranked[: max(1, round(len(ranked) * share))].mean()) for k, share in TOP_SHARES.items()}


def drift(session: Session, scorer: Scorer, days: int, limit: int, now: datetime | None = None) -> DriftReport:
    """The serving version's drift over its decisions of the last `days` days (the latest `limit` of them)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    ref = scorer.ref
    reference = scorer.model.reference
    window = f"version {ref.version} in the last {days} days"

    def report(
        decisions: int,
        note: str = "",
        columns: list[ColumnDrift] | None = None,
        expected: dict[str, float] | None = None,
    ) -> DriftReport:
        return DriftReport(
            ref.name,
            ref.version,
            days,
            since,
            now,
            decisions,
            reference.window if reference else "",
            columns=columns or [],
            note=note,
            expected_precision=expected or {},
        )

    if reference is None:
        return report(0, f"version {ref.version} was trained before references were saved: retrain it to monitor drift")
    rows = desk.recent_inputs(session, ref.name, ref.version, since, limit)
    if not rows:
        return report(0, f"no decisions by {window}")
    values = recent_values(rows, scorer.pipeline.feature_names)
    return report(len(rows), columns=compare(reference, values), expected=expected_precision(values[SCORE]))


class DriftMonitor:
    """The latest drift report of the serving model. The service refreshes it every `drift_refresh_seconds` in
    the background (app.py) and on request; a reader never waits for a computation unless there is no report
    of the serving version yet. Every computation also sets the drift gauges of /metrics."""

    def __init__(
        self, sessions: sessionmaker[Session], metrics: Metrics, days: int, limit: int, every: float = 0
    ) -> None:
        self.sessions, self.metrics, self.days, self.limit = sessions, metrics, days, limit
        self.every = every  # seconds between the background rounds (0: none)
        self._report: DriftReport | None = None
        self._lock = threading.Lock()  # one computation at a time: the background round's or a caller's

    def latest(self, scorer: Scorer) -> DriftReport:
        """The last report of the serving version, computed now if there is none, or if it compared nothing and
        the version has decided entries since (the first decisions show at once, not at the next round)."""
        report = self._report
        if report is None or report.model_version != scorer.ref.version:
            return self.refresh(scorer)
        if report.decisions == 0 and report.reference:  # nothing compared, though the model has a reference
            with self.sessions() as session:
                if desk.decided_since(session, scorer.ref.name, scorer.ref.version, report.since):
                    return self.refresh(scorer)
        return report

    def next_round(self) -> datetime | None:
        """When the background will next recompute the report, if it does."""
        report = self._report
        return report.computed_at + timedelta(seconds=self.every) if report is not None and self.every > 0 else None

    def refresh(self, scorer: Scorer) -> DriftReport:
        """Compute the report now."""
        began = time.perf_counter()
        with self._lock, self.sessions() as session:
            report = drift(session, scorer, self.days, self.limit)
            self._report = report
        self.metrics.drift_computed(report.columns, report.decisions, report.expected_precision)
        log.info(
            "drift computed over %d decisions in %.0f ms: %d of %d columns flagged",
            report.decisions,
            (time.perf_counter() - began) * 1000,
            len(report.flagged),
            len(report.columns),
        )
        return report


HEADLINES = {
    "targeting_performance_hit_rate": "Violations per outcome of entries first decided in the window, by source.",
    "targeting_performance_lift": "Model hit rate over random hit rate in the window (NaN: undefined).",
    "targeting_performance_compliance": "Compliance rate of the stream estimated from the random sample (TCM).",
    "targeting_performance_released_share": "Share of the window's entries released and never inspected.",
    "targeting_performance_entries": "Entries first decided in the window.",
}


class PerformanceMonitor(Collector):
    """The headline figures of measured success over the last `days` days, for /metrics: a scrape reads the last
    figures, and starts their recomputation in the background when they are older than `ttl` seconds, so that
    scrapes stay cheap (the first scrape finds none yet). Registered in the
    service's own registry (with PROMETHEUS_MULTIPROC_DIR there is none: the figures are then not exposed).
    Undefined figures are NaN; while the database cannot answer, the last figures are kept."""

    def __init__(
        self,
        sessions: Callable[[], sessionmaker[Session] | None],
        metrics: Metrics,
        days: int = 30,
        ttl: float = 60,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions, self.days, self.ttl, self.clock = sessions, days, ttl, clock
        self._figures: dict[str, dict[str, float]] = {}
        self._at = -math.inf
        self._lock = threading.Lock()
        self._running = False  # a background refresh is under way
        if metrics.registry is not None:
            metrics.registry.register(self)

    def compute(self) -> dict[str, dict[str, float]]:
        """The figures now: {metric: {source label or "": value}}."""
        make = self.sessions()
        if make is None:  # not started yet
            return {}
        end = self.clock()
        with make() as session:
            row = store.active_policy(session)
            by = Policy.model_validate(row.document).exploration.by if row is not None else "entry_type"
            p = measured.performance(session, end - timedelta(days=self.days), end, by)

        def value(x: float | None) -> float:
            return math.nan if x is None else x

        rates = {s: p.source(s).hit_rate for s in ("model", "random")}
        return {
            "targeting_performance_hit_rate": {s: value(r.estimate if r else None) for s, r in rates.items()},
            "targeting_performance_lift": {"": value(p.lift.estimate if p.lift else None)},
            "targeting_performance_compliance": {"": value(p.compliance.estimate)},
            "targeting_performance_released_share": {"": value(p.released_share)},
            "targeting_performance_entries": {"": float(p.total.entries)},
        }

    def refresh(self) -> dict[str, dict[str, float]]:
        """Compute the figures now and keep them (an outage keeps the last ones, and is logged)."""
        try:
            self._figures = self.compute() or self._figures
        except Exception:  # the scrape that shows an outage must not fail with it
            log.exception("performance figures not computed; the last ones stand")
        return self._figures

    @property
    def refreshing(self) -> bool:
        """A background recomputation is under way."""
        return self._running

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
        finally:
            self._running = False

    def figures(self) -> dict[str, dict[str, float]]:
        """The last figures at once; when they are older than `ttl` seconds, a background thread recomputes them
        for the next scrape (a window of a million decisions takes seconds, which no scrape should wait for)."""
        with self._lock:
            stale = not self._running and time.monotonic() - self._at >= self.ttl
            if stale:
                self._running, self._at = True, time.monotonic()
        if stale:
            threading.Thread(target=self._refresh_in_background, name="performance-figures", daemon=True).start()
        return self._figures

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for name, doc in HEADLINES.items():
            yield GaugeMetricFamily(name, doc, labels=["source"] if name.endswith("hit_rate") else None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self.figures()
        for name, doc in HEADLINES.items():
            labelled = name.endswith("hit_rate")
            family = GaugeMetricFamily(name, f"{doc} Last {self.days} days.", labels=["source"] if labelled else None)
            for label, v in figures.get(name, {}).items():
                family.add_metric([label] if labelled else [], v)
            yield family
