"""`platform bench`: throughput, wall time and peak memory of the order path at several scale factors.

For each scale the sandbox generator makes the order stream (``orders_per_day * scale`` orders a
day, with its planted defects), and a fresh process on an empty lake measures four stages:

- ``bronze``: the stream except its last 1%, spilled to an Arrow IPC file (the topic's log, written
  before the clock starts), then one ``ingest_batches`` over it: each 100,000-message batch fetched
  from the file after the committed offset, handed over as the Kafka reader hands a batch
  (``ReceivedMessages``, column by column), typed by the contract and appended to
  ``bronze/order_events`` with its offsets, the next batch typed while one is committed (the broker
  itself is left out: the tests cover it); ``--bronze-only`` stops after it;
- ``silver``: one tick of the ``orders_apply_sensor`` and the runs it requests (every order date
  the first time: the ``orders_apply_job``, i.e. the ``silver/orders`` change apply and
  ``silver/order_lines``), as the daemon would run them;
- ``gold``: the ``gold_job`` over every order date (dimensions, ``gold/fact_order_lines``,
  ``gold/agg_daily_revenue``), after the other silver sources are written from the generators
  (``gold_bench_inputs.py``: they are not what is measured); rows are the fact rows, and the
  fact's and aggregate's own step times and rows/s are recorded apart;
- ``bronze_increment``, ``silver_increment`` and ``gold_increment``: the last 1% the same way; the
  apply sensor requests only the order dates the increment touched, then one tick of the gold
  sensor (``gold_inputs_sensor``) requests those dates with the assets and checks it selects for them
  (``assets_to_run``: no dimension when none of its inputs changed; each asset's own contract
  checks), and its runs are launched as the daemon launches them; ``gold_increment_fraction`` is
  its time (the tick included) over the full gold build's, and each gold stage records every step's
  time (``steps``) and any step failure (``failures``);
- ``maintenance``: the table maintenance of ``bronze/order_events`` and ``silver/orders`` (their
  contracts' policies), with each table's file count before and after and, for a selective query
  (one customer's rows), the files its statistics admit and the files and bytes the query really
  opened and scanned (delta-rs ``EXPLAIN ANALYZE``), before and after.

Each silver stage records ``scans``: the executed engine plans that read bronze and silver/orders
(one each per run: candidates are staged once, see ``quality/staging.py``). With ``--reference``,
the same silver logic written by hand in DuckDB and in Polars (``reference.py``) runs over the same
bronze files after the ``silver`` stage, each in its own process, is checked row for row against
the platform's tables, and its figures and the platform/reference ratios are recorded.

Peak memory is the process's resident set high-water mark after each stage (the embedded Sail
engine runs in the same process). The results are written as JSON; nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INCREMENT_FRACTION = 0.01
TOPIC = "orders.events"


def _peak_rss_mib() -> float:
    from platform_assets.operations.reference import peak_rss_mib

    return peak_rss_mib()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()}


def _stage(rows: int, started: float) -> dict[str, Any]:
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1) if seconds else None,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _reference(lake: Any, platform_silver: dict[str, Any], work: Path) -> dict[str, Any]:
    """DuckDB and Polars over the same bronze files, each in its own process, each checked against
    the platform's silver; the ratios put the platform's figures next to theirs."""
    from platform_assets.lake.delta_tables import open_table, row_count

    files = work / "bronze_files.json"
    files.write_text(json.dumps(open_table(lake.uri("bronze/order_events")).file_uris()))
    platform = work / "platform_files.json"
    silver = {t: open_table(lake.uri(f"silver/{t}")).file_uris() for t in ("orders", "order_lines")}
    platform.write_text(json.dumps(silver))
    out: dict[str, Any] = {}
    for engine in ("duckdb", "polars"):
        target = work / engine
        command = [sys.executable, "-m", "platform_assets.operations.reference", "--engine", engine]
        command += ["--files", str(files), "--out", str(target), "--platform", str(platform)]
        subprocess.run(command, check=True)
        figures = json.loads((target / "figures.json").read_text())
        figures["ratios"] = {  # platform / reference: how many times slower and bigger the platform is
            "silver_seconds": round(platform_silver["seconds"] / figures["seconds"], 2),
            "peak_rss": round(platform_silver["peak_rss_mib"] / figures["peak_rss_mib"], 2),
        }
        out[engine] = figures
    live = row_count(lake.uri("silver/orders"), where="NOT _is_deleted")
    out["identical"] = all(not out[e]["differences_from_platform"] for e in ("duckdb", "polars")) and all(
        out[e]["rows"] == live for e in ("duckdb", "polars")
    )
    return out


def measure_scale(
    scale: float, days: int, seed: int, reference: bool = False, bronze_only: bool = False
) -> dict[str, Any]:
    """Run the four stages on a fresh lake in this process (only ``bronze`` if ``bronze_only``);
    returns their figures."""
    import dagster as dg
    import pandas  # noqa: F401  (imported lazily by the Delta writes: a one-off cost kept off the clock)

    from platform_assets.contracts import load_contracts
    from platform_assets.definitions import build_definitions, build_resources
    from platform_assets.domains.gold import GOLD_SENSOR
    from platform_assets.domains.orders import ORDERS_APPLY_SENSOR
    from platform_assets.operations.sensor_driver import SensorDriver
    from platform_assets.settings import PlatformSettings
    from sandbox.generator.order_stream import OrderEventStream

    started_all = time.perf_counter()
    stream = OrderEventStream(seed=seed, days=days, scale=scale)
    produced = _Produced(stream)
    split = len(stream) - max(1, round(len(stream) * INCREMENT_FRACTION))
    contract = load_contracts()["bronze/order_events"]
    with tempfile.TemporaryDirectory(prefix="platform-bench-") as root:
        settings = PlatformSettings.from_env({**os.environ, "PLATFORM_LAKE_ROOT": f"{root}/lake"})
        lake = settings.lake
        defs = build_definitions(settings)
        figures: dict[str, Any] = {"scale": scale, "days": days, "messages": len(stream)}

        def ingest(first: int, end: int) -> dict[str, Any]:
            return _ingest_stream(lake, contract, produced, end - first, Path(root))

        with dg.DagsterInstance.ephemeral() as instance:
            driver = SensorDriver(defs, instance, build_resources(settings), ORDERS_APPLY_SENSOR)
            figures["bronze"] = ingest(0, split)
            if bronze_only:
                stream.close()
                figures["wall_seconds"] = round(time.perf_counter() - started_all, 3)
                figures["peak_rss_mib"] = _peak_rss_mib()
                return figures
            figures["silver"] = apply_tick(driver, lake)
            figures["silver"].pop("order_dates")
            if reference:  # the same logic by hand, over the same bronze, before the increment
                figures["reference"] = _reference(lake, figures["silver"], Path(root))
            gold_inputs(settings, lake, scale, stream.start, days)
            figures["gold"] = gold(defs, instance, stream.start.isoformat(), produced.last_order_date)
            # the gold sensor's cursor past what the full build covered, as after its own first run
            gold_driver = SensorDriver(defs, instance, build_resources(settings), GOLD_SENSOR)
            gold_driver.evaluate()
            figures["bronze_increment"] = ingest(split, len(stream))
            increment = apply_tick(driver, lake)
            touched = increment.pop("order_dates")
            figures["silver_increment"] = increment
            figures["gold_increment"] = gold_increment(gold_driver)
            figures["gold_increment"]["order_dates"] = touched
            figures["gold_increment_fraction"] = round(
                figures["gold_increment"]["seconds"] / figures["gold"]["seconds"], 4
            )
        stream.close()
        figures["maintenance"] = _maintenance(lake, produced.first_customer)
        figures["wall_seconds"] = round(time.perf_counter() - started_all, 3)
        figures["peak_rss_mib"] = _peak_rss_mib()
    return figures


def apply_tick(driver: Any, lake: Any) -> dict[str, Any]:
    """One tick of the orders apply sensor (``driver``) and the runs it requests (only the touched order
    dates), timed, with the engine-call breakdown and the scans of bronze and silver/orders."""
    from platform_assets.layers.specs import RANGE_END, RANGE_START
    from platform_assets.operations.engine_profile import profile_engine_calls
    from platform_assets.operations.scans import count_scans

    started = time.perf_counter()
    applied, succeeded, ranges, dates, runs, evaluations = 0, True, [], set(), [], 0
    with (
        count_scans([lake.uri("bronze/order_events"), lake.uri("silver/orders")]) as scans,
        profile_engine_calls() as profile,
    ):
        for request in driver.evaluate().run_requests or []:
            result = driver.execute(request)
            runs.append(result.run_id)
            ranges.append(f"{request.tags[RANGE_START]}..{request.tags[RANGE_END]}")
            succeeded &= result.success
            evaluations += sum(1 for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION")
            orders = result.asset_materializations_for_node("silver__orders")
            applied += int(orders[0].metadata["changes_applied"].value) if orders else 0
            lines = result.asset_materializations_for_node("silver__order_lines")
            dates |= {m.partition for m in lines if m.partition}
    reads = {"bronze/order_events": scans[lake.uri("bronze/order_events")]}
    reads["silver/orders"] = scans[lake.uri("silver/orders")]
    stage = _stage(applied, started)
    return {
        **stage,
        "breakdown": {
            **profile.breakdown(stage["seconds"]),
            "step_seconds": _step_seconds(driver.instance, runs),
        },
        "succeeded": succeeded,
        "scans": reads,
        "check_evaluations": evaluations,
        "requested": ranges,
        "order_dates": sorted(dates),
    }


def _step_seconds(instance: Any, run_ids: list[str]) -> dict[str, float]:
    """Each asset step's wall time over the runs (from the event log: STEP_START to STEP_SUCCESS or
    STEP_FAILURE); what a run spends outside its steps is Dagster's planning and launch."""
    spans: dict[str, dict[str, float]] = {}
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            kind = event.event_type_value if event is not None else None
            if entry.step_key and kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                span = spans.setdefault(entry.step_key, {"seconds": 0.0})
                if kind == "STEP_START":
                    span["start"] = entry.timestamp
                else:
                    span["seconds"] += entry.timestamp - span.pop("start", entry.timestamp)
    return {step: round(span["seconds"], 3) for step, span in spans.items()}


def _candidate_files(uri: str, column: str, value: int) -> int:
    """Files whose statistics allow ``column = value``: what a pruning reader must open."""
    import pyarrow as pa
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True))
    lows, highs = actions.column(f"min.{column}").to_pylist(), actions.column(f"max.{column}").to_pylist()
    return sum(1 for low, high in zip(lows, highs, strict=True) if low is None or low <= value <= high)


def _measured_read(uri: str, column: str, value: int) -> tuple[int, int]:
    """(files opened, bytes scanned) by ``SELECT * WHERE column = value``, from the query's own metrics."""
    import re

    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder

    builder = QueryBuilder().register("t", DeltaTable(uri))
    plan = pa.table(builder.execute(f"EXPLAIN ANALYZE SELECT * FROM t WHERE {column} = {value}").read_all())
    text = "\n".join(str(v) for v in plan.column("plan").to_pylist())
    opened = sum(int(n) for n in re.findall(r"\bfiles_opened=(\d+)", text))
    scanned = sum(int(n) for n in re.findall(r"\bbytes_scanned=(\d+)", text))
    return opened, scanned


def _maintenance(lake: Any, customer: int) -> dict[str, Any]:
    from platform_assets.contracts import load_contracts
    from platform_assets.operations.maintenance import maintain_table

    contracts = load_contracts()
    started, tables = time.perf_counter(), {}
    for name in ("bronze/order_events", "silver/orders"):
        uri = lake.uri(name)
        before = _candidate_files(uri, "customer_id", customer)
        opened_before, scanned_before = _measured_read(uri, "customer_id", customer)
        report = maintain_table(uri, contracts[name].maintenance_policy, name=name)
        opened_after, scanned_after = _measured_read(uri, "customer_id", customer)
        tables[name] = {
            "files_before": report.files_before,
            "files_after": report.files_after,
            "query_files_before": before,
            "query_files_after": _candidate_files(uri, "customer_id", customer),
            "query_files_opened_before": opened_before,
            "query_files_opened_after": opened_after,
            "query_bytes_scanned_before": scanned_before,
            "query_bytes_scanned_after": scanned_after,
            "seconds": report.seconds,
        }
    return {"seconds": round(time.perf_counter() - started, 3), "tables": tables}


def gold_inputs(settings: Any, lake: Any, scale: float, start: Any, days: int) -> None:
    from platform_assets.contracts import load_contracts
    from platform_assets.engine import SparkEngine
    from platform_assets.operations.gold_bench_inputs import write_gold_inputs

    spark = SparkEngine.from_settings(settings).get_session()
    write_gold_inputs(spark, lake, load_contracts(), scale, start, days)


def gold(defs: Any, instance: Any, first: str, last: str) -> dict[str, Any]:
    """The gold job over order dates first..last (every gold asset and its checks)."""
    from platform_assets.domains.gold import GOLD_JOB
    from platform_assets.layers.specs import RANGE_END, RANGE_START
    from platform_assets.operations.engine_profile import profile_engine_calls

    started = time.perf_counter()
    with profile_engine_calls() as profile:
        result = defs.resolve_job_def(GOLD_JOB).execute_in_process(
            instance=instance,
            tags={RANGE_START: first, RANGE_END: last},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
        )
    figures = _stage(0, started)
    figures["breakdown"] = profile.breakdown(figures["seconds"])
    return _gold_figures(figures, instance, [result])


def gold_increment(driver: Any) -> dict[str, Any]:
    """One tick of the gold sensor and the runs it requests, launched as the daemon launches them
    (each request's assets and checks only); the tick's own time is in the stage's."""
    from platform_assets.layers.specs import RANGE_END, RANGE_START
    from platform_assets.operations.engine_profile import profile_engine_calls

    started = time.perf_counter()
    with profile_engine_calls() as profile:
        requests = driver.evaluate().run_requests or []
        tick_seconds = time.perf_counter() - started
        results = [driver.execute(request) for request in requests]
    figures = _stage(0, started)
    figures["breakdown"] = profile.breakdown(figures["seconds"])
    figures["sensor_tick_seconds"] = round(tick_seconds, 3)
    figures["requested"] = [f"{r.tags[RANGE_START]}..{r.tags[RANGE_END]}" for r in requests]
    figures["assets"] = sorted({k.to_user_string() for r in requests for k in r.asset_selection or ()})
    figures["checks"] = sorted({k.to_user_string() for r in requests for k in r.asset_check_keys or ()})
    return _gold_figures(figures, driver.instance, results)


def _gold_figures(figures: dict[str, Any], instance: Any, results: list[Any]) -> dict[str, Any]:
    """Every step's time, and the fact's and aggregate's rows/s apart, over the stage's runs."""
    events = [e for result in results for e in result.all_events]
    figures["check_evaluations"] = sum(1 for e in events if e.event_type_value == "ASSET_CHECK_EVALUATION")
    steps: dict[str, float] = {}
    for result in results:
        started: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or not entry.step_key:
                continue
            if event.event_type_value == "STEP_START":
                started[entry.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS" and entry.step_key in started:
                elapsed = entry.timestamp - started.pop(entry.step_key)
                steps[entry.step_key] = steps.get(entry.step_key, 0.0) + elapsed
    for node, label in (("gold__fact_order_lines", "facts"), ("gold__agg_daily_revenue", "aggregates")):
        # a range run records one materialization per partition, each with the run's total
        rows = 0
        for result in results:
            written = result.asset_materializations_for_node(node)
            rows += int(written[0].metadata["dagster/row_count"].value) if written else 0
        seconds = steps.get(node, 0.0)
        figures[label] = {
            "rows": rows,
            "seconds": round(seconds, 3),
            "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
        }
    figures["steps"] = {key: round(seconds, 3) for key, seconds in sorted(steps.items())}
    figures["runs"] = len(results)
    figures["rows"] = figures["facts"]["rows"]
    figures["rows_per_second"] = (
        round(figures["rows"] / figures["seconds"], 1) if figures["seconds"] else None
    )
    figures["succeeded"] = bool(results) and all(r.success for r in results)
    failures = [e for e in events if e.event_type_value == "STEP_FAILURE"]
    if failures:  # recorded, so a broken stage is not read as a fast one
        figures["failures"] = {e.step_key: e.event_specific_data.error.message[:500] for e in failures}
    return figures


INGEST_BATCH = 100_000  # messages per bronze commit, as the Kafka reader's per-batch bound cuts them


class _Produced:
    """The generator's stream read once, front to back, in the ingest batches (never held whole);
    remembers what the later stages need from it."""

    def __init__(self, stream: Any) -> None:
        self.messages = iter(stream)
        self.first_customer: int = 0
        self.last_order_date = ""

    def take(self, count: int) -> Any:
        for _ in range(count):
            message = next(self.messages)
            if message.valid and message.event is not None:
                self.first_customer = self.first_customer or int(message.event["customer_id"])
                self.last_order_date = max(self.last_order_date, str(message.event["created_time"])[:10])
            yield message


_LOG_SCHEMA = {"offset": "int64", "key": "binary", "value": "binary"}


def _spill(produced: _Produced, count: int, path: Path) -> None:
    """The next ``count`` messages of the stream into an Arrow IPC file, ``INGEST_BATCH`` a record
    batch: the topic's log as a broker would hold it, so the timed ingest pays for fetching each
    batch but not for the generator making it (a batch is read from the file when it is needed,
    never the whole file at once)."""
    import pyarrow as pa

    schema = pa.schema(list(_LOG_SCHEMA.items()))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as log:
        left = count
        while left:
            chunk = list(produced.take(min(INGEST_BATCH, left)))
            left -= len(chunk)
            columns = ([m.position for m in chunk], [m.key for m in chunk], [m.value for m in chunk])
            log.write_batch(
                pa.record_batch([pa.array(c, t) for c, t in zip(columns, schema.types, strict=True)], schema)
            )


def _ingest_stream(lake: Any, contract: Any, produced: _Produced, count: int, work: Path) -> dict[str, Any]:
    """``count`` messages of the stream into bronze, ``INGEST_BATCH`` per commit, in one ingestion
    (``ingest_batches``: each batch read and typed while the one before is committed) whose reader
    fetches the batch after the committed offset from the spilled log and hands it over as the Kafka
    reader does (one topic partition, offsets = produce positions). Timed: the fetches, decoding,
    typing, dead-lettering and the commits; not the generator making the messages."""
    import pyarrow as pa

    from platform_assets.layers.bronze.incremental_asset import ingest_batches
    from platform_assets.layers.bronze.records import Batch
    from platform_assets.sources.batch import Committed, SourceBatch
    from platform_assets.sources.kafka.reader import ReceivedMessages, app_id

    path = work / "order-log.arrow"
    _spill(produced, count, path)
    with pa.OSFile(str(path), "rb") as source:
        log = pa.ipc.open_file(source)
        first = log.get_batch(0)
        typing, first_offset = _typing_comparison(contract, first), first.column("offset")[0].as_py()
        del first
        partition = app_id(TOPIC, 0)

        def fetch(committed: Committed) -> SourceBatch:
            stored = committed.offset_of(partition)
            index, misaligned = divmod(
                (first_offset if stored is None else stored + 1) - first_offset, INGEST_BATCH
            )
            assert not misaligned and index < log.num_record_batches, (stored, first_offset)
            batch = log.get_batch(index)
            offsets = batch.column("offset").to_pylist()
            received = ReceivedMessages(
                TOPIC,
                [0] * len(offsets),
                offsets,
                batch.column("key").to_pylist(),
                batch.column("value").to_pylist(),
            )
            more = index + 1 < log.num_record_batches
            return SourceBatch(records=received.payloads(), offsets={partition: offsets[-1]}, more=more)

        now = datetime.now(UTC)
        meta = Batch(now.date(), now, f"kafka:{TOPIC}", f"bench:{now.isoformat()}")
        landed = {"rows": 0, "dead": 0}

        def tally(_: SourceBatch, conformed: Any, dead: int) -> None:
            landed["rows"] += conformed.row_count
            landed["dead"] += dead

        started = time.perf_counter()
        commits = ingest_batches(lake, contract, meta, fetch, log.num_record_batches, tally)
        seconds = time.perf_counter() - started
    path.unlink()
    rows = landed["rows"]
    return {
        "rows": rows,
        "messages": count,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1) if seconds else None,
        "messages_per_second": round(count / seconds, 1) if seconds else None,
        "commits": commits,
        "peak_rss_mib": _peak_rss_mib(),
        "dead_letters": landed["dead"],
        "typing_first_batch": typing,
    }


def _typing_comparison(contract: Any, first: Any) -> dict[str, Any]:
    """Typing alone (no writes) of the first ingest batch (an Arrow record batch of the log) both
    ways, back to back: the batch path the platform runs, and the per-record path it replaced
    (``parse_message`` + ``conform_records``)."""
    from platform_assets.layers.bronze.batch_conform import conform_batch
    from platform_assets.layers.bronze.conform import conform_records
    from platform_assets.layers.bronze.field_checks import field_checks_for, field_shapes_for
    from platform_assets.layers.bronze.records import source_columns
    from platform_assets.sources.kafka.reader import ReceivedMessages, parse_message, position_label

    columns, checks = source_columns(contract), field_checks_for(contract.dataset)
    chunk = list(zip(*(first.column(name).to_pylist() for name in _LOG_SCHEMA), strict=True))
    started = time.perf_counter()
    records = [
        (position_label(TOPIC, 0, offset), parse_message(TOPIC, 0, offset, key, value))
        for offset, key, value in chunk
    ]
    per_record = conform_records(contract, records, columns, checks)
    per_record_seconds = time.perf_counter() - started
    del records
    started = time.perf_counter()
    received = ReceivedMessages(TOPIC)
    for offset, key, value in chunk:
        received.add(0, offset, key, value)
    batch = conform_batch(contract, received.payloads(), columns, checks, field_shapes_for(contract.dataset))
    batch_seconds = time.perf_counter() - started
    assert batch.row_count == len(per_record.rows) and batch.dead_letters == per_record.dead_letters
    return {
        "messages": len(chunk),
        "per_record_seconds": round(per_record_seconds, 3),
        "batch_seconds": round(batch_seconds, 3),
        "speedup": round(per_record_seconds / batch_seconds, 2),
    }


def run_benchmark(
    scales: list[float],
    days: int,
    seed: int,
    output: Path,
    reference: bool = False,
    bronze_only: bool = False,
) -> dict[str, Any]:
    """Each scale in its own process (a clean peak-memory figure); prints progress, writes ``output``."""
    from platform_assets.settings import PlatformSettings

    results = []
    for scale in scales:
        print(f"scale {scale:g}: measuring ...", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as handle:
            command = [sys.executable, "-m", __name__, "--scale", str(scale), "--days", str(days)]
            command += ["--seed", str(seed), "--out", handle.name] + (["--reference"] if reference else [])
            command += ["--bronze-only"] if bronze_only else []
            subprocess.run(command, check=True)
            figures = json.loads(Path(handle.name).read_text())
        results.append(figures)
        if bronze_only:
            bronze = figures["bronze"]
            print(
                f"scale {scale:g}: {figures['messages']} messages; bronze {bronze['rows']} rows in "
                f"{bronze['seconds']:.2f} s ({bronze['messages_per_second']} messages/s), "
                f"peak {bronze['peak_rss_mib']} MiB",
                flush=True,
            )
            continue
        print(
            f"scale {scale:g}: {figures['messages']} messages; "
            + "; ".join(
                f"{stage} {figures[stage]['rows']} rows in {figures[stage]['seconds']:.2f} s "
                f"({figures[stage]['rows_per_second']} rows/s)"
                for stage in (
                    "bronze",
                    "silver",
                    "gold",
                    "bronze_increment",
                    "silver_increment",
                    "gold_increment",
                )
            )
            + f"; gold increment {figures['gold_increment_fraction']:.1%} of the full build"
            + "; maintenance "
            + ", ".join(
                f"{name} {t['files_before']} -> {t['files_after']} files "
                f"(a one-customer query opens {t['query_files_opened_before']} -> "
                f"{t['query_files_opened_after']} files)"
                for name, t in figures["maintenance"]["tables"].items()
            )
            + f"; peak {figures['peak_rss_mib']} MiB",
            flush=True,
        )
        if "reference" in figures:
            ref = figures["reference"]
            print(
                f"scale {scale:g}: reference "
                + "; ".join(
                    f"{e} {ref[e]['seconds']:.2f} s, {ref[e]['peak_rss_mib']} MiB "
                    f"(platform x{ref[e]['ratios']['silver_seconds']} time, x{ref[e]['ratios']['peak_rss']} memory)"
                    for e in ("duckdb", "polars")
                )
                + f"; results identical: {ref['identical']}",
                flush=True,
            )
    document = {
        "benchmark": "orders: bronze ingest, silver change apply, gold facts and aggregates",
        "created_at": datetime.now(UTC).isoformat(),
        "engine": PlatformSettings.from_env().engine,
        "machine": machine(),
        "increment_fraction": INCREMENT_FRACTION,
        "results": results,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {output}")
    return document


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="one benchmark scale (used by `platform bench`)")
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--bronze-only", action="store_true")
    args = parser.parse_args(argv)
    figures = measure_scale(args.scale, args.days, args.seed, args.reference, args.bronze_only)
    args.out.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
