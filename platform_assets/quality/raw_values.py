"""Raw values kept next to typed ones, so a value that does not parse is a failed rule, not a NULL.

A transform that types text (``try_cast``, ``try_to_timestamp``) turns a value it cannot parse into
NULL, which a later filter or de-duplication can then drop without a trace. Such a transform emits,
next to each typed column, the value it typed as text: ``_raw_<column>`` (``typed_from_raw``). The
gate keeps these companions through evaluation (failing-row samples and the quarantine show what was
received) and the implicit ``values_parse`` rule (``contracts/implicit_rules.py``) fails every row
where a raw value is present and its typed value is not. Companions are never published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F

RAW_PREFIX = "_raw_"


def typed_from_raw(name: str, raw: Column, typed: Column) -> list[Column]:
    """``typed`` as ``name`` and ``raw`` (what was typed, as text) as ``_raw_<name>``."""
    return [typed.alias(name), raw.cast("string").alias(RAW_PREFIX + name)]


def raw_companions(columns: Iterable[str], typed_columns: Iterable[str]) -> list[str]:
    """The ``_raw_<column>`` companions among ``columns`` whose typed column is one of ``typed_columns``."""
    names = list(columns)
    wanted = set(typed_columns)
    return [c for c in names if c.startswith(RAW_PREFIX) and c[len(RAW_PREFIX) :] in wanted]


def unparsed(columns: Sequence[str]) -> Column:
    """True where some raw companion holds a value and its typed column is NULL (it did not parse)."""
    conditions = [
        F.col(raw).isNotNull() & F.col(raw[len(RAW_PREFIX) :]).isNull()
        for raw in raw_companions(columns, columns)
    ]
    return reduce(lambda a, b: a | b, conditions, F.lit(False))
