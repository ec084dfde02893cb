"""The `targeting` console script: every command group registered on one app, then run."""

from __future__ import annotations

import logging
import os
import re
import sys

import typer

# isort: off
# each module registers its commands on `app`, in the order `targeting --help` lists them
from cli import data, training, operate, models, serving, service, policy  # noqa: F401

# isort: on
from cli.app import app


def _dask_address(argv: list[str]) -> list[str]:
    """`--dask` may stand alone (a local cluster) or take a scheduler address, which click cannot express."""
    if "--dask" not in argv:
        return argv
    from training.cluster import LOCAL

    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        following = argv[i + 1] if i + 1 < len(argv) else ""
        given = "://" in following or following == LOCAL or re.fullmatch(r"[\w.-]+:\d+", following)
        if arg == "--dask" and not given:
            out.append(LOCAL)
    return out


TRAINING_ONLY = {"optuna", "matplotlib", "shap", "dask", "distributed"}  # the `train` extra (pyproject.toml)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # its INFO chatter and pickling notice
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from decisions.migrate import SchemaOutdated

    try:
        app(args=_dask_address(sys.argv[1:]))
    except SchemaOutdated as exc:  # any command that writes to the service database
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except ModuleNotFoundError as exc:  # a service install (no extras) asked to train
        if exc.name is None or exc.name.split(".")[0] not in TRAINING_ONLY:
            raise
        typer.echo(f"error: this needs {exc.name}: pip install 'shipment-targeting[train]'", err=True)
        raise SystemExit(2) from None
