"""Monthly budgets per domain (``contracts/budgets.yaml``) and the sensor that alerts on them.

``projected = spent this month / days elapsed x days in the month`` from ``ops/cost``. When it passes
``alert_at x monthly_usd`` an alert goes to ops/alerts (the same path as freshness), once per domain
and month: the months already alerted are the sensor's position, committed with the alert.
"""

import calendar
import os
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field

from platform_assets.lake.delta_tables import open_table, read_table
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_positions
from platform_assets.operations.cost import cost_uri
from platform_assets.sensors.alerts import Alert, alerts_uri, record_alerts
from platform_assets.sensors.lake_sensor import lake_sensor

BUDGETS_FILE = Path(__file__).resolve().parents[1] / "contracts" / "budgets.yaml"
BUDGET_SENSOR = "platform_budget_sensor"
POSITION = "budgets"  # {"<domain>": "<YYYY-MM last alerted>"}


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_usd: float = Field(gt=0)
    alert_at: float = Field(1.0, gt=0, description="fraction of the budget the projection may reach")


def load_budgets(path: Path = BUDGETS_FILE) -> dict[str, Budget]:
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return {domain: Budget(**spec) for domain, spec in (raw.get("budgets") or {}).items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: budgets: {exc}") from exc


def projected_spend(lake: Lake, today: date) -> dict[str, tuple[float, float]]:
    """Per domain: (spent so far this month, projected for the whole month)."""
    uri = cost_uri(lake)
    if open_table(uri, lake.storage_options) is None:
        return {}
    first = today.replace(day=1)
    rows = read_table(
        uri,
        columns=["domain", "cost_usd"],
        where=f"day >= '{first.isoformat()}' AND day <= '{today.isoformat()}'",
        storage_options=lake.storage_options,
    ).to_pylist()
    spent: dict[str, float] = {}
    for row in rows:
        spent[row["domain"]] = spent.get(row["domain"], 0.0) + row["cost_usd"]
    days = calendar.monthrange(today.year, today.month)[1]
    return {d: (s, s / today.day * days) for d, s in spent.items()}


def evaluate_budgets(
    lake: Lake, budgets: dict[str, Budget], now: datetime | None = None, webhook: str | None = None
) -> list[Alert]:
    now = now or datetime.now(UTC)
    month = now.strftime("%Y-%m")
    alerted = dict(committed_positions(alerts_uri(lake), lake.storage_options).get(POSITION, {}))
    alerts = []
    for domain, (spent, projected) in sorted(projected_spend(lake, now.date()).items()):
        budget = budgets.get(domain)
        if budget is None or alerted.get(domain) == month:
            continue
        if projected > budget.alert_at * budget.monthly_usd:
            message = (
                f"{domain}: projected spend ${projected:.2f} this month passes {budget.alert_at:.0%} of the "
                f"${budget.monthly_usd:.2f} budget (spent ${spent:.2f} so far)"
            )
            alerts.append(Alert("budget", domain, "WARN", month, message, now))
            alerted[domain] = month
    if alerts:
        record_alerts(lake, alerts, webhook, positions={POSITION: alerted})
    return alerts


def build_budget_sensor(budgets: dict[str, Budget]) -> dg.SensorDefinition:
    @lake_sensor(
        name=BUDGET_SENSOR,
        minimum_interval_seconds=3600,
        description="Alerts (ops/alerts) once a month per domain when projected spend passes its budget.",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SkipReason:
        webhook = os.environ.get("PLATFORM_ALERTS_WEBHOOK") or None
        alerts = evaluate_budgets(lake, budgets, webhook=webhook)
        for alert in alerts:
            context.log.warning(alert.message)
        return dg.SkipReason(f"{len(alerts)} budget alert(s)" if alerts else "within budget")

    return _sensor
