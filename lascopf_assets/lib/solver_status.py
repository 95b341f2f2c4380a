"""One status vocabulary for every solve, mapped explicitly from each solver's own status.

| status | when |
|---|---|
| ``optimal`` | the solver proved optimality (within the gap we asked for) |
| ``time_limit`` | the solver says it stopped at the time limit we set; the caller reports its incumbent and proven bound |
| ``infeasible`` | the solver proved there is no feasible point |
| ``error`` | anything else: ``reason`` carries the solver's own status text and, where it logged them, its messages |

A status is never inferred from elapsed time: a solve that fails in 3 ms is an ``error``, not a time limit.
Every mapping below is a table; a status a solver adds later falls into ``error`` with its name.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from dataclasses import dataclass, replace

from cvxpy.error import SolverError

OPTIMAL = "optimal"
TIME_LIMIT = "time_limit"
INFEASIBLE = "infeasible"
ERROR = "error"
STATUSES = (OPTIMAL, TIME_LIMIT, INFEASIBLE, ERROR)


@dataclass(frozen=True)
class SolverOutcome:
    """What a solver said, in our vocabulary (``status``) and in its own words (``reason``)."""

    status: str
    reason: str | None = None
    solver_seconds: float | None = None  # the solver's own clock for this solve, where it reports one

    @property
    def ok(self) -> bool:
        return self.status == OPTIMAL


# HiGHS ``HighsModelStatus`` names (without the leading ``k``); all others are errors.
HIGHS_STATUS = {"Optimal": OPTIMAL, "TimeLimit": TIME_LIMIT, "Infeasible": INFEASIBLE}

# SCIP ``Model.getStatus()``; ``gaplimit`` is the relative gap we set reached, i.e. optimal within it.
SCIP_STATUS = {"optimal": OPTIMAL, "gaplimit": OPTIMAL, "timelimit": TIME_LIMIT, "infeasible": INFEASIBLE}

# Clarabel ``SolverStatus``; the "Almost" states are Clarabel's reduced-accuracy verdicts.
CLARABEL_STATUS = {
    "Solved": OPTIMAL,
    "AlmostSolved": OPTIMAL,
    "PrimalInfeasible": INFEASIBLE,
    "AlmostPrimalInfeasible": INFEASIBLE,
    "MaxTime": TIME_LIMIT,
}

_RAW_TABLES = {"HIGHS": HIGHS_STATUS, "SCIP": SCIP_STATUS, "CLARABEL": CLARABEL_STATUS}
_SOLVER_NAMES = {"HIGHS": "HiGHS", "SCIP": "SCIP", "CLARABEL": "Clarabel"}


def _name(solver: str) -> str:
    return _SOLVER_NAMES.get(solver.upper(), solver)


def _words(solver: str, raw: str, messages: list[str] | tuple[str, ...] = ()) -> str:
    text = f"{_name(solver)} status {raw!r}"
    if messages:
        text += ": " + " ".join(m.strip() for m in messages if m.strip())
    return text


def from_raw(solver: str, raw: str, messages: list[str] | tuple[str, ...] = ()) -> SolverOutcome:
    """Map a solver's own status name (``"TimeLimit"``, ``"timelimit"``, ``"MaxIterations"``, ...)."""
    table = _RAW_TABLES.get(solver.upper(), {})
    status = table.get(raw, ERROR)
    if status == OPTIMAL and not messages and raw in ("Optimal", "optimal", "Solved"):
        return SolverOutcome(OPTIMAL)
    return SolverOutcome(status, _words(solver, raw, messages))


def _highs_status_name(name: str) -> str:
    """``kTimeLimit`` (the enum's name) -> ``TimeLimit``, the key of :data:`HIGHS_STATUS`."""
    return name[1:] if name.startswith("k") else name


def highs_outcome(highs, messages: list[str] | tuple[str, ...] = ()) -> SolverOutcome:
    """The outcome of ``highs.run()`` on a ``highspy.Highs`` (``messages``: its logged errors/warnings)."""
    return from_raw("HIGHS", _highs_status_name(highs.getModelStatus().name), messages)


def option_value(text: str) -> bool | int | float | str:
    """A solver option's value from text: ``true``/``false``, an int, a float, else the string."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_options(options: dict[str, str]) -> dict:
    """``{"limits/nodes": "10"}`` -> ``{"limits/nodes": 10}`` (values through :func:`option_value`)."""
    return {str(name).strip(): option_value(str(value)) for name, value in options.items()}


@functools.cache
def quiet_highs_banner() -> None:
    """Print HiGHS's once-per-process banner on stderr instead of stdout.

    The first ``Highs()`` of a process writes "Running HiGHS ..." to file descriptor 1 from C++,
    whatever its options, which would break ``--json`` output on stdout. Creating that first
    instance here, with descriptor 1 pointed at stderr, spends the banner where it harms nothing.
    """
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def raw_cvxpy_status(problem, solver: str) -> str | None:
    """The solver's own status behind a cvxpy solve, or None where cvxpy does not keep it.

    cvxpy folds solver statuses together (HiGHS's time and iteration limits both become
    ``user_limit``; SCIP's ``timelimit`` becomes ``optimal_inaccurate``), so the raw one is read
    back: SCIP's model from ``solver_stats.extra_stats``; HiGHS's results and the Clarabel solver
    object from the problem's solver cache (the same objects cvxpy's own warm start reuses).
    """
    key = solver.upper()
    try:
        if key == "SCIP":
            extra = problem.solver_stats.extra_stats
            return str(extra["model"].getStatus())
        cached = problem._solver_cache.get(key)
        if key == "HIGHS" and cached is not None:
            return _highs_status_name(str(cached[2]["model_status"]))
        if key == "CLARABEL" and cached is not None:
            return str(cached.get_solution().status)
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
    return None


# cvxpy statuses, used only where the raw status cannot be read back
CVXPY_STATUS = {"optimal": OPTIMAL, "infeasible": INFEASIBLE, "infeasible_inaccurate": INFEASIBLE}


def cvxpy_outcome(problem, solver: str, error: Exception | None = None, raw: str | None = None) -> SolverOutcome:
    """The outcome of ``problem.solve(solver=...)``; ``error``: the SolverError it raised, if any;
    ``raw``: the solver's own status when known (default: read back from ``problem``)."""
    if error is None and raw is None:
        raw = raw_cvxpy_status(problem, solver)
    if error is not None:
        said = f"{_name(solver)} failed: {' '.join(str(error).split())}"
        return SolverOutcome(ERROR, said if raw is None else f"{_words(solver, raw)}; {said}")
    if raw is not None:
        outcome = from_raw(solver, raw)
        if outcome.status != ERROR:
            return outcome
        return SolverOutcome(ERROR, f"{outcome.reason} (cvxpy status {problem.status!r})")
    status = CVXPY_STATUS.get(problem.status, ERROR)
    return SolverOutcome(status, None if status == OPTIMAL else f"{_name(solver)}: cvxpy status {problem.status!r}")


def _solve_scip_through_chain(problem, options: dict) -> str:
    """Solve with SCIP through cvxpy's solving chain and return SCIP's own status.

    ``problem.solve`` raises on SCIP's ``timelimit`` without a solution and then keeps no trace of
    SCIP's words; running the chain's steps (``get_problem_data``, ``solve_via_data``,
    ``unpack_results``) keeps them. A SolverError from the last step is raised with the status attached.
    """
    data, chain, inverse = problem.get_problem_data(solver="SCIP")
    raw = chain.solve_via_data(problem, data, warm_start=False, verbose=False, solver_opts=options)
    try:
        problem.unpack_results(raw, chain, inverse)
    except SolverError as exc:
        exc.scip_status, exc.scip_seconds = raw.get("scip_status"), raw.get("solve_time")
        raise
    return str(raw.get("scip_status"))


def solve_cvxpy(problem, solver: str, **options) -> SolverOutcome:
    """``problem.solve(solver=solver, **options)`` and its outcome; a SolverError becomes an ``error``
    unless the solver's own status says otherwise.

    When cvxpy raises (it does for a HiGHS model status ``Not Set``, or for SCIP's ``timelimit``
    without a solution), the raw status is still read back, but only if this solve wrote it
    (HiGHS: the cache entry is new; SCIP: taken from this solve's own results), never a stale one.
    An option the solver does not know or a value of the wrong type is a ValueError naming it.
    """
    key = solver.upper()
    if key == "HIGHS":
        quiet_highs_banner()
    before = getattr(problem, "_solver_cache", {}).get(key)
    try:
        with warnings.catch_warnings():
            # cvxpy's "Solution may be inaccurate": the status below says what the solver said
            warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
            if key == "SCIP":
                outcome = cvxpy_outcome(problem, solver, raw=_solve_scip_through_chain(problem, options))
                return replace(outcome, solver_seconds=_own_seconds(problem))
            problem.solve(solver=solver, **options)
    except (TypeError, KeyError) as exc:  # how cvxpy's interfaces refuse a setting
        raise ValueError(f"{_name(solver)} refuses the options {options}: {exc}") from exc
    except SolverError as exc:
        raw = getattr(exc, "scip_status", None)
        if raw is None and key == "HIGHS":
            after = getattr(problem, "_solver_cache", {}).get(key)  # cvxpy may have replaced the dict
            raw = raw_cvxpy_status(problem, solver) if after is not None and after is not before else None
        seconds = getattr(exc, "scip_seconds", None)
        if raw is not None and from_raw(solver, raw).status == TIME_LIMIT:
            return SolverOutcome(TIME_LIMIT, f"{_words(solver, raw)}, no solution found within it", seconds)
        return replace(cvxpy_outcome(problem, solver, exc, raw), solver_seconds=seconds)
    return replace(cvxpy_outcome(problem, solver), solver_seconds=_own_seconds(problem))


def _own_seconds(problem) -> float | None:
    """The solver's own seconds cvxpy recorded for the solve just made (``solver_stats.solve_time``), if any."""
    seconds = getattr(getattr(problem, "solver_stats", None), "solve_time", None)
    return float(seconds) if isinstance(seconds, (int, float)) else None
