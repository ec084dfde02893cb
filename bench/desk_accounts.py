"""The account pages and the list by risk in bench/desk.py's million-decision database: the profiles of the
generated entries (as `targeting history load` builds them, then their decisions' score sums), bonds for a
thousand importers, and the timings of the API and the desk pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
from desk_queue import timed
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions import store
from decisions.accounts import EXPOSURE_DAYS
from features.history import HistoryProfiles
from features.pipeline import prepare
from features.spec import BUILTIN_SPEC

BONDED = 1_000


def load_accounts(engine: Engine, frame: pd.DataFrame) -> dict[str, Any]:
    """Profiles of every account in `frame`, score sums from the decisions filled, and bonds: a thousand
    importers, bonded at 0.5 to 2 times their exposure so that about half exceed it."""
    profiles = HistoryProfiles.from_frame(prepare(frame, BUILTIN_SPEC), BUILTIN_SPEC, pd.Timestamp.now(tz="UTC"))
    with Session(engine) as session:
        written = store.replace_profiles(session, profiles.counts)
        store.accounts.recount_from_decisions(session)
        importers = frame["importer_id"].drop_duplicates()
        importers = importers.sample(min(BONDED, len(importers)), random_state=4)
        for importer in importers:
            store.accounts.set_bond(session, str(importer), 1.0, "bench")
        exposed = store.accounts.exposures(session, (datetime.now(UTC) - timedelta(days=EXPOSURE_DAYS)).date())
        factors = np.random.default_rng(11).uniform(0.5, 2.0, len(exposed))
        for (importer, (_, exposure)), factor in zip(sorted(exposed.items()), factors):
            store.accounts.set_bond(session, importer, max(float(factor) * exposure, 1.0), "bench")
        session.commit()
    return {"profiles": written, "bonded_importers": len(importers)}


def _deep(client: httpx.Client, url: str, depth: int) -> str:
    """The URL of page `depth + 1` of the list, following each page's cursor."""
    for _ in range(depth):
        after = client.get(url).json()["next"]
        url = str(httpx.URL(url).copy_set_param("after", after))
    return url


def account_pages(
    base: str, key: str, desk: httpx.Client, frame: pd.DataFrame, repeat: int, depth: int
) -> dict[str, Any]:
    """Timings of the list (API and desk page, first and deep, by kind, over bond) and of account pages
    (the busiest importer, a median one, the busiest manufacturer)."""
    importers = frame["importer_id"].value_counts()
    busy, median = str(importers.index[0]), str(importers.index[len(importers) // 2])
    maker = str(frame["manufacturer_id"].value_counts().index[0])
    with httpx.Client(base_url=base, timeout=900, headers={"Authorization": f"Bearer {key}"}) as api:
        cases = {
            "API list, importers by risk": (api, "/v1/accounts?kind=importer&limit=50"),
            f"API list, {depth + 1}th page": (api, _deep(api, "/v1/accounts?kind=importer&limit=50", depth)),
            "API list, manufacturers by risk": (api, "/v1/accounts?kind=manufacturer&limit=50"),
            "API list, importers over their bond": (api, "/v1/accounts?kind=importer&over_bond=true&limit=50"),
            "API account, busiest importer": (api, f"/v1/accounts/importer/{quote(busy)}"),
            "desk list page": (desk, "/desk/accounts?kind=importer"),
            "desk list page, over bond": (desk, "/desk/accounts?kind=importer&over_bond=1"),
            "desk account page, busiest importer": (desk, f"/desk/accounts/importer/{quote(busy, safe='')}"),
            "desk account page, median importer": (desk, f"/desk/accounts/importer/{quote(median, safe='')}"),
            "desk account page, busiest manufacturer": (desk, f"/desk/accounts/manufacturer/{quote(maker, safe='')}"),
        }
        out = {}
        for name, (client, url) in cases.items():
            out[name] = timed(client, [url] * repeat)
            out[name].pop("page")
            print(f"  {name}: p50 {out[name]['ms']['p50']:,.1f} ms, p95 {out[name]['ms']['p95']:,.1f}", flush=True)
    return {"pages": out, "busiest_importer_entries": int(importers.iloc[0]), "median_importer_entries":
            int(importers.iloc[len(importers) // 2])}  # fmt: skip
