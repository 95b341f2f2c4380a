"""An OpenDSS circuit as the platform's topology (``grid_topology.csv``), its phases and its junctions.

**Phases.** OpenDSS names conductors by node number, not by phase. The phase letter of every
``(bus, node)`` is found by a walk from the source bus (nodes 1, 2, 3 = A, B, C), oriented
breadth-first over the bus graph, then labels carried through each element from its upstream
terminal: conductor ``j`` of one terminal takes the letter of conductor ``j`` of the other (lines,
switches, multi-phase transformers, single-phase regulators whose two windings use the same node),
except across a single-phase transformer that changes the node numbering (a split-phase 120/240 V
service transformer, ``buses=[p.1 s.1.0 s.0.2]``): every node of its secondary takes the primary's
letter(s) and the secondary bus is *indirect* (its node numbers are legs, not phases).

**Connectivity nodes.** A bus whose nodes carry A, B and C, or a single letter, is one node of the
topology (its name). A two-phase bus (``26.1.3``) is one node per phase (``26.A``, ``26.C``), and an
element across it is written once per phase (``l25.A``, ``l25.C``): each phase conductor of a
two-phase lateral is a lateral of its own, and a junction is always single-phase, as phase balancing
and the platform's validation require. Single-phase units between the same two buses (a bank of
regulators ``reg4a, reg4b, reg4c``) are one element of their letters' union.

**Loads.** Each load is a meter named after it. A single-phase load on a three-phase bus hangs from a
single-phase service element ``svc_<load>`` (the European LV feeder's service connections), which
the platform's rule (a non-ABC element fed by an ABC element) makes a junction; loads inside a
lateral (IEEE 123) or behind a service transformer (IEEE 8500) sit under that lateral's junction.
Junctions and meters are found with the platform's own :mod:`lascopf_assets.lib.zone.topology`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pandas as pd

from lascopf_assets.lib.opendss.circuit import SERIES_CLASSES, Circuit, Element
from lascopf_assets.lib.zone.topology import TOPOLOGY_COLUMNS, Topology, build_topology, junctions, meters_by_junction

PHASE_OF_NODE = {1: "A", 2: "B", 3: "C"}
SERVICE_PREFIX = "svc_"


@dataclass
class FeederTopology:
    """The topology table, the parsed platform topology, and what maps it back onto the engine's elements."""

    frame: pd.DataFrame  # TOPOLOGY_COLUMNS
    topology: Topology
    junctions: pd.DataFrame  # junction, phase, feeder_node, feeder
    meters: pd.DataFrame  # meter_id, junction, phase, feeder (meters under a junction)
    labels: dict[str, dict[int, str]]  # bus -> node -> phase letter(s)
    direct: dict[str, bool]  # bus -> node numbers are phases (False behind a split-phase transformer)
    # topology element id -> engine elements ("line.l25") it stands for, each with the phase label it carries
    engine: dict[str, list[tuple[str, str]]] = field(repr=False)
    load_meter: dict[str, str] = field(repr=False)  # load name -> meter id
    source_transformer: str = ""  # engine name of the transformer at the source ("transformer.tr1")
    unreached: list[str] = field(default_factory=list)  # engine elements and loads the source does not feed
    above_head: list[str] = field(default_factory=list)  # elements between the source and the head transformer
    line_to_line_loads: list[str] = field(default_factory=list)  # loads across two phases: not in the topology

    def junction_of(self, name: str) -> str | None:
        """The junction id for ``name``: a junction id, or a load (meter) under exactly one junction (case-insensitive)."""
        key = name.lower()
        ids = {j.lower(): j for j in self.junctions["junction"]}
        if key in ids:
            return ids[key]
        meter = self.load_meter.get(key, key)
        hit = self.meters.loc[self.meters["meter_id"].str.lower() == meter.lower(), "junction"]
        return str(hit.iloc[0]) if len(hit) else None


def _orient(circuit: Circuit) -> tuple[list[int], list[int]]:
    """Breadth-first over the bus graph from the source: (element order, upstream terminal per element, -1 unreached)."""
    at_bus: dict[str, list[tuple[int, int]]] = {}
    for i, e in enumerate(circuit.elements):
        for t, term in enumerate(e.terminals):
            at_bus.setdefault(term.bus, []).append((i, t))
    upstream = [-1] * len(circuit.elements)
    order: list[int] = []
    seen = {circuit.source_bus}
    queue = deque([circuit.source_bus])
    while queue:
        bus = queue.popleft()
        for i, t in at_bus.get(bus, ()):
            if upstream[i] >= 0:
                continue
            upstream[i] = t
            order.append(i)
            for other in circuit.elements[i].terminals:
                if other.bus not in seen:
                    seen.add(other.bus)
                    queue.append(other.bus)
    return order, upstream


def _below_head(circuit: Circuit, order: list[int], upstream: list[int]) -> tuple[int, set[int]]:
    """The head transformer (the first one the walk meets) and the elements it feeds, itself included.

    The platform's topology starts at a transformer whose primary node touches nothing else; a circuit
    whose source reaches its substation transformer through a reactor (IEEE 8500) is cut there: what
    lies above the head is the transmission side, not the feeder.
    """
    head = next((i for i in order if circuit.elements[i].cls in ("transformer", "autotrans")), -1)
    if head < 0:
        return -1, set(order)
    primary = circuit.elements[head].terminals[upstream[head]].bus
    at_bus: dict[str, list[int]] = {}
    for i in order:
        for term in circuit.elements[i].terminals:
            at_bus.setdefault(term.bus, []).append(i)
    keep = {head}
    seen = {primary}
    queue = deque(t.bus for t in circuit.elements[head].terminals if t.bus != primary)
    seen.update(queue)
    while queue:
        bus = queue.popleft()
        for i in at_bus.get(bus, ()):
            if i in keep:
                continue
            keep.add(i)
            for term in circuit.elements[i].terminals:
                if term.bus not in seen:
                    seen.add(term.bus)
                    queue.append(term.bus)
    return head, keep


def _renumbers(e: Element, up: int, other: int) -> bool:
    """A single-phase transformer whose other winding's nodes are not its primary's (split-phase service)."""
    if e.cls not in ("transformer", "autotrans") or e.phases != 1:
        return False
    a = [n for n in e.terminals[up].nodes if n]
    b = [n for n in e.terminals[other].nodes if n]
    return len(e.terminals) > 2 or a != b


def phase_labels(circuit: Circuit, order: list[int], upstream: list[int]) -> tuple[dict[str, dict[int, str]], dict[str, bool]]:
    """``(labels, direct)``: the phase letter(s) of every reached ``(bus, node)``, and whether a bus's nodes are phases."""
    labels: dict[str, dict[int, str]] = {circuit.source_bus: dict(PHASE_OF_NODE)}
    direct: dict[str, bool] = {circuit.source_bus: True}
    for _ in range(8):  # parallel paths may add nodes to a bus already reached; a few passes settle it
        changed = False
        for i in order:
            e = circuit.elements[i]
            src = e.terminals[upstream[i]]
            known = labels.get(src.bus, {})
            letters = [known.get(n, "") if n else "" for n in src.nodes]
            for t, term in enumerate(e.terminals):
                if t == upstream[i]:
                    continue
                target = labels.setdefault(term.bus, {})
                renumbered = _renumbers(e, upstream[i], t)
                if term.bus not in direct:
                    direct[term.bus] = direct.get(src.bus, True) and not renumbered
                if renumbered:
                    union = "".join(sorted(set("".join(letters))))
                    pairs = [(n, union) for n in term.nodes if n]
                else:
                    pairs = [(n, letters[j]) for j, n in enumerate(term.nodes) if n and j < len(letters) and letters[j]]
                for n, letter in pairs:
                    if letter and n not in target:
                        target[n] = letter
                        changed = True
        if not changed:
            break
    return labels, direct


def _letters(labels: dict[int, str], nodes) -> list[str]:
    """The distinct phase labels on ``nodes`` (in conductor order)."""
    out: list[str] = []
    for n in nodes:
        lab = labels.get(n, "") if n else ""
        if lab and lab not in out:
            out.append(lab)
    return out


def _phases(labs: list[str]) -> str:
    return "".join(sorted(set("".join(labs))))


def feeder_topology(circuit: Circuit) -> FeederTopology:
    """The topology table of ``circuit`` (see the module docstring), validated by the platform's own parser."""
    order, upstream = _orient(circuit)
    labels, direct = phase_labels(circuit, order, upstream)
    head, keep = _below_head(circuit, order, upstream)
    above = [circuit.elements[i].full_name for i in order if i not in keep]
    order = [i for i in order if i in keep]

    def bus_cn(bus: str, label: str) -> str:
        present = set(labels.get(bus, {}).values())
        if {"A", "B", "C"} <= set("".join(present)) and len(present) >= 3 or len(present) <= 1:
            return bus
        return f"{bus}.{label}"

    # single-phase units between the same buses are one bank element
    groups: dict[tuple, list[int]] = {}
    for i in order:
        e = circuit.elements[i]
        buses = tuple(t.bus for t in e.terminals)
        key = (SERIES_CLASSES[e.cls], buses[upstream[i]], tuple(b for t, b in enumerate(buses) if t != upstream[i]))
        single = e.cls in ("transformer", "autotrans") and e.phases == 1
        groups.setdefault(key if single else ("one", i), []).append(i)

    rows: list[tuple[str, str, str, str, str]] = []
    engine: dict[str, list[tuple[str, str]]] = {}
    names_taken: set[str] = set()

    def unique(name: str, cls: str) -> str:
        out = name if name not in names_taken else f"{cls}.{name}"
        names_taken.add(out)
        return out

    source_transformer = ""
    for members in groups.values():
        first = circuit.elements[members[0]]
        etype = SERIES_CLASSES[first.cls]
        up_bus = first.terminals[upstream[members[0]]].bus
        down = next(t for k, t in enumerate(first.terminals) if k != upstream[members[0]])
        per_label: dict[str, list[str]] = {}
        for i in members:
            e = circuit.elements[i]
            for lab in _letters(labels.get(up_bus, {}), e.terminals[upstream[i]].nodes):
                per_label.setdefault(lab, []).append(e.name)
        labs = list(per_label)
        if not labs:
            continue  # an element with no phase conductor reached (open, island)
        full = [circuit.elements[i].full_name for i in members]
        if members[0] == head:
            source_transformer = full[0]
        if len(labs) == 1 or _phases(labs) == "ABC":
            if len(members) == 1:
                eid = unique(first.name, first.cls)
            else:
                eid = unique("+".join(circuit.elements[i].name for i in members), first.cls)
            down_labs = _letters(labels.get(down.bus, {}), down.nodes) or labs
            t1 = up_bus if _phases(labs) == "ABC" else bus_cn(up_bus, labs[0])
            t2 = down.bus if _phases(labs) == "ABC" else bus_cn(down.bus, down_labs[0])
            rows.append((eid, etype, _phases(labs), t1, t2))
            engine[eid] = [(f, lab) for f in full for lab in labs]
        else:  # a two-phase element: one topology element per phase conductor
            for lab in labs:
                if len(members) == 1:
                    eid = unique(f"{first.name}.{lab}", first.cls)
                else:
                    eid = unique("+".join(per_label[lab]), first.cls)
                rows.append((eid, etype, _phases([lab]), bus_cn(up_bus, lab), bus_cn(down.bus, lab)))
                engine[eid] = [(f"{first.cls}.{n}", lab) for n in per_label[lab]]

    load_meter: dict[str, str] = {}
    line_to_line: list[str] = []
    unreached = [circuit.elements[i].full_name for i in range(len(circuit.elements)) if upstream[i] < 0]
    for ld in circuit.loads:
        labs = _letters(labels.get(ld.bus, {}), ld.nodes)
        if not labs:
            unreached.append(f"load.{ld.name}")
            continue
        if len(labs) > 1 and _phases(labs) != "ABC":
            # a line-to-line load (IEEE 123's delta loads) is no single-phase meter and no three-phase one:
            # the platform's junctions are single-phase, so it is listed, not written
            line_to_line.append(ld.name)
            continue
        meter = unique(ld.name, "load")
        load_meter[ld.name] = meter
        phases = _phases(labs)
        present = set(labels.get(ld.bus, {}).values())
        three = {"A", "B", "C"} <= set("".join(present)) and len(present) >= 3
        if len(labs) == 1 and len(phases) == 1 and three:
            service = unique(f"{SERVICE_PREFIX}{ld.name}", "line")
            node = f"{ld.bus}~{ld.name}"
            rows.append((service, "line", phases, ld.bus, node))
            engine[service] = []  # a service connection is the load's own terminal: re-phasing edits the load
            rows.append((meter, "meter", phases, node, ""))
        else:
            rows.append((meter, "meter", phases, bus_cn(ld.bus, labs[0]), ""))
        engine[meter] = [(f"load.{ld.name}", lab) for lab in labs]
    frame = pd.DataFrame(rows, columns=list(TOPOLOGY_COLUMNS))
    topology = build_topology(frame, source=f"OpenDSS circuit {circuit.name}")
    return FeederTopology(
        frame=frame,
        topology=topology,
        junctions=junctions(topology),
        meters=meters_by_junction(topology),
        labels=labels,
        direct=direct,
        engine=engine,
        load_meter=load_meter,
        source_transformer=source_transformer,
        unreached=unreached,
        above_head=above,
        line_to_line_loads=line_to_line,
    )
