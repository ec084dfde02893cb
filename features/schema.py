"""One import entry as a targeting system sends it (CBP 3461/7501 and Type 86 elements)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import to_jsonable_python

from features.codes import ISO_COUNTRIES, EntryType, QuantityUnit, TransportMode

# Entries may be stamped slightly ahead of the server clock by the filer's system.
CLOCK_SKEW = timedelta(minutes=5)


# what Python's str.strip() strips, spelled out: regex engines (Rust's in pydantic, ECMA's in clients) differ on \s
SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def text(min_chars: int = 1) -> str:
    """The JSON Schema pattern of text the service takes: no NUL character (no database text column holds one),
    and at least `min_chars` characters once the whitespace around it is stripped (0: any text)."""
    if min_chars <= 0:
        return r"^[^\x00]*$"
    space, solid = f"[{SPACE}]*", f"[^{SPACE}\\x00]"
    if min_chars == 1:
        return rf"^{space}{solid}(?:[^\x00]*{solid})?{space}$"
    return rf"^{space}{solid}[^\x00]{{{min_chars - 2},}}{solid}{space}$"


def text_schema(min_chars: int = 1) -> dict[str, Any]:
    """`text(min_chars)` as a field's json_schema_extra: the document says it, the field's own validators (strip,
    lengths, no_nul) enforce it with messages a user can read."""
    return {"pattern": text(min_chars)}


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number is wanted, not true or false")
    return value


# a number where JSON's true and false are refused rather than read as 1 and 0
Number = Annotated[float, BeforeValidator(_not_a_bool)]
Share = Annotated[float, Field(ge=0, le=1), BeforeValidator(_not_a_bool)]  # a Number from 0 to 1


def no_nul(value: object) -> object:
    """Refuse the NUL character, which no database text column can hold."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain the NUL character (\\u0000)")
    return value


def _country(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_COUNTRIES:
        raise ValueError(f"unknown ISO 3166-1 alpha-2 country code {value!r}")
    return code


def _hts(value: str) -> str:
    digits = value.replace(".", "").replace(" ", "")
    if not re.fullmatch(r"\d{10}", digits):
        raise ValueError(f"HTS code must have exactly 10 digits (e.g. 8541.43.0010), got {value!r}")
    return digits


# The schema says what the validators take, so that clients and generated SDKs see it: a country code from the
# list (the service also takes lower case), ten digits of an HTS code with dots or spaces anywhere.
Country = Annotated[str, AfterValidator(_country), WithJsonSchema({"type": "string", "enum": sorted(ISO_COUNTRIES)})]
HtsCode = Annotated[str, Field(json_schema_extra={"pattern": r"^[ .]*(?:\d[ .]*){10}$"}), AfterValidator(_hts)]
PartyId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")]


class Entry(BaseModel):
    """One import entry line as filed, before any risk assessment."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        # a de minimis entry (type 86) is worth at most $800: said in the schema too, for clients that check it
        json_schema_extra={
            "if": {"properties": {"entry_type": {"const": "86"}}, "required": ["entry_type"]},
            "then": {"properties": {"declared_value_usd": {"maximum": 800}}},
        },
    )

    entry_id: PartyId = Field(
        title="Entry number", description="Entry number: filer code, serial, check digit.", examples=["DOC0000001-4"]
    )
    filed_at: datetime = Field(
        title="Filed", description="When the entry was filed (UTC if no zone given).", examples=["2025-03-14T09:30:00Z"]
    )
    entry_type: EntryType = Field(
        title="Entry type", description="01 formal, 11 informal, 86 de minimis.", examples=["01"]
    )
    importer_id: PartyId = Field(
        title="Importer of record",
        description="Importer of record number (EIN+suffix or CBP-assigned).",
        examples=["12-3456789AB"],
    )
    filer_code: str = Field(
        title="Filer code",
        pattern=r"^[A-Z0-9]{3}$",
        description="Three-character broker or self-filer code.",
        examples=["ABC"],
    )
    manufacturer_id: PartyId = Field(
        title="Manufacturer (MID)",
        max_length=15,
        description="Manufacturer identification code (MID).",
        examples=["CNAMAPLA1145SHA"],
    )
    shipper_id: PartyId = Field(
        title="Shipper", description="Shipper (foreign exporter) identifier.", examples=["SHP-000123"]
    )
    consignee_id: PartyId = Field(
        title="Ultimate consignee", description="Ultimate consignee identifier.", examples=["CNS-004567"]
    )
    country_of_origin: Country = Field(
        title="Country of origin", description="ISO2 country where the goods were made.", examples=["VN"]
    )
    country_of_export: Country = Field(
        title="Country of export", description="ISO2 country the goods were exported from.", examples=["VN"]
    )
    port_of_entry: str = Field(
        title="Port of entry", pattern=r"^\d{4}$", description="Schedule D port code.", examples=["2704"]
    )
    mode_of_transport: TransportMode = Field(
        title="Mode of transport", description="Census mode-of-transport code.", examples=["11"]
    )
    carrier: str = Field(
        title="Carrier",
        min_length=2,
        max_length=8,
        json_schema_extra=text_schema(2),
        description="SCAC or IATA carrier code.",
        examples=["MAEU"],
    )
    hts_code: HtsCode = Field(
        title="HTS code", description="10-digit HTSUS statistical number; dots allowed.", examples=["8541.43.0010"]
    )
    description: str = Field(
        title="Description of goods",
        min_length=1,
        max_length=500,
        json_schema_extra=text_schema(1),
        description="Goods description as declared.",
        examples=["solar module 400W"],
    )
    declared_value_usd: Number = Field(
        title="Declared value (USD)", ge=0, allow_inf_nan=False, description="Entered value in USD.", examples=[18500.0]
    )
    quantity: Number = Field(
        title="Quantity", gt=0, allow_inf_nan=False, description="Quantity in the HTS reporting unit.", examples=[500]
    )
    quantity_unit: QuantityUnit = Field(title="Quantity unit", description="HTS reporting unit.", examples=["NO"])
    gross_weight_kg: Number = Field(
        title="Gross weight (kg)",
        gt=0,
        allow_inf_nan=False,
        description="Gross shipping weight in kg.",
        examples=[1200.0],
    )
    related_party: bool = Field(
        title="Related parties",
        default=False,
        strict=True,
        description="Buyer and seller are related parties: true or false (not 0 or 1).",
    )
    adcvd_case_no: str | None = Field(
        title="AD/CVD case number",
        default=None,
        pattern=r"^[AC]\d{9}$",
        description="AD/CVD case number when declared.",
        examples=["A570983000"],
    )
    marketplace: str | None = Field(
        title="Marketplace",
        default=None,
        max_length=64,
        json_schema_extra=text_schema(0),
        description="E-commerce marketplace.",
        examples=["shopmart"],
    )
    seller_id: PartyId | None = Field(
        title="Seller", default=None, description="E-commerce seller identifier.", examples=["SLR-0042"]
    )

    # the entry exactly as it was given, kept for the record: the fields above hold it normalised
    _sent: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_as_sent(cls, data: Any, handler: ModelWrapValidatorHandler[Entry]) -> Entry:
        entry = handler(data)
        if isinstance(data, dict):
            entry._sent = dict(data)
        return entry

    def as_sent(self) -> dict[str, Any]:
        """The entry as it was given (an HTS code with its dots, a country in lower case), in JSON's types."""
        return to_jsonable_python(self._sent) if self._sent is not None else self.model_dump(mode="json")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return no_nul(value)

    @field_validator("filed_at")
    @classmethod
    def _filed_at_not_in_future(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError(f"filed_at {value.isoformat()} is in the future")
        return value

    @model_validator(mode="after")
    def _de_minimis_limit(self) -> Entry:
        if self.entry_type is EntryType.DE_MINIMIS and self.declared_value_usd > 800:
            raise ValueError("entry_type 86 (de minimis) requires declared_value_usd <= 800")
        return self


def first_problem(exc: ValidationError, whole: str = "entry") -> str:
    """The first thing a validation found, as `field.path: message` (`whole` where it concerns the whole input)."""
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}"


ENTRY_FIELDS: tuple[str, ...] = tuple(Entry.model_fields)
BOOLEAN_FIELDS: tuple[str, ...] = tuple(name for name, f in Entry.model_fields.items() if f.annotation is bool)

# two entries as a targeting system sends them: the API document's example and the registered model's
EXAMPLE_ENTRIES: list[JsonValue] = [
    {
        "entry_id": "DOC0000001-4",
        "filed_at": "2025-03-14T09:30:00Z",
        "entry_type": "01",
        "importer_id": "12-3456789AB",
        "filer_code": "ABC",
        "manufacturer_id": "CNAMAPLA1145SHA",
        "shipper_id": "SHP-000123",
        "consignee_id": "CNS-004567",
        "country_of_origin": "CN",
        "country_of_export": "CN",
        "port_of_entry": "2704",
        "mode_of_transport": "11",
        "carrier": "MAEU",
        "hts_code": "7317.00.5503",
        "description": "steel wire nails",
        "declared_value_usd": 18500.0,
        "quantity": 14000,
        "quantity_unit": "KG",
        "gross_weight_kg": 15200.0,
        "related_party": False,
        "adcvd_case_no": "A570909000",
    },
    {
        "entry_id": "DOC0000002-2",
        "filed_at": "2025-03-14T10:05:00Z",
        "entry_type": "86",
        "importer_id": "24031511-00042",
        "filer_code": "EXP",
        "manufacturer_id": "CNSHEGUA88SHE",
        "shipper_id": "SHP-E00042",
        "consignee_id": "C104233",
        "country_of_origin": "CN",
        "country_of_export": "HK",
        "port_of_entry": "4701",
        "mode_of_transport": "40",
        "carrier": "DHL",
        "hts_code": "4202.21.0000",
        "description": "designer leather handbags",
        "declared_value_usd": 38.0,
        "quantity": 2,
        "quantity_unit": "NO",
        "gross_weight_kg": 1.9,
        "marketplace": "shopmart",
        "seller_id": "SLR-0042",
    },
]
