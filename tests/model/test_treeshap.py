"""TreeShap gives LightGBM's own pred_contrib numbers, on models with every kind of split and hostile inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.history import point_in_time_counts
from features.pipeline import prepare
from model.treeshap import TreeShap

if TYPE_CHECKING:
    from model.scoring import Scorer

TOLERANCE = 1e-9
ENTRIES = 10_000
# Three levels split one-vs-rest (max_cat_to_onehot 4); 12, 40 and 150 levels split many-vs-many.
CARDINALITY = [3, 12, 40, 150]
CATEGORICAL = list(range(len(CARDINALITY)))
N_FEATURES = 10
BASE = {
    "num_leaves": 15,
    "learning_rate": 0.1,
    "min_data_in_leaf": 10,
    "max_cat_to_onehot": 4,
    "min_data_per_group": 5,
    "cat_smooth": 1.0,
    "cat_l2": 1.0,
    "verbosity": -1,
    "seed": 3,
    "deterministic": True,
    "num_threads": 1,
}


def training_rows(rows: int, seed: int) -> np.ndarray:
    """Categorical codes in the first columns; numerical ones with NaNs and exact zeros."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    for c, levels in zip(CATEGORICAL, CARDINALITY):
        x[:, c] = rng.integers(0, levels, rows)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, len(CATEGORICAL) :][rng.random((rows, N_FEATURES - len(CATEGORICAL))) < 0.15] = 0.0
    return x


def target(x: np.ndarray, seed: int) -> np.ndarray:
    """A signal in every column, in NaN-ness and in zeros, so that the trees split on all of them."""
    rng = np.random.default_rng(seed)
    filled = np.nan_to_num(x)
    score = (filled[:, 0] == 1) + np.sin(filled[:, 1]) + (filled[:, 2] % 3 == 0) + (filled[:, 3] % 7 < 3)
    score += filled[:, 4] - filled[:, 5] * filled[:, 6] + np.isnan(x[:, 7]) - (x[:, 8] == 0) + filled[:, 9] ** 2 / 3
    return score + rng.normal(scale=0.5, size=len(x))


def fit(params: dict[str, Any], rounds: int = 25, init: lgb.Booster | None = None) -> lgb.Booster:
    x = training_rows(4000, seed=1)
    y = target(x, seed=2)
    if params.get("objective") == "binary":
        y = (y > np.median(y)).astype(float)
    data = lgb.Dataset(x, y, categorical_feature=CATEGORICAL)
    return lgb.train({**BASE, **params}, data, num_boost_round=rounds, init_model=init)


@pytest.fixture(scope="module")
def models() -> dict[str, lgb.Booster]:
    """Small real models: missing values as NaN (the default), as zero, or not at all; regression; and
    one whose first tree is a single leaf (no split could gain anything, so only the average remained)."""
    stump = fit({"objective": "binary", "min_gain_to_split": 1e9}, rounds=1)
    return {
        "binary": fit({"objective": "binary"}),
        "zero as missing": fit({"objective": "binary", "zero_as_missing": True}),
        "no missing": fit({"objective": "binary", "use_missing": False}),
        "regression": fit({"objective": "regression"}),
        "single-leaf tree first": fit({"objective": "binary"}, rounds=10, init=stump),
    }


def splits(booster: lgb.Booster) -> list[dict[str, Any]]:
    """Every split node of a model's dump."""
    found: list[dict[str, Any]] = []
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            found.append(node)
            stack += [node["left_child"], node["right_child"]]
    return found


def hostile(booster: lgb.Booster, rows: int, seed: int) -> np.ndarray:
    """Rows like the training ones, then NaNs, zeros, near-zeros (below LightGBM's 1e-35), values equal
    to split thresholds, infinities, and categorical codes that are negative, fractional or unseen."""
    rng = np.random.default_rng(seed)
    x = training_rows(rows, seed)
    numerical = np.arange(len(CATEGORICAL), N_FEATURES)
    at = rng.random(x.shape)
    x[at < 0.05] = np.nan
    x[:, numerical] = np.where(at[:, numerical] > 0.95, 0.0, x[:, numerical])
    x[:, numerical] = np.where((at[:, numerical] > 0.93) & (at[:, numerical] <= 0.94), 1e-40, x[:, numerical])
    x[:, numerical] = np.where((at[:, numerical] > 0.94) & (at[:, numerical] <= 0.95), -1e-36, x[:, numerical])
    for node in splits(booster):
        if node["decision_type"] == "<=":
            hit = rng.random(rows) < 0.002
            x[hit, node["split_feature"]] = node["threshold"]
    odd = [np.inf, -np.inf, -1.0, -3.0, -0.5, 0.7, 2.9, 149.5, 1000.0, 2**31 - 1, 2.0**31, 3e9, -3e9]
    for c in range(N_FEATURES):
        picked = np.flatnonzero(rng.random(rows) < 0.04)
        x[picked, c] = rng.choice(odd, len(picked))
    return x


def test_the_models_hold_every_kind_of_split(models: dict[str, lgb.Booster]) -> None:
    nodes = [node for booster in models.values() for node in splits(booster)]
    numerical = [n for n in nodes if n["decision_type"] == "<="]
    categories = [len(str(n["threshold"]).split("||")) for n in nodes if n["decision_type"] == "=="]
    assert {n["missing_type"] for n in numerical} == {"None", "Zero", "NaN"}
    assert {bool(n["default_left"]) for n in numerical if n["missing_type"] != "None"} == {True, False}
    assert 1 in categories and max(categories) >= 3  # one-vs-rest and many-vs-many
    assert 1 in [t["num_leaves"] for t in models["single-leaf tree first"].dump_model()["tree_info"]]


@pytest.fixture(scope="module")
def cases(models: dict[str, lgb.Booster]) -> dict[str, tuple[lgb.Booster, np.ndarray, np.ndarray, np.ndarray]]:
    """Each model with hostile entries, its pred_contrib for them and its raw scores."""
    found = {}
    for name, booster in models.items():
        x = hostile(booster, ENTRIES, seed=7)
        contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
        found[name] = booster, x, contrib, np.asarray(booster.predict(x, raw_score=True, num_threads=1))
    return found


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["binary", "zero as missing", "no missing", "regression", "single-leaf tree first"])
def test_equals_pred_contrib(cases: dict[str, tuple], name: str, threads: int) -> None:
    booster, x, expected, raw = cases[name]
    got = TreeShap.from_booster(booster).contributions(x, threads=threads)
    assert got.shape == (ENTRIES, N_FEATURES + 1) and got.dtype == np.float64
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(got.sum(axis=1) - raw).max() <= TOLERANCE


def test_threads_zero_means_one_per_cpu_and_rows_may_be_few(models: dict[str, lgb.Booster]) -> None:
    booster = models["binary"]
    shap = TreeShap.from_booster(booster)
    shap.warm()
    x = hostile(booster, 3, seed=8)
    assert np.abs(shap.contributions(x, threads=0) - booster.predict(x, pred_contrib=True)).max() <= TOLERANCE
    assert shap.contributions(x[:0]).shape == (0, N_FEATURES + 1)
    assert np.array_equal(shap.contributions(np.asfortranarray(x)), shap.contributions(x), equal_nan=True)


def test_refuses_what_it_cannot_explain(models: dict[str, lgb.Booster]) -> None:
    shap = TreeShap.from_booster(models["binary"])
    with pytest.raises(ValueError, match="10 features"):
        shap.contributions(np.zeros((2, N_FEATURES - 1)))
    with pytest.raises(ValueError, match="threads"):
        shap.contributions(np.zeros((2, N_FEATURES)), threads=-1)
    x = training_rows(600, seed=4)
    multiclass = lgb.train(
        {**BASE, "objective": "multiclass", "num_class": 3}, lgb.Dataset(x, np.arange(600) % 3), num_boost_round=2
    )
    with pytest.raises(ValueError, match="multiclass"):
        TreeShap.from_booster(multiclass)


@pytest.mark.slow
def test_works_where_numba_cannot_cache(models: dict[str, lgb.Booster], tmp_path: Path) -> None:
    # A read-only install and home leave numba no cache locator: decorating with cache=True would raise.
    model = tmp_path / "model.txt"
    models["binary"].save_model(str(model))
    x = hostile(models["binary"], 50, seed=9)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", models["binary"].predict(x, pred_contrib=True))
    script = textwrap.dedent(f"""
        import lightgbm as lgb, numpy as np
        from model import treeshap
        assert type(treeshap._kernel._cache).__name__ == "NullCache"
        shap = treeshap.TreeShap.from_booster(lgb.Booster(model_file={str(model)!r}))
        got = shap.contributions(np.load({str(tmp_path / "x.npy")!r}))
        print(np.abs(got - np.load({str(tmp_path / "expected.npy")!r})).max())
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["NUMBA_CACHE_LOCATOR_CLASSES"] = "UserProvidedCacheLocator"  # the only locator, and it has no dir
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) <= TOLERANCE


@pytest.mark.slow
def test_matches_served_model(scorer: Scorer, history: pd.DataFrame) -> None:
    """The project's trained model, on rows sampled column by column from its feature matrix, with NaNs
    and categorical codes it never saw."""
    pipeline = scorer.pipeline
    rows = prepare(history, pipeline.spec)
    seen = pipeline.transform(rows, point_in_time_counts(rows, pipeline.spec)).to_numpy(dtype=float)
    rng = np.random.default_rng(12)
    x = np.column_stack([rng.choice(column, ENTRIES) for column in seen.T])
    x[rng.random(x.shape) < 0.05] = np.nan
    for c, name in enumerate(pipeline.feature_names):
        if name in pipeline.categorical_features:
            hit = rng.random(ENTRIES) < 0.03
            x[hit, c] = rng.choice([-1.0, len(pipeline.vocab[name]) + 5.0, 1e6], hit.sum())
    booster = scorer.model.booster
    got = TreeShap.from_booster(booster).contributions(x, threads=2)
    assert np.abs(got - booster.predict(x, pred_contrib=True)).max() <= TOLERANCE
    assert np.abs(got.sum(axis=1) - booster.predict(x, raw_score=True)).max() <= TOLERANCE
