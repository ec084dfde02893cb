"""The entry as filed, as a reviewer reads it: each field under the schema's title, in people's units (money,
weights, yes or no, the HTS code with its dots, codes with their meaning)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from features.codes import EntryType, TransportMode
from features.schema import Entry
from model.explain import hts_text

MISSING = "—"


def _amount(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.3f}".rstrip("0")


def _code(value: StrEnum) -> str:
    """A code with its meaning: "11 (vessel, container)", "86 (de minimis)"."""
    meaning = value.name.lower().replace("_container", ", container").replace("_", " ")
    return f"{value.value} ({meaning})"


def _shown(name: str, value: Any, entry: Entry) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, EntryType | TransportMode):
        return _code(value)
    if name == "hts_code":
        return hts_text(value)
    if name == "declared_value_usd":
        return f"${value:,.2f}"
    if name == "quantity":
        return f"{_amount(value)} {entry.quantity_unit.value}"
    if name == "gross_weight_kg":
        return f"{_amount(value)} kg"
    return str(value)


def filed_fields(sent: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, value as a reviewer reads it) for every field of an entry recorded as sent."""
    titles = {name: field.title or name for name, field in Entry.model_fields.items()}
    try:
        entry = Entry.model_validate(sent)
    except ValidationError:  # a record the schema of today would refuse: shown as it was recorded
        return [(titles[name], MISSING if sent.get(name) in (None, "") else str(sent[name])) for name in titles]
    return [(titles[name], _shown(name, getattr(entry, name), entry)) for name in titles]
