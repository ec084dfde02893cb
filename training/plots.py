"""Figures logged with every run: SHAP summary, feature importance, gains curves, reliability."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap


def _to_files() -> None:
    """Draw into files only (training runs headless): chosen when a figure is drawn, not when this is imported."""
    if plt.get_backend().lower() != "agg":
        plt.switch_backend("agg")


def shap_summary(booster: lgb.Booster, x: pd.DataFrame, path: Path, max_display: int = 20) -> None:
    """Beeswarm of exact TreeSHAP values (LightGBM's pred_contrib) on a sample of test entries."""
    _to_files()
    contributions = np.asarray(booster.predict(x, pred_contrib=True))[:, :-1]
    plt.figure()
    shap.summary_plot(contributions, x, max_display=max_display, show=False, plot_size=(9, 8))
    plt.title("SHAP values (log-odds) on the test window")
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")


def feature_importance(booster: lgb.Booster, path: Path, top: int = 25) -> pd.DataFrame:
    """Gain and split importance; the top features by gain as a bar chart."""
    _to_files()
    table = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "split": booster.feature_importance("split"),
        }
    ).sort_values("gain", ascending=False, ignore_index=True)
    shown = table.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(shown) + 1.5))
    ax.barh(shown["feature"], shown["gain"])
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance (gain)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return table


def reliability(sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]], path: Path, bins: int = 10) -> None:
    """Observed violation rate against the mean score, in equal-count bins of the score."""
    _to_files()
    fig, ax = plt.subplots(figsize=(6, 6))
    top = 0.0
    for name, (y, p, w) in sets.items():
        weight = np.ones_like(y) if w is None else w
        order = np.argsort(p, kind="stable")
        groups = [b for b in np.array_split(order, bins) if len(b)]
        mean_p = [np.average(p[b], weights=weight[b]) for b in groups]
        rate = [np.average(y[b], weights=weight[b]) for b in groups]
        ax.plot(mean_p, rate, "o-", label=name)
        top = max(top, *mean_p, *rate)
    ax.plot([0, top], [0, top], ":", color="grey", label="perfect calibration")
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("observed violation rate")
    ax.set_title("Reliability on the test window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gains(y: np.ndarray, rankings: dict[str, np.ndarray], revenue: np.ndarray | None, path: Path) -> None:
    """Gains curves: share of violations (and of revenue at stake) caught against the share inspected,
    for each ranking (the model, the model by expected revenue, the oracle)."""
    _to_files()
    fig, axes = plt.subplots(1, 2 if revenue is not None else 1, figsize=(12 if revenue is not None else 6, 5))
    axes = np.atleast_1d(axes)
    rate = np.arange(1, len(y) + 1) / len(y)
    money = None if revenue is None else np.where(y > 0, np.nan_to_num(revenue), 0.0)
    for name, ranking in rankings.items():
        order = np.argsort(-ranking, kind="stable")
        style = ":" if name.startswith("oracle") else "-"
        axes[0].plot(rate, np.cumsum(y[order]) / max(y.sum(), 1), style, label=name)
        if money is not None and money.sum() > 0:
            axes[1].plot(rate, np.cumsum(money[order]) / money.sum(), style, label=name)
    titles = ["violations caught (recall)", "revenue at stake caught"]
    for ax, title in zip(axes, titles):
        ax.plot([0, 1], [0, 1], color="lightgrey", label="random")
        for k in (0.01, 0.02, 0.05, 0.10):
            ax.axvline(k, color="lightgrey", lw=0.6)
        ax.set_xlim(0, 0.2)
        ax.set_xlabel("share of entries inspected")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def operation(weeks: pd.DataFrame, recall: pd.DataFrame, order_week: float, title: str, path: Path) -> None:
    """A closed-loop run: revenue and violations caught each week (4-week means) against the oracle with the same
    inspections, and each violation type's recall per period, the AD/CVD order marked."""
    _to_files()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    smooth = weeks.set_index("week").select_dtypes("number").rolling(4, min_periods=1).sum()
    for column, oracle, label, colour in (
        ("revenue_caught", "oracle_revenue_caught", "revenue", "C0"),
        ("caught", "oracle_caught", "violations", "C1"),
    ):
        total = smooth["revenue"] if label == "revenue" else smooth["violations"]
        axes[0].plot(smooth.index, smooth[column] / total, "-", color=colour, label=f"{label} caught")
        axes[0].plot(smooth.index, smooth[oracle] / total, ":", color=colour, label=f"{label}, oracle by true revenue")
    axes[0].set_xlabel("week")
    axes[0].set_ylabel("share caught (4-week sums)")
    for kind in recall.columns:
        axes[1].plot(recall.index, recall[kind], "o-", label=str(kind))
    axes[1].set_xlabel(f"week (periods of {recall.index.to_series().diff().min():.0f})")
    axes[1].set_ylabel("recall")
    axes[1].set_ylim(0, 1.02)
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title(f"{title}: caught against the oracle (line: AD/CVD order)")
    axes[1].set_title("recall per violation type, per period")
    for ax in axes:
        ax.axvline(order_week, color="grey", lw=0.8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
