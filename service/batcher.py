"""Micro-batching with group commit: one batcher per worker process decides the entries of every scoring request
waiting for it together, records them in one transaction, and answers each request only after that commit.

A request hands its entries to the batcher and waits. While the batcher works on one group, the next gathers:
sixteen concurrent requests share one session, one read of the policy, one query per kind of history, one call of
the model and one statement per table and commit, instead of sixteen of each; a lone request is taken at once (no
timed window). A group is decided as its requests would be one after another (a later one sees the earlier ones'
entries in its accounts' history), so the decisions are those of consecutive requests. Durability is unchanged:
no answer before its rows are committed, and a worker killed with a group pending has answered none of its
requests.

A request refused on its own (an entry id twice, an entry decided before with other contents) is answered its
error without holding up the others. A request sharing an entry id with one already in the group waits for the
next group, where the earlier request's decision is a replay. When the group's transaction fails on one request's
data (the same entry recorded first by another worker, a value the database refuses), its requests are committed
one by one, so that only the request at fault gets the error. A request whose client has gone by the time its group
is decided or committed is left out: its decisions are not recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Scope

from decisions.decide import Decided, PolicyInForce, prepare_many, record_all
from features.schema import Entry
from model.scoring import Scorer
from service.middleware import CLIENT_GONE, ClientGone
from service.observe import Metrics

Result = Decided | BaseException
PolicyLookup = Callable[[Session], PolicyInForce]


@dataclass(eq=False)
class Pending:
    scorer: Scorer  # the model serving when the request arrived: a reload does not change its decisions
    entries: list[Entry]
    request_id: str
    scope: Scope
    done: asyncio.Future[Decided]

    @property
    def gone(self) -> bool:
        return bool(self.scope.get(CLIENT_GONE))


class Batcher:
    def __init__(
        self, sessions: sessionmaker[Session], policy_in_force: PolicyLookup, top: int, metrics: Metrics
    ) -> None:
        self.sessions = sessions
        self.policy_in_force = policy_in_force
        self.top = top
        self.metrics = metrics
        self._waiting: list[Pending] = []
        self._draining: asyncio.Task[None] | None = None

    async def decide(self, scorer: Scorer, entries: list[Entry], request_id: str, scope: Scope) -> Decided:
        """The request's decisions once its new ones are committed; what kept them from it raised (the request's
        own refusal, ClientGone, a database error)."""
        loop = asyncio.get_running_loop()
        pending = Pending(scorer, entries, request_id, scope, loop.create_future())
        self._waiting.append(pending)
        if self._draining is None:
            self._draining = loop.create_task(self._drain())
        return await pending.done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group: list[Pending] = []
                later: list[Pending] = []
                ids: set[str] = set()
                for p in self._waiting:
                    mine = {e.entry_id for e in p.entries}
                    if p.gone:
                        _settle(p, ClientGone())
                    elif mine & ids:  # decided after the request before it with this entry id, as a replay
                        later.append(p)
                    else:
                        group.append(p)
                        ids |= mine
                self._waiting = later
                if not group:
                    continue
                self.metrics.group_commit.observe(len(group))
                try:
                    results = await run_in_threadpool(self._run, group)
                except BaseException as exc:  # noqa: BLE001 - every request of the group learns of it
                    results = [exc] * len(group)
                for p, result in zip(group, results):
                    _settle(p, result)
        finally:
            self._draining = None

    def _run(self, group: list[Pending]) -> list[Result]:
        """Decide the group and commit its new decisions (in a worker thread)."""
        with self.sessions() as session:
            results = self._decide(session, group)
            for n, p in enumerate(group):
                if p.gone:  # nobody waits for it: not recorded
                    results[n] = ClientGone()
            batches = [r for r in results if isinstance(r, Decided) and r.new]
            try:
                record_all(session, batches)
                session.commit()
                return results
            except (IntegrityError, DataError) as exc:
                session.rollback()
                if len(batches) == 1:
                    return [exc if r is batches[0] else r for r in results]
        return [self._alone(r) if isinstance(r, Decided) and r.new else r for r in results]

    def _decide(self, session: Session, group: list[Pending]) -> list[Result]:
        rules = self.policy_in_force(session)
        results: dict[int, Result] = {}
        for scorer in {id(p.scorer): p.scorer for p in group}.values():  # one model, unless a reload came between
            members = [n for n, p in enumerate(group) if p.scorer is scorer]
            requests = [(group[n].entries, group[n].request_id) for n in members]
            results |= dict(zip(members, prepare_many(session, scorer, rules, requests, self.top)))
        return [results[n] for n in range(len(group))]

    def _alone(self, decided: Decided) -> Result:
        """Commit one request's decisions in a transaction of its own: its error if it fails."""
        with self.sessions() as session:
            try:
                record_all(session, [decided])
                session.commit()
                return decided
            except (IntegrityError, DataError) as exc:
                session.rollback()
                return exc


def _settle(pending: Pending, result: Result) -> None:
    if pending.done.done():  # the request was cancelled while it waited
        return
    if isinstance(result, BaseException):
        pending.done.set_exception(result)
    else:
        pending.done.set_result(result)
