"""Batch scoring over a Dask cluster: chunks scored on the workers, results written here in file order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from distributed import Client, Future

from service.batch import Job, Mapper, score_chunk


def over_dask(client: Client, in_flight_per_worker: int = 2) -> Mapper:
    """A mapper that submits chunks to the cluster, at most `in_flight_per_worker` per worker at a time (so
    memory stays bounded however large the file), and yields their tables in submission order."""

    def run(job: Job, chunks: Iterator[tuple[list[dict[str, Any]], int]]) -> Iterator[pa.Table]:
        limit = max(1, in_flight_per_worker * len(client.scheduler_info()["workers"]))
        pending: deque[Future] = deque()
        for rows, first in chunks:
            # pure=False: every chunk is its own task, even if two chunks held the same rows
            pending.append(client.submit(score_chunk, job, rows, first, pure=False))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    return run
