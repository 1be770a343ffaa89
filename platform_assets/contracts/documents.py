"""A YAML document loaded into its pydantic model; a failure names the file, the field and the reason.

Contracts and governance policies load the same way: strict YAML (a key given twice is an error),
a mapping at the top, pydantic's first error as a dotted field path and a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from platform_assets.contracts.yaml_strict import DuplicateKeyError, load_yaml

Model = TypeVar("Model", bound=BaseModel)
# how the caller's error is made: (file, field, reason)
ErrorFactory = Callable[[Path, str, str], Exception]

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


def load_document(
    path: Path, model: type[Model], error: ErrorFactory, whole: str, what: str, docs: str
) -> Model:
    """``path`` as ``model``; ``whole`` names the document as a field, ``what`` it in a sentence."""
    try:
        raw = load_yaml(path.read_text())
    except DuplicateKeyError as exc:
        raise error(path, exc.field, exc.reason) from exc
    except yaml.YAMLError as exc:
        raise error(path, "(yaml)", f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise error(path, whole, f"{what} must be a YAML mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, reason = first_problem(exc, docs, whole)
        raise error(path, field, reason) from exc
