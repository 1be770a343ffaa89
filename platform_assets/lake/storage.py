"""Listing and copying a lake's files, on a local folder or S3, with the storage options delta-rs uses.

Maintenance verifies vacuum by listing storage, and DR replication copies files between roots; both go
through pyarrow's filesystems so one code path serves folders and S3-compatible endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow.fs as pafs

_COPY_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the root it was listed under, with "/" separators
    size: int
    mtime_ms: int


def filesystem(uri: str, storage_options: dict[str, str] | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it for a local folder or an ``s3://bucket/prefix``."""
    options = {k.upper(): v for k, v in (storage_options or {}).items()}
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        endpoint = options.get("AWS_ENDPOINT_URL") or options.get("AWS_ENDPOINT")
        scheme = "https"
        if endpoint:
            endpoint_url = urlparse(endpoint)
            scheme, endpoint = endpoint_url.scheme or "https", endpoint_url.netloc or endpoint_url.path
        fs = pafs.S3FileSystem(
            access_key=options.get("AWS_ACCESS_KEY_ID"),
            secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
            region=options.get("AWS_REGION") or options.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_override=endpoint,
            scheme=scheme,
        )
        return fs, f"{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme in ("", "file"):
        return pafs.LocalFileSystem(), (parsed.path if parsed.scheme == "file" else uri).rstrip("/")
    raise ValueError(f"{uri}: only local folders and s3:// roots are supported")


def list_files(uri: str, storage_options: dict[str, str] | None = None) -> dict[str, FileInfo]:
    """Every file under ``uri`` (recursively), keyed by its path relative to ``uri``."""
    fs, base = filesystem(uri, storage_options)
    if fs.get_file_info(base).type == pafs.FileType.NotFound:
        return {}
    found: dict[str, FileInfo] = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(base) :].lstrip("/")
        mtime = int(info.mtime.timestamp() * 1000) if info.mtime is not None else 0
        found[relative] = FileInfo(relative, int(info.size or 0), mtime)
    return found


def read_bytes(uri: str, relative: str, storage_options: dict[str, str] | None = None) -> bytes:
    fs, base = filesystem(uri, storage_options)
    with fs.open_input_stream(f"{base}/{relative}") as stream:
        return stream.read()


def copy_file(
    source_uri: str,
    target_uri: str,
    relative: str,
    source_options: dict[str, str] | None = None,
    target_options: dict[str, str] | None = None,
) -> int:
    """Copy ``relative`` from one root to another in chunks (bounded memory); returns the bytes copied."""
    source_fs, source_base = filesystem(source_uri, source_options)
    target_fs, target_base = filesystem(target_uri, target_options)
    target = f"{target_base}/{relative}"
    parent = target.rsplit("/", 1)[0]
    if isinstance(target_fs, pafs.LocalFileSystem):
        target_fs.create_dir(parent, recursive=True)
    copied = 0
    with (
        source_fs.open_input_stream(f"{source_base}/{relative}") as reader,
        target_fs.open_output_stream(target) as writer,
    ):
        while chunk := reader.read(_COPY_CHUNK):
            writer.write(chunk)
            copied += len(chunk)
    return copied


def delete_tree(uri: str, storage_options: dict[str, str] | None = None) -> None:
    fs, base = filesystem(uri, storage_options)
    if fs.get_file_info(base).type != pafs.FileType.NotFound:
        fs.delete_dir(base)


def table_uris(root: str, storage_options: dict[str, str] | None = None) -> list[str]:
    """``zone/table`` of every Delta table under the lake root (a folder holding ``_delta_log``)."""
    tables = set()
    for relative in list_files(root, storage_options):
        parts = relative.split("/")
        if len(parts) >= 4 and parts[2] == "_delta_log":
            tables.add(f"{parts[0]}/{parts[1]}")
    return sorted(tables)
