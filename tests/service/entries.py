"""Entries for requests, taken from the generated history."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd

from features.pipeline import entry_payloads


def entry_json(history: pd.DataFrame, i: int, fresh_id: bool = True) -> dict[str, Any]:
    """Row i as a request entry; with a fresh id so that tests never share a decision."""
    entry = entry_payloads(history.loc[[i]])[0]
    if fresh_id:
        entry["entry_id"] = f"T{uuid.uuid4().hex[:20]}"
    return entry
