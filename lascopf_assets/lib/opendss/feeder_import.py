"""Import an OpenDSS feeder: ``topology/grid_topology.csv`` and daily landing files of kWh per interval.

The model itself is registered in ``topology/opendss_models.json`` (feeder -> master, shape), so the
``phase_change_impact`` asset finds the circuit of a feeder the platform balances.

Readings come from the loads' shapes as the engine holds them (after the master's ``batchedit``s):
a load of nominal ``kW`` on a shape of multipliers ``m_k`` (or of actual kW, ``useactual``) draws
``P_k = kW * m_k`` over point ``k`` of length ``dt`` hours, so the meter's reading for that interval is

    kWh_k = P_k * dt

at the shapes' own resolution (the European LV feeder's 1,440 one-minute points, IEEE 123's 8,760
hours). A shape shorter than the horizon repeats, as the engine's does; a load with no shape draws its
nominal kW in every interval. Interval ``k`` starts at ``start + k * dt`` (UTC). Files are the long
landing layout, one per day: ``landing/meter_readings_YYYY-MM-DD.csv`` (``meter_id, timestamp, kwh``).

Only meters under a junction get readings (the platform balances junctions; a three-phase load's
readings would be quarantined as ``meter_unknown``); loads left out are listed in the summary.
The European LV reader of phase balancing (:mod:`lascopf_assets.lib.phase_balance.lv_feeder`) reads
the same feeder's text files for the CLI; the tests check both give the same kW.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lascopf_assets.lib.opendss.circuit import Circuit
from lascopf_assets.lib.opendss.engine import compile_circuit
from lascopf_assets.lib.opendss.topology import FeederTopology, feeder_topology

STATIC_HOURS = 24  # horizon of a feeder whose loads have no shape


@dataclass
class LoadProfiles:
    """kW per load (rows, in ``names`` order) and point (columns); ``hours`` per point."""

    names: list[str]
    kw: np.ndarray
    hours: float

    @property
    def steps(self) -> int:
        return self.kw.shape[1]


def load_profiles(circuit: Circuit, names: list[str] | None = None) -> LoadProfiles:
    """The kW profile of each load (see the module docstring), all on one time base."""
    loads = [ld for ld in circuit.loads if names is None or ld.name in set(names)]
    shaped = {circuit.shapes[ld.shape].hours for ld in loads if ld.shape}
    if len(shaped) > 1:
        raise ValueError(f"load shapes of different intervals ({sorted(shaped)} h) cannot share one time base")
    hours = shaped.pop() if shaped else 1.0
    points = [len(circuit.shapes[ld.shape].mult) for ld in loads if ld.shape]
    steps = max(points) if points else int(STATIC_HOURS / hours)
    kw = np.empty((len(loads), steps))
    for r, ld in enumerate(loads):
        kw[r] = np.resize(circuit.shapes[ld.shape].load_kw(ld.kw), steps) if ld.shape else ld.kw
    return LoadProfiles([ld.name for ld in loads], kw, hours)


@dataclass
class ImportSummary:
    out_dir: Path
    topology_path: Path
    landing_files: list[Path]
    readings: int
    summary: dict


def _day_files(landing: Path, meters: np.ndarray, kwh: np.ndarray, hours: float, start: dt.date) -> tuple[list[Path], int]:
    """Long CSV per day; ``kwh`` is ``(meters, steps)``."""
    per_day = round(24 / hours)
    if abs(per_day * hours - 24) > 1e-9:
        raise ValueError(f"{hours} h intervals do not fill a day")
    base = pd.Timestamp(start, tz="UTC")
    step_seconds = round(hours * 3600)
    paths, rows = [], 0
    for d0 in range(0, kwh.shape[1], per_day):
        block = kwh[:, d0:d0 + per_day]
        n = block.shape[1]
        # whole seconds: (k * hours) in float hours would print 00:01:59 for the third minute
        stamps = (base + pd.to_timedelta((d0 + np.arange(n)) * step_seconds, unit="s")).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        frame = pd.DataFrame({
            "meter_id": np.repeat(meters, n),
            "timestamp": np.tile(np.asarray(stamps), len(meters)),
            "kwh": block.reshape(-1),
        })
        day = (base + pd.Timedelta(seconds=d0 * step_seconds)).date()
        path = landing / f"meter_readings_{day.isoformat()}.csv"
        frame.to_csv(path, index=False, float_format="%.9g", lineterminator="\n")
        paths.append(path)
        rows += len(frame)
    return paths, rows


def import_feeder(master: str | Path, out_dir: str | Path, start: dt.date = dt.date(2023, 1, 1),
                  shape_file: str | Path | None = None) -> ImportSummary:
    """Write ``out_dir/topology/grid_topology.csv``, ``out_dir/landing/*.csv`` and ``out_dir/feeder_import.json``."""
    from lascopf_assets.lib.opendss.circuit import read_circuit

    ctx = compile_circuit(master, shape_file)
    circuit = read_circuit(ctx)
    ft = feeder_topology(circuit)
    out = Path(out_dir)
    (out / "topology").mkdir(parents=True, exist_ok=True)
    landing = out / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    topology_path = out / "topology" / "grid_topology.csv"
    ft.frame.to_csv(topology_path, index=False, lineterminator="\n")
    meter_load = {m: ld for ld, m in ft.load_meter.items()}
    metered = ft.meters["meter_id"].tolist()
    profiles = load_profiles(circuit, [meter_load[m] for m in metered])
    row_of = {name: r for r, name in enumerate(profiles.names)}
    kwh = profiles.kw[[row_of[meter_load[m]] for m in metered]] * profiles.hours
    files, rows = _day_files(landing, np.asarray(metered, dtype=object), kwh, profiles.hours, start)
    summary = _summary(master, circuit, ft, profiles, kwh, start)
    (out / "feeder_import.json").write_text(json.dumps(summary, indent=1) + "\n")
    register_model(out / "topology", summary["feeder"], master, shape_file)
    return ImportSummary(out, topology_path, files, rows, summary)


MODELS_FILE = "opendss_models.json"


def register_model(topology_dir: Path, feeder: str, master, shape_file=None) -> Path:
    """Record in ``topology_dir/opendss_models.json`` which OpenDSS model a feeder has (``phase_change_impact`` reads it)."""
    path = Path(topology_dir) / MODELS_FILE
    models = json.loads(path.read_text()) if path.is_file() else {}
    models[feeder] = {"master": str(Path(master).resolve()), "shape": None if shape_file is None else str(Path(shape_file).resolve())}
    path.write_text(json.dumps(models, indent=1, sort_keys=True) + "\n")
    return path


def feeder_models(topology_dir: Path) -> dict[str, dict]:
    """``feeder -> {"master", "shape"}`` registered beside the topology files ({} when none)."""
    path = Path(topology_dir) / MODELS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _summary(master, circuit: Circuit, ft: FeederTopology, profiles: LoadProfiles, kwh: np.ndarray, start) -> dict:
    metered = set(ft.meters["meter_id"])
    by_phase = ft.meters.assign(kwh=kwh.sum(axis=1)).groupby("phase")["kwh"].sum()
    total = kwh.sum(axis=0) / profiles.hours
    return {
        "master": str(Path(master).resolve()),
        "circuit": circuit.name,
        "feeder": ft.source_transformer.split(".", 1)[1],
        "start": start.isoformat(),
        "interval_minutes": profiles.hours * 60,
        "intervals": profiles.steps,
        "elements": len(ft.frame),
        "junctions": len(ft.junctions),
        "junctions_by_phase": {k: int(v) for k, v in ft.junctions["phase"].value_counts().sort_index().items()},
        "meters_with_readings": len(metered),
        "kwh_by_phase": {k: float(v) for k, v in by_phase.items()},
        "peak_kw": float(total.max()) if total.size else 0.0,
        "peak_interval": int(total.argmax()) if total.size else None,
        "loads_without_readings": sorted(ld for ld, m in ft.load_meter.items() if m not in metered),
        "line_to_line_loads": ft.line_to_line_loads,
        "elements_above_head": ft.above_head,
        "unreached": ft.unreached,
    }
