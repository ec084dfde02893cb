from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.live import (  # noqa: F401  (fixtures)
    api_keys,
    client,
    database_url,
    empty_database,
    live,
    mlflow_store,
    scorer,
)
from training.synth import SynthConfig, generate


@pytest.fixture(scope="session")
def history() -> pd.DataFrame:
    """A small generated history shared by read-only tests."""
    return generate(SynthConfig(entries=30_000, seed=11))


@pytest.fixture(scope="session")
def history_file(history: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "entries.parquet"
    history.to_parquet(path, index=False)
    return path


@pytest.fixture
def mlflow_uri(tmp_path: Path) -> str:
    """A fresh embedded MLflow store (tracking + registry) in a temp dir."""
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
