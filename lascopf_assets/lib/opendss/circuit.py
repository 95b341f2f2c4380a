"""What a compiled circuit holds, read through the engine: PD elements with their terminals, loads, load shapes.

Every element is read the same way (``CktElement.BusNames``, ``NodeOrder``, ``NumConductors``,
``NumPhases``), so lines, switches, transformers (2 or 3 windings, banks of single-phase units),
reactors and series capacitors need no parser of their own: the engine has already resolved the
redirects, ``~`` continuations, line codes, ``batchedit`` and defaults. Bus names are lower case
(the engine's); a terminal's conductors are its node numbers in conductor order (0 = ground).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lascopf_assets.lib.opendss.engine import each

# PD classes that carry power between two buses; single-terminal shunts (capacitors, reactors) are not topology
SERIES_CLASSES = {"line": "line", "transformer": "transformer", "reactor": "line", "capacitor": "line", "autotrans": "transformer"}


@dataclass(frozen=True)
class Terminal:
    bus: str
    nodes: tuple[int, ...]  # node per conductor (0 = ground / reference)


@dataclass(frozen=True)
class Element:
    """A two-or-more-terminal power delivery element (``cls`` lower case, ``name`` without the class)."""

    cls: str
    name: str
    phases: int
    terminals: tuple[Terminal, ...]

    @property
    def full_name(self) -> str:
        return f"{self.cls}.{self.name}"


@dataclass(frozen=True)
class Load:
    name: str
    bus: str
    nodes: tuple[int, ...]
    kw: float
    shape: str  # the yearly shape, else the daily one, else "" (static kW)


@dataclass(frozen=True)
class Shape:
    """A load shape as the engine holds it: ``mult`` per point, ``hours`` per point, ``actual`` (mult in kW)."""

    name: str
    mult: np.ndarray
    hours: float
    actual: bool

    def load_kw(self, kw: float) -> np.ndarray:
        """kW per point of a load of nominal ``kw``: ``mult`` itself when the shape holds actual kW, else ``kw * mult``."""
        return self.mult.copy() if self.actual else kw * self.mult


@dataclass
class Circuit:
    name: str
    source_bus: str
    elements: list[Element]
    loads: list[Load]
    shapes: dict[str, Shape]
    bus_kv_base: dict[str, float] = field(repr=False)  # line-to-neutral kV base per bus (0: none set)

    @property
    def load_kw(self) -> dict[str, float]:
        return {ld.name: ld.kw for ld in self.loads}


def _terminals(element) -> tuple[Terminal, ...]:
    nodes = np.asarray(element.NodeOrder, dtype=int)
    per = int(element.NumConductors)
    buses = [b.split(".", 1)[0].lower() for b in element.BusNames]
    return tuple(Terminal(bus, tuple(int(n) for n in nodes[t * per:(t + 1) * per])) for t, bus in enumerate(buses))


def read_circuit(ctx) -> Circuit:
    """The circuit compiled in ``ctx`` (see :func:`lascopf_assets.lib.opendss.engine.compile_circuit`)."""
    circuit = ctx.ActiveCircuit
    elements = []
    for _ in each(circuit.PDElements):
        e = circuit.ActiveCktElement
        cls, _, name = e.Name.partition(".")
        cls = cls.lower()
        if cls in SERIES_CLASSES and e.NumTerminals >= 2 and e.Enabled:
            terminals = _terminals(e)
            if len({t.bus for t in terminals}) > 1:  # a shunt (capacitor to its own bus's node 0) is no branch
                elements.append(Element(cls, name.lower(), int(e.NumPhases), terminals))
    loads = []
    lo = circuit.Loads
    for _ in each(lo):
        e = circuit.ActiveCktElement
        if e.Enabled:
            (term,) = _terminals(e)
            loads.append(Load(lo.Name.lower(), term.bus, term.nodes, float(lo.kW), (lo.Yearly or lo.daily or "").lower()))
    shapes = {}
    ls = circuit.LoadShapes
    used = {ld.shape for ld in loads if ld.shape}
    for name in used:
        ls.Name = name
        hours = float(ls.HrInterval)
        mult = np.asarray(ls.Pmult, dtype=np.float64)
        if hours <= 0:
            raise ValueError(f"load shape {name}: variable intervals (a time array) are not supported")
        shapes[name] = Shape(name, mult, hours, bool(ls.UseActual))
    vs = circuit.Vsources
    if not vs.First:
        raise ValueError(f"circuit {circuit.Name}: no Vsource")
    source_bus = circuit.ActiveCktElement.BusNames[0].split(".", 1)[0].lower()
    kv = {}
    for b, bus in enumerate(circuit.AllBusNames):
        circuit.SetActiveBusi(b)
        kv[bus.lower()] = float(circuit.ActiveBus.kVBase)
    return Circuit(circuit.Name.lower(), source_bus, elements, loads, shapes, kv)
