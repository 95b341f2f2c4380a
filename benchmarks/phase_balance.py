"""Phase balancing benchmark: the study's formulation vs the fast exact method (not a test).

Seed scale (40 junctions x 8760 h, K=5): the study's formulation built with cvxpy
and solved by the chosen solver under a time limit, then the fast method with the
same solver; prints times, objectives, gaps and the speed ratio. Then 400
junctions x 8760 h, K=20 with the fast method. Peak RSS is printed after the fast
runs (before the reference runs, which run in a child process with a hard wall-clock
cap of time limit + 10 %, since cvxpy's model build is not covered by the solver's limit).

    .venv/bin/python benchmarks/phase_balance.py [--time-limit 1800] [--solver scip|highs] [--instances demo|synthetic]
    .venv/bin/python benchmarks/phase_balance.py --curve 10 [--per-k 10] [--curve-budget 120] [--unlimited 120]
        [--lv-folder DIR] [--no-fractional-cuts]

``--curve KMAX`` (issue 13) instead prints the trade-off curve per K = 0..KMAX: time, status and gap of the
fast method (one balancer along the curve, each K its own ``--per-k`` seconds, bounds carried down) and of
the plain epigraph MILP (cvxpy + the same solver, the same seconds per K, one child process per K with a
hard cap), on the demo zone (40 junctions), the synthetic generator's 40 x 8760 instance and the IEEE
European LV feeder at 1-minute resolution (55 loads x 1,440 minutes, when ``--lv-folder`` exists); then
K = 5 on the LV feeder with ``--lv-limit`` s (30), with the default groups (4) and with
``--lv-groups`` (40, the count its spiky loads got before the fractional cuts) for comparison, and
the unlimited setting (``--max-changes all``) with ``--unlimited`` s, as one SCIP tree (the method before the
neighbourhood search) and with the search. Between the two, the whole curve of
the demo zone and of the synthetic instance under one ``--curve-budget`` (120 s), spent as the CLI spends
``--curve KMAX --time-limit S`` (the small K finish early and leave their time to the larger ones).
``--no-fractional-cuts``: the fast method as it was before SCIP's tree cut fractional LP points, for a
before/after comparison in one run.
Targets (issue 13): every K = 0..10 certified (gap <= 1e-4) in <= 120 s for the whole curve at 40 x 8760;
LV 1-minute K = 5 proven in <= 30 s; unlimited gap <= 1 % in <= 120 s.

Instances (default ``demo``, as the issue asks): the demo zone generator
(lascopf_assets.lib.zone.demo) for a year, its meter readings summed per junction
and hour exactly as junction_aggregates does; built in a child process that writes
the junction table to Parquet, so the solver's peak RSS is its own.
``synthetic``: this package's own seeded junction-level generator.

Targets (issue 2): seed scale proven optimal (gap <= 1e-4) in <= 60 s and >= 30x faster
than the study's formulation on the same solver; 400 junctions certified within 0.5 %
in <= 5 min; peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lascopf_assets.lib.phase_balance.exact import solve_fast
from lascopf_assets.lib.phase_balance.generator import generate_instance
from lascopf_assets.lib.phase_balance.problem import problem_from_long_table
from lascopf_assets.lib.phase_balance.reference import solve_reference


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: kB


def line(label, r) -> str:
    return (f"{label:<34} status {r.status:<11} imbalance {r.imbalance:12.6f}  bound {r.bound:12.6f}  "
            f"gap {r.gap:9.2e}  {r.solve_seconds:8.2f} s  changes {len(r.changes)}")


def _demo_junction_table(junctions: int, meters_per_junction: int, seed: int, path: str) -> None:
    """A year of the demo zone, summed per junction and hour (junction_aggregates' rule), to Parquet."""
    from lascopf_assets.lib.zone.demo import DemoZoneParams, generate_demo_zone

    zone = generate_demo_zone(DemoZoneParams(junctions=junctions, total_meters=junctions * meters_per_junction, seed=seed))
    readings = zone.readings
    junction_of = pd.Series(zone.meter_junction)
    junction_names = np.array(sorted(zone.junction_phase))
    j_index = pd.Index(junction_names).get_indexer(junction_of.reindex(readings["meter_id"]).to_numpy())
    hours = pd.DatetimeIndex(readings["timestamp"])
    start = hours.min()
    h_index = ((hours - start) // pd.Timedelta(hours=1)).to_numpy()
    n_hours = int(h_index.max()) + 1
    totals = np.bincount(j_index * n_hours + h_index, weights=readings["kwh"].to_numpy(), minlength=len(junction_names) * n_hours)
    table = pd.DataFrame({
        "junction": np.repeat(junction_names, n_hours),
        "phase": np.repeat([zone.junction_phase[j] for j in junction_names], n_hours),
        "timestamp": np.tile(pd.date_range(start, periods=n_hours, freq="h"), len(junction_names)),
        "kwh": totals,
    })
    table.to_parquet(path)


def build_instance(kind: str, junctions: int, seed: int, folder: Path):
    """The junction-level problem: from the demo zone (child process) or the synthetic generator."""
    if kind == "synthetic":
        return generate_instance(junctions, 8760, seed=seed), None
    path = folder / f"demo_{junctions}_{seed}.parquet"
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_demo_junction_table, args=(junctions, 10 if junctions > 100 else 17, seed, str(path)))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"demo zone generation failed (exit {proc.exitcode})")
    return problem_from_long_table(pd.read_parquet(path), source=str(path), csv_lines=False), path


def _reference_child(J, T, K, seed, solver, time_limit, instance_path, queue):
    problem = (problem_from_long_table(pd.read_parquet(instance_path), source=str(instance_path), csv_lines=False)
               if instance_path else generate_instance(J, T, seed=seed))
    r = solve_reference(problem, K, solver, time_limit, "study", 1e-4)
    queue.put((r.status, r.imbalance, r.bound, r.gap, r.solve_seconds, len(r.changes), peak_rss_mb()))


def run_capped_child(target, args, cap_seconds):
    """Run ``target(*args, queue)`` in a forked child killed after ``cap_seconds``:
    (what it put on the queue, or None; wall seconds; whether the cap killed it)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    t0 = time.perf_counter()
    proc.start()
    proc.join(cap_seconds)
    wall = time.perf_counter() - t0
    killed = proc.is_alive()
    if killed:
        proc.kill()
        proc.join()
    return (None if killed or queue.empty() else queue.get()), wall, killed


def run_reference(J, T, K, seed, solver, time_limit, instance_path=None):
    """(result tuple or None, wall seconds): None when the hard cap killed the child."""
    result, wall, _ = run_capped_child(_reference_child, (J, T, K, seed, solver, time_limit, instance_path), time_limit * 1.1 + 30)
    return result, wall


def _epigraph_child(problem, K, solver, time_limit, queue):
    """The solver gets ``time_limit`` seconds after the cvxpy build (solve_reference counts the build in its
    limit, so the build is timed once first and added); reports the solver's own clock (cvxpy's solve_time) and
    the seconds after the build (cvxpy's compilation, the hand-over to the solver and its solve)."""
    from lascopf_assets.lib.phase_balance.reference import build_model

    t0 = time.perf_counter()
    build_model(problem, K, "epigraph")
    build = time.perf_counter() - t0
    r = solve_reference(problem, K, solver, time_limit + build, "epigraph", 1e-4)
    own = float("nan") if r.solver_seconds is None else r.solver_seconds
    queue.put((r.status, r.imbalance, r.bound, r.gap, own, max(0.0, r.solve_seconds - build)))


def run_epigraph(problem, K, solver, time_limit):
    """(status, imbalance, bound, gap, the solver's own seconds, seconds after the build, wall seconds incl. two
    cvxpy builds); 'killed' past the cap."""
    result, wall, killed = run_capped_child(_epigraph_child, (problem, K, solver, time_limit), time_limit * 1.5 + 120)
    if result is None:
        return ("killed" if killed else "error", float("nan"), 0.0, 1.0, float("nan"), wall, wall)
    return (*result, wall)


def curve_table(name, problem, k_max, solver, per_k, reference_ks, groups=None, fractional_cuts=True) -> list:
    """Print and return one instance's curve rows: fast (shared balancer, per_k s per K) and epigraph MILP (same)."""
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer, carry_bounds_down

    balancer = ExactPhaseBalancer(problem, solver, groups, fractional_cuts=fractional_cuts)
    print(f"== curve {name}: {problem.n_junctions} junctions x {problem.n_hours} intervals, K = 0..{k_max}, "
          f"solver {solver}, {per_k:g} s per K for each method, {len(np.unique(balancer.groups))} hour groups")
    t0 = time.perf_counter()
    solved = {K: balancer.solve(K, per_k, 1e-6) for K in range(k_max + 1)}
    total_fast = time.perf_counter() - t0
    carry_bounds_down(solved, 1e-6)
    print(f"{'K':>3} | {'fast status':<11} {'imbalance':>10} {'bound':>10} {'gap':>8} {'s':>6} | "
          f"{'epigraph status':<15} {'imbalance':>10} {'bound':>10} {'gap':>8} {'solver s':>8} {'+cvxpy s':>8} {'wall s':>7}")
    rows = []
    for K in range(k_max + 1):
        r = solved[K]
        ref = run_epigraph(problem, K, solver, per_k) if K in reference_ks else None
        ref_text = ("-" if ref is None else
                    f"{ref[0]:<15} {ref[1]:>10.3f} {ref[2]:>10.3f} {ref[3]:>8.2%} {ref[4]:>8.1f} {ref[5]:>8.1f} {ref[6]:>7.1f}")
        print(f"{K:>3} | {r.status:<11} {r.imbalance:>10.3f} {r.bound:>10.3f} {r.gap:>8.2%} {r.solve_seconds:>6.1f} | "
              + ref_text, flush=True)
        rows.append((K, r, ref))
    certified = sum(r.gap <= 1e-4 for r in solved.values())
    print(f"fast method: {certified}/{k_max + 1} K certified (gap <= 1e-4), whole curve {total_fast:.1f} s")
    return rows


def budget_curve(name, problem, k_max, solver, budget, groups=None, fractional_cuts=True) -> None:
    """The whole curve K = 0..k_max under one budget, spent as ``--curve KMAX --time-limit S`` spends it."""
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer, solve_with_curve

    t0 = time.perf_counter()
    balancer = ExactPhaseBalancer(problem, solver, groups, fractional_cuts=fractional_cuts)
    _, curve = solve_with_curve(balancer, k_max, k_max, budget)
    total = time.perf_counter() - t0
    print(f"== curve {name} under one {budget:g} s budget (the CLI's --curve {k_max} --time-limit {budget:g}):")
    print("   " + "  ".join(f"K={r.max_changes} {r.gap:.1%} {r.solve_seconds:.0f}s" for r in curve))
    certified = sum(r.gap <= 1e-4 for r in curve)
    print(f"   {certified}/{k_max + 1} K certified (gap <= 1e-4) in {total:.1f} s; "
          f"target every K in <= 120 s: {certified == k_max + 1 and total <= 120}")


def curve_main(args) -> None:
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer
    from lascopf_assets.lib.phase_balance.lv_feeder import feeder_load_table

    folder = Path(tempfile.mkdtemp(prefix="lascopf-bench-phase-"))
    print(f"machine: 2 cores shared with other sessions; budgets: {args.per_k:g} s per K and method, "
          f"unlimited {args.unlimited:g} s, LV K = 5 30 s (targets: 120 s curve, 30 s LV, 120 s unlimited)")
    demo, _ = build_instance("demo", 40, args.seed, folder)
    synthetic = generate_instance(40, 8760, seed=args.seed)
    instances = [("demo zone 40 x 8760", demo), ("synthetic generator 40 x 8760", synthetic)]
    lv = Path(args.lv_folder)
    if (lv / "Loads.txt").exists():
        lv_problem = problem_from_long_table(feeder_load_table(lv, resolution="minute"), source=str(lv))
        instances.append(("IEEE European LV, 1-minute", lv_problem))
    reference_ks = (set() if args.skip_reference else set(range(args.curve + 1)) if args.reference_ks is None
                    else {int(k) for k in args.reference_ks.split(",")})
    for name, problem in instances:
        curve_table(name, problem, args.curve, args.solver, args.per_k, reference_ks, args.groups, args.fractional_cuts)
    for name, problem in instances[:2]:
        budget_curve(name, problem, args.curve, args.solver, args.curve_budget, args.groups, args.fractional_cuts)
    if (lv / "Loads.txt").exists():
        for groups in dict.fromkeys((args.groups, args.lv_groups)):  # the default (or --groups), then --lv-groups
            r = ExactPhaseBalancer(lv_problem, args.solver, groups, fractional_cuts=args.fractional_cuts).solve(
                5, args.lv_limit, 1e-6)
            label = f"{groups or 'default'} groups"
            print(f"== LV 1-minute K = 5, {label}, {args.lv_limit:g} s: {line('fast method', r)}")
            print(f"target proven in <= 30 s: {r.gap <= 1e-4 and r.solve_seconds <= 30}")
    for name, problem in instances[:2]:
        print(f"== unlimited (--max-changes all) {name}, {args.unlimited:g} s")
        for label, search in (("one tree, no search", False), ("neighbourhood search + tree", True)):
            b = ExactPhaseBalancer(problem, args.solver, args.groups, fractional_cuts=args.fractional_cuts,
                                   use_neighbourhood_search=search)
            r = b.solve(problem.n_junctions, args.unlimited, 1e-6)
            print(line(label, r) + (f"  search {r.neighbourhood_search}" if r.neighbourhood_search else ""))
        print(f"target gap <= 1 % in <= 120 s: {r.gap <= 0.01 and r.solve_seconds <= 120}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--curve", type=int, default=None, metavar="KMAX", help="the trade-off curve benchmark (issue 13)")
    ap.add_argument("--per-k", type=float, default=10.0, help="--curve: seconds per K for each method (default 10)")
    ap.add_argument("--reference-ks", default=None, metavar="K,K,...",
                    help="--curve: the K the epigraph MILP runs for (default every K; its cvxpy build is not budgeted)")
    ap.add_argument("--groups", type=int, default=None, metavar="G",
                    help="--curve: interval groups of the fast method (default: its own choice, 4)")
    ap.add_argument("--unlimited", type=float, default=120.0, help="--curve: seconds of the unlimited setting")
    ap.add_argument("--curve-budget", type=float, default=120.0,
                    help="--curve: one budget for the whole curve, spent as the CLI does (default 120, the target)")
    ap.add_argument("--no-fractional-cuts", dest="fractional_cuts", action="store_false",
                    help="--curve: SCIP's tree cuts integral candidates only (the method before fractional cuts)")
    ap.add_argument("--lv-groups", type=int, default=40, metavar="G",
                    help="--curve: LV K = 5 also with G groups (default 40, what spiky loads got before the "
                         "fractional cuts)")
    ap.add_argument("--lv-limit", type=float, default=30.0, help="--curve: seconds of the LV K = 5 solves (target 30)")
    ap.add_argument("--lv-folder", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ieee_european_lv"))
    ap.add_argument("--time-limit", type=float, default=1800.0, help="reference time limit, seconds (default 1800)")
    ap.add_argument("--solver", choices=("scip", "highs"), default="scip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--instances", choices=("demo", "synthetic"), default="demo")
    args = ap.parse_args()
    if args.curve is not None:
        curve_main(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="lascopf-bench-phase-"))

    print(f"== seed scale: 40 junctions x 8760 h, K=5, seed {args.seed}, solver {args.solver}, {args.instances} instances")
    t0 = time.perf_counter()
    seed_problem, seed_path = build_instance(args.instances, 40, args.seed, folder)
    print(f"instance built in {time.perf_counter() - t0:.2f} s ({seed_problem.n_junctions} junctions x {seed_problem.n_hours} h)")
    fast = solve_fast(seed_problem, 5, args.solver, gap_tolerance=1e-6)
    print(f"initial imbalance {fast.initial_imbalance:.3f} (study: 5502.23 before, 405.886 after)")
    print(line("fast method", fast))
    print(f"  after/before ratio {fast.imbalance / fast.initial_imbalance:.4f} (study: {405.886 / 5502.23:.4f})")
    print(f"  changes: {', '.join(f'{c.junction} {c.from_phase}->{c.to_phase}' for c in fast.changes)}")

    print("== 400 junctions x 8760 h, K=20")
    big, _ = build_instance(args.instances, 400, args.seed, folder)
    fast_big = solve_fast(big, 20, args.solver, time_limit=300.0, gap_tolerance=1e-6)
    print(line("fast method", fast_big))
    rss_fast = peak_rss_mb()
    print(f"peak RSS after the fast runs: {rss_fast:.0f} MB")

    ref = None
    if not args.skip_reference:
        print(f"== study formulation (cvxpy + {args.solver}), 40 x 8760, K=5, time limit {args.time_limit:.0f} s")
        ref, wall = run_reference(40, 8760, 5, args.seed, args.solver, args.time_limit, seed_path)
        if ref is None:
            print(f"study formulation: no result within the hard cap ({wall:.0f} s wall): killed")
            ref_seconds, ref_gap, ref_status = wall, 1.0, "killed"
        else:
            status, value, bound, gap, secs, n_changes, rss = ref
            print(f"{'study formulation':<34} status {status:<11} imbalance {value:12.6f}  bound {bound:12.6f}  "
                  f"gap {gap:9.2e}  {secs:8.2f} s  changes {n_changes}  (child peak RSS {rss:.0f} MB)")
            ref_seconds, ref_gap, ref_status = secs, gap, status
        bound_word = "" if ref_status == "optimal" and ref_gap <= 1e-4 else ">= "
        print(f"speed ratio (study / fast, same solver): {bound_word}{ref_seconds / fast.solve_seconds:.1f}x"
              + ("" if not bound_word else "  (lower bound: the study's formulation did not prove optimality)"))

    print("== targets")
    print(f"seed scale proven optimal (gap <= 1e-4) in <= 60 s: {fast.gap <= 1e-4 and fast.solve_seconds <= 60} "
          f"(gap {fast.gap:.1e}, {fast.solve_seconds:.1f} s)")
    print(f"400 junctions within 0.5 % in <= 300 s: {fast_big.gap <= 5e-3 and fast_big.solve_seconds <= 300} "
          f"(gap {fast_big.gap:.1e}, {fast_big.solve_seconds:.1f} s)")
    print(f"peak RSS <= 2 GB (fast runs): {rss_fast <= 2048} ({rss_fast:.0f} MB)")


if __name__ == "__main__":
    main()
