"""Deterministic demo distribution zone: grid topology plus smart-meter kWh, hourly or sub-hourly.

The entry points; the parts live in their own modules:

- :mod:`~lascopf_assets.lib.zone.params`: :class:`DemoZoneParams` and its checks;
- :mod:`~lascopf_assets.lib.zone.streams`: the named random streams drawn from the seed;
- :mod:`~lascopf_assets.lib.zone.structure`: meters per junction, skewed junction
  phases (initial imbalance about 0.6 by default, per feeder), meter replacements,
  topology (one source transformer per feeder);
- :mod:`~lascopf_assets.lib.zone.loads`: per-meter profiles and the hourly kWh matrix;
- :mod:`~lascopf_assets.lib.zone.readings`: reading rows as pyarrow tables, each meter-hour
  split into exact sub-hourly intervals when ``interval_minutes < 60``;
- :mod:`~lascopf_assets.lib.zone.writers` and :mod:`~lascopf_assets.lib.zone.glitches`:
  the files, and the bad lines appended to them;
- :mod:`~lascopf_assets.lib.zone.imbalance`: the zone's imbalance figure, and each feeder's.

The same parameters give identical data and identical file bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lascopf_assets.lib.zone.glitches import GLITCH_KINDS, append_glitches
from lascopf_assets.lib.zone.imbalance import imbalance_by_feeder, mean_hourly_imbalance
from lascopf_assets.lib.zone.loads import KWH_DECIMALS, HourlyLoads, draw_meter_profiles, synthesize_hourly_loads
from lascopf_assets.lib.zone.params import INTERVAL_MINUTES, DemoZoneParams
from lascopf_assets.lib.zone.readings import READING_COLUMNS, IntervalSplit, typed_readings
from lascopf_assets.lib.zone.streams import ZoneRandomStreams
from lascopf_assets.lib.zone.structure import (
    PHASES,
    SOURCE_CN,
    GridStructure,
    build_grid_structure,
    draw_meter_counts,
    ground_truth,
)
from lascopf_assets.lib.zone.topology import TOPOLOGY_COLUMNS
from lascopf_assets.lib.zone.writers import FORMATS, write_daily_readings, write_topology

__all__ = [
    "GLITCH_KINDS",
    "INTERVAL_MINUTES",
    "KWH_DECIMALS",
    "PHASES",
    "READING_COLUMNS",
    "SOURCE_CN",
    "TOPOLOGY_COLUMNS",
    "DemoZone",
    "DemoZoneParams",
    "DemoZoneSummary",
    "generate_demo_zone",
    "imbalance_by_feeder",
    "mean_hourly_imbalance",
    "write_demo_zone",
]


@dataclass
class DemoZone:
    """An in-memory demo zone.

    ``readings``: ``meter_id`` (str), ``timestamp`` (datetime64[us, UTC]),
    ``kwh`` (float64, 4 decimals), sorted by timestamp then meter position; one row per
    present meter-hour, or ``params.intervals_per_hour`` rows at the interval starts.
    ``topology``: the rows of ``grid_topology.csv`` (all str, empty = no terminal).
    ``replacements``: ``old_meter_id, new_meter_id, timestamp`` (first hour of the new meter).
    ``meter_kind``: ``"residential"`` or ``"commercial"`` per meter id.
    ``junction_feeder``: the feeder of each junction, named by its source transformer id (``TR1``...).
    """

    params: DemoZoneParams
    readings: pd.DataFrame
    topology: pd.DataFrame
    junction_phase: dict[str, str]
    meter_junction: dict[str, str]
    replacements: pd.DataFrame
    meter_kind: dict[str, str]
    junction_feeder: dict[str, str]

    @property
    def meter_phase(self) -> dict[str, str]:
        """Phase of each meter (its junction's), replacements included."""
        return {m: self.junction_phase[j] for m, j in self.meter_junction.items()}

    @property
    def meter_feeder(self) -> dict[str, str]:
        """Feeder of each meter (its junction's), replacements included."""
        return {m: self.junction_feeder[j] for m, j in self.meter_junction.items()}


@dataclass
class DemoZoneSummary:
    """What ``write_demo_zone`` wrote, plus the ground truth for tests."""

    out_dir: Path
    meters: int  # meter ids in the topology, replacements included
    junctions: int  # over all feeders
    days: int
    rows: int  # reading rows written over all files
    files: int  # reading files written
    paths: list[Path]
    topology_path: Path
    junction_phase: dict[str, str]
    meter_junction: dict[str, str]
    junction_feeder: dict[str, str]  # junction -> its feeder's source transformer id
    replacements: pd.DataFrame = field(repr=False)
    glitches: list[tuple[str, str]] = field(default_factory=list)  # (file name, kind) of each bad line appended

    @property
    def feeders(self) -> list[str]:
        """The feeders (source transformer ids), in feeder order."""
        return list(dict.fromkeys(self.junction_feeder.values()))


@dataclass(frozen=True)
class _Zone:
    structure: GridStructure
    is_commercial: np.ndarray  # per meter position
    hourly: HourlyLoads


def _synthesize(params: DemoZoneParams, streams: ZoneRandomStreams) -> _Zone:
    meter_counts = draw_meter_counts(params, streams.structure)
    profiles = draw_meter_profiles(int(meter_counts.sum()), params.commercial_share, streams.load_profiles)
    structure = build_grid_structure(params, meter_counts, profiles.mean_kwh, streams.structure, streams.replacements)
    hourly = synthesize_hourly_loads(params, profiles, streams.load_noise, streams.missing_readings)
    return _Zone(structure=structure, is_commercial=profiles.is_commercial, hourly=hourly)


def generate_demo_zone(params: DemoZoneParams | None = None) -> DemoZone:
    """Build the whole zone in memory (readings for every day, topology, ground truth)."""
    params = params or DemoZoneParams()
    zone = _synthesize(params, ZoneRandomStreams.from_seed(params.seed))
    structure = zone.structure
    truth = ground_truth(structure, params)
    kinds = np.where(zone.is_commercial[structure.meter_position], "commercial", "residential")
    return DemoZone(
        params=params,
        readings=typed_readings(structure, zone.hourly, 0, params.hours, IntervalSplit.of_zone(params)).to_pandas(),
        topology=structure.topology.copy(),
        junction_phase=truth.junction_phase,
        meter_junction=truth.meter_junction,
        replacements=truth.replacements,
        meter_kind=dict(zip(structure.meter_ids.astype(str).tolist(), kinds.tolist())),
        junction_feeder=truth.junction_feeder,
    )


def write_demo_zone(out_dir: str | Path, params: DemoZoneParams | None = None, fmt: str = "csv") -> DemoZoneSummary:
    """Write ``landing/meter_readings_YYYY-MM-DD.{csv,parquet}`` (one per day) and
    ``topology/grid_topology.csv`` under ``out_dir``; return what was written."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    params = params or DemoZoneParams()
    if params.glitches and fmt != "csv":
        raise ValueError("glitches are written into CSV landing files only")
    out = Path(out_dir)
    landing, topology_dir = out / "landing", out / "topology"
    landing.mkdir(parents=True, exist_ok=True)
    topology_dir.mkdir(parents=True, exist_ok=True)

    streams = ZoneRandomStreams.from_seed(params.seed)
    zone = _synthesize(params, streams)
    topology_path = topology_dir / "grid_topology.csv"
    write_topology(zone.structure.topology, topology_path)
    paths, rows = write_daily_readings(landing, params, zone.structure, zone.hourly, fmt)
    glitches = append_glitches(paths, params.glitches, streams.glitch_files) if fmt == "csv" else []
    truth = ground_truth(zone.structure, params)
    return DemoZoneSummary(
        out_dir=out,
        meters=len(zone.structure.meter_ids),
        junctions=params.total_junctions,
        days=params.days,
        rows=rows,
        files=len(paths),
        paths=paths,
        topology_path=topology_path,
        junction_phase=truth.junction_phase,
        meter_junction=truth.meter_junction,
        junction_feeder=truth.junction_feeder,
        replacements=truth.replacements,
        glitches=glitches,
    )
