"""Reference DDL of the production tables (PostgreSQL/TimescaleDB).

Grown from the reference design in ARCHITECTURE.md. Time-partitioned tables are
hypertables or day-partitioned tables (see :mod:`pg_tables`); the others are
plain tables. Two kinds:

* :data:`RESULTS_TABLES`: the tables the ``transmission`` assets write (through
  ``timeseries_io_manager``, PostgreSQL in production), under the asset's name,
  with exactly the asset's columns in its order (``timestamp`` first) and the
  types its frames create. ``lascopf_dispatch`` is the architecture's
  ``lascopf_results``: one row per solved day, ``timestamp, case`` and then
  ``lib.lascopf.result.SUMMARY_COLUMNS``. The others are the asset's
  ``DISPATCH_TABLES`` (``defs/transmission``) with the interval start in front.
  ``lascopf_assets_tests/storage/test_results_schema.py`` materializes the
  assets and holds them to this schema: change both together.
* ``power_measurements``, ``network_topology``, ``phase_change_recommendations``:
  tables of the reference design that no asset writes yet.

New nullable columns are added by the store's schema rule when an asset starts
producing them, so a table created from here also takes later additions.
"""

from __future__ import annotations

import pandas as pd

from lascopf_assets.storage.pg_tables import PgTableStore
from lascopf_assets.storage.pg_types import BIGINT, BOOLEAN, FLOAT, JSONB, TEXT, TIMESTAMPTZ, TableSpec

# -- written by the transmission assets -------------------------------------------

# one row per solved day (the day partition's first interval)
LASCOPF_DISPATCH = TableSpec(
    "lascopf_dispatch",
    {
        "timestamp": TIMESTAMPTZ,
        "case": TEXT,
        "status": TEXT,  # lib/solver_status.py: optimal, time_limit, infeasible, error
        "objective": FLOAT,
        "method": TEXT,
        "solve_seconds": FLOAT,
        "iterations": BIGINT,
        "intervals": BIGINT,
        "contingencies_modeled": BIGINT,
        "contingencies_skipped": BIGINT,
        "max_base_loading": FLOAT,
        "max_post_contingency_loading": FLOAT,
        "total_slack_mw": FLOAT,
        "cause": TEXT,  # our diagnosis of a non-optimal day, else NULL
        "reason": TEXT,  # the solver's words for a non-optimal status, else NULL
    },
    time_column="timestamp",
)

GENERATOR_DISPATCH = TableSpec(
    "generator_dispatch",
    {
        "timestamp": TIMESTAMPTZ,
        "gen": TEXT,
        "bus": BIGINT,
        "interval": BIGINT,
        "p_mw": FLOAT,
    },
    time_column="timestamp",
)

BRANCH_FLOWS = TableSpec(
    "branch_flows",
    {
        "timestamp": TIMESTAMPTZ,
        "branch": TEXT,
        "from_bus": BIGINT,
        "to_bus": BIGINT,
        "interval": BIGINT,
        "flow_mw": FLOAT,  # base case
        "rate_mw": FLOAT,
        "loading": FLOAT,
        "worst_post_flow_mw": FLOAT,
        "worst_outage": TEXT,
        "post_loading": FLOAT,
    },
    time_column="timestamp",
)

BUS_LMPS = TableSpec(
    "bus_lmps",
    {
        "timestamp": TIMESTAMPTZ,
        "bus": BIGINT,
        "interval": BIGINT,
        "lmp": FLOAT,
    },
    time_column="timestamp",
)

BINDING_CONTINGENCIES = TableSpec(
    "binding_contingencies",
    {
        "timestamp": TIMESTAMPTZ,
        "interval": BIGINT,
        "outaged_branch": TEXT,  # the lost branch's or generator's name
        "outage_kind": TEXT,  # branch | generator
        "monitored_branch": TEXT,
        "post_flow_mw": FLOAT,
        "limit_mw": FLOAT,
        "shadow_price": FLOAT,
        "slack_mw": FLOAT,
    },
    time_column="timestamp",
)

# corrective security only (no rows under preventive): per outage and interval that needs correcting, each
# generator's MW along the restoration steps (step 0 = the pre-outage dispatch) ...
CORRECTIVE_DISPATCH = TableSpec(
    "corrective_dispatch",
    {
        "timestamp": TIMESTAMPTZ,
        "outaged_branch": TEXT,  # the lost branch's or generator's name
        "outage_kind": TEXT,  # branch | generator
        "interval": BIGINT,
        "step": BIGINT,
        "minutes": FLOAT,  # after the outage
        "gen": TEXT,
        "bus": BIGINT,
        "p_mw": FLOAT,
        "corrective_mw": FLOAT,  # p_mw - the pre-outage dispatch
    },
    time_column="timestamp",
)

# ... and the flows along them of the branches above their normal rating at some step
TRAJECTORY_FLOWS = TableSpec(
    "trajectory_flows",
    {
        "timestamp": TIMESTAMPTZ,
        "outaged_branch": TEXT,  # the lost branch's or generator's name
        "outage_kind": TEXT,  # branch | generator
        "interval": BIGINT,
        "monitored_branch": TEXT,
        "step": BIGINT,
        "minutes": FLOAT,
        "flow_mw": FLOAT,
        "rate_mw": FLOAT,  # normal rating (rateA)
        "emergency_mw": FLOAT,
        "limit_mw": FLOAT,  # the step's limit: emergency before the last step, rateA at it
        "loading": FLOAT,  # |flow| / rateA
    },
    time_column="timestamp",
)

RESULTS_TABLES: tuple[TableSpec, ...] = (
    LASCOPF_DISPATCH,
    GENERATOR_DISPATCH,
    BRANCH_FLOWS,
    BUS_LMPS,
    BINDING_CONTINGENCIES,
    CORRECTIVE_DISPATCH,
    TRAJECTORY_FLOWS,
)

# -- reference design, not written by any asset yet ---------------------------------

POWER_MEASUREMENTS = TableSpec(
    "power_measurements",
    {
        "time": TIMESTAMPTZ,
        "generator_id": TEXT,
        "bus_id": BIGINT,
        "active_power": FLOAT,
        "reactive_power": FLOAT,
        "voltage_magnitude": FLOAT,
        "voltage_angle": FLOAT,
        "measurement_quality": TEXT,
    },
    time_column="time",
)

# versioned by valid_from: a new topology version is a new set of rows
NETWORK_TOPOLOGY = TableSpec(
    "network_topology",
    {
        "valid_from": TIMESTAMPTZ,
        "grid_element_id": TEXT,
        "type": TEXT,
        "phases": TEXT,
        "terminal1_cn": TEXT,
        "terminal2_cn": TEXT,
        "properties": JSONB,
    },
    primary_key=("valid_from", "grid_element_id"),
)

PHASE_CHANGE_RECOMMENDATIONS = TableSpec(
    "phase_change_recommendations",
    {
        "computed_at": TIMESTAMPTZ,
        "run_id": TEXT,
        "k": BIGINT,
        "feeder": TEXT,
        "junction": TEXT,
        "from_phase": TEXT,
        "to_phase": TEXT,
        "imbalance_before": FLOAT,
        "imbalance_after": FLOAT,
    },
)

REFERENCE_TABLES: tuple[TableSpec, ...] = (
    POWER_MEASUREMENTS,
    NETWORK_TOPOLOGY,
    *RESULTS_TABLES,
    PHASE_CHANGE_RECOMMENDATIONS,
)


# pandas dtype a column of each declared type takes when its values cannot tell (no rows, only NULLs)
PANDAS_DTYPES = {
    TIMESTAMPTZ: "datetime64[us, UTC]", TEXT: "string", FLOAT: "float64", BIGINT: "Int64", BOOLEAN: "boolean",
    JSONB: "object",
}


def results_spec(name: str) -> TableSpec:
    """The results table ``name`` of :data:`RESULTS_TABLES`."""
    [spec] = [spec for spec in RESULTS_TABLES if spec.name == name]
    return spec


def conform(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``frame`` with ``spec``'s columns in its order, typed as the table declares where pandas cannot tell.

    A day without a solution has no rows, and a column with only NULLs (``cause`` on an optimal day,
    ``objective`` on an infeasible one) has no values to type it by: left as they are, such frames
    would create float or untyped columns, or be refused by a table a real day created. Those
    columns take the declared types; columns with values keep theirs.
    """
    missing = [c for c in spec.columns if c not in frame.columns and not frame.empty]
    if missing:
        raise ValueError(f"{spec.name}: frame lacks column(s) {', '.join(missing)}")
    if frame.empty:
        return pd.DataFrame({c: pd.Series([], dtype=PANDAS_DTYPES[t]) for c, t in spec.columns.items()})
    out = frame[list(spec.columns)].copy()
    for column, declared in spec.columns.items():
        if out[column].isna().all() and declared != JSONB:
            out[column] = pd.Series(pd.NA if declared != FLOAT else float("nan"), index=out.index,
                                    dtype=PANDAS_DTYPES[declared])
    return out


def create_reference_tables(store: PgTableStore) -> list[str]:
    """Create (or check) every reference table; returns their names."""
    for spec in REFERENCE_TABLES:
        store.ensure_table(spec)
    return [spec.name for spec in REFERENCE_TABLES]
