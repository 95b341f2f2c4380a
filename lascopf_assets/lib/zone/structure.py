"""Grid structure of the demo zone: meters per junction, phase allocation, replacements, topology.

Each feeder is one HV/MV source transformer feeding a three-phase (``ABC``)
backbone of busbars and line segments; single-phase laterals hang off backbone
busbars, the first segment of each lateral being its *junction*; meters hang off
the lateral's nodes. Junction phases are allocated per feeder with a deliberate
skew (the feeder's own) so the initial imbalance is large.

Element ids: a one-feeder zone has ``TR1``, ``BB001``, ``L001``, junctions
``J001`` with further segments ``J001-S2``, nodes ``CN00000`` (the source),
``CN00001``... With several feeders, feeder ``f`` (1-based, zero-padded to the
width of the feeder count) has transformer ``TR<f>`` and every other element and
node id is prefixed ``F<f>-`` (``F2-BB001``, ``F2-J001-S2``, ``F2-CN00000``).
Meter ids ``MTR...`` are numbered over the whole zone. A feeder is named after
its source transformer (``TR2``).

Meter *positions* are the physical places meters hang, numbered in junction
order, the junctions feeder by feeder; a replaced meter's successor reports from
the same position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lascopf_assets.lib.zone.params import DemoZoneParams
from lascopf_assets.lib.zone.topology import TOPOLOGY_COLUMNS

PHASES = ("A", "B", "C")
SOURCE_CN = "CN00000"  # the source node of a one-feeder zone (feeder f of several: "F<f>-CN00000")

# The realised hourly imbalance runs a few % below the share-based skew (the
# residential/commercial mix differs between phases hour by hour): measured.
_SKEW_CALIBRATION = 1.03


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer split of ``total`` proportional to ``weights`` (largest remainder)."""
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    rest = total - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def draw_meter_counts(params: DemoZoneParams, rng: np.random.Generator) -> np.ndarray:
    """Meter positions on each junction: draws from the range, or ``total_meters`` split in their proportion."""
    low, high = params.meters_per_junction
    draws = rng.integers(low, high + 1, size=params.total_junctions)
    if params.total_meters is None:
        return draws.astype(np.int64)
    return 1 + apportion(params.total_meters - params.total_junctions, draws.astype(float))


def phase_targets(skew: float) -> np.ndarray:
    """Phase shares whose max relative deviation from the mean equals ``skew``."""
    return np.array([1.0 + skew, 1.0 - 0.3 * skew, 1.0 - 0.7 * skew]) / 3.0


def allocate_phases(expected_load: np.ndarray, imbalance: float) -> list[str]:
    """Phase of each junction: largest expected load first, each to the phase furthest below its target share."""
    target = phase_targets(imbalance * _SKEW_CALIBRATION) * expected_load.sum()
    phase_load = np.zeros(3)
    phase_index = np.empty(len(expected_load), dtype=np.int64)
    for junction in np.argsort(-expected_load, kind="stable"):  # loop over junctions, not readings
        phase = int(np.argmax(target - phase_load))
        phase_index[junction] = phase
        phase_load[phase] += expected_load[junction]
    return [PHASES[p] for p in phase_index]


@dataclass(frozen=True)
class MeterReplacements:
    """Meters swapped for a new one during the zone's time span."""

    positions: np.ndarray  # replaced meter positions, ascending
    first_hours: np.ndarray  # hour index from which the new meter reports
    new_ids: np.ndarray  # meter id of each new meter


def draw_replacements(params: DemoZoneParams, position_ids: np.ndarray, rng: np.random.Generator) -> MeterReplacements:
    """Which positions get a new meter (``<old id>R``) and from which hour (never the first)."""
    positions = len(position_ids)
    count = max(1, positions // 200) if params.replacements is None else params.replacements
    count = min(count, positions) if params.hours >= 2 else 0
    if count:
        replaced = np.sort(rng.choice(positions, size=count, replace=False))
        first_hours = rng.integers(1, params.hours, size=count)
    else:
        replaced, first_hours = np.zeros(0, np.int64), np.zeros(0, np.int64)
    new_ids = np.array([f"{position_ids[p]}R" for p in replaced], dtype=object)
    return MeterReplacements(positions=replaced, first_hours=first_hours, new_ids=new_ids)


def feeder_names(feeders: int) -> tuple[list[str], list[str]]:
    """Source transformer id (the feeder's name) and element id prefix of each feeder.

    One feeder: ``TR1`` and no prefix (the ids a one-feeder zone has always had).
    Several: ``TR<f>`` and ``F<f>-``, ``f`` from 1, zero-padded to the width of ``feeders``.
    """
    if feeders == 1:
        return ["TR1"], [""]
    width = len(str(feeders))
    numbers = [f"{f:0{width}d}" for f in range(1, feeders + 1)]
    return [f"TR{n}" for n in numbers], [f"F{n}-" for n in numbers]


Row = tuple[str, str, str, str, str]


def _feeder_rows(
    rows: list[Row],
    rng: np.random.Generator,
    transformer_id: str,
    prefix: str,
    meter_counts: np.ndarray,
    first_position: int,
    position_ids: np.ndarray,
    junction_phase: Sequence[str],
    replacement_of: dict[int, str],
) -> list[str]:
    """Append one feeder's rows (transformer, backbone, laterals, meters); return its junction ids.

    ``meter_counts`` and ``junction_phase`` are this feeder's; its meters take the
    positions from ``first_position`` on.
    """
    junction_count = len(meter_counts)
    node_numbers = iter(range(1, 10**9))

    def new_node() -> str:
        return f"{prefix}CN{next(node_numbers):05d}"

    first = new_node()
    rows.append((transformer_id, "transformer", "ABC", f"{prefix}{SOURCE_CN}", first))
    bus_count = max(3, math.ceil(junction_count / 3))
    trunk_count = max(2, math.ceil(0.6 * bus_count))
    bus_nodes = [first]
    rows.append((f"{prefix}BB001", "busbar", "ABC", first, ""))
    for bus in range(1, bus_count):
        parent = bus_nodes[-1] if bus < trunk_count else bus_nodes[int(rng.integers(0, trunk_count))]
        node = new_node()
        rows.append((f"{prefix}L{bus:03d}", "line", "ABC", parent, node))
        rows.append((f"{prefix}BB{bus + 1:03d}", "busbar", "ABC", node, ""))
        bus_nodes.append(node)

    junction_ids = [f"{prefix}J{j + 1:03d}" for j in range(junction_count)]
    position = first_position
    for junction, junction_id in enumerate(junction_ids):
        phase = junction_phase[junction]
        upstream = bus_nodes[int(rng.integers(0, bus_count))]
        lateral_nodes = []
        for segment in range(int(rng.integers(1, 4))):
            node = new_node()
            segment_id = junction_id if segment == 0 else f"{junction_id}-S{segment + 1}"
            rows.append((segment_id, "line", phase, upstream, node))
            lateral_nodes.append(node)
            upstream = node
        meter_nodes = rng.integers(0, len(lateral_nodes), size=int(meter_counts[junction]))
        for node_index in meter_nodes:
            node = lateral_nodes[int(node_index)]
            rows.append((str(position_ids[position]), "meter", phase, node, ""))
            if position in replacement_of:
                rows.append((replacement_of[position], "meter", phase, node, ""))
            position += 1
    return junction_ids


def topology_rows(
    rng: np.random.Generator,
    meter_counts: np.ndarray,
    position_ids: np.ndarray,
    junction_phase: list[str],
    replacement_of: dict[int, str],
    feeder_junctions: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Radial trees, one per feeder: transformer -> ABC busbars/lines -> single-phase laterals -> meters.

    ``feeder_junctions`` splits the junctions (in order) over the feeders; by
    default all are on one feeder. The feeders are built one after the other,
    each drawing from ``rng`` as a one-feeder zone does. ``replacement_of`` maps a
    meter position to its new meter's id, listed next to the old one at the same
    node. Loops here run over grid elements (a few thousand), not over readings.
    """
    counts = [len(meter_counts)] if feeder_junctions is None else list(feeder_junctions)
    transformer_ids, prefixes = feeder_names(len(counts))
    rows: list[Row] = []
    junction_ids: list[str] = []
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for f, (transformer_id, prefix) in enumerate(zip(transformer_ids, prefixes)):
        lo, hi = int(bounds[f]), int(bounds[f + 1])
        junction_ids += _feeder_rows(
            rows,
            rng,
            transformer_id,
            prefix,
            meter_counts[lo:hi],
            int(meter_counts[:lo].sum()),
            position_ids,
            junction_phase[lo:hi],
            replacement_of,
        )
    return pd.DataFrame(rows, columns=list(TOPOLOGY_COLUMNS), dtype="str"), junction_ids


@dataclass(frozen=True)
class GridStructure:
    """The zone's grid and who sits where on it."""

    topology: pd.DataFrame  # rows of grid_topology.csv (all str, "" = no terminal)
    junction_ids: list[str]
    junction_phase: list[str]  # phase per junction, in junction_ids order
    junction_feeder: list[str]  # feeder (its source transformer id) per junction, in junction_ids order
    feeder_ids: list[str]  # the feeders' source transformer ids, in feeder order
    position_ids: np.ndarray  # meter id first installed at each position (sorted)
    position_junction: np.ndarray  # junction index per position
    replacements: MeterReplacements

    @property
    def meter_ids(self) -> np.ndarray:
        """Every meter id: the positions' first meters, then the replacement meters."""
        return np.concatenate([self.position_ids, self.replacements.new_ids])

    @property
    def meter_position(self) -> np.ndarray:
        """Position of each entry of :attr:`meter_ids`."""
        return np.concatenate([np.arange(len(self.position_ids)), self.replacements.positions])


def build_grid_structure(
    params: DemoZoneParams,
    meter_counts: np.ndarray,
    mean_kwh: np.ndarray,
    structure_rng: np.random.Generator,
    replacement_rng: np.random.Generator,
) -> GridStructure:
    """Meter ids, skewed junction phases (by expected load ``mean_kwh`` per position), replacements, topology.

    Each feeder's junctions get phases skewed by that feeder's skew, from the
    expected load of that feeder alone. ``structure_rng`` must be the one
    :func:`draw_meter_counts` drew ``meter_counts`` from.
    """
    positions = int(meter_counts.sum())
    width = max(5, len(str(positions)))
    position_ids = np.array([f"MTR{i + 1:0{width}d}" for i in range(positions)], dtype=object)
    junction_count = params.total_junctions
    position_junction = np.repeat(np.arange(junction_count), meter_counts)
    expected_load = np.bincount(position_junction, weights=mean_kwh, minlength=junction_count)
    per_feeder = params.junctions_per_feeder
    bounds = np.concatenate([[0], np.cumsum(per_feeder)])
    junction_phase: list[str] = []
    for f, skew in enumerate(params.feeder_skews):  # loop over feeders
        junction_phase += allocate_phases(expected_load[bounds[f] : bounds[f + 1]], skew)
    replacements = draw_replacements(params, position_ids, replacement_rng)
    replacement_of = dict(zip(replacements.positions.tolist(), replacements.new_ids.tolist()))
    topology, junction_ids = topology_rows(
        structure_rng, meter_counts, position_ids, junction_phase, replacement_of, per_feeder
    )
    feeder_ids, _ = feeder_names(params.feeders)
    return GridStructure(
        topology=topology,
        junction_ids=junction_ids,
        junction_phase=junction_phase,
        junction_feeder=np.repeat(np.array(feeder_ids, dtype=object), per_feeder).tolist(),
        feeder_ids=feeder_ids,
        position_ids=position_ids,
        position_junction=position_junction,
        replacements=replacements,
    )


@dataclass(frozen=True)
class GroundTruth:
    """Where everything was put: the answers detection and tracing must find."""

    junction_phase: dict[str, str]
    junction_feeder: dict[str, str]  # junction -> its feeder's source transformer id
    meter_junction: dict[str, str]  # replacement meters included
    replacements: pd.DataFrame  # old_meter_id, new_meter_id, timestamp


def ground_truth(structure: GridStructure, params: DemoZoneParams) -> GroundTruth:
    """``junction -> phase``, ``junction -> feeder``, ``meter -> junction`` (replacements included), replacements."""
    junction_phase = dict(zip(structure.junction_ids, structure.junction_phase))
    junction_feeder = dict(zip(structure.junction_ids, structure.junction_feeder))
    junction_of = [structure.junction_ids[j] for j in structure.position_junction[structure.meter_position]]
    meter_junction = dict(zip(structure.meter_ids.astype(str).tolist(), junction_of))
    replaced = structure.replacements
    first_hour = np.datetime64(params.start, "h")
    replacements = pd.DataFrame(
        {
            "old_meter_id": pd.array(structure.position_ids[replaced.positions].astype(str), dtype="str"),
            "new_meter_id": pd.array(replaced.new_ids.astype(str), dtype="str"),
            "timestamp": pd.to_datetime((first_hour + replaced.first_hours).astype("datetime64[us]"), utc=True),
        }
    )
    return GroundTruth(
        junction_phase=junction_phase,
        junction_feeder=junction_feeder,
        meter_junction=meter_junction,
        replacements=replacements,
    )
