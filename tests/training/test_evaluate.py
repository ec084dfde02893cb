from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.evaluate import targeting_metrics, top_k


def test_metrics_at_inspection_rates() -> None:
    # 100 entries, 10 violations; the score ranks 3 violations first, then 7 clean, then the rest
    y = np.zeros(100)
    y[[0, 1, 2, 50, 60, 70, 80, 90, 95, 99]] = 1
    scores = np.linspace(1, 0, 100)
    revenue = np.where(y > 0, 1.0, 0.0)
    revenue[0] = 91.0  # the first violation holds most of the revenue
    m = targeting_metrics(y, scores, revenue)
    assert m["base_rate"] == 0.1 and m["positives"] == 10
    assert m["precision_at_1pct"] == 1.0 and m["recall_at_1pct"] == 0.1
    assert m["precision_at_5pct"] == pytest.approx(3 / 5) and m["recall_at_5pct"] == pytest.approx(0.3)
    assert m["precision_at_10pct"] == pytest.approx(0.3)
    assert m["revenue_recall_at_1pct"] == pytest.approx(91 / 100)
    assert m["revenue_recall_at_5pct"] == pytest.approx(93 / 100)
    assert 0 < m["roc_auc"] < 1 and m["base_rate"] < m["pr_auc"] < 1


def test_top_k_rounds_up_and_breaks_ties_by_position() -> None:
    assert top_k(np.array([0.5, 0.5, 0.9]), 0.5).tolist() == [2, 0]
    assert len(top_k(np.ones(10), 0.01)) == 1


def test_no_revenue_no_revenue_metrics() -> None:
    m = targeting_metrics(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]), None)
    assert "revenue_recall_at_5pct" not in m and m["roc_auc"] == 1.0


def test_window_yardsticks_with_truth_and_oracle() -> None:
    from features.spec import DatasetSpec, Truth
    from training.evaluate import window_metrics

    rng = np.random.default_rng(0)
    n = 4000
    truth_p = rng.beta(0.3, 12, n)
    truth = rng.random(n) < truth_p
    inspected = rng.random(n) < 0.2
    window = pd.DataFrame(
        {
            "y": np.where(inspected, truth.astype(float), np.nan),
            "why": np.where(inspected, np.where(rng.random(n) < 0.5, "random", "policy"), None),
            "t_y": truth.astype(float),
            "t_p": truth_p,
            "t_rev": np.where(truth, 100.0, 0.0),
            "t_er": truth_p * 100,
        }
    )
    truth_cols = Truth(label="t_y", revenue="t_rev", probability="t_p", expected_revenue="t_er")
    spec = DatasetSpec(id="id", timestamp="t", label="y", selection="why", truth=truth_cols)
    noisy = truth_p * rng.lognormal(0, 1.0, n)  # a model that ranks worse than the truth
    m = window_metrics(window, spec, noisy)
    assert m["n"] == inspected.sum() and m["all_n"] == n
    assert m["random_n"] == (window["why"] == "random").sum()
    assert (
        m["random_precision_at_10pct_ci_low"]
        <= m["random_precision_at_10pct"]
        <= m["random_precision_at_10pct_ci_high"]
    )
    assert m["oracle_precision_at_5pct"] >= m["all_precision_at_5pct"]
    assert m["all_precision_at_5pct_of_oracle"] == pytest.approx(
        m["all_precision_at_5pct"] / m["oracle_precision_at_5pct"]
    )
    perfect = window_metrics(window, spec, truth_p)
    assert perfect["all_precision_at_5pct_of_oracle"] == 1.0
    # revenue recall against the oracle that ranks as the model does, by probability; ranking by the true
    # revenue at stake is its own yardstick, which the probability ranking is never divided by
    assert perfect["all_revenue_recall_at_1pct_of_oracle"] == 1.0
    by_revenue = window_metrics(window, spec, window["t_er"].to_numpy())
    assert by_revenue["oracle_by_revenue_revenue_recall_at_1pct"] == by_revenue["all_revenue_recall_at_1pct"]
    assert not any(k.startswith("all_") and k.endswith("_of_oracle_by_revenue") for k in m)
    assert perfect["all_calibration_error"] < m["all_calibration_error"]


def test_calibration_error() -> None:
    from training.evaluate import expected_calibration_error

    rng = np.random.default_rng(1)
    p = rng.random(20000) * 0.5
    y = (rng.random(20000) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.minimum(p * 2, 1)) > 0.1


def test_wilson_intervals_and_the_pooled_random_sample() -> None:
    from training.evaluate import pooled_sample, wilson

    low, high = wilson(5, 10)  # 90 %: the textbook figures
    assert round(low, 4) == 0.2693 and round(high, 4) == 0.7307
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)
    # two windows, each ranked by its own model: the top 5 % of 40 entries is 2 of each
    first = (np.array([1.0, 1.0] + [0.0] * 38), np.arange(40.0)[::-1])  # both violations ranked first
    second = (np.array([0.0] * 39 + [1.0]), np.arange(40.0)[::-1])  # its violation ranked last
    pooled = pooled_sample([first, second])
    assert (pooled["random_pooled_n"], pooled["random_pooled_positives"]) == (80.0, 3.0)
    assert pooled["random_pooled_precision_at_5pct"] == 2 / 4 and pooled["random_pooled_recall_at_5pct"] == 2 / 3
    assert pooled["random_pooled_precision_at_5pct_ci_low"] < 0.5 < pooled["random_pooled_precision_at_5pct_ci_high"]
