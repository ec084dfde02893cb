"""`targeting policy`: the targeting policy in force, applied, shown, and its exploration budget tuned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, fail
from cli.service import service_session
from training.data import DataError

policy_app = typer.Typer(
    help="The targeting policy in force (versioned in the service database).", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")


@policy_app.command("apply")
def policy_apply(
    file: Annotated[Path, typer.Argument(help="Policy YAML (see decisions/policy.example.yaml).")],
    note: Annotated[str, typer.Option(help="Why this version.")] = "",
) -> None:
    """Validate a policy and make it the version in force (the service picks it up on the next request)."""
    import getpass

    from decisions import store
    from decisions.policy import Policy
    from training.data import load_yaml

    try:
        policy = load_yaml(file, Policy, "policy file", "a mapping with objective, thresholds and exploration")
    except DataError as exc:
        fail(str(exc))
    with service_session() as session:
        row = store.add_policy(session, policy.model_dump(mode="json"), getpass.getuser(), note)
        session.commit()
        typer.echo(f"policy version {row.version} is in force (from {file})")


@policy_app.command("show")
def policy_show() -> None:
    """Print the policy version in force."""
    import yaml

    from decisions import store

    with service_session() as session:
        row = store.active_policy(session)
        if row is None:
            typer.echo("no policy yet: the service uses its settings' policy as version 1 when it starts", err=True)
            raise typer.Exit(1)
        key = f" with key {row.created_by_key}" if row.created_by_key else ""
        typer.echo(
            f"# version {row.version}, by {row.created_by}{key} at {row.created_at:%Y-%m-%d %H:%M} UTC {row.note}"
        )
        typer.echo(yaml.safe_dump(row.document, sort_keys=False))


@policy_app.command("tune")
def policy_tune(
    days: Annotated[int, typer.Option(min=1, help="The period whose recorded outcomes judge the two arms.")] = 28,
) -> None:
    """One step of the exploration budget between its `exploration.tuning` bounds: exponential weights on the revenue
    per inspection of the model's picks and of the exploration picks whose outcomes were recorded in the last
    `days` days. Writes the next policy version, whose note gives both figures; run it once a period."""
    import getpass
    from datetime import UTC, datetime, timedelta

    from decisions import store
    from decisions.explore import tune
    from decisions.policy import Policy
    from decisions.store.performance import revenue_per_inspection

    with service_session() as session:
        row = store.active_policy(session)
        if row is None:
            fail("no policy yet: apply one with exploration.tuning first")
        policy = Policy.model_validate(row.document)
        if policy.exploration.tuning is None:
            fail(f"policy version {row.version} has no exploration.tuning: its budget is fixed")
        since = datetime.now(UTC) - timedelta(days=days)
        arms = [revenue_per_inspection(session, since, sources) for sources in (("model", "rule"), ("explore",))]
        tuned = tune(policy, arms[0][1], arms[1][1])
        figures = ", ".join(
            f"{name} ${mean:,.0f} per inspection over {n:,}" if mean is not None else f"{name}: no outcome"
            for name, (n, mean) in zip(("model picks", "exploration picks"), arms)
        )
        note = (
            f"tuned over {days} days: {figures}; budget {policy.exploration.budget:.4%} -> "
            f"{tuned.exploration.budget:.4%}"
        )
        new = store.add_policy(session, tuned.model_dump(mode="json"), getpass.getuser(), note)
        session.commit()
        typer.echo(f"policy version {new.version} is in force: {note}")
