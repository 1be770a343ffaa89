"""Apache Spark (``PLATFORM_ENGINE=local``) on an ``s3://`` lake: the s3a filesystem and its settings.

Delta's paths stay ``s3://bucket/...`` (the lake root as delta-rs writes it), so the ``s3`` scheme is
mapped to the s3a filesystem. No key is put in the settings: s3a's default credential chain reads the
``AWS_*`` environment (as delta-rs does) or the instance role. The jars (hadoop-aws and the AWS SDK
bundle) are those `make spark-jars` fetches for the cluster, next to the Delta jars.
"""

from __future__ import annotations

from pathlib import Path

S3A_JARS = ("hadoop-aws-", "bundle-", "analyticsaccelerator-s3-")  # s3a, the SDK it calls, its stream reader


def s3a_jars(jars_dir: Path) -> list[Path]:
    return sorted(p for p in (jars_dir / "cluster").glob("*.jar") if p.name.startswith(S3A_JARS))


def s3a_settings(endpoint: str | None, region: str) -> dict[str, str]:
    """``endpoint``: an S3-compatible server (path-style addressing); None: AWS S3 in ``region``."""
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": region,
        "spark.hadoop.fs.s3a.change.detection.mode": "none",  # small S3 servers send no version ids
        "spark.delta.logStore.s3.impl": "io.delta.storage.S3SingleDriverLogStore",  # one writer per table
    }
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    return conf
