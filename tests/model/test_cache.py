"""The local copies of model versions: several processes storing one version at once all end with a good copy."""

from __future__ import annotations

import threading
from pathlib import Path

from model import cache


def test_workers_storing_one_version_together_all_get_the_copy(tmp_path: Path) -> None:
    downloaded = tmp_path / "download"
    (downloaded / "artifacts").mkdir(parents=True)
    (downloaded / "MLmodel").write_text("flavors: {}\n")
    (downloaded / "artifacts" / "booster.txt").write_bytes(b"tree\n" * 50_000)
    folders: list[Path] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        try:
            start.wait()
            folders.append(cache.store(tmp_path / "cache", "shipment-risk", 3, downloaded, {"version": 3}))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(folders) == 8 and len(set(folders)) == 1
    assert cache.verify(folders[0]) == {"version": 3}
    assert sorted(p.name for p in folders[0].parent.iterdir()) == ["3"]  # no staging copy left behind


def test_a_damaged_copy_is_replaced(tmp_path: Path) -> None:
    downloaded = tmp_path / "download"
    downloaded.mkdir()
    (downloaded / "MLmodel").write_text("flavors: {}\n")
    folder = cache.store(tmp_path / "cache", "m", 1, downloaded, {"version": 1})
    (folder / "MLmodel").write_text("damaged")
    again = cache.store(tmp_path / "cache", "m", 1, downloaded, {"version": 1})
    assert again == folder and cache.verify(again) == {"version": 1}
