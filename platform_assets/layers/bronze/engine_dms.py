"""Bronze on the engine (``ingest: engine``) for DMS files: read and typed by Spark, committed as today.

The batch is the process path's (``dms_batch.plan_dms_batch``: the files the committed position has not
processed, in DMS order, at most ``max_files``). Spark reads exactly those files (``binaryFile``, from a
folder or from ``s3a://``: the store's ``hadoop_uri``), spread over the executors; each task parses its
files with the process path's reader (``dms_batch.file_records``) and types them by the contract with
the process path's code, one piece per file ordered by the file's place in the plan
(``engine_conform.py``). The driver merges the pieces and the bronze factory commits the rows with the
processed files as the position in ONE commit, exactly as for the process path.

A file the reader refuses (``DmsFileError``: malformed CSV, a missing column, a bad header) does not fail
the Spark job: its task sends the error back and the driver raises the first one in DMS order, so the
run fails with the process path's message, naming the file and row, and commits nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze import engine_conform
from platform_assets.layers.bronze.batch_conform import conform_by_contract
from platform_assets.layers.bronze.dms_batch import (
    DmsPlan,
    file_records,
    landing_store,
    plan_dms_batch,
    table_columns,
)
from platform_assets.layers.bronze.engine_conform import Piece
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.dms.reader import BytesFileStore, DmsFile, DmsFileError, FileStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_UNLISTED = datetime(1970, 1, 1, tzinfo=UTC)  # an executor's copy of a file needs no listing stamp


def dms_frame(spark: SparkSession, store: FileStore, files: list[DmsFile]) -> DataFrame:
    """The planned files' bytes through Spark's ``binaryFile`` source (one row per file: path, content)."""
    paths = [store.hadoop_uri(f.key) for f in files]
    return spark.read.format("binaryFile").load(paths).select("path", "content")


def conform_files_task(contract: Contract, files: list[DmsFile]) -> engine_conform.Task:
    """The executor side: each file of the task parsed and typed by the contract, as the process does."""
    # only names and kinds go to the executors (not the store, which may hold credentials)
    planned = {f.name: (index, f.key, f.is_full_load) for index, f in enumerate(files)}
    columns = tuple(table_columns(contract))

    def conform(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pieces: list[Piece] = []
        for batch in batches:
            for path, content in zip(
                batch.column("path").to_pylist(), batch.column("content").to_pylist(), strict=True
            ):
                name = path.rsplit("/", 1)[-1]
                index, key, full_load = planned[name]
                file = DmsFile(key, name, _UNLISTED, len(content), full_load, BytesFileStore({key: content}))
                try:
                    records = file_records(file, columns)
                except DmsFileError as exc:
                    pieces.append(Piece(index, 0, None, {"error": [exc.file, exc.detail, exc.row]}))
                    continue
                pieces.append(Piece(index, 0, conform_by_contract(contract, records)))
        if pieces:
            yield engine_conform.piece_batch(pieces)

    return conform


def batch_from_pieces(plan: DmsPlan, pieces: list[Piece], position_key: str) -> SourceBatch:
    """The driver side: the files' pieces (in plan order) as the batch the bronze factory commits."""
    for piece in pieces:  # the first file the reader refused, in DMS order, fails the run as it would here
        if "error" in piece.info:
            file, detail, row = piece.info["error"]
            raise DmsFileError(file, detail, row)
    missing = sorted(set(range(len(plan.files))) - {p.major for p in pieces})
    if missing:
        raise DmsFileError(
            plan.files[missing[0]].key, "was planned but the engine did not read it (gone since the listing?)"
        )
    conformed = engine_conform.merge_conformed([p.conformed for p in pieces if p.conformed is not None])
    return SourceBatch(records=[], positions={position_key: plan.position()}, conformed=conformed)


def read_dms_on_engine(
    spark: SparkSession,
    landing: Path | str | FileStore,
    contract: Contract,
    committed: Committed,
    position_key: str,
    max_files: int,
    log: Callable[[str], None] | None = None,
) -> SourceBatch:
    """The next pending files read and typed on the engine; the bronze factory commits them."""
    store = landing_store(landing)
    plan = plan_dms_batch(store, committed, position_key, max_files)
    if not plan.files:
        return SourceBatch(records=[])
    frame = dms_frame(spark, store, plan.files)
    pieces = engine_conform.run_on_executors(frame, conform_files_task(contract, plan.files))
    batch = batch_from_pieces(plan, pieces, position_key)
    if log is not None:
        log(f"{plan.describe()}; {batch.conformed.received} change(s) read and typed on the engine")
    return batch
