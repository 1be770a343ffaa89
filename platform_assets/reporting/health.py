"""The seed's success metrics, computed from the Dagster instance and the lake, each with its target.

| metric | how |
|---|---|
| DQ score | the platform score of ``reporting/score.py`` |
| validation coverage | critical columns with a rule, over critical columns |
| freshness (real-time path) | minutes since the newest materialization of the order datasets |
| time within SLA (7 days) | per dataset with an SLA, the share of the last 7 days during which its last materialization was younger than ``fail_after``; the mean over datasets |
| reliability: runs | succeeded runs over finished runs (success, failure), last 7 days |
| reliability: all assets within SLA | the share of the last 7 days during which no dataset was past its SLA |
| issue resolution | incident open to resolved (``reporting/incidents.py``): median and worst hours |
| cost per GB processed | from ``ops/cost`` (operations/cost.py), last 7 days: the priced cost (compute, scan, storage) over GB processed (bytes read + written); target $0.10 |
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from platform_assets.contracts.model import Contract, parse_duration
from platform_assets.lake.location import Lake
from platform_assets.operations.cost import COST_TABLE, TARGET_USD_PER_GB_PROCESSED, read_cost_per_gb
from platform_assets.reporting.config import REALTIME_DATASETS, TARGETS
from platform_assets.reporting.snapshot import Snapshot

WINDOW = timedelta(days=7)
_EVENTS = 10_000  # materializations per dataset looked at in the window


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    value: float | None
    unit: str
    target: float | None
    target_text: str
    met: bool | None
    how: str

    @property
    def display(self) -> str:
        return "n/a" if self.value is None else f"{self.value:,.4g} {self.unit}".strip()


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def _at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def _materialization_times(instance: dg.DagsterInstance, dataset: str, since: datetime) -> list[datetime]:
    """Times of the dataset's materializations after ``since``, plus the last one before it."""
    from platform_assets.layers.specs import asset_key

    key = asset_key(dataset)
    after = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp()), limit=_EVENTS, ascending=True
    ).records
    before = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, before_timestamp=since.timestamp()), limit=1
    ).records
    return [datetime.fromtimestamp(r.timestamp, UTC) for r in [*before, *after]]


def breaches(
    times: list[datetime], sla: timedelta, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Intervals within [start, end] when the newest materialization was older than ``sla``.

    Before the first materialization the dataset is not judged (as the alerts sensor does).
    """
    found = []
    for index, moment in enumerate(times):
        following = times[index + 1] if index + 1 < len(times) else end
        late_from = max(moment + sla, start)
        late_to = min(following, end)
        if late_from < late_to:
            found.append((late_from, late_to))
    return found


def _merged_length(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    total, current = timedelta(0), None
    for begin, finish in sorted(intervals):
        if current and begin <= current[1]:
            current = (current[0], max(current[1], finish))
            continue
        if current:
            total += current[1] - current[0]
        current = (begin, finish)
    return total + ((current[1] - current[0]) if current else timedelta(0))


def _freshness(instance: dg.DagsterInstance, contracts: dict[str, Contract], now: datetime) -> tuple:
    start = now - WINDOW
    shares, everything, realtime = [], [], []
    for dataset, contract in sorted(contracts.items()):
        if contract.freshness is None:
            continue
        times = _materialization_times(instance, dataset, start)
        if not times:
            continue
        judged_from = max(start, times[0])
        late = breaches(times, parse_duration(contract.freshness.fail_after), judged_from, now)
        span = (now - judged_from).total_seconds()
        if span > 0:
            shares.append(100.0 * (1 - _merged_length(late).total_seconds() / span))
        everything += late
        if dataset in REALTIME_DATASETS:
            realtime.append((now - times[-1]).total_seconds() / 60)
    within = statistics.fmean(shares) if shares else None
    all_within = 100.0 * (1 - _merged_length(everything) / WINDOW) if shares else None
    return within, all_within, (max(realtime) if realtime else None)


def _run_share(instance: dg.DagsterInstance, now: datetime) -> float | None:
    """Share of succeeded runs over finished runs (success, failure), over the window."""
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
            created_after=now - WINDOW,
        ),
        limit=_EVENTS,
    )
    succeeded = sum(1 for r in records if r.dagster_run.status is dg.DagsterRunStatus.SUCCESS)
    return 100.0 * succeeded / len(records) if records else None


def _cost_metric(lake: Lake | None, now: datetime) -> Metric:
    summary = read_cost_per_gb(lake, (now - WINDOW).date()) if lake is not None else None
    value = summary.usd_per_gb if summary is not None else None
    how = (
        f"{COST_TABLE} of the last 7 days: cost (compute, scan, storage, priced by its price model) over GB "
        "processed (read + written); "
        + (
            f"${summary.total_usd:.6f} over {summary.gb_processed:.6f} GB, {summary.days} day(s)"
            if summary is not None
            else f"{COST_TABLE} not built yet"
        )
    )
    return Metric(
        "cost_per_gb_usd",
        "Cost per GB processed",
        value,
        "USD",
        TARGET_USD_PER_GB_PROCESSED,
        f"< ${TARGET_USD_PER_GB_PROCESSED:.2f} per GB",
        _at_most(value, TARGET_USD_PER_GB_PROCESSED),
        how,
    )


def platform_health(
    snap: Snapshot,
    contracts: dict[str, Contract],
    instance: dg.DagsterInstance | None,
    lake: Lake | None = None,
    now: datetime | None = None,
) -> list[Metric]:
    """The metrics; without an instance only those the lake alone gives, without a lake no cost."""
    now = now or datetime.now(UTC)
    t = TARGETS
    resolved = [i.hours_to_resolve for i in snap.incidents if i.hours_to_resolve is not None]
    median = statistics.median(resolved) if resolved else None
    worst = max(resolved) if resolved else None
    metrics = [
        Metric(
            "dq_score",
            "DQ score",
            snap.platform.score,
            "%",
            t["dq_score_percent"],
            "> 99%",
            _at_least(snap.platform.score, t["dq_score_percent"]),
            "share of passed row evaluations per DQ dimension, weighted (latest evaluation of each rule and partition)",
        ),
        Metric(
            "validation_coverage",
            "Validation coverage",
            snap.platform_coverage.percent,
            "%",
            t["validation_coverage_percent"],
            "100% of critical columns",
            _at_least(snap.platform_coverage.percent, t["validation_coverage_percent"]),
            "critical columns (keys, non-nullable, money) named by at least one rule",
        ),
        Metric(
            "issue_resolution_median_hours",
            "Issue resolution (median)",
            median,
            "h",
            t["issue_resolution_hours"],
            "< 24 h",
            _at_most(median, t["issue_resolution_hours"]),
            f"incident (critical rule failing on a partition) open to resolved; {len(resolved)} resolved, "
            f"{len(snap.open_incidents)} open",
        ),
        Metric(
            "issue_resolution_worst_hours",
            "Issue resolution (worst)",
            worst,
            "h",
            t["issue_resolution_hours"],
            "< 24 h",
            _at_most(worst, t["issue_resolution_hours"]),
            "the slowest resolved incident",
        ),
    ]
    if instance is None:
        return metrics
    within, all_within, realtime = _freshness(instance, contracts, now)
    share = _run_share(instance, now)
    metrics += [
        Metric(
            "freshness_realtime_minutes",
            "Freshness of the real-time path",
            realtime,
            "min",
            t["freshness_minutes_realtime"],
            "< 15 min",
            _at_most(realtime, t["freshness_minutes_realtime"]),
            f"minutes since the newest materialization of {', '.join(REALTIME_DATASETS)}",
        ),
        Metric(
            "freshness_within_sla_percent",
            "Time within SLA (7 days)",
            within,
            "%",
            100.0,
            "100%",
            _at_least(within, 100.0),
            "per dataset with an SLA: share of the last 7 days its newest materialization was younger than fail_after",
        ),
        Metric(
            "reliability_runs_percent",
            "Reliability: succeeded runs",
            share,
            "%",
            t["reliability_percent"],
            "> 99.9%",
            _at_least(share, t["reliability_percent"]),
            "succeeded over finished runs in the last 7 days",
        ),
        Metric(
            "reliability_all_within_sla_percent",
            "Reliability: every asset within SLA",
            all_within,
            "%",
            t["reliability_percent"],
            "> 99.9%",
            _at_least(all_within, t["reliability_percent"]),
            "share of the last 7 days no dataset was past its SLA",
        ),
        _cost_metric(lake, now),
    ]
    return metrics
