"""`targeting serve`, `openapi`, `env-example` and `score`: the API, its document and settings, and files of entries
decided as the API decides them."""

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

    uvicorn.run(
        "service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
    )


@app.command()
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write the document here (default: print it).")] = None,
) -> None:
    """The API's OpenAPI document, as the service serves it at /openapi.json (openapi.json in the repository is
    this command's output, and a test keeps it so)."""
    import json

    from service.app import create_app
    from service.settings import Settings

    document = json.dumps(create_app(Settings()).openapi(), indent=1, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(document, nl=False)
    else:
        out.write_text(document)


@app.command("env-example")
def env_example_command(
    out: Annotated[Path | None, typer.Option(help="Write the file here (default: print it).")] = None,
) -> None:
    """Every setting as an environment variable with its meaning and default (.env.example in the repository is
    this command's output, and a test keeps it so)."""
    from service.settings import env_example

    if out is None:
        typer.echo(env_example(), nl=False)
    else:
        out.write_text(env_example())


@app.command()
def score(
    source: Annotated[Path, typer.Argument(help="Entries to score: Parquet or CSV with the entry schema's columns.")],
    target: Annotated[Path, typer.Argument(help="Where to write the decisions: .parquet or .csv.")],
    chunk: Annotated[
        int,
        typer.Option(
            min=1, max=1000, help="Entries per chunk; each is decided as one API request of that many entries."
        ),
    ] = 1000,
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
    ] = False,
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
    from model.scoring import ModelUnavailable
    from service import batch
    from service.settings import Settings

    settings = Settings()
    try:  # the files first: a bad file is named as such, before the model is looked for
        total = count_rows(source)
        batch.output_format(target)
    except DataError as exc:
        fail(str(exc))
    try:
        job = batch.served_job(settings, contributions, record)
    except (batch.BatchError, ModelUnavailable) as exc:
        fail(str(exc))
    from tqdm import tqdm

    with tqdm(total=total, unit=" entries", unit_scale=True, smoothing=0.1, disable=None) as bar:
        try:
            if dask is None:
                done = batch.score_file(source, target, job, chunk, progress=bar.update)
            else:
                from service.distributed import score_on_dask
                from training.cluster import connect

                with connect(dask) as client:
                    done = score_on_dask(source, target, job, chunk, client)
                bar.update(done)
        except DataError as exc:
            bar.close()
            fail(str(exc))
    typer.echo(
        f"scored {done:,} entries with {settings.model_name} v{job.version} into {target}"
        + (f", recorded in {settings.database_url}" if record else "")
    )
