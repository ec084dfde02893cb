"""Print the path of the champion's LightGBM model file (a verified local copy), for bench/treeshap.py --model."""

from __future__ import annotations

import logging
from pathlib import Path

from model.artifact import BOOSTER_FILE
from model.scoring import Scorer
from training.registry import tracking_uri

if __name__ == "__main__":
    logging.disable(logging.WARNING)
    cache = Path("data/model-cache")
    scorer = Scorer.load(tracking_uri(), "shipment-risk", "champion", cache)
    print(next((cache / scorer.ref.name / str(scorer.ref.version)).rglob(BOOSTER_FILE)))
