"""What one materialization cost: bytes read and written, files written, rows, compute seconds.

Measured, not estimated, from what the run left behind:
- files and bytes written: the add actions of the table's commits made since the step started (read
  from those commits' log entries, so several commits of one run all count);
- bytes read: the live bytes of the upstream tables (the contract's ``upstream``) plus, for a rewrite
  (merge, partition replace), the bytes of the files its commits removed; an upper bound, since
  partition and file pruning read less;
- compute seconds: wall time since the step started (its STEP_START event).
Outside a Dagster step (a direct call) the window is unknown and only the last commit counts.

One report can become several materialization events (a result for a partition range is recorded
once per partition); ``cost/report_id`` identifies it, so ``ops/cost`` counts it once. A step that
reports several materializations (one per partition of a range) counts each commit and
each second once: the first report takes what happened so far, the next ones only what came after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pyarrow as pa
from deltalake import DeltaTable

from platform_assets.contracts.model import Contract
from platform_assets.lake.location import Lake
from platform_assets.lake.table_stats import commit_actions

COST_PREFIX = "cost/"
HISTORY_LIMIT = 200  # at most this many commits looked at for a step's own (a step makes a handful)


# (run id, step key) -> (time reported up to, commit versions already counted per table)
_reported: dict[tuple[str, str], tuple[float, dict[str, set[int]]]] = {}


def _step() -> tuple[tuple[str, str], float] | None:
    """The current Dagster step and when it started (epoch seconds), or None outside one."""
    import dagster as dg

    try:
        context = dg.OpExecutionContext.get()
    except Exception:  # no Dagster context: called from a script or a test
        return None
    if context is None:
        return None
    step_key = context.get_step_execution_context().step.key
    records = context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.STEP_START
    ).records
    starts = [r.event_log_entry.timestamp for r in records if r.event_log_entry.step_key == step_key]
    return ((context.run_id, step_key), max(starts)) if starts else None


def live_bytes(uri: str, storage_options: dict[str, str]) -> int:
    try:
        table = DeltaTable(uri, storage_options=storage_options or None)
    except Exception:  # not written yet
        return 0
    return int(sum(pa.table(table.get_add_actions(flatten=True)).column("size_bytes").to_pylist()))


def _commits_since(
    uri: str, newest: int, since_ms: float | None, storage_options: dict[str, str]
) -> Iterator[tuple[int, list[dict]]]:
    """The table's commits made since ``since_ms`` (only the newest when None), newest first.

    Read back from the newest commit, stopping at the first older one: a step reads its own few
    commits' log entries, however long the table's history (it used to read 200 entries a step)."""
    for version in range(newest, max(-1, newest - HISTORY_LIMIT), -1):
        actions = commit_actions(uri, version, storage_options)
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        if since_ms is not None and int(info.get("timestamp") or 0) < since_ms:
            return
        yield version, actions
        if since_ms is None:
            return


def cost_metadata(
    contract: Contract, lake: Lake, table: DeltaTable | None, rows: int
) -> dict[str, float | int | str]:
    """The ``cost/*`` metadata of a materialization of ``contract``'s table."""
    step = _step()
    now = time.time()
    started, counted, first_report = None, set(), True
    since_ms: float | None = None  # outside a step: the newest commit only
    if step is not None:
        key, step_start = step
        first_report = key not in _reported
        since, seen = _reported.get(key, (step_start, {}))
        started, counted = since, seen.setdefault(lake.uri(contract.ref), set())
        since_ms = step_start * 1000
        _reported[key] = (now, seen)
    files = written = rewritten = 0
    if table is not None:
        uri = lake.uri(contract.ref)
        for version, actions in _commits_since(uri, table.version(), since_ms, lake.storage_options):
            if version in counted:
                continue
            counted.add(version)
            for action in actions:
                if "add" in action:
                    files += 1
                    written += int(action["add"].get("size") or 0)
                elif "remove" in action and action["remove"].get("dataChange", True):
                    rewritten += int(action["remove"].get("size") or 0)
    # the step read its upstream tables once, whatever number of partitions it reports
    upstream = (
        sum(live_bytes(lake.uri(u), lake.storage_options) for u in contract.upstream) if first_report else 0
    )
    return {
        f"{COST_PREFIX}report_id": uuid.uuid4().hex,
        f"{COST_PREFIX}bytes_read": upstream + rewritten,
        f"{COST_PREFIX}bytes_written": written,
        f"{COST_PREFIX}files_written": files,
        f"{COST_PREFIX}rows": rows,
        f"{COST_PREFIX}compute_seconds": round(now - started, 3) if started is not None else 0.0,
    }
