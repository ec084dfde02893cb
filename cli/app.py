"""The `targeting` command's Typer app, and how a command stops on bad input."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Shipment risk targeting: data and models.",
)


def fail(message: str) -> NoReturn:
    """Stop the command: one line on stderr, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


# the registered model a command works on; every command takes it the same way
ModelName = Annotated[str, typer.Option(help="Registered model name.")]
