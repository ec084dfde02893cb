"""Per-entry derived columns for the built-in entry schema: ratios, flags, HTS levels, text signals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.reference import ADCVD_ORDERS, BRAND_WORDS, KEYWORD_HEADINGS, VAGUE_DESCRIPTIONS

DE_MINIMIS_TYPE = "86"


def heading_words(description: str) -> dict[str, frozenset[str]]:
    """The words of a description that name goods, each with the HTS headings such goods fall under."""
    lower = description.lower()
    return {word: headings for word, headings in KEYWORD_HEADINGS.items() if word in lower}


def _text_flags(descriptions: pd.Series) -> pd.DataFrame:
    """Brand, vagueness and heading keywords per description, computed once per distinct text."""
    uniq = pd.Series(descriptions.dropna().unique(), dtype=object)
    lower = uniq.str.lower()
    brand = lower.map(lambda d: any(w in d for w in BRAND_WORDS))
    vague = lower.str.strip().isin(VAGUE_DESCRIPTIONS)
    headings = uniq.map(lambda d: frozenset().union(*heading_words(d).values()))
    table = pd.DataFrame(
        {"brand": brand.to_numpy(), "vague": vague.to_numpy(), "headings": headings.to_numpy()}, index=uniq.to_numpy()
    )
    return table.reindex(descriptions.to_numpy())


def derive_entry_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with the derived columns added (the input is not modified)."""
    out = frame.copy()
    hts = out["hts_code"].astype("string")
    value = out["declared_value_usd"].astype(float)
    qty = out["quantity"].astype(float)
    weight = out["gross_weight_kg"].astype(float)
    origin = out["country_of_origin"].astype("string")
    out["hts_chapter"] = hts.str[:2]
    out["hts_heading"] = hts.str[:4]
    out["hts6"] = hts.str[:6]
    out["unit_value"] = value / qty
    out["value_per_kg"] = value / weight
    out["kg_per_unit"] = weight / qty
    out["origin_differs_from_export"] = (origin != out["country_of_export"].astype("string")).astype(float)
    out["mid_country_differs_from_origin"] = (out["manufacturer_id"].astype("string").str[:2] != origin).astype(float)
    out["is_de_minimis"] = (out["entry_type"].astype("string") == DE_MINIMIS_TYPE).astype(float)
    case = out["adcvd_case_no"] if "adcvd_case_no" in out else pd.Series(None, index=out.index, dtype=object)
    has_case = case.notna() & (case.astype("string").str.len() > 0)
    out["has_adcvd_case"] = has_case.astype(float)
    in_scope = [
        (order := ADCVD_ORDERS.get(h6)) is not None and o in order.origins
        for h6, o in zip(out["hts6"].fillna(""), origin.fillna(""))
    ]
    out["adcvd_scope_without_case"] = (np.array(in_scope, dtype=bool) & ~has_case.to_numpy()).astype(float)
    text = _text_flags(out["description"].astype(object))
    out["desc_brand_word"] = text["brand"].fillna(False).to_numpy(dtype=float)
    out["desc_vague"] = text["vague"].fillna(False).to_numpy(dtype=float)
    out["desc_hts_mismatch"] = np.array(
        [
            isinstance(h, frozenset) and bool(h) and hh not in h
            for h, hh in zip(text["headings"], out["hts_heading"].fillna(""))
        ],
        dtype=float,
    )
    out["round_value"] = ((value >= 100) & (np.mod(value, 100) == 0)).astype(float)
    return out
