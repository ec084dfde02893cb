"""Tables of entries in files (CSV or Parquet), read whole or in chunks, with one-line errors and one way of
numbering rows; shared by training (`targeting train`, `history load`...) and scoring files (`targeting score`)."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

Format = Literal["csv", "parquet"]
FORMATS: dict[str, Format] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv", ".gz": "csv"}


class DataError(ValueError):
    """Bad input data or spec; the message is one line a user can act on."""


def table_format(path: Path) -> Format:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise DataError(f"{path}: unsupported format {path.suffix!r} (use .csv or .parquet)") from None


def row_label(kind: Format | None, index: int) -> str:
    """How a user finds row `index` (0-based, in file order): rows count entries from 1 in every format, and a
    CSV's row also gives its line, as an editor or a spreadsheet shows it (the header is line 1)."""
    return f"row {index + 1} (line {index + 2})" if kind == "csv" else f"row {index + 1}"


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn whatever a reader raises on a bad file into one DataError naming the file."""
    try:
        yield
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except (OSError, ValueError, pd.errors.ParserError, pa.ArrowException) as exc:
        raise DataError(
            f"{path} could not be read: {(str(exc).strip().splitlines() or ['unknown error'])[0]}"
        ) from None


def read_table(path: Path) -> pd.DataFrame:
    """A whole CSV or Parquet file; a missing, unreadable or empty one is a DataError. `attrs["format"]` says
    which it was, so that messages name rows as the user finds them (see `row_label`)."""
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    kind = table_format(path)
    with reading(path):
        frame = pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path, low_memory=False)
    if frame.empty:
        raise DataError(f"data file {path} has no rows")
    frame.attrs["format"] = kind
    return frame


def count_rows(path: Path) -> int:
    """Rows in the file: Parquet's metadata, or the lines of a CSV less its header (an estimate for progress:
    a quoted value may span lines)."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    kind = table_format(path)
    with reading(path):
        if kind == "parquet":
            return int(pq.ParquetFile(path).metadata.num_rows)
        opener: Any = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rb") as f:
            return max(sum(1 for _ in f) - 1, 0)


def read_chunks(path: Path, size: int, columns: list[str]) -> Iterator[list[dict[str, Any]]]:
    """The file's rows as dicts of the wanted `columns` it has, `size` rows at a time. CSV cells are read as text
    (empty cells as None), so that codes such as "01" keep their leading zero; the caller converts them."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    kind = table_format(path)
    with reading(path):
        if kind == "parquet":
            source = pq.ParquetFile(path)
            present = [c for c in columns if c in source.schema_arrow.names]
            for batch in source.iter_batches(batch_size=size, columns=present):
                yield batch.to_pylist()
            return
        for frame in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=size):
            frame = frame[[c for c in columns if c in frame.columns]]
            yield [{k: (v if v != "" else None) for k, v in row.items()} for row in frame.to_dict("records")]
