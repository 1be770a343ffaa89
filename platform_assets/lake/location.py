"""Table locations: ``<root>/<layer>/<table>``, on a local folder or an S3 prefix."""

from __future__ import annotations

from dataclasses import dataclass, field

from platform_assets.contracts.model import DatasetRef

QUARANTINE_ZONE = "quarantine"
STAGING_ZONE = "_staging"


@dataclass(frozen=True)
class Lake:
    """The lake root plus the storage options delta-rs needs to reach it.

    ``staging_root`` is where a run's scratch copies of its candidates go (quality/staging.py): by default
    ``<root>/_staging``; a folder nearer the engine than the lake (every executor sees it at the same
    path) saves the lake's round trips for data that lives only as long as one step."""

    root: str
    storage_options: dict[str, str] = field(default_factory=dict)
    staging_root: str | None = None

    def uri(self, dataset: DatasetRef | str) -> str:
        ref = DatasetRef.parse(dataset) if isinstance(dataset, str) else dataset
        return f"{self.root.rstrip('/')}/{ref.layer}/{ref.table}"

    def quarantine_uri(self, dataset: DatasetRef | str) -> str:
        """Rows a quality gate held back: ``<root>/quarantine/<layer>_<table>``."""
        ref = DatasetRef.parse(dataset) if isinstance(dataset, str) else dataset
        return f"{self.root.rstrip('/')}/{QUARANTINE_ZONE}/{ref.layer}_{ref.table}"

    @property
    def staging(self) -> str:
        return (self.staging_root or f"{self.root.rstrip('/')}/{STAGING_ZONE}").rstrip("/")

    @property
    def is_remote(self) -> bool:
        return "://" in self.root
