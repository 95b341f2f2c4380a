"""Streaming ingestion: meter readings from a message stream (NATS JetStream, MQTT) into landing files.

No Dagster here. A consumer writes micro-batches as ordinary landing files (``landing.py``'s long CSV),
so streamed readings take the same path as delivered files: the landing sensor (folder or S3) requests
their days and ``raw_measurements`` reads them. Messages that cannot become a landing row go to rejects
JSONL files (beside the landing folder, or under their own prefix of the landing bucket) with a rule and
a reason; the ``rejected_stream_messages`` asset reads them back as a table (``rejects.py``).

- ``readings.py``: what a message may hold, landing rows and rejections;
- ``files.py``: names by stream sequence range and the exactly-once argument; ``batches.py``: the NATS batch
  writer (a ledger per area);
- ``sinks.py``: where files go (``FolderSink``; ``s3_sink.S3Sink`` takes an injected S3 client, one object
  per UTC day under ``<prefix>/<day>/``);
- ``nats_consumer.py`` (exactly once by stream sequence), ``mqtt_consumer.py`` (QoS 1 is at least once; DUP
  resends are recognised by receipts);
- ``drift.py``: the re-optimization trigger's metric.
"""
