"""Column masks as Spark SQL expressions (they run on whichever engine the session is: Sail, Spark).

``hash`` is SHA-256 over a per-environment salt and the value, so the same value gives the same
token within an environment (joins and distinct counts still work) and a token cannot be looked up
against a list of known emails without the salt. The salt comes from ``PLATFORM_MASK_SALT``; in
production (``PLATFORM_ENV=prod``) it must be set, elsewhere a fixed per-environment default is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from platform_assets.governance.decision import sql_literal
from platform_assets.governance.policy_model import MaskMethod

SALT_VARIABLE = "PLATFORM_MASK_SALT"
REDACTED = "[REDACTED]"


class SaltMissing(RuntimeError):
    pass


def platform_env(env: Mapping[str, str] = os.environ) -> str:
    return (env.get("PLATFORM_ENV") or "dev").strip().lower()


def mask_salt(env: Mapping[str, str] = os.environ) -> str:
    salt = env.get(SALT_VARIABLE, "")
    if salt:
        return salt
    if platform_env(env) == "prod":
        raise SaltMissing(f"{SALT_VARIABLE} must be set in production (hash masks need a secret salt)")
    return f"platform-{platform_env(env)}-mask-salt"


def mask_expression(column: str, data_type: str, method: MaskMethod, salt: str) -> str:
    """SQL for the masked value of ``column`` (``data_type`` as Spark's simpleString), named as it."""
    ref = f"`{column}`"
    text = data_type == "string"
    if method is MaskMethod.NONE:
        expr = ref
    elif method is MaskMethod.NULL or (method is MaskMethod.REDACT and not text):
        expr = f"CAST(NULL AS {data_type})" if data_type not in ("binary",) else "CAST(NULL AS BINARY)"
    elif method is MaskMethod.REDACT:
        expr = f"CASE WHEN {ref} IS NULL THEN NULL ELSE {sql_literal(REDACTED)} END"
    elif method is MaskMethod.HASH:
        expr = f"sha2(concat({sql_literal(salt)}, CAST({ref} AS STRING)), 256)"
    else:  # partial: the first character, then ***, then the email domain when there is one
        value = f"CAST({ref} AS STRING)"
        expr = (
            f"CASE WHEN {ref} IS NULL THEN NULL WHEN instr({value}, '@') > 1 THEN "
            f"concat(substr({value}, 1, 1), '***', substr({value}, instr({value}, '@'))) "
            f"ELSE concat(substr({value}, 1, 1), '***') END"
        )
    return f"{expr} AS {ref}"
