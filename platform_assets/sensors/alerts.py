"""Alerts: freshness SLAs missed and checks failed, each raised once.

Every minute `platform_alerts_sensor` looks at:

- **freshness**: for every dataset whose contract has an SLA, the age of its last materialization
  against ``warn_after``/``fail_after``. An alert is raised when the state changes (PASS, WARN, FAIL),
  a recovery included. A dataset never materialized is not judged.
- **checks**: every failed asset check evaluation recorded after the last one seen, with its severity
  (ERROR for blocking rules, WARN for warnings): one alert per partition the evaluation failed in
  (a range run records one evaluation per rule, with every partition's result in it).

The alerts are appended to the Delta table ``<root>/ops/alerts`` together with the sensor's position
(the last check evaluation seen and the freshness states), in the same commit, so a crash neither
raises an alert twice nor loses one. Then they are posted as JSON to ``PLATFORM_ALERTS_WEBHOOK`` when
it is set (at least once: a failed post is logged and not retried).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pyarrow as pa
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from platform_assets.contracts.model import Contract, parse_duration
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import append_with_positions, read_positions
from platform_assets.layers.specs import RANGE_END, RANGE_START, asset_key
from platform_assets.quality.check_events import PartitionResult, partition_results
from platform_assets.sensors.lake_sensor import lake_sensor

ALERTS_SENSOR = "platform_alerts_sensor"
POSITION = "alerts"  # structured position in the alerts table: {"checks_after": id, "freshness": {...}}
FAILURES_PER_CHECK = 20
WORSE = {"PASS": 0, "WARN": 1, "FAIL": 2}


@dataclass(frozen=True)
class Alert:
    kind: str  # freshness | check
    dataset: str
    severity: str  # ERROR | WARN | INFO (a recovery)
    state: str  # freshness: PASS/WARN/FAIL; check: the check name
    message: str
    raised_at: datetime
    run_id: str | None = None
    partition: str | None = None


def alerts_uri(lake: Lake) -> str:
    return f"{lake.root.rstrip('/')}/ops/alerts"


def freshness_state(contract: Contract, last_materialized: datetime | None, now: datetime) -> str | None:
    """PASS, WARN or FAIL for a dataset with an SLA (None: no SLA, or never materialized)."""
    if contract.freshness is None or last_materialized is None:
        return None
    age = now - last_materialized
    if age > parse_duration(contract.freshness.fail_after):
        return "FAIL"
    warn = contract.freshness.warn_after
    return "WARN" if warn and age > parse_duration(warn) else "PASS"


def freshness_alerts(
    contracts: dict[str, Contract],
    last_materialized: dict[str, datetime | None],
    previous: dict[str, str],
    now: datetime,
) -> tuple[list[Alert], dict[str, str]]:
    """Alerts for the datasets whose state changed since ``previous``; returns them and the new states."""
    states: dict[str, str] = dict(previous)
    alerts: list[Alert] = []
    for dataset, contract in sorted(contracts.items()):
        state = freshness_state(contract, last_materialized.get(dataset), now)
        if state is None:
            continue
        states[dataset] = state
        if state == previous.get(dataset, "PASS"):
            continue
        last = last_materialized[dataset]
        age = _minutes(now - last) if last else "?"
        sla = f"warn after {contract.freshness.warn_after}, fail after {contract.freshness.fail_after}"  # type: ignore[union-attr]
        if WORSE[state] > WORSE.get(previous.get(dataset, "PASS"), 0):
            severity = "ERROR" if state == "FAIL" else "WARN"
            message = f"{dataset} is {state}: last materialized {age} min ago ({sla})"
        else:
            severity = "INFO"
            message = f"{dataset} is back to {state}: last materialized {age} min ago ({sla})"
        alerts.append(Alert("freshness", dataset, severity, state, message, now))
    return alerts, states


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f}"


def run_partitions(instance: dg.DagsterInstance, run_id: str | None) -> str | None:
    """The partition (or ``first..last`` range) a run materialized, from its tags: a check evaluated over a
    range run has no partition of its own."""
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None:
        return None
    if "dagster/partition" in run.tags:
        return run.tags["dagster/partition"]
    first, last = run.tags.get(RANGE_START), run.tags.get(RANGE_END)
    return (first if first == last else f"{first}..{last}") if first else None


def check_failure_alerts(
    instance: dg.DagsterInstance, contracts: dict[str, Contract], after: int | None, now: datetime
) -> tuple[list[Alert], int | None]:
    """Alerts for the failed check executions with an id after ``after``; returns them and the last id.

    Read per check from the execution history (its ids grow across all checks), the newest
    ``FAILURES_PER_CHECK`` failures of each: enough for a tick every minute.
    """
    found: list[tuple[int, Alert]] = []
    for dataset, contract in contracts.items():
        for rule in contract.rules:
            key = dg.AssetCheckKey(asset_key(dataset), rule.name)
            history = instance.event_log_storage.get_asset_check_execution_history(
                key, limit=FAILURES_PER_CHECK, status={AssetCheckExecutionRecordStatus.FAILED}
            )
            for record in history:
                if after is not None and record.id <= after:
                    continue
                evaluation = record.event.asset_check_evaluation if record.event else None
                severity = evaluation.severity.value if evaluation else "ERROR"
                run_partition = record.partition or run_partitions(instance, record.run_id)
                # one evaluation per rule and run: one alert per partition it failed in
                results = (
                    [r for r in partition_results(evaluation, run_partition) if not r.passed]
                    if evaluation
                    else [PartitionResult(run_partition, False, None, None)]
                )
                for result in results:
                    partition = result.partition or run_partition
                    count = (
                        f" ({result.failed_rows} failing row(s))" if result.failed_rows is not None else ""
                    )
                    where = f" in partition {partition}" if partition else ""
                    message = f"{dataset}: check {rule.name} failed{where}{count}"
                    alert = Alert(
                        "check", dataset, severity, rule.name, message, now, record.run_id or None, partition
                    )
                    found.append((record.id, alert))
    found.sort(key=lambda pair: pair[0])
    return [alert for _, alert in found], max((i for i, _ in found), default=after)


def _as_table(alerts: list[Alert]) -> pa.Table:
    rows = [asdict(a) for a in alerts]
    schema = pa.schema(
        [
            ("kind", pa.string()),
            ("dataset", pa.string()),
            ("severity", pa.string()),
            ("state", pa.string()),
            ("message", pa.string()),
            ("raised_at", pa.timestamp("us", tz="UTC")),
            ("run_id", pa.string()),
            ("partition", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def record_alerts(
    lake: Lake, alerts: list[Alert], webhook: str | None = None, positions: dict | None = None
) -> None:
    """Append alerts raised elsewhere (DR drills, budgets) to ops/alerts, with the raiser's position in
    the same commit, then post them to the webhook."""
    if not alerts and not positions:
        return
    append_with_positions(
        alerts_uri(lake), _as_table(alerts), positions=positions, storage_options=lake.storage_options
    )
    if webhook and alerts:
        post_alerts(webhook, alerts)


def post_alerts(webhook: str, alerts: list[Alert]) -> None:
    body = [{**asdict(a), "raised_at": a.raised_at.isoformat()} for a in alerts]
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        client.post(webhook, json={"alerts": body}).raise_for_status()


def evaluate_alerts(
    instance: dg.DagsterInstance,
    lake: Lake,
    contracts: dict[str, Contract],
    now: datetime | None = None,
    webhook: str | None = None,
) -> list[Alert]:
    """One evaluation: the new alerts, committed with the position, then posted."""
    now = now or datetime.now(UTC)
    uri = alerts_uri(lake)
    snapshot = read_positions(uri, lake.storage_options)  # the commit below is conditional on it
    position = snapshot.positions.get(POSITION, {})
    last = {}
    for dataset, contract in contracts.items():
        if contract.freshness is None:
            continue
        event = instance.get_latest_materialization_event(asset_key(dataset))
        last[dataset] = datetime.fromtimestamp(event.timestamp, UTC) if event else None
    stale, states = freshness_alerts(contracts, last, position.get("freshness", {}), now)
    failed, checks_after = check_failure_alerts(instance, contracts, position.get("checks_after"), now)
    moved = {"checks_after": checks_after, "freshness": states}
    if moved == position:
        return []
    alerts = stale + failed
    append_with_positions(
        uri,
        _as_table(alerts),
        positions={POSITION: moved},
        storage_options=lake.storage_options,
        read=snapshot,
    )
    if webhook and alerts:
        post_alerts(webhook, alerts)
    return alerts


def _summary(alerts: list[Alert], shown: int = 10) -> str:
    """What a tick raised, as its (skip) message on the sensor's page: one item per alert."""
    items = [
        f"{a.severity} {a.dataset} {a.state}" + (f" [{a.partition}]" if a.partition else "") for a in alerts
    ]
    more = f"; and {len(items) - shown} more" if len(items) > shown else ""
    return f"{len(alerts)} alert(s) raised: " + "; ".join(items[:shown]) + more


def build_alerts_sensor(contracts: dict[str, Contract], webhook: str | None) -> dg.SensorDefinition:
    @lake_sensor(
        name=ALERTS_SENSOR,
        description=(
            "Raises alerts (table ops/alerts, and PLATFORM_ALERTS_WEBHOOK) when a dataset's freshness "
            "SLA state changes and when a check fails."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SkipReason:
        try:
            alerts = evaluate_alerts(context.instance, lake, contracts, webhook=webhook)
        except httpx.HTTPError as exc:  # committed already: the table keeps them
            context.log.error(f"alerts recorded in ops/alerts but not posted to the webhook: {exc}")
            return dg.SkipReason("alerts recorded; the webhook post failed")
        for alert in alerts:
            log = context.log.error if alert.severity == "ERROR" else context.log.warning
            log(alert.message)
        return dg.SkipReason(_summary(alerts) if alerts else "no new alert")

    return _sensor
