"""Table locations: ``<root>/<layer>/<table>``, on a local folder or an S3 prefix."""

from __future__ import annotations

from dataclasses import dataclass, field

from platform_assets.contracts.model import DatasetRef

QUARANTINE_ZONE = "quarantine"


@dataclass(frozen=True)
class Lake:
    """The lake root plus the storage options delta-rs needs to reach it."""

    root: str
    storage_options: dict[str, str] = field(default_factory=dict)

    def uri(self, dataset: DatasetRef | str) -> str:
        ref = DatasetRef.parse(dataset) if isinstance(dataset, str) else dataset
        return f"{self.root.rstrip('/')}/{ref.layer}/{ref.table}"

    def quarantine_uri(self, dataset: DatasetRef | str) -> str:
        """Rows a quality gate held back: ``<root>/quarantine/<layer>_<table>``."""
        ref = DatasetRef.parse(dataset) if isinstance(dataset, str) else dataset
        return f"{self.root.rstrip('/')}/{QUARANTINE_ZONE}/{ref.layer}_{ref.table}"

    @property
    def is_remote(self) -> bool:
        return "://" in self.root
