"""Apply recommended phase changes to a compiled circuit: reconnect a junction where it hangs from the backbone.

Moving junction ``J`` from phase ``X`` to ``Y`` is what the crew does: at the three-phase bus the
lateral hangs from, the junction's conductor on ``X`` is taken off and put on ``Y``. In the engine
that is one edit of the junction element's upstream terminal (``Line.l1 bus1=1.2`` becomes
``bus1=1.1``; a service connection's load ``bus1=34.1`` becomes ``34.2``; a regulator unit
``wdg=1 bus=25.1`` becomes ``25.2``). The lateral's own buses keep their node numbers (an OpenDSS
line maps conductor ``k`` of one end onto conductor ``k`` of the other, so ``bus1=1.1 bus2=2.2`` is a
lateral on A whose far node is called 2): renumbering them would leave orphan nodes in the engine's
bus list, and loads behind split-phase service transformers have legs, not phases, anyway. A moved
load keeps its shape, kW and model, and the circuit is not rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

from lascopf_assets.lib.opendss.engine import CircuitError, command
from lascopf_assets.lib.opendss.topology import FeederTopology
from lascopf_assets.lib.zone.topology import downstream


@dataclass(frozen=True)
class Change:
    junction: str  # the topology's junction id
    from_phase: str
    to_phase: str


def resolve_changes(ft: FeederTopology, changes: list[dict]) -> list[Change]:
    """The ``changes`` list of ``lascopf phase-balance --json`` as junctions of ``ft``; a stale one is an error.

    A change may name a junction id or a load under one (the European LV reader names junctions after loads).
    """
    phase_of = dict(zip(ft.junctions["junction"], ft.junctions["phase"]))
    out: list[Change] = []
    for c in changes:
        try:
            name, src, dst = str(c["junction"]), str(c["from_phase"]).upper(), str(c["to_phase"]).upper()
        except (KeyError, TypeError):
            raise CircuitError(f"a change needs junction, from_phase and to_phase, got {c!r}") from None
        junction = ft.junction_of(name)
        if junction is None:
            raise CircuitError(f"change {name}: no such junction (or load under one) in the circuit")
        if dst not in ("A", "B", "C"):
            raise CircuitError(f"change {name}: to_phase must be A, B or C, got {dst!r}")
        if phase_of[junction] != src:
            raise CircuitError(f"change {name}: junction {junction} is on phase {phase_of[junction]}, not {src}")
        out.append(Change(junction, src, dst))
    if len({c.junction for c in out}) != len(out):
        raise CircuitError("a junction is changed twice")
    return out


def _live_terminals(ctx, full_name: str) -> list[tuple[str, list[int]]]:
    circuit = ctx.ActiveCircuit
    circuit.SetActiveElement(full_name)
    e = circuit.ActiveCktElement
    per = int(e.NumConductors)
    nodes = list(e.NodeOrder)
    return [(b.split(".", 1)[0].lower(), nodes[t * per:(t + 1) * per]) for t, b in enumerate(e.BusNames)]


def _edit(ctx, full_name: str, terminals: list[tuple[str, list[int]]], changed: list[int]) -> None:
    cls = full_name.split(".", 1)[0].lower()
    specs = {t: terminals[t][0] + "".join(f".{n}" for n in terminals[t][1]) for t in changed}
    if cls in ("transformer", "autotrans"):
        for t, spec in specs.items():
            command(ctx, f"Edit {full_name} wdg={t + 1} bus={spec}")
    else:
        command(ctx, f"Edit {full_name} " + " ".join(f"bus{t + 1}={spec}" for t, spec in specs.items()))


def apply_change(ctx, ft: FeederTopology, change: Change) -> list[str]:
    """Reconnect ``change.junction`` in ``ctx`` at the bus it hangs from; return the engine elements edited."""
    topo = ft.topology
    j = topo.index[change.junction]
    hang = topo.upstream_cn[j].split(".", 1)[0].split("~", 1)[0]  # the bus the lateral hangs from
    inverse = {lab: n for n, lab in ft.labels[hang].items()}
    if change.to_phase not in inverse:
        raise CircuitError(f"junction {change.junction} hangs from bus {hang}, which has no phase {change.to_phase}")
    to_node = inverse[change.to_phase]
    # the junction's own engine elements; a service connection is its load's own terminal
    own = [name for name, lab in ft.engine.get(change.junction, []) if lab == change.from_phase]
    if not ft.engine.get(change.junction):
        under = downstream(topo, change.junction)
        own = [name for m in under for name, _ in ft.engine.get(m, [])]
    labels = ft.labels[hang]
    edited = []
    for name in own:
        terminals = _live_terminals(ctx, name)
        changed = []
        for t, (bus, nodes) in enumerate(terminals):
            if bus != hang:
                continue
            new = [to_node if n and labels.get(n) == change.from_phase else n for n in nodes]
            if new != nodes:
                terminals[t] = (bus, new)
                changed.append(t)
        if changed:
            _edit(ctx, name, terminals, changed)
            edited.append(name)
    if not edited:
        raise CircuitError(f"junction {change.junction}: no conductor on phase {change.from_phase} at bus {hang} to move")
    return edited


def apply_changes(ctx, ft: FeederTopology, changes: list[Change]) -> dict[str, list[str]]:
    """Apply every change; ``junction -> engine elements edited``."""
    return {c.junction: apply_change(ctx, ft, c) for c in changes}
