"""The stakeholder report: one self-contained HTML file (inline CSS and SVG charts, no script).

It opens from disk with no network: nothing is linked, everything is in the file.
"""

from __future__ import annotations

from typing import Any

from platform_assets.reporting.charts import dataset_chart, dimension_chart, trend_chart
from platform_assets.reporting.config import TARGETS
from platform_assets.reporting.snapshot import Snapshot

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data quality report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#111827;padding:0 16px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.muted{color:#6b7280;font-size:13px}
.tiles{display:flex;gap:16px;flex-wrap:wrap;margin:16px 0}
.tile{border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;min-width:180px}
.tile .v{font-size:30px;font-weight:600}.ok{color:#16a34a}.bad{color:#dc2626}.warn{color:#d97706}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;gap:16px;flex-wrap:wrap}.charts svg{max-width:100%;height:auto}
code{font-size:12px;background:#f3f4f6;padding:1px 4px;border-radius:3px}
</style></head><body>
<h1>Data quality report</h1>
<div class="muted">Generated {{ s.generated_at.strftime('%Y-%m-%d %H:%M UTC') }} from ops/quality_results.
Score: the share of passed row evaluations per DQ dimension, weighted (see docs/data-quality.md).</div>

<div class="tiles">
 <div class="tile"><div class="muted">Platform DQ score</div>
  <div class="v {{ cls(s.platform.score, target) }}" id="platform-score">{{ pct(s.platform.score) }}</div>
  <div class="muted">target &gt; {{ target }}%</div></div>
 <div class="tile"><div class="muted">Validation coverage</div>
  <div class="v {{ cls(s.platform_coverage.percent, 100) }}" id="platform-coverage">{{ pct(s.platform_coverage.percent) }}</div>
  <div class="muted">{{ s.platform_coverage.covered }} of {{ s.platform_coverage.critical }} critical columns have a rule</div></div>
 <div class="tile"><div class="muted">Rules passed / failed (latest)</div>
  <div class="v">{{ s.platform.rules_passed }} / <span class="{{ 'bad' if s.platform.rules_failed else 'ok' }}">{{ s.platform.rules_failed }}</span></div></div>
 <div class="tile"><div class="muted">Open incidents</div>
  <div class="v {{ 'bad' if s.open_incidents else 'ok' }}" id="open-incidents">{{ s.open_incidents|length }}</div></div>
</div>

<div class="charts">{{ charts.trend|safe }}{{ charts.dimensions|safe }}</div>

{% if health %}
<h2>Platform health: the success metrics</h2>
<table id="health"><tr><th>metric</th><th>value</th><th>target</th><th>met</th><th>how it is computed</th></tr>
{% for m in health %}<tr><td>{{ m.name }}</td><td class="n">{{ m.display }}</td><td>{{ m.target_text }}</td>
<td class="{{ 'ok' if m.met else ('bad' if m.met is false else 'muted') }}">{{ 'yes' if m.met else ('no' if m.met is false else 'n/a') }}</td><td>{{ m.how }}</td></tr>{% endfor %}
</table>
{% endif %}

<h2>Scorecard per domain</h2>
<table id="domains"><tr><th>domain</th><th>DQ score</th><th>coverage</th><th>rules passed</th><th>rules failed</th><th>last validated</th></tr>
{% for name, (score, cov) in s.domains.items() %}<tr><td>{{ name }}</td><td class="n {{ cls(score.score, target) }}">{{ pct(score.score) }}</td>
<td class="n">{{ pct(cov.percent) }}</td><td class="n">{{ score.rules_passed }}</td><td class="n">{{ score.rules_failed }}</td><td>{{ when(score.last_evaluated) }}</td></tr>{% endfor %}
</table>

<h2>Scorecard per dataset</h2>
<div class="charts">{{ charts.datasets|safe }}</div>
<table id="datasets"><tr><th>dataset</th><th>domain</th><th>DQ score</th><th>rules passed</th><th>rules failed</th><th>last validated</th><th>freshness vs SLA</th><th>coverage</th></tr>
{% for c in s.cards %}<tr data-dataset="{{ c.dataset }}"><td>{{ c.dataset }}</td><td>{{ c.domain }}</td>
<td class="n {{ cls(c.score.score, target) }}">{{ pct(c.score.score) }}</td><td class="n">{{ c.score.rules_passed }}</td><td class="n">{{ c.score.rules_failed }}</td>
<td>{{ when(c.score.last_evaluated) }}</td>
<td class="{{ {'PASS': 'ok', 'WARN': 'warn', 'FAIL': 'bad'}.get(c.freshness, 'muted') }}">{{ c.freshness or 'not judged' }}{% if c.sla %} ({{ c.sla }}){% endif %}</td>
<td class="n">{{ pct(c.coverage.percent) }}</td></tr>{% endfor %}
</table>

<h2>Incidents</h2>
<div class="muted">A critical rule failing on a partition; the partition is held at the gate until a run passes it.</div>
<table id="incidents"><tr><th>status</th><th>dataset</th><th>partition</th><th>rule</th><th>failed rows</th><th>action</th><th>since</th><th>resolved</th></tr>
{% for i in s.incidents|reverse %}<tr class="{{ 'open' if i.is_open else 'resolved' }}"><td class="{{ 'bad' if i.is_open else 'ok' }}">{{ 'open' if i.is_open else 'resolved' }}</td>
<td>{{ i.dataset }}</td><td>{{ i.partition or 'whole table' }}</td><td>{{ i.rule_description }} <code>{{ i.rule_name }}</code></td><td class="n">{{ i.rows_failed }}</td><td>{{ i.action }}</td>
<td>{{ when(i.opened_at) }}</td><td>{{ when(i.resolved_at) if i.resolved_at else '' }}</td></tr>
{% else %}<tr><td colspan="8">No incidents.</td></tr>{% endfor %}
</table>

<h2>Quarantined and dead-lettered records</h2>
<table id="held"><tr><th>dataset</th><th>where</th><th>reason</th><th>action</th><th>records</th></tr>
{% for h in s.held %}<tr><td>{{ h.dataset }}</td><td>{{ h.kind }}</td><td>{{ h.reason }}</td><td>{{ h.action }}</td><td class="n">{{ h.count }}</td></tr>
{% else %}<tr><td colspan="5">None.</td></tr>{% endfor %}
</table>

<h2>Sample of failing rows</h2>
<div class="muted">PII columns (contract classification) are masked.</div>
{% for sample in s.samples %}
<h3 style="font-size:14px">{{ sample.dataset }} {{ sample.partition or '' }}: {{ sample.rule_description }}</h3>
<table class="sample"><tr>{% for col in sample.rows[0].keys() %}<th>{{ col }}</th>{% endfor %}</tr>
{% for row in sample.rows %}<tr>{% for v in row.values() %}<td>{{ '' if v is none else v }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% else %}<p>No failing rows.</p>{% endfor %}
</body></html>
"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def _cls(value: float | None, target: float) -> str:
    if value is None:
        return "muted"
    return "ok" if value >= target else "bad"


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def render_report(snap: Snapshot, health: list[Any] | None = None) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    charts = {
        "trend": trend_chart(snap.trend),
        "dimensions": dimension_chart(snap.platform.by_dimension),
        "datasets": dataset_chart(
            {c.dataset: c.score.score for c in snap.cards if c.score.score is not None}
        ),
    }
    return env.from_string(_TEMPLATE).render(
        s=snap,
        charts=charts,
        health=health or [],
        target=TARGETS["dq_score_percent"],
        pct=_pct,
        cls=_cls,
        when=_when,
    )
