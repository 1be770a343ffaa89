"""Source positions committed in the same Delta commit as the data they describe (exactly-once).

Two kinds of position, both written atomically with the rows:
- integer positions (a Kafka offset per topic-partition, an LSN) as Delta *app transactions*
  (``txn`` actions: app id -> version), read back with ``DeltaTable.transaction_version``;
- structured positions (a watermark with the ids seen at it, the DMS files processed) as JSON in the
  commit's custom metadata under ``platform.positions``. Every positioned commit carries the whole
  merged set, plus an app transaction ``platform.positions`` whose version is the table version the
  writer read + 1: a lower bound of its own commit version. Reading looks only at the commits from
  that version on (normally exactly one), so no bounded history scan can forget a position.

Optimistic concurrency: a writer reads the positions (``read_positions``) and commits against that
snapshot. Every positioned commit carries the ``platform.positions`` app transaction, so delta-rs'
conflict checker refuses a commit when another positioned commit landed after the snapshot
(``PositionConflict``: re-read the positions and retry). Commits that carry no position (OPTIMIZE,
VACUUM) do not conflict. A run that crashes before its commit leaves neither the rows nor the
position; a run that crashes after it finds the position and resumes from there. Sources are
acknowledged only afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, DeltaError

from platform_assets.lake.delta_tables import open_table

POSITIONS_KEY = "platform.positions"
POSITIONS_APP = "platform.positions"  # app transaction: where the newest positions commit starts
# Positioned appends are append-only logs (bronze, its dead letters and replays, the quality results,
# the alert log); in bronze, where the volume is, the text is mostly distinct per row. Dictionary
# encoding was about half of delta-rs' write of a 100K-event bronze batch, for files as large with
# snappy (10.2 against 10.3 MB). The chunk and page statistics stay, so the log's file stats and the
# readers' page pruning are unchanged (docs/performance.md).
APPEND_WRITER = WriterProperties(
    compression="SNAPPY",  # delta-rs' default, restated: a WriterProperties without it writes uncompressed
    default_column_properties=ColumnProperties(dictionary_enabled=False, statistics_enabled="PAGE"),
)


class PositionConflict(RuntimeError):
    """Another writer committed positions to the table after this writer read them (retryable)."""

    transient = True  # a step retry re-reads the positions (layers/retries.py)


@dataclass(frozen=True)
class PositionSnapshot:
    """The positions of a table as of one version; a commit against it fails if they moved since."""

    uri: str
    table: DeltaTable | None  # None: the table does not exist yet
    positions: dict[str, Any] = field(default_factory=dict)

    def offset(self, app_id: str) -> int | None:
        return None if self.table is None else self.table.transaction_version(app_id)

    @property
    def version(self) -> int | None:
        return None if self.table is None else self.table.version()


def read_positions(uri: str, storage_options: dict[str, str] | None = None) -> PositionSnapshot:
    """The table's committed positions, pinned to the version they were read at."""
    table = open_table(uri, storage_options)
    if table is None:
        return PositionSnapshot(uri, None)
    return PositionSnapshot(uri, table, _structured_positions(uri, table))


def _structured_positions(uri: str, table: DeltaTable) -> dict[str, Any]:
    start = table.transaction_version(POSITIONS_APP)
    if start is None:
        # written before the pointer existed (or never positioned): the newest commit carrying them
        commits = table.history()
    else:
        commits = [c for c in table.history(table.version() - start + 1) if c.get("version", start) >= start]
        if not any(POSITIONS_KEY in c for c in commits):
            raise RuntimeError(
                f"{uri}: the commit holding the positions (version {start} or later) is no longer in the "
                "Delta log; restore the log or re-seed the positions before ingesting again"
            )
    for commit in commits:
        if POSITIONS_KEY in commit:
            return json.loads(commit[POSITIONS_KEY])
    return {}


def append_with_positions(
    uri: str,
    data: pa.Table,
    *,
    partition_by: Sequence[str] | None = None,
    offsets: Mapping[str, int] | None = None,
    positions: Mapping[str, Any] | None = None,
    commit_metadata: Mapping[str, str] | None = None,
    storage_options: dict[str, str] | None = None,
    read: PositionSnapshot | None = None,
) -> int:
    """Append ``data`` and record the source positions in the same commit; returns the version.

    ``read`` is the snapshot the writer based its work on (read now when omitted): the commit fails
    with ``PositionConflict`` if any other positioned commit landed after it. ``offsets`` become app
    transactions (each must be higher than the one stored). ``positions`` are merged over the stored
    structured positions, so one source's commit keeps the others' entries.
    """
    snapshot = read if read is not None else read_positions(uri, storage_options)
    for app_id, offset in (offsets or {}).items():
        stored = snapshot.offset(app_id)
        if stored is not None and offset <= stored:
            raise ValueError(
                f"{uri}: position {app_id}={offset} is not after the committed {stored}; "
                "another writer got there first, re-read the positions and retry"
            )
    metadata: dict[str, str] = dict(commit_metadata or {})
    metadata[POSITIONS_KEY] = json.dumps(
        {**snapshot.positions, **(positions or {})}, sort_keys=True, default=str
    )
    pointer = 0 if snapshot.version is None else snapshot.version + 1
    transactions = [Transaction(app_id=POSITIONS_APP, version=pointer)]
    transactions += [Transaction(app_id=k, version=int(v)) for k, v in (offsets or {}).items()]
    try:
        write_deltalake(
            snapshot.table if snapshot.table is not None else uri,
            data,
            # a new table is created only if still absent: losing the creation race is a conflict
            mode="append" if snapshot.table is not None else "error",
            partition_by=list(partition_by) if partition_by else None,
            schema_mode="merge",
            storage_options=storage_options or None,
            writer_properties=APPEND_WRITER,
            commit_properties=CommitProperties(
                custom_metadata=metadata,
                app_transactions=transactions,
                # delta-rs would retry a lost creation as version 1 without any conflict
                max_commit_retries=None if snapshot.table is not None else 0,
            ),
        )
    except CommitFailedError as exc:
        raise PositionConflict(
            f"{uri}: another writer committed positions after version {snapshot.version} was read ({exc}); "
            "re-read the positions and retry"
        ) from exc
    except DeltaError as exc:
        if snapshot.table is None and open_table(uri, storage_options) is not None:
            raise PositionConflict(f"{uri}: another writer created the table first ({exc})") from exc
        raise
    if snapshot.table is not None:
        return snapshot.table.version()  # delta-rs moved the snapshot to the version it committed
    written = open_table(uri, storage_options)
    assert written is not None
    return written.version()


def committed_offset(uri: str, app_id: str, storage_options: dict[str, str] | None = None) -> int | None:
    """The integer position committed for ``app_id`` (None when the table or the id is new)."""
    table = open_table(uri, storage_options)
    return None if table is None else table.transaction_version(app_id)


def committed_positions(uri: str, storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """The structured positions of the table's newest positioned commit ({} when none)."""
    return read_positions(uri, storage_options).positions
