"""`targeting score`: a file of entries decided as the API decides them, streamed in chunks.

Each chunk goes through `decide` exactly as one `POST /v1/score` request of that many entries:
the same history (the store's profiles plus the chunk's earlier entries), policy, random draw and
reasons. With `record`, the whole file is checked first (every row valid, every entry id once, none
decided before by this model with other contents), so that a refused file records nothing; then
chunks are committed in file order, so later chunks see earlier ones, as consecutive requests would.
Without it nothing is written (a dry run against the store as it is), so chunks are independent and
can be spread over a Dask cluster (service/distributed.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from decisions import migrate, store
from decisions.decide import DuplicateEntry, EntryConflict, PolicyInForce, decide, first_conflict
from decisions.policy import Policy
from decisions.store import DecisionRecord
from features.schema import BOOLEAN_FIELDS, Entry, first_problem
from features.tables import DataError, Format, read_chunks, row_label, table_format
from model.registry import tracking_uri
from model.scoring import ModelUnavailable, Scorer, resolve
from service.settings import Settings

log = logging.getLogger(__name__)
ENTRY_FIELDS = list(Entry.model_fields)
TRUTH = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
OUTPUTS = (".parquet", ".csv")


class BatchError(DataError):
    """The input cannot be scored as given (a row that fails validation, a repeated entry id, a conflict)."""


@dataclass(frozen=True)
class Job:
    """Everything a process needs to score chunks: picklable, so Dask workers can rebuild the context."""

    tracking_uri: str
    model_name: str
    alias: str
    version: int  # pinned when the run starts, so every chunk is scored by the same model version
    cache: Path
    database_url: str
    secret: bytes
    top: int
    contributions: bool = False
    record: bool = False
    source: Format = "parquet"  # how the input file numbers its rows, for messages


def output_format(path: Path) -> Format:
    if path.suffix.lower() not in OUTPUTS:
        raise BatchError(f"{path}: unknown output format {path.suffix!r}; use .parquet or .csv")
    return table_format(path)


def validate(rows: list[dict[str, Any]], first: int, kind: Format) -> list[Entry]:
    """Entries, or a BatchError naming the first bad row as the user finds it in the file (see `row_label`);
    `first` is the 0-based index of the chunk's first row."""
    out = []
    for n, row in enumerate(rows, start=first):
        if kind == "csv":  # a CSV's cells are text: its true/false are read here, as the API takes only booleans
            row = row | {f: TRUTH.get(str(row[f]).strip().lower(), row[f]) for f in BOOLEAN_FIELDS if row.get(f)}
        try:
            out.append(Entry.model_validate(row))
        except ValidationError as exc:
            raise BatchError(f"{row_label(kind, n)}: {first_problem(exc)}") from None
    return out


@dataclass
class Context:
    """A process's loaded model, store and policy, built once per job."""

    scorer: Scorer
    sessions: sessionmaker[Session]
    policy: PolicyInForce


_contexts: dict[Job, Context] = {}


def policy_in_force(session: Session, default: Policy, secret: bytes) -> PolicyInForce:
    """The active policy version; the default becomes version 1 of a database that has none, as at service start."""
    row = store.ensure_policy(session, default.model_dump(mode="json"))
    session.commit()
    return PolicyInForce(row.version, Policy.model_validate(row.document), secret)


def context(job: Job, default_policy: Policy | None = None) -> Context:
    """This process's context for the job (loaded on first use)."""
    if job not in _contexts:
        scorer = Scorer.load(job.tracking_uri, job.model_name, job.alias, job.cache)
        if scorer.ref.version != job.version:
            raise BatchError(
                f"{job.model_name}@{job.alias} moved from version {job.version} to "
                f"{scorer.ref.version} during the run: score the file again"
            )
        engine = store.make_engine(job.database_url)
        migrate.check(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        with sessions() as session:
            rules = policy_in_force(session, default_policy or Policy(), job.secret)
        _contexts[job] = Context(scorer, sessions, rules)
    return _contexts[job]


def served_job(settings: Settings, contributions: bool, record: bool) -> Job:
    """A job on the model `settings` serve, its version pinned now, and its context loaded here, so that a bad
    model or store fails before any work (BatchError or ModelUnavailable)."""
    uri = settings.mlflow_tracking_uri or tracking_uri()
    name, alias = settings.model_name, settings.model_alias
    try:
        version = resolve(uri, name, alias)
        secret = settings.sample_secret.encode()
        job = Job(
            uri,
            name,
            alias,
            version,
            settings.model_cache,
            settings.database_url,
            secret,
            settings.top_reasons,
            contributions,
            record,
        )
        context(job, settings.policy)
    except (BatchError, ModelUnavailable):
        raise
    except Exception as exc:  # MLflow's own errors for a missing model or an unreachable registry
        raise BatchError(f"cannot resolve {name}@{alias} in {uri}: {type(exc).__name__}: {exc}") from exc
    return job


REPEATED = "appears earlier in the file: a file scores each entry once"
CHANGED = "was already scored by this model with different contents: a corrected entry needs a new entry id"


def _refused(job: Job, entries: list[Entry], first: int, entry_id: str, why: str) -> BatchError:
    """The error naming the row of an entry id that cannot be scored: its last row in the chunk (for a repeat,
    the one that repeats)."""
    n = first + max(i for i, e in enumerate(entries) if e.entry_id == entry_id)
    return BatchError(f"{row_label(job.source, n)}: entry id {entry_id} {why}")


def score_chunk(job: Job, rows: list[dict[str, Any]], first: int) -> pa.Table:
    """Decide one chunk (rows `first`.. of the file) as one API request; committed when the job records."""
    ctx = context(job)
    entries = validate(rows, first, job.source)
    with ctx.sessions() as session:
        try:
            decided, replayed = decide(
                session,
                ctx.scorer,
                ctx.policy,
                entries,
                f"batch-{first}",
                job.top,
                save=job.record,
                full=job.contributions,
            )
        except DuplicateEntry as exc:
            raise _refused(job, entries, first, exc.entry_id, REPEATED) from None
        except EntryConflict as exc:
            raise _refused(job, entries, first, exc.entry_id, CHANGED) from None
        if job.record:
            session.commit()
    return output_table(decided, replayed, job.contributions)


def check_file(job: Job, chunks: Iterator[tuple[list[dict[str, Any]], int]]) -> None:
    """Before a file is recorded: every row valid, every entry id once in the file, and none decided before by
    this model version with other contents; the first problem as a BatchError naming its row."""
    ctx, seen = context(job), set()
    with ctx.sessions() as session:
        for rows, first in chunks:
            entries = validate(rows, first, job.source)
            for n, entry in enumerate(entries, start=first):
                if entry.entry_id in seen:
                    raise BatchError(f"{row_label(job.source, n)}: entry id {entry.entry_id} {REPEATED}")
                seen.add(entry.entry_id)
            conflict = first_conflict(session, ctx.scorer.ref, entries)
            if conflict is not None:
                raise _refused(job, entries, first, conflict, CHANGED)


def output_table(decided: list[DecisionRecord], replayed: set[str], contributions: bool) -> pa.Table:
    """One output row per decision: score, action, reasons; every contribution too when asked."""
    columns: dict[str, list[Any]] = {
        "entry_id": [d.entry_id for d in decided],
        "score": [d.score for d in decided],
        "action": [d.action for d in decided],
        "risk_band": [d.risk_band for d in decided],
        "expected_revenue": [d.expected_revenue for d in decided],
        "selection": [d.selection for d in decided],
        "selection_probability": [d.selection_probability for d in decided],
        "likely_violation": [d.likely_violation for d in decided],
        "top_reason": [d.reasons[0]["sentence"] if d.reasons else None for d in decided],
        "reasons": [orjson.dumps(d.reasons).decode() for d in decided],
        "raw_score": [d.raw_score for d in decided],
        "base_value": [d.base_value for d in decided],
        "model_version": [d.model_version for d in decided],
        "policy_version": [d.policy_version for d in decided],
        "replayed": [d.entry_id in replayed for d in decided],
    }
    if contributions and decided:
        for j, c in enumerate(decided[0].contributions):
            columns[f"contribution__{c['feature']}"] = [d.contributions[j]["contribution"] for d in decided]
    # explicit types: a chunk where a column is all empty must not fix its type as null for the whole file
    types = {"model_version": pa.int64(), "policy_version": pa.int64(), "replayed": pa.bool_()}
    types |= dict.fromkeys(
        ("entry_id", "action", "risk_band", "selection", "likely_violation", "top_reason", "reasons"), pa.string()
    )
    schema = pa.schema([(name, types.get(name, pa.float64())) for name in columns])
    return pa.table(columns, schema=schema)


class Writer:
    """Appends chunk tables to a Parquet or CSV file, written beside the target and renamed when complete,
    so a failed run never leaves a partial file under the requested name."""

    def __init__(self, path: Path) -> None:
        self.path, self.kind = path, output_format(path)
        self.partial = path.with_name(f".{path.name}.partial")
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = (
                pq.ParquetWriter(self.partial, table.schema)
                if self.kind == "parquet"
                else pacsv.CSVWriter(self.partial, table.schema)
            )
        self._writer.write_table(table)

    def close(self, ok: bool) -> None:
        if self._writer is not None:
            self._writer.close()
        if ok and self.partial.exists():
            self.partial.replace(self.path)
        self.partial.unlink(missing_ok=True)


def score_file(
    src: Path,
    dst: Path,
    job: Job,
    chunk: int,
    *,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Score every entry of `src` into `dst` in file order; returns how many were scored. A file that is recorded
    is checked whole first: a refused file records nothing. (Over Dask: `service/distributed.py`.)"""
    output_format(dst)
    job = replace(job, cache=job.cache.resolve(), source=table_format(src))

    def numbered() -> Iterator[tuple[list[dict[str, Any]], int]]:
        first = 0
        for rows in read_chunks(src, chunk, ENTRY_FIELDS):
            yield rows, first
            first += len(rows)

    if job.record:
        check_file(job, numbered())
    writer, done = Writer(dst), 0
    try:
        for table in (score_chunk(job, rows, first) for rows, first in numbered()):
            writer.write(table)
            done += table.num_rows
            progress(table.num_rows)
    except BaseException:
        writer.close(ok=False)
        raise
    if not done:
        writer.close(ok=False)
        raise BatchError(f"{src} holds no entries")
    writer.close(ok=True)
    return done
