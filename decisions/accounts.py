"""Account risk profiles: what an importer, manufacturer, shipper or seller has filed, what its inspections found,
and its **risk level**, the estimated probability that one of its entries violates.

The risk level is a beta posterior. Its prior is the account's own entries as the model saw them: the mean
calibrated score of its decided entries (the mean over every decided entry of its kind for an account with
none), weighted as `PRIOR_STRENGTH` pseudo-inspections; the evidence is its inspections:

    risk = (violations + k * mean_score) / (inspections + k),   k = PRIOR_STRENGTH

with the 90 % interval of Beta(violations + k * mean_score, inspections - violations + k * (1 - mean_score)). An
account with few inspections stays near what the model expects of its entries; one with many is read by what
they found. Inspections chosen by the model find more violations than the stream holds, so an inspected
account's level reads high against its entries' scores: the level ranks accounts (tests/decisions/
test_accounts.py shows it ranks them by their later violation rate on generated data), and its band uses the
policy's probability thresholds, as an entry's does.

Exposure, for an importer with a bond: the expected revenue at stake (probability x revenue, as the model
estimates it) of its entries decided in the last `EXPOSURE_DAYS` days, read as the next such period's exposure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scipy.stats import beta
from sqlalchemy import ColumnElement, case
from sqlalchemy.orm import Session

from decisions import store
from decisions.actions import BANDS
from decisions.policy import Thresholds
from decisions.store.accounts import AccountFacts
from features.pipeline import PRIOR_STRENGTH

EXPOSURE_DAYS = 90
LEVEL_INTERVAL = 0.90
FALLBACK_PRIOR = 0.05  # a kind with no scored entry and no inspection yet


@dataclass(frozen=True)
class RiskLevel:
    rate: float  # the posterior mean
    low: float
    high: float
    band: str  # low | elevated | high | very_high, by the policy's probability thresholds
    prior: float  # the mean score the evidence is weighed against
    inspections: int
    violations: int


def kind_prior(session: Session, kind: str) -> float:
    """The prior of an account with no scored entry: its kind's mean score, else its inspected violation rate."""
    mean, inspected = store.accounts.mean_score(session, kind)
    return mean if mean is not None else inspected if inspected is not None else FALLBACK_PRIOR


def risk_level(
    inspections: int, violations: int, scored: int, score_sum: float, prior: float, thresholds: Thresholds
) -> RiskLevel:
    mean = score_sum / scored if scored else prior
    a = violations + PRIOR_STRENGTH * mean
    b = inspections - violations + PRIOR_STRENGTH * (1 - mean)
    tail = (1 - LEVEL_INTERVAL) / 2
    low, high = (float(q) for q in beta.ppf([tail, 1 - tail], a, b))
    rate = a / (a + b)
    return RiskLevel(rate, low, high, BANDS[thresholds.action(rate)], mean, inspections, violations)


def risk_expression(prior: float) -> ColumnElement[Any]:
    """`risk_level`'s rate over the profiles table, to order accounts by in SQL."""
    profile = store.Profile
    mean = case((profile.scored > 0, profile.score_sum / profile.scored), else_=prior)
    return (profile.violations + PRIOR_STRENGTH * mean) / (profile.inspections + PRIOR_STRENGTH)


@dataclass(frozen=True)
class Account:
    kind: str
    key: str
    facts: AccountFacts
    risk: RiskLevel | None  # None: the account has no profile (its kind is not an entity of the model's spec)
    exposure: float  # expected revenue at stake over the last EXPOSURE_DAYS days

    @property
    def over_bond(self) -> bool | None:
        bond = self.facts.bond
        return None if bond is None else self.exposure > bond.amount_usd


class UnknownAccount(LookupError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no {kind} {key} is known: no decision names it and no loaded history holds it")


def account(session: Session, kind: str, key: str, thresholds: Thresholds, now: datetime) -> Account:
    facts = store.accounts.account_facts(session, kind, key, (now - timedelta(days=EXPOSURE_DAYS)).date())
    if facts.profile is None and facts.decided == 0:
        raise UnknownAccount(kind, key)
    risk = None
    if facts.profile is not None:
        _, inspections, violations, scored, score_sum = facts.profile
        risk = risk_level(inspections, violations, scored, score_sum, kind_prior(session, kind), thresholds)
    return Account(kind, key, facts, risk, facts.at_stake)


@dataclass(frozen=True)
class Listed:
    key: str
    entries: int
    risk: RiskLevel
    bond: float | None
    exposure: float | None


def riskiest(
    session: Session,
    kind: str,
    thresholds: Thresholds,
    now: datetime,
    size: int,
    after: tuple[float, str] | None = None,
    over_bond: bool = False,
) -> tuple[list[Listed], tuple[float, str] | None]:
    """One page of a kind's accounts, riskiest first, and the cursor of the next page (None: the last page).
    `over_bond`: only importers whose exposure exceeds their bond."""
    prior, since = kind_prior(session, kind), (now - timedelta(days=EXPOSURE_DAYS)).date()
    only = None
    if over_bond:
        only = [k for k, (bond, exposure) in store.accounts.exposures(session, since).items() if exposure > bond]
    rows = store.accounts.by_risk(session, kind, risk_expression(prior), size + 1, after, only)
    keys = [r.key for r in rows[:size]]
    bonded = store.accounts.exposures(session, since, keys) if kind == "importer" else {}
    listed = [
        Listed(
            r.key,
            r.entries,
            risk_level(r.inspections, r.violations, r.scored, r.score_sum, prior, thresholds),
            bonded[r.key][0] if r.key in bonded else None,
            bonded[r.key][1] if r.key in bonded else None,
        )
        for r in rows[:size]
    ]
    cursor = (rows[size - 1].risk, rows[size - 1].key) if len(rows) > size else None
    return listed, cursor


def cursor_text(cursor: tuple[float, str]) -> str:
    return f"{cursor[0]!r}:{cursor[1]}"


def parse_cursor(text: str) -> tuple[float, str]:
    """A list cursor as `cursor_text` writes it; ValueError if it is not one."""
    risk, sep, key = text.partition(":")
    if not sep or not key:
        raise ValueError(f"not a list cursor: {text!r}")
    return float(risk), key
