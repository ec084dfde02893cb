"""`targeting serve` and `targeting score`: the API, and files of entries decided as the API decides them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, fail
from training.data import DataError


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the scoring API (settings from the environment: DATABASE_URL, MLFLOW_TRACKING_URI, TARGETING_*)."""
    import uvicorn

    uvicorn.run("service.app:app_from_env", factory=True, host=host, port=port, workers=workers, access_log=False,
                log_config=None)  # fmt: skip


@app.command()
def score(
    source: Annotated[Path, typer.Argument(help="Entries to score: Parquet or CSV with the entry schema's columns.")],
    target: Annotated[Path, typer.Argument(help="Where to write the decisions: .parquet or .csv.")],
    chunk: Annotated[
        int,
        typer.Option(
            min=1, max=1000, help="Entries per chunk; each is decided as one API request of that many entries."
        ),
    ] = 1000,  # fmt: skip
    contributions: Annotated[
        bool, typer.Option("--contributions", help="Also write every feature's SHAP contribution.")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Record the decisions in the decisions store "
            "(DATABASE_URL), as the API does; otherwise a dry run that writes nothing "
            "there.",
        ),
    ] = False,  # fmt: skip
    dask: Annotated[
        str | None,
        typer.Option(
            help="Spread the chunks over a Dask cluster: its scheduler address "
            "(tcp://host:8786), or none for a local cluster, one worker per "
            "core.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Score a file of entries with the served model (settings from the environment, as `serve`), streamed in
    chunks, with the same decisions as the API."""
    from features.tables import count_rows
    from model.scoring import ModelUnavailable, resolve
    from service import batch
    from service.settings import Settings
    from training.registry import tracking_uri

    settings = Settings()
    uri = settings.mlflow_tracking_uri or tracking_uri()
    try:  # the files first: a bad file is named as such, before the model is looked for
        total = count_rows(source)
        batch.output_format(target)
    except DataError as exc:
        fail(str(exc))
    try:
        version = resolve(uri, settings.model_name, settings.model_alias)
        job = batch.Job(uri, settings.model_name, settings.model_alias, version, settings.model_cache,
                        settings.database_url, settings.sample_secret.encode(), settings.top_reasons,
                        contributions, record)  # fmt: skip
        batch.context(job, settings.policy)  # load here, so that a bad model or store fails before any work
    except (batch.BatchError, ModelUnavailable) as exc:
        fail(str(exc))
    except Exception as exc:  # MLflow's own errors for a missing model or an unreachable registry
        fail(f"cannot resolve {settings.model_name}@{settings.model_alias} in {uri}: {type(exc).__name__}: {exc}")
    from tqdm import tqdm

    with tqdm(total=total, unit=" entries", unit_scale=True, smoothing=0.1, disable=None) as bar:
        try:
            if dask is None:
                done = batch.score_file(source, target, job, chunk, progress=bar.update)
            else:
                from service.distributed import over_dask
                from training.cluster import connect

                with connect(dask) as client:
                    done = batch.score_file(source, target, job, chunk, mapper=over_dask(client), progress=bar.update)
        except DataError as exc:
            bar.close()
            fail(str(exc))
    typer.echo(f"scored {done:,} entries with {settings.model_name} v{version} into {target}"
               + (f", recorded in {settings.database_url}" if record else ""))  # fmt: skip
