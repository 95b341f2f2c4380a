"""Dagster definitions of the transmission domain (loaded by dg.load_from_defs_folder)."""
