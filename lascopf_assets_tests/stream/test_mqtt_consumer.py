"""The MQTT consumer against the real Mosquitto: QoS 1 on a persistent session (messages published while it is
down arrive on reconnect), PUBACK only after the file (nothing comes again once acked), bad messages in the
rejects."""

from __future__ import annotations

import json
import os
import uuid

import paho.mqtt.client as mqtt
import pytest

from lascopf_assets.lib.stream.mqtt_consumer import MqttSettings, consume_mqtt
from lascopf_assets_tests.stream.conftest import reading
from lascopf_assets_tests.stream.test_nats_consumer import landed, rejects

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
