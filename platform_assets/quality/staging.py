"""Compute a candidate once: write it to a scratch Delta table and read everything else from there.

Sail ignores ``cache()``/``persist()``, so every action on a DataFrame re-runs its plan from the
source: the gate's aggregate, each failing rule's sample, the quarantine and the publish would each
recompute the whole transform from bronze. Staging the candidate (with its rule flags, so window
rules such as uniqueness are computed once too) turns those into cheap scans of the staged copy,
on Sail and on Spark alike. The copy lives under ``<staging root>/<run_id>/<name>`` (by default
``<lake root>/_staging``, see ``Lake.staging``) and is removed when the block ends, whatever happens
inside it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import DataFrame

from platform_assets.engine import delta_io
from platform_assets.lake.location import Lake


def staging_uri(lake: Lake, run_id: str, name: str) -> str:
    return f"{lake.staging}/{run_id}/{name.replace('/', '_')}"


def _remove_tree(uri: str, storage_options: dict[str, str]) -> None:
    """Delete a staged table's files (a local folder, or every object under an S3 prefix)."""
    if "://" not in uri or uri.startswith("file://"):
        path = Path(uri.removeprefix("file://"))
        shutil.rmtree(path, ignore_errors=True)
        with suppress(OSError):  # the run's folder, once its last staged table is gone
            path.parent.rmdir()
        return
    from pyarrow import fs  # only remote lakes need it

    endpoint = storage_options.get("AWS_ENDPOINT_URL")
    parsed = urlparse(endpoint) if endpoint else None
    s3 = fs.S3FileSystem(
        access_key=storage_options.get("AWS_ACCESS_KEY_ID"),
        secret_key=storage_options.get("AWS_SECRET_ACCESS_KEY"),
        region=storage_options.get("AWS_REGION", "us-east-1"),
        endpoint_override=parsed.netloc if parsed else None,
        scheme=parsed.scheme if parsed else "https",
    )
    with suppress(FileNotFoundError):
        s3.delete_dir(uri.split("://", 1)[1])


@contextmanager
def staged(df: DataFrame, lake: Lake, run_id: str, name: str) -> Iterator[DataFrame]:
    """``df`` computed once and written to a scratch table; yields a frame reading that table."""
    uri = staging_uri(lake, run_id, name)
    try:
        delta_io.overwrite_table(df, uri)
        yield delta_io.read_delta(df.sparkSession, uri)
    finally:
        _remove_tree(uri, lake.storage_options)
