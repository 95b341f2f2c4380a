"""Feeder demand mapped to transmission buses: the day's 24 hourly bus loads.

The rule (exact):

1. Feeder demand ``d_j(h)``: the kWh of junction ``j`` in hour ``h`` of the day,
   summed over phases (``junction_aggregates``). An hour with no row for a
   junction that has rows on other hours of the day counts 0 kWh. A junction
   with no row at all that day is absent and contributes nothing.
2. Each bus ``b`` with mapped, present feeders ``F_b`` has the demand
   ``D_b(h) = sum_{j in F_b} d_j(h)`` and the factor
   ``f_b(h) = D_b(h) / mean_h D_b(h)`` (mean over the day's 24 hours).
3. Bus load: ``load_b(h) = Pd_b * f_b(h)`` with ``Pd_b`` the case's bus load.
   So each bus keeps its case energy over the day (24 * Pd_b MWh) and takes the
   hourly shape of its feeders. A bus with no present feeder, or whose feeders
   draw 0 kWh all day, keeps its case load every hour (``f_b = 1``).

Mappings: an explicit ``{junction: bus id}`` dictionary (junctions not listed
are ignored and reported), or the *spread* rule: the day's junctions sorted by
name are dealt round-robin over the case's load buses (``Pd > 0``) in case
order (junction ``i`` -> load bus ``i mod n_load``). A bus with zero case load
cannot take feeders under this rule (scaling 0 gives 0), so mapping a junction
to one is an error, as is an unknown bus id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..network.model import Network, NetworkDataError

HOURS = 24
BUS_LOAD_COLUMNS = ["timestamp", "bus", "load_mw"]


class MappingError(ValueError):
    """A feeder-to-bus mapping that cannot be applied (the message says why)."""


@dataclass(frozen=True)
class BusLoads:
    """The day's bus loads and how they were obtained.

    ``matrix``: n_bus x 24 MW in the network's bus order; ``timestamps``: the 24
    hour starts (UTC); ``assignment``: ``junction, bus`` actually used;
    ``unmapped``: junctions present that day but not mapped.
    """

    network_name: str
    bus_ids: np.ndarray
    timestamps: pd.DatetimeIndex
    matrix: np.ndarray
    assignment: pd.DataFrame
    unmapped: list[str]

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


def spread_mapping(junctions, network: Network) -> dict[str, int]:
    """Junctions sorted by name, dealt round-robin over the case's load buses."""
    targets = load_buses(network)
    if targets.size == 0:
        raise MappingError(f"{network.name}: no bus with a positive load to spread feeders over")
    names = sorted({str(j) for j in junctions})
    return {j: int(targets[i % targets.size]) for i, j in enumerate(names)}


def feeder_matrix(aggregates: pd.DataFrame, hours: pd.DatetimeIndex) -> tuple[list[str], np.ndarray]:
    """Junctions present in the day and their kWh per hour (junctions x 24), phases summed."""
    missing = [c for c in ("timestamp", "junction", "kwh") if c not in aggregates.columns]
    if missing:
        raise MappingError(f"junction aggregates lack columns {missing}")
    ts = pd.to_datetime(aggregates["timestamp"], utc=True)
    slot = pd.Index(hours).get_indexer(ts)
    inside = slot >= 0
    if not inside.any():
        return [], np.zeros((0, len(hours)))
    codes, names = pd.factorize(aggregates["junction"].astype(str).to_numpy()[inside], sort=True)
    kwh = aggregates["kwh"].to_numpy(float)[inside]
    if not np.all(np.isfinite(kwh)):
        raise MappingError("junction aggregates contain non-finite kWh")
    flat = np.bincount(codes * len(hours) + slot[inside], weights=kwh, minlength=len(names) * len(hours))
    return [str(n) for n in names], flat.reshape(len(names), len(hours))


def map_feeders_to_buses(
    network: Network,
    aggregates: pd.DataFrame,
    day,
    mapping: Mapping[str, int] | None = None,
) -> BusLoads:
    """The day's bus loads under the rule in the module docstring (``mapping=None``: spread rule)."""
    hours = day_hours(day)
    junctions, kwh = feeder_matrix(aggregates, hours)
    if mapping is None:
        mapping = spread_mapping(junctions, network)
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
            f"feeder mapping: junction {zero[0]} is mapped to bus {mapping[zero[0]]}, which has no case load to scale"
        )
    pos_of = dict(zip(mapping, positions))
    mapped = np.array([j in pos_of for j in junctions], dtype=bool)
    rows = np.array([pos_of[j] for j, m in zip(junctions, mapped) if m], dtype=np.int64)
    # incidence (bus x mapped junction) times feeder kWh: every bus's demand at once
    demand = np.zeros((len(bus_ids), len(hours)))
    np.add.at(demand, rows, kwh[mapped])
    mean = demand.mean(axis=1)
    factor = np.ones_like(demand)
    scaled = mean > 0
    factor[scaled] = demand[scaled] / mean[scaled, None]
    matrix = pd_mw[:, None] * factor
    used = [j for j, m in zip(junctions, mapped) if m]
    assignment = pd.DataFrame({"junction": used, "bus": bus_ids[rows]})
    return BusLoads(
        network_name=network.name,
        bus_ids=bus_ids,
        timestamps=hours,
        matrix=matrix,
        assignment=assignment,
        unmapped=[j for j, m in zip(junctions, mapped) if not m],
    )
