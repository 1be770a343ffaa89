"""Bronze: records exactly as received, plus ingestion metadata, partitioned by ingestion day."""
