"""The phase-balancing problem as dense arrays, built from the long load table.

A :class:`PhaseBalanceProblem` holds ``loads[j, t]`` (kWh of junction ``j`` in
interval ``t``), each junction's current phase ``initial_phase[j]`` (0, 1, 2
for A, B, C) and the junction names and timestamps that label the axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PHASES = ("A", "B", "C")
PHASE_INDEX = {p: i for i, p in enumerate(PHASES)}
LOAD_TABLE_COLUMNS = ("junction", "phase", "timestamp", "kwh")


class LoadTableError(ValueError):
    """The load table cannot describe a phase-balancing problem (one-line reason)."""


@dataclass(frozen=True)
class PhaseBalanceProblem:
    """Loads ``(J, T)``, current phases ``(J,)`` and the labels of both axes."""

    loads: np.ndarray
    initial_phase: np.ndarray
    junctions: np.ndarray
    timestamps: np.ndarray

    def __post_init__(self) -> None:
        loads = np.asarray(self.loads, dtype=np.float64)
        phase = np.asarray(self.initial_phase, dtype=np.int64)
        if loads.ndim != 2:
            raise ValueError(f"loads must be a (junctions, hours) matrix, got shape {loads.shape}")
        if phase.shape != (loads.shape[0],):
            raise ValueError(f"initial_phase has shape {phase.shape}, expected ({loads.shape[0]},)")
        if phase.size and (phase.min() < 0 or phase.max() > 2):
            raise ValueError("initial_phase entries must be 0, 1 or 2 (phases A, B, C)")
        if not np.all(np.isfinite(loads)):
            raise ValueError("loads contain NaN or infinite values")
        object.__setattr__(self, "loads", loads)
        object.__setattr__(self, "initial_phase", phase)
        object.__setattr__(self, "junctions", np.asarray(self.junctions, dtype=object))
        object.__setattr__(self, "timestamps", np.asarray(self.timestamps))

    @property
    def n_junctions(self) -> int:
        return self.loads.shape[0]

    @property
    def n_hours(self) -> int:
        return self.loads.shape[1]

    @classmethod
    def from_arrays(cls, loads, initial_phase) -> PhaseBalanceProblem:
        """A problem with junctions named ``J0, J1, ...`` and intervals ``0..T-1``."""
        loads = np.asarray(loads, dtype=np.float64)
        return cls(
            loads=loads,
            initial_phase=np.asarray(initial_phase),
            junctions=np.array([f"J{j}" for j in range(loads.shape[0])], dtype=object),
            timestamps=np.arange(loads.shape[1]),
        )


def problem_from_long_table(table: pd.DataFrame, source: str = "loads", csv_lines: bool = True,
                            row_positions: np.ndarray | None = None) -> PhaseBalanceProblem:
    """Pivot the long table ``junction, phase, timestamp, kwh`` into a problem.

    ``source`` names the table in error messages. A junction/timestamp pair that
    is absent counts as 0 kWh; a pair given twice is an error. Raises
    :class:`LoadTableError` with a one-line reason naming the offending row
    (``csv_lines``: as a CSV line number, the header being line 1; otherwise
    as a 1-based row number). ``row_positions[i]`` is row ``i``'s position in the table the user
    gave, when ``table`` is a part of it (one feeder's rows).
    """
    missing = [c for c in LOAD_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise LoadTableError(f"{source}: missing column(s) {', '.join(missing)} (need {', '.join(LOAD_TABLE_COLUMNS)})")
    if len(table) == 0:
        raise LoadTableError(f"{source}: no rows")
    def where(pos: int) -> str:
        return row_label(source, int(pos if row_positions is None else row_positions[pos]), csv_lines)

    junction = table["junction"].astype(str).to_numpy()
    null_junction = table["junction"].isna().to_numpy() | (table["junction"].astype(str).str.strip() == "").to_numpy()
    if null_junction.any():
        raise LoadTableError(f"{where(int(np.argmax(null_junction)))}: empty junction")

    kwh = pd.to_numeric(table["kwh"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(kwh)
    if bad.any():
        pos = int(np.argmax(bad))
        raise LoadTableError(f"{where(pos)}: kwh {table['kwh'].iloc[pos]!r} is not a finite number")

    phase_text = table["phase"].astype(str).str.strip().str.upper().to_numpy()
    phase_code = pd.Series(phase_text).map(PHASE_INDEX).to_numpy()
    bad = pd.isna(phase_code)
    if bad.any():
        pos = int(np.argmax(bad))
        raise LoadTableError(f"{where(pos)}: phase {table['phase'].iloc[pos]!r} is not one of A, B, C")
    phase_code = phase_code.astype(np.int64)

    timestamps = table["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(timestamps) and not pd.api.types.is_numeric_dtype(timestamps):
        parsed = pd.to_datetime(timestamps, utc=True, errors="coerce", format="mixed")
        bad = parsed.isna().to_numpy()
        if bad.any():
            pos = int(np.argmax(bad))
            raise LoadTableError(f"{where(pos)}: timestamp {timestamps.iloc[pos]!r} is not a date-time")
        timestamps = parsed
    j_codes, j_names = pd.factorize(junction, sort=True)
    t_codes, t_values = pd.factorize(timestamps, sort=True)
    if (t_codes < 0).any():
        pos = int(np.argmax(t_codes < 0))
        raise LoadTableError(f"{where(pos)}: empty timestamp")

    # One phase per junction: compare each row's phase with the junction's first phase.
    first_row = first_rows(j_codes, len(j_names))
    first_phase = phase_code[first_row]
    pos = first_disagreement(phase_code, first_phase[j_codes])
    if pos is not None:
        j = j_codes[pos]
        raise LoadTableError(
            f"{where(pos)}: junction {j_names[j]!r} is on phase {PHASES[phase_code[pos]]} here "
            f"but on phase {PHASES[first_phase[j]]} at {where(int(first_row[j]))}"
        )

    flat = j_codes.astype(np.int64) * len(t_values) + t_codes
    counts = np.bincount(flat, minlength=len(j_names) * len(t_values))
    if counts.max() > 1:
        dup_key = int(np.argmax(counts > 1))
        rows = np.flatnonzero(flat == dup_key)
        raise LoadTableError(
            f"{where(int(rows[1]))}: junction {j_names[dup_key // len(t_values)]!r} at "
            f"{t_values[dup_key % len(t_values)]} already given at {where(int(rows[0]))}"
        )
    loads = np.bincount(flat, weights=kwh, minlength=len(j_names) * len(t_values))
    return PhaseBalanceProblem(
        loads=loads.reshape(len(j_names), len(t_values)),
        initial_phase=first_phase,
        junctions=np.asarray(j_names, dtype=object),
        timestamps=np.asarray(t_values),
    )


def first_rows(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """The first row of each group (``codes[i]`` is row ``i``'s group, 0..n_groups-1)."""
    first = np.full(n_groups, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def first_disagreement(values: np.ndarray, expected: np.ndarray) -> int | None:
    """The first row where ``values`` differs from ``expected``, or None."""
    clash = values != expected
    return int(np.argmax(clash)) if clash.any() else None


def row_label(source: str, position: int, csv_lines: bool) -> str:
    """How an error names row ``position`` (0-based) of a table: a CSV line (header = line 1) or a 1-based row."""
    return f"{source} line {position + 2}" if csv_lines else f"{source} row {position + 1}"


def read_load_table(path: str | Path) -> PhaseBalanceProblem:
    """Read a CSV or Parquet load table (``junction, phase, timestamp, kwh``) into a problem."""
    table, csv_lines = read_load_frame(path)
    return problem_from_long_table(table, source=str(path), csv_lines=csv_lines)


def read_load_frame(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """The raw long table of a CSV or Parquet file, and whether its rows are CSV lines (for error messages)."""
    path = Path(path)
    if not path.exists():
        raise LoadTableError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        elif suffix == ".csv":
            table = pd.read_csv(path, dtype={"junction": str, "phase": str, "kwh": str, "feeder": str}, keep_default_na=False)
        else:
            raise LoadTableError(f"{path}: expected a .csv or .parquet file")
    except LoadTableError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one line
        raise LoadTableError(f"{path}: cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return table, suffix == ".csv"


def problem_to_long_table(problem: PhaseBalanceProblem) -> pd.DataFrame:
    """The inverse of :func:`problem_from_long_table` (one row per junction and interval)."""
    J, T = problem.loads.shape
    return pd.DataFrame(
        {
            "junction": np.repeat(problem.junctions, T),
            "phase": np.repeat(np.array(PHASES, dtype=object)[problem.initial_phase], T),
            "timestamp": np.tile(problem.timestamps, J),
            "kwh": problem.loads.reshape(-1),
        }
    )
