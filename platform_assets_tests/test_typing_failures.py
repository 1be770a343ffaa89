"""Typing failures never vanish: values that do not parse, and NULLs in `nullable: false` columns.

The sandbox FX service serves 2026-11-01 with planted typing defects (the real HTTP service, bronze
as received, the silver gate on real Delta tables). Before the implicit rules, every one of them
was published or dropped with all checks green.
"""

from dataclasses import replace
from datetime import date
from pathlib import Path

from platform_assets.lake.delta_tables import read_table
from platform_assets_tests.fx_platform import fx_platform
from sandbox.generator.fx import FxDataset, generate_fx

BAD = {  # currency -> the fields its 2026-11-01 record gets
    "EUR": {"ccy": 123},  # a number where a code belongs: it replaced EUR
    "GBP": {"as_of_date": "yesterday"},  # no date: the row vanished (it had no partition)
    "JPY": {"revision": None},  # NULL in nullable: false columns was published
    "CHF": {"published_at": None},
    "CAD": {"rate_to_base": "n/a"},
}


def _planted() -> FxDataset:
    dataset = generate_fx()
    first = dataset.publications[0]
    assert first.as_of_date == date(2026, 11, 1)
    assert BAD.keys() <= {r["ccy"] for r in first.records}
    records = tuple({**r, **BAD.get(r["ccy"], {})} for r in first.records)
    return replace(dataset, publications=(replace(first, records=records), *dataset.publications[1:]))


def test_values_that_do_not_parse_and_required_nulls_stop_the_gate_and_are_quarantined(
    tmp_path: Path,
) -> None:
    with fx_platform(tmp_path, _planted()) as platform:
        report = platform.run("2026-11-01")
        assert not report.success
        assert "silver/fx_rates" not in report.materialized
        checks = {k.split(":")[1]: v for k, v in report.checks.items() if k.startswith("silver/")}
        # summed over the results of the run's day and of the rows without a date (GBP's)
        failed = {
            name: report.failed_rows(f"silver/fx_rates:{name}") for name, c in checks.items() if not c.passed
        }
        assert failed == {
            "ccy_is_iso_code": 1,
            "values_parse": 2,  # GBP's date, CAD's rate
            "rate_to_base_not_null": 1,  # CAD's rate, typed to NULL
            "revision_not_null": 1,  # implicit: nullable: false
            "published_at_not_null": 1,  # implicit: nullable: false
            "as_of_date_not_null": 1,  # implicit: GBP's date, typed to NULL
        }
        assert all(checks[name].severity.value == "ERROR" for name in failed)
        parse = checks["values_parse"]
        # one result for the day, one (no partition) for the row without a date, in one evaluation
        assert report.failed_partitions["silver/fx_rates:values_parse"] == ["2026-11-01", None]
        assert parse.severity.value == "ERROR"
        samples = {
            (row["ccy"], row["_raw_as_of_date"], row["_raw_rate_to_base"])
            for evaluation in report.evaluations["silver/fx_rates:values_parse"]
            for row in evaluation.metadata["failing_rows_sample"].value
        }
        assert samples == {("GBP", "yesterday", "1.2726"), ("CAD", "2026-11-01", "n/a")}
        assert checks["ccy_is_iso_code"].metadata["failing_rows_sample"].value[0]["ccy"] == "123"

        # nothing of the day is published: a row without a date could belong to any partition
        silver_uri = platform.lake.uri("silver/fx_rates")
        assert not Path(silver_uri).exists() or read_table(silver_uri).num_rows == 0
        quarantined = read_table(platform.lake.quarantine_uri("silver/fx_rates")).to_pylist()
        by_rules = sorted((r["_failed_rules"], r["_action"]) for r in quarantined)
        assert by_rules == sorted(
            [
                ("ccy_is_iso_code", "blocked"),
                ("as_of_date_not_null,values_parse", "blocked"),
                ("rate_to_base_not_null,values_parse", "blocked"),
                ("revision_not_null", "blocked"),
                ("published_at_not_null", "blocked"),
            ]
        )
        gbp = next(r for r in quarantined if r["_raw_as_of_date"] == "yesterday")
        assert gbp["ccy"] == "GBP" and gbp["as_of_date"] is None

        # the next day does not read the undated row of 11-01 and publishes exactly its rates
        report = platform.run("2026-11-02")
        assert report.success, report.skipped_or_failed_steps
        rows = read_table(silver_uri, columns=["as_of_date", "ccy"]).to_pylist()
        assert {r["as_of_date"] for r in rows} == {date(2026, 11, 2)}
        assert len(rows) == 12  # JPY for 11-02 is published late
