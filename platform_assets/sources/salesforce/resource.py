"""Dagster resource for Salesforce: connection settings as config, a connector per use."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from platform_assets.sources.salesforce.connector import SalesforceConnector


class SalesforceResource(ConfigurableResource):
    """Connection settings for a Salesforce org's REST API (values are wired from env vars in definitions)."""

    instance_url: str = Field(description="The org's instance URL, e.g. https://acme.my.salesforce.com.")
    session_id: str = Field(description="Session id / OAuth access token sent as 'Authorization: Bearer'.")
    ca_path: str | None = Field(
        default=None,
        description="PEM CA bundle to verify the server with (the sandbox's own CA); None uses the system store.",
    )
    api_version: str = Field(default="59.0", description="REST API version, without the 'v'.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Connect/read timeout per HTTP request.")

    def connector(self) -> SalesforceConnector:
        return SalesforceConnector(
            self.instance_url,
            self.session_id,
            ca_path=self.ca_path,
            api_version=self.api_version,
            timeout_seconds=self.timeout_seconds,
        )
