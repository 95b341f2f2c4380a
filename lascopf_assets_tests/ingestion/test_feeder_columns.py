"""validated_loads and junction_aggregates carry each meter's feeder; rows under no feeder head are kept, not lost."""

import pandas as pd
import pytest

from lascopf_assets.lib.ingest.aggregation import aggregate_by_junction
from lascopf_assets.lib.ingest.landing import read_landing_file
from lascopf_assets.lib.ingest.validation import validate_by_topology_version
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets.lib.zone.versions import versioned_topology


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    out = tmp_path_factory.mktemp("feeders")
    params = DemoZoneParams(feeders=3, feeder_junctions=(3, 2, 4), meters_per_junction=(2, 3), days=1, seed=5)
    summary = write_demo_zone(out, params)
    raw = pd.concat([read_landing_file(p) for p in summary.paths], ignore_index=True)
    return summary, raw


def test_each_valid_reading_carries_its_junctions_feeder(zone):
    summary, raw = zone
    topology = versioned_topology([summary.topology_path], "2023-01-01")
    result = validate_by_topology_version(raw, topology)
    valid = result.valid
    assert list(valid.columns[:6]) == ["timestamp", "meter_id", "feeder", "junction", "phase", "kwh"]
    expected = valid["junction"].map(summary.junction_feeder)
    assert (valid["feeder"] == expected).all() and valid["feeder"].notna().all()
    agg = aggregate_by_junction(valid)
    assert list(agg.columns) == ["timestamp", "feeder", "junction", "phase", "kwh", "meters"]
    assert set(agg["feeder"]) == {"TR1", "TR2", "TR3"}
    per_feeder = agg.groupby("feeder")["junction"].nunique().to_dict()
    assert per_feeder == {"TR1": 3, "TR2": 2, "TR3": 4}
    assert agg["kwh"].sum() == pytest.approx(valid["kwh"].sum())


def test_meters_under_no_feeder_head_keep_their_rows_with_a_null_feeder(zone):
    summary, raw = zone
    # only TR2 heads a feeder: the other feeders' meters are under no head
    topology = versioned_topology([summary.topology_path], "2023-01-01", feeder_heads=["TR2"])
    result = validate_by_topology_version(raw, topology)
    assert result.rows_valid + result.rows_quarantined == result.rows_in  # nothing lost for lack of a feeder
    valid = result.valid
    under_tr2 = valid["junction"].map(summary.junction_feeder) == "TR2"
    assert (valid.loc[under_tr2, "feeder"] == "TR2").all()
    assert valid.loc[~under_tr2, "feeder"].isna().all() and (~under_tr2).any()
    agg = aggregate_by_junction(valid)
    assert agg["kwh"].sum() == pytest.approx(valid["kwh"].sum())  # null-feeder groups are kept
    assert agg["feeder"].isna().any()


def test_old_validated_loads_without_feeders_get_a_clear_error():
    old = pd.DataFrame({"timestamp": pd.to_datetime(["2023-01-01"], utc=True), "meter_id": ["m"], "junction": ["J"],
                        "phase": ["A"], "kwh": [1.0]})
    with pytest.raises(ValueError, match="no feeder column: it was written before feeders existed"):
        aggregate_by_junction(old)
