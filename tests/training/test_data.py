from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.spec import BUILTIN_SPEC
from training.data import DataError, load_spec, read_table, time_split, validate

SPEC_YAML = """\
id: declaration_no
timestamp: accepted_date
label: fraud
revenue: duty_recovered
categorical: [office, origin]
numeric: [net_mass, item_price]
entities: [importer, [hs6, origin]]
exclude: [fraud_severity]
"""


def small(**changes: list) -> pd.DataFrame:
    data = {
        "declaration_no": ["d1", "d2", "d3", "d4"],
        "accepted_date": ["2024-01-01", "2024-01-02", "2024-01-03 10:00", "2024-01-04"],
        "fraud": [0, 1, None, 0],
        "duty_recovered": [0, 120.5, None, 0],
        "office": [10, 20, 10, None],
        "origin": ["CN", "VN", None, "CN"],
        "importer": ["a", "b", "a", "c"],
        "hs6": [610910, 610910, 854143, 610910],
        "net_mass": [1.5, None, 3.0, 2.0],
        "item_price": [10, 2000, 5, 7],
        "fraud_severity": [0, 3, None, 0],
    }
    return pd.DataFrame(data | changes)


@pytest.fixture
def spec(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC_YAML)
    return load_spec(path)


def test_a_valid_table_is_parsed(spec) -> None:  # noqa: ANN001
    out = validate(small(), spec)
    assert str(out["accepted_date"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(out["accepted_date"].dtype)
    assert out["fraud"].isna().sum() == 1 and out["net_mass"].dtype == float


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"item_price": [10, "abc", 5, 7]}, "column 'item_price': expected numbers, found 'abc' in row 2"),
        (
            {"accepted_date": ["2024-01-01", "yesterday", "2024-01-03", "2024-01-04"]},
            "column 'accepted_date': not a date/time",
        ),
        ({"fraud": [0, 2, None, 0]}, "column 'fraud': labels must be 0, 1 or empty"),
        ({"fraud": [None, None, None, None]}, "no labelled rows"),
        ({"declaration_no": ["d1", "d1", "d3", "d4"]}, "duplicate id 'd1'"),
        ({"duty_recovered": [0, -5, None, 0]}, "cannot be negative"),
    ],
)
def test_bad_values_stop_with_one_line(spec, changes: dict, message: str) -> None:  # noqa: ANN001
    with pytest.raises(DataError) as exc:
        validate(small(**changes), spec)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_column_is_named(spec) -> None:  # noqa: ANN001
    with pytest.raises(DataError, match="missing column 'importer'"):
        validate(small().drop(columns=["importer"]), spec)


def test_builtin_spec_names_missing_entry_fields(history: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="missing column 'hts_code'"):
        validate(history.drop(columns=["hts_code"]), BUILTIN_SPEC)
    # optional entry fields may be absent: they default like the API's
    assert (
        validate(history.drop(columns=["marketplace", "seller_id"]).head(3000), BUILTIN_SPEC)["seller_id"].isna().all()
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "is empty"),
        ("header.csv", "a,b\n", "has no rows"),
        ("broken.parquet", "not parquet", "could not be read"),
        ("data.xlsx", "x", "unsupported format"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_table(path)
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\n", "timestamp: Field required"),
        (SPEC_YAML + "colour: red\n", "colour: Extra inputs"),
        (SPEC_YAML.replace("numeric: [net_mass", "numeric: [fraud_severity, net_mass"), "listed in exclude"),
        (SPEC_YAML.replace("numeric: [net_mass", "numeric: [truth_probability, net_mass"), "hidden ground truth"),
        (SPEC_YAML.replace("numeric: [net_mass", "numeric: [fraud, net_mass"), "cannot be a feature"),
        ("[1, 2]", "must be a mapping"),
        ("id: [", "not valid YAML"),
    ],
)
def test_bad_specs(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_spec(path)


def test_split_is_ordered_by_time(history: pd.DataFrame) -> None:
    frame = validate(history, BUILTIN_SPEC)
    split = time_split(frame, BUILTIN_SPEC, 0.15, 0.15)
    train, valid, test = split.masks(frame["filed_at"])
    assert frame["filed_at"][train].max() < split.valid_from <= frame["filed_at"][valid].min()
    assert frame["filed_at"][valid].max() < split.test_from <= frame["filed_at"][test].min()
    assert test.mean() == pytest.approx(0.15, abs=0.01) and valid.mean() == pytest.approx(0.15, abs=0.01)
    with pytest.raises(DataError, match="fractions"):
        time_split(frame, BUILTIN_SPEC, 0.6, 0.5)


def test_explicit_split_by_dates(history: pd.DataFrame) -> None:
    spec = BUILTIN_SPEC.model_copy(
        update={"valid_from": pd.Timestamp("2024-06-01", tz="UTC"), "test_from": pd.Timestamp("2024-09-01", tz="UTC")}
    )
    frame = validate(history, spec)
    split = time_split(frame, spec)
    assert (split.valid_from, split.test_from) == (
        pd.Timestamp("2024-06-01", tz="UTC"),
        pd.Timestamp("2024-09-01", tz="UTC"),
    )
    train, valid, test = split.masks(frame["filed_at"])
    assert frame["filed_at"][train].max() < pd.Timestamp("2024-06-01", tz="UTC") <= frame["filed_at"][valid].min()
    assert frame["filed_at"][test].min() >= pd.Timestamp("2024-09-01", tz="UTC") > frame["filed_at"][valid].max()
    late = spec.model_copy(update={"test_from": pd.Timestamp("2031-01-01", tz="UTC")})
    with pytest.raises(DataError, match="inside the data"):
        time_split(frame, late)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("valid_from: 2024-06-01\n", "give both valid_from and test_from"),
        ("valid_from: 2024-09-01\ntest_from: 2024-06-01\n", "must come before test_from"),
    ],
)
def test_explicit_split_in_the_spec_is_checked(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC_YAML + extra)
    with pytest.raises(DataError, match=message):
        load_spec(path)
    path.write_text(SPEC_YAML + "valid_from: 2024-06-01\ntest_from: 2024-09-01T00:00:00+02:00\n")
    assert load_spec(path).test_from == pd.Timestamp("2024-08-31T22:00:00", tz="UTC")


@pytest.mark.parametrize(("suffix", "where"), [(".csv", "row 1 (line 2)"), (".parquet", "row 1")])
def test_rows_are_named_as_the_file_numbers_them(spec, tmp_path: Path, suffix: str, where: str) -> None:  # noqa: ANN001
    frame = small(item_price=["abc", "10", "5", "7"])
    path = tmp_path / f"table{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path, index=False)
    with pytest.raises(DataError) as exc:
        validate(read_table(path), spec)
    assert str(exc.value) == f"column 'item_price': expected numbers, found 'abc' in {where}"


def test_times_given_as_numbers_are_named_not_read_as_1970(spec, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "epoch.parquet"
    small(accepted_date=[1704067200, 1704153600, 1704240000, 1704326400]).to_parquet(path, index=False)
    with pytest.raises(DataError) as exc:
        validate(read_table(path), spec)
    assert str(exc.value).startswith("column 'accepted_date': expected dates or date-times")
    assert "found numbers such as 1704067200 in row 1" in str(exc.value)
