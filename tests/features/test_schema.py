from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from features.codes import EntryType
from features.schema import Entry


def entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "entry_id": "ABC1234567-8",
        "filed_at": "2025-03-14T09:30:00Z",
        "entry_type": "01",
        "importer_id": "12-3456789AB",
        "filer_code": "ABC",
        "manufacturer_id": "CNAMAPLA1145SHA",
        "shipper_id": "SHP-000123",
        "consignee_id": "CNS-004567",
        "country_of_origin": "VN",
        "country_of_export": "VN",
        "port_of_entry": "2704",
        "mode_of_transport": "11",
        "carrier": "MAEU",
        "hts_code": "8541.43.0010",
        "description": "solar module 400W",
        "declared_value_usd": 18500,
        "quantity": 500,
        "quantity_unit": "NO",
        "gross_weight_kg": 1200,
    }
    return base | changes


def error_for(**changes: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as exc:
        Entry.model_validate(entry(**changes))
    err = exc.value.errors()[0]
    return ".".join(str(p) for p in err["loc"]), err["msg"]


def test_valid_entry_is_normalised() -> None:
    e = Entry.model_validate(entry(country_of_origin="vn", filed_at="2025-03-14T09:30:00"))
    assert e.hts_code == "8541430010"
    assert e.country_of_origin == "VN"
    assert e.filed_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)  # naive means UTC
    assert e.entry_type is EntryType.FORMAL
    assert e.marketplace is None and e.related_party is False


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"hts_code": "8541.43.001"}, "hts_code", "10 digits"),
        ({"hts_code": "85414300AB"}, "hts_code", "10 digits"),
        ({"country_of_origin": "XX"}, "country_of_origin", "unknown ISO"),
        ({"country_of_export": "USA"}, "country_of_export", "unknown ISO"),
        ({"declared_value_usd": -1}, "declared_value_usd", "greater than or equal to 0"),
        ({"quantity": 0}, "quantity", "greater than 0"),
        ({"gross_weight_kg": float("nan")}, "gross_weight_kg", "finite"),
        ({"entry_type": "03"}, "entry_type", "'01', '11' or '86'"),
        ({"mode_of_transport": "99"}, "mode_of_transport", "Input should be"),
        ({"port_of_entry": "27A4"}, "port_of_entry", "pattern"),
        ({"filer_code": "ab"}, "filer_code", "pattern"),
        ({"adcvd_case_no": "570983000"}, "adcvd_case_no", "pattern"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"importer_id": ""}, "importer_id", "at least 1"),
    ],
)
def test_bad_values_name_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    loc, msg = error_for(**changes)
    assert loc == field
    assert words in msg


def test_filed_at_in_the_future_is_refused() -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    loc, msg = error_for(filed_at=future)
    assert loc == "filed_at"
    assert "in the future" in msg


def test_missing_field_is_named() -> None:
    data = entry()
    del data["hts_code"]
    with pytest.raises(ValidationError) as exc:
        Entry.model_validate(data)
    assert exc.value.errors()[0]["loc"] == ("hts_code",)


def test_de_minimis_above_800_is_refused() -> None:
    with pytest.raises(ValidationError, match="de minimis"):
        Entry.model_validate(entry(entry_type="86", declared_value_usd=801))
    assert Entry.model_validate(entry(entry_type="86", declared_value_usd=800)).declared_value_usd == 800
