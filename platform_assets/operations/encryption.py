"""Server-side encryption of the S3 lake.

Two layers, because not every writer takes the same settings:

- **Per request** (delta-rs, which writes every bronze, silver and gold commit and data file the
  platform writes itself): ``AWS_SERVER_SIDE_ENCRYPTION`` (``AES256``, ``aws:kms``,
  ``aws:kms:dsse``), ``AWS_SSE_KMS_KEY_ID`` and ``AWS_SSE_BUCKET_KEY_ENABLED`` in the storage options
  (or the environment: settings.py passes them on), sent with each PUT.
- **Bucket default** (``platform encryption --apply``): the bucket's default encryption, from the same
  settings, covers writers that cannot send them: pyarrow's S3 filesystem (DR replica copies,
  staging), and Spark/Sail, whose S3 clients take no delta-rs storage options.
"""

from __future__ import annotations

from typing import Any

from platform_assets.operations.lifecycle import _bucket_and_prefix, s3_client

ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


class EncryptionError(ValueError):
    pass


def sse_settings(storage_options: dict[str, str]) -> dict[str, str]:
    """The server-side encryption settings among the storage options (keys upper-cased)."""
    options = {k.upper(): v for k, v in storage_options.items()}
    found = {
        k: options[k]
        for k in ("AWS_SERVER_SIDE_ENCRYPTION", "AWS_SSE_KMS_KEY_ID", "AWS_SSE_BUCKET_KEY_ENABLED")
        if k in options
    }
    algorithm = found.get("AWS_SERVER_SIDE_ENCRYPTION")
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise EncryptionError(
            f"AWS_SERVER_SIDE_ENCRYPTION={algorithm!r} is not one of {', '.join(ALGORITHMS)}"
        )
    if "AWS_SSE_KMS_KEY_ID" in found and not (algorithm or "").startswith("aws:kms"):
        raise EncryptionError("AWS_SSE_KMS_KEY_ID needs AWS_SERVER_SIDE_ENCRYPTION=aws:kms (or aws:kms:dsse)")
    return found


def bucket_rule(storage_options: dict[str, str]) -> dict[str, Any]:
    settings = sse_settings(storage_options)
    algorithm = settings.get("AWS_SERVER_SIDE_ENCRYPTION")
    if algorithm is None:
        raise EncryptionError("no AWS_SERVER_SIDE_ENCRYPTION in the storage options: nothing to apply")
    default: dict[str, str] = {"SSEAlgorithm": algorithm}
    if "AWS_SSE_KMS_KEY_ID" in settings:
        default["KMSMasterKeyID"] = settings["AWS_SSE_KMS_KEY_ID"]
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if settings.get("AWS_SSE_BUCKET_KEY_ENABLED", "").lower() == "true":
        rule["BucketKeyEnabled"] = True
    return rule


def apply_bucket_encryption(root: str, storage_options: dict[str, str]) -> dict[str, Any]:
    """Set the lake bucket's default encryption from the storage options; returns the rule applied."""
    bucket, _ = _bucket_and_prefix(root)
    rule = bucket_rule(storage_options)
    s3_client(storage_options).put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
    )
    return rule
