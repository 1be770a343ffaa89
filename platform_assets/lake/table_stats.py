"""Sizes from the Delta log (no data read): what a commit added, for cost per GB processed."""

from __future__ import annotations

import json

from platform_assets.lake.storage import read_bytes


def bytes_added_by_commit(uri: str, version: int, storage_options: dict[str, str] | None = None) -> int:
    """Bytes of the files commit ``version`` added: its own log entry, whatever the table's size."""
    raw = read_bytes(uri, f"_delta_log/{version:020d}.json", storage_options)
    actions = (json.loads(line) for line in raw.splitlines() if line.strip())
    return sum(int(a["add"].get("size") or 0) for a in actions if "add" in a)
