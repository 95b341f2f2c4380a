"""Dagster definitions of the ingestion domain (loaded by dg.load_from_defs_folder)."""
