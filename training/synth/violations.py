"""The violations: what violators change in their declarations, and the true probability and kind of each
entry's violation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from features.reference import BRAND_WORDS, VAGUE_DESCRIPTIONS
from training import catalog as cat
from training.synth.config import CASE_COUNTRY, PATTERNS, Regime, SynthConfig
from training.synth.draws import sigmoid

if TYPE_CHECKING:  # the stages before this one, in annotations only
    from training.synth.entries import Calendar, Placed, Values
    from training.synth.parties import Goods, TradeParties


@dataclass(frozen=True)
class Declared:
    """What the violators change in what they declare."""

    brand_word: np.ndarray
    case_no: np.ndarray
    concealed: np.ndarray
    desc: np.ndarray
    export: np.ndarray
    has_case: np.ndarray
    hts: np.ndarray
    in_scope_now: np.ndarray
    legit_lower: np.ndarray
    lower: np.ndarray
    lowered: np.ndarray
    mid: np.ndarray
    mid_country: np.ndarray
    misclass: np.ndarray
    origin: np.ndarray
    scope_good: np.ndarray
    shell: np.ndarray
    vague: np.ndarray


def misdeclare(rng: np.random.Generator, gt: Goods, cal: Calendar, tp: TradeParties, pl: Placed) -> Declared:
    """What the violators change in what they declare: origin (AD/CVD evasion), the HTS code and description
    (misclassification), brand words and vague descriptions (counterfeit parcels)."""
    g_adcvd, g_brand, g_has_lower, goods, orders = gt.g_adcvd, gt.g_brand, gt.g_has_lower, gt.goods, gt.orders
    n, parcel, t, t_order = cal.n, cal.parcel, cal.t, cal.t_order
    mfr_ids, n_mfr, n_shell, shell_country = tp.mfr_ids, tp.n_mfr, tp.n_shell, tp.shell_country
    export, good, mid, mid_country, origin, risk = pl.export, pl.good, pl.mid, pl.mid_country, pl.origin, pl.risk
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
    return Declared(
        brand_word=brand_word,
        case_no=case_no,
        concealed=concealed,
        desc=desc,
        export=export,
        has_case=has_case,
        hts=hts,
        in_scope_now=in_scope_now,
        legit_lower=legit_lower,
        lower=lower,
        lowered=lowered,
        mid=mid,
        mid_country=mid_country,
        misclass=misclass,
        origin=origin,
        scope_good=scope_good,
        shell=shell,
        vague=vague,
    )


@dataclass(frozen=True)
class Truth:
    """Each entry's true violation probability, whether and how it violated, and the revenue at stake."""

    cn_hk: np.ndarray
    de_minimis: np.ndarray
    expected_revenue: np.ndarray
    kind: np.ndarray
    p_total: np.ndarray
    true_revenue: np.ndarray
    violation: np.ndarray


def truth(
    rng: np.random.Generator, cfg: SynthConfig, gt: Goods, cal: Calendar, pl: Placed, va: Values, de: Declared
) -> Truth:
    """The true violation probability of each entry, a function of what is observable plus a hidden propensity;
    whether it violated, which pattern, and the revenue at stake."""
    g_brand, g_duty, g_fl, g_pga = gt.g_brand, gt.g_duty, gt.g_fl, gt.g_pga
    n, parcel, t, t_order = cal.n, cal.parcel, cal.t, cal.t_order
    good, listed, risk = pl.good, pl.listed, pl.risk
    peer_ratio, related, round_value = va.peer_ratio, va.related, va.round_value
    brand_word, concealed, has_case, in_scope_now = de.brand_word, de.concealed, de.has_case, de.in_scope_now
    legit_lower, lowered, misclass, mid_country = de.legit_lower, de.lowered, de.misclass, de.mid_country
    origin, scope_good, shell, vague = de.origin, de.scope_good, de.shell, de.vague
    ln_risk = np.log(risk)
    below = np.maximum(0.0, np.log(0.85 / np.maximum(peer_ratio, 1e-3)))
    duty = g_duty[good]
    cn_hk = np.isin(origin, ["CN", "HK"])
    de_minimis = parcel & (cfg.regime is Regime.PRE_2025)
    p = np.zeros((len(PATTERNS), n))
    p[0] = np.where(
        ~de_minimis & ((duty > 0) | scope_good),
        sigmoid(-6.5 + 4.5 * below + 0.7 * related + 0.8 * round_value + ln_risk),
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
    p[1] = sigmoid(ts_logit)
    p[2] = np.where(
        parcel & g_brand[good], sigmoid(-7.8 + 2.2 * brand_word + 1.5 * vague + 1.2 * cn_hk + 1.6 * below + ln_risk), 0
    )
    p[3] = np.where(
        misclass, sigmoid(np.where(concealed, 0.5, 1.5) + ln_risk), np.where(legit_lower, sigmoid(-6.0 + ln_risk), 0)
    )
    p[4] = np.where(g_pga[good], sigmoid(-6.4 + 1.6 * de_minimis + 0.8 * cn_hk + 1.0 * below + ln_risk), 0)
    p[5] = np.where(g_fl[good] & listed, 0.25, 0)
    p_total = 1 - np.prod(1 - p, axis=0)
    violation = rng.random(n) < p_total
    cum = np.cumsum(p, axis=0) / np.maximum(p.sum(axis=0), 1e-12)
    kind = (rng.random(n) > cum).sum(axis=0).clip(0, len(PATTERNS) - 1)

    true_revenue, expected_revenue = _revenue(gt, pl, va, de, duty, p, violation, kind)
    return Truth(
        cn_hk=cn_hk,
        de_minimis=de_minimis,
        expected_revenue=expected_revenue,
        kind=kind,
        p_total=p_total,
        true_revenue=true_revenue,
        violation=violation,
    )


def _revenue(
    gt: Goods,
    pl: Placed,
    va: Values,
    de: Declared,
    duty: np.ndarray,
    p: np.ndarray,
    violation: np.ndarray,
    kind: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The revenue at stake in each entry's violation (`kind`), where it violated, and its expectation over the
    patterns' probabilities `p`."""
    g_adcvd, goods, good, n = gt.g_adcvd, gt.goods, pl.good, len(pl.good)
    declared, qty, true_unit = va.declared, va.qty, va.true_unit
    hts, in_scope_now, lower, origin, scope_good = de.hts, de.in_scope_now, de.lower, de.origin, de.scope_good
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
    return true_revenue, expected_revenue
