"""Distribution zone: demo data generator and grid topology model (no Dagster imports).

The names below are loaded on first use (PEP 562), so importing a light submodule such as
``lib.zone.params`` does not import the demo generator and pandas with it (the CLI registers every
subcommand, ``demo-data`` with ``INTERVAL_MINUTES``, before it knows which one runs).
"""

from importlib import import_module

_FROM = {
    **dict.fromkeys(["DemoZone", "DemoZoneParams", "DemoZoneSummary", "generate_demo_zone", "imbalance_by_feeder",
                     "mean_hourly_imbalance", "write_demo_zone"], "demo"),
    **dict.fromkeys(["Topology", "TopologyError", "TopologyVersion", "build_topology", "downstream", "junctions",
                     "meters_by_junction", "read_topology", "register_version", "topology_version", "version_at"],
                    "topology"),
}

__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_FROM[name]}"), name)
