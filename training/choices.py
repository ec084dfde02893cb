"""The choices a training run offers, as types: light to import, so the command line names them without loading
the training stack."""

from __future__ import annotations

from typing import Literal

# ipw: weight inspected rows by 1 / their selection probability; auto: ipw where the data give it; none (the
# default: over 3 data seeds x 3 model seeds the weights did not raise precision@5 % over every entry; see
# bench/defaults.py)
Weighting = Literal["auto", "none", "ipw"]
# search: choose the model's shape on the data (training/shape.py); fixed: the settings as given
Shape = Literal["search", "fixed"]
