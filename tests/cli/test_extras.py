"""A service install (no `train` extra) serves, and says what to install when asked to train."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WITHOUT_TRAIN = """
import sys
for name in ("optuna", "matplotlib", "shap", "dask", "distributed"):
    sys.modules[name] = None  # as if not installed: importing it raises ModuleNotFoundError
"""


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_TRAIN + code], cwd=cwd, capture_output=True, text=True)


def test_the_service_and_its_commands_need_no_training_package(tmp_path: Path) -> None:
    served = _run("import service.app, cli.main; print('ok')", tmp_path)
    assert served.returncode == 0 and served.stdout.strip() == "ok", served.stderr


def test_training_without_the_extra_names_what_to_install(history_file: Path, tmp_path: Path) -> None:
    asked = _run(
        f"sys.argv = ['targeting', 'train', '--data', {str(history_file)!r}]\nfrom cli.main import main\nmain()",
        tmp_path,
    )
    assert asked.returncode == 2
    assert "pip install 'shipment-targeting[train]'" in asked.stderr and "Traceback" not in asked.stderr
