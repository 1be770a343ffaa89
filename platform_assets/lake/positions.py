"""Source positions committed in the same Delta commit as the data they describe (exactly-once).

Two kinds of position, both written atomically with the rows:
- integer positions (a Kafka offset per topic-partition, an LSN) as Delta *app transactions*
  (``txn`` actions: app id -> version), read back with ``DeltaTable.transaction_version``;
- structured positions (a watermark with the ids seen at it, the last DMS file) as JSON in the
  commit's custom metadata under ``platform.positions``, read back from the newest commit carrying it.

A run that crashes before its commit leaves neither the rows nor the position; a run that crashes
after it finds the position and resumes from there. Sources are acknowledged only afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, Transaction, write_deltalake

from platform_assets.lake.delta_tables import open_table

POSITIONS_KEY = "platform.positions"
HISTORY_SCAN_LIMIT = 1000  # commits to look back for structured positions before giving up


def append_with_positions(
    uri: str,
    data: pa.Table,
    *,
    partition_by: Sequence[str] | None = None,
    offsets: Mapping[str, int] | None = None,
    positions: Mapping[str, Any] | None = None,
    commit_metadata: Mapping[str, str] | None = None,
    storage_options: dict[str, str] | None = None,
) -> int:
    """Append ``data`` and record the source positions in the same commit; returns the version.

    ``offsets`` become app transactions (each must be higher than the one stored: a stale writer
    is refused rather than allowed to move a position backwards). ``positions`` are merged over
    the last stored structured positions, so one source's commit keeps the others' entries.
    """
    table = open_table(uri, storage_options)
    for app_id, offset in (offsets or {}).items():
        stored = table.transaction_version(app_id) if table is not None else None
        if stored is not None and offset <= stored:
            raise ValueError(
                f"{uri}: position {app_id}={offset} is not after the committed {stored}; "
                "another writer got there first, re-read the positions and retry"
            )
    metadata: dict[str, str] = dict(commit_metadata or {})
    if positions:
        merged = {**committed_positions(uri, storage_options), **positions}
        metadata[POSITIONS_KEY] = json.dumps(merged, sort_keys=True, default=str)
    write_deltalake(
        uri,
        data,
        mode="append",
        partition_by=list(partition_by) if partition_by else None,
        schema_mode="merge",
        storage_options=storage_options or None,
        commit_properties=CommitProperties(
            custom_metadata=metadata,
            app_transactions=[Transaction(app_id=k, version=int(v)) for k, v in (offsets or {}).items()],
        ),
    )
    written = open_table(uri, storage_options)
    assert written is not None
    return written.version()


def committed_offset(uri: str, app_id: str, storage_options: dict[str, str] | None = None) -> int | None:
    """The integer position committed for ``app_id`` (None when the table or the id is new)."""
    table = open_table(uri, storage_options)
    return None if table is None else table.transaction_version(app_id)


def committed_positions(uri: str, storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """The structured positions of the newest commit that carries them ({} when none does)."""
    table = open_table(uri, storage_options)
    if table is None:
        return {}
    for commit in table.history(HISTORY_SCAN_LIMIT):
        if POSITIONS_KEY in commit:
            return json.loads(commit[POSITIONS_KEY])
    return {}
