"""MATPOWER change tables (``chgtab``): contingency lists and area-load scenarios.

``contab_*.m``: one label per contingency; a contingency this project models is
a single branch taken out of service (``CT_TBRCH <row> BR_STATUS CT_REP 0``) or a
single generator taken out of service (``CT_TGEN <row> GEN_STATUS CT_REP 0``).
Everything else (multi-element changes, other change types) is listed as not
modeled. ``scenarios_*.m``: per hour (label), the total real load of each area
(``CT_TAREALOAD <area> CT_LOAD_ALL_P CT_REP <MW>``); bus loads in an area are
scaled by ``new_total / case_total`` as MATPOWER's ``scale_load`` does.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .model import Network, NetworkDataError

_CONSTANTS = {
    "CT_TBUS": 1, "CT_TGEN": 2, "CT_TBRCH": 3, "CT_TAREABUS": 11, "CT_TAREAGEN": 12,
    "CT_TAREABRCH": 13, "CT_TLOAD": 4, "CT_TAREALOAD": 14, "CT_TGENCOST": 5, "CT_TAREAGENCOST": 15,
    "CT_REP": 1, "CT_REL": 2, "CT_ADD": 3, "CT_LOAD_ALL_P": 1, "CT_LOAD_FIX_P": 2,
    "CT_LOAD_DIS_P": 3, "CT_LOAD_ALL_PQ": 4, "CT_LOAD_FIX_PQ": 5, "CT_LOAD_DIS_PQ": 6,
    "BR_STATUS": 11, "GEN_STATUS": 8,
}
CHGTAB_COLUMNS = ["label", "prob", "table", "row", "col", "chgtype", "newval"]


def read_chgtab(path: str | os.PathLike) -> pd.DataFrame:
    """The ``chgtab = [ ... ];`` matrix with MATPOWER's symbolic constants resolved to numbers."""
    path = Path(path)
    if not path.is_file():
        raise NetworkDataError(f"{path}: no such change-table file")
    text = path.read_text()
    m = re.search(r"chgtab\s*=\s*\[(.*?)\];", text, re.S)
    if not m:
        raise NetworkDataError(f"{path}: no 'chgtab = [ ... ];' matrix found")
    start_line = text[: m.start(1)].count("\n") + 1
    block = re.sub(r"%[^\n]*", "", m.group(1)).replace(";", " ")
    for name, value in _CONSTANTS.items():
        block = re.sub(rf"\b{name}\b", str(value), block)
    try:
        df = pd.read_csv(io.StringIO(block), sep=r"\s+", header=None, names=CHGTAB_COLUMNS, dtype=float)
    except ValueError as exc:
        bad = next(
            (i for i, ln in enumerate(block.splitlines()) if ln.strip() and not re.fullmatch(r"[\s0-9eE.+-]+", ln)),
            0,
        )
        raise NetworkDataError(f"{path}:{start_line + bad}: unrecognised chgtab row ({exc})") from None
    if df.isna().any().any():
        raise NetworkDataError(f"{path}: chgtab rows must have 7 values each")
    return df


def read_contingency_table(path: str | os.PathLike) -> pd.DataFrame:
    """One row per contingency label: ``label``, ``branch_row`` / ``gen_row`` (1-based source row of the outaged
    branch / generator, or -1), ``reason`` ("" if the change is a single branch or generator outage)."""
    ct = read_chgtab(path)
    grouped = ct.groupby("label", sort=False)
    size = grouped["label"].transform("size").to_numpy()
    is_branch_out = (
        (ct["table"] == _CONSTANTS["CT_TBRCH"])
        & (ct["col"] == _CONSTANTS["BR_STATUS"])
        & (ct["chgtype"] == _CONSTANTS["CT_REP"])
        & (ct["newval"] == 0)
    ).to_numpy()
    is_gen_out = (
        (ct["table"] == _CONSTANTS["CT_TGEN"])
        & (ct["col"] == _CONSTANTS["GEN_STATUS"])
        & (ct["chgtype"] == _CONSTANTS["CT_REP"])
        & (ct["newval"] == 0)
    ).to_numpy()
    reason = np.where(
        size > 1, "multi-element contingency not modeled", np.where(is_branch_out | is_gen_out, "", "change type not modeled"),
    )
    out = pd.DataFrame(
        {
            "label": ct["label"].astype(int).to_numpy(),
            "branch_row": np.where(is_branch_out & (size == 1), ct["row"].astype(int), -1),
            "gen_row": np.where(is_gen_out & (size == 1), ct["row"].astype(int), -1),
            "reason": reason,
        }
    )
    return out.drop_duplicates("label").reset_index(drop=True)


def read_area_load_scenarios(path: str | os.PathLike) -> pd.DataFrame:
    """Area totals per hour: index ``hour`` (label), columns area ids, values MW."""
    ct = read_chgtab(path)
    ok = (ct["table"] == _CONSTANTS["CT_TAREALOAD"]) & (ct["col"] == _CONSTANTS["CT_LOAD_ALL_P"]) & (
        ct["chgtype"] == _CONSTANTS["CT_REP"]
    )
    if not ok.all():
        r = int(np.flatnonzero(~ok.to_numpy())[0])
        raise NetworkDataError(f"{path}: chgtab row {r + 1} is not an area real-load replacement (CT_TAREALOAD CT_LOAD_ALL_P CT_REP)")
    wide = ct.pivot_table(index="label", columns="row", values="newval", aggfunc="last")
    wide.index = wide.index.astype(int).rename("hour")
    wide.columns = wide.columns.astype(int).rename("area")
    return wide


def area_scaled_loads(network: Network, area_totals: pd.DataFrame) -> np.ndarray:
    """Bus loads (n_bus x T): each area's case loads scaled to the totals of each row of ``area_totals``."""
    area = network.bus["area"].to_numpy()
    pd_mw = network.bus["pd_mw"].to_numpy(float)
    areas = np.asarray(area_totals.columns, dtype=int)
    case_totals = pd.Series(pd_mw).groupby(area).sum().reindex(areas).to_numpy()
    if np.any(np.isnan(case_totals)) or np.any(case_totals == 0):
        raise NetworkDataError(f"{network.name}: scenario areas {areas.tolist()} do not all have load in the case")
    factors = area_totals.to_numpy(float) / case_totals[None, :]  # T x areas
    pos = pd.Index(areas).get_indexer(area)
    scale = np.where(pos[:, None] >= 0, factors.T[np.maximum(pos, 0)], 1.0)  # n_bus x T
    return pd_mw[:, None] * scale
