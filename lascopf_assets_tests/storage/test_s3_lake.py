"""S3 Parquet lake and its IO manager against moto's S3 server on 127.0.0.1."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lascopf_assets.defs.storage.from_env import S3_ENV, s3_lake_io_manager_from_env
from lascopf_assets.storage.parquet_lake import TMP_MARKER, PartitionWindow
from lascopf_assets.storage.s3_lake import S3LakeConfig, S3LakeError, S3ParquetLake, s3_filesystem
from lascopf_assets_tests.dev_servers import free_port

D0 = pd.Timestamp("2023-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)
daily = dg.DailyPartitionsDefinition(start_date="2023-01-01", timezone="UTC")


def frame(start: pd.Timestamp, days: int = 1, seed: int = 0) -> pd.DataFrame:
    hours = pd.date_range(start, periods=24 * days, freq="h").as_unit("us")
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"timestamp": hours, "meter_id": pd.array(["M1"] * len(hours), dtype="str"),
                         "kwh": rng.random(len(hours))})


def windows(n: int) -> list[PartitionWindow]:
    return [PartitionWindow(f"{D0 + i * DAY:%Y-%m-%d}", D0 + i * DAY, D0 + (i + 1) * DAY) for i in range(n)]


def config(b, **over) -> S3LakeConfig:
    base = dict(bucket=b["bucket"], prefix="lake", endpoint_url=b["endpoint_url"], access_key=b["access_key"],
                secret_key=b["secret_key"], region=b["region"], max_attempts=3, connect_timeout_s=2)
    base.update(over)
    return S3LakeConfig(**base)


def keys(b) -> list[str]:
    return sorted(o["Key"] for o in b["client"].list_objects_v2(Bucket=b["bucket"]).get("Contents", []))


def test_partition_and_range_round_trip(s3_bucket):
    lake = S3ParquetLake.from_config(config(s3_bucket))
    lake.check()
    df = frame(D0, days=3)
    lake.write_range(["raw"], df, "timestamp", windows(3))
    assert lake.partition_keys(["raw"]) == ["2023-01-01", "2023-01-02", "2023-01-03"]
    pd.testing.assert_frame_equal(lake.read_partitions(["raw"], lake.partition_keys(["raw"])), df)
    pd.testing.assert_frame_equal(lake.read(["raw"], "2023-01-02"), df.iloc[24:48].reset_index(drop=True))
    parquet = [k for k in keys(s3_bucket) if k.endswith(".parquet")]
    assert parquet == [f"lake/raw/2023-01-0{i}.parquet" for i in (1, 2, 3)]
    assert not any(TMP_MARKER in k for k in keys(s3_bucket))


def test_rows_of_one_feeder_and_some_columns_are_read_from_s3(s3_bucket):
    """The S3 lake serves what a feeder partition reads: its own rows, the columns asked for, pushed down."""
    lake = S3ParquetLake.from_config(config(s3_bucket))
    df = frame(D0, days=2).assign(feeder=pd.array(["TR1", "TR2"] * 24, dtype="str"))
    lake.write_range(["agg"], df, "timestamp", windows(2))
    got = lake.read_partitions(["agg"], ["2023-01-01", "2023-01-02"], where_equal=("feeder", "TR2"), columns=["timestamp", "kwh"])
    expected = df[df["feeder"] == "TR2"][["timestamp", "kwh"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(ValueError, match="has no column 'zone' to select rows by"):
        lake.read_partitions(["agg"], ["2023-01-01"], where_equal=("zone", "x"))


def test_rerun_is_idempotent_and_leaves_one_object(s3_bucket):
    lake = S3ParquetLake.from_config(config(s3_bucket))
    df = frame(D0)
    lake.write(["raw"], df, "2023-01-01")
    lake.write(["raw"], df, "2023-01-01")
    pd.testing.assert_frame_equal(lake.read(["raw"], "2023-01-01"), df)
    assert [k for k in keys(s3_bucket) if "2023-01-01" in k] == ["lake/raw/2023-01-01.parquet"]


class _FailingStream:
    """Wraps a real S3 output stream: writes half the bytes, then fails or stops."""

    def __init__(self, inner, mode):
        self.inner, self.mode = inner, mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.inner.close()  # pyarrow completes the multipart upload on close, even after an error

    def write(self, data):
        view = memoryview(data)
        self.inner.write(view[: len(view) // 2])
        if self.mode == "raise":
            raise OSError("connection reset by peer (simulated, half-way through the upload)")


class _FailingFS:
    """Delegates to the real S3FileSystem; uploads are cut half-way."""

    def __init__(self, real, mode):
        self.real, self.mode = real, mode

    def open_output_stream(self, path, *a, **k):
        return _FailingStream(self.real.open_output_stream(path, *a, **k), self.mode)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("mode", ["raise", "truncate"])
def test_upload_cut_half_way_leaves_the_old_partition(s3_bucket, mode):
    cfg = config(s3_bucket)
    good = S3ParquetLake.from_config(cfg)
    old = frame(D0, seed=1)
    good.write(["raw"], old, "2023-01-01")
    broken = S3ParquetLake(_FailingFS(s3_filesystem(cfg), mode), cfg)
    with pytest.raises(OSError) as err:
        broken.write(["raw"], frame(D0, days=1, seed=2), "2023-01-01")
    if mode == "truncate":
        assert isinstance(err.value, S3LakeError) and "incomplete" in str(err.value)
    pd.testing.assert_frame_equal(good.read(["raw"], "2023-01-01"), old)
    assert not any(TMP_MARKER in k for k in keys(s3_bucket))


def test_readers_see_whole_versions_while_a_partition_is_rewritten(s3_bucket):
    cfg = config(s3_bucket)
    writer = S3ParquetLake.from_config(cfg)
    versions = [frame(D0, seed=s) for s in range(6)]
    writer.write(["raw"], versions[0], "2023-01-01")
    seen, problems, stop = [], [], threading.Event()

    def read_loop():
        reader = S3ParquetLake.from_config(cfg)
        while not stop.is_set():
            try:
                got = reader.read(["raw"], "2023-01-01")
                seen.append(next(i for i, v in enumerate(versions) if got.equals(v)))
            except Exception as exc:  # a torn object or a missing key would land here
                problems.append(repr(exc))

    thread = threading.Thread(target=read_loop)
    thread.start()
    for v in versions[1:]:
        writer.write(["raw"], v, "2023-01-01")
    stop.set()
    thread.join()
    assert problems == []
    assert seen and seen == sorted(seen)  # only whole versions, never going back
    pd.testing.assert_frame_equal(writer.read(["raw"], "2023-01-01"), versions[-1])


def test_missing_bucket_is_a_clear_error(s3_bucket):
    lake = S3ParquetLake.from_config(config(s3_bucket, bucket="no-such-bucket"))
    with pytest.raises(S3LakeError, match="bucket 'no-such-bucket' .*the bucket does not exist") as err:
        lake.check()
    assert "\n" not in str(err.value)
    with pytest.raises(S3LakeError, match="the bucket does not exist"):
        lake.write(["raw"], frame(D0), "2023-01-01")


def test_endpoint_down_is_a_clear_error_quickly(s3_bucket):
    lake = S3ParquetLake.from_config(config(s3_bucket, endpoint_url=f"http://127.0.0.1:{free_port()}",
                                            max_attempts=2, connect_timeout_s=1))
    with pytest.raises(S3LakeError, match="the endpoint cannot be reached"):
        lake.check()
    with pytest.raises(S3LakeError, match="upload of .* the endpoint cannot be reached"):
        lake.write(["raw"], frame(D0), "2023-01-01")


def _moto_auth_after(s3_endpoint: str, count: str) -> None:
    host, port = s3_endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("POST", "/moto-api/reset-auth", body=count.encode())
    assert conn.getresponse().status == 200
    conn.close()


@pytest.fixture
def moto_auth(s3_endpoint):
    """Turn on moto's IAM checks (every key it does not know is rejected), then off again."""
    _moto_auth_after(s3_endpoint, "0")
    yield
    _moto_auth_after(s3_endpoint, "inf")


def test_bad_credentials_are_a_clear_error(s3_bucket, moto_auth):
    lake = S3ParquetLake.from_config(config(s3_bucket, access_key="AKIAWRONG", secret_key="wrong"))
    with pytest.raises(S3LakeError, match="the credentials were rejected") as err:
        lake.check()
    assert "wrong" not in str(err.value)  # the secret is never echoed
    with pytest.raises(S3LakeError, match="credentials were rejected"):
        lake.write(["raw"], frame(D0), "2023-01-01")


def test_bad_settings_are_refused_before_any_request():
    with pytest.raises(S3LakeError, match="endpoint URL"):
        S3LakeConfig(bucket="b-x", endpoint_url="localhost:9000")
    with pytest.raises(S3LakeError, match="both the S3 access key and the secret key"):
        S3LakeConfig(bucket="b-x", access_key="a")
    with pytest.raises(S3LakeError, match="LASCOPF_S3_BUCKET is not set"):
        S3LakeConfig.from_env({})


class _Flaky(ThreadingHTTPServer):
    """HTTP proxy to moto answering 503 SlowDown to the first ``failures`` requests."""

    daemon_threads = True

    def __init__(self, upstream_port: int, failures: int):
        self.upstream_port, self.failures, self.lock, self.served = upstream_port, failures, threading.Lock(), 0
        super().__init__(("127.0.0.1", 0), _FlakyHandler)


class _FlakyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        with self.server.lock:
            fail = self.server.failures > 0
            self.server.failures -= fail
            self.server.served += 1
        if fail:
            payload = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else resp.getheader("Content-Length", "0")))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@pytest.mark.parametrize("attempts, ok", [(5, True), (1, False)])
def test_transient_503s_are_retried(s3_bucket, attempts, ok):
    S3ParquetLake.from_config(config(s3_bucket)).write(["raw"], frame(D0), "2023-01-01")
    proxy = _Flaky(int(s3_bucket["endpoint_url"].rsplit(":", 1)[1]), failures=2)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        lake = S3ParquetLake.from_config(config(s3_bucket, endpoint_url=f"http://127.0.0.1:{proxy.server_port}",
                                                max_attempts=attempts))
        if ok:
            pd.testing.assert_frame_equal(lake.read(["raw"], "2023-01-01"), frame(D0))
            assert proxy.failures == 0 and proxy.served > 2
        else:
            with pytest.raises(S3LakeError, match="S3 lookup"):
                lake.read(["raw"], "2023-01-01")
    finally:
        proxy.shutdown()


@dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run())
def lake_readings(context: dg.AssetExecutionContext) -> pd.DataFrame:
    w = context.partition_time_window
    return frame(pd.Timestamp(w.start), days=(pd.Timestamp(w.end) - pd.Timestamp(w.start)).days)


@dg.asset(ins={"lake_readings": dg.AssetIn(metadata={"allow_missing_partitions": True})})
def lake_summary(lake_readings: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"rows": [len(lake_readings)]})


def test_io_manager_from_env_partition_range_and_unpartitioned(s3_bucket, monkeypatch, tmp_path):
    values = {"endpoint_url": s3_bucket["endpoint_url"], "bucket": s3_bucket["bucket"], "prefix": "lake",
              "access_key": s3_bucket["access_key"], "secret_key": s3_bucket["secret_key"], "region": s3_bucket["region"]}
    for field, env in S3_ENV.items():
        monkeypatch.setenv(env, values[field])
    resources = {"io_manager": s3_lake_io_manager_from_env()}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert dg.materialize([lake_readings], partition_key="2023-01-02", resources=resources, instance=instance).success
        assert dg.materialize([lake_readings], resources=resources, instance=instance,
                              tags={"dagster/asset_partition_range_start": "2023-01-01",
                                    "dagster/asset_partition_range_end": "2023-01-03"}).success
        assert dg.materialize([lake_readings, lake_summary], selection=[lake_summary], resources=resources,
                              instance=instance).success
    lake = S3ParquetLake.from_config(config(s3_bucket))
    assert lake.partition_keys(["lake_readings"]) == ["2023-01-01", "2023-01-02", "2023-01-03"]
    assert lake.read(["lake_summary"])["rows"].tolist() == [72]


def test_sweep_removes_only_stale_temporaries(s3_bucket):
    lake = S3ParquetLake.from_config(config(s3_bucket))
    df = frame(D0)
    lake.write(["raw"], df, "2023-01-01")
    orphan = f"lake/raw/2023-01-02.parquet{TMP_MARKER}deadbeef"  # a writer killed after its upload
    s3_bucket["client"].put_object(Bucket=s3_bucket["bucket"], Key=orphan, Body=b"partial")
    assert lake.sweep_temporaries(["raw"], older_than_s=3600) == []  # too fresh: maybe a write in flight
    assert lake.sweep_temporaries(["raw"], older_than_s=-60) == [f"{s3_bucket['bucket']}/{orphan}"]
    assert lake.partition_keys(["raw"]) == ["2023-01-01"]
    pd.testing.assert_frame_equal(lake.read(["raw"], "2023-01-01"), df)
