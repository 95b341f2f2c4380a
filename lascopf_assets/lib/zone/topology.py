"""Grid topology model: parse ``grid_topology.csv``, trace connectivity, find junctions.

The file (see docs/CONVENTIONS.md) lists grid elements with up to two terminals,
each a connectivity node (CN). Elements sharing a CN are connected. The source
is the ``terminal1_cn`` of a transformer whose primary node touches nothing else;
a breadth-first walk from there orients every element (its parent is the element
it is fed from). All building and queries are linear in the number of elements,
with plain dicts and lists.

A *junction* is a non-``ABC`` element fed by an ``ABC`` element: the first
single-phase segment of a lateral (the point the phase-balancing study moves).

A *feeder* is everything downstream of a feeder head, named after the head's
``grid_element_id``. The heads are each source transformer by default, or a
given list of elements on a three-phase backbone (the study balanced what lies
downstream of one HV/MV transformer); an element belongs to the nearest head at
or above it, and to no feeder when no head is above it. A junction, and every
meter under it, belongs to exactly one feeder: phase balancing is per feeder.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TOPOLOGY_COLUMNS = ("grid_element_id", "type", "phases", "terminal1_cn", "terminal2_cn")
ELEMENT_TYPES = ("transformer", "busbar", "line", "meter")
_PHASES_RE = re.compile(r"^(?!.*(.).*\1)[ABC]{1,3}$")  # 1-3 distinct letters from A, B, C
_TWO_TERMINALS = ("transformer", "line")


class TopologyError(ValueError):
    """A topology file or frame is malformed; the message names file, line and reason."""


@dataclass
class Topology:
    """A parsed, oriented grid.

    ``elements`` holds the validated rows (str columns, ``""`` for no terminal).
    ``parent[i]`` is the index of the element feeding element ``i`` (-1 for a
    source transformer or an element the source does not reach);
    ``upstream_cn[i]`` is the node through which ``i`` is fed; ``order`` lists
    reached elements in breadth-first order from the source.
    """

    elements: pd.DataFrame
    source_cns: tuple[str, ...]
    index: dict[str, int]
    parent: list[int]
    upstream_cn: list[str]
    order: list[int]
    children: list[list[int]] = field(repr=False)

    @property
    def ids(self) -> list[str]:
        return self.elements["grid_element_id"].tolist()

    @property
    def unreached(self) -> list[str]:
        """Elements not fed from any source (islands, or equipment upstream of the source)."""
        reached = set(self.order)
        ids = self.ids
        return [ids[i] for i in range(len(ids)) if i not in reached]


# --------------------------------------------------------------------------- parse


def read_topology(path: str | Path) -> Topology:
    """Parse and orient a topology CSV; raise ``TopologyError('<file>:<line>: <reason>')``."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise TopologyError(f"{path}:1: empty file, expected header {','.join(TOPOLOGY_COLUMNS)}")
            header = [h.strip() for h in header]
            _check_header(header, str(path))
            rows: list[list[str]] = []
            lines: list[int] = []
            for raw in reader:
                if not raw or all(not v.strip() for v in raw):
                    continue  # blank line
                if len(raw) != len(header):
                    raise TopologyError(
                        f"{path}:{reader.line_num}: expected {len(header)} fields, got {len(raw)}"
                    )
                rows.append([v.strip() for v in raw])
                lines.append(reader.line_num)
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read topology file: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TopologyError(f"{path}: not a readable CSV file: {exc}") from exc
    frame = pd.DataFrame(rows, columns=header, dtype="str")
    return _build(frame, str(path), lines)


def build_topology(frame: pd.DataFrame, source: str = "<topology frame>") -> Topology:
    """Validate and orient an in-memory topology table (row ``i`` is reported as line ``i + 2``)."""
    _check_header([str(c) for c in frame.columns], source)
    clean = frame.copy()
    for col in TOPOLOGY_COLUMNS:
        clean[col] = clean[col].fillna("").astype("str").str.strip()
    return _build(clean, source, [i + 2 for i in range(len(clean))])


def _check_header(header: list[str], source: str) -> None:
    missing = [c for c in TOPOLOGY_COLUMNS if c not in header]
    if missing:
        raise TopologyError(f"{source}:1: missing column(s) {', '.join(missing)}")


def _validate_rows(frame: pd.DataFrame, source: str, lines: list[int]) -> dict[str, int]:
    """Row checks (one pass); returns grid_element_id -> row index."""
    index: dict[str, int] = {}
    cols = [frame[c].tolist() for c in TOPOLOGY_COLUMNS]
    for i, (eid, etype, phases, t1, t2) in enumerate(zip(*cols)):
        where = f"{source}:{lines[i]}"
        if not eid:
            raise TopologyError(f"{where}: empty grid_element_id")
        if eid in index:
            raise TopologyError(f"{where}: duplicate grid_element_id {eid!r} (first on line {lines[index[eid]]})")
        if etype not in ELEMENT_TYPES:
            raise TopologyError(f"{where}: unknown type {etype!r} for {eid!r} (expected one of {', '.join(ELEMENT_TYPES)})")
        if not _PHASES_RE.match(phases):
            raise TopologyError(
                f"{where}: bad phases {phases!r} for {eid!r} (expected distinct letters from A, B, C such as ABC or A)"
            )
        if not t1:
            raise TopologyError(f"{where}: {etype} {eid!r} has no terminal1_cn")
        if etype == "meter" and t2:
            raise TopologyError(f"{where}: meter {eid!r} has two terminals (terminal2_cn={t2!r}); a meter has one")
        if etype in _TWO_TERMINALS and not t2:
            raise TopologyError(f"{where}: {etype} {eid!r} needs two terminals but terminal2_cn is empty")
        if t1 == t2:
            raise TopologyError(f"{where}: {etype} {eid!r} connects node {t1!r} to itself")
        index[eid] = i
    return index


def _build(frame: pd.DataFrame, source: str, lines: list[int]) -> Topology:
    frame = frame.reset_index(drop=True)
    index = _validate_rows(frame, source, lines)
    types = frame["type"].tolist()
    t1s = frame["terminal1_cn"].tolist()
    t2s = frame["terminal2_cn"].tolist()

    at_node: dict[str, list[int]] = {}
    for i, (a, b) in enumerate(zip(t1s, t2s)):
        at_node.setdefault(a, []).append(i)
        if b:
            at_node.setdefault(b, []).append(i)

    roots = [i for i, t in enumerate(types) if t == "transformer" and len(at_node[t1s[i]]) == 1]
    if not roots:
        raise TopologyError(
            f"{source}: no source: need a transformer whose terminal1_cn connects to nothing else"
        )

    n = len(types)
    parent = [-1] * n
    upstream = [""] * n
    reached = [False] * n
    order: list[int] = []
    seen_nodes: set[str] = set()
    queue: deque[tuple[str, int]] = deque()
    for r in roots:
        reached[r] = True
        upstream[r] = t1s[r]
        order.append(r)
        seen_nodes.add(t1s[r])
    for r in roots:
        if t2s[r] not in seen_nodes:
            seen_nodes.add(t2s[r])
            queue.append((t2s[r], r))
    while queue:
        node, via = queue.popleft()
        for x in at_node[node]:
            if reached[x]:
                continue
            reached[x] = True
            parent[x] = via
            upstream[x] = node
            order.append(x)
            other = t2s[x] if t1s[x] == node else t1s[x]
            if other and other not in seen_nodes:
                seen_nodes.add(other)
                queue.append((other, x))

    children: list[list[int]] = [[] for _ in range(n)]
    for i in order:
        if parent[i] >= 0:
            children[parent[i]].append(i)
    return Topology(
        elements=frame,
        source_cns=tuple(t1s[r] for r in roots),
        index=index,
        parent=parent,
        upstream_cn=upstream,
        order=order,
        children=children,
    )


# --------------------------------------------------------------------------- queries


def downstream(topology: Topology, element_id: str, include_self: bool = False) -> list[str]:
    """Every element fed through ``element_id`` (tracing away from the source), in BFS order."""
    if element_id not in topology.index:
        raise TopologyError(f"unknown grid_element_id {element_id!r}")
    start = topology.index[element_id]
    if topology.parent[start] < 0 and topology.upstream_cn[start] == "":
        raise TopologyError(f"element {element_id!r} is not fed from the source; nothing to trace")
    ids = topology.ids
    out = [start] if include_self else []
    queue = deque(topology.children[start])
    while queue:
        i = queue.popleft()
        out.append(i)
        queue.extend(topology.children[i])
    return [ids[i] for i in out]


def _is_three_phase(topology: Topology) -> list[bool]:
    return [set(p) == {"A", "B", "C"} for p in topology.elements["phases"].tolist()]


def source_transformers(topology: Topology) -> list[str]:
    """The source transformers' ids (the roots of the walk), in file order."""
    ids = topology.ids
    return [ids[i] for i in sorted(i for i in topology.order if topology.parent[i] < 0)]


def element_feeders(topology: Topology, heads: Sequence[str] = ()) -> list[str | None]:
    """The feeder of every element (file order): the id of the nearest head at or above it, None if none.

    ``heads`` empty: each source transformer heads a feeder. A head must be a three-phase element
    fed from the source and not inside a lateral, so that a junction and its meters share a feeder.
    """
    ids = topology.ids
    if not heads:
        head_index = {i for i in topology.order if topology.parent[i] < 0}
    else:
        head_index = set()
        in_lateral = _lateral_labels(topology)
        three = _is_three_phase(topology)
        reached = set(topology.order)
        for head in heads:
            i = topology.index.get(head)
            if i is None:
                raise TopologyError(f"feeder head {head!r} is not an element of the topology")
            if i not in reached:
                raise TopologyError(f"feeder head {head!r} is not fed from any source")
            if not three[i] or in_lateral[i] >= 0:
                raise TopologyError(f"feeder head {head!r} is not on a three-phase backbone (a head must be ABC, above the junctions)")
            head_index.add(i)
    feeder: list[str | None] = [None] * len(ids)
    for i in topology.order:  # parents come before children in BFS order
        if i in head_index:
            feeder[i] = ids[i]
        elif topology.parent[i] >= 0:
            feeder[i] = feeder[topology.parent[i]]
    return feeder


def _junction_flags(topology: Topology) -> list[bool]:
    three = _is_three_phase(topology)
    flags = [False] * len(three)
    for i in topology.order:
        p = topology.parent[i]
        if p >= 0 and three[p] and not three[i]:
            flags[i] = True
    return flags


def _lateral_labels(topology: Topology) -> list[int]:
    """Per element, the index of the junction it lies under (itself for a junction), -1 for none."""
    flags = _junction_flags(topology)
    label = [-1] * len(flags)
    for i in topology.order:  # parents come before children in BFS order
        if flags[i]:
            label[i] = i
        elif topology.parent[i] >= 0:
            label[i] = label[topology.parent[i]]
    return label


def junctions(topology: Topology, feeder_heads: Sequence[str] = ()) -> pd.DataFrame:
    """``junction, phase, feeder_node, feeder``: each non-ABC element fed by an ABC element, sorted by id.

    ``feeder_node`` is the backbone node the lateral hangs from; ``feeder`` the feeder it belongs to
    (see :func:`element_feeders`; None when no head is above it).
    """
    flags = _junction_flags(topology)
    feeder = element_feeders(topology, feeder_heads)
    ids = topology.ids
    phases = topology.elements["phases"].tolist()
    picked = sorted((i for i, f in enumerate(flags) if f), key=lambda i: ids[i])
    return pd.DataFrame(
        {
            "junction": pd.array([ids[i] for i in picked], dtype="str"),
            "phase": pd.array([phases[i] for i in picked], dtype="str"),
            "feeder_node": pd.array([topology.upstream_cn[i] for i in picked], dtype="str"),
            "feeder": pd.array([feeder[i] for i in picked], dtype="str"),
        }
    )


def meters_by_junction(topology: Topology, feeder_heads: Sequence[str] = ()) -> pd.DataFrame:
    """``meter_id, junction, phase, feeder`` for every meter downstream of a junction (phase and feeder = the junction's)."""
    label = _lateral_labels(topology)
    feeder = element_feeders(topology, feeder_heads)
    ids = topology.ids
    types = topology.elements["type"].tolist()
    phases = topology.elements["phases"].tolist()
    picked = sorted((i for i in topology.order if types[i] == "meter" and label[i] >= 0), key=lambda i: ids[i])
    return pd.DataFrame(
        {
            "meter_id": pd.array([ids[i] for i in picked], dtype="str"),
            "junction": pd.array([ids[label[i]] for i in picked], dtype="str"),
            "phase": pd.array([phases[label[i]] for i in picked], dtype="str"),
            "feeder": pd.array([feeder[label[i]] for i in picked], dtype="str"),
        }
    )


# --------------------------------------------------------------------------- versions


@dataclass(frozen=True)
class TopologyVersion:
    """One topology file content, valid from ``valid_from`` (UTC) until the next version."""

    content_hash: str  # sha256 of the file bytes
    valid_from: pd.Timestamp
    path: str = ""


def _utc(when: str | dt.datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def topology_version(path: str | Path, valid_from: str | dt.datetime | pd.Timestamp) -> TopologyVersion:
    """Hash a topology file's bytes; a naive ``valid_from`` is taken as UTC."""
    data = Path(path).read_bytes()
    return TopologyVersion(hashlib.sha256(data).hexdigest(), _utc(valid_from), str(path))


def register_version(versions: list[TopologyVersion], new: TopologyVersion) -> list[TopologyVersion]:
    """Return the version list (sorted by ``valid_from``) with ``new`` added if its content
    differs from the version valid at ``new.valid_from``; unchanged content adds nothing."""
    ordered = sorted(versions, key=lambda v: v.valid_from)
    current = _at(ordered, new.valid_from)
    if current is not None and current.content_hash == new.content_hash:
        return ordered
    if any(v.valid_from == new.valid_from for v in ordered):
        raise TopologyError(f"two different topology versions valid from {new.valid_from.isoformat()}")
    return sorted([*ordered, new], key=lambda v: v.valid_from)


def _at(ordered: list[TopologyVersion], when: pd.Timestamp) -> TopologyVersion | None:
    best = None
    for v in ordered:
        if v.valid_from <= when:
            best = v
    return best


def version_at(versions: list[TopologyVersion], when: str | dt.datetime | pd.Timestamp) -> TopologyVersion:
    """The version valid at ``when``: the latest ``valid_from <= when``."""
    ts = _utc(when)
    found = _at(sorted(versions, key=lambda v: v.valid_from), ts)
    if found is None:
        raise TopologyError(f"no topology version valid at {ts.isoformat()}")
    return found
