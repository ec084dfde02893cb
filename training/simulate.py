"""`targeting simulate`: replay a labelled history under policies and compare what each would catch.

Every entry of the data's test window (out of sample for a model trained on the same data) is scored
by the model and run through each policy: capacity lanes take their thresholds from the replayed
window itself, as the exploration budget takes its mean knowledge gap. Outcomes come from the ground
truth where the data carry it, else from the inspected entries only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from decisions.actions import Action
from decisions.explore import knowledge_gap, pick_probabilities
from decisions.policy import Objective, Policy, draw
from model.artifact import ShipmentRiskModel
from training.data import read_table, time_split, validate
from training.train import _features

SECRET = b"simulation-only-secret"


def replay(model: ShipmentRiskModel, data: Path, policies: dict[str, Policy]) -> pd.DataFrame:
    """Per policy and lane: entries, violations and revenue caught; 'total' rows add the compliant released."""
    spec = model.pipeline.spec
    frame = validate(read_table(data), spec)
    test = time_split(frame, spec).masks(frame[spec.timestamp])[2]
    window = frame[test].reset_index(drop=True)
    x = _features(frame, model.pipeline, {})[test]
    scores = model.probability(x)
    expected = scores * model.revenue.given_violation(x.to_numpy()) if model.revenue else None
    truth = spec.truth if spec.truth and spec.truth.label in window else None
    y = window[truth.label if truth else spec.label].to_numpy(dtype=float)
    money_col = truth.revenue if truth else spec.revenue
    money = window[money_col].to_numpy(dtype=float) if money_col else np.zeros(len(window))
    keep = ~np.isnan(y)
    u = np.array([draw(SECRET, str(i)) for i in window[spec.id]])
    v = np.array([draw(SECRET, f"explore:{i}") for i in window[spec.id]])
    names = [spec.entity_name(e) for e in spec.entities]
    gap = knowledge_gap(
        scores,
        x[[f"{n}_prior_inspections" for n in names]].to_numpy(dtype=float),
        x[[f"{n}_prior_violations" for n in names]].to_numpy(dtype=float),
    )
    rows = []
    for name, policy in policies.items():
        ranked = expected if policy.objective is Objective.EXPECTED_REVENUE and expected is not None else scores
        lanes = policy.capacity.thresholds(ranked) if policy.lanes == "capacity" else None
        by = policy.exploration.by
        strata = window[by].astype(str).to_numpy() if by and by in window else np.full(len(window), None)
        chances = pick_probabilities(gap, policy.exploration.budget, float(gap.mean()))  # the window's own gaps
        actions = np.array(
            [
                policy.decide(s, None if expected is None else e, st, d, lanes, Action.RELEASE, c, w).action.value
                for s, e, st, d, c, w in zip(
                    scores, expected if expected is not None else scores, strata, u, chances, v
                )
            ]
        )
        caught = np.where(keep, y, 0) > 0
        for lane in [a.value for a in Action]:
            member = (actions == lane) & keep
            rows.append(
                {
                    "policy": name,
                    "lane": lane,
                    "entries": int(member.sum()),
                    "share": float(member.mean()),
                    "violations": int((caught & member).sum()),
                    "revenue": float(money[caught & member].sum()),
                }
            )
        inspected = (actions != Action.RELEASE.value) & keep
        compliant = keep & (y == 0)
        rows.append(
            {
                "policy": name,
                "lane": "total inspected",
                "entries": int(inspected.sum()),
                "share": float(inspected.sum() / keep.sum()),
                "violations": int((caught & inspected).sum()),
                "revenue": float(money[caught & inspected].sum()),
                "violations_caught": float((caught & inspected).sum() / max(caught.sum(), 1)),
                "revenue_caught": float(money[caught & inspected].sum() / max(money[caught].sum(), 1e-9)),
                "compliant_released": float((compliant & ~inspected).sum() / max(compliant.sum(), 1)),
            }
        )
    return pd.DataFrame(rows)


def simulation_table(table: pd.DataFrame) -> str:
    """`replay`'s table as a person reads it, within 80 columns: counts with separators, money in whole dollars,
    shares in per cent; the total rows' catch and release rates on a line of their own."""
    lines = [f"{'policy':<14} {'lane':<19} {'entries':>9} {'share':>7} {'violations':>10} {'revenue':>13}"]
    for row in table.itertuples(index=False):
        money = f"${round(row.revenue):,}"
        lines.append(
            f"{str(row.policy)[:14]:<14} {str(row.lane).replace('_', ' '):<19} {row.entries:>9,} "
            f"{row.share:>7.1%} {row.violations:>10,} {money:>13}"
        )
        if row.lane == "total inspected":
            lines.append(
                f"  caught {row.violations_caught:.1%} of violations, {row.revenue_caught:.1%} of revenue; "
                f"released {row.compliant_released:.1%} of compliant"
            )
    return "\n".join(lines)
