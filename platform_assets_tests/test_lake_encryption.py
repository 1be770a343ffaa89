"""S3 server-side encryption of the lake, against moto_server (S3 and KMS stand-in: neither AWS
service can run here). Every object is checked with HEAD: what the server says it stored."""

import boto3
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from platform_assets.cli import main
from platform_assets.lake import delta_tables as lake_io
from platform_assets.lake.storage import copy_file
from platform_assets.operations.encryption import EncryptionError, sse_settings
from platform_assets.settings import PlatformSettings
from platform_assets_tests.test_lake_s3 import BUCKET, s3_endpoint  # noqa: F401 (the fixture)

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


def _env(endpoint: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "PLATFORM_LAKE_ROOT": f"s3://{BUCKET}/{prefix}",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        **extra,
    }


def _encryption_of_every_object(endpoint: str, prefix: str) -> list[tuple[str | None, str | None]]:
    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    heads = [s3.head_object(Bucket=BUCKET, Key=k) for k in keys]
    return [(h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")) for h in heads]


def _write_twice(settings: PlatformSettings) -> str:
    uri = f"{settings.lake_root}/silver/customers"
    rows = pa.table({"customer_id": pa.array([1, 2], pa.int64()), "email": ["a@x.io", "b@x.io"]})
    write_deltalake(uri, rows, storage_options=settings.storage_options)
    write_deltalake(uri, rows, mode="append", storage_options=settings.storage_options)
    assert lake_io.row_count(uri, settings.storage_options) == 4
    return uri


def test_sse_s3_from_the_environment_encrypts_every_data_and_log_object(s3_endpoint: str) -> None:  # noqa: F811
    settings = PlatformSettings.from_env(_env(s3_endpoint, "aes", AWS_SERVER_SIDE_ENCRYPTION="AES256"))
    assert sse_settings(settings.storage_options) == {"AWS_SERVER_SIDE_ENCRYPTION": "AES256"}
    _write_twice(settings)
    stored = _encryption_of_every_object(s3_endpoint, "aes/")
    assert len(stored) == 4 and set(stored) == {("AES256", None)}  # 2 data files, 2 commits

    plain = PlatformSettings.from_env(_env(s3_endpoint, "plain"))  # the control: no settings, no SSE
    _write_twice(plain)
    assert set(_encryption_of_every_object(s3_endpoint, "plain/")) == {(None, None)}


def test_sse_kms_with_a_key_id(s3_endpoint: str) -> None:  # noqa: F811
    key = boto3.client("kms", endpoint_url=s3_endpoint, **CREDENTIALS).create_key()["KeyMetadata"]["KeyId"]
    env = _env(s3_endpoint, "kms", AWS_SERVER_SIDE_ENCRYPTION="aws:kms", AWS_SSE_KMS_KEY_ID=key)
    _write_twice(PlatformSettings.from_env(env))
    stored = _encryption_of_every_object(s3_endpoint, "kms/")
    assert len(stored) == 4 and set(stored) == {("aws:kms", key)}


def test_bucket_default_covers_writers_without_settings(
    s3_endpoint: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    bucket = "lake-default"
    boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS).create_bucket(Bucket=bucket)
    env = _env(s3_endpoint, "x", AWS_SERVER_SIDE_ENCRYPTION="AES256")
    env["PLATFORM_LAKE_ROOT"] = f"s3://{bucket}/lake"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["encryption", "--apply"]) == 0
    assert "bucket default encryption set: AES256" in capsys.readouterr().out
    # pyarrow's S3 filesystem (the DR copy) sends no SSE header: the bucket default applies
    source = PlatformSettings.from_env(_env(s3_endpoint, "plain2"))
    uri = _write_twice(source)
    plain_options = dict(source.storage_options)
    log = "_delta_log/00000000000000000000.json"
    copy_file(uri, f"s3://{bucket}/lake/replica", log, plain_options, plain_options)
    head = boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS).head_object(
        Bucket=bucket, Key=f"lake/replica/{log}"
    )
    assert head["ServerSideEncryption"] == "AES256"


def test_wrong_settings_are_refused() -> None:
    with pytest.raises(EncryptionError, match="not one of"):
        sse_settings({"aws_server_side_encryption": "rot13"})
    with pytest.raises(EncryptionError, match="needs AWS_SERVER_SIDE_ENCRYPTION=aws:kms"):
        sse_settings({"AWS_SERVER_SIDE_ENCRYPTION": "AES256", "AWS_SSE_KMS_KEY_ID": "k"})
