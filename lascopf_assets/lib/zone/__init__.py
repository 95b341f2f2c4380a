"""Distribution zone: demo data generator and grid topology model (no Dagster imports)."""

from lascopf_assets.lib.zone.demo import (
    DemoZone,
    DemoZoneParams,
    DemoZoneSummary,
    generate_demo_zone,
    imbalance_by_feeder,
    mean_hourly_imbalance,
    write_demo_zone,
)
from lascopf_assets.lib.zone.topology import (
    Topology,
    TopologyError,
    TopologyVersion,
    build_topology,
    downstream,
    junctions,
    meters_by_junction,
    read_topology,
    register_version,
    topology_version,
    version_at,
)

__all__ = [
    "DemoZone",
    "DemoZoneParams",
    "DemoZoneSummary",
    "Topology",
    "TopologyError",
    "TopologyVersion",
    "build_topology",
    "downstream",
    "generate_demo_zone",
    "imbalance_by_feeder",
    "junctions",
    "mean_hourly_imbalance",
    "meters_by_junction",
    "read_topology",
    "register_version",
    "topology_version",
    "version_at",
    "write_demo_zone",
]
