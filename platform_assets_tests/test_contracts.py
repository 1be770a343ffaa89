"""Contracts: the shipped ones load; a malformed one fails with the file, the field and the reason."""

from pathlib import Path

import pytest
import yaml

from platform_assets.contracts import ContractError, load_contracts
from platform_assets.contracts.loader import CONTRACTS_DIR
from platform_assets.contracts.rules import Severity
from platform_assets.definitions import build_definitions
from platform_assets.settings import PlatformSettings


def test_shipped_contracts_load_with_their_rules() -> None:
    contracts = load_contracts()
    on_disk = {f"{p.parent.name}/{p.stem}" for p in CONTRACTS_DIR.glob("*/*.yaml")}
    assert (
        set(contracts) == on_disk and {"bronze/fx_rates", "silver/fx_rates", "gold/dim_currency"} <= on_disk
    )
    silver = contracts["silver/fx_rates"]
    assert silver.keys == ["as_of_date", "ccy"]
    assert silver.sequence_by == ["published_at", "revision"]
    assert silver.partitioning is not None and silver.partitioning.column == "as_of_date"
    assert {r.name: r.severity for r in silver.rules} == {
        "ccy_exists": Severity.CRITICAL,
        "ccy_not_null": Severity.CRITICAL,
        "as_of_date_ccy_unique": Severity.CRITICAL,
        "rate_to_base_not_null": Severity.CRITICAL,
        "rate_to_base_between": Severity.WARNING,
        "ccy_is_iso_code": Severity.CRITICAL,
        "base_ccy_is_iso_code": Severity.CRITICAL,
        # implicit: nullable: false columns without an explicit rule, and type validity
        "as_of_date_not_null": Severity.CRITICAL,
        "base_ccy_not_null": Severity.CRITICAL,
        "published_at_not_null": Severity.CRITICAL,
        "revision_not_null": Severity.CRITICAL,
        "publication_id_not_null": Severity.CRITICAL,
        "_batch_id_not_null": Severity.CRITICAL,
        "values_parse": Severity.CRITICAL,
    }
    between = next(r for r in silver.rules if r.name == "rate_to_base_between")
    assert between.args == {"column": "rate_to_base", "min_value": 0, "max_value": 1000}


def _write_contracts(tmp_path: Path, change: dict | None = None, dataset: str = "silver/fx_rates") -> Path:
    """A copy of the shipped contracts with one contract's top-level fields changed."""
    for source in CONTRACTS_DIR.glob("*/*.yaml"):
        target = tmp_path / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = yaml.safe_load(source.read_text())
        if f"{source.parent.name}/{source.stem}" == dataset and change is not None:
            for key, value in change.items():
                if value is None:
                    raw.pop(key, None)
                else:
                    raw[key] = value
        target.write_text(yaml.safe_dump(raw, sort_keys=False))
    return tmp_path


def _silver_schema() -> list[dict]:
    return yaml.safe_load((CONTRACTS_DIR / "silver" / "fx_rates.yaml").read_text())["schema"]


def _with_column_change(position: int, **changes: object) -> list[dict]:
    schema = _silver_schema()
    schema[position] = {**schema[position], **changes}
    return schema


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"descripton": "typo"}, "descripton", "unknown field"),
        ({"description": None}, "description", "required field is missing"),
        (
            {"schema": _with_column_change(1, type="varchar")},
            "schema[1].type",
            "type 'varchar' is not one of",
        ),
        ({"keys": ["as_of_date", "currency"]}, "keys", "names columns not in the schema: ['currency']"),
        ({"owners": ["fx desk"]}, "owners", "must be an email address or 'team:<name>'"),
        ({"freshness": {"fail_after": "soon"}}, "freshness.fail_after", "'soon' is not a duration"),
        (
            {"freshness": {"warn_after": "40h", "fail_after": "36h"}},
            "freshness",
            "warn_after must be shorter",
        ),
        (
            {"upstream": ["bronze/fx_rates", "bronze/fx_ratez"]},
            "upstream",
            "'bronze/fx_ratez' has no contract",
        ),
        (
            {"upstream": ["bronze/fx_ratez"]},
            "schema.as_of_date.lineage",
            "'bronze/fx_rates', which is not in",
        ),
        ({"dataset": "silver/rates"}, "dataset", "the file's place says 'silver/fx_rates'"),
        (
            {"ingest": "engine"},
            "ingest",
            "'engine' is built for the sources ['kafka', 'rds_dms'] only, not 'fx_api'",
        ),
        ({"ingest": "cluster"}, "ingest", "'process' or 'engine'"),
        (
            {"schema": _with_column_change(1, lineage=["bronze/fx_rates.currency"])},
            "schema.ccy.lineage",
            "bronze/fx_rates has no column 'currency'",
        ),
        (
            {
                "quality": {
                    "rules": [{"expect_column_values_to_be_between": {"column": "rate_to_base", "max": 9}}]
                }
            },
            "quality.rules",
            "does not take ['max']",
        ),
        (
            {"quality": {"rules": {"expect_column_to_be_pretty": "ccy"}}},
            "quality.rules",
            "unknown expectation",
        ),
        (
            {"quality": {"rules": [{"expect_column_values_to_not_be_null": "ccy", "severity": "fatal"}]}},
            "quality.rules",
            "severity 'fatal' is not one of",
        ),
    ],
)
def test_malformed_contract_names_file_field_and_reason(
    tmp_path: Path, change: dict, field: str, reason: str
) -> None:
    directory = _write_contracts(tmp_path, change)
    with pytest.raises(ContractError) as caught:
        load_contracts(directory)
    error = caught.value
    assert error.path.endswith("silver/fx_rates.yaml")
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"contract {error.path}: field '{field}'")


def test_ingest_engine_is_accepted_only_for_the_sources_that_have_an_engine_path(tmp_path: Path) -> None:
    for dataset in ("bronze/rds_customers_cdc", "bronze/order_events"):
        directory = _write_contracts(tmp_path / dataset.replace("/", "_"), {"ingest": "engine"}, dataset)
        assert load_contracts(directory)[dataset].ingest == "engine"
    directory = _write_contracts(tmp_path / "fx", {"ingest": "engine"}, dataset="bronze/fx_rates")
    with pytest.raises(ContractError) as caught:
        load_contracts(directory)
    assert caught.value.path.endswith("bronze/fx_rates.yaml") and caught.value.field == "ingest"
    assert "'engine' is built for the sources ['kafka', 'rds_dms'] only, not 'fx_api'" in caught.value.reason


def test_blocking_rules_are_refused_on_bronze(tmp_path: Path) -> None:
    rules = {"rules": [{"expect_column_values_to_not_be_null": "ccy", "severity": "critical"}]}
    directory = _write_contracts(tmp_path, {"quality": rules}, dataset="bronze/fx_rates")
    with pytest.raises(ContractError, match="bronze keeps every record as received"):
        load_contracts(directory)


def test_invalid_yaml_is_reported_with_its_file(tmp_path: Path) -> None:
    directory = _write_contracts(tmp_path)
    (directory / "gold" / "dim_currency.yaml").write_text("dataset: gold/dim_currency\nschema: [unclosed\n")
    with pytest.raises(ContractError, match=r"dim_currency.yaml: field '\(yaml\)': not valid YAML"):
        load_contracts(directory)


def test_a_malformed_contract_fails_definitions_loading(tmp_path: Path) -> None:
    directory = _write_contracts(tmp_path, {"keys": ["nope"]})
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    with pytest.raises(ContractError, match="field 'keys': names columns not in the schema"):
        build_definitions(settings, contracts_dir=directory)


def test_nullable_false_is_enforced_as_critical_whatever_the_yaml_says() -> None:
    contracts = load_contracts()
    # silver/products lists product_id's not-null rule as a warning; the contract says nullable: false
    products = {r.name: r for r in contracts["silver/products"].rules}
    assert products["product_id_not_null"].severity is Severity.CRITICAL
    assert products["sku_not_null"].severity is Severity.CRITICAL  # no rule in the YAML at all
    assert "_is_deleted_not_null" not in products  # produced by the change apply, not in the feed
    history = {r.name for r in contracts["silver/customers_history"].rules}
    assert not {"valid_from_not_null", "is_current_not_null"} & history
    for dataset, contract in contracts.items():
        names = {r.name: r for r in contract.rules}
        if contract.ref.layer == "bronze":
            assert "values_parse" not in names, dataset
            continue
        assert names["values_parse"].blocking, dataset
        for column in contract.columns:
            if column.nullable or column.name in ("_is_deleted", "valid_from", "is_current"):
                continue
            covering = [
                r
                for r in contract.rules
                if r.expectation == "expect_column_values_to_not_be_null" and r.columns == (column.name,)
            ]
            assert covering and all(r.blocking for r in covering), f"{dataset}.{column.name}"


# --- contracts that used to load and fail later (or never): they fail at load now ---


def _history_cdc(**extra: object) -> dict:
    return {"cdc": {"mode": "scd2", "apply_as_deletes": "Op = 'D'", **extra}}


@pytest.mark.parametrize(
    ("dataset", "change", "field", "reason"),
    [
        (
            "silver/fx_rates",
            {"quality": {"rules": [{"expect_column_values_to_not_be_null": "currency"}]}},
            "quality.rules",
            "rule 'currency_not_null' names columns not in the schema: ['currency']",
        ),
        (
            "silver/fx_rates",
            {"quality": {"rules": [{"expect_compound_columns_to_be_unique": ["as_of_date", "cur"]}]}},
            "quality.rules",
            "names columns not in the schema: ['cur']",
        ),
        (
            "silver/fx_rates",
            {
                "quality": {
                    "rules": [{"expect_column_values_to_be_between": {"column": "ccy", "min_value": 0}}]
                }
            },
            "quality.rules",
            "rule 'ccy_between' is a numeric range on 'ccy', which is string",
        ),
        (
            "silver/customers_history",
            {"cdc": {"mode": "scd2", "apply_as_deletes": "Op = 'D"}},
            "cdc.apply_as_deletes",
            "is not a valid SQL condition",
        ),
        (
            "silver/customers_history",
            {"cdc": {"mode": "scd2", "apply_as_deletes": "SELECT 1"}},
            "cdc.apply_as_deletes",
            "must be a boolean condition",
        ),
        (
            "silver/customers_history",
            {"cdc": {"mode": "scd2", "apply_as_deletes": "Operation = 'D'"}},
            "cdc.apply_as_deletes",
            "names columns ['Operation'] that neither the schema nor an upstream contract has",
        ),
        (
            "silver/customers_history",
            _history_cdc(track_history_column_list=["email", "mood"]),
            "cdc.track_history_column_list",
            "['mood'] are not value columns",
        ),
        (
            "silver/customers_history",
            _history_cdc(track_history_column_list=["email"], track_history_except_column_list=["phone"]),
            "cdc",
            "not both",
        ),
        (
            "silver/customers",
            {"cdc": {"mode": "scd1", "apply_as_deletes": "Op = 'D'", "track_history_column_list": ["email"]}},
            "cdc",
            "applies to scd2 only",
        ),
    ],
)
def test_contract_errors_surface_at_load(
    tmp_path: Path, dataset: str, change: dict, field: str, reason: str
) -> None:
    directory = _write_contracts(tmp_path, change, dataset=dataset)
    with pytest.raises(ContractError) as caught:
        load_contracts(directory)
    assert caught.value.path.endswith(f"{dataset}.yaml")
    assert (caught.value.field, reason in caught.value.reason) == (field, True), caught.value.reason


def test_a_duplicate_yaml_key_is_refused_with_its_field(tmp_path: Path) -> None:
    directory = _write_contracts(tmp_path)
    path = directory / "silver" / "fx_rates.yaml"
    path.write_text(path.read_text() + "keys: [ccy]\n")  # a second 'keys' would silently win
    with pytest.raises(ContractError) as caught:
        load_contracts(directory)
    assert caught.value.path.endswith("silver/fx_rates.yaml") and caught.value.field == "keys"
    assert "is given twice" in caught.value.reason


def test_a_duplicate_key_inside_a_nested_mapping_names_its_path(tmp_path: Path) -> None:
    directory = _write_contracts(tmp_path)
    path = directory / "silver" / "customers_history.yaml"
    text = path.read_text().replace("mode: scd2", "mode: scd2\n  mode: scd1")
    path.write_text(text)
    with pytest.raises(ContractError, match=r"field 'cdc.mode': is given twice \(lines \d+ and \d+\)"):
        load_contracts(directory)


def test_a_yml_file_is_refused_not_ignored(tmp_path: Path) -> None:
    directory = _write_contracts(tmp_path)
    (directory / "gold" / "dim_currency.yaml").rename(directory / "gold" / "dim_currency.yml")
    with pytest.raises(ContractError, match=r"dim_currency.yml: field '\(file\)': contract files must end"):
        load_contracts(directory)


def test_a_missing_contract_is_a_contract_error_not_a_key_error(tmp_path: Path) -> None:
    directory = _write_contracts(tmp_path)
    (directory / "gold" / "dim_currency.yaml").unlink()
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    with pytest.raises(
        ContractError, match=r"'gold/dim_currency' has no contract|no contract 'gold/dim_currency'"
    ):
        build_definitions(settings, contracts_dir=directory)


def test_every_key_column_is_a_critical_rule_whatever_the_yaml_says(tmp_path: Path) -> None:
    shipped = load_contracts()
    for name in ("silver/accounts", "silver/products"):  # their YAML says 'warning'
        rules = {r.name: r for r in shipped[name].rules}
        (key,) = shipped[name].keys
        assert rules[f"{key}_not_null"].severity is Severity.CRITICAL
    for contract in shipped.values():
        for key in contract.keys:
            assert any(
                r.expectation == "expect_column_values_to_not_be_null"
                and r.columns == (key,)
                and r.blocking
                and "mostly" not in r.args
                for r in contract.rules
            ), f"{contract.dataset}: key {key} is not enforced"
    # a key even where the schema says nullable, with a 'drop' rule or a lenient one: still critical
    schema = [{**c, "nullable": True} if c["name"] in ("as_of_date", "ccy") else c for c in _silver_schema()]
    lenient = {
        "rules": [
            {"expect_column_values_to_not_be_null": "as_of_date", "severity": "drop"},
            {"expect_column_values_to_not_be_null": {"column": "ccy", "mostly": 0.5}, "severity": "warning"},
        ]
    }
    contracts = load_contracts(_write_contracts(tmp_path, {"schema": schema, "quality": lenient}))
    rules = {r.name: r for r in contracts["silver/fx_rates"].rules}
    assert rules["as_of_date_not_null"].severity is Severity.CRITICAL  # was 'drop'
    assert rules["ccy_not_null"].args["mostly"] == 0.5  # the lenient rule stays as written...
    assert rules["ccy_required"].blocking and rules["ccy_required"].args == {"column": "ccy"}  # ...and this
