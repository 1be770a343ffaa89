"""The PII classification scan: sample each table's text columns for PII patterns (emails, phone
numbers, card numbers, IBANs) and warn about a column that holds them but is not classified ``pii``
in its contract (masks follow the classification, so such a column is shown unmasked).

Only a sample is read (``LIMIT``, through delta-rs' SQL engine): never a whole table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from deltalake import QueryBuilder

from platform_assets.contracts.model import Classification, Contract
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake

DEFAULT_SAMPLE = 1000
DEFAULT_MIN_SHARE = 0.05  # of the sampled non-null values
UNCLASSIFIED = "unclassified"  # a stored column the contract does not list


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    moved = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"^(\+\d[\d .()-]{6,}\d|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})$")
_CARD = re.compile(r"^(?:\d[ -]?){12,18}\d$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")

PATTERNS: dict[str, Callable[[str], bool]] = {
    "email": lambda v: _EMAIL.search(v) is not None,
    "phone": lambda v: _PHONE.match(v.strip()) is not None,
    "card_number": lambda v: _CARD.match(v.strip()) is not None and _luhn(re.sub(r"\D", "", v)),
    "iban": lambda v: _IBAN.match(v.replace(" ", "")) is not None and _iban_valid(v.replace(" ", "")),
}


@dataclass(frozen=True)
class Finding:
    dataset: str
    column: str
    classification: str
    kind: str  # which pattern
    matches: int
    sampled: int

    def __str__(self) -> str:
        state = (
            "is not in the contract"
            if self.classification == UNCLASSIFIED
            else "is classified " + self.classification
        )
        return (
            f"{self.dataset}.{self.column} {state} but {self.matches} of "
            f"{self.sampled} sampled values look like {self.kind.replace('_', ' ')}s: classify it pii"
        )


def scan_dataset(
    lake: Lake, contract: Contract, sample: int = DEFAULT_SAMPLE, min_share: float = DEFAULT_MIN_SHARE
) -> list[Finding]:
    table = open_table(lake.uri(contract.ref), lake.storage_options)
    if table is None:
        return []
    stored = {f.name: getattr(f.type, "type", None) for f in table.schema().fields}
    columns = {  # name -> classification, for every text column not classified pii
        c.name: c.classification.value
        for c in contract.columns
        if c.type == "string" and c.classification != Classification.PII and c.name in stored
    }
    # a column the table holds but the contract does not list (schema drift) has no classification
    columns.update(
        {n: UNCLASSIFIED for n, t in stored.items() if t == "string" and n not in contract.column_names}
    )
    if not columns:
        return []
    select = ", ".join(f'"{name}"' for name in columns)
    reader = QueryBuilder().register("t", table).execute(f"SELECT {select} FROM t LIMIT {int(sample)}")
    rows = pa.RecordBatchReader.from_stream(reader).read_all()
    findings = []
    for name, classification in columns.items():
        values = [v for v in rows.column(name).to_pylist() if isinstance(v, str) and v]
        for kind, matches in PATTERNS.items():
            count = sum(1 for v in values if matches(v))
            if values and count and count / len(values) >= min_share:
                findings.append(Finding(contract.dataset, name, classification, kind, count, len(values)))
                break
    return findings


def scan_lake(lake: Lake, contracts: dict[str, Contract], sample: int = DEFAULT_SAMPLE) -> list[Finding]:
    return [f for _, contract in sorted(contracts.items()) for f in scan_dataset(lake, contract, sample)]
