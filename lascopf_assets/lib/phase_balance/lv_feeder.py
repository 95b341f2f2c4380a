"""Reader for the IEEE European LV test feeder (OpenDSS files) as a phase-balancing load table.

Expected layout (as published in dss-extensions/electricdss-tst,
``Version8/Distrib/IEEETestCases/LVTestCase/``): ``Loads.txt`` with one
``New Load.<name> ... Bus1=<bus>.<1|2|3> ... Yearly=<shape>`` line per
single-phase load, ``LoadShapes.txt`` with ``New Loadshape.<shape> npts=<n>
minterval=<m> mult=(file=<path>)`` lines, and the profile files they name
(one kW value per line). Each load is one junction; phase .1/.2/.3 is A/B/C.
The profiles cover one day with no date: timestamps start at ``day`` (UTC).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lascopf_assets.lib.phase_balance.problem import PHASES

_LOAD = re.compile(r"^\s*new\s+load\.(\S+)\s+(.*)$", re.IGNORECASE)
_SHAPE = re.compile(r"^\s*new\s+loadshape\.(\S+)\s+(.*)$", re.IGNORECASE)
_KEYVAL = re.compile(r"(\w+)\s*=\s*(\([^)]*\)|\S+)")


class FeederFileError(ValueError):
    """A feeder file line that cannot be read (one-line reason with file and line)."""


def _props(text: str) -> dict[str, str]:
    return {k.lower(): v for k, v in _KEYVAL.findall(text)}


def read_loads(folder: Path) -> pd.DataFrame:
    """``load, bus, phase, shape`` per load of ``Loads.txt``."""
    path = Path(folder) / "Loads.txt"
    rows = []
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        m = _LOAD.match(line)
        if not m:
            continue
        props = _props(m.group(2))
        bus = props.get("bus1", "")
        parts = bus.split(".")
        if len(parts) != 2 or parts[1] not in ("1", "2", "3"):
            raise FeederFileError(f"{path}:{no}: Bus1={bus!r} is not <bus>.<1|2|3> (single-phase load)")
        shape = props.get("yearly") or props.get("daily")
        if not shape:
            raise FeederFileError(f"{path}:{no}: load {m.group(1)} names no Yearly= or Daily= load shape")
        rows.append((m.group(1), parts[0], PHASES[int(parts[1]) - 1], shape))
    if not rows:
        raise FeederFileError(f"{path}: no 'New Load.' lines")
    return pd.DataFrame(rows, columns=["load", "bus", "phase", "shape"])


def read_load_shapes(folder: Path) -> dict[str, np.ndarray]:
    """kW profile per load-shape name (``LoadShapes.txt`` and the files it names)."""
    folder = Path(folder)
    path = folder / "LoadShapes.txt"
    shapes = {}
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        m = _SHAPE.match(line)
        if not m:
            continue
        props = _props(m.group(2))
        fm = re.search(r"file\s*=\s*([^)\s]+)", props.get("mult", ""), re.IGNORECASE)
        if not fm:
            raise FeederFileError(f"{path}:{no}: load shape {m.group(1)} has no mult=(file=...)")
        if float(props.get("minterval", 1)) != 1:
            raise FeederFileError(f"{path}:{no}: only 1-minute shapes are supported (minterval={props['minterval']})")
        values = np.loadtxt(folder / fm.group(1), dtype=np.float64, ndmin=1)
        npts = int(props.get("npts", len(values)))
        if len(values) != npts:
            raise FeederFileError(f"{path}:{no}: {fm.group(1)} holds {len(values)} values, npts={npts}")
        shapes[m.group(1).lower()] = values
    return shapes


def read_feeder_minute_kw(folder: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The loads table and their kW per minute, shape ``(loads, minutes)``."""
    loads = read_loads(folder)
    shapes = read_load_shapes(folder)
    missing = sorted(set(loads["shape"].str.lower()) - set(shapes))
    if missing:
        raise FeederFileError(f"{Path(folder) / 'Loads.txt'}: load shape(s) {', '.join(missing)} not in LoadShapes.txt")
    kw = np.vstack([shapes[s.lower()] for s in loads["shape"]])
    return loads, kw


def feeder_load_table(folder: Path, resolution: str = "hourly", day: str = "2000-01-01") -> pd.DataFrame:
    """The long table ``junction, phase, timestamp, kwh`` at ``hourly`` or ``minute`` resolution.

    kWh per interval: a 1-minute interval holds ``kW / 60``; an hour holds the
    mean kW of its 60 minutes.
    """
    loads, kw = read_feeder_minute_kw(folder)
    if resolution == "minute":
        kwh = kw / 60.0
        step = "min"
    elif resolution == "hourly":
        if kw.shape[1] % 60:
            raise FeederFileError(f"{folder}: {kw.shape[1]} minutes do not fill whole hours")
        kwh = kw.reshape(kw.shape[0], -1, 60).sum(axis=2) / 60.0
        step = "h"
    else:
        raise ValueError(f"resolution must be 'hourly' or 'minute', got {resolution!r}")
    n_loads, n_steps = kwh.shape
    stamps = pd.date_range(day, periods=n_steps, freq=step, tz="UTC")
    return pd.DataFrame(
        {
            "junction": np.repeat(loads["load"].to_numpy(), n_steps),
            "phase": np.repeat(loads["phase"].to_numpy(), n_steps),
            "timestamp": np.tile(stamps, n_loads),
            "kwh": kwh.reshape(-1),
        }
    )
