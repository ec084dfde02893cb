"""The developer's tooling files are valid: the pre-commit hooks run what `make lint` runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def test_the_pre_commit_hooks_are_valid_and_run_the_lint() -> None:
    config = ROOT / ".pre-commit-config.yaml"
    tool = Path(sys.executable).parent / "pre-commit"
    checked = subprocess.run([tool, "validate-config", config], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    entries = [hook["entry"] for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]]
    lint = (ROOT / "Makefile").read_text()
    assert {e.split()[0].removeprefix(".venv/bin/") for e in entries} == {"ruff", "mypy"}
    assert "ruff check" in lint and "ruff format --check" in lint and "$(BIN)/mypy" in lint
