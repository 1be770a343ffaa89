"""DQ score and validation coverage, per dataset, per domain and for the platform.

Score: for each DQ dimension, the share of passed row evaluations (rows evaluated minus rows
failed, over rows evaluated) in the latest evaluation of every (dataset, partition, rule); the
score is the mean of those shares weighted by ``config.DIMENSION_WEIGHTS`` over the dimensions
that have evaluations. The same formula at every level, on the pooled rows of that level.

Coverage: the share of critical columns (keys, non-nullable columns, money columns) that at
least one rule names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
from deltalake import QueryBuilder

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.quality.results import quality_results_uri
from platform_assets.reporting.config import DIMENSION_WEIGHTS, MONEY_COLUMN


@dataclass(frozen=True)
class DimensionCounts:
    """The latest evaluations of one dataset in one dimension, pooled."""

    dataset: str
    domain: str
    dimension: str
    rows_evaluated: int
    rows_failed: int
    rules_passed: int
    rules_failed: int
    last_evaluated: datetime | None


_LATEST = """
WITH ranked AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY dataset, "partition", rule_name ORDER BY evaluated_at DESC, run_id DESC) AS rn
  FROM t {where}
)
SELECT dataset, domain, dimension,
  CAST(SUM(rows_evaluated) AS BIGINT) AS rows_evaluated, CAST(SUM(rows_failed) AS BIGINT) AS rows_failed,
  CAST(SUM(CASE WHEN passed THEN 1 ELSE 0 END) AS BIGINT) AS rules_passed,
  CAST(SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS BIGINT) AS rules_failed,
  MAX(evaluated_at) AS last_evaluated
FROM ranked WHERE rn = 1 GROUP BY dataset, domain, dimension ORDER BY dataset, dimension
"""


def latest_counts(lake: Lake, before: datetime | None = None) -> list[DimensionCounts]:
    """Per dataset and dimension, the latest evaluations (as of ``before`` when given)."""
    table = open_table(quality_results_uri(lake), lake.storage_options)
    if table is None:
        return []
    where = f"WHERE evaluated_at <= '{before.isoformat()}'" if before else ""
    sql = _LATEST.format(where=where)
    rows = pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(sql)).read_all()
    return [DimensionCounts(**r) for r in rows.to_pylist()]


@dataclass
class Score:
    """A DQ score with the per-dimension pass rates it came from (percent)."""

    score: float | None
    by_dimension: dict[str, float] = field(default_factory=dict)
    rows_evaluated: int = 0
    rows_failed: int = 0
    rules_passed: int = 0
    rules_failed: int = 0
    last_evaluated: datetime | None = None


def score_of(counts: Iterable[DimensionCounts]) -> Score:
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    result = Score(None)
    for c in counts:
        pooled[c.dimension][0] += c.rows_evaluated
        pooled[c.dimension][1] += c.rows_failed
        result.rows_evaluated += c.rows_evaluated
        result.rows_failed += c.rows_failed
        result.rules_passed += c.rules_passed
        result.rules_failed += c.rules_failed
        if c.last_evaluated and (result.last_evaluated is None or c.last_evaluated > result.last_evaluated):
            result.last_evaluated = c.last_evaluated
    rates = {d: 100.0 * (ev - fa) / ev for d, (ev, fa) in pooled.items() if ev}
    result.by_dimension = {d: round(r, 4) for d, r in sorted(rates.items())}
    weight = sum(DIMENSION_WEIGHTS.get(d, 1.0) for d in rates)
    if weight:
        total = sum(DIMENSION_WEIGHTS.get(d, 1.0) * r for d, r in rates.items())
        result.score = round(total / weight, 4)
    return result


@dataclass
class Scores:
    platform: Score
    by_domain: dict[str, Score]
    by_dataset: dict[str, Score]


def scores(counts: list[DimensionCounts]) -> Scores:
    domains: dict[str, list[DimensionCounts]] = defaultdict(list)
    datasets: dict[str, list[DimensionCounts]] = defaultdict(list)
    for c in counts:
        domains[c.domain].append(c)
        datasets[c.dataset].append(c)
    return Scores(
        score_of(counts),
        {k: score_of(v) for k, v in sorted(domains.items())},
        {k: score_of(v) for k, v in sorted(datasets.items())},
    )


# --- coverage ---------------------------------------------------------------------------------


def critical_columns(contract: Contract) -> set[str]:
    """Keys, non-nullable columns (platform metadata columns aside) and money columns."""
    found = set(contract.keys)
    for column in contract.columns:
        if column.name.startswith("_"):
            continue  # _proc_date, _batch_id...: set by the platform itself, not by a source
        if not column.nullable or column.type.startswith("decimal") or MONEY_COLUMN.search(column.name):
            found.add(column.name)
    return found


@dataclass(frozen=True)
class Coverage:
    covered: int
    critical: int
    uncovered: tuple[str, ...] = ()

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.covered / self.critical, 2) if self.critical else None


def coverage_of(contracts: Iterable[Contract]) -> Coverage:
    covered = critical = 0
    uncovered: list[str] = []
    for contract in contracts:
        ruled = {c for rule in contract.rules for c in rule.columns}
        for column in sorted(critical_columns(contract)):
            critical += 1
            if column in ruled:
                covered += 1
            else:
                uncovered.append(f"{contract.dataset}.{column}")
    return Coverage(covered, critical, tuple(uncovered))


def coverage(contracts: dict[str, Contract]) -> tuple[Coverage, dict[str, Coverage], dict[str, Coverage]]:
    """Platform, per-domain and per-dataset coverage."""
    domains: dict[str, list[Contract]] = defaultdict(list)
    for contract in contracts.values():
        domains[contract.domain].append(contract)
    return (
        coverage_of(contracts.values()),
        {d: coverage_of(cs) for d, cs in sorted(domains.items())},
        {k: coverage_of([c]) for k, c in sorted(contracts.items())},
    )
