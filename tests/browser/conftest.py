from __future__ import annotations

import os
from pathlib import Path

import pytest

# where the browser tests leave their screenshots; named at the end of the run, so that CI's log says where
SHOTS = Path(os.environ.get("DESK_SCREENSHOTS", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(SHOTS.glob("*.png")) if SHOTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"desk screenshots ({len(shots)}): {SHOTS}: {', '.join(p.name for p in shots)}")
