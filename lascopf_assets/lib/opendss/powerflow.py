"""Time-series unbalanced power flow of a feeder, before and after phase changes, and its figures.

The engine runs its own time-series mode (``Set mode=yearly stepsize=<dt> number=1``, one ``Solve``
per step: time advances, every load takes its shape's point, regulators and capacitor controls act
between steps; the circuit is built once). Step ``k`` (0-based) covers the load shapes' point ``k``,
i.e. ``[k dt, (k + 1) dt)`` from the shapes' start. Per step, from the engine:

- **VUF** at every three-phase bus (nodes 1, 2, 3 = A, B, C), with ``a = exp(j 2 pi / 3)``::

      V1 = (Va + a Vb + a^2 Vc) / 3,   V2 = (Va + a^2 Vb + a Vc) / 3,   VUF = |V2| / |V1| * 100 %

  (from phase-to-ground voltages: the line-to-line voltages give the same ratio, since
  ``V_ab = V_a - V_b`` scales V1 by ``sqrt(3) e^{j30}`` and V2 by ``sqrt(3) e^{-j30}``, and the zero
  sequence cancels). ``max_vuf_pct`` (its bus and step) and ``p95_vuf_pct`` over all buses and steps.
- **Neutral current** ``|Ia + Ib + Ic|`` of the head transformer's second (low-voltage) terminal.
- **Energies**: source ``sum_k P_src,k dt`` (``Circuit.TotalPower``), losses ``sum_k P_loss,k dt``
  (``Circuit.Losses``), and each load's ``sum_k P_load,k dt`` from an engine monitor on the load
  (mode 1): a second, independent path, so ``source - loads = losses`` is a check, not an identity.
- **Voltage**: ``min_voltage_pu`` over every phase node (``|V| / kVbase``), its bus and step.

A step that does not converge is counted (``converged_steps`` of ``steps``) and listed; the figures
are taken over the converged steps only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lascopf_assets.lib.opendss.circuit import read_circuit
from lascopf_assets.lib.opendss.engine import CircuitError, command, compile_circuit, each
from lascopf_assets.lib.opendss.rephase import apply_changes, resolve_changes
from lascopf_assets.lib.opendss.topology import FeederTopology, feeder_topology

A = np.exp(2j * np.pi / 3)
RESOLUTIONS = {"minute": 1 / 60, "hourly": 1.0}
_MONITOR = "lascopf_pq_"


@dataclass
class NodeIndex:
    """Positions in ``Circuit.AllBusVolts`` (node order) of the three-phase buses and of every phase node."""

    buses3: np.ndarray  # names of three-phase buses
    abc: np.ndarray  # (buses3, 3) node positions of A, B, C
    phase_nodes: np.ndarray  # positions of nodes 1..3 with a voltage base
    base_v: np.ndarray  # their base (V, line-to-neutral)
    node_bus: np.ndarray  # bus name of each phase node

    @classmethod
    def of(cls, ctx) -> NodeIndex:
        circuit = ctx.ActiveCircuit
        names = [n.lower() for n in circuit.AllNodeNames]
        kv = {}
        for b, bus in enumerate(circuit.AllBusNames):
            circuit.SetActiveBusi(b)
            kv[bus.lower()] = float(circuit.ActiveBus.kVBase)
        at: dict[str, dict[int, int]] = {}
        for pos, name in enumerate(names):
            bus, _, node = name.rpartition(".")
            at.setdefault(bus, {})[int(node)] = pos
        three = [(bus, nodes) for bus, nodes in at.items() if {1, 2, 3} <= set(nodes)]
        phase = [(pos, bus) for bus, nodes in at.items() for n, pos in nodes.items() if 1 <= n <= 3 and kv.get(bus, 0) > 0]
        return cls(
            buses3=np.array([b for b, _ in three], dtype=object),
            abc=np.array([[nodes[1], nodes[2], nodes[3]] for _, nodes in three], dtype=np.int64).reshape(-1, 3),
            phase_nodes=np.array([p for p, _ in phase], dtype=np.int64),
            base_v=np.array([kv[b] * 1000.0 for _, b in phase]),
            node_bus=np.array([b for _, b in phase], dtype=object),
        )


def vuf_pct(v: np.ndarray) -> np.ndarray:
    """``|V2| / |V1| * 100`` per row of ``v`` (``(..., 3)`` complex phase voltages A, B, C)."""
    v1 = (v[..., 0] + A * v[..., 1] + A * A * v[..., 2]) / 3
    v2 = (v[..., 0] + A * A * v[..., 1] + A * v[..., 2]) / 3
    return np.abs(v2) / np.maximum(np.abs(v1), 1e-12) * 100.0


def _hourly_shapes(ctx, circuit) -> None:
    """Give every shaped load the hourly means of its shape (for ``--resolution hourly`` on finer shapes)."""
    for shape in circuit.shapes.values():
        per_hour = round(1 / shape.hours)
        if shape.hours >= 1 or abs(per_hour * shape.hours - 1) > 1e-9 or len(shape.mult) % per_hour:
            raise CircuitError(f"load shape {shape.name}: {shape.hours * 60:g}-minute points do not fill whole hours")
        hourly = shape.mult.reshape(-1, per_hour).mean(axis=1)
        values = " ".join(f"{x:.10g}" for x in hourly)
        command(ctx, f"New Loadshape.{shape.name}_hourly npts={len(hourly)} interval=1 "
                     f"useactual={'yes' if shape.actual else 'no'} mult=({values})")
    loads = ctx.ActiveCircuit.Loads
    for _ in each(loads):
        name = (loads.Yearly or loads.daily or "").lower()
        if name in circuit.shapes:
            loads.Yearly = f"{name}_hourly"


def _time_base(circuit, resolution: str | None) -> tuple[float, int]:
    """``(hours per step, steps over the shapes' horizon)``; static loads: 24 hourly steps."""
    shaped = {s.hours for s in circuit.shapes.values()}
    if len(shaped) > 1:
        raise CircuitError(f"load shapes of different intervals ({sorted(shaped)} h)")
    native = shaped.pop() if shaped else 1.0
    horizon = max((len(s.mult) * s.hours for s in circuit.shapes.values()), default=24.0)
    hours = native if resolution is None else RESOLUTIONS[resolution]
    if hours < native - 1e-12:
        raise CircuitError(f"the load shapes have {native * 60:g}-minute points; --resolution {resolution} is finer")
    return hours, int(round(horizon / hours))


def run_time_series(ctx, ft: FeederTopology, hours: float, steps: int, load_phase: dict[str, str]) -> dict:
    """Solve ``steps`` steps of ``hours`` in ``ctx`` (already changed, shapes set) and return the figures."""
    circuit = ctx.ActiveCircuit
    solution = circuit.Solution
    loads = list(circuit.Loads.AllNames)
    for k, name in enumerate(loads):
        command(ctx, f"New Monitor.{_MONITOR}{k} element=Load.{name} terminal=1 mode=1 ppolar=no")
    # energy meters do not change the solution and no figure here reads them, but each one's zone accounting
    # costs every step (the European LV feeder's one meter: 40 % of its 1,440-step run)
    command(ctx, "batchedit energymeter..* enabled=no")
    minutes = hours * 60
    command(ctx, f"Set mode=yearly stepsize={minutes:g}m number=1")
    command(ctx, "Set hour=0 sec=0")
    circuit.Monitors.ResetAll()
    circuit.SetActiveElement(ft.source_transformer)
    xf = circuit.ActiveCktElement
    per, nph = int(xf.NumConductors), int(xf.NumPhases)
    if nph != 3:
        raise CircuitError(f"head transformer {ft.source_transformer} has {nph} phases, expected 3")

    converged = np.zeros(steps, dtype=bool)
    index = vuf = None
    vmin = np.zeros(steps)
    vmin_at = np.zeros(steps, dtype=np.int64)
    neutral = np.zeros(steps)
    source_kw = np.zeros(steps)
    loss_kw = np.zeros(steps)
    began = time.perf_counter()
    failures: dict[int, str] = {}
    for k in range(steps):
        try:
            solution.Solve()
            converged[k] = solution.Converged
        except Exception as exc:  # DSSException: e.g. "Max Control Iterations Exceeded"; the step is not converged
            converged[k] = False
            failures.setdefault(k, str(exc).splitlines()[0])
            if k == 0 and index is None:
                index = NodeIndex.of(ctx)
                vuf = np.zeros((steps, len(index.buses3)), dtype=np.float32)
            continue
        if index is None:  # after the first solve: an edited circuit's bus list is rebuilt by it
            index = NodeIndex.of(ctx)
            vuf = np.zeros((steps, len(index.buses3)), dtype=np.float32)
        v = np.asarray(circuit.AllBusVolts).view(np.complex128)
        vuf[k] = vuf_pct(v[index.abc])
        pu = np.abs(v[index.phase_nodes]) / index.base_v
        vmin_at[k] = int(np.argmin(pu))
        vmin[k] = pu[vmin_at[k]]
        circuit.SetActiveElement(ft.source_transformer)
        cur = np.asarray(circuit.ActiveCktElement.Currents).view(np.complex128)
        neutral[k] = abs(cur[per:per + nph].sum())
        source_kw[k] = -circuit.TotalPower[0]
        loss_kw[k] = circuit.Losses[0] / 1000.0
    seconds = time.perf_counter() - began

    monitors = circuit.Monitors
    load_kwh = {}
    for k, name in enumerate(loads):
        monitors.Name = f"{_MONITOR}{k}"
        channels = monitors.NumChannels
        p = sum(np.asarray(monitors.Channel(c)) for c in range(1, channels + 1, 2))
        load_kwh[name.lower()] = float(np.asarray(p)[converged[: len(p)]].sum() * hours) if len(p) else 0.0
    ok = converged
    by_phase: dict[str, float] = {}
    for name, kwh in load_kwh.items():
        key = load_phase.get(name, "other")
        by_phase[key] = by_phase.get(key, 0.0) + kwh
    out = {
        "steps": int(steps),
        "converged_steps": int(ok.sum()),
        "not_converged": [int(k) for k in np.flatnonzero(~ok)[:20]],
        "step_errors": {str(k): v for k, v in list(failures.items())[:5]},
        "interval_minutes": minutes,
        "transformer": ft.source_transformer,
        "solve_seconds": seconds,
    }
    if not ok.any():
        return out | {"max_vuf_pct": None, "p95_vuf_pct": None, "max_neutral_current_a": None, "losses_kwh": None,
                      "min_voltage_pu": None}
    good = vuf[ok]
    flat = int(np.argmax(good)) if good.size else 0
    step_of = np.flatnonzero(ok)
    kmax, bmax = divmod(flat, max(good.shape[1], 1))
    kv = int(step_of[np.argmin(vmin[ok])])
    kn = int(step_of[np.argmax(neutral[ok])])
    out |= {
        "max_vuf_pct": float(good.max()) if good.size else 0.0,
        "max_vuf_bus": str(index.buses3[bmax]) if good.size else None,
        "max_vuf_step": int(step_of[kmax]),
        "p95_vuf_pct": float(np.percentile(good, 95)) if good.size else 0.0,
        "max_neutral_current_a": float(neutral[ok].max()),
        "max_neutral_current_step": kn,
        "losses_kwh": float(loss_kw[ok].sum() * hours),
        "source_kwh": float(source_kw[ok].sum() * hours),
        "load_kwh": float(sum(load_kwh.values())),
        "load_kwh_by_phase": dict(sorted(by_phase.items())),
        "min_voltage_pu": float(vmin[kv]),
        "min_voltage_bus": str(index.node_bus[vmin_at[kv]]),
        "min_voltage_step": kv,
    }
    return out


def load_phases(ft: FeederTopology, changes=()) -> dict[str, str]:
    """load name -> phase(s) it is on, after ``changes`` (a moved junction moves every load under it)."""
    meter_load = {m: ld for ld, m in ft.load_meter.items()}
    phases = dict(zip(ft.topology.elements["grid_element_id"], ft.topology.elements["phases"]))
    out = {ld: phases[m] for ld, m in ft.load_meter.items()}
    moved = {c.junction: c.to_phase for c in changes}
    for meter, junction in zip(ft.meters["meter_id"], ft.meters["junction"]):
        if junction in moved:
            out[meter_load[meter]] = moved[junction]
    return out


def _scenario(master, shape_file, resolution, steps, changes: list[dict] | None, read=None):
    """A new engine holding the circuit, its shapes at ``resolution`` and ``changes`` applied.

    ``read``: the ``(circuit, topology)`` an earlier compile of the same files gave (they depend on the files
    only; a change edits the engine, not them), so a curve of change sets reads the circuit once; returned.
    """
    ctx = compile_circuit(master, shape_file)
    if read is None:
        circuit = read_circuit(ctx)
        read = (circuit, feeder_topology(circuit))
    circuit, ft = read
    hours, horizon = _time_base(circuit, resolution)
    if hours > min((s.hours for s in circuit.shapes.values()), default=hours) + 1e-12:
        _hourly_shapes(ctx, circuit)
    resolved = resolve_changes(ft, changes) if changes else []
    apply_changes(ctx, ft, resolved)
    return ctx, (circuit, ft), hours, horizon if steps is None else min(steps, horizon), resolved


def phase_impact(master: str | Path, changes: list[dict], resolution: str | None = None, steps: int | None = None,
                 shape_file: str | Path | None = None) -> dict:
    """``{"before": {...}, "after": {...}, "steps": N, ...}``: the feeder as it is, and with ``changes`` applied."""
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {sorted(RESOLUTIONS)}, got {resolution!r}")
    result = {}
    for key, todo in (("before", None), ("after", changes)):
        ctx, (_, ft), hours, n, resolved = _scenario(master, shape_file, resolution, steps, todo)
        result[key] = run_time_series(ctx, ft, hours, n, load_phases(ft, resolved))
        if key == "after":
            result["changes"] = [{"junction": c.junction, "from_phase": c.from_phase, "to_phase": c.to_phase} for c in resolved]
    result["steps"] = result["before"]["steps"]
    result["interval_minutes"] = result["before"]["interval_minutes"]
    return result


IMPACT_KEYS = ("max_vuf_pct", "p95_vuf_pct", "max_neutral_current_a", "losses_kwh", "min_voltage_pu",
               "converged_steps", "steps")


def impact_curve(master: str | Path, change_sets: dict[str, list[dict]], resolution: str | None = None,
                 steps: int | None = None, shape_file: str | Path | None = None) -> dict:
    """``{"before": {...}, "after": {name: {...}}, "runs": N}``: the feeder as it is once, then each named change set.

    One time series per distinct change set (the trade-off curve's K = 0..Kmax, the recommendation): what
    an engineer reads to decide how many crew visits are worth it. Sets are compared as the junction
    moves they resolve to, so an empty set (K = 0) is the feeder as it is and the recommendation is not
    solved again when it equals a curve point; ``runs`` counts the time series solved (the engine is
    deterministic: the same circuit gives the same figures).
    """
    ctx, read, hours, n, _ = _scenario(master, shape_file, resolution, steps, None)
    ft = read[1]
    before = run_time_series(ctx, ft, hours, n, load_phases(ft))
    solved: dict[frozenset, dict] = {frozenset(): before}
    out = {"before": before, "after": {}}
    for name, changes in change_sets.items():
        key = frozenset(resolve_changes(ft, changes)) if changes else frozenset()
        if key not in solved:
            ctx, _, hours, n, resolved = _scenario(master, shape_file, resolution, steps, changes, read)
            solved[key] = run_time_series(ctx, ft, hours, n, load_phases(ft, resolved))
        out["after"][name] = solved[key]
    out["runs"] = len(solved)
    return out
