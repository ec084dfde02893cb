"""A foreign declarations table for bring-your-own tests and benches: a ledger keyed by integers, far from the
entry schema, trained through a dataset spec (`LEDGER_SPEC`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

LEDGER_SPEC = """\
id: decl_ref
timestamp: lodged_at
label: is_fraud
label_delay_days: 30
categorical: [office_code, importer_no, broker_id, hs_code, origin_cc]
numeric: [unit_price, gross_kg, duty_pct]
entities: [importer_no, broker_id, [hs_code, origin_cc]]
references: [{value: unit_price, by: [hs_code]}]
exclude: [penalty_amount]
"""


def ledger(n: int = 9000, seed: int = 5) -> pd.DataFrame:
    """Declarations keyed by integers: importer, office, HS code and broker numbers; no revenue column.

    Fraud comes from an importer's propensity (learnable only through its history: most importers
    file too rarely to get their own category), undervaluation against the HS code's usual price
    (prices span orders of magnitude across codes and are Pareto-tailed), and two lax offices.
    `penalty_amount` is assessed after an inspection finds fraud: it leaks the label.
    """
    rng = np.random.default_rng(seed)
    n_importers = 1200
    propensity = np.where(rng.random(n_importers) < 0.15, 2.2, 0.0)
    importer = rng.zipf(1.3, n) % n_importers
    hs_codes = rng.choice(np.arange(100000, 999999), 40, replace=False)
    typical = dict(zip(hs_codes, rng.lognormal(3, 2, 40)))
    hs = rng.choice(hs_codes, n)
    undervalued = rng.random(n) < 0.08
    price = np.array([typical[h] for h in hs]) * (1 + rng.pareto(1.5, n)) * np.where(undervalued, 0.15, 1.0)
    office = rng.integers(101, 113, n)
    logit = -3.4 + propensity[importer] + 2.6 * undervalued + 1.2 * np.isin(office, [104, 109])
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    inspected = rng.random(n) < 0.55
    broker = rng.integers(7000, 7040, n).astype(float)
    broker[rng.random(n) < 0.2] = np.nan  # filed by the importer itself
    mass = rng.lognormal(2, 2, n)
    mass[rng.random(n) < 0.07] = np.nan
    table = pd.DataFrame(
        {
            "decl_ref": rng.permutation(np.arange(4_000_000, 4_000_000 + n)),
            "lodged_at": pd.Timestamp("2022-03-01") + pd.to_timedelta(rng.random(n) * 600, unit="D"),
            "is_fraud": np.where(inspected, fraud, np.nan),
            "importer_no": importer + 10_000,
            "office_code": office,
            "hs_code": hs,
            "origin_cc": rng.choice(
                np.array(["CN", "TR", "IN", "US", None], dtype=object), n, p=[0.35, 0.2, 0.2, 0.15, 0.1]
            ),
            "broker_id": broker,
            "unit_price": price,
            "gross_kg": mass,
            "duty_pct": rng.choice([0.0, 2.5, 8.0, 12.0], n),
            "penalty_amount": np.where(inspected, fraud * rng.lognormal(7, 1.5, n), np.nan),
        }
    )
    return table.sample(frac=1, random_state=seed, ignore_index=True)  # not in filing order
