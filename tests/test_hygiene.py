"""The developer's tooling files are valid: the pre-commit hooks run what `make lint` runs, and the locks in
requirements/ pin, with hashes, what pyproject.toml asks for."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
LOCKS = ("service", "train", "dev")


def test_the_pre_commit_hooks_are_valid_and_run_the_lint() -> None:
    config = ROOT / ".pre-commit-config.yaml"
    tool = Path(sys.executable).parent / "pre-commit"
    checked = subprocess.run([tool, "validate-config", config], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    entries = [hook["entry"] for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]]
    lint = (ROOT / "Makefile").read_text()
    assert {e.split()[0].removeprefix(".venv/bin/") for e in entries} == {"ruff", "mypy"}
    assert "ruff check" in lint and "ruff format --check" in lint and "$(BIN)/mypy" in lint


def read_lock(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Each package of a lock: its pinned version and its hashes."""
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *options = line.split()
        package, version = requirement.split("==")
        hashes = frozenset(o.removeprefix("--hash=") for o in options if o.startswith("--hash=sha256:"))
        assert hashes and len(hashes) == len(options), f"{name}.txt: {line[:80]} is not pinned with hashes alone"
        pins[canonicalize_name(package)] = (version, hashes)
    return pins


def asked_for(lock: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    asked = project["build-system"]["requires"] + project["project"]["dependencies"]
    if lock in ("train", "dev"):
        asked += project["project"]["optional-dependencies"]["train"]
    if lock == "dev":
        asked += project["dependency-groups"]["dev"]
    return asked


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_pins_what_the_project_asks_for(lock: str) -> None:
    pins = read_lock(lock)
    for wanted in map(Requirement, asked_for(lock)):
        name = canonicalize_name(wanted.name)
        assert name in pins, f"{wanted} is not in requirements/{lock}.txt: run `make lock`"
        assert wanted.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements/{lock}.txt pins {name}=={pins[name][0]}, outside {wanted}: run `make lock`"
        )


def test_the_locks_agree_and_each_holds_the_one_before() -> None:
    service, train, dev = map(read_lock, LOCKS)
    assert service.items() <= train.items() <= dev.items()
    assert {"shap", "optuna", "dask"} <= train.keys() - service.keys()
    assert {"pytest", "uv"} <= dev.keys() - train.keys()


def test_this_environment_is_installed_from_the_developers_lock() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {name: (version, installed.get(name)) for name, (version, _) in read_lock("dev").items()}
    assert {name: v for name, v in differ.items() if v[0] != v[1]} == {}
