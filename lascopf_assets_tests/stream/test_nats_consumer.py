"""The NATS consumer against the real JetStream server: exactly once across a SIGKILL, rejects with reasons,
redeliveries after the rename acked without a second write, files the platform reads without rejection."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import nats
import pandas as pd
import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.ingest.landing import read_landing_table, scan_landing
from lascopf_assets.lib.ingest.landing_index import LandingIndex
from lascopf_assets.lib.stream.batches import BatchWriter, ConsumerBusyError, Delivery
from lascopf_assets.lib.stream.files import Namer
from lascopf_assets.lib.stream.nats_consumer import NatsSettings, _delivery, consume, consumer_config
from lascopf_assets_tests.stream.conftest import NATS_URL, kill_after, reading

BAD = [
    (b"\xff\xfe not utf-8", "not_utf8"),
    (b"{not json", "not_json"),
    (b"42", "not_a_reading"),
    (b"[]", "not_a_reading"),
    (json.dumps({"meter_id": "M1", "kwh": 1.0}).encode(), "field_missing"),
    (json.dumps({"meter_id": "M1", "timestamp": "2023-03-01T00:00:00", "kwh": 1.0}).encode(), "timestamp_invalid"),
    (json.dumps({"meter_id": "M1", "timestamp": "2023-03-01T00:00:00Z", "kwh": "1,5"}).encode(), "kwh_not_numeric"),
    (json.dumps({"meter_id": "", "timestamp": "2023-03-01T00:00:00Z", "kwh": 1}).encode(), "meter_id_invalid"),
]


def landed(landing: Path) -> pd.DataFrame:
    """Every reading in the landing folder, read by the platform's landing reader."""
    files, refused = scan_landing(landing)
    assert refused == []
    frames = [read_landing_table(f.path).to_pandas() for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["meter_id", "timestamp", "kwh"])


def rejects(folder: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(glob.glob(str(folder / "*.rejects.jsonl"))) for line in open(p)]


def cli(stream, landing: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lascopf_assets.cli", "stream-consume", "--nats", NATS_URL, "--stream", stream.name,
            "--subject", stream.subject, "--durable", "lake", "--landing", str(landing), "--ack-wait", "2",
            "--max-wait", "0.3", *extra]


def test_sigkill_mid_stream_then_restart_lands_every_reading_once(stream, tmp_path):
    n_single, n_lists = 3000, 100  # 3000 one-reading messages, then 100 messages of 5 readings
    good = [reading(i) for i in range(n_single)]
    lists = [[reading(n_single + 5 * j + k) for k in range(5)] for j in range(n_lists)]
    payloads = [*good[:1500], *(b for b, _ in BAD), *good[1500:], *lists]
    mixed = [reading(10_000), {"meter_id": "M1", "kwh": 2.0}]  # a list with one good and one bad reading
    stream.publish([*payloads, mixed])
    expected = n_single + 5 * n_lists + 1
    landing = tmp_path / "landing"

    at_kill = kill_after(cli(stream, landing, "--batch", "20"), lambda: len(glob.glob(str(landing / "*.csv"))))
    assert 5 <= at_kill < (n_single + n_lists) // 20, f"not killed mid-stream ({at_kill} files)"
    _, consumer = stream.state("lake")
    assert consumer.num_pending > 0  # the rest of the stream is still to come

    # restart: resumes after the last ack, takes the redeliveries (ack_wait 2 s), stops once caught up
    done = subprocess.run(cli(stream, landing, "--batch", "500", "--exit-when-idle"), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stderr.strip().splitlines()[-1])
    assert stats["stopped"]

    rows = landed(landing)
    assert len(rows) == expected
    assert not rows.duplicated(["meter_id", "timestamp"]).any()
    assert rows["parse_error"].isna().all()
    sent = pd.DataFrame([*good, *(r for batch in lists for r in batch), mixed[0]])
    sent["timestamp"] = pd.to_datetime(sent["timestamp"], utc=True).dt.as_unit("us")
    got = rows[["meter_id", "timestamp", "kwh", "voltage_pu"]].sort_values(["meter_id", "timestamp"], ignore_index=True)
    pd.testing.assert_frame_equal(got, sent.sort_values(["meter_id", "timestamp"], ignore_index=True), check_dtype=False)

    found = rejects(tmp_path / "stream_rejects")
    assert sorted(r["rule"] for r in found) == sorted([rule for _, rule in BAD] + ["field_missing"])
    assert all(r["reason"] and r["stream_seq"] for r in found)
    assert {r["stream_seq"] for r in found if r["rule"] == "not_json"} == {1502}  # after 1500 readings and the non-UTF-8 one
    [partial] = [r for r in found if r["reading_index"] is not None]
    assert partial["reading_index"] == 1 and "timestamp" in partial["reason"]
    assert any("payload_base64" in r for r in found)  # the non-UTF-8 payload kept as bytes

    # the platform's landing index reads every file without an error; the names sort in stream order
    files, _ = scan_landing(landing)
    indexed = LandingIndex(tmp_path / "index.json").refresh(files)
    assert [i.error for i in indexed] == [None] * len(files)
    assert sorted(i.days for i in indexed)[0][0] == "2023-02-28"  # 00:00+01:00 is the 28th in UTC
    ranges = [tuple(int(x) for x in f.name.split(".")[3].split("-")) for f in files]
    assert ranges == sorted(ranges) and all(a <= b for a, b in ranges)
    state, consumer = stream.state("lake")
    assert consumer.num_pending == 0 and consumer.num_ack_pending == 0
    assert consumer.ack_floor.stream_seq == state.last_seq


def test_redelivery_after_rename_is_acked_not_written_again(stream, tmp_path):
    """The crash window between the rename and the ack: files written, nothing acked, the process gone."""
    stream.publish([reading(i) for i in range(50)] + [b"oops"])
    landing, rejected = tmp_path / "landing", tmp_path / "rejects"
    settings = NatsSettings(servers=NATS_URL, stream=stream.name, subject=stream.subject, durable="lake",
                            landing_dir=str(landing), rejects_dir=str(rejected), batch=100, max_wait=0.3, ack_wait=1.0,
                            exit_when_idle=True)

    async def write_without_ack():
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        sub = await js.pull_subscribe(stream.subject, durable="lake", stream=stream.name, config=consumer_config(settings))
        msgs = await sub.fetch(100, timeout=2)
        writer = BatchWriter(Namer("nats", stream.name, "lake"), str(landing), str(rejected))
        outcome = writer.write([_delivery(m) for m in msgs])
        writer.close()  # "crash": no ack (a dead process's lock is released by the kernel)
        await nc.close()
        return outcome

    first = asyncio.run(write_without_ack())
    assert (first.readings, first.rejected, len(first.files)) == (50, 1, 2)
    before = sorted(os.listdir(landing)) + sorted(os.listdir(rejected))
    stats = asyncio.run(consume(settings))  # the redeliveries arrive after ack_wait and are only acked
    assert (stats.readings, stats.rejected, stats.files) == (0, 0, 0)
    assert stats.deliveries == 51 and stats.already_written == 51
    assert sorted(os.listdir(landing)) + sorted(os.listdir(rejected)) == before
    assert len(landed(landing)) == 50
    _, consumer = stream.state("lake")
    assert consumer.num_ack_pending == 0 and consumer.num_pending == 0


def test_each_kind_has_its_own_ledger_and_runs_stay_closed(tmp_path):
    """Crash between the landing rename and the rejects rename: the redelivery writes only the rejections; a
    redelivery that is not the next sequence of its run starts a file of its own."""
    namer = Namer("nats", "S", "c")
    msg = lambda seq, n=1, payload=None: Delivery(seq, n == 1, "s", payload or json.dumps(reading(seq)).encode(), n)
    writer = BatchWriter(namer, str(tmp_path / "landing"), str(tmp_path / "rejects"))
    out = writer.write([msg(1), msg(2, payload=b"x"), msg(3)])
    assert [os.path.basename(f) for f in out.files] == ["nats.S.c.000000000001-000000000003.csv",
                                                        "nats.S.c.000000000002-000000000002.rejects.jsonl"]
    os.unlink(out.files[1])  # as if the process died before renaming the rejects file
    with pytest.raises(ConsumerBusyError, match="another process"):  # one process per consumer
        BatchWriter(namer, str(tmp_path / "landing"), str(tmp_path / "rejects"))
    writer.close()
    again = BatchWriter(namer, str(tmp_path / "landing"), str(tmp_path / "rejects"))
    out = again.write([msg(1, 2), msg(2, 2, b"x"), msg(3, 2)])
    assert (out.readings, out.rejected) == (0, 1)
    # redeliveries 7 and 9 (8 still pending elsewhere) must not claim 8; first deliveries 10..12 form one run
    out = again.write([msg(7, 2), msg(9, 2), msg(10), msg(11), msg(12)])
    assert [os.path.basename(f).split(".")[3] for f in out.files] == [
        "000000000007-000000000007", "000000000009-000000000012"]
    assert not again.landing.covers(8) and again.landing.covers(11)
    # a stale temporary file from a crash before a rename is removed on start, and is never a landing file
    (tmp_path / "landing" / ".nats.S.c.000000000013-000000000014.csv.123.tmp").write_text("partial")
    again.close()
    assert BatchWriter(namer, str(tmp_path / "landing"), str(tmp_path / "rejects")).removed_temporaries


def test_cli_says_what_is_wrong(tmp_path, capsys):
    code = main(["stream-consume", "--nats", NATS_URL, "--stream", "NO_SUCH_STREAM_x", "--subject", "x.y", "--durable", "d",
                 "--landing", str(tmp_path / "landing")])
    err = capsys.readouterr().err
    assert code == 2 and "not found" in err and "--create-stream" in err
    assert scan_landing(tmp_path / "landing") == ([], [])
    with pytest.raises(ValueError, match="stream 'a.b'"):  # a name that could not be parsed back from a file name
        NatsSettings(servers=NATS_URL, stream="a.b", subject="x", durable="d", landing_dir=str(tmp_path))
