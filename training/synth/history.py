"""The history as a past policy left it: which entries were inspected, and the frame with the outcomes they gave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.synth.config import PATTERNS, Regime, SynthConfig
from training.synth.draws import sigmoid

if TYPE_CHECKING:  # the stages before this one, in annotations only
    from training.synth.entries import Calendar, Placed, Values
    from training.synth.parties import Goods, Sellers, TradeParties
    from training.synth.violations import Declared, Truth


@dataclass(frozen=True)
class PastPolicy:
    """Which entries the past policy inspected, how likely it was to, and when each outcome was known."""

    by_random: np.ndarray
    delay: np.ndarray
    inspected: np.ndarray
    p_policy: np.ndarray


def past_policy(
    rng: np.random.Generator,
    cfg: SynthConfig,
    gt: Goods,
    cal: Calendar,
    pl: Placed,
    va: Values,
    de: Declared,
    tru: Truth,
) -> PastPolicy:
    """The past targeting policy: rules on visible red flags plus officer judgement, and the random picks."""
    g_pga = gt.g_pga
    n = cal.n
    good, mode, new_party = pl.good, pl.mode, pl.new_party
    peer_ratio = va.peer_ratio
    brand_word, export, has_case, in_scope_now = de.brand_word, de.export, de.has_case, de.in_scope_now
    lowered, origin, vague = de.lowered, de.origin, de.vague
    cn_hk, de_minimis, p_total = tru.cn_hk, tru.de_minimis, tru.p_total
    legacy = (
        1.0 * cn_hk
        + 1.2 * new_party
        + 1.0 * (peer_ratio < 0.5)
        + 0.8 * (origin != export)
        + 1.5 * (in_scope_now & ~lowered & ~has_case)
        + 1.0 * (g_pga[good] & de_minimis)
        + 0.8 * (brand_word | vague)
        + 0.5 * (mode == "50")
        + 0.3 * np.log(np.maximum(p_total, 1e-6) / 0.02)
        + rng.normal(0, 0.7, n)
    )
    lo, hi = -20.0, 20.0
    for _ in range(40):  # the intercept that inspects policy_rate of entries on average
        mid_c = (lo + hi) / 2
        lo, hi = (mid_c, hi) if sigmoid(legacy + mid_c).mean() < cfg.policy_rate else (lo, mid_c)
    p_policy = sigmoid(legacy + lo)
    by_random = rng.random(n) < cfg.random_rate
    by_policy = ~by_random & (rng.random(n) < p_policy)
    inspected = by_random | by_policy
    delay = np.clip(rng.lognormal(np.log(12), 0.6, n), 1, 90)
    return PastPolicy(by_random=by_random, delay=delay, inspected=inspected, p_policy=p_policy)


def assemble(
    rng: np.random.Generator,
    cfg: SynthConfig,
    gt: Goods,
    cal: Calendar,
    tp: TradeParties,
    sp: Sellers,
    pl: Placed,
    va: Values,
    de: Declared,
    tru: Truth,
    pp: PastPolicy,
) -> pd.DataFrame:
    """The history as a frame sorted by filing time, with entry numbers."""
    goods = gt.goods
    n_parcel, n_trade, parcel, start, t = cal.n_parcel, cal.n_trade, cal.parcel, cal.start, cal.t
    imp_filer, imp_ids, shp_ids = tp.imp_filer, tp.imp_ids, tp.shp_ids
    sel_ids, sel_ior, sel_market, sel_shipper = sp.sel_ids, sp.sel_ior, sp.sel_market, sp.sel_shipper
    carrier, good, imp, mode, port, sel, shp = pl.carrier, pl.good, pl.imp, pl.mode, pl.port, pl.sel, pl.shp
    declared, qty, related, weight = va.declared, va.qty, va.related, va.weight
    case_no, desc, export, hts, mid, origin = de.case_no, de.desc, de.export, de.hts, de.mid, de.origin
    expected_revenue, kind, p_total, true_revenue = tru.expected_revenue, tru.kind, tru.p_total, tru.true_revenue
    violation = tru.violation
    by_random, delay, inspected, p_policy = pp.by_random, pp.delay, pp.inspected, pp.p_policy
    filed_at = start + pd.to_timedelta(np.round(t * 86400), unit="s")
    entry_type = np.where(
        parcel, "86" if cfg.regime is Regime.PRE_2025 else "11", np.where(declared < 2500, "11", "01")
    )
    unit = np.array([g.unit for g in goods])[good]
    frame = pd.DataFrame(
        {
            "filed_at": filed_at,
            "entry_type": entry_type,
            "importer_id": np.r_[imp_ids[imp], sel_ior[sel]],
            "filer_code": np.r_[imp_filer[imp], rng.choice(np.array(["EXP", "FDX", "UPS", "DHL", "P2P"]), n_parcel)],
            "manufacturer_id": mid,
            "shipper_id": np.r_[shp_ids[shp], sel_shipper[sel]],
            "consignee_id": np.r_[
                np.char.add("CNS-", imp_ids[imp]),
                np.char.add("C", rng.integers(0, max(1, n_parcel // 3), n_parcel).astype(str)),
            ],
            "country_of_origin": origin,
            "country_of_export": export,
            "port_of_entry": port,
            "mode_of_transport": mode,
            "carrier": carrier,
            "hts_code": hts,
            "description": desc,
            "declared_value_usd": declared,
            "quantity": qty,
            "quantity_unit": unit,
            "gross_weight_kg": weight,
            "related_party": related,
            "adcvd_case_no": case_no,
            "marketplace": np.r_[np.full(n_trade, None), sel_market[sel]],
            "seller_id": np.r_[np.full(n_trade, None), sel_ids[sel]],
            "inspected": inspected,
            "selection": pd.Series(np.where(by_random, "random", "policy")).where(inspected),
            "selection_probability": 1 - (1 - cfg.random_rate) * (1 - p_policy),
            "outcome_at": (filed_at + pd.to_timedelta(np.round(delay * 86400), unit="s")).where(inspected),
            "violation": np.where(inspected, violation.astype(float), np.nan),
            "violation_type": np.where(inspected & violation, np.array(PATTERNS)[kind], None),
            "revenue_at_stake": np.where(inspected, true_revenue, np.nan),
            "truth_probability": p_total,
            "truth_violation": violation,
            "truth_violation_type": np.where(violation, np.array(PATTERNS)[kind], None),
            "truth_revenue_at_stake": true_revenue,
            "truth_expected_revenue": np.round(expected_revenue, 2),
        }
    )
    frame = frame.sort_values("filed_at", kind="stable", ignore_index=True)
    serial = np.arange(len(frame)) + 1000000
    check = serial % 7
    frame.insert(0, "entry_id", [f"{f}{s:07d}-{c}" for f, s, c in zip(frame["filer_code"], serial, check)])
    return frame
