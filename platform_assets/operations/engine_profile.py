"""Where an asset run's time goes: every engine call timed and labelled by the code that made it.

``profile_engine_calls`` wraps, for the duration of a block, the three places a run spends time
outside Python and Dagster: the Spark Connect client's executed plans (``_execute_and_fetch_as_
iterator``: a collect, a count, a write, a MERGE) and schema analyses (``_analyze``), and delta-rs
(its SQL queries in ``lake/delta_tables``, and every ``DeltaTable`` opened, i.e. a log replay).
Each call is labelled by the innermost known platform function on the call stack (``STAGES``) and
by the dataset being built (the ``contract`` of the nearest frame that has one), so a silver
apply breaks down into read, transform, gate, write, metadata, and the rest of the run's wall time
is Dagster's own (planning, event log, sensors). Only Spark Connect sessions (Sail, Spark Connect)
are seen; a classic local Spark session runs plans in the JVM and shows only as Dagster time.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

# the first listed function on the call stack names the call (a staged write is labelled by what it
# stages, its ``name``, rather than by the table write it makes)
STAGES: dict[str, str] = {
    "staged": "stage",
    "quarantine_out_of_range": "quarantine",
    "_quarantine": "quarantine",
    "merge_into": "write (merge)",
    "create": "write (create)",
    "overwrite_partitions": "write (publish)",
    "overwrite_table": "write (publish)",
    "append": "quarantine",
    "evaluate": "gate (aggregate, samples)",
    "record_quality_results": "metadata (quality results)",
    "record_commit": "metadata",  # the materialize audit row included
    "_applied": "metadata",
    "cost_metadata": "metadata",
    "reading_plan": "metadata",
    "count_by": "metadata",
    "row_count": "metadata",
}
# what a staged table holds: the feed is bronze read and projected; the changes and the candidate
# are the transform (reduction, enrich, rule flags) over it
STAGED = {"feed": "read (stage the feed)", "changes": "transform (stage the checked changes)"}


@dataclass
class EngineProfile:
    """Seconds and calls per (dataset, stage); ``engine``/``delta_rs`` are the totals by kind."""

    seconds: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    engine: float = 0.0
    delta_rs: float = 0.0
    analyses: int = 0  # Spark Connect schema analyses (``columns``, ``schema``): round trips, no data

    def add(self, kind: str, label: tuple[str, str], seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1
        if kind == "engine":
            self.engine += seconds
        else:
            self.delta_rs += seconds

    def breakdown(self, wall_seconds: float) -> dict[str, Any]:
        """Per dataset and stage (seconds, calls), and the wall time no call accounts for."""
        stages: dict[str, dict[str, Any]] = {}
        for (dataset, stage), seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            stages.setdefault(dataset, {})[stage] = {
                "seconds": round(seconds, 3),
                "calls": self.calls[(dataset, stage)],
            }
        return {
            "stages": stages,
            "engine_seconds": round(self.engine, 3),
            "delta_rs_seconds": round(self.delta_rs, 3),
            "schema_analyses": self.analyses,
            "dagster_overhead_seconds": round(wall_seconds - self.engine - self.delta_rs, 3),
        }


_PRIORITY = {name: rank for rank, name in enumerate(STAGES)}


def _label(frame: FrameType | None, kind: str) -> tuple[str, str]:
    found: FrameType | None = None
    dataset = None
    while frame is not None:
        code = frame.f_code
        if "operations/benchmark" in code.co_filename:  # the caller's frames name no run's dataset
            break
        if "platform_assets" in code.co_filename and "engine_profile" not in code.co_filename:
            rank = _PRIORITY.get(code.co_name)
            if rank is not None and (found is None or rank < _PRIORITY[found.f_code.co_name]):
                found = frame
            contract = frame.f_locals.get("contract")
            if dataset is None and contract is not None and hasattr(contract, "dataset"):
                dataset = str(contract.dataset)
        frame = frame.f_back
    if found is None:
        return dataset or "(other)", f"other {kind}"
    if found.f_code.co_name == "staged":
        name = str(found.f_locals.get("name", ""))
        return dataset or "(other)", STAGED.get(name.rsplit("/", 1)[-1], "transform (stage the candidate)")
    return dataset or "(other)", STAGES[found.f_code.co_name]


@contextmanager
def profile_engine_calls() -> Iterator[EngineProfile]:
    """Within the block, every engine and delta-rs call is timed into the yielded profile."""
    import deltalake
    from pyspark.sql.connect.client.core import SparkConnectClient

    from platform_assets.lake import delta_tables

    profile = EngineProfile()
    execute, analyze = SparkConnectClient._execute_and_fetch_as_iterator, SparkConnectClient._analyze
    query, table_init = delta_tables._query, deltalake.DeltaTable.__init__

    def timed_execute(self: SparkConnectClient, *args: Any, **kwargs: Any) -> Iterator[Any]:
        label, started = _label(sys._getframe(1), "engine"), time.perf_counter()
        try:
            yield from execute(self, *args, **kwargs)  # the plan runs while its results stream
        finally:
            profile.add("engine", label, time.perf_counter() - started)

    def timed(kind: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            label, started = _label(sys._getframe(1), kind), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                profile.add(kind, label, time.perf_counter() - started)

        return call

    SparkConnectClient._execute_and_fetch_as_iterator = timed_execute  # type: ignore[method-assign]

    def counted_analyze(*args: Any, **kwargs: Any) -> Any:
        profile.analyses += 1
        return timed_analyze(*args, **kwargs)

    timed_analyze = timed("engine", analyze)
    SparkConnectClient._analyze = counted_analyze  # type: ignore[method-assign]
    delta_tables._query = timed("delta_rs", query)
    deltalake.DeltaTable.__init__ = timed("delta_rs", table_init)  # type: ignore[method-assign]
    try:
        yield profile
    finally:
        SparkConnectClient._execute_and_fetch_as_iterator = execute  # type: ignore[method-assign]
        SparkConnectClient._analyze = analyze  # type: ignore[method-assign]
        delta_tables._query = query
        deltalake.DeltaTable.__init__ = table_init  # type: ignore[method-assign]
