"""The FX rates REST source: paginated daily rates behind a bearer token."""

from platform_assets.sources.fx_api.connector import FxApiConnector
from platform_assets.sources.fx_api.resource import FxApiResource

__all__ = ["FxApiConnector", "FxApiResource"]
