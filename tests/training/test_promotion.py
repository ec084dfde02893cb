"""Promotion through the gate: YAML gates, the rule arithmetic, alias history, and real promotions."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import training
from decisions import migrate, store
from decisions.store import AliasMove
from training.comparison import compare, compare_report, format_comparison
from training.data import DataError
from training.fit import FitParams
from training.promotion import (
    DEFAULT_GATE,
    Gate,
    PromotionRefused,
    PromotionResult,
    Rule,
    check,
    load_gate,
    promote,
    promote_report,
)
from training.train import train

NAME = "shipment-risk"


def alias_at(session: Session, model_name: str, alias: str, when: datetime) -> AliasMove | None:
    """The recorded move that put `alias` where it was at `when` (the latest at or before it), or None."""
    query = (
        select(AliasMove)
        .where(AliasMove.model_name == model_name, AliasMove.alias == alias, AliasMove.moved_at <= when)
        .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


# --- the gate file -------------------------------------------------------------------------------


def test_load_gate_reads_rules_and_the_checked_in_example(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("rules:\n  - metric: pr_auc\n    min_rel: 0.01\n  - {metric: all_brier, higher_is_better: false}\n")
    gate = load_gate(path)
    assert gate == Gate(rules=[Rule(metric="pr_auc", min_rel=0.01), Rule(metric="all_brier", higher_is_better=False)])
    example = load_gate(Path(training.__file__).parent / "gate.example.yaml")
    assert [r.metric for r in example.rules][:2] == [r.metric for r in DEFAULT_GATE.rules]
    assert example.unbiased == DEFAULT_GATE.unbiased  # the example spells the default out
    assert any(not r.higher_is_better for r in example.rules)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rules:\n  - {metric: pr_auc, threshold: 0.1}\n", "rules.0.threshold: Extra inputs are not permitted"),
        ("rules:\n  - {min_abs: 0.1}\n", "rules.0.metric: Field required"),
        ("rules:\n  - {metric: pr_auc, min_abs: lots}\n", "rules.0.min_abs: Input should be a valid number"),
        ("rules: []\n", "rules: List should have at least 1 item"),
        ("- metric: pr_auc\n", "must be a mapping with a list of rules"),
        ("rules: [{metric: pr_auc\n", "is not valid YAML"),
        (None, "does not exist"),
    ],
)
def test_a_bad_gate_file_is_one_line_data_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "gate.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as caught:
        load_gate(path)
    assert message in str(caught.value) and "\n" not in str(caught.value) and str(path) in str(caught.value)


# --- the rules -----------------------------------------------------------------------------------


def test_default_gate_refuses_a_worse_challenger_and_passes_an_equal_one() -> None:
    champion = {"precision_at_5pct": 0.30, "revenue_recall_at_5pct": 0.40}
    equal = check(DEFAULT_GATE, dict(champion), champion)
    assert equal.passed and len(equal.lines) == 2 and all(x.endswith(": pass") for x in equal.lines)
    worse = check(DEFAULT_GATE, {"precision_at_5pct": 0.31, "revenue_recall_at_5pct": 0.39}, champion)
    assert not worse.passed
    assert worse.failures == [worse.lines[1]] and worse.lines[1].startswith("revenue_recall_at_5pct")
    assert "challenger 0.3900 vs champion 0.4000, improvement -0.0100 (-2.5%), needs >= +0.0000" in worse.lines[1]
    assert worse.lines[1].endswith("FAIL")


def test_absolute_and_relative_thresholds() -> None:
    champion = {"pr_auc": 0.20}
    by_abs = Gate(rules=[Rule(metric="pr_auc", min_abs=0.01)])
    assert check(by_abs, {"pr_auc": 0.211}, champion).passed
    assert not check(by_abs, {"pr_auc": 0.205}, champion).passed
    by_rel = Gate(rules=[Rule(metric="pr_auc", min_rel=0.05)])  # 5 % of 0.20 is 0.01
    assert check(by_rel, {"pr_auc": 0.211}, champion).passed
    assert not check(by_rel, {"pr_auc": 0.209}, champion).passed
    tolerant = Gate(rules=[Rule(metric="pr_auc", min_rel=-0.02)])  # may lose 2 %, no more
    assert check(tolerant, {"pr_auc": 0.197}, champion).passed
    assert not check(tolerant, {"pr_auc": 0.195}, champion).passed
    assert "needs >= -2.0%: FAIL" in check(tolerant, {"pr_auc": 0.195}, champion).lines[0]
    both = Gate(rules=[Rule(metric="pr_auc", min_abs=0.001, min_rel=0.10)])
    assert not check(both, {"pr_auc": 0.21}, champion).passed  # +0.01 clears min_abs but is only +5 %


def test_lower_is_better_and_missing_metrics() -> None:
    brier = Gate(rules=[Rule(metric="brier", min_abs=0.001, higher_is_better=False)])
    better = check(brier, {"brier": 0.040}, {"brier": 0.042})
    assert better.passed and "improvement +0.0020" in better.lines[0] and "(lower is better)" in better.lines[0]
    assert not check(brier, {"brier": 0.0415}, {"brier": 0.042}).passed  # lower, but not by enough
    assert not check(brier, {"brier": 0.050}, {"brier": 0.042}).passed
    missing = check(DEFAULT_GATE, {"precision_at_5pct": 0.5}, {"precision_at_5pct": 0.3})
    assert not missing.passed and missing.failures[0].startswith("revenue_recall_at_5pct")


def test_the_random_sample_judges_only_when_its_interval_is_narrow() -> None:
    inspected = {"precision_at_5pct": 0.30, "revenue_recall_at_5pct": 0.40}
    # 4,000 random entries: the top 5 % is 200 of them, a precision of 0.25 is known to about +/-0.05
    large = {"random_n": 4000.0, "random_positives": 120.0}
    champion = inspected | large | {"random_precision_at_5pct": 0.25}
    worse = check(DEFAULT_GATE, inspected | large | {"random_precision_at_5pct": 0.20}, champion)
    assert not worse.passed and len(worse.lines) == 3
    assert worse.failures == [worse.lines[2]] and worse.lines[2].startswith(
        "random_precision_at_5pct: challenger 0.2000"
    )
    assert check(DEFAULT_GATE, inspected | large | {"random_precision_at_5pct": 0.26}, champion).passed
    tolerant = Gate(rules=DEFAULT_GATE.rules, unbiased={"min_abs": -0.06})
    assert check(tolerant, inspected | large | {"random_precision_at_5pct": 0.20}, champion).passed
    assert check(
        Gate(rules=DEFAULT_GATE.rules, unbiased=None), inspected | large | {"random_precision_at_5pct": 0.0}, champion
    ).passed
    # the generated history's test window: 150 random entries, 1 violation; the top 5 % is 8 entries
    small = {"random_n": 150.0, "random_positives": 1.0, "random_precision_at_5pct": 0.0}
    judged = check(DEFAULT_GATE, inspected | small, inspected | small | {"random_precision_at_5pct": 0.125})
    assert judged.passed and len(judged.failures) == 0
    assert judged.lines[2].startswith(
        "random_precision_at_5pct: the random compliance sample (150 entries, 1 violations)"
    )
    assert judged.lines[2].endswith("not used")
    # a large sample without enough violations to rank does not judge (and does not fail closed)
    empty = {"random_n": 4000.0, "random_positives": 2.0, "random_precision_at_5pct": 0.005}
    assert check(DEFAULT_GATE, inspected | empty, inspected | empty | {"random_precision_at_5pct": 0.01}).passed
    assert (
        check(DEFAULT_GATE, inspected, inspected).lines
        == check(Gate(rules=DEFAULT_GATE.rules, unbiased=None), inspected, inspected).lines
    )


def test_format_comparison_shows_the_groups_present() -> None:
    a = {"n": 1000.0, "base_rate": 0.1, "precision_at_5pct": 0.3, "all_n": 5000.0, "all_precision_at_5pct": 0.2}
    b = {"n": 1000.0, "base_rate": 0.1, "precision_at_5pct": 0.25, "all_n": 5000.0, "all_precision_at_5pct": 0.22}
    a["oracle_precision_at_5pct"] = b["oracle_precision_at_5pct"] = 0.4
    table = format_comparison(a, b, "v1 @champion", "v2", full=True)
    assert table.splitlines()[0].split() == ["metric", "v1", "@champion", "v2", "difference"]
    row = next(x for x in table.splitlines() if x.split()[0] == "precision_at_5pct")
    assert row.split()[1:] == ["0.3000", "0.2500", "-0.0500"]
    assert "every entry against the ground truth:" in table and "random compliance sample" not in table
    assert next(x for x in table.splitlines() if x.split()[0] == "all_n").split()[1:] == ["5000", "5000", "+0"]
    assert "oracle_precision_at_5pct" in table
    # by default: only what differs, and never the oracle's rows, which are the same for both
    short = format_comparison(a, b, "v1 @champion", "v2")
    listed = [x.split()[0] for x in short.splitlines()[1:] if x.startswith("  ")]
    assert listed == ["precision_at_5pct", "all_precision_at_5pct"]
    assert short.splitlines()[-1] == "3 metrics equal for both, and the oracle's, left out: --full lists every one"
    assert max(len(x) for x in short.splitlines()) <= 80


# --- alias history -------------------------------------------------------------------------------


def test_alias_at_answers_which_version_held_the_alias(empty_database: str) -> None:
    engine = store.make_engine(empty_database)
    migrate.prepare(engine)
    march = [datetime(2025, 3, d, 9, 0, tzinfo=UTC) for d in range(1, 10)]
    try:
        with Session(engine) as session:

            def move(version: int, previous: int | None, when: datetime, alias: str = "champion") -> None:
                store.record_alias_move(
                    session,
                    model_name=NAME,
                    alias=alias,
                    version=version,
                    previous_version=previous,
                    moved_by="ana",
                    reason=f"to {version}",
                    forced=version == 3,
                    metrics={"candidate": {"precision_at_5pct": 0.3, "roc_auc": None}},
                    moved_at=when,
                )

            move(1, None, march[0])
            move(2, 1, march[4])
            move(3, 2, march[7])
            move(9, None, march[2], alias="challenger")  # another alias does not answer for the champion
            at = alias_at
            assert at(session, NAME, "champion", datetime(2025, 2, 28, tzinfo=UTC)) is None
            third = at(session, NAME, "champion", datetime(2025, 3, 3, tzinfo=UTC))
            assert third is not None and third.version == 1 and third.previous_version is None
            found = at(session, NAME, "champion", march[4])
            assert found is not None and (found.version, found.reason, found.moved_at) == (2, "to 2", march[4])
            last = at(session, NAME, "champion", datetime(2026, 1, 1, tzinfo=UTC))
            assert last is not None and last.version == 3 and last.forced is True and last.moved_by == "ana"
            assert last.metrics == {"candidate": {"precision_at_5pct": 0.3, "roc_auc": None}}
            assert at(session, "other-model", "champion", march[8]) is None
            assert [m.version for m in store.alias_history(session, NAME, "champion")] == [1, 2, 3]
            session.rollback()
    finally:
        engine.dispose()


# --- real promotions -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(history_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store: version 1 @champion, and version 2, deliberately poor, @challenger."""
    db = tmp_path_factory.mktemp("mlruns") / "mlflow.db"
    uri = f"sqlite:///{db}"
    assert train(history_file, uri=uri, shape="fixed").registration.alias == "champion"
    poor = FitParams(num_leaves=2, max_rounds=3, learning_rate=0.01, early_stopping_rounds=1)
    assert train(history_file, uri=uri, params=poor, shape="fixed").registration.alias == "challenger"
    return db


@pytest.fixture
def registry(trained: Path, tmp_path: Path) -> str:
    """A private copy of the trained store (artifacts are shared: promotions only touch aliases)."""
    db = tmp_path / "mlflow.db"
    shutil.copy(trained, db)
    return f"sqlite:///{db}"


def _champion(uri: str) -> int:
    return int(MlflowClient(uri, uri).get_model_version_by_alias(NAME, "champion").version)


@pytest.mark.slow
def test_compare_evaluates_both_versions_on_the_same_window(registry: str, history_file: Path) -> None:
    one, two = compare(registry, NAME, 1, 2, history_file)
    assert one["n"] == two["n"] and one["base_rate"] == two["base_rate"]  # the same entries
    assert two["precision_at_5pct"] < one["precision_at_5pct"]
    report = compare_report(registry, NAME, 1, 2, history_file)
    assert "v1 @champion" in report and "v2 @challenger" in report and "revenue_recall_at_5pct" in report
    with pytest.raises(DataError, match="version 7 is not in the registry"):
        compare(registry, NAME, 1, 7, history_file)


@pytest.mark.slow
def test_the_gate_refuses_a_worse_challenger_and_force_records_why(
    registry: str, history_file: Path, empty_database: str, tmp_path: Path
) -> None:
    def go(version: int, reason: str, force: bool = False) -> PromotionResult:
        return promote(registry, NAME, version, history_file, reason, "ana", empty_database, DEFAULT_GATE, force)

    with pytest.raises(PromotionRefused, match="a reason"):
        go(2, "  ", force=True)
    with pytest.raises(PromotionRefused) as caught:
        go(2, "try it")
    message = str(caught.value)
    assert "gate refused shipment-risk version 2 over version 1" in message and "FAIL" in message
    assert "\n" not in message and caught.value.result is not None and not caught.value.result.passed
    assert _champion(registry) == 1  # nothing moved, nothing recorded
    engine = store.make_engine(empty_database)
    migrate.prepare(engine)
    try:
        with Session(engine) as session:
            assert store.alias_history(session, NAME, "champion") == []

        before = datetime.now(UTC)
        forced = go(2, "incident 42: v1 flags a legitimate importer", force=True)
        between = datetime.now(UTC)
        assert (forced.version, forced.previous_version, forced.forced) == (2, 1, True)
        assert _champion(registry) == 2
        # a gate file on the whole window against the ground truth lets the better model back in
        gate = tmp_path / "gate.yaml"
        gate.write_text("rules:\n  - {metric: all_pr_auc, min_rel: 0.1}\n  - {metric: all_recall_at_5pct}\n")
        back = promote_report(registry, NAME, 1, history_file, "roll back", "ben", empty_database, gate, False)
        assert "moved shipment-risk@champion from version 2 to version 1 by ben" in back and "FORCED" not in back
        assert back.count(": pass") == 2 and f"gate ({gate}):" in back
        assert _champion(registry) == 1

        with Session(engine) as session:
            first, second = store.alias_history(session, NAME, "champion")
            assert (first.version, first.previous_version, first.forced, first.moved_by) == (2, 1, True, "ana")
            assert first.reason == "incident 42: v1 flags a legitimate importer"
            assert first.metrics["candidate"]["precision_at_5pct"] < first.metrics["previous"]["precision_at_5pct"]
            assert any("FAIL" in line for line in first.metrics["gate"])
            assert (second.version, second.forced, second.moved_by, second.reason) == (1, False, "ben", "roll back")
            assert alias_at(session, NAME, "champion", before) is None  # v1 was set by training, unrecorded
            at_between = alias_at(session, NAME, "champion", between)
            assert at_between is not None and at_between.version == 2
            now = alias_at(session, NAME, "champion", datetime.now(UTC))
            assert now is not None and now.version == 1
    finally:
        engine.dispose()
