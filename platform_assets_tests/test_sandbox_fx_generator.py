"""The FX generator: determinism and the exact planted defects (the contract other tests rely on)."""

from collections import Counter
from datetime import date, timedelta

import pytest

from sandbox.generator.fx import CURRENCIES, START_RATES, FxDefect, generate_fx

START = date(2026, 11, 1)


def day(offset: int) -> date:
    return START + timedelta(days=offset)


def test_same_seed_gives_identical_dataset() -> None:
    assert generate_fx(seed=7) == generate_fx(seed=7)


def test_different_seed_changes_rates_but_not_shape() -> None:
    a, b = generate_fx(seed=7), generate_fx(seed=8)
    assert [p.publication_id for p in a.publications] == [p.publication_id for p in b.publications]
    assert [len(p.records) for p in a.publications] == [len(p.records) for p in b.publications]
    rates_a = [r["rate_to_base"] for r in a.all_records() if r["ccy"] not in ("USD", "BRL")]
    rates_b = [r["rate_to_base"] for r in b.all_records() if r["ccy"] not in ("USD", "BRL")]
    assert all(x != y for x, y in zip(rates_a, rates_b, strict=True))


def test_defect_manifest_is_exact() -> None:
    defects = generate_fx().defects
    assert [(d.kind, d.as_of_date, d.ccy) for d in defects] == [
        ("late_publication", day(1), "JPY"),
        ("null_currency", day(2), None),
        ("duplicate_correction", day(3), "EUR"),
        ("out_of_range_rate", day(4), "BRL"),
    ]
    assert all(isinstance(d, FxDefect) and d.detail for d in defects)


def test_record_and_publication_counts_per_published_date() -> None:
    ds = generate_fx()
    counts = {d: len(ds.records_published_on(d)) for d in ds.as_of_dates}
    assert counts == {day(0): 13, day(1): 12, day(2): 14, day(3): 16, day(4): 13, day(5): 13, day(6): 13}
    assert sum(counts.values()) == 94
    assert [p.publication_id for p in ds.publications] == [
        "fx-20261101-r1",
        "fx-20261102-r1",
        "fx-20261103-r1",
        "fx-20261102-r1-jpy-late",
        "fx-20261104-r1",
        "fx-20261104-r2-eur",
        "fx-20261105-r1",
        "fx-20261106-r1",
        "fx-20261107-r1",
    ]


def test_publications_ordered_by_time_with_increasing_seq() -> None:
    ds = generate_fx()
    assert [p.seq for p in ds.publications] == list(range(1, 10))
    times = [p.published_at for p in ds.publications]
    assert times == sorted(times)
    for p in ds.publications:
        assert all(r["publication_id"] == p.publication_id for r in p.records)
        assert all(r["published_at"] == p.published_at.strftime("%Y-%m-%dT%H:%M:%SZ") for r in p.records)


def test_records_have_the_raw_schema() -> None:
    record = generate_fx().publications[0].records[1]
    assert record == {
        "publication_id": "fx-20261101-r1",
        "as_of_date": "2026-11-01",
        "ccy": "EUR",
        "base": "USD",
        "rate_to_base": record["rate_to_base"],
        "published_at": "2026-11-01T16:00:00Z",
        "revision": 1,
    }
    assert isinstance(record["rate_to_base"], float)


def test_null_currency_is_one_extra_record_on_day_2() -> None:
    ds = generate_fx()
    nulls = [r for r in ds.all_records() if r["ccy"] is None]
    assert len(nulls) == 1
    assert nulls[0]["as_of_date"] == "2026-11-03"
    assert nulls[0]["publication_id"] == "fx-20261103-r1"
    assert 0.5 <= nulls[0]["rate_to_base"] <= 1.5
    assert [r["ccy"] for r in ds.records_published_on(day(2))] == [*CURRENCIES, None]


def test_eur_on_day_3_is_duplicated_then_corrected() -> None:
    ds = generate_fx()
    eur = [r for r in ds.all_records() if r["as_of_date"] == "2026-11-04" and r["ccy"] == "EUR"]
    assert len(eur) == 3
    first, retry, correction = eur
    assert first == retry  # exact duplicate inside the same publication
    assert (first["publication_id"], first["revision"], first["published_at"]) == (
        "fx-20261104-r1",
        1,
        "2026-11-04T16:00:00Z",
    )
    assert (correction["publication_id"], correction["revision"], correction["published_at"]) == (
        "fx-20261104-r2-eur",
        2,
        "2026-11-04T18:30:00Z",
    )
    assert correction["rate_to_base"] != first["rate_to_base"]


def test_brl_out_of_range_on_day_4_only() -> None:
    ds = generate_fx()
    bad = [r for r in ds.all_records() if not 0 <= r["rate_to_base"] <= 1000]
    assert [(r["as_of_date"], r["ccy"], r["rate_to_base"]) for r in bad] == [("2026-11-05", "BRL", 1500.0)]


def test_jpy_for_day_1_arrives_two_days_late() -> None:
    ds = generate_fx()
    jpy = [r for r in ds.all_records() if r["as_of_date"] == "2026-11-02" and r["ccy"] == "JPY"]
    assert len(jpy) == 1
    assert jpy[0]["publication_id"] == "fx-20261102-r1-jpy-late"
    assert jpy[0]["published_at"] == "2026-11-04T09:00:00Z"
    assert jpy[0]["revision"] == 1
    assert "JPY" not in [r["ccy"] for r in ds.records_published_on(day(1))]


def test_rates_are_plausible_random_walks() -> None:
    ds = generate_fx()
    for r in ds.all_records():
        if r["ccy"] is None or (r["ccy"], r["as_of_date"]) == ("BRL", "2026-11-05"):
            continue
        start_rate = 1.0 if r["ccy"] == "USD" else START_RATES[r["ccy"]]
        assert start_rate * 0.9 < r["rate_to_base"] < start_rate * 1.1, r
    usd = {r["rate_to_base"] for r in ds.all_records() if r["ccy"] == "USD"}
    assert usd == {1.0}


def test_expected_silver_keeps_latest_revision_and_drops_null_currency() -> None:
    ds = generate_fx()
    for d in ds.as_of_dates:
        silver = ds.expected_silver(d)
        assert sorted(r["ccy"] for r in silver) == sorted(CURRENCIES)
    eur = next(r for r in ds.expected_silver(day(3)) if r["ccy"] == "EUR")
    assert eur["revision"] == 2
    jpy = next(r for r in ds.expected_silver(day(1)) if r["ccy"] == "JPY")
    assert jpy["publication_id"] == "fx-20261102-r1-jpy-late"
    assert Counter(r["revision"] for d in ds.as_of_dates for r in ds.expected_silver(d)) == {1: 90, 2: 1}


def test_scale_multiplies_days_and_keeps_defects() -> None:
    ds = generate_fx(days=7, scale=3.0)
    assert ds.days == 21
    assert ds.as_of_dates[-1] == day(20)
    assert len(ds.publications) == 23
    assert ds.defects == generate_fx().defects


def test_too_few_days_is_rejected_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"at least 5 days.*days=4, scale=1.0"):
        generate_fx(days=4)
