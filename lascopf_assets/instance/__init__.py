"""Dagster instance pieces for the local profile (referenced from dagster.local.yaml, the template `make` copies into $DAGSTER_HOME)."""
