"""A DMS batch as bronze receives it, on either path: which files it reads, and each file's records.

Both ``ingest: process`` (``rds_customers.read_dms_batch``) and ``ingest: engine`` (``engine_dms.py``)
plan with ``plan_dms_batch`` (the files the committed position has not processed, in DMS order, at most
``max_files``; the position to commit with them) and turn a file into bronze records with
``file_records``, so both give the same rows, dead letters, positions and file errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.records import source_columns
from platform_assets.sources.batch import Committed
from platform_assets.sources.dms.discovery import ProcessedFiles
from platform_assets.sources.dms.reader import DmsFile, FileStore, LocalFileStore, list_files, read_changes

BRONZE_ADDED = ("Op", "_dms_commit_ts", "_dms_file", "_dms_row")  # what bronze adds to the table's columns


def bronze_record(change: dict) -> dict:
    """DMS record -> bronze fields: Op and commit time under their DMS names, plus file and row."""
    record = {k: v for k, v in change.items() if k not in ("op", "commit_ts", "_file", "_row")}
    record.update(
        Op=change["op"],
        _dms_commit_ts=change["commit_ts"],
        _dms_file=change["_file"],
        _dms_row=change["_row"],
    )
    return record


def table_columns(contract: Contract) -> list[str]:
    """The source table's columns a DMS file must carry: the contract's, less what bronze adds."""
    return [c for c in source_columns(contract) if c not in BRONZE_ADDED]


def file_records(file: DmsFile, columns: tuple[str, ...] = ()) -> list[tuple[str, dict[str, Any]]]:
    """The file's changes as (position, bronze record) pairs; ``DmsFileError`` if it cannot be read."""
    return [
        (f"{file.name}:{c['_row']}", bronze_record(c)) for c in read_changes(file, required_columns=columns)
    ]


@dataclass(frozen=True)
class DmsPlan:
    files: list[DmsFile]  # to read, in DMS order
    listed: list[DmsFile]
    processed: ProcessedFiles  # as committed

    def position(self) -> dict[str, Any]:
        """The processed files once ``files`` are committed."""
        return self.processed.after_reading(self.files, self.listed).to_json()

    def describe(self) -> str:
        return f"{len(self.files)} DMS file(s) of {len(self.listed)} listed: {[f.name for f in self.files]}"


def landing_store(landing: Path | str | FileStore) -> FileStore:
    """A folder (the table's landing prefix) as a store, or the store given."""
    return LocalFileStore(Path(landing)) if isinstance(landing, Path | str) else landing


def plan_dms_batch(
    landing: Path | str | FileStore, committed: Committed, position_key: str, max_files: int
) -> DmsPlan:
    """The pending files after the committed position, in DMS order, at most ``max_files``."""
    processed = ProcessedFiles.from_json(committed.positions.get(position_key))
    listed = list_files("", landing_store(landing))
    return DmsPlan(processed.pending(listed)[:max_files], listed, processed)
