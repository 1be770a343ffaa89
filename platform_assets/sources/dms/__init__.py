"""The RDS PostgreSQL source as AWS DMS delivers it: full-load and CDC CSV files under a landing prefix."""

from platform_assets.sources.dms.discovery import ProcessedFiles, position_key
from platform_assets.sources.dms.reader import (
    DmsFile,
    DmsFileError,
    FileStore,
    LocalFileStore,
    StoredObject,
    list_files,
    list_new_files,
    read_changes,
)

__all__ = [
    "DmsFile",
    "DmsFileError",
    "FileStore",
    "LocalFileStore",
    "ProcessedFiles",
    "StoredObject",
    "list_files",
    "list_new_files",
    "position_key",
    "read_changes",
]
