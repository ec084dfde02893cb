"""The code lists an entry's fields take their values from: countries, entry types, transport modes, units, and
what an inspection can find."""

from __future__ import annotations

from enum import StrEnum

# ISO 3166-1 alpha-2, officially assigned codes.
_ISO_CODES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW"
)
ISO_COUNTRIES = frozenset(_ISO_CODES.split())


class EntryType(StrEnum):
    """CBP entry type codes handled by the service."""

    FORMAL = "01"
    INFORMAL = "11"
    DE_MINIMIS = "86"


class TransportMode(StrEnum):
    """Census mode-of-transport codes (CBP 7501 block 9)."""

    VESSEL = "10"
    VESSEL_CONTAINER = "11"
    RAIL = "20"
    RAIL_CONTAINER = "21"
    TRUCK = "30"
    TRUCK_CONTAINER = "31"
    AIR = "40"
    AIR_CONTAINER = "41"
    MAIL = "50"
    HAND_CARRIED = "60"


class QuantityUnit(StrEnum):
    """HTS reporting units (a subset of the CBP unit table)."""

    NO = "NO"
    PCS = "PCS"
    KG = "KG"
    DOZ = "DOZ"
    PRS = "PRS"
    M2 = "M2"
    M = "M"
    L = "L"
    DPR = "DPR"
    X = "X"


class Violation(StrEnum):
    """What an inspection can find (docs/domain.md, "Violation patterns")."""

    UNDERVALUATION = "undervaluation"
    TRANSSHIPMENT = "transshipment"  # AD/CVD evasion by transshipment or origin misdescription
    COUNTERFEIT = "counterfeit"
    MISCLASSIFICATION = "misclassification"
    UNSAFE = "unsafe"
    FORCED_LABOUR = "forced_labour"
    OTHER = "other"
