"""Feeder demand mapped to transmission buses: the day's 24 hourly bus loads.

A feeder is what one substation transformer (a feeder head) carries, so it is the unit that
connects to a transmission bus. The rule (exact):

1. Feeder demand ``d_f(h)``: the kWh of feeder ``f`` in hour ``h`` of the day, summed over its
   junctions and phases (``junction_aggregates``). An hour with no row for a feeder that has
   rows on other hours of the day counts 0 kWh. A feeder with no row at all that day is absent
   and contributes nothing; rows under no feeder (a null ``feeder``) are ignored and reported.
2. Each bus ``b`` with mapped, present feeders ``F_b`` has the demand
   ``D_b(h) = sum_{f in F_b} d_f(h)`` and the factor
   ``f_b(h) = D_b(h) / mean_h D_b(h)`` (mean over the day's 24 hours).
3. Bus load: ``load_b(h) = Pd_b * f_b(h)`` with ``Pd_b`` the case's bus load.
   So each bus keeps its case energy over the day (24 * Pd_b MWh) and takes the
   hourly shape of its feeders. A bus with no present feeder, or whose feeders
   draw 0 kWh all day, keeps its case load every hour (``f_b = 1``).

Mappings: an explicit ``{feeder: bus id}`` dictionary (feeders not listed are ignored and
reported), or the *spread* rule: the day's feeders sorted by name are dealt round-robin over
the case's load buses (``Pd > 0``) in case order (feeder ``i`` -> load bus ``i mod n_load``).
A bus with zero case load cannot take feeders under this rule (scaling 0 gives 0), so mapping
a feeder to one is an error, as is an unknown bus id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..network.model import Network, NetworkDataError

HOURS = 24
BUS_LOAD_COLUMNS = ["timestamp", "bus", "load_mw"]
FEEDER = "feeder"


class MappingError(ValueError):
    """A feeder-to-bus mapping that cannot be applied (the message says why)."""


@dataclass(frozen=True)
class BusLoads:
    """The day's bus loads and how they were obtained.

    ``matrix``: n_bus x 24 MW in the network's bus order; ``timestamps``: the 24
    hour starts (UTC); ``assignment``: ``feeder, bus`` actually used;
    ``unmapped``: feeders present that day but not mapped; ``kwh_outside_feeders``: the day's
    kWh of rows under no feeder (not mapped anywhere).
    """

    network_name: str
    bus_ids: np.ndarray
    timestamps: pd.DatetimeIndex
    matrix: np.ndarray
    assignment: pd.DataFrame
    unmapped: list[str]
    kwh_outside_feeders: float = 0.0

    def table(self) -> pd.DataFrame:
        """Long table ``timestamp, bus, load_mw`` sorted by timestamp then bus order."""
        n_bus, T = self.matrix.shape
        return pd.DataFrame(
            {
                "timestamp": self.timestamps.repeat(n_bus),
                "bus": np.tile(self.bus_ids, T),
                "load_mw": self.matrix.T.ravel(),
            }
        )

    def frame(self) -> pd.DataFrame:
        """Bus x interval MW (index bus id, columns 1..24): the form ``solve_lascopf`` takes."""
        return pd.DataFrame(self.matrix, index=pd.Index(self.bus_ids, name="bus"), columns=np.arange(1, self.matrix.shape[1] + 1))


def day_hours(day) -> pd.DatetimeIndex:
    """The 24 UTC hour starts of a day (``"2023-01-05"`` or a timestamp at midnight)."""
    start = pd.Timestamp(day)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    if start != start.normalize():
        raise MappingError(f"day {day!r} does not start at midnight UTC")
    return pd.date_range(start, periods=HOURS, freq="h").as_unit("us")


def load_buses(network: Network) -> np.ndarray:
    """Bus ids with a positive case load, in case order."""
    bus = network.bus
    return bus["bus"].to_numpy()[bus["pd_mw"].to_numpy(float) > 0]


def spread_mapping(feeders, network: Network) -> dict[str, int]:
    """Feeders sorted by name, dealt round-robin over the case's load buses."""
    targets = load_buses(network)
    if targets.size == 0:
        raise MappingError(f"{network.name}: no bus with a positive load to spread feeders over")
    names = sorted({str(j) for j in feeders})
    return {j: int(targets[i % targets.size]) for i, j in enumerate(names)}


def feeder_matrix(aggregates: pd.DataFrame, hours: pd.DatetimeIndex) -> tuple[list[str], np.ndarray, float]:
    """Feeders present in the day and their kWh per hour (feeders x 24), junctions and phases summed,
    and the day's kWh of rows under no feeder."""
    missing = [c for c in ("timestamp", FEEDER, "kwh") if c not in aggregates.columns]
    if missing:
        raise MappingError(f"junction aggregates lack columns {missing}")
    ts = pd.to_datetime(aggregates["timestamp"], utc=True)
    slot = pd.Index(hours).get_indexer(ts)
    kwh = aggregates["kwh"].to_numpy(float)
    inside = slot >= 0
    if not np.all(np.isfinite(kwh[inside])):
        raise MappingError("junction aggregates contain non-finite kWh")
    no_feeder = aggregates[FEEDER].isna().to_numpy()
    outside_feeders = float(kwh[inside & no_feeder].sum())
    inside &= ~no_feeder
    if not inside.any():
        return [], np.zeros((0, len(hours))), outside_feeders
    codes, names = pd.factorize(aggregates[FEEDER].astype(str).to_numpy()[inside], sort=True)
    flat = np.bincount(codes * len(hours) + slot[inside], weights=kwh[inside], minlength=len(names) * len(hours))
    return [str(n) for n in names], flat.reshape(len(names), len(hours)), outside_feeders


def map_feeders_to_buses(
    network: Network,
    aggregates: pd.DataFrame,
    day,
    mapping: Mapping[str, int] | None = None,
) -> BusLoads:
    """The day's bus loads under the rule in the module docstring (``mapping=None``: spread rule)."""
    hours = day_hours(day)
    feeders, kwh, outside_feeders = feeder_matrix(aggregates, hours)
    if mapping is None:
        mapping = spread_mapping(feeders, network)
    mapping = {str(j): int(b) for j, b in mapping.items()}
    bus_ids = network.bus["bus"].to_numpy()
    pd_mw = network.bus["pd_mw"].to_numpy(float)
    try:
        positions = network.bus_position(np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping)))
    except NetworkDataError as exc:
        raise MappingError(f"feeder mapping: {exc}") from exc
    zero = [j for j, p in zip(mapping, positions) if pd_mw[p] <= 0]
    if zero:
        raise MappingError(
            f"feeder mapping: feeder {zero[0]} is mapped to bus {mapping[zero[0]]}, which has no case load to scale"
        )
    pos_of = dict(zip(mapping, positions))
    mapped = np.array([f in pos_of for f in feeders], dtype=bool)
    rows = np.array([pos_of[f] for f, m in zip(feeders, mapped) if m], dtype=np.int64)
    # incidence (bus x mapped feeder) times feeder kWh: every bus's demand at once
    demand = np.zeros((len(bus_ids), len(hours)))
    np.add.at(demand, rows, kwh[mapped])
    mean = demand.mean(axis=1)
    factor = np.ones_like(demand)
    scaled = mean > 0
    factor[scaled] = demand[scaled] / mean[scaled, None]
    matrix = pd_mw[:, None] * factor
    used = [f for f, m in zip(feeders, mapped) if m]
    assignment = pd.DataFrame({FEEDER: used, "bus": bus_ids[rows]})
    return BusLoads(
        network_name=network.name,
        bus_ids=bus_ids,
        timestamps=hours,
        matrix=matrix,
        assignment=assignment,
        unmapped=[f for f, m in zip(feeders, mapped) if not m],
        kwh_outside_feeders=outside_feeders,
    )
