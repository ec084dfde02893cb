"""The closed loop's mechanics (`targeting operate`, training/operate.py): a generated history whose truth is
revealed only where the policy inspects, models fitted on what it revealed, and a week's decisions.

The history's first `warmup_weeks` keep the labels its own past policy revealed; a model is trained on them.
Then, week by week, the model in force scores the week's entries (their account history counting only the
outcomes the loop itself has revealed), the policy inspects within capacity (the model's top-ranked, the
uniform random sample, the exploration budget), and only the inspected entries reveal their truth, each after a
label delay drawn from the history's own delays. Every `retrain_weeks` a challenger is fitted on what has been
revealed so far, weighted by inverse selection probability, and replaces the model in force only if it passes
the promotion gate on the latest revealed window. Entries are decided a week at a time: within a week, an entry's
history holds the outcomes known when the week began. The same seed gives the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from decisions.actions import Action
from decisions.explore import knowledge_gap, pick_probabilities
from decisions.policy import Capacity, Exploration, Objective, Policy, draw
from features.history import point_in_time_counts
from features.pipeline import FeaturePipeline, prepare
from features.spec import DatasetSpec
from model.artifact import Calibration, RevenueModel
from training.choices import Weighting
from training.data import MAX_WEIGHT, DataError, read_table, validate
from training.evaluate import window_metrics
from training.fit import FitParams, fit_booster, fit_calibration, fit_revenue, margins
from training.promotion import DEFAULT_GATE, Gate, check
from training.synth.entries import ORDER_AT

WEEK = pd.Timedelta(days=7)
# the shape the search picks most often (README); one thread, as threads cost more than they save on a few
# thousand labelled rows
LOOP_PARAMS = FitParams(num_leaves=7, min_data_in_leaf=20, num_threads=1)
LANE_SPLIT = (1 / 9, 3 / 9, 5 / 9)  # the model's capacity over physical, non-intrusive and document lanes


@dataclass(frozen=True)
class Strategy:
    """How a week's inspections are shared: the model's top-ranked take what the random sample and the
    exploration budget leave. Shares are of inspections, not of entries."""

    name: str
    random: float = 0.0
    explore: float = 0.0
    tuned: tuple[float, float] | None = None  # the exploration share tuned between these bounds, from half way

    def policy(
        self, capacity: float, explore: float | None = None, objective: Objective = Objective.EXPECTED_REVENUE
    ) -> Policy:
        """The policy in force: capacity lanes ranked by the objective, the random sample and the budget."""
        explore = self.explore if explore is None else explore
        model = capacity * max(0.0, 1.0 - self.random - explore)
        physical, nii, review = (model * s for s in LANE_SPLIT)
        return Policy(
            objective=objective,
            lanes="capacity",
            capacity=Capacity(physical_exam=physical, non_intrusive_exam=nii, document_review=review, min_entries=10),
            exploration=Exploration(rate=capacity * self.random, by=None, budget=capacity * explore),
        )


STRATEGIES = {
    s.name: s
    for s in (
        Strategy("exploit"),
        Strategy("random-1", random=0.01),
        Strategy("random-5", random=0.05),
        Strategy("random-10", random=0.10),
        Strategy("explore-10", random=0.01, explore=0.09),
        Strategy("tuned", random=0.01, tuned=(0.01, 0.29)),
    )
}


@dataclass(frozen=True)
class LoopSettings:
    capacity: float = 0.05  # share of entries inspected each week
    warmup_weeks: int = 26
    retrain_weeks: int = 4
    seed: int = 7
    params: FitParams = LOOP_PARAMS
    weighting: Weighting = "ipw"  # ipw: inspected rows weighted by 1 / selection probability; none: unweighted
    objective: Objective = Objective.EXPECTED_REVENUE  # what the model's picks are ranked by
    gate: Gate = field(default_factory=lambda: DEFAULT_GATE)


@dataclass(frozen=True)
class LoopModel:
    """A model of the loop: what the service's model is, without the registry."""

    version: int
    pipeline: FeaturePipeline
    booster: lgb.Booster
    calibration: Calibration
    revenue: RevenueModel | None
    trained_on: np.ndarray  # the rows (positions in the history) it was fitted and calibrated on

    def score(self, rows: pd.DataFrame, counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and expected revenue at stake."""
        x = self.pipeline.transform(rows, counts)
        p = self.calibration.probability(margins(self.booster, x))
        return p, p * self.revenue.given_violation(x.to_numpy()) if self.revenue else p


@dataclass
class World:
    """The history, its hidden truth, and what the loop has revealed of it so far (in `rows`)."""

    spec: DatasetSpec
    rows: pd.DataFrame  # prepared rows; label, revenue, outcome time, selection columns hold what was revealed
    truth: pd.DataFrame  # violation, revenue, expected revenue, violation type
    delay: np.ndarray  # days from filing to outcome, should the entry be inspected
    week: np.ndarray  # each row's week since the first entry
    start: pd.Timestamp
    order_week: float  # when the generator's AD/CVD order comes into force
    log: list[str] = field(default_factory=list)

    def reveal(self, at: np.ndarray, selection: np.ndarray, probability: np.ndarray) -> None:
        """Inspected rows learn their truth, each after its delay."""
        s, t, index = self.spec, self.truth.iloc[at], self.rows.index[at]
        violated = t["violation"].to_numpy(dtype=float)
        outcome = str(s.outcome_time)
        when = self.rows[s.timestamp].iloc[at] + pd.to_timedelta(self.delay[at], unit="D")
        self.rows.loc[index, s.label] = violated
        self.rows.loc[index, str(s.revenue)] = np.where(violated > 0, t["revenue"], 0.0)
        self.rows.loc[index, outcome] = when.astype(self.rows[outcome].dtype)
        self.rows.loc[index, str(s.selection)] = selection
        self.rows.loc[index, str(s.selection_probability)] = probability
        if s.violation_type:
            self.rows.loc[index, s.violation_type] = t["type"].where(violated > 0).to_numpy()

    def known_by(self, now: pd.Timestamp) -> pd.DataFrame:
        """The rows filed before `now`, with only the outcomes known by then."""
        s = self.spec
        view = self.rows[self.rows[s.timestamp] < now].copy()
        unknown = ~(view[str(s.outcome_time)] < now)
        outcome = (s.label, s.revenue, s.outcome_time, s.selection, s.selection_probability, s.violation_type)
        view.loc[unknown, [c for c in outcome if c]] = np.nan  # NaT in the time column
        return view


def world(data: Path, spec: DatasetSpec, settings: LoopSettings) -> World:
    """Read a generated history; reset what its past policy revealed after the warm-up."""
    truth = spec.truth
    needed = [spec.revenue, spec.outcome_time, spec.selection, spec.selection_probability]
    if truth is None or truth.revenue is None or truth.expected_revenue is None or not all(needed):
        raise DataError("operate replays generated data: the spec needs its truth columns and outcome columns")
    frame = validate(read_table(data), spec).sort_values(spec.timestamp, kind="stable").reset_index(drop=True)
    missing = [c for c in truth.columns if c not in frame]
    if missing:
        raise DataError(f"operate needs the generator's truth columns; missing: {', '.join(missing)}")
    rows = prepare(frame, spec)
    t = rows[spec.timestamp]
    start = t.min()
    week = ((t - start) // WEEK).to_numpy()
    after = week >= settings.warmup_weeks
    for col in (spec.label, spec.revenue, spec.selection_probability):
        rows.loc[after, str(col)] = np.nan
    rows.loc[after, str(spec.outcome_time)] = pd.NaT
    for col in (spec.selection, spec.violation_type):
        if col:
            rows.loc[after, col] = None
    inspected = frame[spec.label].notna() & frame[str(spec.outcome_time)].notna()
    delays = ((frame[str(spec.outcome_time)] - t)[inspected] / pd.Timedelta(days=1)).to_numpy()
    rng = np.random.default_rng(settings.seed)
    delay = rng.choice(delays, len(frame)) if len(delays) else np.full(len(frame), 14.0)
    hidden = pd.DataFrame(
        {
            "violation": frame[truth.label].to_numpy(dtype=float),
            "revenue": frame[truth.revenue].to_numpy(dtype=float),
            "expected": frame[truth.expected_revenue].to_numpy(dtype=float),
            "probability": frame[truth.probability].to_numpy(dtype=float) if truth.probability else np.nan,
            "type": frame[truth.violation_type].astype("string") if truth.violation_type else pd.NA,
        }
    )
    order_week = ORDER_AT * ((t.max() - start) / WEEK)
    return World(spec.model_copy(update={"truth": None}), rows, hidden, delay, week, start, order_week)


def fit_model(
    w: World, now: pd.Timestamp, version: int, params: FitParams, weighting: Weighting = "ipw"
) -> tuple[LoopModel, Held] | None:
    """A model fitted on the outcomes known by `now`, the newest fifth of them held out for early stopping,
    calibration and the gate; None when too few outcomes are known."""
    s = w.spec
    view = w.known_by(now)
    y = view[s.label].to_numpy(dtype=float)
    labelled = ~np.isnan(y)
    if labelled.sum() < 200 or np.nansum(y) < 10:
        return None
    times = view[s.timestamp]
    cut = times[labelled].quantile(0.8)
    counts = point_in_time_counts(view, s)
    pipeline = FeaturePipeline.fit(view[times < cut], s)
    tr, va = labelled & (times < cut).to_numpy(), labelled & (times >= cut).to_numpy()
    x = pipeline.transform(view, counts)
    chance = view[str(s.selection_probability)].to_numpy(dtype=float)
    weight = np.minimum(1.0 / np.where(chance > 0, chance, 1.0), MAX_WEIGHT) if weighting != "none" else np.ones(len(y))
    cats = pipeline.categorical_features
    booster = fit_booster(x[tr], y[tr], x[va], y[va], cats, params, weight[tr], weight[va])
    calibration = fit_calibration(margins(booster, x[va]), y[va], weight[va])
    money = view[str(s.revenue)].to_numpy(dtype=float)
    paid = labelled & (np.nan_to_num(y) == 1) & (np.nan_to_num(money) > 0)
    revenue = fit_revenue(
        x[tr & paid], money[tr & paid], x[va & paid], money[va & paid], cats, params.seed, params.num_threads
    )
    model = LoopModel(version, pipeline, booster, calibration, revenue, np.flatnonzero(tr | va))
    return model, Held(view[va], counts[va])


@dataclass(frozen=True)
class Held:
    """The outcomes a challenger did not fit on, with their history counts: what the gate judges by."""

    rows: pd.DataFrame
    counts: pd.DataFrame

    def passes(self, gate: Gate, spec: DatasetSpec, challenger: LoopModel, champion: LoopModel) -> bool:
        """Both models judged on these outcomes, as the promotion gate judges them."""
        judged = [window_metrics(self.rows, spec, m.score(self.rows, self.counts)[0]) for m in (challenger, champion)]
        return check(gate, judged[0], judged[1]).passed


def week_rows(w: World, number: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Positions of the week's rows, and their history counts from what was revealed before the week."""
    at = np.flatnonzero(w.week == number)
    upto = w.rows.iloc[: at[-1] + 1] if len(at) else w.rows.iloc[:0]
    return at, point_in_time_counts(upto, w.spec).iloc[at]


def decide_week(
    w: World, model: LoopModel, policy: Policy, secret: bytes, at: np.ndarray, counts: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each of the week's entries' action, selection and selection probability, and its knowledge gap."""
    rows = w.rows.iloc[at]
    score, expected = model.score(rows, counts)
    entities = [w.spec.entity_name(e) for e in w.spec.entities]
    gap = knowledge_gap(
        score,
        counts[[f"{e}__inspections" for e in entities]].to_numpy(dtype=float),
        counts[[f"{e}__violations" for e in entities]].to_numpy(dtype=float),
    )
    chance = pick_probabilities(gap, policy.exploration.budget, float(gap.mean()) if len(gap) else 0.0)
    ranked = expected if policy.objective is Objective.EXPECTED_REVENUE else score
    lanes = policy.capacity.thresholds(ranked) if len(at) else None
    ids = rows[w.spec.id].astype(str).to_numpy()
    out = [
        policy.decide(p, e, None, draw(secret, i), lanes, Action.RELEASE, c, draw(secret, f"explore:{i}"))
        for p, e, c, i in zip(score, expected, chance, ids)
    ]
    action = np.array([o.action.value for o in out], dtype=object)
    selection = np.array([o.selection for o in out], dtype=object)
    return action, selection, np.array([o.selection_probability for o in out]), gap
