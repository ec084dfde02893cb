"""What `targeting train` and `tune` print and record when they are done."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from training.registry import Registration
    from training.train import TrainResult


def summary(model_name: str, result: TrainResult, began: float) -> None:
    """What training registered, and its targeting metrics on the test window."""
    from training.evaluate import MIN_SAMPLE_VIOLATIONS

    m, reg = result.metrics, result.registration
    before = "first version" if reg.champion_score is None else f"champion's precision@5% {reg.champion_score:.4f}"
    record(model_name, reg, m, f"trained: precision@5% {m['precision_at_5pct']:.4f}; {before}")
    typer.echo(
        f"registered {model_name} version {reg.version} as @{reg.alias} (run {reg.run_id}) "
        f"in {time.perf_counter() - began:.1f}s"
    )
    p = result.params
    shape = f"{p.num_leaves} leaves, at least {p.min_data_in_leaf} rows a leaf, {int(m['best_iteration'])} trees"
    if "shape_search_seconds" in m:
        shape += f" (chosen on this data in {m['shape_search_seconds']:.0f}s; --shape fixed: 15 leaves)"
    typer.echo(f"model: {shape}")
    typer.echo(
        f"test window from {result.split.test_from:%Y-%m-%d}: {int(m['n'])} labelled entries, "
        f"base rate {m['base_rate']:.3f}, ROC-AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"PR-AUC {m.get('pr_auc', float('nan')):.3f}"
    )
    table(m, "", "inspected entries of the test window (biased by the past policy)")
    for warning in result.warnings:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW, bold=True)
    if "random_n" in m:
        sample = f"random compliance sample of the window ({int(m['random_n'])} entries"
        found = int(m.get("random_positives", 0))
        if found < MIN_SAMPLE_VIOLATIONS:  # an interval from one or two violations is a point, not an estimate
            typer.echo(
                f"{sample}): too few random-sample violations ({found}) to estimate; the sample grows with "
                "the exploration rate and time"
            )
        else:
            table(m, "random_", f"{sample}, 90% intervals)")
    if "all_n" in m:
        table(m, "all_", f"every entry of the window against the ground truth ({int(m['all_n'])} entries)")
    if "by_revenue_all_revenue_recall_at_5pct" in m:
        table(m, "by_revenue_all_", "the same, ranked by expected revenue at stake instead of probability")
    if "baseline_precision_at_5pct" in m:
        typer.echo(
            f"baseline (plain LightGBM on the spec's columns): precision@5% {m['baseline_precision_at_5pct']:.3f} "
            f"on the test window (the model: {m['precision_at_5pct']:.3f}), "
            f"{m['baseline_valid_precision_at_5pct']:.3f} on the validation window "
            f"(the model: {m['valid_precision_at_5pct']:.3f})"
        )
    if reg.champion_score is not None:
        typer.echo(f"previous champion's precision@5% on this window: {reg.champion_score:.3f}")


def record(model_name: str, registration: Registration, metrics: dict[str, float], reason: str) -> None:
    """Record the alias that training gave, in the service's database, like any promotion."""
    import getpass

    from service.settings import Settings
    from training.promotion import record_registration

    record_registration(Settings().database_url, model_name, registration, getpass.getuser(), reason, metrics)


def table(m: dict[str, float], prefix: str, title: str) -> None:
    typer.echo(f"{title}:")
    oracle = "oracle_by_revenue_" if prefix.startswith("by_revenue_") else "oracle_"  # the one ranking the same way
    typer.echo("  k      precision          recall             revenue-recall")
    for k in ("1pct", "2pct", "5pct", "10pct"):
        cells = []
        for name in ("precision", "recall", "revenue_recall"):
            key = f"{prefix}{name}_at_{k}"
            cell = f"{m.get(key, float('nan')):.3f}"
            if f"{key}_ci_low" in m:
                cell += f" [{m[f'{key}_ci_low']:.2f}-{m[f'{key}_ci_high']:.2f}]"
            elif prefix.endswith("all_") and f"{oracle}{name}_at_{k}" in m:
                cell += f" (oracle {m[f'{oracle}{name}_at_{k}']:.3f})"
            cells.append(f"{cell:<18}")
        typer.echo(f"  {k:<6} {' '.join(cells)}")
