"""Every figure the reports are judged by, in one place: dimension weights, targets, prices.

Documented in docs/data-quality.md; change them here, nowhere else.
"""

from __future__ import annotations

import re

# DQ score: the weighted mean of the per-dimension pass rates (docs/data-quality.md)
DIMENSION_WEIGHTS: dict[str, float] = {
    "completeness": 3.0,
    "uniqueness": 2.0,
    "validity": 2.0,
    "consistency": 2.0,
    "timeliness": 1.0,
}

# Validation coverage: money columns are decimals and columns whose name says they hold money
MONEY_COLUMN = re.compile(r"(amount|price|revenue|cost|total|rate_to_base|_usd$)")

# The seed's success metrics (reference/seed-lakehouse-design.md)
TARGETS = {
    "dq_score_percent": 99.0,  # > 99%
    "validation_coverage_percent": 100.0,
    "freshness_minutes_realtime": 15.0,  # the real-time (orders) path
    "reliability_percent": 99.9,  # > 99.9%
    "issue_resolution_hours": 24.0,  # < 24 h
}
REALTIME_DATASETS = ("silver/orders", "silver/order_lines", "bronze/order_events")
# Cost per GB processed: priced by ops/cost's price model; its target is TARGET_USD_PER_GB_PROCESSED
# in operations/cost.py, beside the table it judges
