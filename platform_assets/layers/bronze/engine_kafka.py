"""Bronze on the engine (``ingest: engine``): a Kafka batch read and typed by Spark, committed as today.

The batch is the process path's (``sources/kafka/reader.plan_batch``): after the offsets stored in the
table, bounded by the end offsets seen at the start and ``max_messages`` per partition. Spark's Kafka
source (``spark-sql-kafka``) reads exactly those offset ranges (``assign`` + ``startingOffsets`` /
``endingOffsets``), spread over the executors (one task per topic-partition, more with
``min_partitions``); each task types its messages by the contract with the same code as the process
path (``batch_conform.conform_by_contract``, in a ``mapInArrow`` on the executor) and sends back its
typed rows, dead letters and drift evidence; the driver merges the tasks' results in (partition, offset)
order (``engine_conform.py``, shared with the DMS files' engine path), and the bronze factory commits them with the offsets as Delta app transactions in ONE commit
(``incremental_asset._ingest_once``), exactly as for the process path: same protocol, same tables.

Why the commit is made from the driver with delta-rs rather than by Spark's Delta writer: a Spark Delta
write carries at most one app transaction (``txnAppId``/``txnVersion``), while the protocol stores one
per topic-partition plus the ``platform.positions`` pointer that makes concurrent runs conflict. The
typed rows of one bounded batch pass through the driver as Arrow; the CPU work (decoding, typing,
dead-lettering) is what runs on the workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.batch_conform import conform_by_contract
from platform_assets.layers.bronze.engine_conform import (
    Piece,
    Task,
    merge_conformed,
    piece_batch,
    run_on_executors,
)
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.kafka.reader import KafkaTopic, ReceivedMessages, acknowledger, plan_batch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def java_kafka_security(security: Mapping[str, str]) -> dict[str, str]:
    """The source's librdkafka security settings as the Java client's (Spark's ``kafka.`` options): the
    same protocol, host-name check and CA (a PEM trust store), so the engine verifies as the process does."""
    options = {}
    if "security.protocol" in security:
        options["kafka.security.protocol"] = security["security.protocol"]
    if "ssl.endpoint.identification.algorithm" in security:
        options["kafka.ssl.endpoint.identification.algorithm"] = security[
            "ssl.endpoint.identification.algorithm"
        ]
    if "ssl.ca.location" in security:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = security["ssl.ca.location"]
    return options


def kafka_frame(
    spark: SparkSession, source: KafkaTopic, ranges: dict[int, tuple[int, int]], min_partitions: int = 0
) -> DataFrame:
    """The messages of ``ranges`` ([first, end) per partition) through Spark's Kafka source."""
    topic = source.topic
    reader = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", source.bootstrap_servers)
        .option("assign", json.dumps({topic: sorted(ranges)}))
        .option("startingOffsets", json.dumps({topic: {str(p): r[0] for p, r in ranges.items()}}))
        .option("endingOffsets", json.dumps({topic: {str(p): r[1] for p, r in ranges.items()}}))
        .option("failOnDataLoss", "true")  # an offset gone between plan and read fails the run
        .options(**java_kafka_security(source.security))
    )
    if min_partitions:
        reader = reader.option("minPartitions", str(min_partitions))
    return reader.load().select("partition", "offset", "key", "value")


def conform_task(contract: Contract, topic: str) -> Task:
    """The executor side: type one task's messages by the contract, as the process path does."""

    def conform(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        table = table.sort_by([("partition", "ascending"), ("offset", "ascending")])
        received = ReceivedMessages(
            topic, *(table.column(n).to_pylist() for n in ("partition", "offset", "key", "value"))
        )
        conformed = conform_by_contract(contract, received.payloads())
        # a task reads one partition's range: ordered by (partition, first offset), its last offset noted
        info = {"last_offset": received.offsets[-1]}
        yield piece_batch([Piece(received.partitions[0], received.offsets[0], conformed, info)])

    return conform


def read_on_engine(
    spark: SparkSession,
    source: KafkaTopic,
    contract: Contract,
    committed: Committed,
    log: Callable[[str], None] = lambda message: None,
    min_partitions: int = 0,
) -> SourceBatch:
    """The next bounded batch read and typed on the engine; the bronze factory commits it."""
    plan = plan_batch(source, committed, log)
    if not plan.ranges:  # still acknowledged: the group's offsets catch up with the table's
        return SourceBatch(records=[], acknowledge=acknowledger(source, plan.stored, {}))
    frame = kafka_frame(spark, source, plan.ranges, min_partitions)
    pieces = run_on_executors(frame, conform_task(contract, source.topic))
    conformed = merge_conformed([p.conformed for p in pieces if p.conformed is not None])
    # the last message read per partition, as the process path stores it
    last: dict[int, int] = {}
    for piece in pieces:
        last[piece.major] = max(piece.info["last_offset"], last.get(piece.major, piece.info["last_offset"]))
    offsets = {f"{source.topic}-{p}": o for p, o in last.items()}
    if conformed.received != sum(end - first for first, end in plan.ranges.values()):
        log(
            f"{source.topic}: {conformed.received} message(s) for "
            f"{sum(end - first for first, end in plan.ranges.values())} planned offsets (control records)"
        )
    log(f"{source.topic}: {conformed.received} message(s) read and typed on the engine, through {offsets}")
    return SourceBatch(
        records=[],
        offsets=offsets,
        acknowledge=acknowledger(source, plan.stored, last),
        conformed=conformed,
    )
