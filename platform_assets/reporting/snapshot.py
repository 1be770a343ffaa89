"""Everything the report shows, gathered once: scores, trend, scorecard, incidents, held records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
from deltalake import QueryBuilder

from platform_assets.contracts.model import Contract
from platform_assets.governance.samples import SampleGovernor
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.quality.results import quality_results_uri
from platform_assets.reporting.held_records import HeldRecords, held_records
from platform_assets.reporting.incidents import Incident, incidents
from platform_assets.reporting.score import Coverage, Score, coverage, latest_counts, score_of, scores

TREND_POINTS = 30  # the platform score after each of the last N runs that evaluated rules
SAMPLE_EVALUATIONS = 10


@dataclass
class DatasetCard:
    dataset: str
    domain: str
    score: Score
    coverage: Coverage
    freshness: str | None  # PASS | WARN | FAIL, None: no SLA or never materialized
    sla: str | None
    last_materialized: datetime | None


@dataclass
class FailingSample:
    dataset: str
    partition: str | None
    rule_description: str
    evaluated_at: datetime
    rows: list[dict]


@dataclass
class Snapshot:
    generated_at: datetime
    platform: Score
    platform_coverage: Coverage
    domains: dict[str, tuple[Score, Coverage]]
    cards: list[DatasetCard]
    trend: list[tuple[datetime, float]]
    incidents: list[Incident]
    held: list[HeldRecords]
    samples: list[FailingSample] = field(default_factory=list)

    @property
    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents if i.is_open]


def _query(lake: Lake, sql: str) -> list[dict]:
    table = open_table(quality_results_uri(lake), lake.storage_options)
    if table is None:
        return []
    reader = QueryBuilder().register("t", table).execute(sql)
    return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()


def trend(lake: Lake) -> list[tuple[datetime, float]]:
    """The platform score as it stood after each of the last runs (latest evaluations up to then)."""
    runs = _query(
        lake,
        f"SELECT run_id, MAX(evaluated_at) AS at FROM t GROUP BY run_id ORDER BY at DESC LIMIT {TREND_POINTS}",
    )
    points = []
    for run in sorted(runs, key=lambda r: r["at"]):
        score = score_of(latest_counts(lake, before=run["at"])).score
        if score is not None:
            points.append((run["at"], score))
    return points


def failing_samples(lake: Lake, governor: SampleGovernor | None = None) -> list[FailingSample]:
    """The newest failing evaluations that carry a sample of their rows (masked at write), each
    through the governed read path for the report's role (governance/samples.py): a dataset the
    role may not read shows no sample."""
    rows = _query(
        lake,
        'SELECT dataset, "partition", rule_description, evaluated_at, failing_sample FROM t '
        f"WHERE failing_sample IS NOT NULL ORDER BY evaluated_at DESC LIMIT {SAMPLE_EVALUATIONS}",
    )
    governor = governor or SampleGovernor.for_reports()
    found = []
    for r in rows:
        shown = governor.rows(r["dataset"], json.loads(r["failing_sample"]))
        if shown:
            found.append(
                FailingSample(r["dataset"], r["partition"], r["rule_description"], r["evaluated_at"], shown)
            )
    return found


def _freshness(
    instance: dg.DagsterInstance | None, contract: Contract, now: datetime
) -> tuple[str | None, datetime | None]:
    from platform_assets.layers.specs import asset_key
    from platform_assets.sensors.alerts import freshness_state

    if instance is None:
        return None, None
    event = instance.get_latest_materialization_event(asset_key(contract.ref))
    last = datetime.fromtimestamp(event.timestamp, UTC) if event else None
    return freshness_state(contract, last, now), last


def _audited_samples(lake: Lake, contracts: dict[str, Contract]) -> list[FailingSample]:
    governor = SampleGovernor.for_reports(contracts)
    samples = failing_samples(lake, governor)
    governor.audit(lake, "the data quality report")  # before the report is written
    return samples


def snapshot(
    lake: Lake, contracts: dict[str, Contract], instance: dg.DagsterInstance | None = None
) -> Snapshot:
    now = datetime.now(UTC)
    counts = latest_counts(lake)
    all_scores = scores(counts)
    cov_platform, cov_domains, cov_datasets = coverage(contracts)
    cards = []
    for dataset, contract in sorted(contracts.items()):
        state, last = _freshness(instance, contract, now)
        sla = f"fail after {contract.freshness.fail_after}" if contract.freshness else None
        cards.append(
            DatasetCard(
                dataset,
                contract.domain,
                all_scores.by_dataset.get(dataset, Score(None)),
                cov_datasets[dataset],
                state,
                sla,
                last,
            )
        )
    domains = {d: (all_scores.by_domain.get(d, Score(None)), cov_domains[d]) for d in sorted(cov_domains)}
    return Snapshot(
        generated_at=now,
        platform=all_scores.platform,
        platform_coverage=cov_platform,
        domains=domains,
        cards=cards,
        trend=trend(lake),
        incidents=incidents(lake),
        held=held_records(lake, contracts),
        samples=_audited_samples(lake, contracts),
    )
