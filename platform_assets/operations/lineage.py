"""OpenLineage export: START / COMPLETE / FAIL run events for every step that materializes a dataset.

Read from the Dagster event log (step start, success, failure), so every layer is covered without
touching its code. Each event names the step's input datasets (the contract's ``upstream``; for bronze,
its source) and its output dataset with facets: schema (from the contract), column lineage (the
contract's ``lineage:``), data-quality assertions (the run's check results) and output statistics
(rows, bytes and files from the materialization metadata). Events are sent with the OpenLineage Python
client (file or HTTP transport); the community dagster-openlineage integration sends empty inputs.

Dataset naming follows OpenLineage's conventions: a local table is ``file`` + its absolute path, an S3
table ``s3://<bucket>`` + its key prefix; a source is ``platform-source`` + the contract's ``source``.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import dagster as dg
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    error_message_run,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from platform_assets.contracts.model import Contract
from platform_assets.lake.location import Lake
from platform_assets.sensors.lake_sensor import lake_sensor

PRODUCER = "https://github.com/platform-assets/platform_assets"
JOB_NAMESPACE = "platform_assets"
SOURCE_NAMESPACE = "platform-source"
LINEAGE_SENSOR = "platform_openlineage_sensor"
_RUN_NAMESPACE = uuid.UUID("6f1c1f8e-6a53-4d0c-9a59-3e3c4b1d7a10")
_STATES = {
    dg.DagsterEventType.STEP_START: RunState.START,
    dg.DagsterEventType.STEP_SUCCESS: RunState.COMPLETE,
    dg.DagsterEventType.STEP_FAILURE: RunState.FAIL,
}
PAGE = 500
MESSAGE_LIMIT = 4000


@dataclass(frozen=True)
class TransportSettings:
    """``PLATFORM_OPENLINEAGE_URL`` (HTTP, POST to /api/v1/lineage) or ``PLATFORM_OPENLINEAGE_FILE``."""

    url: str | None = None
    file: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> TransportSettings:
        env = dict(os.environ if env is None else env)
        return cls(env.get("PLATFORM_OPENLINEAGE_URL") or None, env.get("PLATFORM_OPENLINEAGE_FILE") or None)

    @property
    def configured(self) -> bool:
        return bool(self.url or self.file)

    def client(self) -> OpenLineageClient:
        if self.url:
            return OpenLineageClient(transport=HttpTransport(HttpConfig(url=self.url)))
        if self.file:
            return OpenLineageClient(
                transport=FileTransport(FileConfig(log_file_path=self.file, append=True))
            )
        raise ValueError("OpenLineage export needs PLATFORM_OPENLINEAGE_URL or PLATFORM_OPENLINEAGE_FILE")


def table_dataset_name(lake: Lake, dataset: str) -> tuple[str, str]:
    uri = lake.uri(dataset)
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        return f"s3://{parsed.netloc}", parsed.path.lstrip("/")
    return "file", parsed.path if parsed.scheme == "file" else uri


def _run_id(dagster_run_id: str, step_key: str) -> str:
    """One OpenLineage run per Dagster step run, stable across its START and COMPLETE events."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{dagster_run_id}/{step_key}"))


def _schema_facet(contract: Contract) -> schema_dataset.SchemaDatasetFacet:
    fields = [
        schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, description=c.description)
        for c in contract.columns
    ]
    return schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)


def _column_lineage(
    contract: Contract, lake: Lake
) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
    fields = {}
    for column in contract.columns:
        inputs = []
        for item in column.lineage:
            dataset, _, source_column = item.rpartition(".")
            namespace, name = table_dataset_name(lake, dataset)
            inputs.append(
                column_lineage_dataset.InputField(namespace=namespace, name=name, field=source_column)
            )
        if inputs:
            fields[column.name] = column_lineage_dataset.Fields(inputFields=inputs)
    return (
        column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER) if fields else None
    )


def _inputs(contract: Contract, contracts: dict[str, Contract], lake: Lake) -> list[InputDataset]:
    inputs = []
    if contract.ref.layer == "bronze" and contract.source:
        inputs.append(InputDataset(namespace=SOURCE_NAMESPACE, name=contract.source))
    for upstream in contract.upstream:
        namespace, name = table_dataset_name(lake, upstream)
        facets = {"schema": _schema_facet(contracts[upstream])} if upstream in contracts else {}
        inputs.append(InputDataset(namespace=namespace, name=name, facets=facets))
    return inputs


def _run_records(
    instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType, key: dg.AssetKey
) -> list:
    records = instance.get_records_for_run(run_id, of_type=kind).records
    found = []
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        payload = getattr(data, "materialization", data)
        if getattr(payload, "asset_key", None) == key:
            found.append(payload)
    return found


def _output(
    instance: dg.DagsterInstance, contract: Contract, lake: Lake, run_id: str, state: RunState
) -> OutputDataset:
    namespace, name = table_dataset_name(lake, contract.dataset)
    facets: dict = {"schema": _schema_facet(contract)}
    lineage = _column_lineage(contract, lake)
    if lineage is not None:
        facets["columnLineage"] = lineage
    output_facets: dict = {}
    if state is RunState.COMPLETE:
        key = dg.AssetKey(contract.dataset.split("/"))
        checks = _run_records(instance, run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION, key)
        if checks:
            facets["dataQualityAssertions"] = (
                data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                    assertions=[
                        data_quality_assertions_dataset.Assertion(
                            assertion=c.check_name, success=bool(c.passed), severity=c.severity.value
                        )
                        for c in checks
                    ],
                    producer=PRODUCER,
                )
            )
        materializations = _run_records(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION, key)
        reports = {}
        for m in materializations:  # a partition range's one report appears once per partition
            values = {k: v.value for k, v in m.metadata.items()}
            reports.setdefault(values.get("cost/report_id", id(m)), values)
        if reports:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=int(sum(r.get("dagster/row_count", 0) for r in reports.values())),
                    size=int(sum(r.get("cost/bytes_written", 0) for r in reports.values())),
                    fileCount=int(sum(r.get("cost/files_written", 0) for r in reports.values())),
                    producer=PRODUCER,
                )
            )
    return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)


def _event(
    instance: dg.DagsterInstance, contracts: dict[str, Contract], lake: Lake, entry: dg.EventLogEntry
) -> RunEvent | None:
    dataset = (entry.step_key or "").replace("__", "/")
    contract = contracts.get(dataset)
    if contract is None or entry.dagster_event is None:
        return None
    state = _STATES[entry.dagster_event.event_type]
    run_facets: dict = {}
    if state is RunState.FAIL:
        error = entry.dagster_event.event_specific_data.error
        messages, stack, cause = [], [], error
        while cause is not None:  # Dagster wraps the step's exception: the cause says what went wrong
            messages.append(cause.message.strip())
            stack.extend(cause.stack)
            cause = cause.cause
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=" <- ".join(messages)[:MESSAGE_LIMIT] or "step failed",
            programmingLanguage="python",
            stackTrace="".join(stack)[:MESSAGE_LIMIT] or None,
            producer=PRODUCER,
        )
    return RunEvent(
        eventType=state,
        eventTime=datetime.fromtimestamp(entry.timestamp, UTC).isoformat(),
        producer=PRODUCER,
        run=Run(runId=_run_id(entry.run_id, entry.step_key), facets=run_facets),
        job=Job(namespace=JOB_NAMESPACE, name=dataset),
        inputs=_inputs(contract, contracts, lake),
        outputs=[_output(instance, contract, lake, entry.run_id, state)],
    )


def step_events(
    instance: dg.DagsterInstance, contracts: dict[str, Contract], lake: Lake, cursor: dict | None
) -> tuple[list[RunEvent], dict]:
    """The run events of the dataset steps not exported yet, and the new cursor.

    The cursor is per run (the SQLite event log is sharded by run, so there is no global event id):
    ``since`` is the update time of the runs already looked at, ``runs`` the last event id exported
    from each run updated since then.
    """
    cursor = cursor or {"since": 0.0, "runs": {}}
    since, done = float(cursor["since"]), dict(cursor["runs"])
    records = instance.get_run_records(
        filters=dg.RunsFilter(updated_after=datetime.fromtimestamp(since, UTC)), limit=PAGE, ascending=True
    )
    events, newest = [], since
    for run_record in records:
        run_id = run_record.dagster_run.run_id
        last = done.get(run_id, 0)
        steps = instance.get_records_for_run(run_id, of_type=set(_STATES)).records
        for record in sorted(steps, key=lambda r: r.storage_id):
            if record.storage_id <= last:
                continue
            event = _event(instance, contracts, lake, record.event_log_entry)
            if event is not None:
                events.append(event)
            last = record.storage_id
        done[run_id] = last
        newest = max(newest, run_record.update_timestamp.timestamp())
    # runs updated before ``newest`` minus a minute are settled; a later update brings them back
    settled = newest - 60
    keep = {r.dagster_run.run_id for r in records if r.update_timestamp.timestamp() >= settled}
    return events, {"since": max(since, settled), "runs": {k: v for k, v in done.items() if k in keep}}


def export(
    instance: dg.DagsterInstance,
    contracts: dict[str, Contract],
    lake: Lake,
    transport: TransportSettings,
    cursor: dict | None,
) -> tuple[int, dict]:
    """Send the new events (at least once: the cursor moves after they are sent); count and new cursor."""
    events, moved = step_events(instance, contracts, lake, cursor)
    client = transport.client()
    for event in events:
        client.emit(event)
    return len(events), moved


def build_lineage_sensor(contracts: dict[str, Contract]) -> dg.SensorDefinition:
    @lake_sensor(
        name=LINEAGE_SENSOR,
        minimum_interval_seconds=30,
        description=(
            "Exports OpenLineage START/COMPLETE/FAIL events for every dataset step, with inputs, outputs, "
            "schema, column lineage and data-quality facets, to PLATFORM_OPENLINEAGE_URL or _FILE."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SkipReason:
        transport = TransportSettings.from_env()
        if not transport.configured:
            return dg.SkipReason("no OpenLineage transport configured")
        after = json.loads(context.cursor) if context.cursor else None
        sent, cursor = export(context.instance, contracts, lake, transport, after)
        context.update_cursor(json.dumps(cursor))
        return dg.SkipReason(f"{sent} OpenLineage event(s) sent")

    return _sensor
