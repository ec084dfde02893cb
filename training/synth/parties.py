"""The parties of the history and the goods they trade: importers with their manufacturers and shippers, and
e-commerce sellers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from features.reference import ADCVD_ORDERS
from training import catalog as cat
from training.synth.draws import mids, pick

if TYPE_CHECKING:  # the stages before this one, in annotations only
    from training.synth.entries import Calendar


@dataclass(frozen=True)
class Goods:
    """The catalogue's goods (`cat.GOODS`) as arrays indexed by good."""

    g_adcvd: np.ndarray
    g_brand: np.ndarray
    g_duty: np.ndarray
    g_fl: np.ndarray
    g_has_lower: np.ndarray
    g_kg: np.ndarray
    g_parcel_idx: np.ndarray
    g_pga: np.ndarray
    g_price: np.ndarray
    goods: tuple[Any, ...]
    n_goods: int
    orders: list[Any]


def goods_table() -> Goods:
    """Per-good arrays of the catalogue, indexed as `cat.GOODS`."""
    goods = cat.GOODS
    n_goods = len(goods)
    g_price = np.array([g.unit_price for g in goods])
    g_kg = np.array([g.kg_per_unit for g in goods])
    g_duty = np.array([g.duty for g in goods])
    orders = [ADCVD_ORDERS.get(g.hts[:6]) for g in goods]
    g_adcvd = np.array([o.rate if o else 0.0 for o in orders])
    g_pga = np.array([g.pga for g in goods])
    g_brand = np.array([g.brand for g in goods])
    g_fl = np.array([g.forced_labour for g in goods])
    g_parcel_idx = np.flatnonzero([g.parcel for g in goods])
    g_has_lower = np.array([g.lower_duty_hts is not None for g in goods])
    return Goods(
        g_adcvd=g_adcvd,
        g_brand=g_brand,
        g_duty=g_duty,
        g_fl=g_fl,
        g_has_lower=g_has_lower,
        g_kg=g_kg,
        g_parcel_idx=g_parcel_idx,
        g_pga=g_pga,
        g_price=g_price,
        goods=goods,
        n_goods=n_goods,
        orders=orders,
    )


@dataclass(frozen=True)
class TradeParties:
    """Importers with their manufacturers (and shell manufacturers), shippers, ports, carriers and filers."""

    all_mfr_country: np.ndarray
    imp_carrier: np.ndarray
    imp_filer: np.ndarray
    imp_goods: np.ndarray
    imp_ids: np.ndarray
    imp_mfrs: np.ndarray
    imp_mode: np.ndarray
    imp_new: np.ndarray
    imp_origin: np.ndarray
    imp_port: np.ndarray
    imp_risk: np.ndarray
    imp_start: np.ndarray
    imp_weight: np.ndarray
    mfr_ids: np.ndarray
    mfr_listed: np.ndarray
    mfr_risk: np.ndarray
    n_mfr: int
    n_shell: int
    shell_country: np.ndarray
    shp_ids: np.ndarray
    shp_risk: np.ndarray


def trade_parties(rng: np.random.Generator, gt: Goods, cal: Calendar) -> TradeParties:
    """Trade parties: importers with manufacturers, shippers, home port and filer."""
    n_goods = gt.n_goods
    n_days, n_trade = cal.n_days, cal.n_trade
    n_imp = max(40, n_trade // 120)
    imp_origin = pick(rng, cat.ORIGINS, n_imp)
    imp_start = np.where(rng.random(n_imp) < 0.75, -rng.random(n_imp) * 365, rng.random(n_imp) * n_days)
    imp_new = imp_start > 0
    imp_weight = rng.lognormal(0, 1.3, n_imp)
    imp_risk = rng.choice([0.4, 1.5, 6.0], size=n_imp, p=[0.8, 0.15, 0.05]) * rng.lognormal(0, 0.3, n_imp)
    imp_weight = np.where(imp_risk > 3, np.minimum(imp_weight, 1.0), imp_weight)  # violators stay small
    imp_risk *= np.where(imp_new, 1.8, 1.0)
    imp_goods = rng.integers(0, n_goods, size=(n_imp, 3))
    imp_filer = rng.choice(np.array(cat.FILERS), size=n_imp)
    overland = np.isin(imp_origin, ["MX", "CA"])
    by_air = ~overland & (rng.random(n_imp) < 0.2)
    imp_mode = np.where(overland, np.where(rng.random(n_imp) < 0.8, "30", "20"), np.where(by_air, "40", "11"))
    imp_port = np.where(
        overland,
        rng.choice(np.array(cat.LANDPORTS), n_imp),
        np.where(by_air, rng.choice(np.array(cat.AIRPORTS), n_imp), rng.choice(np.array(cat.SEAPORTS), n_imp)),
    )
    imp_carrier = np.where(
        overland,
        rng.choice(np.array(cat.TRUCK_CARRIERS), n_imp),
        np.where(
            by_air, rng.choice(np.array(cat.AIR_CARRIERS), n_imp), rng.choice(np.array(cat.OCEAN_CARRIERS), n_imp)
        ),
    )
    imp_ids = np.array(
        [
            f"{a:02d}-{b:07d}{s}"
            for a, b, s in zip(
                rng.integers(10, 99, n_imp), rng.integers(0, 10**7, n_imp), rng.choice(["00", "01", "AB"], n_imp)
            )
        ]
    )

    # manufacturers: a pool per country; each importer buys from two of its origin's
    n_mfr = max(60, int(n_imp * 1.5))
    mfr_country = pick(rng, cat.ORIGINS, n_mfr)
    mfr_risk = rng.lognormal(0, 0.5, n_mfr)
    by_country = {c: np.flatnonzero(mfr_country == c) for c in cat.ORIGINS}
    imp_mfrs = np.stack(
        [rng.choice(by_country[c], 2) if len(by_country[c]) else rng.integers(0, n_mfr, 2) for c in imp_origin]
    )
    mfr_country[imp_mfrs[:, 0]] = imp_origin  # the first supplier is in the importer's origin
    mfr_country[imp_mfrs[:, 1]] = np.where(rng.random(n_imp) < 0.9, imp_origin, mfr_country[imp_mfrs[:, 1]])
    mfr_listed = np.isin(mfr_country, ["CN", "VN", "MY"]) & (rng.random(n_mfr) < 0.002)  # on the UFLPA entity list
    # shell manufacturers in transit countries appear after the order; hidden from the data
    n_shell = max(4, n_mfr // 40)
    shell_country = rng.choice(np.array(cat.TRANSIT), n_shell)
    all_mfr_country = np.r_[mfr_country, shell_country]
    mfr_ids = mids(rng, all_mfr_country)
    n_shp = n_imp * 2
    shp_risk = rng.lognormal(0, 0.4, n_shp)
    shp_ids = np.array([f"SHP-{i:06d}" for i in rng.permutation(10**6)[:n_shp]])
    return TradeParties(
        all_mfr_country=all_mfr_country,
        imp_carrier=imp_carrier,
        imp_filer=imp_filer,
        imp_goods=imp_goods,
        imp_ids=imp_ids,
        imp_mfrs=imp_mfrs,
        imp_mode=imp_mode,
        imp_new=imp_new,
        imp_origin=imp_origin,
        imp_port=imp_port,
        imp_risk=imp_risk,
        imp_start=imp_start,
        imp_weight=imp_weight,
        mfr_ids=mfr_ids,
        mfr_listed=mfr_listed,
        mfr_risk=mfr_risk,
        n_mfr=n_mfr,
        n_shell=n_shell,
        shell_country=shell_country,
        shp_ids=shp_ids,
        shp_risk=shp_risk,
    )


@dataclass(frozen=True)
class Sellers:
    """E-commerce sellers on marketplaces, with the manufacturers and importer numbers of their parcels."""

    sel_country: np.ndarray
    sel_goods: np.ndarray
    sel_ids: np.ndarray
    sel_ior: np.ndarray
    sel_made_in: np.ndarray
    sel_market: np.ndarray
    sel_mfr: np.ndarray
    sel_risk: np.ndarray
    sel_shipper: np.ndarray
    sel_start: np.ndarray
    sel_weight: np.ndarray


def sellers(rng: np.random.Generator, gt: Goods, cal: Calendar) -> Sellers:
    """E-commerce parties: sellers on marketplaces shipping parcels."""
    g_parcel_idx = gt.g_parcel_idx
    n_days, n_parcel = cal.n_days, cal.n_parcel
    n_sel = max(30, n_parcel // 150)
    sel_country = pick(rng, cat.PARCEL_ORIGINS, n_sel)
    sel_start = np.where(rng.random(n_sel) < 0.6, -rng.random(n_sel) * 365, rng.random(n_sel) * n_days)
    sel_weight = rng.lognormal(0, 1.2, n_sel)
    sel_risk = rng.choice([0.4, 3.0, 15.0], size=n_sel, p=[0.9, 0.08, 0.02]) * rng.lognormal(0, 0.3, n_sel)
    sel_weight = np.where(sel_risk > 2, np.minimum(sel_weight, 1.0), sel_weight)
    sel_goods = rng.choice(g_parcel_idx, size=(n_sel, 2))
    sel_market = rng.choice(np.array(cat.MARKETPLACES), n_sel)
    sel_made_in = np.where((sel_country == "HK") & (rng.random(n_sel) < 0.7), "CN", sel_country)
    sel_mfr = mids(rng, sel_made_in)
    sel_ids = np.array([f"SLR-{i:06d}" for i in rng.permutation(10**6)[:n_sel]])
    sel_ior = np.array(
        [
            f"{y:02d}{m:02d}{d:02d}{p:02d}-{k:05d}"
            for y, m, d, p, k in zip(
                rng.integers(18, 25, n_sel),
                rng.integers(1, 13, n_sel),
                rng.integers(1, 29, n_sel),
                rng.integers(10, 99, n_sel),
                rng.integers(0, 10**5, n_sel),
            )
        ]
    )
    sel_shipper = np.array([f"SHP-E{i:05d}" for i in range(n_sel)])
    return Sellers(
        sel_country=sel_country,
        sel_goods=sel_goods,
        sel_ids=sel_ids,
        sel_ior=sel_ior,
        sel_made_in=sel_made_in,
        sel_market=sel_market,
        sel_mfr=sel_mfr,
        sel_risk=sel_risk,
        sel_shipper=sel_shipper,
        sel_start=sel_start,
        sel_weight=sel_weight,
    )
