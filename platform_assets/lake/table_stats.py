"""What one commit of a Delta table did, read from its own log entry (whatever the table's history)."""

from __future__ import annotations

import json

from platform_assets.lake.storage import read_bytes


def commit_actions(uri: str, version: int, storage_options: dict[str, str] | None = None) -> list[dict]:
    """The actions (add, remove, commitInfo...) of commit ``version``: one log entry read."""
    raw = read_bytes(uri, f"_delta_log/{version:020d}.json", storage_options)
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def bytes_added_by_commit(uri: str, version: int, storage_options: dict[str, str] | None = None) -> int:
    """Bytes of the files commit ``version`` added."""
    return sum(
        int(a["add"].get("size") or 0) for a in commit_actions(uri, version, storage_options) if "add" in a
    )
