from __future__ import annotations

import numpy as np
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
