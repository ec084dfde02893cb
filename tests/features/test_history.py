from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.history import HistoryProfiles, point_in_time_counts
from features.pipeline import FeaturePipeline, prepare
from features.spec import BUILTIN_SPEC, DatasetSpec

SPEC = DatasetSpec(id="id", timestamp="t", label="y", outcome_time="known", entities=["imp", ["hs", "origin"]])
DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["id", "t", "y", "known", "imp", "hs", "origin"])
    df["t"] = pd.to_datetime(df["t"], utc=True)
    df["known"] = pd.to_datetime(df["known"], utc=True)
    return df


def test_counts_use_only_what_was_known_before_filing() -> None:
    df = frame(
        [
            ("a", T0, 1.0, T0 + 10 * DAY, "A", "6109", "CN"),  # violation known on day 10
            ("b", T0 + 5 * DAY, np.nan, pd.NaT, "A", "6109", "CN"),  # filed before it was known
            ("c", T0 + 10 * DAY, 0.0, T0 + 12 * DAY, "A", "6110", "CN"),  # filed the instant it was known
            ("d", T0 + 11 * DAY, np.nan, pd.NaT, "A", "6109", "CN"),
            ("e", T0 + 13 * DAY, np.nan, pd.NaT, "A", None, "CN"),
        ]
    )
    c = point_in_time_counts(df, SPEC).set_index(df["id"])
    assert c.loc["a", ["imp__entries", "imp__inspections", "imp__violations"]].tolist() == [0, 0, 0]
    assert c.loc["b", ["imp__entries", "imp__inspections", "imp__violations"]].tolist() == [1, 0, 0]
    assert c.loc["c", ["imp__entries", "imp__inspections", "imp__violations"]].tolist() == [2, 0, 0]
    assert c.loc["d", ["imp__entries", "imp__inspections", "imp__violations"]].tolist() == [3, 1, 1]
    assert c.loc["e", ["imp__entries", "imp__inspections", "imp__violations"]].tolist() == [4, 2, 1]
    assert c.loc["d", ["hs+origin__entries", "hs+origin__violations"]].tolist() == [2, 1]
    assert c.loc["e"].filter(like="hs+origin").isna().all()  # no key, no history
    nobody = point_in_time_counts(df.assign(imp=None), SPEC)  # an entity missing from every row
    assert nobody.filter(like="imp__").isna().all().all() and len(nobody) == len(df)


def test_a_planted_future_violation_does_not_leak(history: pd.DataFrame) -> None:
    rows = prepare(history, BUILTIN_SPEC)
    before = point_in_time_counts(rows, BUILTIN_SPEC)
    importer = rows["importer_id"].value_counts().index[0]
    mine = rows.index[rows["importer_id"] == importer]
    probe = mine[len(mine) // 2]
    planted = rows.copy()
    later = mine[mine > probe]
    # every later entry of the importer becomes an inspected violation, known a day after filing ...
    planted.loc[later, "violation"] = 1.0
    planted.loc[later, "outcome_at"] = planted.loc[later, "filed_at"] + DAY
    # ... and an earlier inspection's outcome arrives only after the probe was filed
    earlier = mine[mine < probe][-1]
    planted.loc[earlier, ["violation", "outcome_at"]] = [1.0, planted.loc[probe, "filed_at"] + DAY]
    after = point_in_time_counts(planted, BUILTIN_SPEC)
    cols = [c for c in before.columns if c.startswith("importer_id__")]
    expected = before.loc[probe, cols].copy()
    if pd.notna(rows.loc[earlier, "outcome_at"]) and rows.loc[earlier, "outcome_at"] < rows.loc[probe, "filed_at"]:
        expected["importer_id__inspections"] -= 1  # the earlier outcome is no longer known in time
        expected["importer_id__violations"] -= rows.loc[earlier, "violation"]
    assert after.loc[probe, cols].tolist() == expected.tolist()
    assert after.loc[later[-1], "importer_id__violations"] > before.loc[later[-1], "importer_id__violations"]


def test_serving_profiles_match_training_counts_bit_for_bit(history: pd.DataFrame) -> None:
    rows = prepare(history, BUILTIN_SPEC)
    batch = point_in_time_counts(rows, BUILTIN_SPEC)
    rng = np.random.default_rng(0)
    for i in rng.choice(np.arange(len(rows) // 2, len(rows)), size=25, replace=False):
        as_of = rows.loc[i, "filed_at"]
        profiles = HistoryProfiles.from_frame(rows.drop(index=i), BUILTIN_SPEC, as_of)
        served = profiles.lookup(rows.loc[[i]])
        assert served.iloc[0].to_numpy().tobytes() == batch.loc[i, served.columns].to_numpy().tobytes()


@pytest.mark.parametrize("missing_seller", [True, False])
def test_lookup_of_unseen_and_missing_keys(history: pd.DataFrame, missing_seller: bool) -> None:
    rows = prepare(history.head(10), BUILTIN_SPEC)
    rows = rows.assign(seller_id=None if missing_seller else "SLR-NEVER-SEEN")
    got = HistoryProfiles(BUILTIN_SPEC, {}).lookup(rows)
    seller = got.filter(like="seller_id__")
    assert seller.isna().all().all() if missing_seller else (seller == 0).all().all()
    pipeline = FeaturePipeline.fit(rows, BUILTIN_SPEC)
    first_time = pipeline.transform(rows, got)["seller_id_first_time"]
    assert first_time.isna().all() if missing_seller else (first_time == 1).all()
