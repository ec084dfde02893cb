"""Drift: how far the serving model's recent traffic has moved from its training reference, feature by
feature and for the score (population stability index, training/drift.py), kept fresh for the desk, the
API and /metrics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from decisions.store import desk
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


def drift(session: Session, scorer: Scorer, days: int, limit: int, now: datetime | None = None) -> DriftReport:
    """The serving version's drift over its decisions of the last `days` days (the latest `limit` of them)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    ref = scorer.ref
    reference = scorer.model.reference
    window = f"version {ref.version} in the last {days} days"

    def report(decisions: int, note: str = "", columns: list[ColumnDrift] | None = None) -> DriftReport:
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
        )

    if reference is None:
        return report(0, f"version {ref.version} was trained before references were saved: retrain it to monitor drift")
    rows = desk.recent_inputs(session, ref.name, ref.version, since, limit)
    if not rows:
        return report(0, f"no decisions by {window}")
    return report(len(rows), columns=compare(reference, recent_values(rows, scorer.pipeline.feature_names)))


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
        self.metrics.drift_computed(report.columns, report.decisions)
        log.info(
            "drift computed over %d decisions in %.0f ms: %d of %d columns flagged",
            report.decisions,
            (time.perf_counter() - began) * 1000,
            len(report.flagged),
            len(report.columns),
        )
        return report
