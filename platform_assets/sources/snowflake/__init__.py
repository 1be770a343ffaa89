"""The Snowflake source: a product catalogue table, incremental by an updated_at watermark."""

from platform_assets.sources.snowflake.connector import (
    SnowflakeAuthError,
    SnowflakeConnector,
    SnowflakeQueryError,
)
from platform_assets.sources.snowflake.resource import SnowflakeResource

__all__ = ["SnowflakeAuthError", "SnowflakeConnector", "SnowflakeQueryError", "SnowflakeResource"]
