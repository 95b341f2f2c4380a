"""Dagster definitions of the phase_balancing domain (loaded by dg.load_from_defs_folder)."""
