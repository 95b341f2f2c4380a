"""Stream consumers into the S3 landing zone (moto's S3 in server mode): one object per UTC day under
``<prefix>/<day>/``, the layout the s3_landing_sensor lists; exactly once across a SIGKILL, read back through the
platform's own S3 landing code (listing, key rules, cache, landing reader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pandas as pd
import pytest

from lascopf_assets.cli import main
from lascopf_assets.cli.stream_consume import TARGET_HELP
from lascopf_assets.lib.ingest.landing import read_landing_table
from lascopf_assets.lib.stream.mqtt_consumer import MqttSettings, consume_mqtt
from lascopf_assets.lib.stream.s3_sink import S3Sink
from lascopf_assets.storage.s3_landing import S3LandingCache, S3LandingCursor, key_refusal, list_day, plan_s3_landing
from lascopf_assets_tests.stream.conftest import NATS_URL, kill_after, reading
from lascopf_assets_tests.stream.test_mqtt_consumer import HOST, PORT, publish
from lascopf_assets_tests.stream.test_nats_consumer import BAD

PREFIX = "landing"


def s3_env(s3_bucket) -> dict:
    """The child's environment: the platform's S3 landing names (placeholder moto credentials, not secrets)."""
    return {**os.environ, "LASCOPF_S3_ENDPOINT_URL": s3_bucket["endpoint_url"], "LASCOPF_S3_LANDING_BUCKET": s3_bucket["bucket"],
            "LASCOPF_S3_LANDING_PREFIX": PREFIX, "LASCOPF_S3_ACCESS_KEY": s3_bucket["access_key"],
            "LASCOPF_S3_SECRET_KEY": s3_bucket["secret_key"], "LASCOPF_S3_REGION": s3_bucket["region"]}


def keys(s3_bucket, prefix: str) -> list[str]:
    pages = s3_bucket["client"].get_paginator("list_objects_v2").paginate(Bucket=s3_bucket["bucket"], Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def landed_in_s3(s3_bucket, tmp_path) -> pd.DataFrame:
    """Every reading of the landing prefix, day by day as the platform's runs read it (S3LandingCache + reader);
    asserts each object is a landing key whose readings all lie in its day folder's UTC day."""
    days = sorted({k.split("/")[1] for k in keys(s3_bucket, PREFIX + "/")})
    cache, frames = S3LandingCache(tmp_path / "cache"), []
    for day in days:
        accepted, refused = list_day(s3_bucket["client"], s3_bucket["bucket"], PREFIX, day)
        assert refused == [] and accepted
        for path in cache.download_day(s3_bucket["client"], s3_bucket["bucket"], PREFIX, day):
            frame = read_landing_table(path).to_pandas()
            assert (frame["timestamp"].dt.strftime("%Y-%m-%d") == day).all(), path
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def nats_cli(stream, tmp_path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lascopf_assets.cli", "stream-consume", "--nats", NATS_URL, "--stream", stream.name,
            "--subject", stream.subject, "--durable", "lake", "--s3-landing", "--lock-dir", str(tmp_path / "locks"),
            "--ack-wait", "2", "--max-wait", "0.3", *extra]


def test_sigkill_mid_stream_then_restart_lands_every_reading_once_in_s3(stream, s3_bucket, tmp_path):
    n = 2400  # 8 meters x 15 min: 75 hours from 2023-02-28 23:00 UTC, so the batches span 5 UTC days
    good = [reading(i) for i in range(n)]
    stream.publish([*good[:1000], *(b for b, _ in BAD), *good[1000:]])
    env = s3_env(s3_bucket)
    at_kill = kill_after(nats_cli(stream, tmp_path, "--batch", "20"), lambda: len(keys(s3_bucket, PREFIX + "/")), env=env)
    assert 5 <= at_kill < n // 20, f"not killed mid-stream ({at_kill} objects)"

    done = subprocess.run(nats_cli(stream, tmp_path, "--batch", "500", "--exit-when-idle"), env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    landing_keys = keys(s3_bucket, PREFIX + "/")
    assert all(key_refusal(k) is None and k.split("/")[2].startswith(f"nats.{stream.name}.lake.") for k in landing_keys)
    assert {k.split("/")[1] for k in landing_keys} == {f"2023-0{m}-{d:02d}" for m, d in ((2, 28), (3, 1), (3, 2), (3, 3), (3, 4))}
    plan = plan_s3_landing(s3_bucket["client"], s3_bucket["bucket"], PREFIX, S3LandingCursor.parse(None))  # the sensor's
    assert [(r.first, r.last) for r in plan.requests] == [("2023-02-28", "2023-03-04")] and plan.refused == []
    assert sorted(name for r in plan.requests for name in r.names) == landing_keys  # every object requested, once
    rows = landed_in_s3(s3_bucket, tmp_path)
    assert len(rows) == n and not rows.duplicated(["meter_id", "timestamp"]).any()
    sent = pd.DataFrame(good)
    assert sorted(zip(rows["meter_id"], rows["kwh"], strict=True)) == sorted(zip(sent["meter_id"], sent["kwh"], strict=True))

    reject_keys = keys(s3_bucket, "stream_rejects/")
    lines = [json.loads(line) for k in reject_keys for line in
             s3_bucket["client"].get_object(Bucket=s3_bucket["bucket"], Key=k)["Body"].read().decode().splitlines()]
    assert sorted(r["rule"] for r in lines) == sorted(rule for _, rule in BAD)
    assert all(k.endswith(".rejects.jsonl") for k in reject_keys)
    _, consumer = stream.state("lake")
    assert consumer.num_pending == 0 and consumer.num_ack_pending == 0


def test_mqtt_into_s3_per_day_objects_and_receipts(s3_bucket, tmp_path):
    tag = uuid.uuid4().hex[:8]
    topic = f"test/{tag}/readings"
    settings = MqttSettings(topic=topic, client_id=f"lake-{tag}", host=HOST, port=PORT, batch=500, max_wait=0.5,
                            exit_when_idle=True, session_expiry_seconds=120)
    sink = lambda: S3Sink(s3_bucket["client"], s3_bucket["bucket"], PREFIX, "stream_rejects", lock_dir=str(tmp_path))
    consume_mqtt(settings, sink=sink())
    midnight = [reading(i) for i in range(16, 48)]  # 2023-02-28 23:00 .. 23:45 UTC ... and the next day
    publish(topic, [json.dumps(midnight).encode(), b"{broken"])
    stats = consume_mqtt(settings, sink=sink())
    assert (stats.readings, stats.rejected) == (32, 1)
    landing = keys(s3_bucket, PREFIX + "/")
    assert [k.split("/")[1] for k in landing] == ["2023-02-28", "2023-03-01"]  # one message, two days: two objects
    assert len(landed_in_s3(s3_bucket, tmp_path)) == 32
    [receipt_key] = keys(s3_bucket, "stream_rejects/receipts/")
    receipt = json.loads(s3_bucket["client"].get_object(Bucket=s3_bucket["bucket"], Key=receipt_key)["Body"].read())
    assert sorted(receipt["files"]) == ["landing:2023-02-28", "landing:2023-03-01", "rejects"]


def test_s3_settings_come_from_the_platforms_names_and_errors_say_where(s3_bucket, tmp_path, monkeypatch, capsys):
    from lascopf_assets.defs.storage.from_env import S3_LANDING_ENV

    assert all(name in TARGET_HELP for name in S3_LANDING_ENV.values())  # the help names what the sensor and runs read
    for name, value in s3_env(s3_bucket).items():
        if name.startswith("LASCOPF_S3"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("LASCOPF_S3_LANDING_BUCKET", "no-such-bucket-" + uuid.uuid4().hex[:6])
    code = main(["stream-consume", "--nats", NATS_URL, "--stream", "S", "--subject", "x.y", "--durable", "d",
                 "--s3-landing", "--lock-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "no-such-bucket-" in err and s3_bucket["endpoint_url"] in err
    with pytest.raises(ValueError, match="outside the landing prefix"):
        S3Sink(s3_bucket["client"], s3_bucket["bucket"], "landing", "landing/rejects")
    with pytest.raises(ValueError, match="day folder"):
        S3Sink(s3_bucket["client"], s3_bucket["bucket"]).area("landing", "")


def test_each_day_object_has_its_own_ledger(s3_bucket, tmp_path):
    """A crash between two day objects of one batch: the redelivery writes only the missing day's object; a
    redelivery whose objects all exist is acked only (the ledgers are rebuilt from the keys after a restart)."""
    from lascopf_assets.lib.stream.batches import BatchWriter, Delivery
    from lascopf_assets.lib.stream.files import Namer

    namer = Namer("nats", "S", "c")
    sink = lambda: S3Sink(s3_bucket["client"], s3_bucket["bucket"], PREFIX, "stream_rejects", lock_dir=str(tmp_path))
    late, early = json.dumps(reading(16)).encode(), json.dumps(reading(40)).encode()  # 2023-02-28 and 2023-03-01 UTC
    msgs = lambda n: [Delivery(1, n == 1, "s", late, n), Delivery(2, n == 1, "s", early, n), Delivery(3, n == 1, "s", b"x", n)]
    writer = BatchWriter(namer, sink=sink())
    out = writer.write(msgs(1))
    assert [f.split("/", 3)[3] for f in out.files] == [
        "landing/2023-02-28/nats.S.c.000000000001-000000000001.csv",
        "landing/2023-03-01/nats.S.c.000000000002-000000000002.csv",
        "stream_rejects/nats.S.c.000000000003-000000000003.rejects.jsonl"]
    s3_bucket["client"].delete_object(Bucket=s3_bucket["bucket"], Key=out.files[1].split("/", 3)[3])  # never PUT
    writer.close()
    again = BatchWriter(namer, sink=sink())
    out = again.write(msgs(2))
    assert (out.readings, out.rejected, out.already_written) == (1, 0, 2)
    assert [f.split("/")[-2] for f in out.files] == ["2023-03-01"]
    assert again.write(msgs(3)).files == []
    again.close()
