"""The file MLflow loads the registered model from ("models from code"): the model is this code plus its
artifacts, not a pickle. Logged with the `features` and `model` packages as its code paths, so that
`mlflow.pyfunc.load_model` and `mlflow models serve` need only the model's own requirements."""

from mlflow.models import set_model

from model.artifact import ShipmentRiskModel

set_model(ShipmentRiskModel())
