"""Promotion through a gate: challenger vs champion on the same window, every alias move recorded."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from decisions import migrate, store
from training.comparison import Metrics, evaluate_version, version_of
from training.data import load_yaml
from training.evaluate import MIN_SAMPLE_VIOLATIONS, VALIDATION_RATE, rate_name, wilson
from training.registry import CHAMPION, Registration, use

log = logging.getLogger(__name__)


class Rule(BaseModel):
    """The challenger must beat the champion on `metric` by at least `min_abs` and by `min_rel` (a share).

    With neither threshold it must not get worse; a negative one tolerates that much loss (a threshold left
    out is not checked, so `min_rel: -0.02` alone allows a 2 % loss). `higher_is_better: false` for brier."""

    model_config = ConfigDict(extra="forbid")
    metric: str = Field(min_length=1)
    min_abs: float | None = None
    min_rel: float | None = None
    higher_is_better: bool = True

    def thresholds(self) -> tuple[float | None, float | None]:
        return (0.0, None) if self.min_abs is None and self.min_rel is None else (self.min_abs, self.min_rel)


class Unbiased(BaseModel):
    """The unbiased yardstick, used when it says something: when the random compliance sample of the window holds
    MIN_SAMPLE_VIOLATIONS violations and gives the challenger's precision@5 % among it a 90 % Wilson interval no
    wider than ±`max_half_width`, the challenger must also beat the champion on it by `min_abs` (a negative value
    tolerates that much loss). On a smaller sample the gate says so and leaves it out: the inspected entries,
    chosen by the policy, are all it can judge by."""

    model_config = ConfigDict(extra="forbid")
    max_half_width: float = Field(0.10, gt=0, le=0.5)
    min_abs: float = 0.0


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(min_length=1)
    unbiased: Unbiased | None = Unbiased()  # null: never judge by the random sample


DEFAULT_GATE = Gate(rules=[Rule(metric="precision_at_5pct"), Rule(metric="revenue_recall_at_5pct")])


def load_gate(path: Path) -> Gate:
    """Read a gate from YAML (`rules: [{metric, min_abs, min_rel, higher_is_better}]`); DataError if bad."""
    return load_yaml(path, Gate, "gate file", "a mapping with a list of rules")


@dataclass(frozen=True)
class GateResult:
    passed: bool
    lines: list[str]  # one per rule: both values, the improvement, pass or fail
    failures: list[str]


RANDOM_METRIC = f"random_precision_at_{rate_name(VALIDATION_RATE)}"


def sample_interval(metrics: Metrics) -> tuple[float, float, float, float] | None:
    """The random compliance sample's entries, violations, and the 90 % Wilson interval of the precision at the
    validation rate among them; None when the window has no such sample."""
    n, precision = metrics.get("random_n", 0.0), metrics.get(RANDOM_METRIC, math.nan)
    if not n:
        return None
    flagged = math.ceil(VALIDATION_RATE * n)
    low, high = wilson(0.0 if math.isnan(precision) else round(precision * flagged), flagged)
    return n, metrics.get("random_positives", 0.0), low, high


def unbiased_rule(gate: Gate, challenger: Metrics) -> tuple[Rule | None, str | None]:
    """The random-sample rule when the gate's `unbiased` setting lets the sample judge, else the line saying why
    it does not (None: the gate has no such setting, or the window no such sample)."""
    sample = sample_interval(challenger)
    if gate.unbiased is None or sample is None:
        return None, None
    n, violations, low, high = sample
    if violations >= MIN_SAMPLE_VIOLATIONS and (high - low) / 2 <= gate.unbiased.max_half_width:
        return Rule(metric=RANDOM_METRIC, min_abs=gate.unbiased.min_abs), None
    return None, (
        f"{RANDOM_METRIC}: the random compliance sample ({n:,.0f} entries, {violations:,.0f} violations) gives "
        f"a 90% interval of [{low:.2f}, {high:.2f}]; it judges with {MIN_SAMPLE_VIOLATIONS} violations or more and "
        f"an interval within +/-{gate.unbiased.max_half_width:.2f}: not used"
    )


def check(gate: Gate, challenger: Metrics, champion: Metrics) -> GateResult:
    """Apply every rule, and the random-sample rule when the sample is informative (`Unbiased`); a metric either
    side did not measure fails its rule (the gate fails closed)."""
    lines: list[str] = []
    failures: list[str] = []
    rules = list(gate.rules)
    extra, not_used = unbiased_rule(gate, challenger)
    rules += [extra] if extra is not None and all(r.metric != extra.metric for r in rules) else []
    for r in rules:
        new, old = challenger.get(r.metric, math.nan), champion.get(r.metric, math.nan)
        gain = (new - old) if r.higher_is_better else (old - new)
        rel = gain / abs(old) if old else (math.copysign(math.inf, gain) if gain else 0.0)
        min_abs, min_rel = r.thresholds()
        ok = not math.isnan(gain) and (min_abs is None or gain >= min_abs) and (min_rel is None or rel >= min_rel)
        needs = [f">= {min_abs:+.4f}"] if min_abs is not None else []
        needs += [f">= {min_rel:+.1%}"] if min_rel is not None else []
        line = (
            f"{r.metric}: challenger {new:.4f} vs champion {old:.4f}, improvement {gain:+.4f} ({rel:+.1%}), "
            f"needs {' and '.join(needs)}{'' if r.higher_is_better else ' (lower is better)'}: "
            f"{'pass' if ok else 'FAIL'}"
        )
        lines.append(line)
        if not ok:
            failures.append(line)
    return GateResult(not failures, lines + ([not_used] if not_used else []), failures)


class PromotionRefused(ValueError):
    """The gate (or a missing reason) stopped a promotion; nothing was moved. The message is one line."""

    def __init__(self, message: str, result: GateResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class PromotionResult:
    model_name: str
    alias: str
    version: int
    previous_version: int | None
    forced: bool  # the gate failed and --force moved the alias anyway
    gate: GateResult | None  # None when nothing held the alias before
    moved_at: datetime


def _finite(metrics: Metrics) -> dict[str, float | None]:
    # JSON has no NaN (PostgreSQL's JSONB refuses it)
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}


def promote(
    uri: str,
    model_name: str,
    version: int,
    data: Path,
    reason: str,
    who: str,
    database_url: str,
    gate: Gate,
    force: bool = False,
    alias: str = CHAMPION,
) -> PromotionResult:
    """Move `alias` to `version` if it passes the gate against the current holder on `data`, and record it.

    With `force` a failing gate is overridden (the record says so). The record is flushed before the
    alias moves and committed after; if the commit fails the alias is put back.
    """
    if not reason.strip() or not who.strip():
        raise PromotionRefused("a promotion needs a reason and who asks for it")
    client = use(uri)
    version_of(client, model_name, version)
    try:
        previous: int | None = int(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        previous = None
    if previous == version:
        raise PromotionRefused(f"{model_name} version {version} is already @{alias}")
    metrics = evaluate_version(model_name, version, data)
    result, previous_metrics = None, None
    if previous is not None:
        previous_metrics = evaluate_version(model_name, previous, data)
        result = check(gate, metrics, previous_metrics)
        if not result.passed and not force:
            raise PromotionRefused(
                f"gate refused {model_name} version {version} over version {previous} as @{alias}: "
                + "; ".join(result.failures)
                + " (--force with a --reason overrides)",
                result,
            )
    forced = result is not None and not result.passed
    record = {
        "data": str(data),
        "candidate": _finite(metrics),
        "previous": None if previous_metrics is None else _finite(previous_metrics),
        "gate": None if result is None else result.lines,
    }
    engine = store.make_engine(database_url)
    try:
        migrate.prepare(engine)
        with Session(engine) as session:
            move = store.record_alias_move(
                session,
                model_name=model_name,
                alias=alias,
                version=version,
                previous_version=previous,
                moved_by=who,
                reason=reason.strip(),
                forced=forced,
                metrics=record,
            )
            moved_at = move.moved_at
            client.set_registered_model_alias(model_name, alias, str(version))
            try:
                session.commit()
            except BaseException:  # an unrecorded move must not stand
                if previous is None:
                    client.delete_registered_model_alias(model_name, alias)
                else:
                    client.set_registered_model_alias(model_name, alias, str(previous))
                raise
    finally:
        engine.dispose()
    log.info("moved %s@%s from %s to %s (forced=%s) by %s", model_name, alias, previous, version, forced, who)
    return PromotionResult(model_name, alias, version, previous, forced, result, moved_at)


def record_registration(
    database_url: str, model_name: str, registration: Registration, who: str, reason: str, metrics: Metrics
) -> None:
    """Record the alias a training run gave its new version, like any other alias move."""
    engine = store.make_engine(database_url)
    try:
        migrate.prepare(engine)
        with Session(engine) as session:
            store.record_alias_move(
                session,
                model_name=model_name,
                alias=registration.alias,
                version=registration.version,
                previous_version=registration.previous_version,
                moved_by=who,
                reason=reason,
                forced=False,
                metrics={"candidate": _finite(metrics)},
            )
            session.commit()
    finally:
        engine.dispose()


def promote_report(
    uri: str,
    model_name: str,
    version: int,
    data: Path,
    reason: str,
    who: str,
    database_url: str,
    gate_path: Path | None,
    force: bool,
) -> str:
    """`targeting promote VERSION`: the gate's lines and the move made; raises PromotionRefused or DataError."""
    gate = load_gate(gate_path) if gate_path else DEFAULT_GATE
    r = promote(uri, model_name, version, data, reason, who, database_url, gate, force=force)
    lines = [f"gate ({gate_path or 'default'}):", *(f"  {x}" for x in r.gate.lines)] if r.gate else []
    source = "nothing" if r.previous_version is None else f"version {r.previous_version}"
    lines.append(
        f"moved {model_name}@{r.alias} from {source} to version {r.version}"
        f"{' (FORCED past the gate)' if r.forced else ''} by {who} at {r.moved_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    return "\n".join(lines)
