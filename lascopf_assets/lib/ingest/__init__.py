"""Ingestion: landing files, validation with quarantine, junction aggregation."""
