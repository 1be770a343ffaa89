"""platform_assets: a lakehouse data platform as a Dagster code location.

Layout (one hop from a question to its module):
- ``contracts``: YAML data contracts (schema, keys, rules, SLA, owners) and their loader.
- ``lake``: where tables live and the delta-rs operations on them (bronze writes, history).
- ``engine``: the Spark session (Sail in-process by default, Spark Connect or local Spark).
- ``sources``: connectors that fetch records from source systems.
- ``quality``: rule evaluation, asset checks, quarantine.
- ``layers``: the bronze, silver and gold assets built from contracts.
- ``sensors``: sensors that react to arriving source data.
- ``definitions``: the one place where everything is assembled.
"""
