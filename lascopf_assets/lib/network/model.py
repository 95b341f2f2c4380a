"""The transmission network both readers produce (MATPOWER ``.m`` and legacy text).

Units: MW on the case's MVA base, reactances in per unit, angles in degrees
in the tables (radians inside the DC model). Only in-service elements are held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BUS_COLUMNS = ("bus", "pd_mw", "gs_mw", "area", "is_ref")
GEN_COLUMNS = (
    "gen", "bus", "pmin_mw", "pmax_mw", "ramp_up_mw", "ramp_down_mw", "p_prev_mw",
    "cost_model", "c2", "c1", "c0",
)
BRANCH_COLUMNS = (
    "branch", "from_bus", "to_bus", "r_pu", "x_pu", "tap", "shift_deg", "rate_mw",
    "angmin_deg", "angmax_deg", "contingency_marked", "source_row",
)
PWL_COLUMNS = ("gen", "mw", "cost")


class NetworkDataError(ValueError):
    """Bad network input: the message names the file, the line or element and the reason."""


@dataclass(frozen=True)
class Network:
    """An in-service DC transmission network.

    Tables (one row per element, positional order is the model order):

    - ``bus``: ``bus`` (int id), ``pd_mw`` (case load), ``gs_mw`` (shunt
      conductance as constant load at 1 p.u.), ``area`` (int), ``is_ref`` (bool).
    - ``gen``: ``gen`` (str name), ``bus``, ``pmin_mw``, ``pmax_mw``,
      ``ramp_up_mw`` / ``ramp_down_mw`` (max increase / decrease per interval,
      ``inf`` = none), ``p_prev_mw`` (output before interval 1, NaN = unknown),
      ``cost_model`` (``"poly"`` or ``"pwl"``), ``c2, c1, c0`` ($/MW^2h, $/MWh, $/h).
    - ``branch``: ``branch`` (str name), ``from_bus``, ``to_bus``, ``r_pu``,
      ``x_pu``, ``tap`` (1.0 for lines), ``shift_deg``, ``rate_mw`` (``inf`` =
      unlimited), ``angmin_deg``/``angmax_deg`` (``-inf``/``inf`` = no limit),
      ``contingency_marked`` (bool), ``source_row`` (1-based row in the source
      branch table, which contingency tables refer to); MATPOWER cases also carry
      ``rate_b_mw``/``rate_c_mw`` (rateB/rateC, NaN = not given), which the corrective
      LASCOPF's emergency ratings use; other sources may leave them out.
    - ``pwl_points``: ``gen``, ``mw``, ``cost`` breakpoints of piecewise-linear
      costs, in order per generator.
    - ``load_profile_mw``: optional (n_bus x T) MW load per bus and interval
      given by the data itself (legacy format).
    """

    name: str
    base_mva: float
    bus: pd.DataFrame
    gen: pd.DataFrame
    branch: pd.DataFrame
    pwl_points: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PWL_COLUMNS)))
    load_profile_mw: np.ndarray | None = None

    @property
    def n_bus(self) -> int:
        return len(self.bus)

    @property
    def n_gen(self) -> int:
        return len(self.gen)

    @property
    def n_branch(self) -> int:
        return len(self.branch)

    def bus_position(self, bus_ids) -> np.ndarray:
        """Positions (0-based rows of ``bus``) of bus ids; raises on an unknown id."""
        index = pd.Index(self.bus["bus"].to_numpy())
        pos = index.get_indexer(np.asarray(bus_ids))
        if (pos < 0).any():
            missing = np.asarray(bus_ids)[pos < 0][:5].tolist()
            raise NetworkDataError(f"{self.name}: unknown bus id(s) {missing}")
        return pos

    def case_loads(self, intervals: int = 1, multipliers=None) -> np.ndarray:
        """Bus loads (n_bus x T) in MW.

        With the data's own load profile (legacy format): its first ``intervals``
        columns. Otherwise the case loads ``pd_mw`` repeated. ``multipliers`` (one
        per interval; their count sets T) scale those loads interval by interval.
        """
        if multipliers is not None:
            multipliers = np.asarray(multipliers, dtype=float).ravel()
            intervals = len(multipliers)
        if intervals < 1:
            raise NetworkDataError(f"{self.name}: at least one interval is needed")
        if self.load_profile_mw is not None:
            available = self.load_profile_mw.shape[1]
            if intervals > available:
                raise NetworkDataError(f"{self.name}: {intervals} intervals requested but the data has {available}")
            base = self.load_profile_mw[:, :intervals]
        else:
            base = np.repeat(self.bus["pd_mw"].to_numpy(float)[:, None], intervals, axis=1)
        if multipliers is not None:
            base = base * multipliers[None, :]
        return np.ascontiguousarray(base)

    def is_piecewise_linear(self) -> np.ndarray:
        return (self.gen["cost_model"] == "pwl").to_numpy()

    def is_quadratic(self) -> bool:
        return bool((self.gen["c2"].to_numpy(float) > 0).any())


def validate_network(net: Network) -> Network:
    """Check the structural invariants; raise NetworkDataError with the reason."""
    for table, cols in (("bus", BUS_COLUMNS), ("gen", GEN_COLUMNS), ("branch", BRANCH_COLUMNS)):
        missing = [c for c in cols if c not in getattr(net, table).columns]
        if missing:
            raise NetworkDataError(f"{net.name}: {table} table lacks columns {missing}")
    if net.n_bus == 0:
        raise NetworkDataError(f"{net.name}: no in-service bus")
    if net.n_gen == 0:
        raise NetworkDataError(f"{net.name}: no in-service generator")
    if int(net.bus["is_ref"].sum()) < 1:
        raise NetworkDataError(f"{net.name}: no reference bus")
    net.bus_position(net.gen["bus"].to_numpy())
    net.bus_position(net.branch["from_bus"].to_numpy())
    net.bus_position(net.branch["to_bus"].to_numpy())
    x = net.branch["x_pu"].to_numpy(float)
    if (x == 0).any():
        name = net.branch["branch"].to_numpy()[np.flatnonzero(x == 0)[0]]
        raise NetworkDataError(f"{net.name}: branch {name} has zero reactance (not allowed in a DC model)")
    pmin = net.gen["pmin_mw"].to_numpy(float)
    pmax = net.gen["pmax_mw"].to_numpy(float)
    bad = np.flatnonzero(pmin > pmax + 1e-9)
    if bad.size:
        g = net.gen.iloc[bad[0]]
        raise NetworkDataError(f"{net.name}: generator {g['gen']} has Pmin {g['pmin_mw']} > Pmax {g['pmax_mw']}")
    if net.load_profile_mw is not None and net.load_profile_mw.shape[0] != net.n_bus:
        raise NetworkDataError(f"{net.name}: load profile has {net.load_profile_mw.shape[0]} rows for {net.n_bus} buses")
    return net
