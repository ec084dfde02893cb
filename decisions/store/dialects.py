"""A list of values as one parameter, on PostgreSQL and on SQLite alike."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    String,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY


# Statements of the scoring path, built once per dialect: building a statement costs more than running it.
# A list of values goes in as one parameter (a PostgreSQL array, or JSON that SQLite unnests), since
# rendering one placeholder per value costs SQLAlchemy about 30 µs each.
def _one_of(column: Any, name: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=String))))


def _as_list(values: list[str], dialect: str) -> Any:
    return values if dialect == "postgresql" else orjson.dumps(values).decode()


DIALECTS = ("postgresql", "sqlite")
