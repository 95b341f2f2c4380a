"""Shared fixtures: the published PowerLASCOPF legacy cases live outside the repo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LEGACY_DIR = (REPO_ROOT / ".." / "shared" / "data" / "lascopf_legacy").resolve()


@pytest.fixture(scope="session")
def legacy_dir() -> Path:
    if not (LEGACY_DIR / "Gen5.txt").is_file():
        pytest.skip(f"legacy PowerLASCOPF cases not found at {LEGACY_DIR} (expected ../shared/data/lascopf_legacy)")
    return LEGACY_DIR


def with_scaled_ratings(network, factor: float):
    """The same network with every branch rating (normal, and MATPOWER's rateB/rateC where read) multiplied by ``factor``."""
    br = network.branch.copy()
    for column in ("rate_mw", "rate_b_mw", "rate_c_mw"):
        if column in br:
            br[column] = br[column] * factor
    return dataclasses.replace(network, branch=br)
