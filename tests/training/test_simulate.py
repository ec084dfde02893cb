"""What-if simulator: policies replayed on a labelled history, side by side."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from decisions.actions import Action
from decisions.policy import Exploration, Policy
from training.registry import load_model
from training.simulate import replay
from training.train import train

pytestmark = pytest.mark.slow
TARGETING = str(Path(sys.executable).parent / "targeting")


def capacity(share: float, objective: str) -> Policy:
    return Policy.model_validate(
        {
            "objective": objective,
            "lanes": "capacity",
            "exploration": {"rate": 0.0},
            "capacity": {"physical_exam": share / 4, "non_intrusive_exam": share / 4, "document_review": share / 2},
        }
    )


def test_replay_compares_capacities_and_rankings(history_file: Path, mlflow_uri: str, tmp_path: Path) -> None:
    train(history_file, uri=mlflow_uri, shape="fixed")
    model = load_model("models:/shipment-risk@champion")
    policies = {f"{k}-{o}": capacity(k / 100, o) for k in (2, 5) for o in ("probability", "expected_revenue")}
    table = replay(model, history_file, policies)
    total = table[table["lane"] == "total inspected"].set_index("policy")
    for name in policies:
        share = int(name.split("-")[0]) / 100
        assert total.loc[name, "share"] == pytest.approx(share, rel=0.25)  # capacity holds (ties may add a little)
        lanes = table[(table["policy"] == name) & (table["lane"] != "total inspected")]
        assert lanes["entries"].sum() == table[table["policy"] == name]["entries"].iloc[0] + total.loc[name, "entries"]
        assert 0 <= total.loc[name, "compliant_released"] <= 1 and 0 <= total.loc[name, "revenue_caught"] <= 1
    assert total.loc["5-probability", "violations"] >= total.loc["2-probability", "violations"]

    audited = capacity(0.05, "probability").model_copy(update={"capacity": capacity(0.05, "probability").capacity
                                                     .model_copy(update={"post_release_audit": 0.04})})  # fmt: skip
    lanes = replay(model, history_file, {"audit": audited}).set_index("lane")
    assert lanes.loc["post_release_audit", "share"] == pytest.approx(0.04, rel=0.25)  # its own lane, at its share
    assert lanes.loc["total inspected", "share"] == pytest.approx(0.09, rel=0.25)  # audits count as interventions
    assert total.loc["5-probability", "compliant_released"] < total.loc["2-probability", "compliant_released"]

    explored = capacity(0.02, "probability").model_copy(
        update={"exploration": Exploration(rate=0.0, budget=0.03, action=Action.DOCUMENT_REVIEW)}
    )
    lanes = replay(model, history_file, {"explore": explored}).set_index("lane")
    extra = lanes.loc["total inspected", "share"] - total.loc["2-probability", "share"]
    assert 0.02 < extra <= 0.03  # the budget's picks on top of the capacity, a little less where chances cap at 1

    policy_file = tmp_path / "five.yaml"
    policy_file.write_text("lanes: capacity\nexploration: {rate: 0.0}\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri}
    out = subprocess.run(
        [TARGETING, "simulate", "--data", str(history_file), "--policy", str(policy_file)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "total inspected" in out.stdout and "five" in out.stdout
    lines = out.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80, out.stdout
    money = [x.split()[-1] for x in lines[1:] if x.startswith("five")]
    assert money and all(re.fullmatch(r"\$\d{1,3}(,\d{3})*", m) for m in money), money  # whole dollars
    assert re.search(r"caught \d+\.\d% of violations, \d+\.\d% of revenue; released \d+\.\d% of compliant", out.stdout)
