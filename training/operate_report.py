"""A closed-loop run as people read it: the comparison of strategies, and the MLflow run of each."""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path

from training import plots
from training.loop import LoopSettings
from training.operate import Operation
from training.registry import log_operation, run_name

EVASION = "transshipment"  # the pattern the AD/CVD order makes rise (training/synth)


def comparison_table(operations: list[Operation], weeks_after: int = 13) -> str:
    """One line per strategy: revenue caught (and its share of the oracle's with the same inspections),
    violations caught, precision, compliant released, and the evasion pattern's recall after the order."""
    head = (
        f"{'strategy':<11} {'revenue caught':>15} {'of oracle':>9} {'recall':>7} {'precision':>9} "
        f"{'released':>8} {f'{EVASION[:8]} {weeks_after}w':>14} {'explore':>7} {'promoted':>8}"
    )
    lines = [head]
    for op in operations:
        t = op.totals()
        after = op.after_order(EVASION, weeks_after)
        money = f"${t['revenue_caught']:,.0f}"
        lines.append(
            f"{op.strategy.name:<11} {money:>15} {t['of_oracle_revenue']:>9.1%} "
            f"{t['recall']:>7.1%} {t['precision']:>9.1%} {t['compliant_released']:>8.1%} "
            f"{'-' if math.isnan(after) else f'{after:.1%}':>14} {t['explore_share_mean']:>7.1%} "
            f"{t['promotions']:>8.0f}"
        )
    return "\n".join(lines)


def record(operation: Operation, data: Path, settings: LoopSettings, uri: str, began: float) -> tuple[str, str]:
    """Log the run to MLflow: settings, totals, one step per week, the weekly and per-type tables, the chart."""
    name = operation.strategy.name
    params = {f"loop_{k}": v for k, v in asdict(settings).items() if k not in ("params", "gate")}
    params |= {f"strategy_{k}": v for k, v in asdict(operation.strategy).items()}
    params |= {"data_path": str(data), "gate": settings.gate.model_dump_json(), "fit": str(settings.params)}
    totals = operation.totals() | {f"{EVASION}_recall_after_order": operation.after_order(EVASION)}
    steps = [week_metrics(r) for r in operation.weeks.to_dict("records")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        operation.weeks.to_csv(folder / "weeks.csv", index=False)
        operation.types.to_csv(folder / "violation_types.csv", index=False)
        recall = operation.recall_by_type()
        recall.to_csv(folder / "recall_by_type.csv")
        (folder / "log.txt").write_text("\n".join(operation.log) + "\n")
        plots.operation(operation.weeks, recall, operation.order_week, name, folder / "operation.png")
        return log_operation(
            uri,
            run_name(f"operate {name}", data, int(operation.weeks["entries"].sum())),
            began,
            params,
            {k: v for k, v in totals.items() if not math.isnan(v)},
            steps,
            folder,
        )


def week_metrics(week: dict[str, float]) -> dict[str, float]:
    """A week's step in MLflow: counts, the shares people read (precision, recall, revenue caught, each beside the
    oracle's, and the compliant released), and the exploration share."""
    counted = ("inspected", "caught", "oracle_caught", "revenue_caught", "oracle_revenue_caught", "explore_share")
    compliant = week["entries"] - week["violations"]
    shares = {
        "precision": week["caught"] / max(week["inspected"], 1),
        "recall": week["caught"] / max(week["violations"], 1),
        "oracle_recall": week["oracle_caught"] / max(week["violations"], 1),
        "revenue_share": week["revenue_caught"] / max(week["revenue"], 1e-9),
        "oracle_revenue_share": week["oracle_revenue_caught"] / max(week["revenue"], 1e-9),
        "compliant_released": week["compliant_released"] / max(compliant, 1),
    }
    return {"week": week["week"], **{f"week_{k}": float(week[k]) for k in counted}} | {
        f"week_{k}": v for k, v in shares.items()
    }
