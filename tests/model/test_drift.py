"""Drift monitoring's training side: reference bins, PSI, and the reference saved with the model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.spec import BUILTIN_SPEC
from model.artifact import REFERENCE_FILE, ModelParts
from model.drift import (
    MAX_CATEGORIES,
    SCORE,
    THRESHOLD,
    ColumnReference,
    DriftReference,
    build_reference,
    compare,
    psi,
)
from training.fit import FitParams
from training.registry import ARTIFACT_DIGESTS, PROMOTION_METRIC, load_model, log_and_register
from training.train import fit_and_evaluate, prepare_training

ORIGINS = np.array([0.3, 0.2, 0.15, 0.12, 0.09, 0.07, 0.04, 0.03])  # shares of the 8 origin codes
CATEGORICAL = ["origin"]


def traffic(
    n: int = 20_000, seed: int = 0, *, value_scale: float = 1.0, origins: np.ndarray = ORIGINS, score_b: float = 30.0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Model inputs and scores of generated traffic; the keyword arguments plant a shift."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "declared_value": rng.lognormal(6.0, 1.0, n) * value_scale,
            "weight_kg": rng.lognormal(3.0, 0.8, n),
            "first_time": (rng.random(n) < 0.3).astype(float),
            "origin": rng.choice(len(origins), n, p=origins).astype(float),
        }
    )
    return x, rng.beta(2.0, score_b, n)


def current(x: pd.DataFrame, scores: np.ndarray) -> dict[str, np.ndarray]:
    return {**{c: x[c].to_numpy() for c in x.columns}, SCORE: scores}


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    return build_reference(*traffic(seed=1), CATEGORICAL, window="generated, 20,000 entries")


def psis(reference: DriftReference, x: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    return {d.name: d.psi for d in compare(reference, current(x, scores))}


# --- planted shifts ------------------------------------------------------------------------------


def test_exactly_the_shifted_columns_are_flagged(reference: DriftReference) -> None:
    x, scores = traffic(seed=2, value_scale=2.5, origins=ORIGINS[::-1])
    drifts = compare(reference, current(x, scores))
    assert {d.name for d in drifts if d.flagged} == {"declared_value", "origin"}
    found = {d.name: d for d in drifts}
    assert all(found[c].psi < 0.1 for c in ("weight_kg", "first_time", SCORE))
    assert all(found[c].psi > THRESHOLD for c in ("declared_value", "origin"))
    assert [d.psi for d in drifts] == sorted((d.psi for d in drifts), reverse=True)  # worst first
    assert all(d.rows == 20_000 and sum(d.actual) == pytest.approx(1) for d in drifts)


def test_a_shifted_score_is_flagged_and_an_unshifted_one_is_not(reference: DriftReference) -> None:
    same = psis(reference, *traffic(seed=3))
    shifted = psis(reference, *traffic(seed=3, score_b=15.0))  # mean score 0.06 -> 0.12
    assert same[SCORE] < 0.1 and shifted[SCORE] > THRESHOLD
    assert max(same.values()) < 0.1  # fresh traffic from the same generator: nothing drifts
    assert {c for c, v in shifted.items() if v > THRESHOLD} == {SCORE}


def test_suddenly_missing_values_are_flagged(reference: DriftReference) -> None:
    x, scores = traffic(seed=4)
    x.loc[np.random.default_rng(4).random(len(x)) < 0.4, "weight_kg"] = np.nan
    (drift,) = [d for d in compare(reference, current(x, scores)) if d.name == "weight_kg"]
    assert drift.flagged and drift.labels[-1] == "missing"
    assert drift.expected[-1] == 0 and drift.actual[-1] == pytest.approx(0.4, abs=0.02)
    assert drift.rows == len(x)  # missing values are compared too, in their own bin


def test_unseen_codes_go_to_other(reference: DriftReference) -> None:
    origin = reference.columns["origin"]
    assert origin.categories == tuple(float(c) for c in range(8))  # most frequent first
    assert origin.labels() == [f"code {c}" for c in range(8)] + ["other", "missing"]
    counts = origin.counts(np.array([0.0, 8.0, 9.0, 9.0, np.nan, 7.0]))
    assert counts.tolist() == [1, 0, 0, 0, 0, 0, 0, 1, 3, 1]
    x, scores = traffic(seed=5)
    x.loc[x.index[:3000], "origin"] = 42.0  # a new origin code takes 15 % of the traffic
    assert psis(reference, x, scores)["origin"] > THRESHOLD


def test_rare_codes_share_the_other_bin() -> None:
    codes = np.repeat(np.arange(30.0), np.arange(30, 0, -1) * 10)  # code 0 most frequent, code 29 least
    ref = build_reference(pd.DataFrame({"hs": codes}), np.zeros(len(codes)), ["hs"], window="w")
    hs = ref.columns["hs"]
    assert hs.categories == tuple(float(c) for c in range(MAX_CATEGORIES))
    assert hs.proportions[MAX_CATEGORIES] == pytest.approx(sum(range(1, 11)) / sum(range(1, 31)))
    assert sum(hs.proportions) == pytest.approx(1)


# --- numeric bins --------------------------------------------------------------------------------


def test_numeric_bins_are_deciles_with_inf_outermost_and_edges_closing_their_bin(reference: DriftReference) -> None:
    value = reference.columns["declared_value"]
    assert len(value.edges) == 9 and value.kind == "numeric"
    assert all(p == pytest.approx(0.1, abs=1e-3) for p in value.proportions[:-1]) and value.proportions[-1] == 0
    e = value.edges
    counts = value.counts(np.array([-np.inf, e[0], np.nextafter(e[0], np.inf), np.inf, np.nan, None], dtype=float))
    assert counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2]
    labels = value.labels()
    assert len(labels) == 11 and labels[0].startswith("≤ ") and labels[-2].startswith("> ") and " – " in labels[1]


def test_a_flag_gets_two_bins_and_a_constant_column_one() -> None:
    x = pd.DataFrame({"flag": [0.0, 1.0, 0.0, 0.0, np.nan], "constant": [3.0] * 5})
    ref = build_reference(x, np.array([0.1, 0.2, 0.3, 0.4, 0.5]), [], window="w")
    flag, constant = ref.columns["flag"], ref.columns["constant"]
    assert flag.edges == (0.0,) and flag.proportions == (0.6, 0.2, 0.2)
    assert flag.labels() == ["≤ 0", "> 0", "missing"]
    assert constant.edges == () and constant.proportions == (1.0, 0.0) and constant.labels() == ["any value", "missing"]
    assert constant.counts(np.array([-5.0, 3.0, 1e9, np.nan])).tolist() == [3, 1]


def test_labels_keep_close_edges_apart() -> None:
    column = ColumnReference("v", "numeric", (1000.1, 1000.4, 2.5e6), (), (0.25,) * 4 + (0.0,))
    assert column.labels() == ["≤ 1000.1", "1000.1 – 1000.4", "1000.4 – 2500000", "> 2500000", "missing"]


def test_a_reference_with_the_wrong_number_of_shares_is_refused() -> None:
    with pytest.raises(ValueError, match="3 proportions for 4 bins"):
        ColumnReference("v", "numeric", (1.0, 2.0), (), (0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="named 'score'"):
        build_reference(pd.DataFrame({SCORE: [1.0]}), np.array([0.5]), [], window="w")


# --- PSI -----------------------------------------------------------------------------------------


def test_psi_of_a_sample_against_its_own_distribution_is_zero(reference: DriftReference) -> None:
    x, scores = traffic(seed=1)  # the very rows the reference was built from
    assert max(psis(reference, x, scores).values()) < 1e-12


def test_psi_is_non_negative_symmetric_and_finite_with_empty_bins() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        e, a = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        forward, backward = psi(e, a * 10_000), psi(a, e * 10_000)
        assert forward >= 0 and forward == pytest.approx(backward, rel=1e-9)
    expected = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.1 - 1e-4) * np.log(0.1 / 1e-4)  # the empty bin floored
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([50, 40, 10])) == pytest.approx(expected)
    gone = psi(np.array([0.5, 0.5]), np.array([100, 0]))  # a bin that empties
    assert np.isfinite(gone) and gone > THRESHOLD
    assert psi(np.array([0.5, 0.5]), np.array([0, 0])) == 0.0


def test_columns_without_values_or_unknown_to_the_reference(reference: DriftReference) -> None:
    drifts = compare(reference, {"weight_kg": np.array([]), "added_since": np.array([1.0, 2.0])})
    assert [(d.name, d.psi, d.rows, d.flagged) for d in drifts] == [("weight_kg", 0.0, 0, False)]


def test_reference_round_trips_through_json(reference: DriftReference) -> None:
    assert set(reference.columns) == {"declared_value", "weight_kg", "first_time", "origin", SCORE}
    back = DriftReference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert back == reference and back.rows == 20_000 and back.window == "generated, 20,000 entries"


# --- saved with the model ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_trained_model_carries_its_test_window_reference(history_file: Path, mlflow_uri: str, tmp_path: Path) -> None:
    p = prepare_training(history_file, BUILTIN_SPEC)
    fitted = fit_and_evaluate(p, FitParams(max_rounds=30))
    ref = fitted.parts.reference
    assert ref is not None and list(ref.columns) == [*p.pipeline.feature_names, SCORE]
    assert ref.rows == int(p.masks[2].sum()) and ref.window.startswith(f"test window from {p.split.test_from:%Y-%m-%d}")
    assert {n for n, c in ref.columns.items() if c.kind == "categorical"} == set(p.pipeline.categorical_features)
    assert psi(np.asarray(ref.columns[SCORE].proportions), ref.columns[SCORE].counts(fitted.test_scores)) < 1e-12

    entries = p.frame[p.masks[2]].head(5)
    (run_files := tmp_path / "run").mkdir()  # the run's own artifacts: none needed here

    def register(name: str, parts: ModelParts) -> int:
        return log_and_register(
            uri=mlflow_uri,
            model_name=name,
            params={},
            metrics={PROMOTION_METRIC: 0.5},
            tags={},
            artifact_dir=run_files,
            parts=parts,
            score_champion=lambda _: 0.0,
        ).version

    version = register("with-reference", fitted.parts)
    loaded = load_model("models:/with-reference@champion")
    assert loaded.reference == ref
    digests = json.loads(
        MlflowClient(mlflow_uri, mlflow_uri).get_model_version("with-reference", str(version)).tags[ARTIFACT_DIGESTS]
    )
    assert f"artifacts/{REFERENCE_FILE}" in digests  # the server checks it like the booster before loading

    # a version saved before drift monitoring: no reference.json, and it loads and scores all the same
    register("before-drift", dataclasses.replace(fitted.parts, reference=None))
    old = load_model("models:/before-drift@champion")
    assert old.reference is None
    assert np.allclose(old.predict(None, entries)["score"], loaded.predict(None, entries)["score"])


@pytest.mark.slow
def test_the_shared_champion_has_a_reference_of_every_feature_and_the_score(mlflow_store: str) -> None:
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_registry_uri(mlflow_store)
    champion = load_model("models:/shipment-risk@champion")
    assert champion.reference is not None
    assert list(champion.reference.columns) == [*champion.pipeline.feature_names, SCORE]
