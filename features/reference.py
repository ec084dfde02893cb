"""Reference knowledge a targeting analyst brings: AD/CVD orders, description vocabulary.

Shared by the feature pipeline and the synthetic generator, so both speak of the same orders.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdcvdOrder:
    """An antidumping/countervailing duty order: goods (HTS-6) and the origins it covers."""

    origins: frozenset[str]
    rate: float  # typical combined cash deposit rate


# Keyed by HTS subheading (6 digits). Rates are orders of magnitude, not Commerce's figures.
ADCVD_ORDERS: dict[str, AdcvdOrder] = {
    "854143": AdcvdOrder(frozenset({"CN"}), 1.10),  # crystalline silicon photovoltaic modules
    "731700": AdcvdOrder(frozenset({"CN", "VN", "MY"}), 1.18),  # steel nails
    "730630": AdcvdOrder(frozenset({"CN", "VN"}), 0.85),  # welded carbon steel pipe
    "760429": AdcvdOrder(frozenset({"CN"}), 0.86),  # aluminum extrusions
    "441231": AdcvdOrder(frozenset({"CN"}), 1.83),  # hardwood plywood
    "732690": AdcvdOrder(frozenset({"CN", "VN", "TW"}), 1.87),  # steel wire garment hangers
    "401110": AdcvdOrder(frozenset({"CN", "TH", "VN"}), 0.76),  # passenger vehicle tires
    "030617": AdcvdOrder(frozenset({"CN", "VN", "IN"}), 1.12),  # frozen warmwater shrimp
}

# Description keyword -> the HTS headings such goods are classified under.
KEYWORD_HEADINGS: dict[str, frozenset[str]] = {
    "t-shirt": frozenset({"6109"}),
    "sweater": frozenset({"6110"}),
    "pullover": frozenset({"6110"}),
    "trousers": frozenset({"6203", "6204"}),
    "towel": frozenset({"6302"}),
    "footwear": frozenset({"6401", "6402", "6403", "6404", "6405"}),
    "shoes": frozenset({"6401", "6402", "6403", "6404", "6405"}),
    "sneakers": frozenset({"6402", "6404"}),
    "handbag": frozenset({"4202"}),
    "wallet": frozenset({"4202"}),
    "watch": frozenset({"9101", "9102"}),
    "jewelry": frozenset({"7113", "7117"}),
    "cosmetic": frozenset({"3304"}),
    "tablets": frozenset({"3004", "2106"}),
    "charger": frozenset({"8504"}),
    "toy": frozenset({"9503"}),
    "smartphone": frozenset({"8517"}),
    "headphones": frozenset({"8518"}),
    "earbuds": frozenset({"8518"}),
    "laptop": frozenset({"8471"}),
    "television": frozenset({"8528"}),
    "fan": frozenset({"8414"}),
    "solar": frozenset({"8541"}),
    "photovoltaic": frozenset({"8541"}),
    "nails": frozenset({"7317"}),
    "pipe": frozenset({"7306"}),
    "tube": frozenset({"7306"}),
    "extrusion": frozenset({"7604"}),
    "plywood": frozenset({"4412"}),
    "hangers": frozenset({"7326"}),
    "tire": frozenset({"4011"}),
    "furniture": frozenset({"9403"}),
    "upholstered": frozenset({"9401"}),
    "brake": frozenset({"8708"}),
    "tomatoes": frozenset({"0702"}),
    "shrimp": frozenset({"0306"}),
    "prawns": frozenset({"0306"}),
    "bicycle": frozenset({"8711", "8712", "8714"}),
    "e-bike": frozenset({"8711"}),
}

# Words that claim a brand: at a low value they are the classic counterfeit signal.
BRAND_WORDS: tuple[str, ...] = ("designer", "luxury", "branded", "replica", "brand name", "logo")
# Descriptions too vague to tell what the goods are.
VAGUE_DESCRIPTIONS: frozenset[str] = frozenset(
    {"gift", "gifts", "accessory", "accessories", "fashion item", "sample", "samples", "goods", "parts", "item"}
)
