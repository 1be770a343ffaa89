"""Incremental-extraction positions shared by watermark-based connectors (Salesforce, Snowflake).

The rule that makes a watermark exact: ask the source for ``ts >= watermark.timestamp`` (not ``>``, which
loses records committed later with the same timestamp as the last one seen) and drop exactly the keys
already delivered *at* that timestamp (so ``>=`` does not deliver them twice). The watermark therefore
stores the timestamp and the keys seen at it, and it serializes to JSON so it can be committed together
with the data (Delta commit metadata).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_FORMAT_VERSION = 1


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"watermark timestamps must be timezone-aware, got naive {ts.isoformat()}")
    return ts.astimezone(UTC)


@dataclass(frozen=True)
class Watermark:
    """The newest source timestamp delivered, and every key delivered at exactly that timestamp."""

    timestamp: datetime
    keys_at_timestamp: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", _utc(self.timestamp))
        object.__setattr__(self, "keys_at_timestamp", frozenset(str(k) for k in self.keys_at_timestamp))

    def admits(self, timestamp: datetime, key: str) -> bool:
        """True if a record with this timestamp and key was not delivered under this watermark."""
        ts = _utc(timestamp)
        return ts > self.timestamp or (ts == self.timestamp and str(key) not in self.keys_at_timestamp)

    def advanced(self, delivered: Iterable[tuple[datetime, str]]) -> Watermark:
        """The watermark after delivering ``delivered`` (timestamp, key) pairs on top of this one."""
        return advance(self, delivered)

    def to_json(self) -> str:
        # Sorted keys and fixed microsecond precision: the same position always gives the same string.
        return json.dumps(
            {
                "version": _FORMAT_VERSION,
                "timestamp": self.timestamp.isoformat(timespec="microseconds"),
                "keys_at_timestamp": sorted(self.keys_at_timestamp),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> Watermark:
        try:
            body: Any = json.loads(raw)
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
            if body.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unsupported version {body.get('version')!r}")
            keys = body["keys_at_timestamp"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise TypeError("keys_at_timestamp must be a list of strings")
            return cls(datetime.fromisoformat(body["timestamp"]), frozenset(keys))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid watermark JSON {raw[:200]!r}: {exc}") from exc


def advance(previous: Watermark | None, delivered: Iterable[tuple[datetime, str]]) -> Watermark | None:
    """Newest timestamp among ``previous`` and ``delivered``, with the keys seen at it.

    Keys at the previous timestamp carry over when nothing newer arrived: a later extraction must still
    skip them. With nothing delivered the watermark does not move.
    """
    newest = previous.timestamp if previous is not None else None
    keys: set[str] = set(previous.keys_at_timestamp) if previous is not None else set()
    for raw_ts, key in delivered:
        ts = _utc(raw_ts)
        if newest is None or ts > newest:
            newest, keys = ts, {str(key)}
        elif ts == newest:
            keys.add(str(key))
    return None if newest is None else Watermark(newest, frozenset(keys))


@dataclass(frozen=True)
class ChangeBatch:
    """Records changed since ``previous`` (one extraction), and the watermark to commit with them."""

    source: str
    object_name: str
    records: Sequence[dict[str, Any]]
    previous: Watermark | None
    watermark: Watermark | None  # None only when the source has never returned a record
    skipped_at_watermark: int = 0  # records dropped because ``previous`` had already delivered them

    @classmethod
    def after(
        cls,
        source: str,
        object_name: str,
        previous: Watermark | None,
        stamped: Iterable[tuple[dict[str, Any], tuple[datetime, str]]],
    ) -> ChangeBatch:
        """The batch of (record, (timestamp, key)) pairs that ``previous`` did not already deliver."""
        records: list[dict[str, Any]] = []
        stamps: list[tuple[datetime, str]] = []
        fetched = 0
        for record, stamp in stamped:
            fetched += 1
            if previous is not None and not previous.admits(*stamp):
                continue  # delivered by the previous extraction at the watermark timestamp
            records.append(record)
            stamps.append(stamp)
        return cls(source, object_name, records, previous, advance(previous, stamps), fetched - len(records))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def is_empty(self) -> bool:
        return not self.records
