"""Kafka topics as an incremental bronze source (bounded micro-batches from the offsets in the table)."""
