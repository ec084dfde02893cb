"""Every move of a model alias, by training or by promotion: who, when, why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, Json, UtcDateTime


class AliasMove(Base):
    """One move of a registered model's alias (e.g. @champion): to which version, from which, by whom, why."""

    __tablename__ = "alias_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(128))
    alias: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    moved_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    moved_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String())  # unbounded: a reason is as long as it needs to be
    forced: Mapped[bool] = mapped_column(default=False)  # the gate refused and someone overrode it
    metrics: Mapped[dict[str, Any]] = mapped_column(Json)


def record_alias_move(
    session: Session,
    *,
    model_name: str,
    alias: str,
    version: int,
    previous_version: int | None,
    moved_by: str,
    reason: str,
    forced: bool,
    metrics: dict[str, Any],
    moved_at: datetime | None = None,
) -> AliasMove:
    """Record one alias move (now, unless `moved_at` says when); adds and flushes, the caller commits."""
    move = AliasMove(
        model_name=model_name,
        alias=alias,
        version=version,
        previous_version=previous_version,
        moved_at=moved_at or datetime.now(UTC),
        moved_by=moved_by,
        reason=reason,
        forced=forced,
        metrics=metrics,
    )
    session.add(move)
    session.flush()
    return move


def alias_history(session: Session, model_name: str, alias: str) -> list[AliasMove]:
    """Every recorded move of an alias, oldest first."""
    query = (
        select(AliasMove)
        .where(AliasMove.model_name == model_name, AliasMove.alias == alias)
        .order_by(AliasMove.moved_at, AliasMove.id)
    )
    return list(session.scalars(query))
