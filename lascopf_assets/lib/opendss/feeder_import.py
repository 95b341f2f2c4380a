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

**One more feeder of a zone** (:func:`add_to_zone`): a zone already holding other feeders (the demo's)
gets the circuit as one more feeder. Every element id and connectivity node of the circuit is prefixed
(``lv-``: OpenDSS feeders name their buses ``1``, ``2``, ... and their transformer ``tr1``, which a
zone's own names may also use, and the feeder's name is its head's id), its rows are added to every
topology version file of the zone, and its readings go to ``landing/<prefix>meter_readings_<day>.csv``.
The registered model records the prefix, so :func:`model_changes` turns the platform's junction ids
back into the circuit's. A file whose bytes would not change is not rewritten (the landing and topology
sensors see nothing new).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lascopf_assets.lib.opendss.circuit import Circuit
from lascopf_assets.lib.opendss.engine import CircuitError, compile_circuit
from lascopf_assets.lib.opendss.topology import FeederTopology, feeder_topology
from lascopf_assets.lib.zone.topology import TopologyError, build_topology

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


def _day_files(landing: Path, meters: np.ndarray, kwh: np.ndarray, hours: float, start: dt.date,
               name_prefix: str = "") -> tuple[list[Path], int]:
    """Long CSV per day, ``<name_prefix>meter_readings_<day>.csv``; ``kwh`` is ``(meters, steps)``."""
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
        path = landing / f"{name_prefix}meter_readings_{day.isoformat()}.csv"
        _write_if_changed(path, frame.to_csv(index=False, float_format="%.9g", lineterminator="\n"))
        paths.append(path)
        rows += len(frame)
    return paths, rows


def _write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it; return whether it was written."""
    data = text.encode("utf-8")
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def prefixed(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The topology rows with ``prefix`` before every element id and connectivity node (an empty terminal stays empty)."""
    if not prefix:
        return frame
    out = frame.copy()
    for col in ("grid_element_id", "terminal1_cn", "terminal2_cn"):
        values = out[col].fillna("").astype(str)
        out[col] = values.where(values == "", prefix + values)
    return out


@dataclass
class _Feeder:
    circuit: Circuit
    ft: FeederTopology
    frame: pd.DataFrame  # topology rows, prefixed
    meters: np.ndarray  # meter ids with readings, prefixed
    kwh: np.ndarray  # (meters, steps)
    profiles: LoadProfiles
    summary: dict


def _read_feeder(master, start: dt.date, shape_file, prefix: str) -> _Feeder:
    from lascopf_assets.lib.opendss.circuit import read_circuit

    ctx = compile_circuit(master, shape_file)
    circuit = read_circuit(ctx)
    ft = feeder_topology(circuit)
    meter_load = {m: ld for ld, m in ft.load_meter.items()}
    metered = ft.meters["meter_id"].tolist()
    profiles = load_profiles(circuit, [meter_load[m] for m in metered])
    row_of = {name: r for r, name in enumerate(profiles.names)}
    kwh = profiles.kw[[row_of[meter_load[m]] for m in metered]] * profiles.hours
    summary = _summary(master, circuit, ft, profiles, kwh, start)
    summary["feeder"] = prefix + summary["feeder"]
    summary["prefix"] = prefix
    meters = np.asarray([prefix + m for m in metered], dtype=object)
    return _Feeder(circuit, ft, prefixed(ft.frame, prefix), meters, kwh, profiles, summary)


def import_feeder(master: str | Path, out_dir: str | Path, start: dt.date = dt.date(2023, 1, 1),
                  shape_file: str | Path | None = None, prefix: str = "") -> ImportSummary:
    """Write ``out_dir/topology/grid_topology.csv``, ``out_dir/landing/*.csv`` and ``out_dir/feeder_import.json``."""
    feeder = _read_feeder(master, start, shape_file, prefix)
    out = Path(out_dir)
    (out / "topology").mkdir(parents=True, exist_ok=True)
    landing = out / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    topology_path = out / "topology" / "grid_topology.csv"
    _write_if_changed(topology_path, feeder.frame.to_csv(index=False, lineterminator="\n"))
    files, rows = _day_files(landing, feeder.meters, feeder.kwh, feeder.profiles.hours, start)
    (out / "feeder_import.json").write_text(json.dumps(feeder.summary, indent=1) + "\n")
    register_model(out / "topology", feeder.summary["feeder"], master, shape_file, prefix)
    return ImportSummary(out, topology_path, files, rows, feeder.summary)


def add_to_zone(master: str | Path, zone_dir: str | Path, start: dt.date, prefix: str,
                shape_file: str | Path | None = None) -> ImportSummary:
    """Add the circuit to the zone in ``zone_dir`` (``topology/``, ``landing/``) as one more feeder (module docstring).

    ``prefix`` (e.g. ``lv-``) must be non-empty. Re-adding the same circuit replaces its rows; a prefixed
    element id or connectivity node that another feeder of the zone already uses is a
    :class:`~lascopf_assets.lib.zone.topology.TopologyError`, and so is a zone with no topology file.
    ``topology_path`` of the result is the first topology file. Its summary's ``feeder_import`` file is
    ``topology/feeder_import_<feeder>.json``.
    """
    if not prefix or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", prefix):
        raise ValueError(f"prefix must start with a letter or digit and use letters, digits, '_', '.', '-', got {prefix!r}")
    zone = Path(zone_dir)
    topology_dir, landing = zone / "topology", zone / "landing"
    files = sorted(p for p in topology_dir.glob("*.csv") if p.is_file()) if topology_dir.is_dir() else []
    if not files:
        raise TopologyError(f"{topology_dir}: no topology file to add feeder {prefix}... to")
    feeder = _read_feeder(master, start, shape_file, prefix)
    name = feeder.summary["feeder"]
    ids = set(feeder.frame["grid_element_id"])
    nodes = (set(feeder.frame["terminal1_cn"]) | set(feeder.frame["terminal2_cn"])) - {""}
    again = feeder_models(topology_dir).get(name, {}).get("prefix") == prefix  # re-adding: its old rows go
    for path in files:
        current = pd.read_csv(path, dtype=str, keep_default_na=False)
        others = current[~current["grid_element_id"].str.startswith(prefix)] if again else current
        taken = sorted(set(others["grid_element_id"]) & ids)
        shared = sorted((set(others["terminal1_cn"]) | set(others["terminal2_cn"])) & nodes)
        if taken or shared:
            what = f"element {taken[0]}" if taken else f"connectivity node {shared[0]}"
            raise TopologyError(f"{path}: {what} of feeder {name} is already in the zone "
                                f"({len(taken)} element ids, {len(shared)} nodes shared); choose another prefix than {prefix!r}")
        merged = pd.concat([others, feeder.frame[list(current.columns)]], ignore_index=True)
        build_topology(merged, source=str(path))  # the zone must still parse: fail here, not in grid_topology
        _write_if_changed(path, merged.to_csv(index=False, lineterminator="\n"))
    landing.mkdir(parents=True, exist_ok=True)
    day_files, rows = _day_files(landing, feeder.meters, feeder.kwh, feeder.profiles.hours, start, name_prefix=prefix)
    _write_if_changed(topology_dir / f"feeder_import_{name}.json", json.dumps(feeder.summary, indent=1) + "\n")
    register_model(topology_dir, name, master, shape_file, prefix)
    return ImportSummary(zone, files[0], day_files, rows, feeder.summary)


def remove_from_zone(zone_dir: str | Path, feeder: str) -> bool:
    """Undo :func:`add_to_zone` of ``feeder`` (its rows, landing files, summary, registration); False if it was not there.

    The prefix is the feeder's namespace: every element whose id starts with it is the feeder's.
    """
    zone = Path(zone_dir)
    topology_dir = zone / "topology"
    model = feeder_models(topology_dir).get(feeder)
    if model is None or not model.get("prefix"):
        return False
    prefix = model["prefix"]
    for path in sorted(topology_dir.glob("*.csv")):
        current = pd.read_csv(path, dtype=str, keep_default_na=False)
        kept = current[~current["grid_element_id"].str.startswith(prefix)]
        if len(kept) < len(current):
            _write_if_changed(path, kept.to_csv(index=False, lineterminator="\n"))
    for path in (zone / "landing").glob(f"{prefix}meter_readings_*.csv"):
        path.unlink()
    (topology_dir / f"feeder_import_{feeder}.json").unlink(missing_ok=True)
    models = feeder_models(topology_dir)
    models.pop(feeder, None)
    _write_if_changed(topology_dir / MODELS_FILE, json.dumps(models, indent=1, sort_keys=True) + "\n")
    return True


MODELS_FILE = "opendss_models.json"


def register_model(topology_dir: Path, feeder: str, master, shape_file=None, prefix: str = "") -> Path:
    """Record in ``topology_dir/opendss_models.json`` which OpenDSS model a feeder has (``phase_change_impact`` reads it).

    ``prefix``: what the import put before the circuit's element ids (:func:`model_changes` takes it off).
    """
    path = Path(topology_dir) / MODELS_FILE
    models = json.loads(path.read_text()) if path.is_file() else {}
    models[feeder] = {"master": str(Path(master).resolve()), "shape": None if shape_file is None else str(Path(shape_file).resolve()),
                      "prefix": prefix}
    _write_if_changed(path, json.dumps(models, indent=1, sort_keys=True) + "\n")
    return path


def feeder_models(topology_dir: Path) -> dict[str, dict]:
    """``feeder -> {"master", "shape", "prefix"}`` registered beside the topology files ({} when none)."""
    path = Path(topology_dir) / MODELS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def model_changes(changes: list[dict], prefix: str) -> list[dict]:
    """The platform's changes (junction ids as the zone names them) with the junction ids the circuit uses.

    A junction without the model's ``prefix`` is not of this circuit: a ``CircuitError`` naming it.
    """
    if not prefix:
        return list(changes)
    out = []
    for c in changes:
        junction = str(c.get("junction", ""))
        if not junction.startswith(prefix):
            raise CircuitError(f"change {junction}: not a junction of this circuit (its ids start with {prefix!r})")
        out.append({**c, "junction": junction[len(prefix):]})
    return out


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
