"""What to generate: the configuration, the violation patterns and the hidden truth columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

TRUTH_COLUMNS = (
    "truth_probability",
    "truth_violation",
    "truth_violation_type",
    "truth_revenue_at_stake",
    "truth_expected_revenue",
)
# Commerce country codes in AD/CVD case numbers.
CASE_COUNTRY = {"CN": "570", "VN": "552", "MY": "557", "TH": "549", "TW": "583", "IN": "533"}
PATTERNS = ("undervaluation", "transshipment", "counterfeit", "misclassification", "unsafe", "forced_labour")


class Regime(StrEnum):
    """Which de minimis rules the history follows (docs/domain.md, "De minimis regimes")."""

    PRE_2025 = "pre_2025"  # Type 86 release for parcels up to $800
    POST_SUSPENSION = "post_suspension"  # low-value parcels filed as informal entries


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; the same config and seed give the same frame."""

    entries: int
    seed: int = 7
    start: date = date(2023, 1, 1)
    months: int = 24
    regime: Regime = Regime.PRE_2025
    parcel_share: float = 0.55
    policy_rate: float = 0.03
    random_rate: float = 0.005
