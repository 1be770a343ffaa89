"""Deterministic FX rates for the sandbox FX service, with a manifest of planted defects.

Rates are quoted as ``rate_to_base``: the USD value of one unit of ``ccy``. Each currency follows a
seeded random walk. One publication per as_of_date (every calendar day: the sandbox has no holiday
calendar, so defect positions are plain day offsets from ``start``) is published at 16:00:00Z that day.

Planted defects (offsets from ``start``; see ``FxDataset.defects``):

- day+1 ``late_publication``: JPY is missing from the day's publication and arrives in its own
  publication at day+3 09:00Z (revision 1).
- day+2 ``null_currency``: one extra record with ``ccy = None`` and a plausible rate.
- day+3 ``duplicate_correction``: the EUR record is sent twice inside the 16:00Z publication (producer
  retry), and a correction publication at 18:30Z carries EUR revision 2 with a different rate.
- day+4 ``out_of_range_rate``: BRL has ``rate_to_base = 1500.0`` (valid range 0..1000).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

BASE_CURRENCY = "USD"

# Approximate USD value of one unit (late 2026 ballpark); the walk starts here.
START_RATES: dict[str, float] = {
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0067,
    "CHF": 1.13,
    "CAD": 0.73,
    "AUD": 0.66,
    "CNY": 0.138,
    "INR": 0.012,
    "BRL": 0.20,
    "MXN": 0.058,
    "SEK": 0.095,
    "SGD": 0.74,
}
# USD is published too (rate 1.0) so that joins on the base currency need no special case.
CURRENCIES: tuple[str, ...] = (BASE_CURRENCY, *START_RATES)

DAILY_VOLATILITY = 0.004
PUBLISH_TIME = time(16, 0, 0)
CORRECTION_TIME = time(18, 30, 0)
LATE_TIME = time(9, 0, 0)
OUT_OF_RANGE_RATE = 1500.0
MIN_DAYS = 5  # the last planted defect sits on start+4

# Defect kinds (the manifest's machine-readable vocabulary).
NULL_CURRENCY = "null_currency"
DUPLICATE_CORRECTION = "duplicate_correction"
OUT_OF_RANGE = "out_of_range_rate"
LATE_PUBLICATION = "late_publication"

# Where each defect is planted: (kind, day offset, currency).
LATE_OFFSET, LATE_CCY = 1, "JPY"
NULL_OFFSET = 2
CORRECTION_OFFSET, CORRECTION_CCY = 3, "EUR"
OUT_OF_RANGE_OFFSET, OUT_OF_RANGE_CCY = 4, "BRL"

Record = dict[str, Any]


@dataclass(frozen=True)
class FxDefect:
    """One planted defect: what it is, which business date and currency it touches, and a readable note."""

    kind: str
    as_of_date: date
    ccy: str | None
    detail: str


@dataclass(frozen=True)
class FxPublication:
    """One batch of records the FX service published at one instant."""

    publication_id: str
    as_of_date: date
    published_at: datetime  # UTC, timezone-aware
    seq: int  # 1-based, increasing in published order
    records: tuple[Record, ...]

    @property
    def published_date(self) -> date:
        return self.published_at.date()

    def summary(self) -> dict[str, Any]:
        """The JSON shape of this publication in ``GET /v1/publications``."""
        return {
            "publication_id": self.publication_id,
            "as_of_date": self.as_of_date.isoformat(),
            "published_at": format_timestamp(self.published_at),
            "published_date": self.published_date.isoformat(),
            "seq": self.seq,
            "record_count": len(self.records),
        }


@dataclass(frozen=True)
class FxDataset:
    """Everything the FX service serves, plus the manifest of planted defects."""

    seed: int
    start: date
    days: int
    base: str
    currencies: tuple[str, ...]
    publications: tuple[FxPublication, ...]
    defects: tuple[FxDefect, ...]

    @property
    def as_of_dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def last_published_at(self) -> datetime:
        return self.publications[-1].published_at

    def publications_published_on(self, d: date) -> list[FxPublication]:
        return [p for p in self.publications if p.published_date == d]

    def records_published_on(self, d: date) -> list[Record]:
        """Records of every publication published on UTC date ``d``, in service order (seq, then position)."""
        return [r for p in self.publications_published_on(d) for r in p.records]

    def all_records(self) -> Iterator[Record]:
        for p in self.publications:
            yield from p.records

    def defects_of(self, kind: str) -> list[FxDefect]:
        return [d for d in self.defects if d.kind == kind]

    def expected_silver(self, as_of_date: date) -> list[Record]:
        """Latest revision per (as_of_date, ccy), null currencies dropped, sorted by ccy.

        Deliberately naive (whole dataset, no publication-time window) so it is an independent oracle.
        Out-of-range rates are kept: rejecting them is the quality rules' job, not de-duplication's.
        """
        latest: dict[str, Record] = {}
        day = as_of_date.isoformat()
        for r in self.all_records():
            if r["as_of_date"] != day or r["ccy"] is None:
                continue
            held = latest.get(r["ccy"])
            if held is None or (r["revision"], r["published_at"]) > (held["revision"], held["published_at"]):
                latest[r["ccy"]] = r
        return [latest[c] for c in sorted(latest)]


def format_timestamp(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_fx(
    seed: int = 7, start: date = date(2026, 11, 1), days: int = 7, scale: float = 1.0
) -> FxDataset:
    """Build the FX dataset.

    ``scale`` multiplies the number of days (``round(days * scale)`` as_of_dates): the currency set is
    fixed, so more days is the only way to get more FX rows. Defects stay at the same offsets.
    """
    n_days = round(days * scale)
    if n_days < MIN_DAYS:
        raise ValueError(
            f"generate_fx: days * scale must give at least {MIN_DAYS} days (the planted defects need them), "
            f"got days={days}, scale={scale}"
        )
    rng = random.Random(seed)
    rates = _random_walk(rng, n_days)
    drafts: list[tuple[datetime, str, date, list[Record]]] = []

    for offset in range(n_days):
        as_of = start + timedelta(days=offset)
        pub_id = f"fx-{as_of:%Y%m%d}-r1"
        published_at = _at(as_of, PUBLISH_TIME)
        records: list[Record] = []
        for ccy in CURRENCIES:
            if offset == LATE_OFFSET and ccy == LATE_CCY:
                continue  # sent later in its own publication
            out_of_range = (offset, ccy) == (OUT_OF_RANGE_OFFSET, OUT_OF_RANGE_CCY)
            rate = OUT_OF_RANGE_RATE if out_of_range else rates[offset][ccy]
            records.append(_record(pub_id, as_of, ccy, rate, published_at, revision=1))
            if offset == CORRECTION_OFFSET and ccy == CORRECTION_CCY:
                records.append(dict(records[-1]))  # exact duplicate, as a producer retry sends it
        if offset == NULL_OFFSET:
            records.append(_record(pub_id, as_of, None, round(rng.uniform(0.5, 1.5), 6), published_at, 1))
        drafts.append((published_at, pub_id, as_of, records))

        if offset == CORRECTION_OFFSET:
            fix_id = f"fx-{as_of:%Y%m%d}-r2-{CORRECTION_CCY.lower()}"
            fix_at = _at(as_of, CORRECTION_TIME)
            corrected = _different_rate(rng, rates[offset][CORRECTION_CCY])
            fix = _record(fix_id, as_of, CORRECTION_CCY, corrected, fix_at, revision=2)
            drafts.append((fix_at, fix_id, as_of, [fix]))

        if offset == LATE_OFFSET:
            late_id = f"fx-{as_of:%Y%m%d}-r1-{LATE_CCY.lower()}-late"
            late_at = _at(start + timedelta(days=CORRECTION_OFFSET), LATE_TIME)
            late = _record(late_id, as_of, LATE_CCY, rates[offset][LATE_CCY], late_at, revision=1)
            drafts.append((late_at, late_id, as_of, [late]))

    drafts.sort(key=lambda d: d[0])
    publications = tuple(
        FxPublication(publication_id=pid, as_of_date=as_of, published_at=at, seq=i, records=tuple(recs))
        for i, (at, pid, as_of, recs) in enumerate(drafts, start=1)
    )
    return FxDataset(
        seed=seed,
        start=start,
        days=n_days,
        base=BASE_CURRENCY,
        currencies=CURRENCIES,
        publications=publications,
        defects=_manifest(start),
    )


def _random_walk(rng: random.Random, n_days: int) -> list[dict[str, float]]:
    """Per day, per currency: a geometric random walk from START_RATES (USD stays 1.0)."""
    current = dict(START_RATES)
    days: list[dict[str, float]] = []
    for _ in range(n_days):
        for ccy in START_RATES:
            current[ccy] *= math.exp(rng.gauss(0.0, DAILY_VOLATILITY))
        days.append({BASE_CURRENCY: 1.0, **{c: _round_rate(v) for c, v in current.items()}})
    return days


def _different_rate(rng: random.Random, rate: float) -> float:
    # A correction moves the rate by 0.2-0.8%, up or down, so it always differs after rounding.
    move = rng.uniform(0.002, 0.008) * rng.choice((-1, 1))
    return _round_rate(rate * (1 + move))


def _round_rate(value: float) -> float:
    # 6 significant digits: keeps JPY (0.0067...) and EUR (1.08...) equally precise.
    return float(f"{value:.6g}")


def _at(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=UTC)


def _record(
    pub_id: str, as_of: date, ccy: str | None, rate: float, published_at: datetime, revision: int
) -> Record:
    return {
        "publication_id": pub_id,
        "as_of_date": as_of.isoformat(),
        "ccy": ccy,
        "base": BASE_CURRENCY,
        "rate_to_base": rate,
        "published_at": format_timestamp(published_at),
        "revision": revision,
    }


def _manifest(start: date) -> tuple[FxDefect, ...]:
    def day(offset: int) -> date:
        return start + timedelta(days=offset)

    return (
        FxDefect(
            LATE_PUBLICATION,
            day(LATE_OFFSET),
            LATE_CCY,
            f"{LATE_CCY} missing from the {day(LATE_OFFSET)} publication; published alone on "
            f"{day(CORRECTION_OFFSET)} at 09:00:00Z, revision 1",
        ),
        FxDefect(
            NULL_CURRENCY,
            day(NULL_OFFSET),
            None,
            f"one extra record with ccy=null in the {day(NULL_OFFSET)} publication",
        ),
        FxDefect(
            DUPLICATE_CORRECTION,
            day(CORRECTION_OFFSET),
            CORRECTION_CCY,
            f"{CORRECTION_CCY} revision 1 sent twice in the 16:00:00Z publication; revision 2 with a "
            "different rate published at 18:30:00Z the same day; silver keeps revision 2",
        ),
        FxDefect(
            OUT_OF_RANGE,
            day(OUT_OF_RANGE_OFFSET),
            OUT_OF_RANGE_CCY,
            f"{OUT_OF_RANGE_CCY} rate_to_base={OUT_OF_RANGE_RATE} (valid range 0..1000)",
        ),
    )
