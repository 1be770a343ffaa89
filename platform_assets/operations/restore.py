"""Point-in-time recovery with delta-rs ``restore``, source positions included.

A restore commit brings back the files of an earlier version, but not what the platform keeps beside
them in the log: the integer positions (Delta app transactions, e.g. Kafka offsets) and the structured
positions (``platform.positions`` in commit metadata, read from the newest commit carrying it). So the
restore commit here also carries both, as they were at the target version: ingestion then resumes right
after the restored data, with nothing lost and nothing ingested twice. An app id that did not exist at
the target version is set to -1 (a Delta txn cannot be removed), which readers take as "before offset 0".

Each table a lake restore changes is a ``restore`` row in ``ops/audit_log``, written right after its
restore commit. The audit log itself is never restored: it is append-only, and restoring it would
rewind the history of what was done (the restores included).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction

from platform_assets.lake.audit_log import AUDIT_TABLE, audit_write
from platform_assets.lake.delta_tables import row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import POSITIONS_APP, POSITIONS_KEY
from platform_assets.lake.storage import filesystem, list_files, read_bytes, table_uris

LOG_DIR = "_delta_log"
NO_POSITION = -1


@dataclass(frozen=True)
class RestoreOutcome:
    table: str
    from_version: int
    to_version: int | None  # None: the table did not exist at the requested time
    new_version: int | None
    positions_reset: dict[str, int]


def app_ids(uri: str, storage_options: dict[str, str] | None = None) -> set[str]:
    """Every app id that ever had a transaction in the table's log (JSON commits and checkpoints)."""
    ids: set[str] = set()
    for path in list_files(f"{uri.rstrip('/')}/{LOG_DIR}", storage_options):
        if path.endswith(".json") and "/" not in path and path[0].isdigit():
            for line in read_bytes(f"{uri.rstrip('/')}/{LOG_DIR}", path, storage_options).splitlines():
                action = json.loads(line)
                if "txn" in action:
                    ids.add(action["txn"]["appId"])
        elif path.endswith(".checkpoint.parquet"):
            fs, base = filesystem(f"{uri.rstrip('/')}/{LOG_DIR}", storage_options)
            table = pq.read_table(f"{base}/{path}", columns=["txn"], filesystem=fs)
            ids.update(t["appId"] for t in table.column("txn").to_pylist() if t)
    return ids


def version_at(table: DeltaTable, when: datetime) -> int | None:
    """The newest version committed at or before ``when`` (None if the table is younger)."""
    cutoff = when.timestamp() * 1000
    versions = [c["version"] for c in table.history() if c["timestamp"] <= cutoff]
    return max(versions) if versions else None


def _positions_at(table: DeltaTable, version: int) -> str | None:
    """The structured positions as of ``version`` (JSON), "{}" if none then, None if the table never had any."""
    commits = table.history()
    if not any(POSITIONS_KEY in c for c in commits):
        return None
    for commit in sorted(commits, key=lambda c: c["version"], reverse=True):
        if commit["version"] <= version and POSITIONS_KEY in commit:
            return commit[POSITIONS_KEY]
    return "{}"


def restore_table(
    uri: str,
    *,
    to_version: int | None = None,
    to_time: datetime | None = None,
    storage_options: dict[str, str] | None = None,
    name: str | None = None,
) -> RestoreOutcome:
    """Restore one table to a version or a time (exactly one of them), positions included."""
    if (to_version is None) == (to_time is None):
        raise ValueError("restore needs exactly one of to_version and to_time")
    table = DeltaTable(uri, storage_options=storage_options or None)
    current = table.version()
    target = to_version if to_version is not None else version_at(table, to_time)  # type: ignore[arg-type]
    label = name or uri
    if target is None:
        return RestoreOutcome(label, current, None, None, {})
    if not 0 <= target <= current:
        raise ValueError(f"{label}: version {target} is not between 0 and the current version {current}")
    if target == current:
        return RestoreOutcome(label, current, target, current, {})
    then = DeltaTable(uri, version=target, storage_options=storage_options or None)
    resets: dict[str, int] = {}
    for app_id in sorted(app_ids(uri, storage_options) - {POSITIONS_APP}):
        old, now = then.transaction_version(app_id), table.transaction_version(app_id)
        old = NO_POSITION if old is None else old
        if old != now:
            resets[app_id] = old
    metadata = {"platform.restored_from_version": str(current), "platform.restored_to_version": str(target)}
    positions = _positions_at(table, target)
    transactions = [Transaction(app_id=k, version=v) for k, v in resets.items()]
    if positions is not None:
        metadata[POSITIONS_KEY] = positions
        # the restore commit is now the newest positioned commit: point the positions pointer at it
        # (lake/positions.py), which also makes a concurrent positioned commit conflict with it
        transactions.append(Transaction(app_id=POSITIONS_APP, version=current + 1))
    table.restore(
        target, commit_properties=CommitProperties(custom_metadata=metadata, app_transactions=transactions)
    )
    return RestoreOutcome(label, current, target, table.version(), resets)


def _uri(lake: Lake, table: str) -> str:
    return f"{lake.root.rstrip('/')}/{table}"  # any zone: quarantine/ and ops/ tables too


def _audit_restore(lake: Lake, outcome: RestoreOutcome) -> None:
    """A ``restore`` audit row for a table the restore changed: versions, rows now, positions reset."""
    if outcome.to_version is None or outcome.new_version == outcome.from_version:
        return
    resets = ", ".join(f"{k}={v}" for k, v in outcome.positions_reset.items()) or "none"
    audit_write(
        lake,
        "restore",
        role="operator",
        datasets=[outcome.table],
        statement=f"restore {outcome.table} to version {outcome.to_version} (was {outcome.from_version})",
        row_count=row_count(_uri(lake, outcome.table), lake.storage_options),
        reason=f"new version {outcome.new_version}; positions reset: {resets}",
    )


def restore_lake_table(
    lake: Lake, table: str, *, to_version: int | None = None, to_time: datetime | None = None
) -> RestoreOutcome:
    """Restore one table of the lake (``silver/orders``) and audit it."""
    if table == AUDIT_TABLE:
        raise ValueError(f"{AUDIT_TABLE} is append-only and is never restored")
    outcome = restore_table(
        _uri(lake, table),
        to_version=to_version,
        to_time=to_time,
        storage_options=lake.storage_options,
        name=table,
    )
    _audit_restore(lake, outcome)
    return outcome


def restore_all(
    root: str, to_time: datetime, storage_options: dict[str, str] | None = None
) -> list[RestoreOutcome]:
    """Every table under the lake root but the audit log to its state at ``to_time`` (UTC if naive)."""
    when = to_time if to_time.tzinfo else to_time.replace(tzinfo=UTC)
    lake = Lake(root, storage_options)
    tables = [t for t in table_uris(root, storage_options) if t != AUDIT_TABLE]
    return [restore_lake_table(lake, t, to_time=when) for t in tables]
