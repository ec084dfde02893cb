"""Measured success, as pure statistics over counts: hit rates with Wilson intervals, the lift of model
selection over random selection, and the compliance rate of the whole stream estimated from the stratified
random sample (CBP's Trade Compliance Measurement). Counts in, figures out: no database, no HTTP; the counts
come from decisions/store/performance.py.

An entry's *source* is why it was inspected as its outcome records it (`selected_by`), or else its decision's
`selection`; an entry its decision released and nobody inspected has the source `none`. Its *lane* is its first
decision's action."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from decisions.actions import Action

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
# the values known today, in the order they are shown; any other value found in the data follows them
SOURCES = ("model", "rule", "random", "explore", "officer", "audit")
LANES = tuple(a.value for a in Action)
NOT_SELECTED = "none"  # released by its decision and not inspected
RELEASE = Action.RELEASE.value


@dataclass(frozen=True)
class Rate:
    """A proportion and its interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Ratio:
    """A ratio of two proportions; the interval is None where it is undefined (no hit on a side)."""

    estimate: float
    low: float | None
    high: float | None


def wilson(hits: float, n: float, z: float = Z95) -> Rate | None:
    """The share `hits / n` with its Wilson score interval; None when n is 0. `n` may be fractional (an
    effective sample size)."""
    if n <= 0:
        return None
    p = min(max(hits / n, 0.0), 1.0)
    zz = z * z
    denominator = 1 + zz / n
    centre = (p + zz / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n * n)) / denominator
    return Rate(p, max(0.0, centre - half), min(1.0, centre + half))


def lift(model_hits: int, model_n: int, random_hits: int, random_n: int, z: float = Z95) -> Ratio | None:
    """The model's hit rate over the random sample's, with Katz's log interval:
    exp(log(p1 / p2) ± z * sqrt((1 - p1) / x1 + (1 - p2) / x2)).

    None when a side has no outcome or the random sample found no violation (the ratio is undefined); the
    interval is None when the model found none (the log is)."""
    if model_n <= 0 or random_n <= 0 or random_hits <= 0:
        return None
    p1, p2 = model_hits / model_n, random_hits / random_n
    if model_hits <= 0:
        return Ratio(0.0, None, None)
    ratio = p1 / p2
    se = math.sqrt((1 - p1) / model_hits + (1 - p2) / random_hits)
    return Ratio(ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se))


@dataclass(frozen=True)
class Tally:
    """What a set of entries went through: decided, inspected (sent to an intervention by their decision, or
    inspected anyway), with an outcome recorded, found violating, and the revenue recovered."""

    entries: int = 0
    inspections: int = 0
    outcomes: int = 0
    violations: int = 0
    revenue_recovered: float = 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Tally)))

    @property
    def hit_rate(self) -> Rate | None:
        """Violations per outcome recorded, with its Wilson interval."""
        return wilson(self.violations, self.outcomes)


@dataclass(frozen=True)
class DecidedGroup:
    """First decisions in the window that share a selection, a lane and a stratum."""

    selection: str | None
    lane: str
    stratum: str | None
    entries: int


@dataclass(frozen=True)
class OutcomeGroup:
    """Outcomes of entries first decided in the window, sharing why they were inspected and their decision's
    selection, lane and stratum."""

    selected_by: str
    selection: str | None
    lane: str
    stratum: str | None
    outcomes: int
    violations: int
    revenue_recovered: float


def ordered(values: Iterable[str], known: tuple[str, ...]) -> list[str]:
    """The known values present in their order, then the others alphabetically, `none` last."""
    present = set(values)
    rest = sorted(present - set(known) - {NOT_SELECTED})
    return [v for v in known if v in present] + rest + ([NOT_SELECTED] if NOT_SELECTED in present else [])


def tallies(decided: list[DecidedGroup], outcomes: list[OutcomeGroup]) -> dict[tuple[str, str], Tally]:
    """The tally of each (source, lane). An entry with an outcome counts under the source its outcome names,
    which moves it from its decision's selection when the two differ (an officer's referral of a released
    entry)."""
    entries: dict[tuple[str, str], int] = {}
    found: dict[tuple[str, str], Tally] = {}
    for d in decided:
        key = (d.selection or NOT_SELECTED, d.lane)
        entries[key] = entries.get(key, 0) + d.entries
    for o in outcomes:
        home, source = (o.selection or NOT_SELECTED, o.lane), (o.selected_by, o.lane)
        entries[home] = entries.get(home, 0) - o.outcomes
        entries[source] = entries.get(source, 0) + o.outcomes
        found[source] = found.get(source, Tally()) + Tally(0, 0, o.outcomes, o.violations, o.revenue_recovered)
    cells = {}
    for key, n in entries.items():
        t = found.get(key, Tally())
        n = max(n, t.outcomes)  # an outcome whose decision is not the entry's first (never, as recorded)
        if n > 0:
            cells[key] = replace(t, entries=n, inspections=t.outcomes if key[1] == RELEASE else n)
    return cells


@dataclass(frozen=True)
class StratumCount:
    """A stratum of the random compliance sample: entries decided in the window, random picks with an
    outcome, and the violations among them."""

    stratum: str
    entries: int
    sampled: int
    violations: int


@dataclass(frozen=True)
class StratumEstimate:
    stratum: str
    entries: int
    weight: float  # N_h / N over the strata with a sample; 0 for a stratum without
    sampled: int
    violations: int
    compliance: Rate | None  # None: no random pick of the stratum has an outcome


@dataclass(frozen=True)
class Compliance:
    """The compliance rate of the stream and its interval (None when no stratum has a sample), over the strata
    with a random outcome; `represented_share` is their share of the window's entries, `unsampled` the rest."""

    estimate: float | None
    low: float | None
    high: float | None
    standard_error: float | None
    entries: int
    sampled: int
    violations: int
    represented_share: float | None
    strata: list[StratumEstimate] = field(default_factory=list)
    unsampled: list[str] = field(default_factory=list)


def stratified_compliance(strata: list[StratumCount], z: float = Z95) -> Compliance:
    """CBP's Trade Compliance Measurement estimator over a stratified random sample.

    Per stratum h with n_h > 0 random outcomes: p_h = violations / n_h, W_h = N_h / N over those strata;
    the violation rate is p = Σ W_h p_h and the compliance 1 - p, with variance
    V = Σ W_h² p_h (1 - p_h) / n_h · (1 - n_h / N_h) (the finite-population correction). The interval is
    Wilson's at the effective sample size p (1 - p) / V, at most Σ n_h (Korn and Graubard, 1998), which stays
    inside [0, 1] and does not collapse when every sampled entry complied, as the normal interval on V would.
    A stratum with entries but no random outcome cannot be estimated: it is listed in `unsampled`, and the
    estimate covers the others (`represented_share` of the entries)."""
    total = sum(s.entries for s in strata)
    with_sample = [s for s in strata if s.sampled > 0]
    covered = sum(max(s.entries, s.sampled) for s in with_sample)
    n = sum(s.sampled for s in with_sample)
    hits = sum(s.violations for s in with_sample)
    estimates = []
    p = variance = 0.0
    for s in sorted(strata, key=lambda s: (-s.entries, s.stratum)):
        size = max(s.entries, s.sampled)
        weight = size / covered if s.sampled > 0 and covered > 0 else 0.0
        rate = wilson(s.violations, s.sampled, z)
        if rate is not None:
            p_h = rate.estimate
            p += weight * p_h
            variance += weight**2 * p_h * (1 - p_h) / s.sampled * (1 - s.sampled / size)
            rate = Rate(1 - p_h, 1 - rate.high, 1 - rate.low)
        estimates.append(StratumEstimate(s.stratum, s.entries, weight, s.sampled, s.violations, rate))
    unsampled = [s.stratum for s in estimates if s.sampled == 0 and s.entries > 0]
    if n == 0:
        return Compliance(None, None, None, None, total, 0, 0, 0.0 if total else None, estimates, unsampled)
    effective = min(p * (1 - p) / variance, n) if variance > 0 else n
    interval = wilson(p * effective, effective, z)
    assert interval is not None
    share = covered / total if total else 1.0
    return Compliance(
        1 - p, 1 - interval.high, 1 - interval.low, math.sqrt(variance), total, n, hits, share, estimates, unsampled
    )


@dataclass(frozen=True)
class Performance:
    """Every figure of a window [start, end) of first decisions."""

    start: datetime
    end: datetime
    cells: dict[tuple[str, str], Tally]
    sources: list[tuple[str, Tally]]
    lanes: list[tuple[str, Tally]]
    total: Tally
    lift: Ratio | None
    released_without_intervention: int
    median_seconds_to_outcome: float | None
    compliance: Compliance
    stratified_by: str | None

    @property
    def released_share(self) -> float | None:
        """The share of entries released by their decision and never inspected."""
        return self.released_without_intervention / self.total.entries if self.total.entries else None

    def source(self, name: str) -> Tally:
        return next((t for s, t in self.sources if s == name), Tally())


def summarise(
    start: datetime,
    end: datetime,
    decided: list[DecidedGroup],
    outcomes: list[OutcomeGroup],
    median_seconds: float | None,
    stratified_by: str | None,
) -> Performance:
    """The window's figures from its groups of decisions and outcomes (and the median delay, from SQL)."""
    cells = tallies(decided, outcomes)
    sources = [(s, _sum(t for (c, _), t in cells.items() if c == s)) for s in ordered((c[0] for c in cells), SOURCES)]
    lanes = [
        (lane, _sum(t for (_, c), t in cells.items() if c == lane)) for lane in ordered((c[1] for c in cells), LANES)
    ]
    total = _sum(cells.values())
    model, chance = dict(sources).get("model", Tally()), dict(sources).get("random", Tally())
    released = sum(t.entries - t.outcomes for (_, lane), t in cells.items() if lane == RELEASE)
    strata: dict[str, list[int]] = {}
    for d in decided:
        strata.setdefault(d.stratum or "unknown", [0, 0, 0])[0] += d.entries
    for o in outcomes:
        if o.selection == "random":
            counts = strata.setdefault(o.stratum or "unknown", [0, 0, 0])
            counts[1] += o.outcomes
            counts[2] += o.violations
    return Performance(
        start,
        end,
        cells,
        sources,
        lanes,
        total,
        lift(model.violations, model.outcomes, chance.violations, chance.outcomes),
        released,
        median_seconds,
        stratified_compliance([StratumCount(h, *c) for h, c in strata.items()]),
        stratified_by,
    )


def _sum(tallies: Iterable[Tally]) -> Tally:
    return sum(tallies, Tally())
