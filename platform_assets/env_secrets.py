"""Credentials as environment references: Dagster resolves them when a resource is built, at run time.

A resource field set to the value of ``os.environ[...]`` at definition time is stored in the code
location's snapshot, shown on the Resources page and in the launchpad. ``dg.EnvVar`` stores only the
variable's name. When the variable is unset the sandbox's public default is used (it is not a secret:
the sandbox services accept it), so the platform still runs against the sandbox out of the box.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

# every credential the platform reads, with the sandbox's public default
SECRET_VARIABLES = ("FX_API_TOKEN", "SALESFORCE_SESSION_ID", "SNOWFLAKE_PASSWORD")


def env_secret(name: str, sandbox_default: str, env: Mapping[str, str] = os.environ) -> str | dg.EnvVar:
    """``dg.EnvVar(name)`` if the variable is set, else the sandbox's (public) default."""
    if name not in SECRET_VARIABLES:
        raise ValueError(f"{name} is not a known credential variable ({', '.join(SECRET_VARIABLES)})")
    return dg.EnvVar(name) if env.get(name) else sandbox_default
