"""A local copy of each model version the service loads, so that it can start while the registry is
unreachable. Each copy carries a SHA-256 manifest; a copy that does not match it is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class CorruptModel(RuntimeError):
    """A model's files are damaged or incomplete."""


def file_digests(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file in `folder` (its manifest excepted), by path inside it."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def check_digests(folder: Path, digests: dict[str, str], what: str) -> None:
    """Every file the training run recorded is in `folder` with the same SHA-256; CorruptModel if not. Files are
    named by their path inside the model; versions registered before every file was covered name their artifact
    files alone, and are found by name."""
    found = file_digests(folder)
    by_name = {Path(path).name: digest for path, digest in found.items()}
    for name, digest in digests.items():
        got = found.get(name, by_name.get(name))
        if got is None:
            raise CorruptModel(f"{what}: file {name} is missing from its artifact")
        if got != digest:
            raise CorruptModel(
                f"{what}: file {name} is damaged (its SHA-256 differs from the one recorded at training)"
            )


def version_dir(cache: Path, name: str, version: int) -> Path:
    return cache / name / str(version)


def store(cache: Path, name: str, version: int, downloaded: Path, info: dict[str, Any]) -> Path:
    """Move a downloaded model into the cache with its manifest; returns its folder. Several processes may store
    one version at once (the workers of a service starting together): each stages its own copy, the first
    rename wins, and the others keep the winner's copy once it checks out."""
    target = version_dir(cache, name, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".partial", dir=target.parent))
    try:
        shutil.copytree(downloaded, staging, dirs_exist_ok=True)
        (staging / MANIFEST).write_text(json.dumps({"files": file_digests(staging), "info": info}, indent=1))
        for _ in range(3):
            try:
                staging.rename(target)  # a copy is either complete or absent
                return target
            except OSError:  # a copy is there: another process's, or the damaged one this replaces
                try:
                    verify(target)
                    return target
                except CorruptModel:
                    shutil.rmtree(target, ignore_errors=True)
        raise CorruptModel(f"model copy {target} could not be replaced")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def verify(folder: Path) -> dict[str, Any]:
    """The copy's info if every file matches its manifest; CorruptModel naming the first that does not."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise CorruptModel(f"model copy {folder} has no readable manifest ({type(exc).__name__})") from exc
    found = file_digests(folder)
    for path, digest in manifest["files"].items():
        if found.get(path) != digest:
            raise CorruptModel(
                f"model file {folder / path} is {'missing' if path not in found else 'corrupt'}: "
                "its SHA-256 does not match the manifest"
            )
    info: dict[str, Any] = manifest["info"]
    return info


def remember(cache: Path, name: str, alias: str, version: int) -> None:
    """Note which version `name@alias` resolved to, for a start without the registry."""
    pointer = cache / name / f"@{alias}"
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(str(version))
    tmp.replace(pointer)


def recall(cache: Path, name: str, alias: str) -> int | None:
    """The version `name@alias` last resolved to, if it was cached."""
    pointer = cache / name / f"@{alias}"
    return int(pointer.read_text()) if pointer.exists() else None
