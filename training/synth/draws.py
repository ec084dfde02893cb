"""Random draws the stages share: days with seasonality, weighted picks, MIDs, the active party at a time."""

from __future__ import annotations

import numpy as np

from training import catalog as cat


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def pick(rng: np.random.Generator, weights: dict[str, float], size: int) -> np.ndarray:
    keys = np.array(list(weights))
    p = np.array(list(weights.values()))
    return keys[rng.choice(len(keys), size=size, p=p / p.sum())]


def sample_days(
    rng: np.random.Generator, n: int, n_days: int, months: np.ndarray, season: np.ndarray, growth: float
) -> np.ndarray:
    """Sample day offsets with a monthly seasonality and a linear volume trend."""
    w = season[months] * (1.0 + growth * np.arange(n_days) / n_days)
    return rng.choice(n_days, size=n, p=w / w.sum())


def mids(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    """Manufacturer ids shaped like CBP MIDs: ISO2, name letters, address digits, city."""
    n = len(countries)
    letters = rng.integers(65, 91, size=(n, 6)).astype(np.uint8).view("S1").reshape(n, 6)
    digits = rng.integers(1, 9999, size=n)
    cities = rng.choice(np.array(cat.CITY_CODES), size=n)
    return np.array(
        [f"{c}{name.tobytes().decode()}{d}{city}" for c, name, d, city in zip(countries, letters, digits, cities)]
    )


def active_choice(rng: np.random.Generator, t: np.ndarray, start: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For each time t, pick an entity active at t (start <= t) with probability ~ weight."""
    order = np.argsort(start, kind="stable")
    cum = np.cumsum(weight[order])
    n_active = np.maximum(np.searchsorted(start[order], t, side="right"), 1)
    u = rng.random(len(t)) * cum[n_active - 1]
    return order[np.minimum(np.searchsorted(cum, u, side="right"), n_active - 1)]
