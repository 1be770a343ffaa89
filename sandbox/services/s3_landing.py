"""An ``s3://bucket/prefix`` the sandbox's DMS task publishes its files to, as AWS DMS lands on S3.

The task writes each file durably into its own staging folder first; ``DmsTask(publish_to=...)`` then PUTs
every file the prefix lacks, one PUT per file. The client is boto3's default one: endpoint
(``AWS_ENDPOINT_URL``), keys and region come from the environment, as a DMS task's come from its role.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class S3Object:
    key: str  # relative to the landing's prefix


@dataclass(frozen=True)
class S3Landing:
    bucket: str
    prefix: str = ""

    @classmethod
    def from_uri(cls, uri: str) -> S3Landing:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// landing: {uri!r}")
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in the landing {uri!r}")
        return cls(bucket, prefix.strip("/"))

    def _client(self) -> Any:
        import boto3

        return boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _keys(self, prefix: str) -> Iterator[str]:
        pages = self._client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self._key(prefix.strip("/")) + "/"):
            for item in page.get("Contents", []):
                yield item["Key"]

    def list(self, prefix: str) -> Iterator[S3Object]:
        start = len(self.prefix) + 1 if self.prefix else 0
        return (S3Object(key[start:]) for key in self._keys(prefix))

    def put(self, key: str, data: bytes) -> None:
        self._client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def remove(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (a fresh source's landing); returns how many."""
        client, removed = self._client(), 0
        for key in list(self._keys(prefix)):
            client.delete_object(Bucket=self.bucket, Key=key)
            removed += 1
        return removed

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
