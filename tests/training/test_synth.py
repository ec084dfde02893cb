from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.reference import ADCVD_ORDERS
from features.schema import ENTRY_FIELDS, Entry
from training.synth import PATTERNS, TRUTH_COLUMNS, Regime, SynthConfig, generate


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return generate(SynthConfig(entries=200_000, seed=7))


def test_same_seed_same_history_other_seed_other_history() -> None:
    a = generate(SynthConfig(entries=5_000, seed=3))
    b = generate(SynthConfig(entries=5_000, seed=3))
    c = generate(SynthConfig(entries=5_000, seed=4))
    pd.testing.assert_frame_equal(a, b)
    assert not a["declared_value_usd"].equals(c["declared_value_usd"])


def test_every_row_is_a_valid_entry(history: pd.DataFrame) -> None:
    sample = history.sample(3_000, random_state=0)
    for record in sample[list(ENTRY_FIELDS)].to_dict("records"):
        Entry.model_validate({k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in record.items()})
    assert history["entry_id"].is_unique
    assert history["filed_at"].is_monotonic_increasing


def test_rates_follow_the_domain_targets(big: pd.DataFrame) -> None:
    """docs/domain.md: 1-3 % of lines violate; 2-5 % examined; random picks of about 0.1-0.5 %."""
    assert 0.01 <= big["truth_violation"].mean() <= 0.03
    assert 0.02 <= big["inspected"].mean() <= 0.05
    assert 0.004 <= (big["selection"] == "random").mean() <= 0.006
    assert big["entry_type"].value_counts(normalize=True)["86"] == pytest.approx(0.55, abs=0.01)
    mix = big["truth_violation_type"].value_counts(normalize=True)
    assert set(mix.index) == set(PATTERNS)
    assert mix["undervaluation"] + mix["misclassification"] >= 0.45  # value/classification dominate
    assert all(
        mix[p] >= 0.05 for p in ("undervaluation", "transshipment", "counterfeit", "misclassification", "unsafe")
    )


def test_labels_exist_only_where_inspected_and_policy_is_biased(big: pd.DataFrame) -> None:
    inspected = big["inspected"]
    assert big.loc[inspected, "violation"].notna().all() and big.loc[~inspected, "violation"].isna().all()
    assert (big.loc[inspected, "outcome_at"] > big.loc[inspected, "filed_at"]).all()
    assert big.loc[~inspected, ["selection", "outcome_at", "revenue_at_stake"]].isna().all().all()
    assert (big.loc[inspected, "violation"] == big.loc[inspected, "truth_violation"]).all()
    random = big[big["selection"] == "random"]["violation"].mean()
    policy = big[big["selection"] == "policy"]["violation"].mean()
    assert policy > 2 * random  # the past policy chose risky-looking entries
    assert random == pytest.approx(big["truth_violation"].mean(), abs=0.01)  # random picks are unbiased
    assert big["selection_probability"].between(0.005, 1).all()


def test_patterns_carry_their_signals(big: pd.DataFrame) -> None:
    kind = big["truth_violation_type"]
    fakes = big[kind == "counterfeit"]
    assert (fakes["entry_type"] == "86").all() and fakes["mode_of_transport"].isin(["40", "50"]).all()
    assert fakes["country_of_origin"].isin(["CN", "HK"]).mean() > 0.7
    under = big[kind == "undervaluation"]
    clean = big[~big["truth_violation"] & big["entry_type"].eq("01")]
    unit_price = lambda df: (df["declared_value_usd"] / df["quantity"]).groupby(df["hts_code"]).median()  # noqa: E731
    assert (unit_price(under) / unit_price(clean)).dropna().median() < 0.6
    evasion = big[kind == "transshipment"]
    # declared from a transit country, or from China without the case number
    assert (evasion["country_of_origin"].isin(["VN", "MY", "TH", "KH"]) | evasion["adcvd_case_no"].isna()).all()
    assert evasion.loc[evasion["country_of_origin"] == "CN", "adcvd_case_no"].isna().all()
    misclass = big[kind == "misclassification"]
    assert (
        misclass["hts_code"].str[:4].isin(["6307", "6406", "3926", "8501", "7318", "7616", "4016", "8714"]).mean() > 0.9
    )
    assert (big.loc[big["truth_violation"], "truth_revenue_at_stake"] > 0).all()
    assert (big.loc[~big["truth_violation"], "truth_revenue_at_stake"] == 0).all()
    assert set(TRUTH_COLUMNS) <= set(big.columns)


def test_seasonality_and_drift(big: pd.DataFrame) -> None:
    parcels = big[big["entry_type"] == "86"]
    month = parcels["filed_at"].dt.month.value_counts()
    assert month[12] > 1.4 * month[2]  # the holiday peak
    quarter = parcels["filed_at"].dt.tz_localize(None).dt.to_period("Q").value_counts().sort_index()
    assert quarter.iloc[-1] > 1.3 * quarter.iloc[0]  # e-commerce growth
    scope = big[big["hts_code"].str[:6].isin(ADCVD_ORDERS)]
    t = scope["filed_at"]
    scope_late = scope[t > t.quantile(0.5)]
    scope_early = scope[t < t.quantile(0.3)]
    rate = lambda df: (df["truth_violation_type"] == "transshipment").mean()  # noqa: E731
    assert rate(scope_late) > 1.5 * rate(scope_early)  # evasion rises after the AD/CVD order


def test_post_suspension_regime_has_no_de_minimis() -> None:
    df = generate(SynthConfig(entries=5_000, seed=1, regime=Regime.POST_SUSPENSION))
    assert "86" not in set(df["entry_type"])
    assert (df["entry_type"] == "11").mean() > 0.5


def test_refuses_tiny_histories() -> None:
    with pytest.raises(ValueError, match="at least 100"):
        generate(SynthConfig(entries=10))
    assert np.isfinite(
        generate(SynthConfig(entries=100))
        .select_dtypes("number")
        .drop(columns=["violation", "revenue_at_stake"])
        .to_numpy()
    ).all()
