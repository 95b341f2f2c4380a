"""Transmission system for PowerSystems.jl: feeder-to-bus demand, MATPOWER and time-series export, juliacall bridge.

No Dagster imports. ``julia_bridge`` imports juliacall only when a Julia executable is found.
"""

from .dispatch_setup import RatingSpec, apply_ramp_fraction, apply_ratings
from .export import ExportedSystem, ExportError, export_system, read_export, time_series_table, timeseries_pointers
from .mapping import BusLoads, MappingError, day_hours, load_buses, map_feeders_to_buses, spread_mapping
from .matpower_writer import matpower_text, read_ramps, write_matpower_case

__all__ = [
    "BusLoads", "ExportError", "ExportedSystem", "MappingError", "RatingSpec", "apply_ramp_fraction", "apply_ratings",
    "day_hours", "export_system", "load_buses", "map_feeders_to_buses", "matpower_text", "read_export", "read_ramps",
    "spread_mapping", "time_series_table", "timeseries_pointers", "write_matpower_case",
]
