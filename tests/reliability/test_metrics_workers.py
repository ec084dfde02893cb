"""Several workers, one /metrics: the drift figures every worker computes are one series, not one per process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pandas as pd

from decisions.keys import Role
from tests.live import make_keys, migrated
from tests.reliability.process import ServiceProcess
from tests.service.entries import entry_json


def test_two_workers_export_one_drift_series(mlflow_store: str, history: pd.DataFrame, tmp_path: Path) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'targeting.db'}")
    admin = {"Authorization": f"Bearer {make_keys(url)[Role.ADMIN]}"}
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "DATABASE_URL": url,
        "MLFLOW_TRACKING_URI": mlflow_store,
        "TARGETING_MODEL_CACHE": str(tmp_path / "cache"),
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "TARGETING_DRIFT_REFRESH_SECONDS": "0",  # computed only when asked, below
    }
    service = ServiceProcess(env, tmp_path / "service.log", workers=2).start()
    try:
        entries = [entry_json(history, i) for i in range(900, 960)]
        assert httpx.post(f"{service.url}/v1/score", json={"entries": entries}, headers=admin, timeout=60).is_success
        for _ in range(40):  # a new connection each time: the kernel spreads them over both workers
            refreshed = httpx.get(f"{service.url}/v1/monitoring/drift?refresh=true", headers=admin, timeout=60)
            assert refreshed.status_code == 200
            if len(list(shared.glob("gauge_livemostrecent_*.db"))) == 2:
                break
        assert len(list(shared.glob("gauge_livemostrecent_*.db"))) == 2, "both workers computed drift"
        metrics = httpx.get(f"{service.url}/metrics", headers=admin, timeout=30).text
    finally:
        service.stop()
    psi = re.findall(r'^targeting_drift_psi\{([^}]*column="score"[^}]*)\} ', metrics, re.M)
    assert psi == ['column="score"']  # no pid label: one series for the deployment
    expected = re.findall(r"^targeting_expected_precision\{([^}]*)\} ", metrics, re.M)
    assert sorted(expected) == sorted(f'k="{k}"' for k in ("1pct", "2pct", "5pct", "10pct"))
