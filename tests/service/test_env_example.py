""".env.example lists every setting with its default and meaning, in step with service/settings.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings, env_example

FILE = Path(__file__).parents[2] / ".env.example"


def test_the_committed_file_is_the_settings() -> None:
    assert FILE.read_text() == env_example(), ".env.example is stale: run `targeting env-example --out .env.example`"


def test_every_line_is_read_back_as_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each variable is named as the settings read it and its value written as they parse it: the whole file in
    the environment gives the defaults, and a changed nested value lands where its name says."""
    given = dict(line.split("=", 1) for line in FILE.read_text().splitlines() if line and not line.startswith("#"))
    assert "TARGETING_POLICY__PROBABILITY__PHYSICAL_EXAM" in given and "TARGETING_MAX_IN_FLIGHT" in given
    unset = [line[2:-1] for line in FILE.read_text().splitlines() if line.startswith("# ") and line.endswith("=")]
    assert "MLFLOW_TRACKING_URI" in unset
    for name in unset:  # no default: left out (MLflow sets MLFLOW_TRACKING_URI in the process when a test uses it)
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    assert Settings().model_dump() == Settings.model_construct().model_dump()
    monkeypatch.setenv("TARGETING_POLICY__PROBABILITY__PHYSICAL_EXAM", "0.5")
    assert Settings().policy.probability.physical_exam == 0.5
    documented = FILE.read_text().split("\n\n")[1:]
    assert all(block.startswith("# ") and len(block.splitlines()) == 2 for block in documented)  # a meaning each
