"""Reference DDL of the production tables (PostgreSQL/TimescaleDB).

Grown from the reference design in ARCHITECTURE.md. Time-partitioned tables are
hypertables or day-partitioned tables (see :mod:`pg_tables`); the others are
plain tables. New nullable columns are added by the store's schema rule when an
asset starts producing them, so these are starting points, not a cage.
"""

from __future__ import annotations

from lascopf_assets.lib.storage.pg_tables import PgTableStore
from lascopf_assets.lib.storage.pg_types import BIGINT, FLOAT, JSONB, TEXT, TIMESTAMPTZ, TableSpec

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

# one row per solve
LASCOPF_RESULTS = TableSpec(
    "lascopf_results",
    {
        "timestamp": TIMESTAMPTZ,  # start of the solved horizon (the day partition)
        "run_id": TEXT,
        "method": TEXT,
        "status": TEXT,
        "objective": FLOAT,
        "solve_seconds": FLOAT,
        "iterations": BIGINT,
        "intervals": BIGINT,
        "binding_contingencies": JSONB,
    },
    time_column="timestamp",
)

GENERATOR_DISPATCH = TableSpec(
    "generator_dispatch",
    {
        "timestamp": TIMESTAMPTZ,
        "run_id": TEXT,
        "generator_id": TEXT,
        "bus_id": BIGINT,
        "active_power_mw": FLOAT,
        "cost": FLOAT,
    },
    time_column="timestamp",
)

BRANCH_FLOWS = TableSpec(
    "branch_flows",
    {
        "timestamp": TIMESTAMPTZ,
        "run_id": TEXT,
        "branch_id": TEXT,
        "from_bus": BIGINT,
        "to_bus": BIGINT,
        "contingency": TEXT,  # NULL for the base case
        "flow_mw": FLOAT,
        "limit_mw": FLOAT,
    },
    time_column="timestamp",
)

BUS_LMPS = TableSpec(
    "bus_lmps",
    {
        "timestamp": TIMESTAMPTZ,
        "run_id": TEXT,
        "bus_id": BIGINT,
        "lmp": FLOAT,
        "energy": FLOAT,
        "congestion": FLOAT,
    },
    time_column="timestamp",
)

PHASE_CHANGE_RECOMMENDATIONS = TableSpec(
    "phase_change_recommendations",
    {
        "computed_at": TIMESTAMPTZ,
        "run_id": TEXT,
        "k": BIGINT,
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
    LASCOPF_RESULTS,
    GENERATOR_DISPATCH,
    BRANCH_FLOWS,
    BUS_LMPS,
    PHASE_CHANGE_RECOMMENDATIONS,
)


def create_reference_tables(store: PgTableStore) -> list[str]:
    """Create (or check) every reference table; returns their names."""
    for spec in REFERENCE_TABLES:
        store.ensure_table(spec)
    return [spec.name for spec in REFERENCE_TABLES]
