"""One module per source domain: its assets, job, sensor and source resources (DOP's defs/<domain>).

Each module exposes ``definitions(contracts, settings) -> dg.Definitions``; ``platform_assets.definitions``
merges them with the shared resources (lake, engine). Adding a source is a new module here plus
one line in ``DOMAINS``.
"""
