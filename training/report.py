"""The targeting report of a run: one self-contained HTML page with its figures and tables."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

RATES = ("1pct", "2pct", "5pct", "10pct")
WINDOWS = {
    "": "inspected entries of the test window (biased by the past policy)",
    "random_": "the random compliance sample of the window (unbiased)",
    "all_": "every entry of the window against the ground truth",
    "oracle_": "the oracle: ranking by the true probability",
    "by_revenue_all_": "every entry, the model ranking by expected revenue at stake",
    "oracle_by_revenue_": "the oracle ranking by the true expected revenue at stake",
}


def _at_k(metrics: dict[str, float]) -> str:
    rows = []
    for prefix, title in WINDOWS.items():
        if f"{prefix}precision_at_5pct" not in metrics and f"{prefix}recall_at_5pct" not in metrics:
            continue
        for k in RATES:
            cells = [
                metrics.get(f"{prefix}{m}_at_{k}", float("nan")) for m in ("precision", "recall", "revenue_recall")
            ]
            rows.append(
                {
                    "window": title,
                    "inspect": k.replace("pct", " %"),
                    "precision": cells[0],
                    "recall": cells[1],
                    "revenue recall": cells[2],
                }
            )
    return pd.DataFrame(rows).to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(
    path: Path,
    title: str,
    facts: dict[str, str],
    metrics: dict[str, float],
    figures: dict[str, Path],
    slices: pd.DataFrame,
) -> None:
    """Write the report: facts of the run, metrics at each inspection rate per window, figures, slices."""
    headline = {
        k: metrics[k]
        for k in (
            "base_rate",
            "roc_auc",
            "pr_auc",
            "brier",
            "all_base_rate",
            "all_brier",
            "all_calibration_error",
            "all_precision_at_5pct_of_oracle",
            "all_revenue_recall_at_5pct_of_oracle",
            "by_revenue_all_revenue_recall_at_5pct_of_oracle_by_revenue",
        )
        if k in metrics
    }
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<table>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
        + "".join(f"<tr><th>{k}</th><td>{v:.4f}</td></tr>" for k, v in headline.items())
        + "</table>",
        "<h2>Precision, recall and revenue recall at inspection rate k</h2>",
        _at_k(metrics),
    ]
    for caption, figure in figures.items():
        parts += [f"<h2>{html.escape(caption)}</h2>", _image(figure)]
    if not slices.empty:
        parts += [
            "<h2>Slices of the test window (top 5 % of the whole window)</h2>",
            slices.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep=""),
        ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}img{max-width:100%}"
    )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
