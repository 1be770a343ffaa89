"""Operating the platform: maintenance, point-in-time recovery, DR, cost, lineage, benchmarks."""
