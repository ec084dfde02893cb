"""Service settings, read from the environment once by the entry point and injected from there."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from decisions.policy import Policy
from model.names import MODEL_NAME

DEV_SECRET = "development-only-sample-secret"
POOL_SPARE = 4


class Settings(BaseSettings):
    """Environment: DATABASE_URL, MLFLOW_TRACKING_URI, TARGETING_MODEL_NAME, TARGETING_POLICY__PHYSICAL_EXAM..."""

    model_config = SettingsConfigDict(env_prefix="TARGETING_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(
        "sqlite:///data/targeting.db",
        validation_alias=AliasChoices("DATABASE_URL", "TARGETING_DATABASE_URL"),
        description="The decisions database: a SQLite file, or postgresql+psycopg://user@host:5432/name.",
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "TARGETING_MLFLOW_TRACKING_URI"),
        description="The MLflow tracking store and registry; unset: sqlite:///mlruns/mlflow.db in the working folder.",
    )
    model_name: str = Field(MODEL_NAME, description="The registered model served.")
    model_alias: str = Field("champion", description="The alias of it the service follows.")
    environment: Literal["development", "production"] = Field(
        "development", description="production refuses to start with the development sample secret."
    )
    policy: Policy = Policy()  # the first policy version, when the database has none yet
    sample_secret: str = Field(DEV_SECRET, min_length=16, description="Keys the random compliance sample.")
    max_in_flight: int = Field(
        16,
        ge=1,
        le=1000,
        description="Requests one worker process admits at once; one more is answered 503 with "
        "Retry-After at once. The worker's database pool holds this many connections plus a few for its own "
        "background work, so an admitted request never waits for one: size it with the database's connection "
        "limit in mind (workers x (this + 4)).",
    )
    pool_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long a request waits for a database connection before a 503.",
    )
    max_batch: int = Field(1000, ge=1, description="The most entries one scoring request may carry (413 beyond).")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="The largest request body taken (413 beyond).")
    top_reasons: int = Field(5, ge=1, description="Reasons given with each decision, the largest contributions first.")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="NORMAL keeps decisions through a crash of the service; FULL through a power cut too, "
        "at an fsync per request (see store.make_engine).",
    )
    model_cache: Path = Field(Path("data/model-cache"), description="Local copies of loaded model versions.")
    model_poll_seconds: float = Field(30.0, ge=0, description="How often to follow the alias; 0: only on reload.")
    log_level: str = Field("INFO", description="The level of the service's JSON log lines.")
    key_cache_seconds: float = Field(5.0, ge=0, description="How long a key lookup is trusted (revocation delay).")
    session_hours: float = Field(8.0, gt=0, le=24 * 7, description="How long a desk sign-in lasts.")
    cookie_secure: bool = Field(True, description="Desk cookies only over HTTPS (browsers treat localhost as secure).")
    mlflow_ui_url: str | None = Field("http://127.0.0.1:5000", description="Where `mlflow ui` serves, to link runs.")
    queue_page_size: int = Field(50, ge=5, le=500, description="Decisions per page of the desk's queue.")
    drift_days: int = Field(7, ge=1, le=365, description="Drift compares the last N days' decisions with training.")
    drift_max_decisions: int = Field(5_000, ge=100, description="At most this many recent decisions are compared.")
    drift_refresh_seconds: float = Field(300.0, ge=0, description="How often drift is recomputed; 0: only when asked.")

    @property
    def pool_size(self) -> int:
        """Database connections per worker: one per admitted request, and some for background work and for the
        few requests that take a second one (readiness, drift)."""
        return self.max_in_flight + POOL_SPARE

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.sample_secret == DEV_SECRET:
            raise ValueError("set TARGETING_SAMPLE_SECRET: the development secret makes the random sample predictable")
        return self


ENV_HEADER = """\
# Every setting of the service, with its default and meaning: `targeting env-example` writes this file from
# service/settings.py (a test keeps the two in step). Copy what you change into the environment (or an .env file
# your process manager reads); a line left out keeps its default. Commented lines have no default."""


def env_example() -> str:
    """The text of .env.example: every setting as an environment variable, nested ones (the first policy
    version) spelled with `__`, each with its meaning and default."""
    lines = [ENV_HEADER]
    for name, field in Settings.model_fields.items():
        aliases = field.validation_alias
        env = aliases.choices[0] if isinstance(aliases, AliasChoices) else f"TARGETING_{name.upper()}"
        lines += _env_lines(str(env), field, field.default)
    return "\n".join(lines) + "\n"


def _env_lines(env: str, field: FieldInfo, default: Any) -> list[str]:
    if isinstance(default, BaseModel):  # one variable per leaf: TARGETING_POLICY__PROBABILITY__PHYSICAL_EXAM
        out = []
        for name, inner in type(default).model_fields.items():
            out += _env_lines(f"{env}__{name.upper()}", inner, getattr(default, name))
        return out
    said = f"# {field.description}" if field.description else "#"
    if default is None:
        return ["", said, f"# {env}="]
    return ["", said, f"{env}={_env_value(default)}"]


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
