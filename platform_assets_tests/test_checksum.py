"""Content checksums that compare two runs of the platform (operations/checksum.py), on real Delta tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from platform_assets.contracts import load_contracts
from platform_assets.operations.checksum import lake_checksums, run_dependent_columns, table_checksum


def test_the_run_dependent_columns_follow_the_lineage_from_the_bronze_clock_columns() -> None:
    found = run_dependent_columns(load_contracts())
    gold_and_silver = {name: columns for name, columns in found.items() if not name.startswith("bronze/")}
    assert gold_and_silver == {
        "silver/accounts": {"_ingested_at"},
        "silver/opportunities": {"_ingested_at"},
        "silver/products": {"_ingested_at"},
        "silver/products_history": {"_ingested_at"},
        "silver/fx_rates": {"_batch_id"},
        "silver/customers": {"_commit_ts", "_change_seq"},
        "silver/customers_history": {"_commit_ts", "_change_seq", "valid_from", "valid_to"},
        # keys hashed from the DMS commit time, and the facts' as-was keys to them
        "gold/dim_customer": {"customer_key", "valid_from", "valid_to", "effective_from", "effective_to"},
        "gold/fact_order_lines": {"customer_key"},
        "gold/fact_opportunities": {"customer_key"},
    }


def test_two_runs_that_differ_only_in_the_clock_and_the_order_of_a_sum_have_one_checksum(
    tmp_path: Path,
) -> None:
    contracts = load_contracts()
    first = pa.table({"Id": ["a", "b"], "_ingested_at": [1, 2], "amount": [11371.700063999999, 0.5]})
    second = pa.table({"Id": ["b", "a"], "_ingested_at": [7, 9], "amount": [0.5, 11371.700064]})
    uris = {}
    for label, table in (("first", first), ("second", second)):
        uris[label] = str(tmp_path / label)
        write_deltalake(uris[label], table)
    sums = {label: lake_checksums({"silver/accounts": uri}, contracts)[0] for label, uri in uris.items()}
    assert sums["first"] == sums["second"] and sums["first"].without == ("_ingested_at",)
    # the plain checksum sees both differences; a changed value is seen either way
    assert table_checksum(uris["first"]) != table_checksum(uris["second"])
    write_deltalake(
        uris["second"], second.set_column(2, "amount", pa.array([0.5, 11371.71])), mode="overwrite"
    )
    assert (
        lake_checksums({"silver/accounts": uris["second"]}, contracts)[0].checksum != sums["first"].checksum
    )
