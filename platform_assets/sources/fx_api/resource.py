"""Dagster resource for the FX service: connection settings as config, a connector per use."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from platform_assets.sources.fx_api.connector import FxApiConnector


class FxApiResource(ConfigurableResource):
    """Connection settings for the FX rates REST service (values are wired from env vars in definitions)."""

    base_url: str = Field(description="Base URL of the FX service, e.g. https://127.0.0.1:8765.")
    token: str = Field(description="Bearer token sent as 'Authorization: Bearer <token>'.")
    ca_path: str | None = Field(
        default=None,
        description="PEM CA bundle to verify the server's certificate with (the sandbox's CA); None uses "
        "the system store. Certificates are always verified.",
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Records requested per page (1-1000).")
    max_attempts: int = Field(
        default=6, ge=1, description="Tries per HTTP request, the first included, before giving up."
    )
    max_backoff_seconds: float = Field(
        default=30.0, ge=0, description="Upper bound on any wait between retries, Retry-After included."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Connect/read timeout per HTTP request.")
    circuit_failure_threshold: int = Field(
        default=3, ge=1, description="Consecutive failed requests (retries exhausted) that open the circuit."
    )
    circuit_cooldown_seconds: float = Field(
        default=60.0, ge=0, description="Seconds the circuit stays open before one trial request is allowed."
    )

    def connector(self) -> FxApiConnector:
        return FxApiConnector(
            self.base_url,
            self.token,
            page_size=self.page_size,
            max_attempts=self.max_attempts,
            max_backoff_seconds=self.max_backoff_seconds,
            timeout_seconds=self.timeout_seconds,
            circuit_failure_threshold=self.circuit_failure_threshold,
            circuit_cooldown_seconds=self.circuit_cooldown_seconds,
            ca_path=self.ca_path,
        )
