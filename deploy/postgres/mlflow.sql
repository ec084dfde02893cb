-- MLflow's tracking store lives beside the decisions, in a database of its own (run once, at first start).
CREATE DATABASE mlflow OWNER targeting;
