"""Disaster recovery: incremental replication of the lake to a second root, and its measurement.

Per table, replication copies first the data files that the new versions add (and, for a replica
seeded from a source whose old log was cleaned up, the files of the newest snapshot), then the log
entries in version order, ``_last_checkpoint`` last. A reader of the replica therefore always finds a
consistent Delta table at some version: every file a log entry names is there before the entry.

RPO for a table is the age of the oldest source commit the replica does not have yet (what a loss of
the primary right now would lose, back to that moment); 0 when the replica is current.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

from platform_assets.lake.storage import copy_file, list_files, read_bytes, table_uris

LOG_DIR = "_delta_log"
_VERSION_FILE = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet|crc)$")


@dataclass(frozen=True)
class TableReplication:
    table: str
    source_version: int
    replica_version: int  # after this pass (-1: nothing yet)
    files_copied: int
    bytes_copied: int
    lag_versions: int
    rpo_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _log_versions(uri: str, storage_options: dict[str, str] | None) -> dict[str, int]:
    """Log file name -> the version it belongs to (commits, checkpoints, crc files)."""
    found = {}
    for name in list_files(_join(uri, LOG_DIR), storage_options):
        match = _VERSION_FILE.match(name)
        if match:
            found[name] = int(match.group(1))
    return found


def committed_version(uri: str, storage_options: dict[str, str] | None = None) -> int:
    """The newest commit in a table's log (-1: no table there)."""
    versions = [v for n, v in _log_versions(uri, storage_options).items() if n.endswith(".json")]
    return max(versions, default=-1)


def _commit_adds(uri: str, name: str, storage_options: dict[str, str] | None) -> set[str]:
    adds = set()
    for line in read_bytes(_join(uri, LOG_DIR), name, storage_options).splitlines():
        action = json.loads(line)
        for kind in ("add", "cdc"):
            if kind in action:
                adds.add(unquote(action[kind]["path"]))
    return adds


def _commit_times(uri: str, storage_options: dict[str, str] | None, after: int) -> dict[int, float]:
    """Commit timestamps (epoch seconds) of the versions after ``after``."""
    table = DeltaTable(uri, storage_options=storage_options or None)
    return {c["version"]: c["timestamp"] / 1000 for c in table.history() if c["version"] > after}


def replication_rpo(
    source_uri: str,
    replica_version: int,
    source_options: dict[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[int, float]:
    """Versions the replica lacks and the age in seconds of the oldest of them (0, 0.0 when current)."""
    source_version = committed_version(source_uri, source_options)
    if source_version <= replica_version:
        return 0, 0.0
    times = _commit_times(source_uri, source_options, replica_version)
    oldest = min(times.values()) if times else (now or datetime.now(UTC)).timestamp()
    age = (now or datetime.now(UTC)).timestamp() - oldest
    return source_version - replica_version, round(max(age, 0.0), 3)


def _copy_last_checkpoint(
    source_uri: str,
    replica_uri: str,
    target: int,
    source_options: dict[str, str] | None,
    replica_options: dict[str, str] | None,
) -> None:
    """``_last_checkpoint`` only when the checkpoint it names is in the replica (<= the target version)."""
    name = f"{LOG_DIR}/_last_checkpoint"
    try:
        pointer = json.loads(read_bytes(source_uri, name, source_options))
    except (FileNotFoundError, OSError):
        return
    if int(pointer["version"]) <= target:
        copy_file(source_uri, replica_uri, name, source_options, replica_options)


def replicate_table(
    source_uri: str,
    replica_uri: str,
    source_options: dict[str, str] | None = None,
    replica_options: dict[str, str] | None = None,
    name: str | None = None,
) -> TableReplication:
    """Bring the replica of one table up to the source's newest version (as listed at the start)."""
    source_log = _log_versions(source_uri, source_options)
    replica_log = _log_versions(replica_uri, replica_options)
    commits = {v for n, v in source_log.items() if n.endswith(".json")}
    target = max(commits, default=-1)
    have = max((v for n, v in replica_log.items() if n.endswith(".json")), default=-1)
    files = bytes_copied = 0
    if target > have:
        needed: set[str] = set()
        for log_name, version in source_log.items():
            if version > have and log_name.endswith(".json"):
                needed |= _commit_adds(source_uri, log_name, source_options)
        if have < min(commits):  # the source's early log is cleaned up: seed from the snapshot
            snapshot = DeltaTable(source_uri, version=target, storage_options=source_options or None)
            paths = pa.table(snapshot.get_add_actions(flatten=True)).column("path").to_pylist()
            needed |= {unquote(p) for p in paths}
        source_files = list_files(source_uri, source_options)
        replica_files = list_files(replica_uri, replica_options)
        for path in sorted(needed):
            info = source_files.get(path)
            if info is None or (path in replica_files and replica_files[path].size == info.size):
                continue  # vacuumed in the source (no version of the replica can need it), or copied
            bytes_copied += copy_file(source_uri, replica_uri, path, source_options, replica_options)
            files += 1
        pending = sorted(
            (v, 0 if n.endswith(".json") else 1, n)
            for n, v in source_log.items()
            if v <= target and n not in replica_log and (v > have or not n.endswith(".json"))
        )
        for _, _, log_name in pending:  # a version's commit before its checkpoint
            copy_file(source_uri, replica_uri, f"{LOG_DIR}/{log_name}", source_options, replica_options)
            files += 1
        _copy_last_checkpoint(source_uri, replica_uri, target, source_options, replica_options)
        have = target
    lag, rpo = replication_rpo(source_uri, have, source_options)
    return TableReplication(name or source_uri, target, have, files, bytes_copied, lag, rpo)


def replicate_lake(
    source_root: str,
    replica_root: str,
    source_options: dict[str, str] | None = None,
    replica_options: dict[str, str] | None = None,
) -> list[TableReplication]:
    """Every Delta table under the source root, replicated under the same relative path."""
    return [
        replicate_table(
            _join(source_root, t), _join(replica_root, t), source_options, replica_options, name=t
        )
        for t in table_uris(source_root, source_options)
    ]
