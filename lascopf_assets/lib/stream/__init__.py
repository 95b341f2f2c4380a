"""Streaming ingestion: meter readings from a message stream (NATS JetStream, MQTT) into landing files.

No Dagster here. A consumer writes micro-batches as ordinary landing files (``landing.py``'s long CSV),
so streamed readings take the same path as delivered files: the landing sensor requests their days and
``raw_measurements`` reads them. Messages that cannot become a landing row go to a rejects JSONL file
beside the landing folder, with a rule and a reason. See ``files.py`` for the naming and the
exactly-once argument, ``readings.py`` for what a message may hold.
"""
