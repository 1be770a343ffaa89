"""Dagster resource for Snowflake: connection settings as config, a connector per use."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from platform_assets.sources.snowflake.connector import SnowflakeConnector


class SnowflakeResource(ConfigurableResource):
    """Connection settings for a Snowflake account (the sandbox: account 'fakesnow' on 127.0.0.1)."""

    account: str = Field(
        description="Account identifier, e.g. 'xy12345.eu-west-1' ('fakesnow' in the sandbox)."
    )
    user: str = Field(description="Login name.")
    password: str = Field(description="Password (wire it from an env var).")
    database: str | None = Field(default=None, description="Default database for unqualified table names.")
    schema_: str | None = Field(default=None, alias="schema", description="Default schema.")
    warehouse: str | None = Field(default=None, description="Virtual warehouse to run queries on.")
    role: str | None = Field(default=None, description="Role to assume.")
    host: str | None = Field(default=None, description="Override the host (the sandbox: 127.0.0.1).")
    port: int | None = Field(default=None, description="Override the port (the sandbox: fakesnow's port).")
    protocol: str = Field(
        default="https", description="'https' (certificates verified); 'http' is an opt-out."
    )
    ca_path: str | None = Field(
        default=None,
        description="PEM CA bundle to verify the server with (the sandbox's CA); None: the system store.",
    )
    login_timeout_seconds: int = Field(default=30, gt=0, description="Seconds to wait for login.")
    network_timeout_seconds: int = Field(
        default=60, gt=0, description="Seconds to wait for a query's answer."
    )

    def connector(self) -> SnowflakeConnector:
        return SnowflakeConnector(
            account=self.account,
            user=self.user,
            password=self.password,
            database=self.database,
            schema=self.schema_,
            warehouse=self.warehouse,
            role=self.role,
            host=self.host,
            port=self.port,
            protocol=self.protocol,
            login_timeout_seconds=self.login_timeout_seconds,
            network_timeout_seconds=self.network_timeout_seconds,
            ca_path=self.ca_path,
        )
