"""Batch scoring over a Dask cluster, as Dask does it: a dataframe made from row ranges of the input, each
partition read, scored and written by a worker (`dd.from_map(...).to_parquet(...)`); the client sends
only the ranges and the job, so neither it nor the scheduler holds the data.

A partition is a whole number of chunks (rows `first`..`first + chunk` of the file, as in one process), so
each chunk is decided exactly as `targeting score` decides it without Dask: the output, read back in order, is
the single-process file (tests/service/test_batch.py).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client

from features.tables import table_format
from service.batch import ENTRY_FIELDS, BatchError, Job, score_chunk

CHUNKS_PER_PARTITION = 20
READ_BATCH = 10_000  # rows decoded at a time while a worker reads its partition


def read_rows(path: str, start: int, stop: int, batch_size: int = READ_BATCH) -> list[dict[str, object]]:
    """Rows `start`..`stop` of a Parquet file (its entry columns), streamed from the row groups that hold them:
    a row group may be the whole file, and only a batch of it is in memory besides the rows kept."""
    source = pq.ParquetFile(path)
    present = [c for c in ENTRY_FIELDS if c in source.schema_arrow.names]
    parts, offset = [], 0
    for group in range(source.num_row_groups):
        n = source.metadata.row_group(group).num_rows
        if offset < stop and offset + n > start:
            at = offset
            for batch in source.iter_batches(batch_size=batch_size, row_groups=[group], columns=present):
                low, high = max(start - at, 0), min(stop - at, batch.num_rows)
                if high > low:
                    parts.append(batch.slice(low, high - low))
                at += batch.num_rows
                if at >= stop:
                    break
        offset += n
    return pa.Table.from_batches(parts).to_pylist() if parts else []


def score_rows(span: tuple[str, int, int], job: Job, chunk: int) -> pd.DataFrame:
    """One partition: its rows read here, decided chunk by chunk as in one process."""
    path, start, stop = span
    rows = read_rows(path, start, stop)
    tables = [score_chunk(job, rows[i : i + chunk], start + i) for i in range(0, len(rows), chunk)]
    return pa.concat_tables(tables).to_pandas()


def score_on_dask(src: Path, dst: Path, job: Job, chunk: int, client: Client) -> int:
    """Score the Parquet file `src` into the Parquet folder `dst` (one file per partition, in file order) on the
    cluster `client` is connected to; returns how many entries were scored. A dry run only: recording commits
    chunks in file order from one process."""
    if job.record:
        raise BatchError("recording commits chunks in file order from one process: leave out --dask")
    if table_format(src) != "parquet" or table_format(dst) != "parquet":
        raise BatchError(
            "--dask reads a Parquet file and writes a Parquet folder: convert the file, or leave out --dask"
        )
    if not src.exists():
        raise BatchError(f"{src}: no such file")
    total = pq.ParquetFile(src).metadata.num_rows
    if not total:
        raise BatchError(f"{src} holds no entries")
    job = replace(job, cache=job.cache.resolve(), source="parquet")
    size = chunk * CHUNKS_PER_PARTITION
    spans = [(str(src.resolve()), start, min(start + size, total)) for start in range(0, total, size)]
    first = score_chunk(job, read_rows(spans[0][0], 0, 1), 0)  # the output's columns and types, from one entry
    partial = dst.with_name(f".{dst.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        scored = dd.from_map(score_rows, spans, job=job, chunk=chunk, meta=first.to_pandas().iloc[:0])
        with client.as_current():
            scored.to_parquet(
                str(partial), write_index=False, schema=first.schema, name_function=lambda i: f"part-{i:06d}.parquet"
            )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(dst, ignore_errors=True)
    partial.rename(dst)
    return total
