"""Versioned grid topology: every topology file is a version with a ``valid_from``.

A file named ``..._YYYY-MM-DD.csv`` is valid from that day (00:00 UTC); a file
without a date in its name is valid from ``default_valid_from``. Versions with
identical content collapse into the earliest. The table returned holds every
element of every version with its junction and the junction's phase, so
readings can be matched with the topology in force at their own time, and
every element's ``feeder`` (see ``topology.element_feeders``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lascopf_assets.lib.zone.topology import (
    TopologyError,
    element_feeders,
    meters_by_junction,
    read_topology,
    register_version,
    topology_version,
)

_DAY_IN_NAME = re.compile(r"_(\d{4}-\d{2}-\d{2})\.csv$")
FAR_FUTURE = pd.Timestamp("2262-01-01", tz="UTC").as_unit("us")


def valid_from_for(path: str | Path, default_valid_from: str) -> pd.Timestamp:
    match = _DAY_IN_NAME.search(Path(path).name)
    return pd.Timestamp(match.group(1) if match else default_valid_from, tz="UTC").as_unit("us")


def versioned_topology(paths: Iterable[str | Path], default_valid_from: str, feeder_heads: Sequence[str] = ()) -> pd.DataFrame:
    """All elements of all versions: element columns + ``feeder, junction, junction_phase, version, valid_from, valid_to``.

    ``feeder_heads``: the elements heading a feeder in every version (empty: each source transformer);
    a head missing from a version is an error naming the file.
    """
    versions = []
    for path in paths:
        versions = register_version(versions, topology_version(path, valid_from_for(path, default_valid_from)))
    if not versions:
        raise TopologyError("no topology file found")
    frames = []
    for i, version in enumerate(versions):
        topology = read_topology(version.path)
        try:
            feeders = element_feeders(topology, feeder_heads)
        except TopologyError as exc:
            raise TopologyError(f"{version.path}: {exc}") from None
        meters = meters_by_junction(topology, feeder_heads).drop(columns="feeder")
        meters = meters.rename(columns={"meter_id": "grid_element_id", "phase": "junction_phase"})
        elements = topology.elements.assign(feeder=pd.array(feeders, dtype="str"))
        elements = elements.merge(meters, on="grid_element_id", how="left")
        elements["version"] = version.content_hash[:12]
        elements["source_file"] = Path(version.path).name
        elements["valid_from"] = version.valid_from.as_unit("us")
        elements["valid_to"] = versions[i + 1].valid_from.as_unit("us") if i + 1 < len(versions) else FAR_FUTURE
        frames.append(elements)
    table = pd.concat(frames, ignore_index=True)
    for col in ("valid_from", "valid_to"):
        table[col] = table[col].astype("datetime64[us, UTC]")
    return table


def version_starts(table: pd.DataFrame) -> np.ndarray:
    """Distinct ``valid_from`` values, sorted, as int64 microseconds."""
    return np.unique(pd.DatetimeIndex(table["valid_from"]).asi8)


def meters_in_force(table: pd.DataFrame, valid_from: pd.Timestamp) -> pd.DataFrame:
    """``meter_id, feeder, junction, phase`` of the version starting at ``valid_from`` (feeder None: under no head)."""
    rows = table[(table["valid_from"] == valid_from) & (table["type"] == "meter") & table["junction"].notna()]
    return pd.DataFrame(
        {
            "meter_id": pd.array(rows["grid_element_id"].to_numpy(), dtype="str"),
            "feeder": pd.array(rows["feeder"].to_numpy(), dtype="str"),
            "junction": pd.array(rows["junction"].to_numpy(), dtype="str"),
            "phase": pd.array(rows["junction_phase"].to_numpy(), dtype="str"),
        }
    )


def split_by_version(readings: pd.DataFrame, table: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """Readings grouped by the topology version valid at each reading's timestamp.

    Readings before the first version go with the first version (whose meters
    then decide whether they are known)."""
    starts = version_starts(table)
    times = pd.DatetimeIndex(readings["timestamp"]).asi8
    slot = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)
    groups = []
    for s in np.unique(slot):
        groups.append((pd.Timestamp(int(starts[s]), unit="us", tz="UTC"), readings[slot == s]))
    return groups
