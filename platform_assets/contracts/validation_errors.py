"""Where and why a YAML document fails its pydantic model: a dotted field path and a one-line reason.

Contracts and governance policies report errors the same way (file, field, reason), so both loaders
turn pydantic's first error into that pair here.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

# a cross-field rule (a model validator) names its field first: "partitioning.column: ..."
_NAMED_FIELD = re.compile(r"^[a-z_\[\]0-9.]+: ")


def field_path(loc: tuple[int | str, ...], whole: str) -> str:
    """``roles.analyst.masks[0].column`` for pydantic's location; ``whole`` for the document itself."""
    parts: list[str] = []
    for item in loc:
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + str(item))
    return "".join(parts) or whole


def first_problem(exc: ValidationError, docs: str, whole: str) -> tuple[str, str]:
    """(field, reason) of the first error; ``docs`` is the page listing the fields (for a typo)."""
    first = exc.errors()[0]
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = f"unknown field (check the spelling against {docs})"
    elif first["type"] == "missing":
        reason = "required field is missing"
    field = field_path(first["loc"], whole)
    if _NAMED_FIELD.match(reason):
        inner, reason = reason.split(": ", 1)
        field = f"{field}.{inner}" if first["loc"] else inner
    return field, reason
