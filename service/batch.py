"""`targeting score`: a file of entries decided as the API decides them, streamed in chunks.

Each chunk goes through `decide` exactly as one `POST /v1/score` request of that many entries:
the same history (the store's profiles plus the chunk's earlier entries), policy, random draw and
reasons. With `record`, chunks are committed in file order, so later chunks see earlier ones, as
consecutive requests would. Without it nothing is written (a dry run against the store as it is),
so chunks are independent and can be spread over processes or a Dask cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from features.schema import Entry
from service import migrate, store
from service.decide import DuplicateEntry, PolicyInForce, decide
from service.policy import Policy
from service.scoring import Scorer

log = logging.getLogger(__name__)
ENTRY_FIELDS = list(Entry.model_fields)
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class BatchError(ValueError):
    """The input cannot be scored as given (format, a row that fails validation, a repeated entry id)."""


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


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise BatchError(f"{path}: unknown format {path.suffix!r}; use .parquet or .csv") from None


def count_rows(path: Path) -> int:
    """Entries in the file: Parquet's metadata, or the lines of a CSV (less its header)."""
    if file_format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


def read_chunks(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    """The file's entries as field dicts, `size` at a time; CSV cells read as text, which validation converts
    (so that codes such as entry type "01" keep their leading zero)."""
    if not path.exists():
        raise BatchError(f"{path}: no such file")
    if file_format(path) == "parquet":
        source = pq.ParquetFile(path)
        columns = [c for c in ENTRY_FIELDS if c in source.schema_arrow.names]
        for batch in source.iter_batches(batch_size=size, columns=columns):
            yield batch.to_pylist()
        return
    frames = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=size)
    for frame in frames:
        frame = frame[[c for c in ENTRY_FIELDS if c in frame.columns]]
        yield [{k: (v if v != "" else None) for k, v in row.items()} for row in frame.to_dict("records")]


def validate(rows: list[dict[str, Any]], first: int) -> list[Entry]:
    """Entries, or a BatchError naming the first bad row (1-based, as a spreadsheet counts data rows)."""
    out = []
    for n, row in enumerate(rows, start=first):
        try:
            out.append(Entry.model_validate(row))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "entry"
            raise BatchError(f"row {n + 1}: {where}: {err['msg']}") from None
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
            raise BatchError(f"{job.model_name}@{job.alias} moved from version {job.version} to "
                             f"{scorer.ref.version} during the run: score the file again")  # fmt: skip
        engine = store.make_engine(job.database_url)
        migrate.check(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        with sessions() as session:
            rules = policy_in_force(session, default_policy or Policy(), job.secret)
        _contexts[job] = Context(scorer, sessions, rules)
    return _contexts[job]


def score_chunk(job: Job, rows: list[dict[str, Any]], first: int) -> pa.Table:
    """Decide one chunk (rows `first`.. of the file) as one API request; committed when the job records."""
    ctx = context(job)
    entries = validate(rows, first)
    with ctx.sessions() as session:
        try:
            decided, replayed = decide(session, ctx.scorer, ctx.policy, entries, f"batch-{first}", job.top,
                                       save=job.record)  # fmt: skip
        except DuplicateEntry as exc:
            raise BatchError(f"entry id {exc.entry_id} appears more than once in rows {first + 1}-"
                             f"{first + len(rows)}: a batch scores each entry once") from None  # fmt: skip
        if job.record:
            session.commit()
    return output_table(decided, replayed, job.contributions)


def output_table(decided: list[dict[str, Any]], replayed: set[str], contributions: bool) -> pa.Table:
    """One output row per decision: score, action, reasons; every contribution too when asked."""
    columns: dict[str, list[Any]] = {
        "entry_id": [d["entry_id"] for d in decided],
        "score": [d["score"] for d in decided],
        "action": [d["action"] for d in decided],
        "risk_band": [d["risk_band"] for d in decided],
        "expected_revenue": [d["expected_revenue"] for d in decided],
        "selection": [d["selection"] for d in decided],
        "selection_probability": [d["selection_probability"] for d in decided],
        "likely_violation": [d["likely_violation"] for d in decided],
        "top_reason": [d["reasons"][0]["sentence"] if d["reasons"] else None for d in decided],
        "reasons": [orjson.dumps(d["reasons"]).decode() for d in decided],
        "raw_score": [d["raw_score"] for d in decided],
        "base_value": [d["base_value"] for d in decided],
        "model_version": [d["model_version"] for d in decided],
        "policy_version": [d["policy_version"] for d in decided],
        "replayed": [d["entry_id"] in replayed for d in decided],
    }
    if contributions and decided:
        for j, c in enumerate(decided[0]["contributions"]):
            columns[f"contribution__{c['feature']}"] = [d["contributions"][j]["contribution"] for d in decided]
    # explicit types: a chunk where a column is all empty must not fix its type as null for the whole file
    types = {"model_version": pa.int64(), "policy_version": pa.int64(), "replayed": pa.bool_()}
    types |= dict.fromkeys(("entry_id", "action", "risk_band", "selection", "likely_violation", "top_reason",
                            "reasons"), pa.string())
    schema = pa.schema([(name, types.get(name, pa.float64())) for name in columns])
    return pa.table(columns, schema=schema)


class Writer:
    """Appends chunk tables to a Parquet or CSV file, written beside the target and renamed when complete,
    so a failed run never leaves a partial file under the requested name."""

    def __init__(self, path: Path) -> None:
        self.path, self.kind = path, file_format(path)
        self.partial = path.with_name(f".{path.name}.partial")
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = (pq.ParquetWriter(self.partial, table.schema) if self.kind == "parquet"
                            else pacsv.CSVWriter(self.partial, table.schema))  # fmt: skip
        self._writer.write_table(table)

    def close(self, ok: bool) -> None:
        if self._writer is not None:
            self._writer.close()
        if ok and self.partial.exists():
            self.partial.replace(self.path)
        self.partial.unlink(missing_ok=True)


Mapper = Callable[[Job, Iterator[tuple[list[dict[str, Any]], int]]], Iterator[pa.Table]]


def in_process(job: Job, chunks: Iterator[tuple[list[dict[str, Any]], int]]) -> Iterator[pa.Table]:
    for rows, first in chunks:
        yield score_chunk(job, rows, first)


def score_file(src: Path, dst: Path, job: Job, chunk: int, *, mapper: Mapper = in_process,
               progress: Callable[[int], None] = lambda n: None) -> int:  # fmt: skip
    """Score every entry of `src` into `dst` in file order; returns how many were scored."""
    file_format(dst)
    if job.record and mapper is not in_process:
        raise BatchError("recording commits chunks in file order from one process: leave out --dask")
    job = replace(job, cache=job.cache.resolve())

    def numbered() -> Iterator[tuple[list[dict[str, Any]], int]]:
        first = 0
        for rows in read_chunks(src, chunk):
            yield rows, first
            first += len(rows)

    writer, done = Writer(dst), 0
    try:
        for table in mapper(job, numbered()):
            writer.write(table)
            done += table.num_rows
            progress(table.num_rows)
    except BaseException:
        writer.close(ok=False)
        raise
    writer.close(ok=True)
    return done
