"""Synthetic history of import entries with planted violations and a past targeting policy.

Every entry gets observable fields (those of `features.schema.Entry`), the outcome columns a
real history would have (known only where the entry was inspected), and hidden `truth_*`
columns that only evaluation may read. See docs/data.md for every pattern and rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from features.reference import ADCVD_ORDERS, BRAND_WORDS, VAGUE_DESCRIPTIONS
from training import catalog as cat

TRUTH_COLUMNS = (
    "truth_probability",
    "truth_violation",
    "truth_violation_type",
    "truth_revenue_at_stake",
    "truth_expected_revenue",
)
# Commerce country codes in AD/CVD case numbers.
CASE_COUNTRY = {"CN": "570", "VN": "552", "MY": "557", "TH": "549", "TW": "583", "IN": "533"}
PATTERNS = ("undervaluation", "transshipment", "counterfeit", "misclassification", "unsafe", "forced_labour")


class Regime(StrEnum):
    """Which de minimis rules the history follows (docs/domain.md, "De minimis regimes")."""

    PRE_2025 = "pre_2025"  # Type 86 release for parcels up to $800
    POST_SUSPENSION = "post_suspension"  # low-value parcels filed as informal entries


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; the same config and seed give the same frame."""

    entries: int
    seed: int = 7
    start: date = date(2023, 1, 1)
    months: int = 24
    regime: Regime = Regime.PRE_2025
    parcel_share: float = 0.55
    policy_rate: float = 0.03
    random_rate: float = 0.005


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, weights: dict[str, float], size: int) -> np.ndarray:
    keys = np.array(list(weights))
    p = np.array(list(weights.values()))
    return keys[rng.choice(len(keys), size=size, p=p / p.sum())]


def _days(
    rng: np.random.Generator, n: int, n_days: int, months: np.ndarray, season: np.ndarray, growth: float
) -> np.ndarray:
    """Sample day offsets with a monthly seasonality and a linear volume trend."""
    w = season[months] * (1.0 + growth * np.arange(n_days) / n_days)
    return rng.choice(n_days, size=n, p=w / w.sum())


def _mids(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    """Manufacturer ids shaped like CBP MIDs: ISO2, name letters, address digits, city."""
    n = len(countries)
    letters = rng.integers(65, 91, size=(n, 6)).astype(np.uint8).view("S1").reshape(n, 6)
    digits = rng.integers(1, 9999, size=n)
    cities = rng.choice(np.array(cat.CITY_CODES), size=n)
    return np.array(
        [f"{c}{name.tobytes().decode()}{d}{city}" for c, name, d, city in zip(countries, letters, digits, cities)]
    )


def _active_choice(rng: np.random.Generator, t: np.ndarray, start: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For each time t, pick an entity active at t (start <= t) with probability ~ weight."""
    order = np.argsort(start, kind="stable")
    cum = np.cumsum(weight[order])
    n_active = np.maximum(np.searchsorted(start[order], t, side="right"), 1)
    u = rng.random(len(t)) * cum[n_active - 1]
    return order[np.minimum(np.searchsorted(cum, u, side="right"), n_active - 1)]


def generate(cfg: SynthConfig) -> pd.DataFrame:
    """Generate `cfg.entries` entries, sorted by filed_at."""
    if cfg.entries < 100:
        raise ValueError("entries must be at least 100")
    rng = np.random.default_rng(cfg.seed)
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
        _days(rng, n_trade, n_days, day_month, trade_season, 0.1),
        _days(rng, n_parcel, n_days, day_month, parcel_season, 0.6),
    ]
    t = day.astype(float) + rng.random(n)  # days since start
    t_order = 0.4 * n_days  # an AD/CVD order after which evasion rises (drift)

    # --- trade parties: importers with manufacturers, shippers, home port and filer -------------------
    n_imp = max(40, n_trade // 120)
    imp_origin = _pick(rng, cat.ORIGINS, n_imp)
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
    mfr_country = _pick(rng, cat.ORIGINS, n_mfr)
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
    mfr_ids = _mids(rng, all_mfr_country)
    n_shp = n_imp * 2
    shp_risk = rng.lognormal(0, 0.4, n_shp)
    shp_ids = np.array([f"SHP-{i:06d}" for i in rng.permutation(10**6)[:n_shp]])

    # --- e-commerce parties: sellers on marketplaces shipping parcels -----------------------------------
    n_sel = max(30, n_parcel // 150)
    sel_country = _pick(rng, cat.PARCEL_ORIGINS, n_sel)
    sel_start = np.where(rng.random(n_sel) < 0.6, -rng.random(n_sel) * 365, rng.random(n_sel) * n_days)
    sel_weight = rng.lognormal(0, 1.2, n_sel)
    sel_risk = rng.choice([0.4, 3.0, 15.0], size=n_sel, p=[0.9, 0.08, 0.02]) * rng.lognormal(0, 0.3, n_sel)
    sel_weight = np.where(sel_risk > 2, np.minimum(sel_weight, 1.0), sel_weight)
    sel_goods = rng.choice(g_parcel_idx, size=(n_sel, 2))
    sel_market = rng.choice(np.array(cat.MARKETPLACES), n_sel)
    sel_made_in = np.where((sel_country == "HK") & (rng.random(n_sel) < 0.7), "CN", sel_country)
    sel_mfr = _mids(rng, sel_made_in)
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

    # --- per entry: who, what, where -------------------------------------------------------------------
    tr, pc = slice(0, n_trade), slice(n_trade, n)
    imp = _active_choice(rng, t[tr], imp_start, imp_weight)
    sel = _active_choice(rng, t[pc], sel_start, sel_weight)
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

    # --- quantities and values ----------------------------------------------------------------------
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

    # --- AD/CVD evasion: misdescribed origin, transshipment, or an undeclared case ----------------
    scope_good = (g_adcvd > 0)[good]

    def covered(origins: np.ndarray) -> np.ndarray:
        return (
            np.array([o is not None and c in o.origins for o, c in zip((orders[g] for g in good), origins)]) & ~parcel
        )

    in_scope = covered(origin)
    evade = in_scope & (origin == "CN") & (rng.random(n) < np.clip(0.18 * risk * np.where(t > t_order, 3, 1), 0, 0.9))
    how = rng.random(n)
    transit = rng.choice(np.array(cat.TRANSIT), n)
    relabel = evade & (how < 0.7)
    shell = relabel & (how >= 0.35) & (t > t_order)  # shell MIDs are set up once the order bites
    shell_idx = n_mfr + rng.integers(0, n_shell, n)
    origin = np.where(relabel, np.where(shell, shell_country[shell_idx - n_mfr], transit), origin)
    export = np.where(relabel, origin, export)
    mid = np.where(shell, mfr_ids[shell_idx], mid)
    mid_country = np.where(shell, shell_country[shell_idx - n_mfr], mid_country)
    in_scope_now = covered(origin)
    # --- misclassification: a lower-duty code, description kept or concealed -------------------------
    hts = np.array([g.hts for g in goods])[good]
    lower = np.array([g.lower_duty_hts or g.hts for g in goods])[good]
    misclass = ~parcel & g_has_lower[good] & (rng.random(n) < np.clip(0.04 * risk, 0, 0.6))
    legit_lower = ~parcel & g_has_lower[good] & ~misclass & (rng.random(n) < 0.03)
    hts = np.where(misclass | legit_lower, lower, hts)
    desc_table = np.array([d for g in goods for d in g.descriptions])
    desc = desc_table[2 * good + rng.integers(0, 2, n)]
    lower_desc = np.array(
        [
            cat.LOWER_DUTY_DESCRIPTIONS[c][k] if c in cat.LOWER_DUTY_DESCRIPTIONS else ""
            for c, k in zip(lower, rng.integers(0, 2, n))
        ]
    )
    concealed = misclass & (rng.random(n) < 0.3)
    desc = np.where(concealed | legit_lower, lower_desc, desc)

    lowered = misclass | legit_lower  # declared under a code outside the order's scope
    has_case = in_scope_now & ~evade & ~lowered
    case_no = np.full(n, None, dtype=object)
    case_no[has_case] = [f"A{CASE_COUNTRY.get(o, '570')}{900 + g}000" for o, g in zip(origin[has_case], good[has_case])]

    # --- counterfeit-prone parcels: brand words and vague descriptions --------------------------------
    shady = parcel & (risk > 2)
    brand_word = parcel & g_brand[good] & (rng.random(n) < np.where(shady, 0.3, 0.05))
    vague = parcel & (rng.random(n) < np.where(shady, 0.3, 0.06))
    desc = np.where(brand_word, np.char.add(rng.choice(np.array([w + " " for w in BRAND_WORDS[:4]]), n), desc), desc)
    desc = np.where(vague, rng.choice(np.array(sorted(VAGUE_DESCRIPTIONS)), n), desc)

    # --- the true violation probability: a function of what is observable plus hidden propensity ------
    ln_risk = np.log(risk)
    below = np.maximum(0.0, np.log(0.85 / np.maximum(peer_ratio, 1e-3)))
    duty = g_duty[good]
    cn_hk = np.isin(origin, ["CN", "HK"])
    de_minimis = parcel & (cfg.regime is Regime.PRE_2025)
    p = np.zeros((len(PATTERNS), n))
    p[0] = np.where(
        ~de_minimis & ((duty > 0) | scope_good),
        _sigmoid(-6.5 + 4.5 * below + 0.7 * related + 0.8 * round_value + ln_risk),
        0,
    )
    ts_logit = np.where(
        in_scope_now & ~lowered & ~has_case,
        -1.0 + ln_risk,
        np.where(
            scope_good & np.isin(origin, cat.TRANSIT) & ~parcel,
            -6.0 + 3.5 * (mid_country == "CN") + 2.5 * shell + ln_risk + 0.8 * (t > t_order),
            -20,
        ),
    )
    p[1] = _sigmoid(ts_logit)
    p[2] = np.where(
        parcel & g_brand[good], _sigmoid(-7.8 + 2.2 * brand_word + 1.5 * vague + 1.2 * cn_hk + 1.6 * below + ln_risk), 0
    )
    p[3] = np.where(
        misclass, _sigmoid(np.where(concealed, 0.5, 1.5) + ln_risk), np.where(legit_lower, _sigmoid(-6.0 + ln_risk), 0)
    )
    p[4] = np.where(g_pga[good], _sigmoid(-6.4 + 1.6 * de_minimis + 0.8 * cn_hk + 1.0 * below + ln_risk), 0)
    p[5] = np.where(g_fl[good] & listed, 0.25, 0)
    p_total = 1 - np.prod(1 - p, axis=0)
    violation = rng.random(n) < p_total
    cum = np.cumsum(p, axis=0) / np.maximum(p.sum(axis=0), 1e-12)
    kind = (rng.random(n) > cum).sum(axis=0).clip(0, len(PATTERNS) - 1)

    true_value = qty * true_unit
    adcvd_due = np.where(scope_good & (np.isin(origin, cat.TRANSIT) | in_scope_now), g_adcvd[good], 0) * true_value
    lower_duty = {g.lower_duty_hts: 0.03 for g in goods if g.lower_duty_hts}
    declared_duty = np.where(hts == lower, np.vectorize(lambda c: lower_duty.get(c, 0.0))(hts), duty)
    revenue = np.stack(
        [
            (true_value - declared) * duty + np.where(scope_good, g_adcvd[good] * (true_value - declared), 0),
            adcvd_due,
            4.0 * true_value,  # genuine retail value of the counterfeited goods
            np.maximum(duty - declared_duty, 0.02) * true_value + adcvd_due * (hts == lower),
            true_value,  # refused or destroyed goods
            true_value,  # excluded goods
        ]
    )
    revenue = np.round(np.maximum(revenue, 1.0), 2)
    true_revenue = np.where(violation, revenue[kind, np.arange(n)], 0.0)
    expected_revenue = (p * revenue).sum(axis=0)

    # --- the past targeting policy: rules on visible red flags plus officer judgement -------------------
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
        lo, hi = (mid_c, hi) if _sigmoid(legacy + mid_c).mean() < cfg.policy_rate else (lo, mid_c)
    p_policy = _sigmoid(legacy + lo)
    by_random = rng.random(n) < cfg.random_rate
    by_policy = ~by_random & (rng.random(n) < p_policy)
    inspected = by_random | by_policy
    delay = np.clip(rng.lognormal(np.log(12), 0.6, n), 1, 90)

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


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
