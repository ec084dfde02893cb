"""Accounts over HTTP: one account's risk profile, accounts listed by risk for audit selection, importers' bonds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from decisions import accounts, store
from decisions.accounts import EXPOSURE_DAYS, Account, RiskLevel
from service.deps import AdminKey, PolicyDep, ReviewerKey, SessionDep
from service.schemas import AUTH_ERRORS, BODY_ERRORS, ErrorBody

router = APIRouter(prefix="/v1", tags=["accounts"])
Kind = Literal["importer", "manufacturer", "shipper", "seller"]


class RiskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    rate: float = Field(description="Estimated probability that one of the account's entries violates.")
    low: float = Field(description="5th percentile of the rate's posterior.")
    high: float = Field(description="95th percentile.")
    band: str = Field(description="low, elevated, high or very_high, by the policy's probability thresholds.")
    prior: float = Field(description="The mean score of the account's decided entries, the rate's prior.")
    inspections: int
    violations: int


class BondOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    importer_id: str
    amount_usd: float
    set_by: str
    set_at: datetime


class BondIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_usd: float = Field(gt=0, lt=1e12, description="The bond's amount in USD.")


class AccountDecision(BaseModel):
    entry_id: str
    decided_at: datetime
    score: float
    action: str
    risk_band: str
    model_version: int
    selection: str | None
    likely_violation: str | None


class WaiverRow(BaseModel):
    entry_id: str
    action: str
    reason: str
    waived_by: str
    waived_at: datetime


class AccountOut(BaseModel):
    kind: Kind
    id: str
    risk: RiskOut | None = Field(description="None when the model's spec keeps no profile of this kind.")
    entries: int = Field(description="Entries counted in its profile: the loaded history and every decided entry.")
    decided: int = Field(description="Entries decided by this service.")
    first_seen: date | None = Field(description="The day (UTC) this service first decided one of its entries.")
    last_seen: date | None
    violation_types: dict[str, int] = Field(description="Violations found by recorded outcomes, by type.")
    revenue_at_stake: float = Field(description=f"Expected revenue of its entries decided in {EXPOSURE_DAYS} days.")
    revenue_recovered: float
    watchlisted: str | None = Field(description="Why it is on its kind's watchlist; None when it is not.")
    bond: BondOut | None
    exposure_over_bond: bool | None = Field(description="revenue_at_stake above the bond (importers with one).")
    scores: list[tuple[datetime, float]] = Field(description="Its latest decisions' scores, oldest first.")
    waivers: list[WaiverRow]
    decisions: list[AccountDecision] = Field(description="Its latest decisions, newest first.")
    next: int | None = Field(description="`before` for the next page of decisions; None on the last.")


class ListedOut(BaseModel):
    id: str
    entries: int
    risk: RiskOut
    bond_usd: float | None
    exposure_usd: float | None


class AccountList(BaseModel):
    kind: Kind
    accounts: list[ListedOut]
    next: str | None = Field(description="`after` for the next page; None on the last.")


def _risk(level: RiskLevel | None) -> RiskOut | None:
    return None if level is None else RiskOut.model_validate(level)


def account_out(found: Account, rows: list[AccountDecision], next_page: int | None) -> AccountOut:
    facts = found.facts
    return AccountOut(
        kind=found.kind,  # type: ignore[arg-type]
        id=found.key,
        risk=_risk(found.risk),
        entries=facts.profile[0] if facts.profile else facts.decided,
        decided=facts.decided,
        first_seen=facts.first_seen,
        last_seen=facts.last_seen,
        violation_types=facts.violation_types,
        revenue_at_stake=found.exposure,
        revenue_recovered=facts.recovered,
        watchlisted=facts.watchlist.reason if facts.watchlist else None,
        bond=BondOut.model_validate(facts.bond) if facts.bond else None,
        exposure_over_bond=found.over_bond,
        scores=facts.scores,
        waivers=[WaiverRow.model_validate(w._mapping) for w in facts.waivers],
        decisions=rows,
        next=next_page,
    )


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No decision or loaded history names this account."}
}


@router.get("/accounts/{kind}/{key:path}", response_model=AccountOut, responses={**NOT_FOUND, **AUTH_ERRORS})
def read_account(
    kind: Kind,
    key: str,
    session: SessionDep,
    policy: PolicyDep,
    caller: ReviewerKey,
    before: Annotated[int | None, Query(ge=1, description="A page's `next`: its decisions before this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> AccountOut:
    """An account's risk profile: its risk level with its interval, counts, violation types, revenue at stake
    and recovered, watchlist status, bond, the trend of its scores, waivers and its latest decisions (paged)."""
    found = accounts.account(session, kind, key, policy.policy.probability, datetime.now(UTC))
    rows = store.accounts.account_decisions(session, kind, key, limit + 1, before)
    page = [AccountDecision.model_validate(r._mapping) for r in rows[:limit]]
    return account_out(found, page, rows[limit - 1].id if len(rows) > limit else None)


@router.get("/accounts", response_model=AccountList, responses=AUTH_ERRORS)
def list_accounts(
    session: SessionDep,
    policy: PolicyDep,
    caller: ReviewerKey,
    kind: Kind = "importer",
    order: Literal["risk"] = "risk",
    after: Annotated[str | None, Query(max_length=300, description="A page's `next`.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    over_bond: Annotated[bool, Query(description="Only importers whose exposure exceeds their bond.")] = False,
) -> AccountList:
    """A kind's accounts, riskiest first (keyset paged), for audit selection."""
    try:
        cursor = accounts.parse_cursor(after) if after is not None else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    listed, more = accounts.riskiest(
        session, kind, policy.policy.probability, datetime.now(UTC), limit, cursor, over_bond
    )
    return AccountList(
        kind=kind,
        accounts=[
            ListedOut(
                id=a.key,
                entries=a.entries,
                risk=RiskOut.model_validate(a.risk),
                bond_usd=a.bond,
                exposure_usd=a.exposure,
            )  # fmt: skip
            for a in listed
        ],
        next=accounts.cursor_text(more) if more else None,
    )


@router.put(
    "/accounts/importer/{key:path}/bond",
    response_model=BondOut,
    responses={**AUTH_ERRORS, **BODY_ERRORS},
)
def set_bond(key: str, body: BondIn, session: SessionDep, caller: AdminKey) -> BondOut:
    """Set the bond an importer has posted (admin); its account then shows its exposure against it."""
    bond = store.accounts.set_bond(session, key, body.amount_usd, caller.name)
    session.commit()
    return BondOut.model_validate(bond)


@router.delete(
    "/accounts/importer/{key:path}/bond", status_code=204, responses={404: {"model": ErrorBody}, **AUTH_ERRORS}
)
def remove_bond(key: str, session: SessionDep, caller: AdminKey) -> Response:
    if not store.accounts.remove_bond(session, key):
        raise HTTPException(404, f"importer {key} has no bond")
    session.commit()
    return Response(status_code=204)
