"""The lake: where tables live (``location``) and the delta-rs operations on them (``delta_tables``)."""

from platform_assets.lake.location import Lake

__all__ = ["Lake"]
