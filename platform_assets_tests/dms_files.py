"""Hand-written AWS DMS landing files (the format of ``sandbox/services/dms_task.py``) for tests that
need exact control over names, contents and LastModified stamps."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

VALUES = ("customer_id", "name", "email", "phone", "address", "country", "updated_at")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # the full load's timestamp (task start)
UPDATED_AT = "2026-11-01 08:00:00+00"


def commit_ts(seconds: float) -> str:
    """A DMS commit timestamp ``seconds`` after T0, as the task writes it."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")


def customer(customer_id: int, name: str, country: str = "DE") -> list[str]:
    return [str(customer_id), name, f"c{customer_id}@example.com", "\\N", "1 Main St", country, UPDATED_AT]


def write_file(
    folder: Path, name: str, rows: Sequence[Sequence[str]], *, cdc: bool, mtime: float | None = None
) -> Path:
    """One DMS file: CDC rows are [Op, commit_ts, *values], full-load rows [commit_ts, *values]."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    header = (["Op"] if cdc else []) + ["_dms_commit_ts", *VALUES]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def cdc_name(seconds: float) -> str:
    """The CDC file name DMS gives a file written ``seconds`` after T0 (milliseconds)."""
    moment = T0 + timedelta(seconds=seconds)
    return moment.strftime("%Y%m%d-%H%M%S") + f"{moment.microsecond // 1000:03d}.csv"
