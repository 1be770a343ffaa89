"""Rules a silver or gold contract implies without saying them: enforced whatever the YAML lists.

- ``nullable: false`` is a promise: every such column gets a critical not-null rule
  (``<column>_not_null``). An explicit not-null rule on it that only warns is raised to critical.
  Columns the change apply itself produces (``_is_deleted``, ``valid_from``...) are not in the
  change feed the rules see, so they are left out.
- ``values_parse``: a value a transform received as text and typed must not silently become NULL.
  A transform that types text keeps the raw value next to the typed one (``_raw_<column>``, see
  ``quality/raw_values.py``); the rule fails a row where a raw value is present and its typed value
  is not. A table whose transform types nothing passes it trivially.

Bronze is left alone: it keeps every record as received, and its conformance dead-letters a record
whose value does not fit its type or whose required field is missing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from platform_assets.contracts.rules import PARSE_EXPECTATION, Rule, Severity

NOT_NULL = "expect_column_values_to_not_be_null"
PARSE_RULE = "values_parse"


def _free_name(wanted: str, fallback: str, taken: set[str]) -> str:
    return wanted if wanted not in taken else fallback


def complete_rules(
    layer: str,
    required_columns: Sequence[str],
    rules: list[Rule],
    produced_by_apply: Collection[str] = (),
) -> list[Rule]:
    """``rules`` plus the implicit ones (see the module docstring); explicit rules keep their names."""
    if layer == "bronze":
        return rules
    out = list(rules)
    taken = {r.name for r in out}
    for column in required_columns:
        if column in produced_by_apply:
            continue
        index = next(
            (
                i
                for i, r in enumerate(out)
                if r.expectation == NOT_NULL and r.columns == (column,) and r.args.get("mostly") is None
            ),
            None,
        )
        if index is not None:
            if out[index].severity is Severity.WARNING:
                note = "raised to critical: the contract says nullable: false"
                out[index] = replace(
                    out[index],
                    severity=Severity.CRITICAL,
                    description=f"{out[index].description} ({note})".strip(),
                )
            continue
        name = _free_name(f"{column}_not_null", f"{column}_required", taken)
        taken.add(name)
        out.append(
            Rule(
                NOT_NULL,
                {"column": column},
                Severity.CRITICAL,
                name,
                "Implicit: the contract says nullable: false.",
                (column,),
            )
        )
    if not any(r.expectation == PARSE_EXPECTATION for r in out):
        name = _free_name(PARSE_RULE, f"implicit_{PARSE_RULE}", taken)
        out.append(
            Rule(
                PARSE_EXPECTATION,
                {},
                Severity.CRITICAL,
                name,
                "Implicit: every value received as text parsed as its column's type.",
            )
        )
    return out
