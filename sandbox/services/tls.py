"""The sandbox's TLS: one throwaway CA per sandbox home, and a server certificate per service.

Every sandbox service the platform talks to over the network (FX, Salesforce, Kafka, PostgreSQL, the
Snowflake stand-in) serves TLS with a certificate for ``127.0.0.1``/``localhost`` issued by the same CA,
so a client needs one file to verify them all: ``<folder>/sandbox-ca.pem``. The CA's key stays beside
it (``sandbox-ca.key``, mode 0600) so that services started later, in other processes, issue their
certificates from the same CA. Made with trustme; nothing here is meant for anything but loopback.

    ca = SandboxCA.in_folder(home / "tls")
    cert = ca.server_cert("kafka")       # cert.bundle (key + chain), cert.key, cert.chain
    httpx.Client(verify=ca.client_context())
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CA_FILE = "sandbox-ca.pem"
CA_KEY_FILE = "sandbox-ca.key"
SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class ServerCert:
    """A service's certificate as PEM files: ``bundle`` (key + chain), ``key`` (PKCS#8), ``chain``."""

    bundle: Path
    key: Path
    chain: Path


class SandboxCA:
    """The CA of one sandbox home (created on first use, reused by every later service)."""

    def __init__(self, folder: Path) -> None:
        import trustme  # a sandbox dependency: only needed when the sandbox serves TLS

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / ".lock"):
            if self.ca_path.exists() and self.key_path.exists():
                self._ca = trustme.CA.from_pem(self.ca_path.read_bytes(), self.key_path.read_bytes())
            else:
                self._ca = trustme.CA(organization_name="platform_assets sandbox")
                _write_private(self.key_path, self._ca.private_key_pem.bytes())
                self._ca.cert_pem.write_to_path(str(self.ca_path))

    @classmethod
    def in_folder(cls, folder: Path) -> SandboxCA:
        return cls(folder)

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM): what every client verifies the sandbox services with."""
        return self.folder / CA_FILE

    @property
    def key_path(self) -> Path:
        return self.folder / CA_KEY_FILE

    def server_cert(self, service: str) -> ServerCert:
        """A fresh certificate for ``service`` on 127.0.0.1/localhost, written to ``<service>-server.*``."""
        from cryptography.hazmat.primitives import serialization

        issued = self._ca.issue_cert(*SERVER_NAMES)
        key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
        # PKCS#8: the one unencrypted key format Kafka's PEM key store reads
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
        cert = ServerCert(
            bundle=self.folder / f"{service}-server.pem",
            key=self.folder / f"{service}-server.key",
            chain=self.folder / f"{service}-server.crt",
        )
        _write_private(cert.key, pkcs8)
        _write_private(cert.bundle, pkcs8 + chain)
        cert.chain.write_bytes(chain)
        return cert

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


def sandbox_ca_path(home: Path) -> Path:
    """Where the sandbox home keeps its CA certificate (``<home>/tls/sandbox-ca.pem``)."""
    return home / "tls" / CA_FILE


def sandbox_ca(home: Path) -> SandboxCA:
    return SandboxCA.in_folder(sandbox_ca_path(home).parent)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # `sandbox start --all` starts the services in parallel: one of them creates the CA, the others wait
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def tls_marker(home: Path, service: str) -> Path:
    """``<home>/<service>.tls``: written by a detached service that serves TLS, holding the CA's path."""
    return home / f"{service}.tls"


def mark_tls(home: Path, service: str, ca: SandboxCA | None) -> None:
    """Record how a detached service serves: TLS from ``ca`` (the marker names the CA) or plaintext."""
    marker = tls_marker(home, service)
    if ca is None:
        marker.unlink(missing_ok=True)
    else:
        marker.write_text(f"{ca.ca_path}\n")


def serve_tls(home: Path, service: str, plaintext: bool) -> ServerCert | None:
    """For a detached service about to serve: its certificate (and the marker), or None if plaintext."""
    if plaintext:
        mark_tls(home, service, None)
        return None
    ca = sandbox_ca(home)
    cert = ca.server_cert(service)
    mark_tls(home, service, ca)
    return cert


def service_ca(home: Path, service: str) -> Path | None:
    """The CA to verify a running detached service with, or None if it serves plaintext."""
    try:
        return Path(marker) if (marker := tls_marker(home, service).read_text().strip()) else None
    except FileNotFoundError:
        return None


def verify_with(ca_path: Path | str | None) -> ssl.SSLContext | bool:
    """httpx's ``verify=``: a context trusting ``ca_path``, or True (the system store) without one."""
    return ssl.create_default_context(cafile=str(ca_path)) if ca_path else True
