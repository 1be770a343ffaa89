"""DMS files on the engine (``ingest: engine``) give the process path's bronze table, dead letters, positions
and file errors.

Files in a landing folder, the real incremental protocol on Delta, and the engine path two ways: on Sail
(the embedded engine, in-process: Spark's ``binaryFile`` source and ``mapInArrow`` for real), and as its
pieces without an engine (the executor task gets the planned files as ``binaryFile`` rows, split over two
tasks that come back in the wrong order, and the driver merges them), which pins that the merge does not
depend on how the engine splits the files. The same comparison on a Spark cluster reading from S3 is
``test_spark_cluster.py::test_dms_files_on_the_engine_from_s3_...``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from platform_assets.contracts import load_contracts
from platform_assets.contracts.model import Contract
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_positions
from platform_assets.lake.resource import LakeResource
from platform_assets.layers.bronze import rds_customers
from platform_assets.layers.bronze.dms_batch import landing_store, plan_dms_batch
from platform_assets.layers.bronze.engine_conform import ordered_pieces
from platform_assets.layers.bronze.engine_dms import batch_from_pieces, conform_files_task, read_dms_on_engine
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.operations.checksum import table_checksum
from platform_assets.settings import PlatformSettings
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.dms.reader import DmsFileError, FileStore
from platform_assets.sources.dms.resource import DmsLandingResource
from platform_assets.sources.dms.s3_store import S3FileStore
from platform_assets_tests.dms_files import cdc_name, commit_ts, customer, write_file

DATASET = "bronze/rds_customers_cdc"
DLQ = "bronze/rds_customers_cdc_dlq"
# far ahead of the clock, so that both paths stamp the same _ingested_at (the factory keeps the later of
# the batch's stamp and now) and their tables compare by checksum, metadata columns included
INGESTED_AT = datetime(2099, 1, 1, tzinfo=UTC)
PER_RUN = 2  # files per run: the five files take three bounded runs


def plant_dms_files(landing: Path) -> tuple[int, int]:
    """A full load and four CDC files with planted bad rows; returns (good changes, bad changes)."""
    bad_id = ["x7", "Bad Id", "b@example.com", "\\N", "1 Main St", "DE", "2026-11-01 08:00:00+00"]
    write_file(
        landing,
        "LOAD00000001.csv",
        [[commit_ts(0), *customer(1, "Ann")], [commit_ts(0), *customer(2, "Bob")], [commit_ts(0), *bad_id]],
        cdc=False,
    )
    no_id = ["I", commit_ts(5), "\\N", "No Id", "n@example.com", "\\N", "2 Main St", "FR", "\\N"]
    write_file(landing, cdc_name(5), [["U", commit_ts(5), *customer(1, "Ann B")], no_id], cdc=True)
    bad_time = ["U", "not a time", *customer(2, "Bob C")]
    bad_updated = ["I", commit_ts(9), *customer(3, "Cy")[:-1], "2026-13-45 99:00:00+00"]
    write_file(
        landing, cdc_name(9), [bad_time, ["D", commit_ts(9), *customer(2, "Bob")], bad_updated], cdc=True
    )
    write_file(landing, cdc_name(12), [], cdc=True)  # a header-only file: read, no rows
    write_file(landing, cdc_name(15), [["I", commit_ts(15), *customer(4, "Dee", "US")]], cdc=True)
    return 5, 4


def engine_contract() -> Contract:
    return load_contracts()[DATASET].model_copy(update={"ingest": "engine"})


def engine_reader_without_spark(landing: Path | FileStore) -> Callable[[Committed], SourceBatch]:
    """The engine path with Spark's part played here: the planned files' (path, content) rows, as two
    tasks that come back in the wrong order."""
    contract = engine_contract()
    store = landing_store(landing)

    def read(committed: Committed) -> SourceBatch:
        plan = plan_dms_batch(store, committed, rds_customers.POSITION, rds_customers.MAX_FILES_PER_RUN)
        if not plan.files:
            return SourceBatch(records=[])
        rows = [(store.hadoop_uri(f.key), (Path(landing) / f.key).read_bytes()) for f in plan.files]
        task = conform_files_task(contract, plan.files)
        results = []
        for part in (rows[1::2], rows[::2]):
            if part:
                batch = pa.RecordBatch.from_pydict(
                    {"path": [p for p, _ in part], "content": [c for _, c in part]}
                )
                results.extend(task(iter([batch])))
        return batch_from_pieces(plan, ordered_pieces(pa.Table.from_batches(results)), rds_customers.POSITION)

    return read


def engine_reader(how: str, landing: Path) -> Callable[[Committed], SourceBatch]:
    if how == "pieces":
        return engine_reader_without_spark(landing)
    spark = SparkEngine(engine="sail").get_session()
    return lambda c: read_dms_on_engine(
        spark, landing, engine_contract(), c, rds_customers.POSITION, rds_customers.MAX_FILES_PER_RUN
    )


def ingest_all(lake: Lake, read: Callable[[Committed], SourceBatch]) -> int:
    """Bounded runs until no file is pending; returns how many runs committed files."""
    contract = load_contracts()[DATASET]
    for number in range(1, 20):
        batch = Batch(date(2026, 11, 3), INGESTED_AT, "rds_dms:public.customers", f"batch-{number}")
        source_batch, _, _ = ingest_increment(lake, contract, batch, read)
        if not source_batch.positions:
            return number - 1
    raise AssertionError("the landing did not drain in 20 runs")


def rows_by_position(uri: str, storage_options: dict[str, str] | None = None) -> pa.Table:
    table = DeltaTable(uri, storage_options=storage_options).to_pyarrow_table()
    return table.select(sorted(table.column_names)).sort_by("_position")


def assert_same_bronze(lakes: dict[str, Lake], good: int, bad: int) -> None:
    """Identical bronze (checksum), dead letters (rows and messages) and committed positions."""
    bronze = {
        name: table_checksum(lake.uri(DATASET), storage_options=lake.storage_options)
        for name, lake in lakes.items()
    }
    assert bronze["engine"] == bronze["process"] and bronze["engine"].rows == good
    dead = {name: rows_by_position(lake.uri(DLQ), lake.storage_options) for name, lake in lakes.items()}
    assert dead["engine"].equals(dead["process"]) and dead["engine"].num_rows == bad
    positions = {
        name: committed_positions(lake.uri(DATASET), lake.storage_options) for name, lake in lakes.items()
    }
    assert positions["engine"] == positions["process"]
    assert len(positions["engine"][rds_customers.POSITION]["files"]) == 5


@pytest.mark.parametrize("how", ["sail", "pieces"])
def test_dms_files_on_the_engine_give_the_process_paths_bronze_dead_letters_and_positions(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rds_customers, "MAX_FILES_PER_RUN", PER_RUN)
    landing = tmp_path / "landing"
    good, bad = plant_dms_files(landing)
    lakes = {"process": Lake(str(tmp_path / "process")), "engine": Lake(str(tmp_path / "engine"))}
    runs = {
        "process": ingest_all(lakes["process"], lambda c: rds_customers.read_dms_batch(landing, c)),
        "engine": ingest_all(lakes["engine"], engine_reader(how, landing)),
    }
    assert runs == {"process": 3, "engine": 3}
    assert_same_bronze(lakes, good, bad)
    errors = rows_by_position(lakes["engine"].uri(DLQ)).column("_error").to_pylist()
    assert errors == [  # by position: the CDC files' names sort before LOAD
        "bronze/rds_customers_cdc: field 'customer_id' is required but null",
        "bronze/rds_customers_cdc: field '_dms_commit_ts': expected an ISO timestamp, got 'not a time'",
        "bronze/rds_customers_cdc: field 'updated_at': expected an ISO timestamp, got '2026-13-45 99:00:00+00'",
        "bronze/rds_customers_cdc: field 'customer_id': expected an integer, got 'x7'",
    ]


def refusal_on_both_paths(how: str, landing: Path, tmp_path: Path) -> str:
    """The DmsFileError both paths fail with on ``landing`` (the same message), nothing committed."""
    messages = {}
    for name, read in (
        ("process", lambda c: rds_customers.read_dms_batch(landing, c)),
        ("engine", engine_reader(how, landing)),
    ):
        lake = Lake(str(tmp_path / name))
        with pytest.raises(DmsFileError) as caught:
            ingest_all(lake, read)
        messages[name] = str(caught.value)
        assert not DeltaTable.is_deltatable(lake.uri(DATASET))  # nothing committed
    assert messages["engine"] == messages["process"]
    return messages["engine"]


@pytest.mark.parametrize("how", ["sail", "pieces"])
def test_a_file_the_reader_refuses_fails_both_paths_with_the_same_message(how: str, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_file(landing, cdc_name(1), [["U", commit_ts(1), *customer(1, "Ann")]], cdc=True)
    write_file(landing, cdc_name(2), [["U", commit_ts(2), "1", "too few values"]], cdc=True)
    message = refusal_on_both_paths(how, landing, tmp_path)
    assert message.startswith(f"DMS file {cdc_name(2)}, row 1: has 4 values")


def test_the_bronze_asset_reads_on_the_engine_when_its_contract_says_so(tmp_path: Path) -> None:
    """The asset (not only its reader) picks the engine path from ``ingest: engine``: same table."""
    good, bad = plant_dms_files(tmp_path / "landing" / "public" / "customers")
    counts, on_engine = {}, {}
    for ingest in ("process", "engine"):
        contracts = load_contracts()
        contracts[DATASET] = contracts[DATASET].model_copy(update={"ingest": ingest})
        lake = LakeResource(root=str(tmp_path / ingest))
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [rds_customers.build(contracts)],
                resources={
                    "lake": lake,
                    "spark": SparkEngine(engine="sail"),
                    "dms_landing": DmsLandingResource(root=str(tmp_path / "landing")),
                },
                partition_key="2026-11-03",
                instance=instance,
            )
            messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
        on_engine[ingest] = any("read and typed on the engine" in m for m in messages)
        (materialization,) = result.asset_materializations_for_node("bronze__rds_customers_cdc")
        assert materialization.metadata["dead_letters"].value == bad
        counts[ingest] = table_checksum(lake.lake.uri(DATASET)).rows
    assert counts == {"process": good, "engine": good}
    assert on_engine == {"process": False, "engine": True}


def test_an_s3_landing_root_is_listed_and_read_through_the_s3_store() -> None:
    """DMS_LANDING_ROOT=s3://... stays an S3 address (not a folder under the working directory), and the
    bronze asset and the sensor get an S3 store of the table's prefix whose keys are the file names."""
    settings = PlatformSettings.from_env({"DMS_LANDING_ROOT": "s3://landing/dms"})
    assert settings.dms_landing_root == "s3://landing/dms"
    store = DmsLandingResource(root=settings.dms_landing_root).table_store("public", "customers")
    assert store == S3FileStore("landing", "dms/public/customers")
    assert store.hadoop_uri("LOAD00000001.csv") == "s3a://landing/dms/public/customers/LOAD00000001.csv"


@pytest.mark.parametrize("how", ["sail", "pieces"])
def test_a_byte_that_is_not_utf8_names_its_row_and_column_on_both_paths(how: str, tmp_path: Path) -> None:
    """Row 1500 is far past the first chunk a strict decoder reads, so only a per-row check can name it."""
    landing = tmp_path / "landing"
    rows = [["U", commit_ts(1), *customer(n, "BADBYTE" if n == 1500 else f"C{n}")] for n in range(1, 2001)]
    path = write_file(landing, cdc_name(1), rows, cdc=True)
    path.write_bytes(path.read_bytes().replace(b"BADBYTE", b"Zo\xeby"))  # Latin-1, not UTF-8
    message = refusal_on_both_paths(how, landing, tmp_path)
    assert message.startswith(
        f"DMS file {cdc_name(1)}, row 1500: column 'name' is not UTF-8 text (byte 0xeb at character 3)"
    )
