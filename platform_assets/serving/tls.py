"""TLS in front of the Spark Connect endpoint: Sail serves plain gRPC only, so the endpoint listens on
loopback and a TLS terminator takes the public address (HTTP/2 negotiated by ALPN, as gRPC needs)
and forwards each connection's bytes to it.

A certificate comes from files (``--tls-cert``/``--tls-key``: the deployment's) or is generated at
start (``--tls-self-signed DIR``: a self-signed certificate for the listening host, valid one day,
its own trust anchor). Clients verify it by default: PySpark's ``sc://host:port/;use_ssl=true`` uses
gRPC's roots, so a client trusts a self-signed endpoint only when given its certificate
(``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=cert.pem``); a client that is not given it is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def self_signed(directory: Path, host: str) -> TlsFiles:
    """A fresh key and a self-signed certificate for ``host`` (and localhost/127.0.0.1), in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        address = ipaddress.ip_address(host)
        if str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    except ValueError:
        if host != "localhost":
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "endpoint.crt", directory / "endpoint.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.key.chmod(0o600)
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.cert), str(files.key))
    context.set_alpn_protocols(["h2"])  # gRPC clients insist on HTTP/2 by ALPN
    return context


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


class TlsTerminator:
    """Accepts TLS on ``host:port`` (0: a free port) and forwards the plain bytes to ``backend``."""

    def __init__(self, backend: tuple[str, int], host: str, port: int, files: TlsFiles) -> None:
        self.backend, self.host, self.port, self.files = backend, host, port, files
        self.address: tuple[str, int] | None = None
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            backend_reader, backend_writer = await asyncio.open_connection(*self.backend)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pump(client_reader, backend_writer), _pump(backend_reader, client_writer))

    def start(self) -> TlsTerminator:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, ssl=server_context(self.files))
            )
            self.address = self._server.sockets[0].getsockname()[:2]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="tls-terminator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"TLS terminator did not start on {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
