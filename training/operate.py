"""`targeting operate`: weeks of targeting replayed under the policy's own feedback (mechanics in training/loop.py),
reported per week and in total against the oracle with the same capacity."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from decisions.actions import Action
from decisions.explore import ShareTuner
from training.data import DataError
from training.loop import WEEK, LoopModel, LoopSettings, Strategy, World, decide_week, fit_model, week_rows

MODEL_PICKS = ("model", "rule")  # the exploit arm's selections


@dataclass(frozen=True)
class Operation:
    strategy: Strategy
    weeks: pd.DataFrame  # one row per week decided: see `week_report`
    types: pd.DataFrame  # per week and violation type: violations, caught
    order_week: float  # weeks since the start when the AD/CVD order came into force
    log: list[str]  # retrainings, promotions and refusals, in order
    models: list[LoopModel]  # every model fitted, promoted or not

    def totals(self) -> dict[str, float]:
        """The whole run: caught against the oracle with the same inspections, and what was released."""
        w = self.weeks
        total = {k: float(w[k].sum()) for k in ("entries", "inspected", "violations", "caught", "oracle_caught")}
        money = {k: float(w[k].sum()) for k in ("revenue", "revenue_caught", "oracle_revenue_caught")}
        compliant = float((w["entries"] - w["violations"]).sum())
        return total | {
            "precision": total["caught"] / max(total["inspected"], 1),
            "recall": total["caught"] / max(total["violations"], 1),
            "oracle_recall": total["oracle_caught"] / max(total["violations"], 1),
            "revenue_caught": money["revenue_caught"],
            "revenue_share": money["revenue_caught"] / max(money["revenue"], 1e-9),
            "oracle_revenue_share": money["oracle_revenue_caught"] / max(money["revenue"], 1e-9),
            "of_oracle_revenue": money["revenue_caught"] / max(money["oracle_revenue_caught"], 1e-9),
            "compliant_released": float(w["compliant_released"].sum()) / max(compliant, 1),
            "promotions": float(w["promoted"].sum()),
            "explore_share_mean": float(w["explore_share"].mean()),
        }

    def recall_by_type(self, weeks: int = 13) -> pd.DataFrame:
        """Recall of each violation type per period of `weeks` weeks (rows: each period's first week, columns:
        types)."""
        first = self.types["week"].min()
        t = self.types.assign(period=lambda d: first + (d["week"] - first) // weeks * weeks)
        sums = t.groupby(["period", "type"])[["violations", "caught"]].sum()
        return (sums["caught"] / sums["violations"].where(sums["violations"] > 0)).unstack("type")

    def after_order(self, kind: str, weeks: int = 13) -> float:
        """Recall of one violation type over the `weeks` weeks after the order came into force."""
        t = self.types[(self.types["type"] == kind) & (self.types["week"] >= self.order_week)]
        t = t[t["week"] < self.order_week + weeks]
        return float(t["caught"].sum() / t["violations"].sum()) if t["violations"].sum() else math.nan


def operate(w: World, strategy: Strategy, settings: LoopSettings) -> Operation:
    """Replay the history (`world`, fresh: it holds what the run reveals) after the warm-up, week by week under
    `strategy`, retraining every `retrain_weeks`."""
    last = int(w.week.max())
    if last < settings.warmup_weeks + settings.retrain_weeks:
        raise DataError(f"the history spans {last + 1} weeks: too short for a {settings.warmup_weeks}-week warm-up")
    secret = hashlib.sha256(f"operate-{settings.seed}".encode()).digest()
    first = fit_model(w, week_start(w, settings.warmup_weeks), 1, settings.params, settings.weighting)
    if first is None:
        raise DataError("the warm-up weeks reveal too few outcomes to train a first model")
    champion, version, models = first[0], 1, [first[0]]
    tuner = ShareTuner(*strategy.tuned) if strategy.tuned else None
    weeks, types = [], []
    for number in range(settings.warmup_weeks, last + 1):
        now = week_start(w, number)
        promoted = False
        if number > settings.warmup_weeks and (number - settings.warmup_weeks) % settings.retrain_weeks == 0:
            version += 1
            fitted = fit_model(w, now, version, settings.params, settings.weighting)
            models += [fitted[0]] if fitted is not None else []
            if fitted is not None and fitted[1].passes(settings.gate, w.spec, fitted[0], champion):
                champion, promoted = fitted[0], True
            w.log.append(f"week {number}: model {version} {'promoted' if promoted else 'refused by the gate'}")
            if tuner is not None:
                tuner.update(*arm_rewards(w, now - settings.retrain_weeks * WEEK, now))
        share = tuner.share if tuner is not None else strategy.explore
        at, counts = week_rows(w, number)
        if not len(at):
            continue
        policy = strategy.policy(settings.capacity, share, settings.objective)
        action, selection, probability, _ = decide_week(w, champion, policy, secret, at, counts)
        inspected = action != Action.RELEASE.value
        w.reveal(at[inspected], selection[inspected], probability[inspected])
        weeks.append(week_report(w, number, at, inspected, champion.version, promoted, share))
        types.append(type_report(w, number, at, inspected))
    types_frame = pd.concat(types, ignore_index=True)
    return Operation(strategy, pd.DataFrame(weeks), types_frame, w.order_week, w.log, models)


def week_start(w: World, number: int) -> pd.Timestamp:
    return w.start + number * WEEK


def arm_rewards(w: World, since: pd.Timestamp, now: pd.Timestamp) -> tuple[float | None, float | None]:
    """Revenue per inspection revealed in [since, now) by the model's picks and by the exploration picks."""
    s = w.spec
    known = w.rows[(w.rows[str(s.outcome_time)] >= since) & (w.rows[str(s.outcome_time)] < now)]
    found = known[str(s.revenue)].fillna(0.0)
    rewards = []
    for arm in (MODEL_PICKS, ("explore",)):
        picked = known[str(s.selection)].isin(arm)
        rewards.append(float(found[picked].mean()) if picked.any() else None)
    return rewards[0], rewards[1]


def week_report(
    w: World, number: int, at: np.ndarray, inspected: np.ndarray, version: int, promoted: bool, share: float
) -> dict[str, float]:
    """The week's catch against the oracles that inspect as many entries: violations against the one ranking by the
    true probability (where the data give it), revenue against the one ranking by the true expected revenue."""
    truth = w.truth.iloc[at]
    y = truth["violation"].to_numpy(dtype=float) > 0
    money = np.where(y, truth["revenue"].to_numpy(dtype=float), 0.0)
    oracle, by_revenue = (
        top(truth[c].to_numpy(dtype=float), int(inspected.sum())) for c in ("probability", "expected")
    )
    return {
        "week": number,
        "week_start": week_start(w, number),
        "entries": len(at),
        "inspected": int(inspected.sum()),
        "violations": int(y.sum()),
        "caught": int((y & inspected).sum()),
        "oracle_caught": int((y & oracle).sum()),
        "revenue": float(money.sum()),
        "revenue_caught": float(money[inspected].sum()),
        "oracle_revenue_caught": float(money[by_revenue].sum()),
        "compliant_released": int((~y & ~inspected).sum()),
        "model_version": version,
        "promoted": promoted,
        "explore_share": share,
    }


def top(values: np.ndarray, n: int) -> np.ndarray:
    """A mask of the n highest values (all False where the values are unknown)."""
    chosen = np.zeros(len(values), bool)
    if not np.isnan(values).all():
        chosen[np.argsort(-values, kind="stable")[:n]] = True
    return chosen


def type_report(w: World, number: int, at: np.ndarray, inspected: np.ndarray) -> pd.DataFrame:
    truth = w.truth.iloc[at]
    violated = truth["violation"].to_numpy(dtype=float) > 0
    frame = pd.DataFrame({"type": truth["type"].to_numpy()[violated], "caught": inspected[violated]})
    out = frame.groupby("type", dropna=True)["caught"].agg(["size", "sum"]).reset_index()
    return out.rename(columns={"size": "violations", "sum": "caught"}).assign(week=number)
