"""Deterministic demo distribution zone: grid topology plus hourly smart-meter kWh.

The zone mirrors the phase-balancing study's setting: one HV/MV transformer feeds
a three-phase (``ABC``) backbone of busbars and line segments; single-phase
laterals hang off backbone busbars, the first segment of each lateral being its
*junction*; meters hang off the lateral's nodes. Junction phases are allocated
with a deliberate skew so the initial imbalance is large (about 0.6 by default).

Everything is drawn from ``numpy.random.SeedSequence(seed)`` child streams:
the same parameters give identical data and identical file bytes. The hourly
load matrix is built with whole-array numpy operations (hours x meters), never
with Python loops over readings.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TOPOLOGY_COLUMNS = ("grid_element_id", "type", "phases", "terminal1_cn", "terminal2_cn")
READING_COLUMNS = ("meter_id", "timestamp", "kwh")
PHASES = ("A", "B", "C")
SOURCE_CN = "CN00000"
KWH_DECIMALS = 4

# Normalised (mean 1) daily shapes, index = hour of day (UTC).
_RESIDENTIAL = np.array(
    [0.45, 0.38, 0.35, 0.33, 0.34, 0.40, 0.62, 0.95, 0.90, 0.70, 0.62, 0.60,
     0.62, 0.60, 0.58, 0.62, 0.75, 1.00, 1.25, 1.35, 1.25, 1.05, 0.80, 0.58]
)
_COMMERCIAL_WEEKDAY = np.array(
    [0.30, 0.30, 0.30, 0.30, 0.30, 0.35, 0.45, 0.75, 1.10, 1.30, 1.35, 1.35,
     1.30, 1.35, 1.35, 1.30, 1.25, 1.20, 0.80, 0.50, 0.40, 0.35, 0.32, 0.30]
)
_COMMERCIAL_WEEKEND = np.array(
    [0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.32, 0.36, 0.42, 0.48, 0.52, 0.55,
     0.55, 0.52, 0.50, 0.48, 0.45, 0.42, 0.38, 0.35, 0.33, 0.32, 0.30, 0.30]
)
_RESIDENTIAL = _RESIDENTIAL / _RESIDENTIAL.mean()
_COMMERCIAL_WEEKEND = _COMMERCIAL_WEEKEND / _COMMERCIAL_WEEKDAY.mean()
_COMMERCIAL_WEEKDAY = _COMMERCIAL_WEEKDAY / _COMMERCIAL_WEEKDAY.mean()


@dataclass(frozen=True)
class DemoZoneParams:
    """Size and randomness of a demo zone.

    ``total_meters``, when given, overrides ``meters_per_junction``: the total is
    split over the junctions in proportion to per-junction draws from that range.
    ``replacements=None`` means one meter replacement per 200 meters (at least 1).
    ``imbalance`` is the target skew of the phase allocation (the mean hourly
    ``max_p |L_p - mean| / mean`` the zone should land near).
    """

    junctions: int = 40
    meters_per_junction: tuple[int, int] = (10, 25)
    total_meters: int | None = None
    start: dt.date = dt.date(2023, 1, 1)
    days: int = 365
    seed: int = 7
    imbalance: float = 0.6
    commercial_share: float = 0.15
    missing_rate: float = 0.0005
    outages: int = 3
    replacements: int | None = None
    glitches: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.meters_per_junction
        checks = [
            (self.junctions >= 1, f"junctions must be >= 1, got {self.junctions}"),
            (1 <= lo <= hi, f"meters_per_junction must be 1 <= lo <= hi, got {self.meters_per_junction}"),
            (
                self.total_meters is None or self.total_meters >= self.junctions,
                f"total_meters ({self.total_meters}) must be >= junctions ({self.junctions})",
            ),
            (self.days >= 1, f"days must be >= 1, got {self.days}"),
            (0.0 <= self.imbalance <= 1.4, f"imbalance must be in [0, 1.4], got {self.imbalance}"),
            (0.0 <= self.commercial_share <= 1.0, f"commercial_share must be in [0, 1], got {self.commercial_share}"),
            (0.0 <= self.missing_rate < 0.5, f"missing_rate must be in [0, 0.5), got {self.missing_rate}"),
            (self.outages >= 0, f"outages must be >= 0, got {self.outages}"),
            (self.glitches >= 0, f"glitches must be >= 0, got {self.glitches}"),
            (
                self.replacements is None or self.replacements >= 0,
                f"replacements must be >= 0, got {self.replacements}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if not isinstance(self.start, dt.date) or isinstance(self.start, dt.datetime):
            raise ValueError(f"start must be a datetime.date, got {self.start!r}")


@dataclass
class DemoZone:
    """An in-memory demo zone.

    ``readings``: ``meter_id`` (str), ``timestamp`` (datetime64[us, UTC]),
    ``kwh`` (float64, 4 decimals), sorted by timestamp then meter_id.
    ``topology``: the rows of ``grid_topology.csv`` (all str, empty = no terminal).
    ``replacements``: ``old_meter_id, new_meter_id, timestamp`` (first hour of the new meter).
    ``meter_kind``: ``"residential"`` or ``"commercial"`` per meter id.
    """

    params: DemoZoneParams
    readings: pd.DataFrame
    topology: pd.DataFrame
    junction_phase: dict[str, str]
    meter_junction: dict[str, str]
    replacements: pd.DataFrame
    meter_kind: dict[str, str]


@dataclass
class DemoZoneSummary:
    """What ``write_demo_zone`` wrote, plus the ground truth for tests."""

    out_dir: Path
    meters: int  # meter ids in the topology, replacements included
    junctions: int
    days: int
    rows: int  # reading rows written over all files
    files: int  # reading files written
    paths: list[Path]
    topology_path: Path
    junction_phase: dict[str, str]
    meter_junction: dict[str, str]
    replacements: pd.DataFrame = field(repr=False)
    glitches: list[tuple[str, str]] = field(default_factory=list)  # (file name, kind) of each bad line appended


GLITCH_KINDS = ("negative_kwh", "kwh_not_numeric", "no_utc_offset", "off_hour", "duplicate", "unknown_meter")


def _append_glitches(paths: list[Path], count: int, seed: int) -> list[tuple[str, str]]:
    """Append ``count`` bad lines, one kind after another, to files picked by ``seed``.

    Real meter feeds carry such lines; each one breaks exactly one validation
    rule, so ingestion must quarantine exactly ``count`` rows.
    """
    rng = np.random.default_rng(seed)
    done = []
    for i in range(count):
        path = paths[int(rng.integers(len(paths)))]
        with path.open(encoding="utf-8") as handle:
            handle.readline()
            first = handle.readline().rstrip("\n")
        meter, stamp, _kwh = first.split(",")
        day = stamp[:10]
        kind = GLITCH_KINDS[i % len(GLITCH_KINDS)]
        line = {
            "negative_kwh": f"{meter},{stamp},-1.2500",
            "kwh_not_numeric": f"{meter},{stamp},n/a",
            "no_utc_offset": f"{meter},{day}T05:00:00,0.5000",
            "off_hour": f"{meter},{day}T05:30:00+00:00,0.5000",
            "duplicate": first,
            "unknown_meter": f"GHOST{i:03d},{stamp},0.5000",
        }[kind]
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        done.append((path.name, kind))
    return done


# --------------------------------------------------------------------------- plan


@dataclass
class _Plan:
    """Structure plus per-meter-slot parameters; the hourly data is derived from it."""

    params: DemoZoneParams
    topology: pd.DataFrame
    junction_ids: list[str]
    junction_phase: list[str]
    slot_ids: np.ndarray  # meter id of each physical meter position (sorted)
    slot_junction: np.ndarray  # junction index per slot
    meter_ids: np.ndarray  # slot ids followed by replacement ids
    rep_slot: np.ndarray  # replaced slot indices
    rep_hour: np.ndarray  # hour index at which the new meter starts
    is_commercial: np.ndarray
    scale: np.ndarray  # mean kWh per hour per slot
    shift: np.ndarray  # hour shift of the daily shape per slot


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer split of ``total`` proportional to ``weights`` (largest remainder)."""
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    rest = total - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


_SKEW_CALIBRATION = 1.03


def _phase_targets(skew: float) -> np.ndarray:
    """Phase shares whose max relative deviation from the mean equals ``skew``."""
    return np.array([1.0 + skew, 1.0 - 0.3 * skew, 1.0 - 0.7 * skew]) / 3.0


def _plan(params: DemoZoneParams) -> _Plan:
    ss_struct, ss_profile, _ss_noise, ss_events = np.random.SeedSequence(params.seed).spawn(4)
    rng = np.random.default_rng(ss_struct)
    n_j = params.junctions
    lo, hi = params.meters_per_junction

    draws = rng.integers(lo, hi + 1, size=n_j)
    if params.total_meters is None:
        counts = draws.astype(np.int64)
    else:
        counts = 1 + _apportion(params.total_meters - n_j, draws.astype(float))
    n_slots = int(counts.sum())
    width = max(5, len(str(n_slots)))
    slot_ids = np.array([f"MTR{i + 1:0{width}d}" for i in range(n_slots)], dtype=object)
    slot_junction = np.repeat(np.arange(n_j), counts)

    # Per-slot load parameters.
    prng = np.random.default_rng(ss_profile)
    is_commercial = prng.random(n_slots) < params.commercial_share
    scale = np.where(
        is_commercial,
        2.0 * prng.lognormal(0.0, 0.35, n_slots),
        0.45 * prng.lognormal(0.0, 0.35, n_slots),
    )
    shift = prng.integers(-1, 2, size=n_slots)

    # Skewed phase allocation: largest expected junction load first, each to the
    # phase furthest below its target share.
    expected = np.bincount(slot_junction, weights=scale, minlength=n_j)
    # The realised hourly figure runs a few % below the share-based skew (the
    # residential/commercial mix differs between phases hour by hour): measured.
    target = _phase_targets(params.imbalance * _SKEW_CALIBRATION) * expected.sum()
    load = np.zeros(3)
    phase_idx = np.empty(n_j, dtype=np.int64)
    for j in np.argsort(-expected, kind="stable"):  # loop over junctions, not readings
        p = int(np.argmax(target - load))
        phase_idx[j] = p
        load[p] += expected[j]
    junction_phase = [PHASES[p] for p in phase_idx]

    # Meter replacements and their start hours.
    erng = np.random.default_rng(ss_events)
    hours = params.days * 24
    n_rep = max(1, n_slots // 200) if params.replacements is None else params.replacements
    n_rep = min(n_rep, n_slots) if hours >= 2 else 0
    rep_slot = np.sort(erng.choice(n_slots, size=n_rep, replace=False)) if n_rep else np.zeros(0, np.int64)
    rep_hour = erng.integers(1, hours, size=n_rep) if n_rep else np.zeros(0, np.int64)
    rep_ids = np.array([f"{slot_ids[s]}R" for s in rep_slot], dtype=object)
    meter_ids = np.concatenate([slot_ids, rep_ids])

    topology, junction_ids = _build_topology_rows(
        rng, n_j, counts, slot_ids, junction_phase, dict(zip(rep_slot.tolist(), rep_ids.tolist()))
    )
    return _Plan(
        params=params,
        topology=topology,
        junction_ids=junction_ids,
        junction_phase=junction_phase,
        slot_ids=slot_ids,
        slot_junction=slot_junction,
        meter_ids=meter_ids,
        rep_slot=rep_slot,
        rep_hour=rep_hour,
        is_commercial=is_commercial,
        scale=scale,
        shift=shift,
    )


def _build_topology_rows(
    rng: np.random.Generator,
    n_j: int,
    counts: np.ndarray,
    slot_ids: np.ndarray,
    junction_phase: list[str],
    replacement_of: dict[int, str],
) -> tuple[pd.DataFrame, list[str]]:
    """Radial tree: transformer -> ABC busbars/lines -> single-phase laterals -> meters.

    Loops here run over grid elements (a few thousand), not over readings.
    """
    rows: list[tuple[str, str, str, str, str]] = []
    cn_counter = iter(range(1, 10**9))

    def new_cn() -> str:
        return f"CN{next(cn_counter):05d}"

    first = new_cn()
    rows.append(("TR1", "transformer", "ABC", SOURCE_CN, first))
    n_bus = max(3, math.ceil(n_j / 3))
    n_trunk = max(2, math.ceil(0.6 * n_bus))
    bus_nodes = [first]
    rows.append(("BB001", "busbar", "ABC", first, ""))
    for b in range(1, n_bus):
        parent = bus_nodes[-1] if b < n_trunk else bus_nodes[int(rng.integers(0, n_trunk))]
        node = new_cn()
        rows.append((f"L{b:03d}", "line", "ABC", parent, node))
        rows.append((f"BB{b + 1:03d}", "busbar", "ABC", node, ""))
        bus_nodes.append(node)

    junction_ids = [f"J{j + 1:03d}" for j in range(n_j)]
    slot = 0
    for j in range(n_j):
        ph = junction_phase[j]
        upstream = bus_nodes[int(rng.integers(0, n_bus))]
        lateral_nodes = []
        for k in range(int(rng.integers(1, 4))):
            node = new_cn()
            seg_id = junction_ids[j] if k == 0 else f"{junction_ids[j]}-S{k + 1}"
            rows.append((seg_id, "line", ph, upstream, node))
            lateral_nodes.append(node)
            upstream = node
        where = rng.integers(0, len(lateral_nodes), size=int(counts[j]))
        for w in where:
            node = lateral_nodes[int(w)]
            rows.append((str(slot_ids[slot]), "meter", ph, node, ""))
            if slot in replacement_of:
                rows.append((replacement_of[slot], "meter", ph, node, ""))
            slot += 1
    return pd.DataFrame(rows, columns=list(TOPOLOGY_COLUMNS), dtype="str"), junction_ids


# ---------------------------------------------------------------------- hourly data


@dataclass
class _Hourly:
    kwh: np.ndarray  # (hours, slots), rounded to 4 decimals
    present: np.ndarray  # (hours, slots) bool
    hour0: np.datetime64  # first hour, datetime64[h]


def _hourly(plan: _Plan) -> _Hourly:
    p = plan.params
    n_hours = p.days * 24
    n_slots = len(plan.slot_ids)
    hours = np.arange(n_hours)
    hour0 = np.datetime64(p.start, "h")
    day = (np.datetime64(p.start, "D") + hours // 24)
    day_num = day.astype(np.int64)
    weekend = ((day_num + 3) % 7) >= 5  # 1970-01-01 was a Thursday; Monday = 0
    doy = (day - day.astype("datetime64[Y]")).astype(np.int64)
    season = np.cos(2 * np.pi * (doy - 15) / 365.25)  # +1 mid-January, -1 mid-July
    winter, summer = np.maximum(season, 0), np.maximum(-season, 0)
    season_res = 1.0 + 0.30 * winter + 0.12 * summer
    season_com = 1.0 + 0.10 * winter + 0.30 * summer

    hod = (hours[:, None] + plan.shift[None, :]) % 24  # (hours, slots)
    shape = np.where(
        plan.is_commercial[None, :],
        np.where(weekend[:, None], _COMMERCIAL_WEEKEND[hod], _COMMERCIAL_WEEKDAY[hod]),
        _RESIDENTIAL[hod],
    )
    shape *= np.where(plan.is_commercial[None, :], season_com[:, None], season_res[:, None])

    _, _, ss_noise, ss_events = np.random.SeedSequence(p.seed).spawn(4)
    nrng = np.random.default_rng(ss_noise)
    day_factor = nrng.lognormal(0.0, 0.12, size=(p.days, n_slots))
    noise = nrng.lognormal(0.0, 0.20, size=(n_hours, n_slots))
    kwh = np.round(plan.scale[None, :] * shape * day_factor[hours // 24] * noise, KWH_DECIMALS)

    # Missing readings: scattered single hours plus a few multi-hour outages.
    erng = np.random.default_rng(ss_events.spawn(1)[0])
    present = erng.random((n_hours, n_slots)) >= p.missing_rate
    if n_hours >= 2:
        for _ in range(p.outages):  # a handful of blocks, not a loop over readings
            s = int(erng.integers(0, n_slots))
            h = int(erng.integers(0, n_hours))
            present[h : h + int(erng.integers(4, 49)), s] = False
    return _Hourly(kwh=kwh, present=present, hour0=hour0)


def _meter_index(plan: _Plan, h0: int, h1: int) -> np.ndarray:
    """Index into ``plan.meter_ids`` of the meter reporting each (hour, slot)."""
    n_slots = len(plan.slot_ids)
    idx = np.broadcast_to(np.arange(n_slots, dtype=np.int64), (h1 - h0, n_slots)).copy()
    if len(plan.rep_slot):
        after = np.arange(h0, h1)[:, None] >= plan.rep_hour[None, :]
        new = n_slots + np.arange(len(plan.rep_slot))
        idx[:, plan.rep_slot] = np.where(after, new[None, :], plan.rep_slot[None, :])
    return idx


def _rows(plan: _Plan, hourly: _Hourly, h0: int, h1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(meter index, hour offset from h0, kwh) of the present rows in hours [h0, h1), sorted."""
    present = hourly.present[h0:h1]
    flat = np.flatnonzero(present.ravel())
    n_slots = present.shape[1]
    meter = _meter_index(plan, h0, h1).ravel()[flat]
    kwh = hourly.kwh[h0:h1].ravel()[flat]
    return meter, flat // n_slots, kwh


def _arrow_table(plan: _Plan, hourly: _Hourly, h0: int, h1: int) -> pa.Table:
    meter, hour, kwh = _rows(plan, hourly, h0, h1)
    ids = pa.array(plan.meter_ids, type=pa.string())
    start_us = (hourly.hour0 + h0).astype("datetime64[us]").astype(np.int64)
    ts = pa.array(start_us + hour * 3_600_000_000, type=pa.timestamp("us", tz="UTC"))
    return pa.table(
        {"meter_id": ids.take(pa.array(meter)), "timestamp": ts, "kwh": pa.array(kwh, type=pa.float64())}
    )


def _csv_table(plan: _Plan, hourly: _Hourly, h0: int, h1: int) -> pa.Table:
    """Same rows as ``_arrow_table`` with text columns formatted exactly for the CSV contract."""
    meter, hour, kwh = _rows(plan, hourly, h0, h1)
    ids = pa.array(plan.meter_ids, type=pa.string())
    stamps = np.datetime_as_string(hourly.hour0 + np.arange(h0, h1), unit="s")
    labels = pa.array([f"{s}+00:00" for s in stamps], type=pa.string())  # 24 labels per day
    # Fixed 4-decimal text: the scaled integer viewed as decimal128(18, 4).
    scaled = np.rint(kwh * 10**KWH_DECIMALS).astype(np.int64)
    words = np.stack([scaled, scaled >> 63], axis=1)  # little-endian 128-bit two's complement
    dec = pa.Array.from_buffers(pa.decimal128(18, KWH_DECIMALS), len(scaled), [None, pa.py_buffer(words.tobytes())])
    return pa.table({"meter_id": ids.take(pa.array(meter)), "timestamp": labels.take(pa.array(hour)), "kwh": dec})


# --------------------------------------------------------------------------- public


def _truth(plan: _Plan) -> tuple[dict[str, str], dict[str, str], pd.DataFrame]:
    junction_phase = dict(zip(plan.junction_ids, plan.junction_phase))
    meter_junction = {str(m): plan.junction_ids[j] for m, j in zip(plan.slot_ids, plan.slot_junction)}
    rep_new = plan.meter_ids[len(plan.slot_ids):]
    for s, new in zip(plan.rep_slot, rep_new):
        meter_junction[str(new)] = plan.junction_ids[plan.slot_junction[s]]
    hour0 = np.datetime64(plan.params.start, "h")
    replacements = pd.DataFrame(
        {
            "old_meter_id": pd.array(plan.slot_ids[plan.rep_slot].astype(str), dtype="str"),
            "new_meter_id": pd.array(rep_new.astype(str), dtype="str"),
            "timestamp": pd.to_datetime((hour0 + plan.rep_hour).astype("datetime64[us]"), utc=True),
        }
    )
    return junction_phase, meter_junction, replacements


def generate_demo_zone(params: DemoZoneParams | None = None) -> DemoZone:
    """Build the whole zone in memory (readings for every day, topology, ground truth)."""
    params = params or DemoZoneParams()
    plan = _plan(params)
    hourly = _hourly(plan)
    readings = _arrow_table(plan, hourly, 0, params.days * 24).to_pandas()
    junction_phase, meter_junction, replacements = _truth(plan)
    slot_of = np.concatenate([np.arange(len(plan.slot_ids)), plan.rep_slot])
    kinds = np.where(plan.is_commercial[slot_of], "commercial", "residential")
    return DemoZone(
        params=params,
        readings=readings,
        topology=plan.topology.copy(),
        junction_phase=junction_phase,
        meter_junction=meter_junction,
        replacements=replacements,
        meter_kind=dict(zip(plan.meter_ids.astype(str).tolist(), kinds.tolist())),
    )


def write_demo_zone(out_dir: str | Path, params: DemoZoneParams | None = None, fmt: str = "csv") -> DemoZoneSummary:
    """Write ``landing/meter_readings_YYYY-MM-DD.{csv,parquet}`` (one per day) and
    ``topology/grid_topology.csv`` under ``out_dir``; return what was written."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    params = params or DemoZoneParams()
    if params.glitches and fmt != "csv":
        raise ValueError("glitches are written into CSV landing files only")
    out = Path(out_dir)
    landing, topo_dir = out / "landing", out / "topology"
    landing.mkdir(parents=True, exist_ok=True)
    topo_dir.mkdir(parents=True, exist_ok=True)

    plan = _plan(params)
    hourly = _hourly(plan)
    topology_path = topo_dir / "grid_topology.csv"
    plan.topology.to_csv(topology_path, index=False, lineterminator="\n")

    csv_options = pacsv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=65536)
    paths: list[Path] = []
    rows = 0
    for d in range(params.days):  # one file per day
        day = params.start + dt.timedelta(days=d)
        h0, h1 = d * 24, (d + 1) * 24
        path = landing / f"meter_readings_{day.isoformat()}.{fmt}"
        if fmt == "csv":
            table = _csv_table(plan, hourly, h0, h1)
            pacsv.write_csv(table, path, write_options=csv_options)
        else:
            table = _arrow_table(plan, hourly, h0, h1)
            pq.write_table(table, path)
        rows += table.num_rows
        paths.append(path)

    glitches = _append_glitches(paths, params.glitches, params.seed + 1) if fmt == "csv" else []
    junction_phase, meter_junction, replacements = _truth(plan)
    return DemoZoneSummary(
        out_dir=out,
        meters=len(plan.meter_ids),
        junctions=params.junctions,
        days=params.days,
        rows=rows,
        files=len(paths),
        paths=paths,
        topology_path=topology_path,
        junction_phase=junction_phase,
        meter_junction=meter_junction,
        replacements=replacements,
        glitches=glitches,
    )


def mean_hourly_imbalance(readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str]) -> float:
    """Mean over hours of ``max_p |L_p(t) - mean_p L(t)| / mean_p L(t)``.

    ``L_p(t)`` sums the kWh of the meters on phase ``p`` (the junction aggregates
    summed per phase). Readings of meters absent from ``meter_phase`` are ignored,
    as are hours with no load.
    """
    mapping = pd.Series(meter_phase, dtype="object") if isinstance(meter_phase, dict) else meter_phase
    meter_code, meter_uniques = pd.factorize(readings["meter_id"])  # map the few ids, not every row
    unique_phase = pd.Categorical(pd.Index(meter_uniques).map(mapping), categories=list(PHASES)).codes
    phase_code = unique_phase[meter_code]
    keep = phase_code >= 0
    stamps = readings["timestamp"]
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    hour_code, _ = pd.factorize(stamps.to_numpy(dtype="datetime64[us]").view(np.int64)[keep])
    n_hours = int(hour_code.max()) + 1 if len(hour_code) else 0
    load = np.bincount(
        hour_code * 3 + phase_code[keep],
        weights=readings["kwh"].to_numpy(dtype=np.float64)[keep],
        minlength=3 * n_hours,
    ).reshape(n_hours, 3)
    mean = load.mean(axis=1)
    ok = mean > 0
    if not ok.any():
        raise ValueError("no load on any phase: imbalance undefined")
    dev = np.abs(load[ok] - mean[ok, None]).max(axis=1) / mean[ok]
    return float(dev.mean())
