"""The Salesforce source: Accounts and Opportunities through the REST query API, incremental by SystemModstamp."""

from platform_assets.sources.salesforce.connector import SalesforceConnector, SalesforceSessionError
from platform_assets.sources.salesforce.resource import SalesforceResource

__all__ = ["SalesforceConnector", "SalesforceResource", "SalesforceSessionError"]
