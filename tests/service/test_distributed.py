"""A Dask worker's read of its partition: exactly rows `start`..`stop` of the file, however its row groups fall."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.batch import ENTRY_FIELDS
from service.distributed import read_rows

ROWS = 1000
SPANS = [(0, 1), (0, ROWS), (140, 160), (149, 151), (999, 1000), (800, 1200), (1000, 1040)]


@pytest.fixture(scope="module", params=[ROWS, 150, 7], ids=lambda n: f"row-groups-of-{n}")
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("read") / "entries.parquet"
    table = pa.table({"entry_id": [f"E{i:04d}" for i in range(ROWS)], "quantity": range(ROWS), "note": ["x"] * ROWS})
    pq.write_table(table, path, row_group_size=request.param)
    return path


@pytest.mark.parametrize(("start", "stop"), SPANS)
@pytest.mark.parametrize("batch_size", [64, 10_000])
def test_a_partition_reads_its_rows_and_only_the_entry_columns(
    source: Path, start: int, stop: int, batch_size: int
) -> None:
    rows = read_rows(str(source), start, stop, batch_size)
    expected = [{"entry_id": f"E{i:04d}", "quantity": i} for i in range(start, min(stop, ROWS))]
    assert rows == expected
    assert {"entry_id", "quantity"} <= set(ENTRY_FIELDS) and "note" not in ENTRY_FIELDS
