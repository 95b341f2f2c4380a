"""The MQTT consumer against the real Mosquitto: QoS 1 on a persistent session (messages published while it is
down arrive on reconnect), PUBACK only after the file (nothing comes again once acked), bad messages in the
rejects; at least once from the broker (DUP resends after a SIGKILL or a lost PUBACK), exactly once in the landing
files through the receipts; the CLI killed mid-stream and restarted."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pandas as pd
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lascopf_assets.lib.stream.mqtt_consumer import MqttSettings, MqttWriter, consume_mqtt
from lascopf_assets.lib.stream.sinks import FolderSink
from lascopf_assets_tests.stream.conftest import kill_after, reading
from lascopf_assets_tests.stream.test_nats_consumer import BAD, landed, rejects

HOST, PORT = os.environ.get("LASCOPF_TEST_MQTT_HOST", "127.0.0.1"), int(os.environ.get("LASCOPF_TEST_MQTT_PORT", "1883"))


def publish(topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.connect(HOST, PORT)
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_persistent_session_lands_what_was_published_while_down(tmp_path):
    tag = uuid.uuid4().hex[:8]
    topic, client_id = f"test/{tag}/readings", f"lake-{tag}"
    settings = MqttSettings(topic=topic, client_id=client_id, landing_dir=str(tmp_path / "landing"), host=HOST, port=PORT,
                            batch=500, max_wait=0.5, exit_when_idle=True, session_expiry_seconds=120)
    try:
        first = consume_mqtt(settings)  # creates the session and its subscription
    except ConnectionRefusedError as exc:
        pytest.fail(f"no MQTT broker at {HOST}:{PORT} ({exc}); CI machines run Mosquitto")
    assert first.deliveries == 0
    n = 900  # below Mosquitto's default max_queued_messages (1000) for an offline session: beyond it the broker drops
    publish(topic, [json.dumps(reading(i)).encode() for i in range(n)] + [b"{broken", json.dumps({"meter_id": "M1"}).encode()])
    stats = consume_mqtt(settings)  # the consumer was down: the broker kept the messages for its session
    assert stats.deliveries == n + 2 and stats.readings == n and stats.rejected == 2
    rows = landed(tmp_path / "landing")
    assert len(rows) == n and not rows.duplicated(["meter_id", "timestamp"]).any()
    assert sorted(r["rule"] for r in rejects(tmp_path / "stream_rejects")) == ["field_missing", "not_json"]
    assert consume_mqtt(settings).deliveries == 0  # everything was acked: nothing comes again
    # the session expires on the broker 120 s after this last disconnect


def mqtt_cli(topic: str, client_id: str, landing: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lascopf_assets.cli", "stream-consume-mqtt", "--mqtt", f"mqtt://{HOST}:{PORT}",
            "--topic", topic, "--client-id", client_id, "--landing", str(landing), "--max-wait", "0.3",
            "--session-expiry", "120", *extra]


def test_cli_sigkill_mid_stream_then_restart_lands_every_reading_once(tmp_path):
    """QoS 1 resends what was in flight when the consumer died (DUP set); the receipts keep the landing exact."""
    tag = uuid.uuid4().hex[:8]
    topic, client_id, landing = f"test/{tag}/readings", f"lake-{tag}", tmp_path / "landing"
    created = subprocess.run(mqtt_cli(topic, client_id, landing, "--exit-when-idle"), capture_output=True, text=True,
                             timeout=30)  # the session and its subscription, before anything is published
    assert created.returncode == 0, created.stderr
    n_single, n_lists = 700, 20  # 700 + 100 readings and the 8 bad messages: below the broker's 1000-message queue
    good = [reading(i) for i in range(n_single)]
    lists = [[reading(n_single + 5 * j + k) for k in range(5)] for j in range(n_lists)]
    payloads = [json.dumps(r).encode() for r in good[:350]] + [b for b, _ in BAD] + [
        json.dumps(r).encode() for r in (*good[350:], *lists)]
    publish(topic, payloads)

    at_kill = kill_after(mqtt_cli(topic, client_id, landing, "--batch", "20"), lambda: len(glob.glob(str(landing / "*.csv"))))
    assert 5 <= at_kill < (n_single + n_lists) // 20, f"not killed mid-stream ({at_kill} files)"

    done = subprocess.run(mqtt_cli(topic, client_id, landing, "--batch", "500", "--exit-when-idle"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stderr.strip().splitlines()[-1])
    assert stats["redelivered"] > 0  # the broker resent what was in flight at the kill, with DUP: at least once
    rows = landed(landing)
    assert len(rows) == n_single + 5 * n_lists  # ... and exactly once in the landing files
    assert not rows.duplicated(["meter_id", "timestamp"]).any()
    sent = pd.DataFrame([*good, *(r for batch in lists for r in batch)])
    assert sorted(zip(rows["meter_id"], rows["kwh"], strict=True)) == sorted(zip(sent["meter_id"], sent["kwh"], strict=True))
    assert sorted(r["rule"] for r in rejects(tmp_path / "stream_rejects")) == sorted(rule for _, rule in BAD)
    again = subprocess.run(mqtt_cli(topic, client_id, landing, "--exit-when-idle"), capture_output=True, text=True, timeout=30)
    assert json.loads(again.stderr.strip().splitlines()[-1])["deliveries"] == 0  # all acked


def test_dup_redelivery_is_written_only_where_no_file_holds_it(tmp_path):
    """The crash window between the write and the PUBACK, made on purpose: 40 messages received, the first 25 written,
    the connection gone without a PUBACK. The broker resends all 40 with DUP: 25 are acked only, 15 are written."""
    tag = uuid.uuid4().hex[:8]
    topic, client_id = f"test/{tag}/readings", f"lake-{tag}"
    settings = MqttSettings(topic=topic, client_id=client_id, landing_dir=str(tmp_path / "landing"), host=HOST, port=PORT,
                            batch=100, max_wait=0.5, exit_when_idle=True, session_expiry_seconds=120)
    consume_mqtt(settings)  # the session
    publish(topic, [json.dumps(reading(i)).encode() for i in range(39)] + [b"{broken"])

    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
    client.on_message = lambda c, u, msg: got.append(msg)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 120
    props.ReceiveMaximum = 100  # without it Mosquitto sends 20 at a time (max_inflight_messages)
    client.connect(HOST, PORT, clean_start=False, properties=props)
    client.loop_start()
    deadline = time.monotonic() + 10
    while len(got) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(got) == 40 and not any(m.dup for m in got)
    writer = MqttWriter(client_id, FolderSink(settings.landing_dir, settings.rejects_dir), 2000)
    first = writer.write(got[:25])
    writer.close()
    client.disconnect()  # no PUBACK sent: the 40 stay in flight in the session
    client.loop_stop()
    assert (first.readings, first.rejected) == (25, 0)

    stats = consume_mqtt(settings)
    assert (stats.deliveries, stats.redelivered, stats.already_written) == (40, 40, 25)
    assert (stats.readings, stats.rejected) == (14, 1)
    rows = landed(tmp_path / "landing")
    assert len(rows) == 39 and not rows.duplicated(["meter_id", "timestamp"]).any()
    assert consume_mqtt(settings).deliveries == 0


def test_receipt_without_its_file_does_not_count_and_parts_are_separate(tmp_path):
    """A crash after the receipt, before the landing file: the DUP copy writes the readings again; the rejects file,
    which exists, is not written twice. A copy without DUP is always written (a head-end may repeat itself)."""
    msg = lambda payload, dup=False: SimpleNamespace(topic="t", payload=payload, dup=dup, mid=1, qos=1)
    mixed = json.dumps([reading(1), {"meter_id": "M1"}]).encode()  # one reading, one rejection
    sink = FolderSink(str(tmp_path / "landing"), str(tmp_path / "rejects"))
    writer = MqttWriter("lake", sink, 2000)
    out = writer.write([msg(mixed), msg(json.dumps(reading(2)).encode())])
    assert (out.readings, out.rejected) == (2, 1)
    receipts = os.listdir(tmp_path / "rejects" / "receipts")
    assert len(receipts) == 1 and receipts[0].endswith(".receipt.json")
    os.unlink(next(f for f in out.files if f.endswith(".csv")))  # as if the process died before the rename
    writer.close()
    again = MqttWriter("lake", FolderSink(str(tmp_path / "landing"), str(tmp_path / "rejects")), 2000)
    out = again.write([msg(mixed, dup=True), msg(json.dumps(reading(2)).encode(), dup=True)])
    assert (out.readings, out.rejected, out.already_written) == (2, 0, 1)
    out = again.write([msg(mixed, dup=True)])  # now both parts are written: acked only
    assert (out.readings, out.rejected, out.already_written, out.files) == (0, 0, 1, [])
    out = again.write([msg(mixed)])  # no DUP: a new message, even if it is byte-identical
    assert (out.readings, out.rejected) == (1, 1)
    again.close()


def test_help_says_what_the_broker_guarantees_and_what_the_consumer_adds():
    from lascopf_assets.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["stream-consume-mqtt"]
    text = " ".join(sub.format_help().split())
    assert "AT LEAST ONCE from the broker" in text and "DUP flag" in text and "--dedupe-window" in text
    assert "max_queued_messages" in text  # the broker's bound, where messages can be lost before the consumer sees them
