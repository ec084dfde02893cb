"""The registry's names, in a module that imports nothing, so that the command line can name them without
loading MLflow."""

MODEL_NAME = "shipment-risk"
CHAMPION, CHALLENGER = "champion", "challenger"
PROMOTION_METRIC = "precision_at_5pct"
