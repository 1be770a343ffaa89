"""The whole code location loads, and every asset carries what the UI and the team rely on."""

import dagster as dg
import pytest

from platform_assets.contracts import load_contracts
from platform_assets.definitions import CUSTOMERS_JOB, FX_JOB, build_definitions
from platform_assets.settings import PlatformSettings


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path_factory.mktemp("lake"))})
    return build_definitions(settings)


def test_definitions_load(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(FX_JOB) is not None
    assert defs.resolve_sensor_def("fx_publications_sensor").job_name == FX_JOB
    assert defs.resolve_sensor_def("rds_customers_dms_sensor").job_name == CUSTOMERS_JOB


def test_the_module_level_definitions_object_loads() -> None:
    from platform_assets import definitions

    dg.Definitions.validate_loadable(definitions.defs)


def test_every_table_asset_has_contract_metadata(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    contracts = load_contracts()
    tables = {k for k in graph.materializable_asset_keys if k.path[0] != "ops"}  # ops/: the platform's own
    assert {k.to_user_string() for k in tables} == set(contracts)
    for key in tables:
        node = graph.get(key)
        contract = contracts[key.to_user_string()]
        assert node.description and node.owners == contract.owners
        assert node.group_name == key.path[0]
        assert "delta" in node.kinds
        assert node.tags["layer"] == key.path[0] and node.tags["domain"] == contract.domain
        pii = any(c.classification.value == "pii" for c in contract.columns)
        assert node.tags["contains_pii"] == ("true" if pii else "false")
        assert node.metadata["dagster/table_name"] == ".".join(key.path)
        assert isinstance(node.metadata["dagster/column_schema"], dg.TableSchema)
        assert isinstance(node.freshness_policy, dg.FreshnessPolicy)
    assert (
        graph.get(dg.AssetKey(["silver", "fx_rates"]))
        .freshness_policy.fail_window.to_timedelta()
        .total_seconds()
        == 36 * 3600
    )


def test_ops_report_assets_are_described_and_owned(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for name in ("data_quality_report", "data_docs", "platform_health"):
        node = graph.get(dg.AssetKey(["ops", name]))
        assert node.description and node.owners == ["team:data-platform"] and node.group_name == "ops"
        assert node.kinds and dg.AssetKey(["ops", "quality_results"]) in node.parent_keys


def test_partitions_and_lineage(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    bronze, silver, gold = (
        dg.AssetKey(p) for p in (["bronze", "fx_rates"], ["silver", "fx_rates"], ["gold", "dim_currency"])
    )
    assert graph.get(bronze).partitions_def == graph.get(silver).partitions_def
    assert graph.get(gold).partitions_def is None
    assert graph.get(silver).parent_keys == {bronze}
    assert graph.get(gold).parent_keys == {silver}
    assert graph.get(bronze).parent_keys == {dg.AssetKey(["sources", "fx_api_rates"])}
    # a business date reads its own ingestion day and the lookahead window of later ones
    mapping = graph.get_partition_mapping(silver, bronze)
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        graph.get(silver).partitions_def.subset_with_partition_keys(["2026-11-02"]),
        graph.get(silver).partitions_def,
        graph.get(bronze).partitions_def,
    ).partitions_subset.get_partition_keys()
    assert sorted(upstream) == [f"2026-11-{day:02d}" for day in range(2, 10)]


def test_critical_rules_are_blocking_checks(defs: dg.Definitions) -> None:
    specs = {
        f"{spec.asset_key.to_user_string()}:{spec.name}": spec
        for assets_def in defs.assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.check_specs
    }
    expected = {
        f"{name}:{rule.name}": rule.blocking for name, c in load_contracts().items() for rule in c.rules
    }
    assert {name: spec.blocking for name, spec in specs.items()} == expected
    blocking = {name for name, is_blocking in expected.items() if is_blocking}
    assert {
        "silver/fx_rates:ccy_exists",
        "silver/fx_rates:ccy_not_null",
        "silver/fx_rates:as_of_date_ccy_unique",
        "silver/fx_rates:rate_to_base_not_null",
        "gold/dim_currency:ccy_unique",
        "silver/customers:customer_id_not_null",
    } <= blocking
    assert (
        "silver/fx_rates:rate_to_base_between" not in blocking
        and "bronze/fx_rates:no_resent_records" in specs
    )


def test_every_ops_asset_has_description_owners_group_kinds(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    ops = [k for k in graph.materializable_asset_keys if k.path[0] == "ops"]
    assert ops
    for key in ops:
        node = graph.get(key)
        assert node.description and node.owners and node.group_name == "ops" and node.kinds, key


def test_code_location_start_up_imports_neither_gx_nor_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys, platform_assets.definitions; "
        "print(sorted(m for m in ('great_expectations', 'matplotlib', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
