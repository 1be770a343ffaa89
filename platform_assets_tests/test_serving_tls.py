"""TLS on the Spark Connect endpoint: a self-signed certificate generated at start, Sail behind a TLS
terminator. Real PySpark clients in other processes: one that trusts the certificate reads the lake;
one that does not trust it, and one speaking plain gRPC to the TLS port, are refused."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from platform_assets.lake.location import Lake
from platform_assets.serving.endpoint import LakeEndpoint
from platform_assets.serving.tls import self_signed

CLIENT = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
print(spark.sql("SELECT SUM(revenue_usd) AS r FROM global_temp.gold__agg_daily_revenue").collect()[0]["r"])
"""


def _client(url: str, roots: Path | None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"}
    env["RUST_LOG"] = "error"
    if roots is not None:
        env["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(roots)
    return subprocess.run(
        [sys.executable, "-c", CLIENT, url], capture_output=True, text=True, timeout=timeout, env=env
    )


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _refused(url: str) -> tuple[str, str]:
    """The client's stdout and stderr: it must fail (PySpark retries an unavailable endpoint, so a client still
    retrying after 25 s counts as refused too)."""
    try:
        result = _client(url, None, timeout=25)
    except subprocess.TimeoutExpired as exc:
        return _text(exc.stdout), _text(exc.stderr)
    assert result.returncode != 0
    return result.stdout, result.stderr


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    write_deltalake(
        lake.uri("gold/agg_daily_revenue"),
        pa.table({"region": ["AMER", "EMEA"], "revenue_usd": [100.5, 49.5]}),
    )
    return lake


def test_only_a_client_trusting_the_certificate_gets_rows(lake: Lake, tmp_path: Path) -> None:
    files = self_signed(tmp_path / "tls", "127.0.0.1")
    assert files.key.stat().st_mode & 0o077 == 0  # the key is readable by its owner only
    with LakeEndpoint(lake, "127.0.0.1", 0, refresh_seconds=600, tls=files) as endpoint:
        url = endpoint.url
        assert url.startswith("sc://127.0.0.1:") and url.endswith("/;use_ssl=true")
        trusted = _client(url, files.cert)
        assert trusted.returncode == 0, trusted.stderr[-2000:]
        assert trusted.stdout.strip().splitlines()[-1] == "150.0"

        # gRPC's default roots: the self-signed certificate is not trusted
        out, err = _refused(url)
        assert "CERTIFICATE_VERIFY_FAILED" in err and "150.0" not in out
        # plain gRPC against the TLS port: no rows (the handshake never completes)
        out, _ = _refused(url.removesuffix("/;use_ssl=true"))
        assert "150.0" not in out
