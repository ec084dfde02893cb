"""What each built-in feature is, in one place: its label, the sentences a reviewer reads, its unit, and the
violation pattern it signals (docs/domain.md, "Violation patterns").

`derive.py` (vectorised, for training) and `online.py` (one entry at a time, for serving) compute the derived
columns; this module says what they mean. The explainer, the likely-pattern reading and the policy's list of
rule fields read it. A feature of a user's own dataset has no definition here and is named by its column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from features.codes import Violation
from features.schema import ENTRY_FIELDS

U, M, T, C = Violation.UNDERVALUATION, Violation.MISCLASSIFICATION, Violation.TRANSSHIPMENT, Violation.COUNTERFEIT


@dataclass(frozen=True)
class Feature:
    """One feature of the built-in entry spec."""

    label: str  # a short name
    yes: str = ""  # a yes/no feature: what 1 means ...
    no: str = ""  # ... and what 0 means (both empty for every other kind)
    unit: Literal["", "usd", "kg"] = ""
    signal: Violation | None = None  # the pattern its raising the score points to
    price: bool = False  # a declared price: on a branded or de minimis entry a low one points to counterfeit
    derived: bool = False  # computed from the filed fields, not filed

    @property
    def yes_no(self) -> bool:
        return bool(self.no)


def _flag(yes: str, no: str, signal: Violation | None = None) -> Feature:
    return Feature(yes, yes, no, signal=signal, derived=True)  # a derived flag is named by what 1 means


FEATURES: dict[str, Feature] = {
    # filed, categories
    "entry_type": Feature("entry type"),
    "country_of_origin": Feature("country of origin", signal=T),
    "country_of_export": Feature("country of export", signal=T),
    "port_of_entry": Feature("port of entry"),
    "mode_of_transport": Feature("mode of transport", signal=C),
    "quantity_unit": Feature("quantity unit", signal=M),
    "marketplace": Feature("marketplace", signal=C),
    "filer_code": Feature("filer code"),
    "carrier": Feature("carrier"),
    "hts_code": Feature("HTS code"),
    # filed, numbers
    "declared_value_usd": Feature("declared value", unit="usd", signal=U, price=True),
    "quantity": Feature("quantity", signal=M),
    "gross_weight_kg": Feature("gross weight", unit="kg", signal=M),
    "related_party": Feature(
        "related party", "buyer and seller are related parties", "buyer and seller are not related", signal=U
    ),
    # derived from the filed fields
    "hts_chapter": Feature("HTS chapter", signal=M, derived=True),
    "hts_heading": Feature("HTS heading", signal=M, derived=True),
    "hts6": Feature("HS subheading", derived=True),
    "unit_value": Feature("declared value per unit", unit="usd", signal=U, price=True, derived=True),
    "value_per_kg": Feature("declared value per kg", unit="usd", signal=U, price=True, derived=True),
    "kg_per_unit": Feature("gross weight per unit", unit="kg", signal=M, derived=True),
    "origin_differs_from_export": _flag(
        "country of origin differs from country of export", "the goods were exported from their country of origin", T
    ),
    "mid_country_differs_from_origin": _flag(
        "the manufacturer is in another country than the declared origin",
        "the manufacturer is in the declared country of origin",
        T,
    ),
    "is_de_minimis": _flag("filed as a de minimis (Type 86) entry", "not a de minimis entry", C),
    "has_adcvd_case": _flag("an AD/CVD case number is declared", "no AD/CVD case number is declared", T),
    "adcvd_scope_without_case": _flag(
        "goods and origin fall under an AD/CVD order but no case number is declared",
        "no AD/CVD order applies without a declared case number",
        T,
    ),
    "desc_brand_word": _flag("the description claims a brand", "the description names no brand", C),
    "desc_vague": _flag(
        "the description is too vague to identify the goods", "the description identifies the goods", C
    ),
    "desc_hts_mismatch": _flag(
        "the description names goods of another HTS heading than the one declared",
        "the description fits the declared HTS heading",
        M,
    ),
    "round_value": _flag("the declared value is a round number", "the declared value is not a round number", U),
    # a value against its usual for the goods (features.spec.Reference)
    "unit_value_to_reference": Feature("declared value per unit against the usual", signal=U, price=True),
    "kg_per_unit_to_reference": Feature("gross weight per unit against the usual", signal=M),
}


@dataclass(frozen=True)
class Account:
    """An entity whose past entries the model reads (features.history), and the pattern its record signals."""

    label: str
    signal: Violation | None = None


ACCOUNTS: dict[str, Account] = {
    "importer_id": Account("importer"),
    "manufacturer_id": Account("manufacturer"),
    "shipper_id": Account("shipper"),
    "seller_id": Account("seller", C),
    "hts_heading+country_of_origin": Account("HTS heading from this origin", T),
}

# the statistics of an account's past, in the pipeline's order -> what each one counts
HISTORY: dict[str, str] = {
    "prior_entries": "entries filed before",
    "prior_inspections": "inspections before",
    "prior_violations": "violations found before",
    "violation_rate": "violation rate (smoothed)",
    "first_time": "first entry",
}
HISTORY_FEATURES: tuple[str, ...] = tuple(HISTORY)

DERIVED: tuple[str, ...] = tuple(name for name, f in FEATURES.items() if f.derived)
SIGNALS: dict[str, Violation] = {name: f.signal for name, f in FEATURES.items() if f.signal} | {
    f"{entity}_{stat}": a.signal for entity, a in ACCOUNTS.items() if a.signal for stat in HISTORY
}
SIGNALLED: tuple[Violation, ...] = tuple(v for v in Violation if v in SIGNALS.values())
PRICES = frozenset(name for name, f in FEATURES.items() if f.price)


def rule_fields() -> frozenset[str]:
    """The names a policy rule may test: the filed fields and every built-in feature."""
    history = {f"{entity}_{stat}" for entity in ACCOUNTS for stat in HISTORY}
    return frozenset(ENTRY_FIELDS) | frozenset(FEATURES) | history


@cache
def label(column: str) -> str:
    """A column's short name: its definition's, else the column name in words."""
    if column in FEATURES:
        return FEATURES[column].label
    if column in ENTRY_FIELDS:
        return column.removesuffix("_usd").removesuffix("_kg").replace("_", " ").replace("hts", "HTS")
    return column.replace("_", " ")


def account_label(entity: str) -> str:
    """Who an entity's history is about: "importer", "HTS heading from this origin"."""
    return ACCOUNTS[entity].label if entity in ACCOUNTS else label(entity)


@cache
def feature_label(feature: str) -> str:
    """A model feature's name as a reviewer reads it: `importer_id_prior_entries` is "importer: entries filed
    before", `unit_value_to_reference` "declared value per unit against the usual"."""
    for entity, account in ACCOUNTS.items():
        for stat, what in HISTORY.items():
            if feature == f"{entity}_{stat}":
                return f"{account.label}: {what}"
    if feature.endswith("_to_reference") and feature not in FEATURES:
        return f"{label(feature.removesuffix('_to_reference'))} against the usual"
    return label(feature)
