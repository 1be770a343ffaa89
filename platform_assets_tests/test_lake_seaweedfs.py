"""The lake on SeaweedFS (`weed mini`, the cluster topology's S3): delta-rs with the server's credentials.

The server accepts only the identity it was started with: the same request signed with another key is
refused, and delta-rs with the right keys replaces a partition (twice: no duplicate) and reads it back.
"""

import socket
from datetime import date

import boto3
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from platform_assets.lake import delta_tables as lake_io
from platform_assets.settings import PlatformSettings
from sandbox.services.seaweedfs import SeaweedS3


def test_delta_tables_on_seaweedfs_with_checked_credentials(seaweed_s3: SeaweedS3) -> None:
    settings = PlatformSettings.from_env(
        {"PLATFORM_LAKE_ROOT": "s3://lake/platform", **seaweed_s3.storage_options}
    )
    uri, options = f"{settings.lake_root}/bronze/fx_rates", settings.storage_options
    day = date(2026, 11, 1)
    rows = pa.table({"_proc_date": pa.array([day, day], pa.date32()), "ccy": ["EUR", "GBP"]})
    for _ in range(2):
        lake_io.replace_partitions(uri, rows, "_proc_date", [day], storage_options=options)
    assert lake_io.row_count(uri, options) == 2

    client = boto3.client(
        "s3",
        endpoint_url=seaweed_s3.endpoint,
        aws_access_key_id=seaweed_s3.access_key,
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
    )
    with pytest.raises(ClientError) as refused:
        client.list_objects_v2(Bucket="lake")
    assert refused.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}


def test_a_port_taken_between_pick_and_bind_starts_it_again_on_fresh_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``weed mini`` binds the ports it is given itself: one another process takes in between (a bench
    run lost its S3 gateway so) makes that start fail with "address already in use"; the next start, on
    fresh ports, serves."""
    from sandbox.services import seaweedfs
    from sandbox.services.ports import free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy])  # the first start's S3 port is the taken one
        monkeypatch.setattr(seaweedfs, "free_port", lambda: next(picks, None) or free_port())
        with SeaweedS3("lake") as s3:
            assert s3.port != busy
            assert s3.storage_options["AWS_ENDPOINT_URL"] == s3.endpoint
            client = boto3.client(
                "s3",
                endpoint_url=s3.endpoint,
                aws_access_key_id=s3.access_key,
                aws_secret_access_key=s3.secret_key,
                region_name="us-east-1",
            )
            assert client.list_objects_v2(Bucket="lake")["KeyCount"] == 0


_LOCAL_SPARK_ON_S3 = """
import json
from platform_assets.engine import delta_io
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.settings import PlatformSettings
settings = PlatformSettings.from_env()
spark = SparkEngine.from_settings(settings).get_session()
uri = settings.lake.uri("silver/t")
delta_io.overwrite_table(spark.createDataFrame([(1, "EUR"), (2, "GBP")], "id long, ccy string"), uri)
delta_io.overwrite_table(spark.range(3).selectExpr("id", "'USD' AS ccy"), uri)  # a second commit
conf = {k: v for k, v in spark.sparkContext.getConf().getAll() if "s3a" in k}
print("RESULT=" + json.dumps({"rows": spark.read.format("delta").load(uri).count(), "conf": conf}))
"""


@pytest.mark.spark
def test_local_spark_reads_and_writes_an_s3_lake_with_keys_from_the_environment(
    seaweed_s3: SeaweedS3,
) -> None:
    """PLATFORM_ENGINE=local with an s3:// lake: the session gets the s3a jars and settings
    (engine/s3a.py), the keys only from the AWS_* environment, never as Spark settings; delta-rs reads
    what Spark wrote. (Classic Spark cannot start in a process holding Sail's session: a child process.)"""
    import json
    import os
    import subprocess
    import sys

    from platform_assets.engine.spark_resource import classic_spark_environment

    env = classic_spark_environment(
        {
            **os.environ,
            "PLATFORM_ENGINE": "local",
            "PLATFORM_LAKE_ROOT": "s3://lake/local-spark",
            **seaweed_s3.storage_options,
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", _LOCAL_SPARK_ON_S3], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT=", 1)[1])
    assert result["rows"] == 3
    assert result["conf"]["spark.hadoop.fs.s3a.endpoint"] == seaweed_s3.endpoint
    assert not any(seaweed_s3.secret_key in v or "key" in k for k, v in result["conf"].items())
    options = {**seaweed_s3.storage_options}
    table = lake_io.read_table("s3://lake/local-spark/silver/t", storage_options=options)
    assert sorted(table.column("id").to_pylist()) == [0, 1, 2]
