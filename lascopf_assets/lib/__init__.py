"""Domain core. Plain Python: nothing in this package imports dagster."""
