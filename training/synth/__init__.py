"""Synthetic history of import entries with planted violations and a past targeting policy.

Every entry gets observable fields (those of `features.schema.Entry`), the outcome columns a
real history would have (known only where the entry was inspected), and hidden `truth_*`
columns that only evaluation may read. See docs/data.md for every pattern and rate.

The history is made in stages, each a function of the random generator and the stages before it, called in
this order (the order of the draws, so that a seed gives the same history): the goods and the calendar, the
trade parties and the sellers (`parties`), the entries and their values (`entries`), what violators declare
and the truth (`violations`), and the past policy's inspections and the frame (`history`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.synth.config import CASE_COUNTRY, PATTERNS, TRUTH_COLUMNS, Regime, SynthConfig
from training.synth.entries import calendar, place, values
from training.synth.history import assemble, past_policy
from training.synth.parties import goods_table, sellers, trade_parties
from training.synth.violations import misdeclare, truth

__all__ = ["CASE_COUNTRY", "PATTERNS", "TRUTH_COLUMNS", "Regime", "SynthConfig", "generate", "write_parquet"]


def generate(cfg: SynthConfig) -> pd.DataFrame:
    """Generate `cfg.entries` entries, sorted by filed_at."""
    if cfg.entries < 100:
        raise ValueError("entries must be at least 100")
    rng = np.random.default_rng(cfg.seed)
    gt = goods_table()
    cal = calendar(rng, cfg)
    tp = trade_parties(rng, gt, cal)
    sp = sellers(rng, gt, cal)
    pl = place(rng, cal, tp, sp)
    va = values(rng, cfg, gt, cal, pl)
    de = misdeclare(rng, gt, cal, tp, pl)
    tru = truth(rng, cfg, gt, cal, pl, va, de)
    pp = past_policy(rng, cfg, gt, cal, pl, va, de, tru)
    return assemble(rng, cfg, gt, cal, tp, sp, pl, va, de, tru, pp)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
