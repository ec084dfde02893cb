"""Exploration picks: exact selection probabilities, a gap that shrinks with evidence, a share that stays in bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from decisions.actions import Action
from decisions.explore import ShareTuner, knowledge_gap, pick_probabilities
from decisions.policy import Exploration, Policy, Tuning, draw

SECRET = b"test-explore"


def test_the_gap_narrows_as_an_account_is_inspected_and_ignores_missing_accounts() -> None:
    score = np.full(4, 0.1)
    inspections = np.array([[0.0, np.nan], [5.0, np.nan], [50.0, np.nan], [np.nan, np.nan]])
    violations = np.array([[0.0, np.nan], [0.0, np.nan], [0.0, np.nan], [np.nan, np.nan]])
    gap = knowledge_gap(score, inspections, violations)
    assert gap[0] > gap[1] > gap[2] > 0
    assert gap[3] == pytest.approx(gap[0])  # no account at all: the prior's width, as a new account's
    # the widest account decides: a well-known importer does not hide a new manufacturer
    both = knowledge_gap(np.array([0.1]), np.array([[50.0, 0.0]]), np.array([[0.0, 0.0]]))
    assert both[0] == pytest.approx(gap[0])
    # a score near zero leaves little to learn, whatever the account
    assert knowledge_gap(np.array([0.001]), np.array([[0.0]]), np.array([[0.0]]))[0] < gap[1]


def test_explorative_picks_happen_at_exactly_their_recorded_probability() -> None:
    """100,000 entries the model releases, each with its own exploration chance (up to the cap at 1) beside a
    random sample: in every band of chance, the entries inspected are within 4 sigma of the sum of the recorded
    selection probabilities, and inverse-probability weights over the inspected add back up to all entries."""
    rng = np.random.default_rng(3)
    n = 100_000
    gap = rng.gamma(0.7, 0.05, n)
    gap[:2000] *= 40  # a few entries whose chance is capped at 1
    chance = pick_probabilities(gap, 0.03, float(gap.mean()))
    assert chance.max() == 1.0 and 0.02 < chance.mean() <= 0.03  # the budget, less what the cap takes
    policy = Policy(exploration=Exploration(rate=0.01, by=None, budget=0.03))
    ids = [f"E{i}" for i in range(n)]
    outcomes = [
        policy.decide(0.001, None, None, draw(SECRET, i), None, Action.RELEASE, c, draw(SECRET, f"explore:{i}"))
        for i, c in zip(ids, chance)
    ]
    inspected = np.array([o.action is not Action.RELEASE for o in outcomes])
    recorded = np.array([o.selection_probability for o in outcomes])
    assert np.allclose(recorded, 1 - 0.99 * (1 - chance))
    assert {o.selection for o in outcomes} == {"random", "explore", None}
    for low, high in [(0, 0.01), (0.01, 0.03), (0.03, 0.1), (0.1, 0.999), (0.999, 1.01)]:
        band = (recorded >= low) & (recorded < high)
        expected, sd = recorded[band].sum(), math.sqrt((recorded[band] * (1 - recorded[band])).sum())
        assert abs(inspected[band].sum() - expected) <= 4 * max(sd, 1.0), (low, high)
    weights = 1 / recorded[inspected]
    sd = math.sqrt(((1 - recorded) / recorded).sum())
    assert abs(weights.sum() - n) <= 4 * sd
    explore = np.array([o.selection == "explore" for o in outcomes])
    assert abs(explore.sum() - (0.99 * chance).sum()) <= 4 * math.sqrt((0.99 * chance * (1 - 0.99 * chance)).sum())


def test_an_entry_the_model_inspects_is_not_an_explorative_pick() -> None:
    policy = Policy(exploration=Exploration(rate=0.0, by=None, budget=0.5))
    outcome = policy.decide(0.9, None, None, 0.5, None, Action.RELEASE, explore=1.0, v=0.0)
    assert (outcome.selection, outcome.selection_probability) == ("model", 1.0)


def test_the_tuned_share_stays_within_its_bounds_whatever_the_rewards() -> None:
    tuner = ShareTuner(0.02, 0.3, rate=5.0)
    assert tuner.share == pytest.approx(0.16)
    rng = np.random.default_rng(0)
    hostile = np.array([None, 0.0, math.inf, math.nan, -5.0, 1e300, 1e-300], dtype=object)
    for _ in range(2000):
        pair = [rng.choice(hostile) if rng.random() < 0.3 else rng.exponential(100) for _ in "ab"]
        assert 0.02 <= tuner.update(*pair) <= 0.3
    for _ in range(50):  # exploring pays ten times better: the share goes to its top, and no further
        tuner.update(10.0, 100.0)
    assert 0.29 < tuner.share <= 0.3
    for _ in range(50):
        tuner.update(100.0, 0.0)
    assert 0.02 <= tuner.share < 0.03
    with pytest.raises(ValueError, match="bounds"):
        ShareTuner(0.3, 0.2)
    with pytest.raises(ValueError, match="min_budget"):
        Tuning(min_budget=0.3, max_budget=0.2)
