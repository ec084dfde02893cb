"""A Dask client for the commands that distribute work: a real cluster's scheduler, or a LocalCluster."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

log = logging.getLogger(__name__)
LOCAL = "local"  # `--dask` given without an address


@contextmanager
def connect(address: str, workers: int | None = None) -> Iterator[Client]:
    """A client of the scheduler at `address` (tcp://host:8786), or of a LocalCluster of `workers`
    single-threaded processes (one per core by default) started here when the address is `local`."""
    if address != LOCAL:
        with Client(address) as client:
            log.info("using the Dask cluster at %s (%d workers)", address, len(client.scheduler_info()["workers"]))
            yield client
        return
    with (
        # silence_logs: the cluster's INFO lines would drown a progress bar and the command's own output
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        log.info("started a local Dask cluster of %d workers", len(cluster.workers))
        yield client
