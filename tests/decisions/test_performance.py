"""The statistics of measured success (decisions/performance.py): Wilson intervals, the lift's Katz interval and
the TCM stratified estimator against hand-worked figures, how entries are tallied by source and lane, and on
generated data that the compliance interval covers the generator's truth."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from decisions.performance import (
    DecidedGroup,
    OutcomeGroup,
    StratumCount,
    lift,
    ordered,
    stratified_compliance,
    summarise,
    tallies,
    wilson,
)
from decisions.policy import Exploration, draw
from training.synth import SynthConfig, generate


def test_wilson_matches_worked_values() -> None:
    half = wilson(5, 10)
    assert half is not None
    assert (round(half.low, 4), round(half.high, 4)) == (0.2366, 0.7634)
    none_found = wilson(0, 10)
    assert none_found is not None and none_found.low == 0.0
    assert none_found.high == pytest.approx(1.959963984540054**2 / (10 + 1.959963984540054**2))
    assert wilson(0, 0) is None


def test_lift_uses_katz_log_interval_and_is_null_when_undefined() -> None:
    found = lift(30, 100, 5, 100)
    assert found is not None and found.estimate == pytest.approx(6.0)
    se = math.sqrt(0.7 / 30 + 0.95 / 5)
    assert found.low == pytest.approx(6 * math.exp(-1.959963984540054 * se))
    assert found.high == pytest.approx(6 * math.exp(1.959963984540054 * se))
    assert found.low == pytest.approx(2.4266, abs=1e-3) and found.high == pytest.approx(14.836, abs=1e-2)
    assert lift(3, 10, 0, 50) is None  # random found nothing: the ratio is undefined
    assert lift(3, 10, 2, 0) is None and lift(0, 0, 2, 10) is None
    no_hit = lift(0, 10, 2, 20)
    assert no_hit is not None and no_hit.estimate == 0.0 and no_hit.low is None and no_hit.high is None


def test_an_entry_counts_under_the_source_its_outcome_names() -> None:
    decided = [
        DecidedGroup("model", "physical_exam", "01", 10),
        DecidedGroup("random", "physical_exam", "01", 4),
        DecidedGroup(None, "release", "01", 100),
        DecidedGroup("rule", "document_review", "86", 3),
    ]
    outcomes = [
        OutcomeGroup("model", "model", "physical_exam", "01", 8, 3, 1200.0),
        OutcomeGroup("random", "random", "physical_exam", "01", 4, 1, 50.0),
        OutcomeGroup("officer", None, "release", "01", 2, 2, 700.0),  # referrals of released entries
    ]
    cells = tallies(decided, outcomes)
    assert cells["model", "physical_exam"].entries == 10 and cells["model", "physical_exam"].inspections == 10
    assert cells["model", "physical_exam"].outcomes == 8 and cells["model", "physical_exam"].violations == 3
    assert cells["none", "release"].entries == 98 and cells["none", "release"].inspections == 0
    assert cells["officer", "release"].entries == 2 and cells["officer", "release"].inspections == 2
    assert cells["rule", "document_review"].outcomes == 0 and cells["rule", "document_review"].hit_rate is None
    start = datetime(2025, 1, 1, tzinfo=UTC)
    p = summarise(start, start, decided, outcomes, 3600.0, "entry_type")
    assert [s for s, _ in p.sources] == ["model", "rule", "random", "officer", "none"]
    assert [lane for lane, _ in p.lanes] == ["release", "document_review", "physical_exam"]
    assert p.total.entries == 117 and p.total.revenue_recovered == 1950.0
    assert p.released_without_intervention == 98 and p.released_share == pytest.approx(98 / 117)
    assert p.lift is not None and p.lift.estimate == pytest.approx((3 / 8) / (1 / 4))
    # strata: 01 has 114 entries and 4 random outcomes; 86 has 3 entries and none
    assert [(s.stratum, s.entries, s.sampled) for s in p.compliance.strata] == [("01", 114, 4), ("86", 3, 0)]
    assert p.compliance.unsampled == ["86"] and p.compliance.represented_share == pytest.approx(114 / 117)


def test_values_not_known_today_are_listed_after_the_known_ones() -> None:
    assert ordered(["zeta", "none", "random", "audit", "model", "alpha"], ("model", "rule", "random", "audit")) == [
        "model",
        "random",
        "audit",
        "alpha",
        "zeta",
        "none",
    ]


def test_the_stratified_estimate_weights_strata_by_their_entries() -> None:
    found = stratified_compliance([StratumCount("01", 3000, 100, 4), StratumCount("86", 7000, 50, 0)])
    p01 = 4 / 100
    assert found.estimate == pytest.approx(1 - 0.3 * p01)  # 86 found nothing: only 01's violations count, at 30 %
    variance = 0.3**2 * p01 * (1 - p01) / 100 * (1 - 100 / 3000)
    assert found.standard_error == pytest.approx(math.sqrt(variance))
    assert found.low is not None and found.high is not None and found.low < found.estimate < found.high <= 1
    assert found.sampled == 150 and found.violations == 4 and found.unsampled == [] and found.represented_share == 1
    unweighted = 1 - 4 / 150
    assert abs(found.estimate - unweighted) > 0.01  # a plain mean of the sample would be another figure
    empty = stratified_compliance([StratumCount("01", 500, 0, 0)])
    assert empty.estimate is None and empty.unsampled == ["01"] and empty.represented_share == 0.0
    everyone_complied = stratified_compliance([StratumCount("01", 500, 40, 0)])
    assert everyone_complied.estimate == 1.0 and everyone_complied.low is not None
    assert everyone_complied.low < 0.95  # Wilson at n = 40: no collapse to a zero-width interval


@pytest.fixture(scope="module")
def stream() -> pd.DataFrame:
    return generate(SynthConfig(entries=120_000, seed=23))


def test_the_compliance_interval_covers_the_generators_truth(stream: pd.DataFrame) -> None:
    """50 seeded windows of 120 days: the policy's stratified random sample is drawn (its HMAC draw, a secret per
    window), each pick's outcome is the generator's label, and the TCM interval must cover the true compliance
    rate of the window's entries in at least 45 of them."""
    policy = Exploration(rate=0.03, rates={"86": 0.01}, by="entry_type")
    filed = stream["filed_at"]
    starts = pd.date_range(filed.min(), filed.max() - pd.Timedelta(days=120), periods=500)
    covered, widths, errors = 0, [], []
    for seed in range(50):
        start = starts[np.random.default_rng(seed).integers(len(starts))]
        window = stream[(filed >= start) & (filed < start + pd.Timedelta(days=120))]
        secret = f"tcm-window-{seed}".encode()
        u = np.fromiter((draw(secret, e) for e in window["entry_id"]), float, len(window))
        picked = u < window["entry_type"].map(policy.rate_for).to_numpy()
        counts = (
            pd.DataFrame(
                {"h": window["entry_type"], "n": 1, "sampled": picked, "violations": picked & window["truth_violation"]}
            )
            .groupby("h")[["n", "sampled", "violations"]]
            .sum()
        )
        strata = [StratumCount(str(h), int(r.n), int(r.sampled), int(r.violations)) for h, r in counts.iterrows()]
        found = stratified_compliance(strata)
        truth = 1 - window["truth_violation"].mean()
        assert found.estimate is not None and found.low is not None and found.high is not None
        covered += found.low <= truth <= found.high
        widths.append(found.high - found.low)
        errors.append(found.estimate - truth)
    assert covered >= 45, f"the interval covered the truth in {covered} of 50 windows"  # 47 when written
    assert np.mean(widths) < 0.04  # and it says something: narrower than four points of compliance
    assert abs(np.mean(errors)) < 0.002  # the weighted estimate is unbiased over windows
