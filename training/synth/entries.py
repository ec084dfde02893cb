"""The entries: when each was filed, who filed it, what and where, and its quantities and values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training import catalog as cat
from training.synth.config import Regime, SynthConfig
from training.synth.draws import active_choice, sample_days

ORDER_AT = 0.4  # an AD/CVD order at this share of the span, after which evasion rises (drift)

if TYPE_CHECKING:  # the stages before this one, in annotations only
    from training.synth.parties import Goods, Sellers, TradeParties


@dataclass(frozen=True)
class Calendar:
    """How many entries, trade and parcels, and when each was filed (days since the start)."""

    n: int
    n_days: int
    n_parcel: int
    n_trade: int
    parcel: np.ndarray
    start: pd.Timestamp
    t: np.ndarray
    t_order: float


def calendar(rng: np.random.Generator, cfg: SynthConfig) -> Calendar:
    """How many entries, trade and parcels, and when each was filed (days since the start)."""
    start = pd.Timestamp(cfg.start, tz="UTC")
    end = start + pd.DateOffset(months=cfg.months)
    n_days = (end - start).days
    day_month = (start + pd.to_timedelta(np.arange(n_days), unit="D")).month.to_numpy() - 1
    trade_season = np.array([1.0, 0.82, 0.95, 1.0, 1.02, 1.0, 1.03, 1.08, 1.1, 1.08, 1.0, 0.95])
    parcel_season = np.array([0.9, 0.8, 0.9, 0.92, 0.95, 0.95, 0.97, 1.0, 1.02, 1.1, 1.45, 1.55])

    n = cfg.entries
    n_parcel = int(round(n * cfg.parcel_share))
    n_trade = n - n_parcel
    parcel = np.r_[np.zeros(n_trade, bool), np.ones(n_parcel, bool)]
    day = np.r_[
        sample_days(rng, n_trade, n_days, day_month, trade_season, 0.1),
        sample_days(rng, n_parcel, n_days, day_month, parcel_season, 0.6),
    ]
    t = day.astype(float) + rng.random(n)  # days since start
    t_order = ORDER_AT * n_days
    return Calendar(
        n=n, n_days=n_days, n_parcel=n_parcel, n_trade=n_trade, parcel=parcel, start=start, t=t, t_order=t_order
    )


@dataclass(frozen=True)
class Placed:
    """Each entry's parties, goods, route, port and carrier, and its hidden risk."""

    carrier: np.ndarray
    export: np.ndarray
    good: np.ndarray
    imp: np.ndarray
    listed: np.ndarray
    mid: np.ndarray
    mid_country: np.ndarray
    mode: np.ndarray
    new_party: np.ndarray
    origin: np.ndarray
    pc: slice
    port: np.ndarray
    risk: np.ndarray
    sel: np.ndarray
    shp: np.ndarray
    tr: slice


def place(rng: np.random.Generator, cal: Calendar, tp: TradeParties, sp: Sellers) -> Placed:
    """Per entry: who, what, where."""
    n, n_parcel, n_trade, t = cal.n, cal.n_parcel, cal.n_trade, cal.t
    all_mfr_country, imp_carrier, imp_goods = tp.all_mfr_country, tp.imp_carrier, tp.imp_goods
    imp_mfrs, imp_mode, imp_new, imp_origin = tp.imp_mfrs, tp.imp_mode, tp.imp_new, tp.imp_origin
    imp_port, imp_risk, imp_start, imp_weight = tp.imp_port, tp.imp_risk, tp.imp_start, tp.imp_weight
    mfr_ids, mfr_listed, mfr_risk, shp_risk = tp.mfr_ids, tp.mfr_listed, tp.mfr_risk, tp.shp_risk
    sel_country, sel_goods, sel_made_in, sel_mfr = sp.sel_country, sp.sel_goods, sp.sel_made_in, sp.sel_mfr
    sel_risk, sel_start, sel_weight = sp.sel_risk, sp.sel_start, sp.sel_weight
    tr, pc = slice(0, n_trade), slice(n_trade, n)
    imp = active_choice(rng, t[tr], imp_start, imp_weight)
    sel = active_choice(rng, t[pc], sel_start, sel_weight)
    good = np.r_[imp_goods[imp, rng.integers(0, 3, n_trade)], sel_goods[sel, rng.integers(0, 2, n_parcel)]]
    mfr = imp_mfrs[imp, (rng.random(n_trade) < 0.3).astype(int)]
    shp = 2 * imp + (rng.random(n_trade) < 0.3)
    origin = np.r_[imp_origin[imp], sel_made_in[sel]]
    export = np.r_[
        np.where(rng.random(n_trade) < 0.1, rng.choice(np.array(cat.HUBS), n_trade), imp_origin[imp]), sel_country[sel]
    ]
    mid = np.r_[mfr_ids[mfr], sel_mfr[sel]]
    mid_country = np.r_[all_mfr_country[mfr], sel_made_in[sel]]
    risk = np.r_[imp_risk[imp] * np.sqrt(mfr_risk[mfr] * shp_risk[shp]), sel_risk[sel]]
    listed = np.r_[mfr_listed[mfr], np.zeros(n_parcel, bool)]
    new_party = np.r_[
        imp_new[imp] & (t[tr] - imp_start[imp] < 90), (sel_start[sel] > 0) & (t[pc] - sel_start[sel] < 90)
    ]
    parcel_mode = np.where(rng.random(n_parcel) < 0.6, "40", "50")
    mode = np.r_[np.where(rng.random(n_trade) < 0.9, imp_mode[imp], "40"), parcel_mode]
    port = np.r_[
        np.where(rng.random(n_trade) < 0.85, imp_port[imp], rng.choice(np.array(cat.SEAPORTS), n_trade)),
        rng.choice(np.array(cat.AIRPORTS), n_parcel),
    ]
    port = np.where((mode == "40") & ~np.isin(port, cat.AIRPORTS), rng.choice(np.array(cat.AIRPORTS), n), port)
    carrier = np.r_[
        np.where(mode[tr] == "40", rng.choice(np.array(cat.AIR_CARRIERS), n_trade), imp_carrier[imp]),
        np.where(
            parcel_mode == "50",
            rng.choice(np.array(cat.POST_CARRIERS), n_parcel),
            rng.choice(np.array(cat.AIR_CARRIERS), n_parcel),
        ),
    ]
    return Placed(
        carrier=carrier,
        export=export,
        good=good,
        imp=imp,
        listed=listed,
        mid=mid,
        mid_country=mid_country,
        mode=mode,
        new_party=new_party,
        origin=origin,
        pc=pc,
        port=port,
        risk=risk,
        sel=sel,
        shp=shp,
        tr=tr,
    )


@dataclass(frozen=True)
class Values:
    """Quantities, weights and values, true and declared."""

    declared: np.ndarray
    peer_ratio: np.ndarray
    qty: np.ndarray
    related: np.ndarray
    round_value: np.ndarray
    true_unit: np.ndarray
    weight: np.ndarray


def values(rng: np.random.Generator, cfg: SynthConfig, gt: Goods, cal: Calendar, pl: Placed) -> Values:
    """Quantities, weights and values, true and declared."""
    g_brand, g_kg, g_price = gt.g_brand, gt.g_kg, gt.g_price
    n, n_days, n_parcel, n_trade, parcel, t = cal.n, cal.n_days, cal.n_parcel, cal.n_trade, cal.parcel, cal.t
    good, origin, pc, risk, tr = pl.good, pl.origin, pl.pc, pl.risk, pl.tr
    origin_factor = {
        c: f
        for c, f in zip(
            sorted(set(cat.ORIGINS) | set(cat.PARCEL_ORIGINS) | set(cat.TRANSIT)), rng.lognormal(0, 0.12, 64)
        )
    }
    o_factor = np.vectorize(origin_factor.get)(origin)
    true_unit = g_price[good] * o_factor * rng.lognormal(0, 0.25, n)
    target_value = rng.lognormal(np.log(8000), 1.5, n_trade)
    qty = np.r_[np.maximum(1, np.round(target_value / true_unit[tr])), 1 + rng.geometric(0.55, n_parcel) - 1]
    if cfg.regime is Regime.PRE_2025:  # a de minimis parcel stays at or under $800
        qty[pc] = np.maximum(1, np.minimum(qty[pc], np.floor(790 / true_unit[pc])))
        true_unit[pc] = np.minimum(true_unit[pc], 790.0)
    weight = np.round(qty * g_kg[good] * 1.08 * rng.lognormal(0, 0.1, n) + 0.05, 2)

    # declared / true price: schemers declare a fraction; some legitimate deals are discounted too
    risky = risk * np.where(t > 0.7 * n_days, 0.8, 1.0)
    under = rng.random(n) < np.clip(0.06 * risky, 0, 0.6)
    ratio = np.where(under, rng.uniform(0.12, 0.55, n), np.where(rng.random(n) < 0.04, rng.uniform(0.5, 0.9, n), 1.0))
    cheap_fakes = parcel & g_brand[good] & (risk > 2) & (rng.random(n) < 0.6)
    ratio = np.where(cheap_fakes, rng.uniform(0.08, 0.5, n), ratio)
    declared = qty * true_unit * ratio
    round_value = (under & (rng.random(n) < 0.5)) | (rng.random(n) < 0.05)
    declared = np.where(round_value, np.maximum(np.round(declared / 100) * 100, 100), np.round(declared, 2))
    if cfg.regime is Regime.PRE_2025:
        declared[pc] = np.minimum(declared[pc], 800.0)
    related = rng.random(n) < np.where(under, 0.4, 0.08)
    related[pc] = False
    peer_ratio = declared / (qty * g_price[good])  # what a model can see: declared vs the goods' usual price
    return Values(
        declared=declared,
        peer_ratio=peer_ratio,
        qty=qty,
        related=related,
        round_value=round_value,
        true_unit=true_unit,
        weight=weight,
    )
