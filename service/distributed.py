"""Batch scoring over a Dask cluster: chunks scored on the workers, results written here in file order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from distributed import Client, Future

from service.batch import Job, Mapper, score_chunk


def pack(rows: list[dict[str, Any]]) -> bytes:
    """A chunk's rows as compressed Arrow IPC: Dask's scheduler keeps every task's arguments after the task
    is done (dask/distributed issues 5960, 8859), so what it keeps should be small."""
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pylist(rows)
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def unpack(packed: bytes) -> list[dict[str, Any]]:
    return pa.ipc.open_stream(packed).read_all().to_pylist()  # type: ignore[no-any-return]


def score_packed(job: Job, packed: bytes, first: int) -> pa.Table:
    return score_chunk(job, unpack(packed), first)


def over_dask(client: Client, in_flight_per_worker: int = 2) -> Mapper:
    """A mapper that submits chunks to the cluster, at most `in_flight_per_worker` per worker at a time (so
    memory stays bounded however large the file), and yields their tables in submission order."""

    def run(job: Job, chunks: Iterator[tuple[list[dict[str, Any]], int]]) -> Iterator[pa.Table]:
        limit = max(1, in_flight_per_worker * len(client.scheduler_info()["workers"]))
        pending: deque[Future] = deque()
        for rows, first in chunks:
            # pure=False: every chunk is its own task, even if two chunks held the same rows
            pending.append(client.submit(score_packed, job, pack(rows), first, pure=False))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    return run
