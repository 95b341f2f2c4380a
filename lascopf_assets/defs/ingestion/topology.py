"""grid_topology: every topology version with feeders, junctions and meters; keeps the feeder partitions in step.

Thin wrapper over ``lascopf_assets.lib.zone.versions``. The feeders of the latest version are the
keys of the ``feeders`` dynamic partitions (``phase_assignment`` is partitioned by them): a new
feeder is added, a feeder gone from the grid removed (its past materializations stay in the event log).
"""


import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import DATA_START_DATE, feeder_partitions
from lascopf_assets.defs.resources import FeederHeads, LandingZone
from lascopf_assets.lib.zone.topology import TopologyError
from lascopf_assets.lib.zone.versions import versioned_topology


def feeder_table(per_junction: pd.DataFrame) -> pd.DataFrame:
    """``feeder, junctions, meters`` from the ``feeder, junction, phase, meters`` table of one version, sorted by feeder."""
    grouped = per_junction.groupby("feeder", dropna=False, sort=True)
    return pd.DataFrame({"junctions": grouped.size(), "meters": grouped["meters"].sum()}).reset_index()


def sync_feeder_partitions(instance: dg.DagsterInstance, feeders: list[str]) -> tuple[list[str], list[str]]:
    """Make the ``feeders`` partition keys equal ``feeders``; return (added, removed)."""
    current = set(instance.get_dynamic_partitions(feeder_partitions.name))
    added = sorted(set(feeders) - current)
    removed = sorted(current - set(feeders))
    if added:
        instance.add_dynamic_partitions(feeder_partitions.name, added)
    for key in removed:
        instance.delete_dynamic_partition(feeder_partitions.name, key)
    return added, removed


# grid_topology's metadata key for what it was built from (topology files and feeder heads)
TOPOLOGY_FINGERPRINT = "topology_fingerprint"


@dg.asset(
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    description=(
        "Grid elements of every topology version with their feeder, junction detection and the meters under each "
        "junction; keeps the feeder partitions of phase_assignment in step with the latest version."
    ),
)
def grid_topology(context: dg.AssetExecutionContext, zone: LandingZone, feeder_heads: FeederHeads) -> dg.Output[pd.DataFrame]:
    files = zone.topology_files()
    try:
        table = versioned_topology(files, DATA_START_DATE, feeder_heads.element_list())
    except TopologyError as exc:
        raise dg.Failure(description=f"{exc} (topology folder {zone.topology_dir})") from exc
    latest = table[table["valid_from"] == table["valid_from"].max()]
    meters = latest[(latest["type"] == "meter") & latest["junction"].notna()]
    per_junction = (
        meters.groupby(["feeder", "junction", "junction_phase"], dropna=False).size().rename("meters").reset_index()
        .rename(columns={"junction_phase": "phase"})
    )
    feeders = feeder_table(per_junction)
    named = sorted(str(f) for f in feeders["feeder"].dropna())
    added, removed = sync_feeder_partitions(context.instance, named)
    if added or removed:
        context.log.info(f"feeder partitions: added {added or 'none'}, removed {removed or 'none'}")
    outside = int(feeders.loc[feeders["feeder"].isna(), "junctions"].sum())
    if outside:
        context.log.warning(f"{outside} junction(s) lie under no feeder head ({feeder_heads.element_list()}): not balanced")
    versions = table.drop_duplicates("version")[["version", "source_file", "valid_from", "valid_to"]]
    return dg.Output(
        table,
        metadata={
            "versions": dg.MetadataValue.int(len(versions)),
            "version_list": dg.MetadataValue.md(markdown_table(versions.astype(str), 20)),
            "elements": dg.MetadataValue.int(len(latest)),
            "feeders": dg.MetadataValue.int(len(named)),
            "feeder_list": dg.MetadataValue.md(markdown_table(feeders.astype({"feeder": "str"}).fillna("(no feeder)"), 50)),
            "feeder_heads": dg.MetadataValue.text(", ".join(feeder_heads.element_list()) or "each source transformer"),
            "junctions": dg.MetadataValue.int(int(latest["junction"].nunique())),
            "junctions_outside_feeders": dg.MetadataValue.int(outside),
            "meters_under_junctions": dg.MetadataValue.int(len(meters)),
            "junction_meters": dg.MetadataValue.md(markdown_table(per_junction, 50)),
            # what topology_file_sensor compares on its first tick, so it does not rebuild what is already built
            TOPOLOGY_FINGERPRINT: dg.MetadataValue.text(zone.topology_fingerprint(feeder_heads.element_list())),
        },
    )
