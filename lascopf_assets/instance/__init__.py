"""Dagster instance pieces for the local profile (referenced from dagster.yaml)."""
