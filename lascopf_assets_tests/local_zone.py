"""Point the local profile at a test's own data folder, and a demo zone ingested there."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from lascopf_assets.defs.profile import PROFILE_ENV
from lascopf_assets.defs.resources import DATA_DIR_ENV, FEEDER_HEADS_ENV, PATH_ENV
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

INGEST = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]


def use_local_data_dir(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    """Local profile, everything under ``data`` (no LASCOPF_*_DIR from the developer's shell leaks in)."""
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    monkeypatch.setenv(PROFILE_ENV, "local")
    for name in [*PATH_ENV.values(), FEEDER_HEADS_ENV]:
        monkeypatch.delenv(name, raising=False)


@dataclass
class IngestedZone:
    data: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    run: Callable[..., dg.ExecuteInProcessResult]  # run(selection, **materialize kwargs)


@contextlib.contextmanager
def ingested_demo_zone(data: Path, params: DemoZoneParams, days: list[str]) -> Iterator[IngestedZone]:
    """A demo zone written to ``data``, its topology and ``days`` ingested on the local profile."""
    write_demo_zone(data, params)
    with pytest.MonkeyPatch.context() as mp:
        use_local_data_dir(mp, data)
        from lascopf_assets.definitions import defs

        d = defs()
        instance = dg.DagsterInstance.ephemeral()

        def run(selection, **kwargs):
            return dg.materialize(list(d.assets), selection=selection, resources=d.resources, instance=instance, **kwargs)

        assert run(["grid_topology"]).success
        for day in days:
            assert run(INGEST, partition_key=day).success
        yield IngestedZone(data, d, instance, run)
