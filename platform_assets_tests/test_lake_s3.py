"""The lake on an S3-compatible server (moto_server on loopback): same operations, storage options only.

moto_server stands in for S3, which cannot run here; it enforces the conditional PUT delta-rs commits with.
"""

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from platform_assets.lake import delta_tables as lake_io
from platform_assets.settings import PlatformSettings
from sandbox.services.ports import free_port

BUCKET = "lake"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    venv_bin = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "moto_server"
    command = [str(venv_bin) if venv_bin.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto_server did not start on {endpoint}") from None
                time.sleep(0.2)
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_partition_replace_and_reads_on_s3(s3_endpoint: str) -> None:
    env = {
        "PLATFORM_LAKE_ROOT": f"s3://{BUCKET}/platform",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    settings = PlatformSettings.from_env(env)
    assert settings.storage_options["AWS_ENDPOINT_URL"] == s3_endpoint
    uri = f"{settings.lake_root}/bronze/fx_rates"
    options = settings.storage_options
    day = date(2026, 11, 1)
    rows = pa.table({"_proc_date": pa.array([day, day], pa.date32()), "ccy": ["EUR", "GBP"]})
    for _ in range(2):  # a re-run replaces, never duplicates
        lake_io.replace_partitions(uri, rows, "_proc_date", [day], storage_options=options)
    assert lake_io.row_count(uri, options) == 2
    assert lake_io.read_table(uri, order_by=["ccy"], storage_options=options).column("ccy").to_pylist() == [
        "EUR",
        "GBP",
    ]
    assert [h["version"] for h in lake_io.history(uri, storage_options=options)] == [1, 0]
