"""The served model, shared by training and the service: the artifact (booster, feature pipeline, calibration,
revenue model, drift reference), exact TreeSHAP over it, drift against its reference, and where registered
versions are found. Imports features/ only; writes nothing to MLflow, speaks no HTTP and no SQL."""
