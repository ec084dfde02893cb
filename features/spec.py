"""The dataset spec: which columns are the id, time, label, features and account entities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HIDDEN_PREFIX = "truth_"  # generator ground truth: never a feature


class Reference(BaseModel):
    """A numeric column compared with its median in the training data, per group, finest group first."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str
    by: list[str] = Field(min_length=1)

    @property
    def feature(self) -> str:
        return f"{self.value}_to_reference"


Entity = str | list[str]
Encoding = Literal["auto", "native", "frequency"]


class Truth(BaseModel):
    """Ground truth that generated data carries for every entry: read by evaluation only, never a feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    revenue: str | None = None
    probability: str | None = Field(default=None, description="The true violation probability (the oracle).")
    expected_revenue: str | None = Field(default=None, description="The true expected revenue at stake.")
    violation_type: str | None = Field(default=None, description="Which pattern the violation follows.")

    @property
    def numbers(self) -> list[str]:
        return [c for c in (self.label, self.revenue, self.probability, self.expected_revenue) if c]

    @property
    def columns(self) -> list[str]:
        return self.numbers + ([self.violation_type] if self.violation_type else [])


class DatasetSpec(BaseModel):
    """How to read a table of declarations; the product's own entries use `BUILTIN_SPEC`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    timestamp: str
    label: str = Field(description="0/1 outcome; empty where the declaration was not inspected.")
    revenue: str | None = None
    outcome_time: str | None = Field(default=None, description="When the outcome became known.")
    label_delay_days: float = Field(default=0.0, ge=0, description="Used when outcome_time is absent.")
    selection: str | None = Field(default=None, description="Why the row was inspected (policy, random, ...).")
    random_selection: str = Field(default="random", description="The `selection` value of the random sample.")
    selection_probability: str | None = Field(default=None, description="Each row's chance of being inspected.")
    violation_type: str | None = Field(
        default=None, description="What an inspection found (a label's detail, never a feature); may be absent."
    )
    truth: Truth | None = None
    categorical: list[str] = []
    category_encoding: dict[str, Encoding] = Field(
        default={},
        description="Per categorical column: native (LightGBM's category splits), frequency (its count in the "
        "training window), or auto (the default: native where the labelled rows per category allow it).",
    )
    numeric: list[str] = []
    entities: list[Entity] = []
    references: list[Reference] = []
    exclude: list[str] = []
    derive: Literal["entry"] | None = Field(default=None, description="Add the built-in entry columns first.")
    valid_from: datetime | None = Field(default=None, description="Explicit split: validation starts here ...")
    test_from: datetime | None = Field(default=None, description="... and the test window here (UTC if no zone).")

    @field_validator("entities")
    @classmethod
    def _entities_nonempty(cls, value: list[Entity]) -> list[Entity]:
        for entity in value:
            if isinstance(entity, list) and not entity:
                raise ValueError("an entity combination needs at least one column")
        return value

    @field_validator("valid_from", "test_from")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _roles_do_not_overlap(self) -> DatasetSpec:
        roles = {
            c
            for c in (
                self.id,
                self.timestamp,
                self.label,
                self.revenue,
                self.outcome_time,
                self.selection,
                self.selection_probability,
                self.violation_type,
                *(self.truth.columns if self.truth else []),
            )
            if c
        }
        for column in self.feature_columns:
            if column in roles:
                raise ValueError(f"column {column!r} is the id, time, label or outcome and cannot be a feature")
            if column in self.exclude:
                raise ValueError(f"column {column!r} is listed in exclude and cannot be a feature")
            if column.startswith(HIDDEN_PREFIX):
                raise ValueError(f"column {column!r} is hidden ground truth and cannot be a feature")
        if (self.valid_from is None) != (self.test_from is None):
            raise ValueError("give both valid_from and test_from, or neither")
        if self.valid_from and self.test_from and self.valid_from >= self.test_from:
            raise ValueError("valid_from must come before test_from")
        if stray := set(self.category_encoding) - set(self.categorical):
            raise ValueError(f"category_encoding names {sorted(stray)[0]!r}, which is not a categorical column")
        both = set(self.categorical) & set(self.numeric)
        if both:
            raise ValueError(f"column {sorted(both)[0]!r} is listed as both categorical and numeric")
        return self

    @property
    def feature_columns(self) -> list[str]:
        """Every input column that feeds a feature."""
        cols = [*self.categorical, *self.numeric, *(r.value for r in self.references)]
        cols += [c for r in self.references for c in r.by]
        cols += [c for e in self.entities for c in ([e] if isinstance(e, str) else e)]
        return list(dict.fromkeys(cols))

    @property
    def required_columns(self) -> list[str]:
        """Columns the data must have (derived columns excepted)."""
        cols = [self.id, self.timestamp, self.label, self.revenue, self.outcome_time, self.selection]
        return [c for c in cols if c]

    @staticmethod
    def entity_name(entity: Entity) -> str:
        return entity if isinstance(entity, str) else "+".join(entity)


BUILTIN_SPEC = DatasetSpec(
    id="entry_id",
    timestamp="filed_at",
    label="violation",
    revenue="revenue_at_stake",
    outcome_time="outcome_at",
    selection="selection",
    selection_probability="selection_probability",
    truth=Truth(
        label="truth_violation",
        revenue="truth_revenue_at_stake",
        probability="truth_probability",
        expected_revenue="truth_expected_revenue",
        violation_type="truth_violation_type",
    ),
    derive="entry",
    categorical=[
        "entry_type",
        "country_of_origin",
        "country_of_export",
        "port_of_entry",
        "mode_of_transport",
        "quantity_unit",
        "hts_chapter",
        "hts_heading",
        "marketplace",
        "filer_code",
        "carrier",
    ],
    numeric=[
        "declared_value_usd",
        "quantity",
        "gross_weight_kg",
        "unit_value",
        "value_per_kg",
        "kg_per_unit",
        "related_party",
        "origin_differs_from_export",
        "mid_country_differs_from_origin",
        "is_de_minimis",
        "has_adcvd_case",
        "adcvd_scope_without_case",
        "desc_brand_word",
        "desc_vague",
        "desc_hts_mismatch",
        "round_value",
    ],
    entities=["importer_id", "manufacturer_id", "shipper_id", "seller_id", ["hts_heading", "country_of_origin"]],
    references=[
        Reference(value="unit_value", by=["hts_code", "hts6", "hts_heading"]),
        Reference(value="kg_per_unit", by=["hts_code", "hts6", "hts_heading"]),
    ],
    violation_type="violation_type",
    exclude=["inspected"],
)
