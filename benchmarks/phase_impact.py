"""Physics-check benchmark (issue 12): time-series unbalanced power flow before and after phase changes (not a test).

Each case runs `phase_impact` (compile, apply the changes, run both time series) in a child process
of its own, so the peak RSS printed is that case's. The feeders are the published ones in
``../shared/data`` (see its README); a case whose files are absent is skipped with a message.

| case | steps | changes | target (before and after together, 2 cores) |
|---|---|---|---|
| European LV | 1,440 one-minute | the 3 moves `lascopf phase-balance ... --max-changes 3` recommends | <= 20 s |
| IEEE 123 (LoadShape1 on every load) | 8,760 hours | 3 laterals moved (one- and two-phase) | <= 60 s |
| IEEE 8500 (static balanced loads) | 24 hours | the 3 laterals with most loads moved to the next phase | <= 60 s |
| European LV, `lv-curve` | 1,440 one-minute | `make demo`'s lv-tr1 curve K = 0..5 and K = 5 recommendation | none: what the demo adds |

    .venv/bin/python benchmarks/phase_impact.py [--only lv|lv-curve|123|8500]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LV_CHANGES = [
    {"junction": "LOAD53", "from_phase": "B", "to_phase": "A"},
    {"junction": "LOAD55", "from_phase": "A", "to_phase": "C"},
    {"junction": "LOAD9", "from_phase": "A", "to_phase": "C"},
]
# make demo's K = 5 recommendation on lv-tr1 (2023-01-01, hourly aggregates); curve point K holds its first K moves
LV_DEMO_MOVES = [
    {"junction": "svc_load53", "from_phase": "B", "to_phase": "A"},
    {"junction": "svc_load9", "from_phase": "A", "to_phase": "C"},
    {"junction": "svc_load32", "from_phase": "C", "to_phase": "B"},
    {"junction": "svc_load20", "from_phase": "A", "to_phase": "C"},
    {"junction": "svc_load15", "from_phase": "B", "to_phase": "C"},
]
IEEE123_CHANGES = [
    {"junction": "l1", "from_phase": "B", "to_phase": "A"},
    {"junction": "reg3a", "from_phase": "A", "to_phase": "B"},
    {"junction": "l35.B", "from_phase": "B", "to_phase": "C"},
]
CASES = {
    "lv": ("European LV, 1,440 x 1 min", DATA / "ieee_european_lv" / "Master.dss", None, LV_CHANGES, 20.0),
    "lv-curve": ("European LV, demo curve K = 0..5 + recommendation, 1,440 x 1 min", DATA / "ieee_european_lv" / "Master.dss",
                 None, LV_DEMO_MOVES, None),
    "123": ("IEEE 123, 8,760 x 1 h", DATA / "ieee123" / "IEEE123Master.dss", DATA / "ieee123" / "Loadshapes" / "LoadShape1.DSS",
            IEEE123_CHANGES, 60.0),
    "8500": ("IEEE 8500, 24 x 1 h", DATA / "ieee8500" / "Master.dss", None, None, 60.0),
}


def _first_junction_moves(master, n=3):
    from lascopf_assets.lib.opendss.circuit import read_circuit
    from lascopf_assets.lib.opendss.engine import compile_circuit
    from lascopf_assets.lib.opendss.topology import feeder_topology

    ft = feeder_topology(read_circuit(compile_circuit(master)))
    per = ft.meters.groupby(["junction", "phase"]).size().rename("meters").reset_index()
    rows = per.sort_values(["meters", "junction"], ascending=[False, True]).head(n)  # the laterals with most loads
    nxt = {"A": "B", "B": "C", "C": "A"}
    return [{"junction": j, "from_phase": p, "to_phase": nxt[p]} for j, p in zip(rows["junction"], rows["phase"])]


def _case(key, queue):
    from lascopf_assets.lib.opendss.powerflow import impact_curve, phase_impact

    _, master, shape, changes, _ = CASES[key]
    began = time.perf_counter()
    try:
        if key == "lv-curve":
            sets = {"recommended": changes, **{f"k={k}": changes[:k] for k in range(len(changes) + 1)}}
            result = impact_curve(master, sets, shape_file=shape)
        else:
            changes = changes if changes is not None else _first_junction_moves(master)
            result = phase_impact(master, changes, shape_file=shape)
    except Exception as exc:  # reported by the parent, which would otherwise wait forever
        queue.put((None, 0.0, f"{type(exc).__name__}: {exc}"))
        return
    seconds = time.perf_counter() - began
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), default=None)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    failed = False
    for key, (label, master, *_rest, target) in CASES.items():
        if args.only and key != args.only:
            continue
        if not master.is_file():
            print(f"{label}: skipped, {master} is absent (../shared/data)")
            continue
        queue = ctx.Queue()
        child = ctx.Process(target=_case, args=(key, queue))
        child.start()
        seconds, rss_mb, r = queue.get()
        child.join()
        if seconds is None:
            print(f"{label}: FAILED: {r}")
            failed = True
            continue
        if key == "lv-curve":
            print(f"{label}: {seconds:.1f} s for {r['runs']} distinct time series of {len(r['after'])} change sets "
                  f"({seconds / r['runs']:.1f} s each), peak RSS {rss_mb:.0f} MB")
            for name, point in r["after"].items():
                print(f"    {name:<12} max VUF {point['max_vuf_pct']:.3f} %, neutral {point['max_neutral_current_a']:.1f} A, "
                      f"losses {point['losses_kwh']:.3f} kWh")
            continue
        b, a = r["before"], r["after"]
        ok = seconds <= target
        failed |= not ok
        print(f"{label}: {seconds:.1f} s before+after (target <= {target:.0f} s: {'met' if ok else 'MISSED'}), "
              f"peak RSS {rss_mb:.0f} MB; solve loops {b['solve_seconds']:.1f} + {a['solve_seconds']:.1f} s")
        for name in ("max_vuf_pct", "p95_vuf_pct", "max_neutral_current_a", "losses_kwh", "min_voltage_pu"):
            print(f"    {name:<24} {b[name]:12.4f} -> {a[name]:12.4f}")
        print(f"    converged {b['converged_steps']}/{b['steps']} and {a['converged_steps']}/{a['steps']}; "
              f"changes {[(c['junction'], c['from_phase'] + '->' + c['to_phase']) for c in r['changes']]}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
