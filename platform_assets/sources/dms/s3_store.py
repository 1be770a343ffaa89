"""A DMS landing prefix on S3 (where AWS DMS writes): listing, reading and (for the sandbox) landing files.

Keys are relative to ``root`` (the table's prefix), as ``LocalFileStore``'s are to its folder, so a bronze
row names its file the same way whichever store it came from. The listing is one level deep
(``Delimiter="/"``), like a folder's. Credentials: the storage options given (the lake's keys:
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), else boto3's own chain (environment, instance role).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TextIO

from platform_assets.sources.dms.reader import TEXT_ENCODING, StoredObject


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class S3FileStore:
    bucket: str
    root: str = ""
    options: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_uri(cls, uri: str, options: Mapping[str, str] | None = None) -> S3FileStore:
        bucket, root = split_s3_uri(uri)
        return cls(bucket, root, dict(options or {}))

    def _client(self) -> Any:
        import boto3

        o = self.options
        return boto3.client(
            "s3",
            endpoint_url=o.get("AWS_ENDPOINT_URL"),
            aws_access_key_id=o.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=o.get("AWS_SECRET_ACCESS_KEY"),
            region_name=o.get("AWS_REGION"),
        )

    def _key(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def list(self, prefix: str) -> Iterator[StoredObject]:
        folder = "/".join(p for p in (self.root, prefix.strip("/")) if p)
        pages = self._client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=f"{folder}/" if folder else "", Delimiter="/"):
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"][len(self.root) + 1 :] if self.root else item["Key"],
                    last_modified=item["LastModified"],
                    size=item["Size"],
                    etag=item["ETag"].strip('"'),
                )

    def open_text(self, key: str) -> AbstractContextManager[TextIO]:
        body = self._client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return io.TextIOWrapper(io.BytesIO(body), **TEXT_ENCODING)

    def hadoop_uri(self, key: str) -> str:
        return f"s3a://{self.bucket}/{self._key(key)}"

    def put(self, key: str, data: bytes) -> None:
        """Land one file (one PUT: an object appears whole, as a DMS file does)."""
        self._client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
