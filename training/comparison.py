"""Two registered versions side by side on the same test window: `targeting compare`, and the gate's numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.data import DataError
from training.evaluate import INSPECTION_RATES, rate_name
from training.registry import load_model, use
from training.train import evaluate_model

Metrics = dict[str, float]


def version_of(client: MlflowClient, model_name: str, version: int) -> Any:
    try:
        return client.get_model_version(model_name, str(version))
    except MlflowException:
        raise DataError(f"{model_name} version {version} is not in the registry") from None


def evaluate_version(model_name: str, version: int, data: Path) -> Metrics:
    return evaluate_model(load_model(f"models:/{model_name}/{version}"), data)


def compare(uri: str, model_name: str, version_a: int, version_b: int, data: Path) -> tuple[Metrics, Metrics]:
    """Both versions' yardsticks on the test window of `data` (the same window for both)."""
    client = use(uri)
    for v in (version_a, version_b):
        version_of(client, model_name, v)
    return evaluate_version(model_name, version_a, data), evaluate_version(model_name, version_b, data)


_MAIN = ["n", "base_rate", "roc_auc", "pr_auc", "brier", "calibration_error"] + [
    f"{m}_at_{rate_name(k)}" for m in ("precision", "recall", "revenue_recall") for k in INSPECTION_RATES
]
_GROUPS = {
    "": "inspected entries of the test window",
    "random_": "random compliance sample",
    "all_": "every entry against the ground truth",
    "oracle_": "the oracle (true probability)",
    "by_revenue_": "inspected entries, ranked by expected revenue",
    "by_revenue_all_": "every entry, ranked by expected revenue",
    "oracle_by_revenue_": "the oracle ranking by true expected revenue",
}


def format_comparison(metrics_a: Metrics, metrics_b: Metrics, label_a: str, label_b: str, full: bool = False) -> str:
    """A side-by-side table of the main metrics, one group per yardstick present, with b - a. Unless `full`, only
    the metrics that differ (to four places) are listed, and not the oracle's, which is the same for both."""
    groups = {
        (prefix, title): [prefix + m for m in _MAIN if prefix + m in metrics_a or prefix + m in metrics_b]
        for prefix, title in _GROUPS.items()
        if full or not prefix.startswith("oracle_")
    }
    name = max([len(k) for keys in groups.values() for k in keys] + [6])
    width = max(len(label_a), len(label_b), 10)
    out = [f"  {'metric':<{name}} {label_a:>{width}} {label_b:>{width}} {'difference':>10}"]
    left_out = 0
    for (prefix, title), keys in groups.items():
        rows = []
        for key in keys:
            a, b = metrics_a.get(key, math.nan), metrics_b.get(key, math.nan)
            if not full and round(a, 4) == round(b, 4):
                left_out += 1
                continue
            fmt = ".0f" if key == f"{prefix}n" else ".4f"
            rows.append(f"  {key:<{name}} {a:>{width}{fmt}} {b:>{width}{fmt}} {b - a:>+10{fmt}}")
        if rows:
            out += [f"{title}:", *rows]
    if not full:
        out.append(f"{left_out} metrics equal for both, and the oracle's, left out: --full lists every one")
    return "\n".join(out)


def compare_report(uri: str, model_name: str, a: int, b: int, data: Path, full: bool = False) -> str:
    """`targeting compare A B`: the two versions side by side, with the aliases each one holds."""
    metrics_a, metrics_b = compare(uri, model_name, a, b, data)
    client = MlflowClient(uri, uri)
    labels = [" ".join([f"v{v}", *(f"@{x}" for x in version_of(client, model_name, v).aliases)]) for v in (a, b)]
    window = f"{int(metrics_a['n'])} labelled entries, violation rate {metrics_a['base_rate']:.3f}"
    return f"{model_name} on the test window of {data} ({window}):\n" + format_comparison(
        metrics_a, metrics_b, labels[0], labels[1], full
    )
