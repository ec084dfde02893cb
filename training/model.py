"""Registered models logged before the served model moved to `model/` pickled their class under this name:
they load through it. New code imports `model.artifact`."""

from model.artifact import ModelParts, ShipmentRiskModel

__all__ = ["ModelParts", "ShipmentRiskModel"]
