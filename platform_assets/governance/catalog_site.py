"""The catalog as a static HTML site (`platform catalog build --out DIR`, and the ``ops/catalog_site``
asset): one page per dataset and an index with a client-side search.

Each page shows what the contract declares (description, owners, domain, tags, classification per
column, rules, freshness SLA, retention), what the lake holds (rows, last commit), the datasets it
reads and feeds, the roles that may read it, and **column-level lineage**: for each column the
columns it is computed from, every column it traces back to, and every column it feeds (the
open-source Dagster UI does not show column lineage). All of it comes from catalog.py's model, the
same one `platform catalog search` and `platform impact` use.

The index searches in the browser over a generated index (``search-index.js``, also written as
``search-index.json``) with the CLI's matching rules (catalog.py ``matched_field``). The index is a
script file rather than a fetched JSON file because a browser refuses ``fetch`` on ``file://``; nothing
is loaded from the network. ``index.html?q=TERM`` (or ``#q=TERM``) opens with a search typed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from platform_assets.contracts.model import Contract
from platform_assets.governance.catalog import (
    EXACT_FIELDS,
    column_fields,
    column_text,
    dataset_fields,
    dataset_text,
    direct_downstream,
    downstream_columns,
    downstream_datasets,
    roles_reading,
    upstream_columns,
)
from platform_assets.governance.policy_model import Policies
from platform_assets.lake.delta_tables import open_table, row_count
from platform_assets.lake.location import Lake

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2430}
a{color:#1a56a8;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #dde2ea;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f3f5f9}.pii{color:#a11d33;font-weight:600}.muted{color:#667085}
code{background:#f3f5f9;padding:0 .2rem}input{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box}
dl{display:grid;grid-template-columns:12rem 1fr;gap:.2rem 1rem}dt{font-weight:600}
"""


def page_name(dataset: str) -> str:
    return dataset.replace("/", "__") + ".html"


@dataclass(frozen=True)
class TableState:
    """What the lake says about a dataset's table (None when it is not written yet)."""

    rows: int | None
    version: int | None
    updated_at: datetime | None


def table_state(lake: Lake, dataset: str) -> TableState:
    uri = lake.uri(dataset)
    table = open_table(uri, lake.storage_options)
    if table is None:
        return TableState(None, None, None)
    last = table.history(1)[0]
    return TableState(
        row_count(uri, lake.storage_options),
        table.version(),
        datetime.fromtimestamp(last["timestamp"] / 1000, UTC),
    )


def _link(dataset: str, contracts: dict[str, Contract], prefix: str = "") -> str:
    if dataset in contracts:
        return f'<a href="{prefix}{page_name(dataset)}">{escape(dataset)}</a>'
    return escape(dataset)


def _column_link(ref: str, contracts: dict[str, Contract]) -> str:
    dataset, _, column = ref.rpartition(".")
    if dataset in contracts and column in contracts[dataset].column_names:
        return f'<a href="{page_name(dataset)}#col-{escape(column)}">{escape(ref)}</a>'
    return escape(ref)


def _links(items: list[str], render) -> str:
    return ", ".join(render(i) for i in items) or '<span class="muted">none</span>'


def _page(title: str, body: str, script: str = "") -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}{script}</body></html>"
    )


def dataset_page(
    contract: Contract, contracts: dict[str, Contract], policies: Policies, state: TableState
) -> str:
    dataset = contract.dataset
    col = lambda ref: _column_link(ref, contracts)  # noqa: E731
    ds = lambda name: _link(name, contracts)  # noqa: E731
    freshness = (
        f"warn after {contract.freshness.warn_after or '-'}, fail after {contract.freshness.fail_after}"
        if contract.freshness
        else "none declared"
    )
    retention = (
        f"{contract.retention.days} days by {contract.retention_column or 'no date column: rows are kept'}; "
        f"quarantine rows and dead letters {contract.held_retention_days} days"
        + (f" ({escape(contract.retention.note)})" if contract.retention.note else "")
    )
    rows = "not written yet" if state.rows is None else f"{state.rows:,}"
    updated = (
        "not written yet"
        if state.updated_at is None
        else f"{state.updated_at:%Y-%m-%d %H:%M:%S} UTC (Delta version {state.version})"
    )
    readers = roles_reading(contracts, policies, [dataset])
    facts = [
        ("Owners", escape(", ".join(contract.owners))),
        ("Domain", escape(contract.domain)),
        ("Tags", escape(", ".join(f"{k}={v}" for k, v in contract.tags.items()) or "none")),
        ("Freshness SLA", escape(freshness)),
        ("Retention", escape(retention)),
        ("Rows", f'<span id="row-count">{rows}</span>'),
        ("Last update", f'<span id="last-update">{escape(updated)}</span>'),
        ("Keys", escape(", ".join(contract.keys) or "none")),
        ("Partitioned by", escape(contract.partitioning.column if contract.partitioning else "none")),
        ("Readers (policies)", escape(", ".join(sorted(readers)) or "no role")),
    ]
    schema = "".join(
        f'<tr id="col-{escape(c.name)}"><td><code>{escape(c.name)}</code></td><td>{escape(c.type)}</td>'
        f"<td>{'yes' if c.nullable else 'no'}</td>"
        f'<td class="{escape(c.classification.value)}">{escape(c.classification.value)}</td>'
        f"<td>{escape(c.description)}</td></tr>"
        for c in contract.columns
    )
    lineage = "".join(
        f'<tr data-column="{escape(c.name)}"><td><code>{escape(c.name)}</code></td>'
        f'<td class="from">{_links(sorted(c.lineage), col)}</td>'
        f'<td class="traced">{_links(upstream_columns(contracts, dataset, c.name), col)}</td>'
        f'<td class="feeds">{_links(downstream_columns(contracts, dataset, c.name), col)}</td></tr>'
        for c in contract.columns
    )
    rules = "".join(
        f"<tr><td>{escape(r.name)}</td><td><code>{escape(r.expectation)}</code></td>"
        f"<td>{escape(', '.join(r.columns) or '-')}</td><td>{escape(r.severity.value)}</td>"
        f"<td>{'yes' if r.blocking else 'no'}</td></tr>"
        for r in contract.rules
    )
    body = (
        f'<p><a href="index.html">Catalog</a> / {escape(dataset)}</p><h1>{escape(dataset)}</h1>'
        f'<p id="description">{escape(" ".join(contract.description.split()))}</p>'
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
        '<h2>Upstream and downstream</h2><dl id="datasets">'
        f"<dt>Reads</dt><dd>{_links(sorted(contract.upstream), ds)}</dd>"
        f"<dt>Feeds</dt><dd>{_links(direct_downstream(contracts, dataset), ds)}</dd>"
        f"<dt>Everything downstream</dt><dd>{_links(downstream_datasets(contracts, dataset), ds)}</dd></dl>"
        '<h2>Columns</h2><table id="columns"><tr><th>column</th><th>type</th><th>nullable</th>'
        f"<th>classification</th><th>description</th></tr>{schema}</table>"
        '<h2>Column lineage</h2><table id="lineage"><tr><th>column</th><th>computed from</th>'
        f"<th>traced back to</th><th>feeds</th></tr>{lineage}</table>"
        '<h2>Quality rules</h2><table id="rules"><tr><th>rule</th><th>expectation</th><th>columns</th>'
        f"<th>severity</th><th>blocking</th></tr>{rules or '<tr><td colspan=5>none</td></tr>'}</table>"
    )
    return _page(f"{dataset} - catalog", body)


def search_index(contracts: dict[str, Contract]) -> list[dict]:
    """One entry per dataset and per column, with the fields `platform catalog search` matches."""
    entries: list[dict] = []
    for dataset, contract in sorted(contracts.items()):
        entries.append(
            {
                "dataset": dataset,
                "column": None,
                "fields": dataset_fields(contract),
                "text": dataset_text(contract),
                "href": page_name(dataset),
            }
        )
        entries += [
            {
                "dataset": dataset,
                "column": c.name,
                "fields": column_fields(c),
                "text": column_text(c),
                "href": f"{page_name(dataset)}#col-{c.name}",
            }
            for c in contract.columns
        ]
    return entries


SEARCH_JS = """
(function () {
  var exact = %(exact)s;
  var input = document.getElementById('q'), out = document.getElementById('results');
  function matched(fields, needle) {
    for (var label in fields) {
      var value = String(fields[label]).toLowerCase();
      if (exact.indexOf(label) >= 0 ? value === needle : value.indexOf(needle) >= 0) return label;
    }
    return null;
  }
  function run() {
    var needle = input.value.trim().toLowerCase();
    out.innerHTML = '';
    if (!needle) { document.getElementById('count').textContent = ''; return; }
    var hits = 0;
    window.CATALOG_INDEX.forEach(function (e) {
      var label = matched(e.fields, needle);
      if (!label) return;
      hits += 1;
      var li = document.createElement('li'), a = document.createElement('a');
      a.href = e.href;
      a.textContent = e.dataset + (e.column ? '.' + e.column : '');
      li.appendChild(a);
      li.appendChild(document.createTextNode(' [' + label + '] ' + e.text));
      out.appendChild(li);
    });
    document.getElementById('count').textContent = hits + ' match(es)';
  }
  input.addEventListener('input', run);
  var given = new URLSearchParams(location.search).get('q') ||
    new URLSearchParams(location.hash.replace(/^#/, '')).get('q');
  if (given) { input.value = given; }
  run();
})();
"""


def index_page(contracts: dict[str, Contract], states: dict[str, TableState]) -> str:
    listing = "".join(
        f"<tr><td>{_link(d, contracts)}</td><td>{escape(c.domain)}</td>"
        f"<td>{escape(', '.join(c.owners))}</td>"
        f"<td>{'-' if states[d].rows is None else f'{states[d].rows:,}'}</td>"
        f"<td>{escape(' '.join(c.description.split())[:110])}</td></tr>"
        for d, c in sorted(contracts.items())
    )
    body = (
        "<h1>Data catalog</h1><p class=muted>From the data contracts and the lake; built "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Search names, descriptions, owners, domains, tags "
        "and classifications (e.g. <code>pii</code>).</p>"
        '<input id="q" type="search" placeholder="Search datasets and columns" autofocus>'
        '<p id="count" class="muted"></p><ul id="results"></ul>'
        '<h2>Datasets</h2><table id="datasets"><tr><th>dataset</th><th>domain</th><th>owners</th>'
        f"<th>rows</th><th>description</th></tr>{listing}</table>"
    )
    script = '<script src="search-index.js"></script><script src="search.js"></script>'
    return _page("Data catalog", body, script)


def build_site(lake: Lake, contracts: dict[str, Contract], policies: Policies, out: Path) -> Path:
    """Write the site into ``out`` (replacing its pages); returns the index page."""
    out.mkdir(parents=True, exist_ok=True)
    states = {d: table_state(lake, d) for d in contracts}
    for dataset, contract in contracts.items():
        (out / page_name(dataset)).write_text(dataset_page(contract, contracts, policies, states[dataset]))
    entries = search_index(contracts)
    (out / "search-index.json").write_text(json.dumps(entries, indent=1))
    (out / "search-index.js").write_text(f"window.CATALOG_INDEX = {json.dumps(entries)};\n")
    (out / "search.js").write_text(SEARCH_JS % {"exact": json.dumps(list(EXACT_FIELDS))})
    index = out / "index.html"
    index.write_text(index_page(contracts, states))
    return index
