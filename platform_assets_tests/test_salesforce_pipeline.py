"""Salesforce end to end: the sandbox org over HTTPS -> bronze (watermark committed with the rows) -> silver.

The generator's oracle (``state_after``) is the expected silver state after each round: ties at the
watermark, deletes through ``IsDeleted`` (an Account with its cascade-deleted Opportunities), an
undelete that revives them. Silver must equal it exactly, live rows and tombstones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.domains.salesforce import SALESFORCE_JOB, SENSOR
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_positions
from platform_assets.settings import PlatformSettings
from platform_assets.sources.watermark import Watermark
from sandbox.generator.salesforce import (
    ACCOUNT,
    OPPORTUNITY,
    SalesforceDataset,
    generate_salesforce,
    parse_sf_datetime,
)
from sandbox.services.salesforce_api import SalesforceApiServer

DATASET: SalesforceDataset = generate_salesforce()
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SILVER = {ACCOUNT: "silver/accounts", OPPORTUNITY: "silver/opportunities"}
BRONZE = {ACCOUNT: "bronze/salesforce_account", OPPORTUNITY: "bronze/salesforce_opportunity"}
COLUMNS = {
    ACCOUNT: [
        "Id",
        "Name",
        "Phone",
        "BillingCountry",
        "Industry",
        "CreatedDate",
        "Customer_Id__c",
        "Segment__c",
        "OwnerId",
        "Owner_Name",
        "SystemModstamp",
    ],
    OPPORTUNITY: [
        "Id",
        "AccountId",
        "Name",
        "StageName",
        "Amount",
        "CloseDate",
        "CurrencyIsoCode",
        "CreatedDate",
        "SystemModstamp",
    ],
}


class Platform:
    def __init__(self, root: Path, org: SalesforceApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.org = org
        monkeypatch.setenv("SALESFORCE_INSTANCE_URL", org.instance_url)
        monkeypatch.setenv("SALESFORCE_SESSION_ID", org.session_id)
        monkeypatch.setenv("SALESFORCE_CA_PATH", org.ca_path)
        self.settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(root / "lake")})
        self.lake = Lake(self.settings.lake_root)
        self.defs = build_definitions(self.settings)

    def run(self, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def(SALESFORCE_JOB)
        today = datetime.now(UTC).date().isoformat()
        return job.execute_in_process(
            instance=instance, partition_key=today, run_config=QUIET, raise_on_error=False
        )

    def silver(self, sobject: str) -> dict[str, tuple]:
        columns = [*COLUMNS[sobject], "_is_deleted"]
        rows = read_table(self.lake.uri(SILVER[sobject]), columns=columns).to_pylist()
        assert len(rows) == len({r["Id"] for r in rows})
        return {r["Id"]: tuple(r[c] for c in columns) for r in rows}

    def bronze_count(self, sobject: str) -> int:
        return row_count(self.lake.uri(BRONZE[sobject]))


def _typed(column: str, value: object) -> object:
    if value is None:
        return None
    if column in ("SystemModstamp", "CreatedDate"):
        return parse_sf_datetime(value)
    if column == "CloseDate":
        return date.fromisoformat(value)
    return value


def expected(dataset: SalesforceDataset, sobject: str, round_no: int) -> dict[str, tuple]:
    """Every record (deleted ones as tombstones) after ``round_no``, as silver should hold it."""
    state = dataset.state_after(round_no)[sobject]
    owners = {u["Id"]: u["Name"] for u in dataset.users}  # Owner.Name: the owning User's name
    return {
        i: (*(_typed(c, owners[r["OwnerId"]] if c == "Owner_Name" else r[c]) for c in COLUMNS[sobject]),
            r["IsDeleted"])
        for i, r in state.items()
    }  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, dg.DagsterInstance]]:
    with (
        SalesforceApiServer(DATASET, batch_size=50) as org,
        dg.instance_for_test() as instance,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        yield Platform(tmp_path_factory.mktemp("salesforce"), org, monkeypatch), instance


def _assert_silver(platform: Platform, round_no: int) -> None:
    for sobject in (ACCOUNT, OPPORTUNITY):
        assert platform.silver(sobject) == expected(DATASET, sobject, round_no), f"{sobject} round {round_no}"


def test_01_initial_extraction_reaches_silver(setup) -> None:
    platform, instance = setup
    assert platform.run(instance).success
    _assert_silver(platform, 0)
    for sobject in (ACCOUNT, OPPORTUNITY):
        assert platform.bronze_count(sobject) == len(DATASET.initial[sobject])
        stored = committed_positions(platform.lake.uri(BRONZE[sobject]))[f"salesforce:{sobject}"]
        newest = max(parse_sf_datetime(r["SystemModstamp"]) for r in DATASET.initial[sobject])
        assert Watermark.from_json(stored).timestamp == newest


def test_02_rounds_with_ties_deletes_and_undelete_are_applied_exactly(setup) -> None:
    platform, instance = setup
    for round_no in (1, 2):
        before = {s: platform.bronze_count(s) for s in (ACCOUNT, OPPORTUNITY)}
        platform.org.apply_next_round()
        assert platform.run(instance).success
        _assert_silver(platform, round_no)
        for sobject in (ACCOUNT, OPPORTUNITY):  # each changed record exactly once, ties included
            changed = DATASET.changed_in(sobject, round_no - 1, round_no)
            assert platform.bronze_count(sobject) == before[sobject] + len(changed)
    # round 1 deleted an Account and its Opportunities, round 2 undeleted it: tombstones were revived
    deleted_in_1 = {i for i, r in DATASET.state_after(1)[ACCOUNT].items() if r["IsDeleted"]}
    assert deleted_in_1 and not any(platform.silver(ACCOUNT)[i][-1] for i in deleted_in_1)
    tombstones = {i for i, row in platform.silver(OPPORTUNITY).items() if row[-1]}
    assert tombstones == {i for i, r in DATASET.state_after(2)[OPPORTUNITY].items() if r["IsDeleted"]}
    assert tombstones


def test_03_the_sensor_requests_an_arrival_once_then_skips(setup) -> None:
    platform, instance = setup
    sensor = platform.defs.resolve_sensor_def(SENSOR)
    resources = dict(platform.defs.resources)
    repository = platform.defs.get_repository_def()

    def tick(cursor: str | None) -> dg.SensorExecutionData:
        return sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, repository_def=repository
            )
        )

    idle = tick(None)
    assert idle.run_requests == [] and "nothing new" in idle.skip_message
    platform.org.apply_next_round()
    first = tick(None)
    (request,) = first.run_requests
    assert request.run_key.startswith(f"{SENSOR}:salesforce:Account@")
    assert request.partition_key == datetime.now(UTC).date().isoformat()
    again = tick(first.cursor)  # the cursor is what Dagster stores: a restarted daemon sees it too
    assert again.run_requests == [] and "already requested" in again.skip_message
    assert platform.run(instance).success
    _assert_silver(platform, 3)
    after = tick(again.cursor or first.cursor)
    assert after.run_requests == [] and "nothing new" in after.skip_message


def test_04_a_run_with_nothing_new_changes_nothing(setup) -> None:
    platform, instance = setup
    before = {s: platform.bronze_count(s) for s in (ACCOUNT, OPPORTUNITY)}
    assert platform.run(instance).success
    assert {s: platform.bronze_count(s) for s in (ACCOUNT, OPPORTUNITY)} == before
    _assert_silver(platform, 3)


def test_a_type_change_stops_bronze_and_dead_letters_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Round 1 sends Opportunity.Amount as formatted text in every record: the source changed its type.
    drifted_round = tuple(
        replace(c, record={**c.record, "Amount": f"EUR {c.record['Amount']:,.2f}"})
        if c.sobject == OPPORTUNITY
        else c
        for c in DATASET.rounds[0]
    )
    drifted = replace(DATASET, rounds=(drifted_round, *DATASET.rounds[1:]))
    # the bronze asset has a step retry policy: a type change must stop the run all the same
    with SalesforceApiServer(drifted, batch_size=500) as org, dg.instance_for_test() as instance:
        platform = Platform(tmp_path, org, monkeypatch)
        assert platform.run(instance).success
        org.apply_next_round()
        result = platform.run(instance)
        assert not result.success
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        message = str(failure.step_failure_data.error)
        assert "bronze/salesforce_opportunity" in message and "'Amount' (double)" in message
        changed = DATASET.changed_in(OPPORTUNITY, 0, 1)
        dlq = read_table(platform.lake.uri("bronze/salesforce_opportunity_dlq")).to_pylist()
        assert {d["_position"].rsplit(":", 1)[1] for d in dlq} == set(changed)
        assert all("field 'Amount'" in d["_error"] for d in dlq)
        # no Opportunity row of the batch reached bronze or silver; Accounts went on
        assert platform.bronze_count(OPPORTUNITY) == len(DATASET.initial[OPPORTUNITY])
        assert platform.silver(OPPORTUNITY) == expected(DATASET, OPPORTUNITY, 0)
        assert platform.silver(ACCOUNT) == expected(DATASET, ACCOUNT, 1)
