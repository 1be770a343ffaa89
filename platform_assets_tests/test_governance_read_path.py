"""The governed read path, tested the way Apache Ranger tests its policy engine: a table of requests
(role, attributes, query) against the real policies and real Delta tables on the real engine (Sail),
each with the exact rows the caller must see (masked values included) or the denial; every request,
allowed or denied, leaves exactly one row in ops/audit_log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets import cli
from platform_assets.engine.query import QueryError
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.governance.decision import Caller
from platform_assets.governance.governed_sql import run_governed
from platform_assets.governance.masks import REDACTED, mask_salt
from platform_assets.governance.read_path import Governance
from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets_tests.governance_lake import DEAD_LETTER_RAW, build_governance_lake, token

SALT = "test-salt-not-a-secret"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    built = Lake(str(tmp_path_factory.mktemp("governed") / "lake"))
    build_governance_lake(built)
    return built


@pytest.fixture(autouse=True)
def salt(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PLATFORM_MASK_SALT", SALT)
    monkeypatch.delenv("PLATFORM_ENV", raising=False)
    yield


@pytest.fixture(scope="module")
def governance() -> Governance:
    return Governance.load()


def h(value: object) -> str:
    return token(value, SALT)


DENIED = "denied"
# (case, role, attributes, query, expected rows in order, or (DENIED, message part))
CASES: list[tuple[str, str, dict[str, str], str, Any]] = [
    (
        "analyst sees gold with names tokenized",
        "analyst", {},
        "SELECT customer_id, name, region FROM gold.dim_customer ORDER BY customer_id",
        [(1, h("Jane Doe"), "AMER"), (2, h("Hans Meier"), "EMEA"), (3, h("Yuki Sato"), "APAC")],
    ),
    (
        "tokens still join and count: one distinct token per person",
        "analyst", {},
        "SELECT COUNT(DISTINCT name) AS people FROM gold.dim_customer",
        [(3,)],
    ),
    (
        "regional analyst sees only their region, names partially",
        "regional_analyst", {"region": "EMEA"},
        "SELECT customer_id, name, region FROM gold.dim_customer",
        [(2, "H***", "EMEA")],
    ),
    (
        "regional analyst's revenue is their region's only",
        "regional_analyst", {"region": "EMEA"},
        "SELECT region, SUM(revenue_usd) AS revenue FROM gold.agg_daily_revenue GROUP BY region",
        [("EMEA", 75.0)],
    ),
    (
        "a filter on a masked column cannot probe the stored value",
        "regional_analyst", {"region": "EMEA"},
        "SELECT customer_id FROM gold.dim_customer WHERE name = 'Hans Meier'",
        [],
    ),
    (
        "an attribute cannot inject SQL into the row filter",
        "regional_analyst", {"region": "EMEA' OR '1'='1"},
        "SELECT customer_id FROM gold.dim_customer",
        [],
    ),
    (
        "a role's required attribute missing: denied",
        "regional_analyst", {},
        "SELECT region FROM gold.agg_daily_revenue",
        (DENIED, "role regional_analyst needs attribute(s) region"),
    ),
    (
        "no grant on silver: denied",
        "analyst", {},
        "SELECT email FROM silver.customers",
        (DENIED, "role analyst has no grant on silver/customers"),
    ),
    (
        "one table of a join not granted denies the whole query",
        "support", {},
        "SELECT c.email FROM silver.customers c JOIN gold.dim_customer d ON c.customer_id = d.customer_id",
        (DENIED, "role support has no grant on gold/dim_customer"),
    ),
    (
        "a role no policy defines: denied",
        "intern", {},
        "SELECT region FROM gold.agg_daily_revenue",
        (DENIED, "no policy defines role 'intern'"),
    ),
    (
        "support: column masks over the classification default, deleted customers filtered",
        "support", {},
        "SELECT customer_id, email, phone, name, country FROM silver.customers ORDER BY customer_id",
        [
            (1, "j***@example.com", None, REDACTED, "US"),
            (2, "h***@example.de", None, REDACTED, "DE"),
        ],
    ),
    (
        "unclassified columns (dead-letter payloads) count as pii",
        "engineer", {},
        "SELECT _position, _raw FROM bronze.order_events_dlq",
        [("orders.events-0:17", h(DEAD_LETTER_RAW))],
    ),
    (
        "the service role reads PII as stored",
        "pipeline", {},
        "SELECT email FROM silver.customers ORDER BY customer_id",
        [("jane@example.com",), ("hans@example.de",), ("yuki@example.jp",)],
    ),
    (
        "reading by path is refused",
        "engineer", {},
        "SELECT * FROM delta.`/tmp/lake/silver/customers`",
        (DENIED, "tables are read by name"),
    ),
    (
        "engine view names are refused",
        "engineer", {},
        "SELECT * FROM silver__customers",
        (DENIED, "not by engine view names"),
    ),
    (
        "only SELECT is served",
        "pipeline", {},
        "DELETE FROM silver.customers",
        (DENIED, "only SELECT"),
    ),
    (
        "EXPLAIN would show the salt: refused",
        "analyst", {},
        "EXPLAIN SELECT name FROM gold.dim_customer",
        (DENIED, "only SELECT"),
    ),
]  # fmt: skip


def audit_rows(lake: Lake) -> list[dict]:
    """The audit rows of requests (the first read also audits the policies version it applies)."""
    rows = read_table(audit_uri(lake), order_by=["at"]).to_pylist()
    return [r for r in rows if r["action"] != "policy_change"]


@pytest.mark.parametrize(("case", "role", "attributes", "query", "want"), CASES, ids=[c[0] for c in CASES])
def test_policy_table(
    lake: Lake, governance: Governance, case: str, role: str, attributes: dict, query: str, want: Any
) -> None:
    spark = SparkEngine(engine="sail").get_session()
    caller = Caller("alice", role, attributes)
    before = len(audit_rows(lake)) if row_count(audit_uri(lake)) else 0
    if isinstance(want, tuple) and want[0] == DENIED:
        with pytest.raises(QueryError, match=None) as raised:
            run_governed(query, spark, lake, caller, 100, governance)
        assert want[1] in str(raised.value)
        allowed, count = False, None
    else:
        result = run_governed(query, spark, lake, caller, 100, governance)
        assert result.rows == want
        allowed, count = True, len(want)
    audit = audit_rows(lake)
    assert len(audit) == before + 1  # exactly one audit row per request, written before returning
    last = audit[-1]
    assert (last["user"], last["role"], last["action"], last["statement"]) == ("alice", role, "read", query)
    assert (last["allowed"], last["row_count"]) == (allowed, count)
    if not allowed:
        assert want[1] in last["reason"]


def test_audit_names_masked_columns_and_filters(lake: Lake, governance: Governance) -> None:
    spark = SparkEngine(engine="sail").get_session()
    run_governed(
        "SELECT customer_id, name FROM gold.dim_customer",
        spark, lake, Caller("bob", "regional_analyst", {"region": "APAC"}), 100, governance,
    )  # fmt: skip
    last = audit_rows(lake)[-1]
    assert last["datasets"] == ["gold/dim_customer"]
    assert last["columns_masked"] == ["gold/dim_customer.name:partial"]
    assert last["row_filters"] == ["gold/dim_customer: (region = 'APAC')"]
    assert last["row_count"] == 1


def test_a_new_pii_column_is_masked_without_a_policy_edit(lake: Lake, governance: Governance) -> None:
    """Classification is tag-based: tag a column pii in the contract and every role's mask applies."""
    contracts = dict(governance.contracts)
    dim = contracts["gold/dim_customer"]
    columns = [
        c.model_copy(update={"classification": "pii"}) if c.name == "country" else c for c in dim.columns
    ]
    contracts["gold/dim_customer"] = dim.model_copy(update={"columns": columns})
    retagged = Governance(governance.policies, contracts)
    spark = SparkEngine(engine="sail").get_session()
    result = run_governed(
        "SELECT country FROM gold.dim_customer ORDER BY customer_id",
        spark, lake, Caller("alice", "analyst"), 100, retagged,
    )  # fmt: skip
    assert result.rows == [(h("US"),), (h("DE"),), (h("JP"),)]


def test_platform_sql_role_and_attributes(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", lake.root)
    monkeypatch.setenv("PLATFORM_USER", "carol")
    query = "SELECT customer_id, name FROM gold.dim_customer ORDER BY customer_id"
    assert (
        cli.main(["sql", query, "--role", "regional_analyst", "--attr", "region=AMER", "--format", "json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"customer_id": 1, "name": "J***"}]
    assert cli.main(["sql", "SELECT email FROM silver.customers", "--role", "analyst"]) == 1
    err = capsys.readouterr().err
    assert err == "sql: access denied: role analyst has no grant on silver/customers\n"
    last = audit_rows(lake)[-1]
    assert (last["user"], last["role"], last["allowed"]) == ("carol", "analyst", False)
    # without --role: the policies' default role (engineer), PII tokenized
    assert (
        cli.main(["sql", "SELECT email FROM silver.customers WHERE customer_id = 1", "--format", "csv"]) == 0
    )
    assert capsys.readouterr().out.splitlines() == ["email", h("jane@example.com")]


def test_the_serving_catalog_binds_only_granted_tables_masked(lake: Lake) -> None:
    from platform_assets.governance.serving_catalog import bind_governed_views

    spark = SparkEngine(engine="sail").get_session()
    views = bind_governed_views(spark, lake, Caller("dave", "support"))
    assert views == ["global_temp.silver__customers"]
    rows = spark.sql("SELECT customer_id, email FROM global_temp.silver__customers ORDER BY 1").collect()
    assert [tuple(r) for r in rows] == [(1, "j***@example.com"), (2, "h***@example.de")]
    last = audit_rows(lake)[-1]
    assert (last["action"], last["role"], last["datasets"]) == ("serve", "support", ["silver/customers"])
    assert "silver/customers.email:partial" in last["columns_masked"]


NAMED_CLIENT = """
import json, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
rows = spark.sql("SELECT customer_id, email FROM silver.customers ORDER BY 1").collect()
print(json.dumps([[r[0], r[1]] for r in rows]))
print(json.dumps(sorted(r[1] for r in spark.sql("SHOW TABLES IN silver").collect())))
try:
    spark.sql("SELECT * FROM gold.dim_customer").collect()
except Exception as exc:
    print(json.dumps(type(exc).__name__))
"""


def test_the_endpoint_serves_granted_tables_by_layer_and_name_to_a_separate_client(lake: Lake) -> None:
    """A plain PySpark client in another process names ``silver.customers`` as in `platform sql`: the
    governed view (masked), and nothing the role has no grant on (gold/dim_customer)."""
    from platform_assets.serving.endpoint import LakeEndpoint

    with LakeEndpoint(lake, caller=Caller("dave", "support")) as endpoint:
        client = subprocess.run(
            [sys.executable, "-c", NAMED_CLIENT, endpoint.url],
            capture_output=True, text=True, timeout=120, env={**os.environ, "RUST_LOG": "error"},
        )  # fmt: skip
    assert client.returncode == 0, client.stderr[-2000:]
    rows, tables, refused = (json.loads(line) for line in client.stdout.strip().splitlines()[-3:])
    assert rows == [[1, "j***@example.com"], [2, "h***@example.de"]]
    assert tables == ["customers"]
    assert refused == "AnalysisException"


def test_production_refuses_hash_masks_without_a_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_MASK_SALT")
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    with pytest.raises(RuntimeError, match="PLATFORM_MASK_SALT must be set in production"):
        mask_salt()
    monkeypatch.setenv("PLATFORM_ENV", "dev")
    assert mask_salt() != mask_salt({"PLATFORM_ENV": "staging"})  # per environment


def test_no_rows_without_an_audit_row(
    tmp_path_factory: pytest.TempPathFactory, governance: Governance
) -> None:
    """The audit row is written before the result is returned: if it cannot be, no rows come back."""
    broken = Lake(str(tmp_path_factory.mktemp("unauditable") / "lake"))
    build_governance_lake(broken)
    (Path(broken.root) / "ops").write_text("not a folder")  # the audit table cannot be created
    spark = SparkEngine(engine="sail").get_session()
    with pytest.raises(Exception) as raised:
        run_governed(
            "SELECT region FROM gold.agg_daily_revenue",
            spark,
            broken,
            Caller("eve", "analyst"),
            10,
            governance,
        )
    assert not isinstance(raised.value, QueryError)
