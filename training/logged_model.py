"""How the model is logged to MLflow: from code (`model/mlflow_model.py`) with the `features` and `model` packages
as its code paths, its own pinned requirements, and a signature of entries with the API's example."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import lightgbm as lgb
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, DataType, Schema

import features as features_package
import model as model_package
from features.schema import EXAMPLE_ENTRIES, Entry
from model.artifact import ModelParts, history_columns


def _pip_requirements() -> list[str]:
    """What the model needs beside its own code (the `features` and `model` packages, logged as code paths)."""
    import pydantic

    return [
        f"mlflow=={mlflow.__version__}",
        f"lightgbm=={lgb.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"pydantic=={pydantic.__version__}",
    ]


def entry_signature(parts: ModelParts) -> ModelSignature:
    """The model's input, entries (the entry schema's fields; optional ones, and every history column, may be
    left out), and its output per entry."""
    spec = parts.pipeline.spec
    if spec.derive == "entry":
        fields = [
            ColSpec(_column_type(f.annotation), name, required=f.is_required())
            for name, f in Entry.model_fields.items()
        ]
    else:  # a model of another dataset's shape reads that dataset's columns
        fields = [ColSpec(DataType.string, spec.id), ColSpec(DataType.datetime, spec.timestamp)]
        fields += [ColSpec(DataType.double if c in spec.numeric else DataType.string, c) for c in spec.feature_columns]
    fields += [ColSpec(DataType.double, name, required=False) for name in history_columns(parts.pipeline)]
    outputs = [ColSpec(DataType.string, spec.id)]
    outputs += [ColSpec(DataType.double, c) for c in ("score", "raw_score", "base_value", "expected_revenue")]
    outputs += [ColSpec(DataType.double, f"contribution__{f}") for f in parts.pipeline.feature_names]
    return ModelSignature(Schema(fields), Schema(outputs))  # type: ignore[arg-type]


def _column_type(annotation: Any) -> DataType:
    """An entry field's MLflow column type: a number, a yes/no, or text (a time too, in ISO 8601 as the API
    takes it: a JSON request carries text, which MLflow would not turn into a datetime column)."""
    kinds = {bool: DataType.boolean, float: DataType.double}
    return next((t for kind, t in kinds.items() if kind in _leaves(annotation)), DataType.string)


def _leaves(annotation: Any) -> set[Any]:
    """The plain types inside an annotation (`Annotated[float, ...] | None` -> {float, NoneType})."""
    inner = get_args(annotation)
    if not inner:
        return {annotation}
    if get_origin(annotation) is Annotated:
        return _leaves(inner[0])
    return set().union(*(_leaves(a) for a in inner))


def log_model(parts: ModelParts, folder: Path) -> ModelInfo:
    """Log the model into the active run from code (`model/mlflow_model.py`, with the `features` and `model`
    packages as its code paths) and its artifacts, written in `folder`."""
    files = parts.save(folder / "artifacts")
    code = Path(model_package.__file__).parent
    signature = entry_signature(parts)
    example = None
    if parts.pipeline.spec.derive == "entry":  # the API's example, its numbers in the signature's types
        example = pd.DataFrame(EXAMPLE_ENTRIES[:1])
        example = example.astype({c.name: c.type.to_pandas() for c in signature.inputs.inputs if c.name in example})
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=code / "mlflow_model.py",
        code_paths=[str(Path(features_package.__file__).parent), str(code)],
        artifacts=files,
        signature=signature,
        input_example=example,
        pip_requirements=_pip_requirements(),
    )
