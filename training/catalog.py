"""Reference tables the synthetic generator draws from: goods, countries, ports, carriers.

Prices, weights and duty rates are plausible orders of magnitude, not tariff data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Good:
    """One kind of goods with its declared HTS line and how it trades (AD/CVD scope: features.reference)."""

    hts: str
    descriptions: tuple[str, ...]
    unit: str
    unit_price: float  # typical transaction value per reporting unit, USD
    kg_per_unit: float
    duty: float  # ad valorem rate
    pga: bool = False  # regulated by a partner agency (FDA, CPSC)
    brand: bool = False  # counterfeit-prone
    parcel: bool = False  # sold to consumers in small parcels
    forced_labour: bool = False  # a UFLPA priority sector
    lower_duty_hts: str | None = None  # the code a misclassifier declares instead


GOODS: tuple[Good, ...] = (
    Good(
        "6109100012",
        ("men's cotton t-shirts", "cotton t-shirt knit"),
        "DOZ",
        38.0,
        2.4,
        0.165,
        brand=True,
        parcel=True,
        forced_labour=True,
        lower_duty_hts="6307909891",
    ),
    Good(
        "6110202079",
        ("cotton sweaters knitted", "cotton pullover sweater"),
        "DOZ",
        120.0,
        6.0,
        0.165,
        brand=True,
        parcel=True,
        forced_labour=True,
        lower_duty_hts="6307909891",
    ),
    Good(
        "6204624011",
        ("women's cotton trousers", "cotton denim trousers"),
        "DOZ",
        95.0,
        7.0,
        0.166,
        forced_labour=True,
        lower_duty_hts="6307909891",
    ),
    Good("6302600020", ("cotton terry towels", "cotton bath towel"), "NO", 2.5, 0.5, 0.091, forced_labour=True),
    Good(
        "6403999065",
        ("leather footwear men's", "leather shoes"),
        "PRS",
        18.0,
        1.1,
        0.10,
        brand=True,
        parcel=True,
        lower_duty_hts="6406909000",
    ),
    Good(
        "6404110000",
        ("athletic shoes sneakers", "sports shoes textile upper"),
        "PRS",
        14.0,
        0.9,
        0.20,
        brand=True,
        parcel=True,
        lower_duty_hts="6406909000",
    ),
    Good(
        "4202210000",
        ("leather handbags", "handbag with leather outer surface"),
        "NO",
        45.0,
        0.8,
        0.09,
        brand=True,
        parcel=True,
        lower_duty_hts="3926909985",
    ),
    Good(
        "4202310000",
        ("leather wallets", "wallet leather card holder"),
        "NO",
        8.0,
        0.15,
        0.08,
        brand=True,
        parcel=True,
        lower_duty_hts="3926909985",
    ),
    Good("9102110000", ("wrist watches quartz", "wrist watch"), "NO", 25.0, 0.2, 0.064, brand=True, parcel=True),
    Good(
        "7117190000",
        ("imitation jewelry necklace", "imitation jewelry earrings"),
        "NO",
        3.0,
        0.05,
        0.11,
        brand=True,
        parcel=True,
    ),
    Good(
        "3304990000",
        ("cosmetic face cream", "cosmetic lipstick set"),
        "NO",
        6.0,
        0.2,
        0.0,
        pga=True,
        brand=True,
        parcel=True,
    ),
    Good("3004909290", ("vitamin tablets", "dietary supplement tablets"), "NO", 12.0, 0.3, 0.0, pga=True, parcel=True),
    Good("8504404000", ("usb phone charger", "power adapter charger"), "NO", 4.0, 0.15, 0.0, pga=True, parcel=True),
    Good("9503000073", ("plastic toy figures", "children's toy doll"), "NO", 5.0, 0.4, 0.0, pga=True, parcel=True),
    Good("8517130000", ("smartphone", "mobile smartphone 128gb"), "NO", 180.0, 0.4, 0.0, brand=True, parcel=True),
    Good(
        "8518300000",
        ("wireless earbuds headphones", "bluetooth headphones"),
        "NO",
        12.0,
        0.2,
        0.049,
        brand=True,
        parcel=True,
    ),
    Good("8471300100", ("laptop computer", "notebook laptop"), "NO", 400.0, 2.5, 0.0),
    Good("8528720000", ("led television 55 inch", "television set"), "NO", 250.0, 14.0, 0.039),
    Good("8414510000", ("electric table fan", "household fan"), "NO", 15.0, 3.0, 0.047),
    Good(
        "8541430010",
        ("solar module 400w", "photovoltaic solar panel"),
        "NO",
        110.0,
        22.0,
        0.0,
        forced_labour=True,
        lower_duty_hts="8501610000",
    ),
    Good("7317005503", ("steel nails collated", "steel wire nails"), "KG", 1.3, 1.0, 0.0, lower_duty_hts="7318158069"),
    Good(
        "7306306000",
        ("welded steel pipe", "carbon steel tube welded"),
        "KG",
        1.1,
        1.0,
        0.0,
    ),
    Good(
        "7604291010",
        ("aluminum extrusion profiles", "aluminium extrusion bars"),
        "KG",
        4.0,
        1.0,
        0.05,
        forced_labour=True,
        lower_duty_hts="7616995190",
    ),
    Good(
        "4412310520",
        ("hardwood plywood panels", "plywood sheets hardwood"),
        "M2",
        12.0,
        7.0,
        0.08,
    ),
    Good(
        "7326908688",
        ("steel wire garment hangers", "wire hangers"),
        "NO",
        0.05,
        0.04,
        0.039,
    ),
    Good(
        "4011101000",
        ("passenger car tires", "radial tire 16 inch"),
        "NO",
        45.0,
        10.0,
        0.04,
        lower_duty_hts="4016995010",
    ),
    Good("9403600080", ("wooden furniture cabinet", "wood bedroom furniture"), "NO", 80.0, 25.0, 0.0),
    Good("9401610000", ("upholstered wooden chair", "upholstered seat wood frame"), "NO", 120.0, 20.0, 0.0),
    Good("8708309000", ("brake pads auto parts", "vehicle brake parts"), "NO", 30.0, 3.0, 0.025, forced_labour=True),
    Good("0702000099", ("fresh tomatoes", "tomatoes fresh chilled"), "KG", 1.5, 1.0, 0.039, forced_labour=True),
    Good(
        "0306170040",
        ("frozen shrimp peeled", "frozen prawns"),
        "KG",
        8.0,
        1.0,
        0.0,
    ),
    Good(
        "8711600050", ("electric bicycle", "e-bike pedal assist"), "NO", 450.0, 25.0, 0.0, lower_duty_hts="8714990000"
    ),
)

# The codes misclassifiers declare; each is also a legitimate line of its own.
LOWER_DUTY_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "6307909891": ("textile made up articles", "cleaning cloths textile"),
    "6406909000": ("parts of footwear", "shoe insoles"),
    "3926909985": ("plastic articles", "plastic storage boxes"),
    "8501610000": ("ac generator", "generating set parts"),
    "7318158069": ("steel screws and bolts", "bolts with nuts steel"),
    "7616995190": ("aluminum articles", "aluminium ladder"),
    "4016995010": ("rubber articles", "rubber seals"),
    "8714990000": ("bicycle parts", "bicycle frames and forks"),
}

# Where goods come from, with shares of formal-entry volume.
ORIGINS: dict[str, float] = {
    "CN": 0.34,
    "MX": 0.10,
    "VN": 0.08,
    "CA": 0.07,
    "DE": 0.05,
    "IN": 0.05,
    "JP": 0.04,
    "KR": 0.04,
    "TW": 0.04,
    "TH": 0.03,
    "MY": 0.03,
    "IT": 0.03,
    "IE": 0.02,
    "FR": 0.02,
    "GB": 0.02,
    "KH": 0.02,
    "ID": 0.01,
    "BD": 0.01,
}
PARCEL_ORIGINS: dict[str, float] = {
    "CN": 0.62,
    "HK": 0.14,
    "GB": 0.05,
    "KR": 0.04,
    "JP": 0.04,
    "DE": 0.03,
    "VN": 0.03,
    "TR": 0.03,
    "CA": 0.02,
}
# Third countries through which Chinese goods are routed to evade AD/CVD orders.
TRANSIT: tuple[str, ...] = ("VN", "MY", "TH", "KH")
# Legitimate hubs that often export goods made elsewhere.
HUBS: tuple[str, ...] = ("HK", "SG", "NL", "AE")

SEAPORTS: tuple[str, ...] = ("2704", "1001", "5301", "1601", "3002", "1703")
LANDPORTS: tuple[str, ...] = ("2304", "3801", "0901")
AIRPORTS: tuple[str, ...] = ("4701", "2720", "4102", "2006", "3901")
OCEAN_CARRIERS: tuple[str, ...] = ("MAEU", "MSCU", "CMDU", "COSU", "EGLV", "ONEY", "HLCU")
TRUCK_CARRIERS: tuple[str, ...] = ("SWFT", "JBHT", "SCNN", "XPOL")
AIR_CARRIERS: tuple[str, ...] = ("FX", "5X", "DHL", "CK", "CA")
POST_CARRIERS: tuple[str, ...] = ("USPS", "CNPOST", "HKPOST")
MARKETPLACES: tuple[str, ...] = ("shopmart", "bazaarly", "quickcart", "globuy", "dealhub", "tinytrade")
FILERS: tuple[str, ...] = ("ABC", "K01", "EXP", "FDX", "UPS", "DHL", "BRK", "M9T", "ZQ4", "TRD", "NXB", "P2P")
CITY_CODES: tuple[str, ...] = (
    "SHA",
    "SHE",
    "NIN",
    "GUA",
    "HCM",
    "HAN",
    "KUA",
    "BAN",
    "PHN",
    "MUM",
    "TOK",
    "SEO",
    "TAI",
    "MEX",
    "TOR",
    "HAM",
    "MIL",
    "DUB",
    "PAR",
    "LON",
)
