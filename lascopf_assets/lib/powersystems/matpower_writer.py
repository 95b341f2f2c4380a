"""Write a :class:`Network` as a MATPOWER version 2 case file (``bus``, ``gen``, ``branch``, ``gencost``).

What the file holds, column by column:

- ``bus``: TYPE from the model (3 reference, 2 with a generator, else 1), PD =
  ``pd_mw``, GS = ``gs_mw``, AREA = ``area``. The AC columns the DC model does
  not keep (QD, BS, VM, VA, BASE_KV, ZONE, VMAX, VMIN) are copied by bus id
  from ``ac_source`` (the case the network was read from) when given, else
  MATPOWER's neutral values (0, 0, 1, 0, 0, 1, 1.1, 0.9).
- ``gen``: PMAX, PMIN; ramp limits as RAMP_AGC (MW/min), RAMP_10 and RAMP_30
  (MW) from the per-interval ramp, intervals being one hour (0 = none, as in
  MATPOWER; asymmetric up/down ramps cannot be written and raise). PG, QG,
  QMAX, QMIN, VG, MBASE are copied from ``ac_source`` by source row (the
  reader's ``G<row>`` names) when given; otherwise PG = PMIN, Q = 0, VG = 1,
  MBASE = baseMVA.
- ``branch``: R, X, TAP (1 written as 0, MATPOWER's "line"), SHIFT, RATE_A
  (unlimited written as 0), ANGMIN/ANGMAX (no limit written as -360/360).
  BR_B, RATE_B, RATE_C from ``ac_source`` by source row, else 0.
- ``gencost``: model 2 with NCOST 3 (``c2 c1 c0``) or model 1 with the
  piecewise-linear points; rows padded with zeros to one width.

Not representable in MATPOWER and therefore not written: ``p_prev_mw`` and
``contingency_marked``. Only in-service elements are written, so element
names (``G<row>``, ``L<row>``) read back from the file follow the new rows.
Numbers are written as their shortest exact text: reading the file back
gives the same floats.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..network.model import Network, NetworkDataError

BUS_HEADER = "bus_i\ttype\tPd\tQd\tGs\tBs\tarea\tVm\tVa\tbaseKV\tzone\tVmax\tVmin"
GEN_HEADER = (
    "bus\tPg\tQg\tQmax\tQmin\tVg\tmBase\tstatus\tPmax\tPmin\tPc1\tPc2\tQc1min\tQc1max\tQc2min\tQc2max"
    "\tramp_agc\tramp_10\tramp_30\tramp_q\tapf"
)
BRANCH_HEADER = "fbus\ttbus\tr\tx\tb\trateA\trateB\trateC\tratio\tangle\tstatus\tangmin\tangmax"
_IDENT = re.compile(r"[^A-Za-z0-9_]")


def _number(v: float) -> str:
    text = repr(v)  # the shortest text that reads back as the same float
    return text[:-2] if text.endswith(".0") else text


def _matrix(values: np.ndarray) -> str:
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if not np.all(np.isfinite(values)):
        raise NetworkDataError("MATPOWER writer: non-finite value in a case table")
    return "".join("\t" + "\t".join(map(_number, row)) + ";\n" for row in values.tolist())


def _function_name(name: str) -> str:
    ident = _IDENT.sub("_", name) or "case"
    return ident if ident[0].isalpha() else f"case_{ident}"


def _source_rows(names: pd.Series, prefix: str) -> np.ndarray:
    """1-based source rows from reader names like ``G3``; -1 where the name has another form."""
    extracted = names.astype(str).str.extract(rf"^{prefix}(\d+)$")[0]
    return pd.to_numeric(extracted, errors="coerce").fillna(0).to_numpy(np.int64) - 1


def _caseframes(path: Path):
    from matpowercaseframes import CaseFrames

    if not path.is_file():
        raise NetworkDataError(f"{path}: no such MATPOWER case file")
    with warnings.catch_warnings():  # the parser's own pandas deprecation notices
        warnings.simplefilter("ignore")
        return CaseFrames(str(path))


def _ac_columns(network: Network, ac_source: Path | None):
    n_bus, n_gen, n_br = network.n_bus, network.n_gen, network.n_branch
    bus_ac = np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.1, 0.9], (n_bus, 1))  # QD BS VM VA BASE_KV ZONE VMAX VMIN
    gen_ac = np.column_stack([
        network.gen["pmin_mw"].to_numpy(float), np.zeros((n_gen, 3)), np.ones(n_gen), np.full(n_gen, network.base_mva),
    ])  # PG QG QMAX QMIN VG MBASE
    br_ac = np.zeros((n_br, 3))  # BR_B RATE_B RATE_C
    if ac_source is None:
        return bus_ac, gen_ac, br_ac
    cf = _caseframes(Path(ac_source))
    src_bus = cf.bus.set_index(cf.bus["BUS_I"].to_numpy().astype(np.int64))
    pos = src_bus.index.get_indexer(network.bus["bus"].to_numpy())
    ok = pos >= 0
    cols = ["QD", "BS", "VM", "VA", "BASE_KV", "ZONE", "VMAX", "VMIN"]
    bus_ac[ok] = src_bus[cols].to_numpy(float)[pos[ok]]
    rows = _source_rows(network.gen["gen"], "G")
    ok = (rows >= 0) & (rows < len(cf.gen))
    gen_ac[ok] = cf.gen[["PG", "QG", "QMAX", "QMIN", "VG", "MBASE"]].to_numpy(float)[rows[ok]]
    rows = network.branch["source_row"].to_numpy(np.int64) - 1
    ok = (rows >= 0) & (rows < len(cf.branch))
    br_ac[ok] = cf.branch[["BR_B", "RATE_B", "RATE_C"]].to_numpy(float)[rows[ok]]
    return bus_ac, gen_ac, br_ac


def _ramp_columns(network: Network) -> np.ndarray:
    up = network.gen["ramp_up_mw"].to_numpy(float)
    down = network.gen["ramp_down_mw"].to_numpy(float)
    asym = ~((up == down) | (np.isinf(up) & np.isinf(down)))
    if asym.any():
        g = network.gen["gen"].to_numpy()[np.flatnonzero(asym)[0]]
        raise NetworkDataError(f"{network.name}: generator {g} has different up/down ramps; MATPOWER holds one ramp rate")
    hourly = np.where(np.isfinite(up), up, 0.0)
    return np.column_stack([hourly / 60.0, hourly / 6.0, hourly / 2.0])  # RAMP_AGC (MW/min), RAMP_10, RAMP_30 (MW)


def _gencost(network: Network) -> np.ndarray:
    gen = network.gen
    n = network.n_gen
    pwl = network.is_piecewise_linear()
    points = network.pwl_points
    counts = points.groupby("gen", sort=False).size() if len(points) else pd.Series(dtype=np.int64)
    ncost = np.where(pwl, counts.reindex(gen["gen"]).fillna(0).to_numpy(np.int64), 3)
    if (pwl & (ncost < 2)).any():
        g = gen["gen"].to_numpy()[np.flatnonzero(pwl & (ncost < 2))[0]]
        raise NetworkDataError(f"{network.name}: generator {g} has a piecewise-linear cost with fewer than 2 points")
    width = 4 + int(max(3, (2 * ncost[pwl]).max() if pwl.any() else 3))
    out = np.zeros((n, width))
    out[:, 0] = np.where(pwl, 1, 2)
    out[:, 3] = ncost
    out[~pwl, 4:7] = gen.loc[~pwl, ["c2", "c1", "c0"]].to_numpy(float)
    for i in np.flatnonzero(pwl):  # one row per piecewise-linear generator
        pts = points.loc[points["gen"] == gen["gen"].iat[i], ["mw", "cost"]].to_numpy(float)
        out[i, 4 : 4 + 2 * len(pts)] = pts.ravel()
    return out


def matpower_text(network: Network, ac_source: str | os.PathLike | None = None, name: str | None = None) -> str:
    """The MATPOWER case file's text (see the module docstring)."""
    bus_ac, gen_ac, br_ac = _ac_columns(network, Path(ac_source) if ac_source else None)
    bus = network.bus
    gen = network.gen
    br = network.branch
    has_gen = np.isin(bus["bus"].to_numpy(), gen["bus"].to_numpy())
    bus_type = np.where(bus["is_ref"].to_numpy(bool), 3, np.where(has_gen, 2, 1))
    bus_m = np.column_stack([
        bus["bus"].to_numpy(float), bus_type, bus["pd_mw"].to_numpy(float), bus_ac[:, 0], bus["gs_mw"].to_numpy(float),
        bus_ac[:, 1], bus["area"].to_numpy(float), bus_ac[:, 2:],
    ])
    n_gen = network.n_gen
    gen_m = np.column_stack([
        gen["bus"].to_numpy(float), gen_ac[:, :6], np.ones(n_gen), gen["pmax_mw"].to_numpy(float),
        gen["pmin_mw"].to_numpy(float), np.zeros((n_gen, 6)), _ramp_columns(network), np.zeros((n_gen, 2)),
    ])
    tap = br["tap"].to_numpy(float)
    rate = br["rate_mw"].to_numpy(float)
    angmin = br["angmin_deg"].to_numpy(float)
    angmax = br["angmax_deg"].to_numpy(float)
    br_m = np.column_stack([
        br["from_bus"].to_numpy(float), br["to_bus"].to_numpy(float), br["r_pu"].to_numpy(float), br["x_pu"].to_numpy(float),
        br_ac[:, 0], np.where(np.isfinite(rate), rate, 0.0), br_ac[:, 1], br_ac[:, 2], np.where(tap == 1.0, 0.0, tap),
        br["shift_deg"].to_numpy(float), np.ones(network.n_branch), np.where(np.isfinite(angmin), angmin, -360.0),
        np.where(np.isfinite(angmax), angmax, 360.0),
    ])
    fname = _function_name(name or network.name)
    return (
        f"function mpc = {fname}\n"
        f"%{fname.upper()}  {network.name}: written by lascopf_assets from its DC network model.\n\n"
        "%% MATPOWER Case Format : Version 2\nmpc.version = '2';\n\n"
        f"%% system MVA base\nmpc.baseMVA = {network.base_mva:.17g};\n\n"
        f"%% bus data\n%\t{BUS_HEADER}\nmpc.bus = [\n{_matrix(bus_m)}];\n\n"
        f"%% generator data\n%\t{GEN_HEADER}\nmpc.gen = [\n{_matrix(gen_m)}];\n\n"
        f"%% branch data\n%\t{BRANCH_HEADER}\nmpc.branch = [\n{_matrix(br_m)}];\n\n"
        "%% generator cost data\n%\t1\tstartup\tshutdown\tn\tx1\ty1\t...\txn\tyn\n%\t2\tstartup\tshutdown\tn\tc(n-1)\t...\tc0\n"
        f"mpc.gencost = [\n{_matrix(_gencost(network))}];\n"
    )


def write_matpower_case(
    network: Network, path: str | os.PathLike, ac_source: str | os.PathLike | None = None, name: str | None = None
) -> Path:
    """Write ``network`` as a MATPOWER v2 case at ``path`` (the function name follows ``name`` or the network's)."""
    path = Path(path)
    path.write_text(matpower_text(network, ac_source, name or path.stem))
    return path


def read_ramps(path: str | os.PathLike) -> np.ndarray:
    """Hourly ramp limits (MW per interval, ``inf`` = none) of the in-service generators of a case this module wrote.

    The project's reader does not read MATPOWER's ramp columns; this takes RAMP_30
    (MW in 30 minutes) times 2, the convention :func:`write_matpower_case` uses.
    """
    cf = _caseframes(Path(path))
    on = cf.gen["GEN_STATUS"].to_numpy(float) > 0
    ramp30 = cf.gen["RAMP_30"].to_numpy(float)[on] if "RAMP_30" in cf.gen.columns else np.zeros(int(on.sum()))
    return np.where(ramp30 > 0, 2.0 * ramp30, np.inf)
