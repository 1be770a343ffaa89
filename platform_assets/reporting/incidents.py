"""Incidents: a critical rule failing on a partition, from its first failure to the first pass after.

Read from ``ops/quality_results``: only the (dataset, partition, rule) series that ever failed a
critical rule are fetched, in time order, so the work grows with the incidents, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from deltalake import QueryBuilder

from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.quality.results import quality_results_uri

_SERIES = """
WITH failing AS (
  SELECT DISTINCT dataset, COALESCE("partition", '') AS p, rule_name FROM t
  WHERE NOT passed AND severity = 'critical'
)
SELECT t.dataset, t."partition", t.rule_name, t.rule_description, t.action, t.passed, t.rows_failed,
  t.evaluated_at
FROM t JOIN failing f
  ON t.dataset = f.dataset AND COALESCE(t."partition", '') = f.p AND t.rule_name = f.rule_name
ORDER BY t.dataset, t."partition", t.rule_name, t.evaluated_at
"""


@dataclass
class Incident:
    dataset: str
    partition: str | None
    rule_name: str
    rule_description: str
    action: str  # blocked: the partition was held at the gate
    opened_at: datetime
    rows_failed: int
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def hours_to_resolve(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.opened_at).total_seconds() / 3600


def incidents(lake: Lake) -> list[Incident]:
    """Every incident, oldest first; one (dataset, partition, rule) may have several over time."""
    table = open_table(quality_results_uri(lake), lake.storage_options)
    if table is None:
        return []
    reader = QueryBuilder().register("t", table).execute(_SERIES)
    rows = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
    found: list[Incident] = []
    current: dict[tuple, Incident] = {}
    for row in rows:
        series = (row["dataset"], row["partition"], row["rule_name"])
        open_one = current.get(series)
        if not row["passed"] and open_one is None:
            current[series] = Incident(
                row["dataset"],
                row["partition"],
                row["rule_name"],
                row["rule_description"],
                row["action"],
                row["evaluated_at"],
                row["rows_failed"],
            )
            found.append(current[series])
        elif row["passed"] and open_one is not None:
            open_one.resolved_at = row["evaluated_at"]
            del current[series]
    return sorted(found, key=lambda i: (i.opened_at, i.dataset, i.partition or "", i.rule_name))
