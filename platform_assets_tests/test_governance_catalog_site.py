"""The static catalog site (`platform catalog build`) over a small lake, opened in headless Chromium:
the in-browser search finds what `platform catalog search` finds, and a gold measure's page shows the
silver columns behind it (the contracts' declared lineage is the oracle)."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.cli import main
from platform_assets.contracts import load_contracts
from platform_assets.governance.catalog import search
from platform_assets.governance.definitions import CATALOG_SITE, catalog_site_definitions
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource
from platform_assets_tests.browser import dump_dom
from platform_assets_tests.governance_lake import CUSTOMERS, REVENUE, build_governance_lake


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    lake = Lake(str(root / "lake"))
    build_governance_lake(lake)
    out = root / "site"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_LAKE_ROOT", lake.root)
        assert main(["catalog", "build", "--out", str(out)]) == 0
    return out


def _results(dom: str) -> list[str]:
    """The names the search listed (dataset or dataset.column), in order."""
    block = re.search(r'<ul id="results">(.*?)</ul>', dom, re.S)
    assert block, "no results list in the rendered index"
    return re.findall(r"<li><a [^>]*>([^<]+)</a>", block.group(1))


def _cell(dom: str, column: str, cell: str) -> list[str]:
    """The column names linked in one cell of the lineage row of ``column``."""
    row = re.search(rf'<tr data-column="{column}">(.*?)</tr>', dom, re.S)
    assert row, f"no lineage row for {column}"
    found = re.search(rf'<td class="{cell}">(.*?)</td>', row.group(1), re.S)
    assert found
    return re.findall(r">([^<]+)</a>", found.group(1))


@pytest.fixture(scope="module")
def searched(site: Path) -> str:
    """The index as Chromium renders it with ``amount_usd`` typed into the search."""
    dom, _ = dump_dom(f"{(site / 'index.html').as_uri()}?q=amount_usd")
    return dom


def _names(term: str) -> list[str]:
    return [h.dataset + (f".{h.column}" if h.column else "") for h in search(load_contracts(), term)]


def test_search_in_the_browser_finds_what_the_cli_finds(site: Path, searched: str) -> None:
    assert (
        _results(searched)
        == _names("amount_usd")
        == [
            "gold/agg_daily_revenue.revenue_usd",  # its description names amount_usd
            "gold/agg_sales_pipeline.open_amount_usd",
            "gold/fact_opportunities.amount_usd",
            "gold/fact_order_lines.amount_usd",
        ]
    )
    assert f"{len(_names('amount_usd'))} match(es)" in searched
    dom, _ = dump_dom(f"{(site / 'index.html').as_uri()}#q=pii")  # a hash works too
    assert _results(dom) == _names("pii") and len(_names("pii")) == 18  # classification matched whole


def test_a_gold_measure_page_shows_the_silver_columns_behind_it(site: Path, searched: str) -> None:
    link = re.search(r'<a href="([^"]+)">gold/fact_order_lines\.amount_usd</a>', searched)
    assert link and link.group(1) == "gold__fact_order_lines.html#col-amount_usd"
    page, _ = dump_dom((site / link.group(1).split("#")[0]).as_uri())
    assert _cell(page, "amount_usd", "from") == [
        "silver/fx_rates.rate_to_base",
        "silver/order_lines.quantity",
        "silver/order_lines.unit_price",
    ]
    traced = _cell(page, "amount_usd", "traced")
    # through silver/order_lines to silver/orders, and on to bronze
    assert {"silver/order_lines.quantity", "silver/orders.lines", "silver/fx_rates.rate_to_base"} <= set(
        traced
    )
    assert any(t.startswith("bronze/") for t in traced)
    assert _cell(page, "amount_usd", "feeds") == ["gold/agg_daily_revenue.revenue_usd"]
    assert "Freshness SLA" in page and "warn after 26h, fail after 36h" in page
    assert "2555 days by order_date; quarantine rows and dead letters 90 days" in page
    assert '<span id="row-count">not written yet</span>' in page  # not in this small lake


def test_pages_carry_the_lake_state_classification_and_no_network(site: Path) -> None:
    """Static parts, read from the files (no script builds them)."""
    page = (site / "gold__agg_daily_revenue.html").read_text()
    assert f'<span id="row-count">{len(REVENUE)}</span>' in page
    assert re.search(r'<span id="last-update">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(Delta version 0\)', page)
    customers = (site / "silver__customers.html").read_text()
    assert f'<span id="row-count">{len(CUSTOMERS)}</span>' in customers
    assert re.search(r'<tr id="col-email"><td><code>email</code></td>.*?<td class="pii">pii</td>', customers)
    assert len(list(site.glob("*__*.html"))) == len(load_contracts())
    for page_file in site.glob("*.html"):
        text = page_file.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), page_file.name  # nothing from a network


def test_the_catalog_asset_builds_the_site(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    build_governance_lake(lake)
    defs = catalog_site_definitions(load_contracts(), tmp_path / "site")
    result = dg.materialize(
        [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
        resources={"lake": LakeResource(root=lake.root)},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == CATALOG_SITE
    metadata = event.materialization.metadata
    assert metadata["datasets"].value == len(load_contracts())
    assert (tmp_path / "site" / "index.html").exists()
