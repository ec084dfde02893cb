"""`targeting generate`: a synthetic entry history."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, fail


@app.command()
def generate(
    entries: Annotated[int, typer.Option(min=100, help="Number of entries to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 7,
    out: Annotated[Path, typer.Option(help="Parquet file to write.")] = Path("data/entries.parquet"),
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First filing day.")] = datetime(2023, 1, 1),
    months: Annotated[int, typer.Option(min=1, help="Months of history.")] = 24,
    regime: Annotated[str, typer.Option(help="pre_2025 (Type 86 de minimis) or post_suspension.")] = "pre_2025",
) -> None:
    """Generate a synthetic entry history with planted violations and past inspections."""
    from training.synth import Regime, SynthConfig, write_parquet
    from training.synth import generate as synth

    try:
        cfg = SynthConfig(
            entries=entries,
            seed=seed,
            start=date(start.year, start.month, start.day),
            months=months,
            regime=Regime(regime),
        )
    except ValueError:
        fail(f"unknown regime {regime!r}: use one of {', '.join(r.value for r in Regime)}")
    began = time.perf_counter()
    frame = synth(cfg)
    write_parquet(frame, out)
    labelled = frame["violation"].notna()
    typer.echo(
        f"wrote {len(frame):,} entries to {out} in {time.perf_counter() - began:.1f}s: "
        f"{labelled.mean():.2%} inspected, {frame.loc[labelled, 'violation'].mean():.2%} of those violating, "
        f"true violation rate {frame['truth_violation'].mean():.2%}"
    )
