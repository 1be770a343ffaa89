"""The expected gold figures, computed from the generators alone (independent of the platform).

Given what the platform has extracted so far (customer batches applied, product rounds extracted,
FX publications published by an instant), it derives every order line's as-was customer region and
product category, its USD rate (the day's, else the latest earlier published one) and the daily
revenue by region x category. Deliberately naive: whole datasets, dictionaries, no windows.

As-was customers: the platform's customer versions start at their replication commit time, which is
always after the sandbox's (past-dated) orders, so an order's version is its customer's first one:
the initial image, or the image at the end of the batch that first inserted it. A customer no applied
batch has inserted yet is an inferred member (region Unknown). Products' versions start at their
``updated_at``; an order takes the latest version updated by its created_time, else the first.
FX: a day whose publications carry a record without currency is held at the silver gate (none of its
rates are published), as is the rest of the day's records.

Salesforce: a customer's account is the live Account whose ``Customer_Id__c`` is the customer id, its
owner the User named by ``OwnerId``. Opportunities convert at their currency's latest published rate
and key to the account's customer while RDS holds that customer live (else the unknown member).
The calendar spans the first to the last business date silver holds (order dates, published rates).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandbox.generator.customers import CustomersDataset
from sandbox.generator.fx import FxDataset
from sandbox.generator.orders import OrderEventsDataset
from sandbox.generator.products import ProductsDataset
from sandbox.generator.salesforce import ACCOUNT, OPPORTUNITY, SalesforceDataset

UNKNOWN = "Unknown"
REGION_OF_COUNTRY = {
    "US": "AMER", "CA": "AMER", "BR": "AMER", "MX": "AMER",
    "GB": "EMEA", "DE": "EMEA", "FR": "EMEA", "ES": "EMEA", "IT": "EMEA", "NL": "EMEA", "SE": "EMEA",
    "CH": "EMEA",
    "JP": "APAC", "IN": "APAC", "AU": "APAC", "SG": "APAC", "CN": "APAC",
}  # fmt: skip


@dataclass(frozen=True)
class ExpectedLine:
    order_id: str
    line_no: int
    order_date: date
    customer_id: int
    product_id: int
    status: str
    quantity: int
    amount: float
    currency: str
    rate: float | None
    rate_date: date | None
    region: str
    category: str
    customer_inferred: bool
    product_unknown: bool

    @property
    def is_rate_fallback(self) -> bool:
        return self.rate_date is not None and self.rate_date < self.order_date

    @property
    def amount_usd(self) -> float | None:
        return None if self.rate is None else self.amount * self.rate


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def published_rates(fx: FxDataset, through: datetime | None = None) -> dict[tuple[str, date], float]:
    """(ccy, as_of_date) -> rate silver publishes from the publications out by ``through`` (None: all)."""
    latest: dict[tuple[str, date], dict[str, Any]] = {}
    held: set[date] = set()
    for publication in fx.publications:
        if through is not None and publication.published_at > through:
            continue
        for record in publication.records:
            day = date.fromisoformat(record["as_of_date"])
            if record["ccy"] is None:
                held.add(day)
                continue
            key = (record["ccy"], day)
            old = latest.get(key)
            if old is None or (record["published_at"], record["revision"]) >= (
                old["published_at"],
                old["revision"],
            ):
                latest[key] = record
    return {key: r["rate_to_base"] for key, r in latest.items() if key[1] not in held}


def _first_customer_versions(customers: CustomersDataset, batches_applied: int) -> dict[int, dict[str, Any]]:
    first: dict[int, dict[str, Any]] = {}
    for number in range(batches_applied + 1):
        for customer_id, row in customers.state_after(number).items():
            first.setdefault(customer_id, {"country": row.country})
    return first


def _product_versions(
    products: ProductsDataset, rounds_extracted: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """product_id -> versions sorted by updated_at, as extractions after these rounds saw them."""
    versions: dict[int, dict[datetime, dict[str, Any]]] = defaultdict(dict)
    previous = None
    for round_no in sorted(rounds_extracted):
        rows = products.state_after(round_no) if previous is None else products.changed_in(previous, round_no)
        for product_id, row in rows.items():
            versions[product_id][row["updated_at"]] = row
        previous = round_no
    return {pid: [by_time[t] for t in sorted(by_time)] for pid, by_time in versions.items()}


def expected_lines(
    orders: OrderEventsDataset,
    customers: CustomersDataset,
    customer_batches_applied: int,
    products: ProductsDataset,
    product_rounds_extracted: list[int],
    fx: FxDataset,
    fx_through: datetime | None = None,
) -> list[ExpectedLine]:
    """Every line of every order's current state, as gold/fact_order_lines must hold it."""
    first_versions = _first_customer_versions(customers, customer_batches_applied)
    versions = _product_versions(products, product_rounds_extracted)
    rates = published_rates(fx, fx_through)
    out: list[ExpectedLine] = []
    for order_id, state in orders.expected_orders().items():
        created = _parse(state["created_time"])
        day = created.date()
        customer = first_versions.get(state["customer_id"])
        for line in state["lines"]:
            history = versions.get(line["product_id"], [])
            valid = [v for v in history if v["updated_at"].replace(tzinfo=UTC) <= created] or history[:1]
            product = valid[-1] if valid else None
            dated = [d for (ccy, d) in rates if ccy == state["currency"] and d <= day]
            rate_date = max(dated) if dated else None
            out.append(
                ExpectedLine(
                    order_id=order_id,
                    line_no=line["line_no"],
                    order_date=day,
                    customer_id=state["customer_id"],
                    product_id=line["product_id"],
                    status=state["status"],
                    quantity=line["quantity"],
                    amount=line["quantity"] * line["unit_price"],
                    currency=state["currency"],
                    rate=rates[(state["currency"], rate_date)] if rate_date else None,
                    rate_date=rate_date,
                    region=REGION_OF_COUNTRY.get(customer["country"], UNKNOWN) if customer else UNKNOWN,
                    category=product["category"] if product else UNKNOWN,
                    customer_inferred=customer is None,
                    product_unknown=product is None,
                )
            )
    return out


def expected_daily_revenue(lines: list[ExpectedLine]) -> dict[tuple[str, str, str], dict[str, float | int]]:
    """(order_date, region, category) -> revenue_usd, orders, units, customers over open orders."""
    groups: dict[tuple[str, str, str], list[ExpectedLine]] = defaultdict(list)
    for line in lines:
        if line.status == "open":
            groups[(line.order_date.isoformat(), line.region, line.category)].append(line)
    return {
        key: {
            "revenue_usd": round(sum(x.amount_usd or 0.0 for x in members), 6),
            "orders": len({x.order_id for x in members}),
            "units": sum(x.quantity for x in members),
            "customers": len({x.customer_id for x in members}),
        }
        for key, members in sorted(groups.items())
    }


# -- Salesforce: account enrichment, opportunities, pipeline -----------------------------------------

WON, LOST = "Closed Won", "Closed Lost"


def expected_customer_accounts(salesforce: SalesforceDataset) -> dict[int, dict[str, Any]]:
    """customer_id -> the attributes gold/dim_customer takes from its live Salesforce account (all rounds)."""
    owners = {u["Id"]: u["Name"] for u in salesforce.users}
    return {
        a["Customer_Id__c"]: {
            "account_id": a["Id"],
            "account_name": a["Name"],
            "industry": a["Industry"],
            "billing_country": a["BillingCountry"],
            "segment": a["Segment__c"],
            "owner_id": a["OwnerId"],
            "owner_name": owners.get(a["OwnerId"]),
        }
        for a in salesforce.expected_live(ACCOUNT)
    }


def latest_rates(fx: FxDataset, through: datetime | None = None) -> dict[str, float]:
    """ccy -> the rate of its latest published business date."""
    rates = published_rates(fx, through)
    newest: dict[str, date] = {}
    for ccy, day in rates:
        newest[ccy] = max(day, newest.get(ccy, day))
    return {ccy: rates[(ccy, day)] for ccy, day in newest.items()}


@dataclass(frozen=True)
class ExpectedOpportunity:
    opportunity_id: str
    account_id: str
    customer_id: int | None  # None: the unknown member (-1)
    stage: str
    close_date: date
    amount: float
    currency: str
    amount_usd: float | None

    @property
    def is_closed(self) -> bool:
        return self.stage in (WON, LOST)

    @property
    def is_won(self) -> bool:
        return self.stage == WON


def expected_opportunities(
    salesforce: SalesforceDataset,
    customers: CustomersDataset,
    customer_batches_applied: int,
    fx: FxDataset,
    fx_through: datetime | None = None,
) -> dict[str, ExpectedOpportunity]:
    """opportunity Id -> gold/fact_opportunities' row: live opportunities after all rounds."""
    live_accounts = {a["Id"]: a for a in salesforce.expected_live(ACCOUNT)}
    live_customers = customers.state_after(customer_batches_applied)
    rates = latest_rates(fx, fx_through)
    out: dict[str, ExpectedOpportunity] = {}
    for opp in salesforce.expected_live(OPPORTUNITY):
        account = live_accounts.get(opp["AccountId"])
        customer = account["Customer_Id__c"] if account else None
        rate = rates.get(opp["CurrencyIsoCode"])
        out[opp["Id"]] = ExpectedOpportunity(
            opportunity_id=opp["Id"],
            account_id=opp["AccountId"],
            customer_id=customer if customer in live_customers else None,
            stage=opp["StageName"],
            close_date=date.fromisoformat(opp["CloseDate"]),
            amount=opp["Amount"],
            currency=opp["CurrencyIsoCode"],
            amount_usd=None if rate is None else opp["Amount"] * rate,
        )
    return out


def expected_sales_pipeline(
    opportunities: dict[str, ExpectedOpportunity],
) -> dict[tuple[date, str], dict[str, float | int]]:
    """(first day of close month, stage) -> opportunities, open_amount_usd, won, lost."""
    groups: dict[tuple[date, str], list[ExpectedOpportunity]] = defaultdict(list)
    for opp in opportunities.values():
        groups[(opp.close_date.replace(day=1), opp.stage)].append(opp)
    return {
        key: {
            "opportunities": len(members),
            "open_amount_usd": round(sum(o.amount_usd or 0.0 for o in members if not o.is_closed), 6),
            "won": sum(o.is_won for o in members),
            "lost": sum(o.is_closed and not o.is_won for o in members),
        }
        for key, members in sorted(groups.items())
    }


# -- the calendar ------------------------------------------------------------------------------------

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip


def business_dates(orders: OrderEventsDataset, fx: FxDataset, fx_through: datetime | None) -> set[date]:
    """The business dates silver holds: every order's date and every published rate's date."""
    days = {_parse(state["created_time"]).date() for state in orders.expected_orders().values()}
    return days | {day for _, day in published_rates(fx, fx_through)}


def expected_dim_date(days: set[date]) -> dict[int, dict[str, Any]]:
    """date_key -> gold/dim_date's row, one per calendar day from the first to the last of ``days``."""
    first, last = min(days), max(days)
    out: dict[int, dict[str, Any]] = {}
    for offset in range((last - first).days + 1):
        day = date.fromordinal(first.toordinal() + offset)
        iso_year, iso_week, iso_weekday = day.isocalendar()
        key = day.year * 10_000 + day.month * 100 + day.day
        out[key] = {
            "date_key": key,
            "date": day,
            "day_of_month": day.day,
            "day_of_week": iso_weekday,
            "weekday_name": _WEEKDAYS[iso_weekday - 1],
            "is_weekend": iso_weekday >= 6,
            "week_of_year": iso_week,
            "iso_year": iso_year,
            "month": day.month,
            "month_name": _MONTHS[day.month - 1],
            "quarter": (day.month - 1) // 3 + 1,
            "year": day.year,
        }
    return out
