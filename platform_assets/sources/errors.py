"""Errors raised by source connectors. Each names the source and the URL: a failed run says where to look."""

from __future__ import annotations


class SourceError(Exception):
    """Base class: something went wrong talking to a source system."""

    def __init__(self, source: str, url: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.url = url


class SourceAuthError(SourceError):
    """The source rejected our credentials (401/403). Retrying cannot help."""

    def __init__(self, source: str, url: str, status: int) -> None:
        super().__init__(
            source,
            url,
            f"{source}: GET {url} answered HTTP {status}: the token was rejected; "
            f"check the credentials configured for {source}",
        )
        self.status = status


class SourceTlsError(SourceError):
    """The source's TLS certificate did not verify against the configured CA. Retrying cannot help."""

    def __init__(self, source: str, url: str, detail: str, ca_setting: str) -> None:
        super().__init__(
            source,
            url,
            f"{source}: {url}: the server's TLS certificate was not verified ({detail}); "
            f"point {ca_setting} at the CA that signed it (the sandbox's: <sandbox home>/tls/sandbox-ca.pem)",
        )


class SourceRequestError(SourceError):
    """The source refused the request (a 4xx other than 401/403): a bug or bad parameter on our side."""

    def __init__(self, source: str, url: str, status: int, body_excerpt: str) -> None:
        super().__init__(source, url, f"{source}: GET {url} answered HTTP {status}: {body_excerpt}")
        self.status = status
        self.body_excerpt = body_excerpt


class SourceUnavailableError(SourceError):
    """Transient failures (429, 5xx, network) persisted through every retry."""

    def __init__(self, source: str, url: str, attempts: int, last_error: str) -> None:
        super().__init__(
            source, url, f"{source}: GET {url} failed after {attempts} attempts; last error: {last_error}"
        )
        self.attempts = attempts
        self.last_error = last_error


class SourceServerError(SourceUnavailableError):
    """A 5xx that is not transient (500, 501...): not retried, but it counts against the circuit breaker."""

    def __init__(self, source: str, url: str, status: int, body_excerpt: str) -> None:
        SourceError.__init__(
            self, source, url, f"{source}: GET {url} answered HTTP {status} (not retried): {body_excerpt}"
        )
        self.attempts = 1
        self.last_error = f"HTTP {status}: {body_excerpt}"
        self.status = status


class SourceResponseError(SourceError):
    """The source answered 2xx but the body is not what the connector expects."""

    def __init__(self, source: str, url: str, reason: str) -> None:
        super().__init__(source, url, f"{source}: GET {url} returned an unexpected response: {reason}")
        self.reason = reason


class CircuitOpenError(SourceError):
    """The circuit breaker is open: calls are rejected without reaching the source."""

    def __init__(self, source: str, failures: int, retry_in_seconds: float, url: str = "") -> None:
        target = f" {url}" if url else ""
        super().__init__(
            source,
            url,
            f"{source}: circuit open after {failures} consecutive failed requests; not calling{target} "
            f"for another {retry_in_seconds:.1f} s",
        )
        self.failures = failures
        self.retry_in_seconds = retry_in_seconds
