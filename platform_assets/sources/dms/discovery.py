"""Which DMS files are new: processed files tracked by identity within a look-back window.

A single (last-modified, name) high-water mark loses files: S3's LastModified has one-second
resolution (two files in the same second), a multipart upload is stamped when it started, and a
listing can miss an object that lands a moment later with an older stamp. So the consumer keeps
the *identity* (name, size, ETag) of every file it processed whose LastModified is inside a look-back
window, plus a horizon: a file last modified before the horizon counts as processed. The horizon
never passes a file that was listed but not read yet (a backlog larger than one batch), so no
unread file can fall behind it. A re-delivered file (same name, size and ETag, new LastModified) is
recognised and skipped while its first delivery is inside the window.

What is read is ordered by DMS's own ordering, not by arrival: full-load files first (CDC rows are
changes on top of them), then CDC files by name (their names are the task's timestamps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

LOOKBACK = timedelta(hours=1)  # how late (by LastModified) a file may still show up in a listing


class ListedFile(Protocol):
    name: str
    size: int
    etag: str
    last_modified: datetime
    is_full_load: bool


@dataclass(frozen=True, order=True)
class FileIdentity:
    name: str
    size: int
    etag: str


def identity(file: ListedFile) -> FileIdentity:
    return FileIdentity(file.name, file.size, file.etag)


def dms_order(file: ListedFile) -> tuple[bool, str]:
    """Full loads first, then CDC files by the timestamp in their name (fraction digits padded)."""
    stem = file.name.rsplit(".", 1)[0]
    return (not file.is_full_load, stem if file.is_full_load else stem.ljust(24, "0"))


def position_key(schema: str, table: str) -> str:
    """The structured position under which a bronze table keeps the DMS files it processed."""
    return f"dms:{schema}.{table}"


@dataclass(frozen=True)
class ProcessedFiles:
    horizon: datetime | None = None  # files last modified before it count as processed
    files: dict[FileIdentity, datetime] = field(default_factory=dict)  # at/after the horizon

    def is_processed(self, file: ListedFile) -> bool:
        if self.horizon is not None and file.last_modified < self.horizon:
            return True
        return identity(file) in self.files

    def pending(self, listed: Iterable[ListedFile]) -> list[Any]:
        """The listed files not processed yet, in DMS order."""
        return sorted((f for f in listed if not self.is_processed(f)), key=dms_order)

    def after_reading(
        self, read: Sequence[ListedFile], listed: Sequence[ListedFile], lookback: timedelta = LOOKBACK
    ) -> ProcessedFiles:
        """The state once ``read`` (a prefix of the pending files of ``listed``) is committed."""
        files = dict(self.files)
        files.update((identity(f), f.last_modified) for f in read)
        if not files:
            return self
        done = ProcessedFiles(self.horizon, files)
        candidate = max(files.values()) - lookback
        unread = [f.last_modified for f in listed if not done.is_processed(f)]
        if unread:
            candidate = min(candidate, min(unread))  # never move past a file still to read
        horizon = candidate if self.horizon is None else max(self.horizon, candidate)
        return ProcessedFiles(horizon, {i: t for i, t in files.items() if t >= horizon})

    def to_json(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon.isoformat() if self.horizon else None,
            "files": [[i.name, i.size, i.etag, t.isoformat()] for i, t in sorted(self.files.items())],
        }

    @classmethod
    def from_json(cls, value: Any) -> ProcessedFiles:
        if not value:
            return cls()
        if isinstance(value, list):
            # the former high-water mark [last_modified, name]: files stamped in that same instant are
            # read again (CDC apply converges on a repeat) rather than risk losing one
            return cls(horizon=datetime.fromisoformat(value[0]))
        horizon = datetime.fromisoformat(value["horizon"]) if value.get("horizon") else None
        files = {
            FileIdentity(name, int(size), etag): datetime.fromisoformat(modified)
            for name, size, etag, modified in value.get("files", [])
        }
        return cls(horizon, files)
