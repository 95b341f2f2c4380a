"""Read PowerLASCOPF's legacy text cases (``DIR/GenN.txt``, ``LoadN.txt``, ``TranN.txt``).

Each file starts with ``<count> <columns>``; exactly ``<count>`` rows follow
(some files carry extra trailing summary rows, which are ignored).

- ``Gen``: ``bus c2 c1 c0 PgMax PgMin RampUp RampDown PgPrev`` (MW; cost c2 P^2 + c1 P + c0;
  ``RampDown`` is the lower bound of ``P[t] - P[t-1]``, negative in the data).
- ``Load``: ``bus L1 L2 ...`` one column per interval, loads as negative MW.
- ``Tran``: ``from to R X ContingencyMarked Capacity`` (X p.u. on 100 MVA, Capacity MW).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .model import Network, NetworkDataError, validate_network

BASE_MVA = 100.0
GEN_FIELDS = 9
TRAN_FIELDS = 6


def legacy_paths(prefix: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``DIR/N`` -> (``DIR/GenN.txt``, ``DIR/LoadN.txt``, ``DIR/TranN.txt``)."""
    prefix = Path(prefix)
    n = prefix.name
    return tuple(prefix.parent / f"{kind}{n}.txt" for kind in ("Gen", "Load", "Tran"))  # type: ignore[return-value]


def is_legacy_prefix(prefix: str | os.PathLike) -> bool:
    return all(p.is_file() for p in legacy_paths(prefix))


def _read_table(path: Path, min_fields: int | None) -> np.ndarray:
    """The ``<count>`` data rows of a legacy file as a float array."""
    if not path.is_file():
        raise NetworkDataError(f"{path}: file not found")
    lines = path.read_text().splitlines()
    if not lines or len(lines[0].split()) < 2:
        raise NetworkDataError(f"{path}:1: header must be '<count> <columns>'")
    try:
        count, ncols = (int(v) for v in lines[0].split()[:2])
    except ValueError:
        raise NetworkDataError(f"{path}:1: header must be two integers '<count> <columns>', got {lines[0].strip()!r}") from None
    if count < 0 or ncols < 1:
        raise NetworkDataError(f"{path}:1: invalid count {count} or columns {ncols}")
    if min_fields is not None and ncols < min_fields:
        raise NetworkDataError(f"{path}:1: declares {ncols} columns, expected {min_fields}")
    if len(lines) - 1 < count:
        raise NetworkDataError(f"{path}: header declares {count} rows but only {len(lines) - 1} follow")
    rows = np.empty((count, ncols))
    for i in range(count):  # rows of a small text file
        fields = lines[i + 1].split()
        if len(fields) < ncols:
            raise NetworkDataError(f"{path}:{i + 2}: expected {ncols} values, found {len(fields)}")
        try:
            rows[i] = [float(v) for v in fields[:ncols]]
        except ValueError:
            raise NetworkDataError(f"{path}:{i + 2}: non-numeric value in {lines[i + 1].strip()!r}") from None
        if not np.all(np.isfinite(rows[i])):
            raise NetworkDataError(f"{path}:{i + 2}: non-finite value")
    return rows


def read_legacy_case(prefix: str | os.PathLike) -> Network:
    """Read a legacy case given its prefix ``DIR/N``; loads come as ``load_profile_mw``."""
    gen_path, load_path, tran_path = legacy_paths(prefix)
    g = _read_table(gen_path, GEN_FIELDS)
    ld = _read_table(load_path, None)
    tr = _read_table(tran_path, TRAN_FIELDS)
    if ld.shape[1] < 2:
        raise NetworkDataError(f"{load_path}:1: needs a bus column and at least one interval column")
    for path, arr, cols in ((gen_path, g, [0]), (load_path, ld, [0]), (tran_path, tr, [0, 1])):
        bad = np.flatnonzero((arr[:, cols] != np.round(arr[:, cols])).any(axis=1) | (arr[:, cols] < 1).any(axis=1))
        if bad.size:
            raise NetworkDataError(f"{path}:{bad[0] + 2}: bus numbers must be positive integers")
    bad = np.flatnonzero(tr[:, 3] == 0)
    if bad.size:
        raise NetworkDataError(f"{tran_path}:{bad[0] + 2}: zero reactance X")
    bad = np.flatnonzero(tr[:, 5] <= 0)
    if bad.size:
        raise NetworkDataError(f"{tran_path}:{bad[0] + 2}: capacity must be positive")
    bad = np.flatnonzero(g[:, 5] > g[:, 4])
    if bad.size:
        raise NetworkDataError(f"{gen_path}:{bad[0] + 2}: PgMin > PgMax")

    bus_ids = np.unique(np.concatenate([g[:, 0], ld[:, 0], tr[:, 0], tr[:, 1]]).astype(int))
    n_bus = len(bus_ids)
    name = f"legacy{Path(prefix).name}"
    pos = pd.Index(bus_ids)
    profile = np.zeros((n_bus, ld.shape[1] - 1))
    np.add.at(profile, pos.get_indexer(ld[:, 0].astype(int)), -ld[:, 1:])

    ng = len(g)
    gen_df = pd.DataFrame(
        {
            "gen": [f"G{i + 1}" for i in range(ng)],
            "bus": g[:, 0].astype(int),
            "pmin_mw": g[:, 5],
            "pmax_mw": g[:, 4],
            "ramp_up_mw": g[:, 6],
            "ramp_down_mw": -g[:, 7],
            "p_prev_mw": g[:, 8],
            "cost_model": ["poly"] * ng,
            "c2": g[:, 1],
            "c1": g[:, 2],
            "c0": g[:, 3],
        }
    )
    nl = len(tr)
    branch_df = pd.DataFrame(
        {
            "branch": [f"L{i + 1}" for i in range(nl)],
            "from_bus": tr[:, 0].astype(int),
            "to_bus": tr[:, 1].astype(int),
            "r_pu": tr[:, 2],
            "x_pu": tr[:, 3],
            "tap": np.ones(nl),
            "shift_deg": np.zeros(nl),
            "rate_mw": tr[:, 5],
            "angmin_deg": np.full(nl, -np.inf),
            "angmax_deg": np.full(nl, np.inf),
            "contingency_marked": tr[:, 4] == 1,
            "source_row": np.arange(1, nl + 1),
        }
    )
    bus_df = pd.DataFrame(
        {
            "bus": bus_ids,
            "pd_mw": profile[:, 0],
            "gs_mw": np.zeros(n_bus),
            "area": np.ones(n_bus, dtype=int),
            "is_ref": bus_ids == bus_ids.min(),
        }
    )
    return validate_network(
        Network(name=name, base_mva=BASE_MVA, bus=bus_df, gen=gen_df, branch=branch_df, load_profile_mw=profile)
    )
