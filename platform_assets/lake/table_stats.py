"""Sizes from the Delta log (no data read): what a commit added, for cost per GB processed."""

from __future__ import annotations

import pyarrow as pa

from platform_assets.lake.delta_tables import open_table


def _files(table) -> dict[str, int]:
    actions = pa.table(table.get_add_actions(flatten=True))
    return dict(
        zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True)
    )


def bytes_added_by_latest_commit(uri: str, storage_options: dict[str, str] | None = None) -> int:
    """Bytes of the files the table's newest commit added (0 for a new or empty table)."""
    table = open_table(uri, storage_options)
    if table is None:
        return 0
    now = _files(table)
    if table.version() == 0:
        return int(sum(now.values()))
    table.load_as_version(table.version() - 1)
    before = _files(table)
    return int(sum(size for path, size in now.items() if path not in before))
