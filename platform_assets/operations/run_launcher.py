"""The instance's run launcher: Dagster's default one, plus a health check of the run worker.

Run monitoring (``run_monitoring`` in dagster.yaml) fails runs stuck in STARTING or CANCELING on its
own, but it can tell that a STARTED run's worker died only if the launcher can check worker health,
and the ``DefaultRunLauncher`` cannot. When the code server survives a killed run worker it fails
the run itself; when both die (kill -9, an OOM kill, a crashed laptop) the run stayed STARTED forever
and kept its slot of ``max_concurrent_runs``. The run worker records its pid in the run's event log
("Started process for run (pid: N)"); the worker runs on this machine, so the check is whether that
process is still alive. A run with no recorded pid (executed in-process) is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._serdes.config_class import ConfigurableClassData

_STARTED = "Started process for run"


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's latest run worker, as it logged it when it started."""
    pid: int | None = None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or not (entry.message or "").startswith(_STARTED):
            continue
        value = event.engine_event_data.metadata.get("pid")
        if value is not None and str(value.value).isdigit():
            pid = int(value.value)
    return pid


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (killed, not yet reaped) counts as dead."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return state not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalRunLauncher(dg.DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers run on this machine, so their health can be checked."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> LocalRunLauncher:
        return cls(inst_data=inst_data)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker pid recorded")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker pid {pid} is gone (killed or crashed) while the run was STARTED"
        )
