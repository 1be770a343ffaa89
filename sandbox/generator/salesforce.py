"""Deterministic Salesforce Accounts and Opportunities, with change rounds that stress watermarks.

The initial state is what the org holds before the first extraction; each change round is what users do
between two extractions. Records look like the REST query API returns them (18-character Ids,
``SystemModstamp`` as ``2026-11-01T08:00:00.250+0000``).

Every round, per object (see ``SalesforceDataset.manifest``):

- ``tie: boundary``: the first two changes carry exactly the newest ``SystemModstamp`` of the previous
  state, on records that were not at that timestamp. An extractor using ``>`` loses them; one using
  ``>=`` without skipping the Ids it already has delivers the previous tie group twice.
- ``tie: round_end``: the last three changes share one ``SystemModstamp``, the next round's boundary.
- updates, one insert per object, and deletes (``IsDeleted = true``, returned by ``queryAll`` only):
  round 1 deletes an Account (its Opportunities are cascade-deleted, as Salesforce does) and two
  Opportunities; round 2 undeletes that Account (cascade-restoring its Opportunities) and one of the two
  Opportunities; round 3 deletes one more Opportunity. Every delete/undelete bumps ``SystemModstamp``.

Planted data defects (``SalesforceDataset.defects``): an Account with ``Name = null`` and an Opportunity
with a negative ``Amount``.

Every Account has a ``Segment__c`` (a custom picklist: SMB, Mid-Market, Enterprise) and the standard
``OwnerId``, a User of the org's sales team (``SalesforceDataset.users``); ``Owner.Name`` is read through
the parent relationship, as in Salesforce. Both are drawn from their own random stream (seeded by the
seed), so adding them left every other generated value as it was.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "Account"
OPPORTUNITY = "Opportunity"
USER = "User"
SOBJECTS: tuple[str, ...] = (ACCOUNT, OPPORTUNITY)

FIELDS: dict[str, tuple[str, ...]] = {
    ACCOUNT: (
        "Id",
        "Name",
        "Phone",
        "BillingCountry",
        "Industry",
        "IsDeleted",
        "SystemModstamp",
        "CreatedDate",
        "Customer_Id__c",
        "Segment__c",
        "OwnerId",
    ),
    OPPORTUNITY: (
        "Id",
        "AccountId",
        "Name",
        "StageName",
        "Amount",
        "CloseDate",
        "CurrencyIsoCode",
        "IsDeleted",
        "SystemModstamp",
        "CreatedDate",
    ),
}
USER_FIELDS: tuple[str, ...] = ("Id", "Name")
# Parent relationships a SOQL field path may follow: object -> relationship -> (parent object, id field).
RELATIONSHIPS: dict[str, dict[str, tuple[str, str]]] = {ACCOUNT: {"Owner": (USER, "OwnerId")}}
PII_FIELDS: dict[str, tuple[str, ...]] = {ACCOUNT: ("Phone",), OPPORTUNITY: ()}
KEY_PREFIX = {ACCOUNT: "001", OPPORTUNITY: "006", USER: "005"}
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
SEGMENT_WEIGHTS = (5, 3, 2)
SALES_REPS = ("Dana Whitfield", "Marcus Oyelaran", "Priya Raman", "Tomas Lindqvist", "Keiko Tanaka")

COUNTRIES = ("United States", "Germany", "United Kingdom", "France", "Japan", "Canada", "Brazil", "India")
INDUSTRIES = ("Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy", "Logistics")
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")
_NAME_A = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
)
_NAME_B = ("Systems", "Industries", "Labs", "Holdings", "Logistics", "Foods", "Analytics", "Motors")
_PRODUCTS = ("Platform", "Renewal", "Expansion", "Pilot", "Support", "Services")

BOUNDARY_TIES = 2  # changes per round stamped with the previous round's last SystemModstamp
ROUND_END_TIES = 3  # changes per round (and initial records) sharing the round's last SystemModstamp

# Manifest vocabulary.
INSERT, UPDATE, DELETE, UNDELETE = "insert", "update", "delete", "undelete"
CASCADE_DELETE, CASCADE_UNDELETE = "cascade_delete", "cascade_undelete"
TIE_BOUNDARY, TIE_ROUND_END = "boundary", "round_end"
NULL_NAME, NEGATIVE_AMOUNT = "null_name", "negative_amount"

Record = dict[str, Any]


def format_sf_datetime(ts: datetime) -> str:
    """Salesforce's JSON datetime form: millisecond precision, ``+0000`` offset."""
    utc = ts.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_sf_datetime(raw: str) -> datetime:
    ts = datetime.fromisoformat(raw)
    if ts.tzinfo is None:
        raise ValueError(f"Salesforce datetime without an offset: {raw!r}")
    return ts.astimezone(UTC)


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character, case-safe Salesforce-style Id (15 characters + the real checksum suffix)."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    # Scatter the counter so upper-case letters (which drive the checksum) appear in every position.
    n, body = number * 7919 + 104729, ""
    for _ in range(5):
        n, digit = divmod(n, 62)
        body = alphabet[digit] + body
    id15 = f"{prefix}5g00000{body}"
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if c.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


@dataclass(frozen=True)
class SalesforceChange:
    """One record version written by a change round (the whole record, as the API will serve it)."""

    round: int
    sobject: str
    kind: str
    record: Record
    tie: str | None = None  # TIE_BOUNDARY, TIE_ROUND_END or None

    @property
    def record_id(self) -> str:
        return self.record["Id"]

    @property
    def system_modstamp(self) -> str:
        return self.record["SystemModstamp"]

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "sobject": self.sobject,
            "kind": self.kind,
            "id": self.record_id,
            "system_modstamp": self.system_modstamp,
            "tie": self.tie,
        }


@dataclass(frozen=True)
class SalesforceDefect:
    kind: str
    sobject: str
    record_id: str
    detail: str


@dataclass(frozen=True)
class SalesforceDataset:
    """The initial org state, the change rounds, the manifest, and an oracle of the state after each round."""

    seed: int
    start: datetime
    initial: dict[str, tuple[Record, ...]]
    rounds: tuple[tuple[SalesforceChange, ...], ...]
    defects: tuple[SalesforceDefect, ...]
    users: tuple[Record, ...] = ()

    @property
    def round_count(self) -> int:
        return len(self.rounds)

    @property
    def manifest(self) -> list[dict[str, Any]]:
        """Every change of every round, in application order (machine-readable)."""
        return [c.manifest_entry() for changes in self.rounds for c in changes]

    def changes_of(self, round_no: int, sobject: str | None = None) -> list[SalesforceChange]:
        return [c for c in self.rounds[round_no - 1] if sobject is None or c.sobject == sobject]

    def state_after(self, round_no: int) -> dict[str, dict[str, Record]]:
        """sobject -> Id -> record (deleted ones included) once rounds 1..round_no are applied (0: initial)."""
        if not 0 <= round_no <= self.round_count:
            raise ValueError(f"salesforce dataset has rounds 0..{self.round_count}, got {round_no}")
        state = {s: {r["Id"]: dict(r) for r in records} for s, records in self.initial.items()}
        for changes in self.rounds[:round_no]:
            for change in changes:
                state[change.sobject][change.record_id] = dict(change.record)
        return state

    def changed_in(self, sobject: str, after_round: int, upto_round: int) -> dict[str, Record]:
        """Id -> latest record of every record touched in rounds after_round+1..upto_round (the oracle of
        one incremental extraction taken after ``after_round`` and again after ``upto_round``)."""
        state = self.state_after(upto_round)[sobject]
        touched = {
            c.record_id for r in range(after_round + 1, upto_round + 1) for c in self.changes_of(r, sobject)
        }
        return {i: state[i] for i in sorted(touched)}

    def expected_live(self, sobject: str, round_no: int | None = None) -> list[Record]:
        """Records that are not deleted after ``round_no`` (default: all rounds), sorted by Id."""
        state = self.state_after(self.round_count if round_no is None else round_no)[sobject]
        return [state[i] for i in sorted(state) if not state[i]["IsDeleted"]]


def generate_salesforce(
    seed: int = 11,
    start: datetime = datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
    accounts: int = 60,
    opportunities: int = 120,
    rounds: int = 3,
    scale: float = 1.0,
) -> SalesforceDataset:
    n_accounts, n_opps = round(accounts * scale), round(opportunities * scale)
    if n_accounts < 10 or n_opps < 20 or rounds < 3:
        raise ValueError(
            "generate_salesforce: needs at least 10 accounts, 20 opportunities and 3 rounds (the planted "
            f"ties, deletes and undelete need them), got {n_accounts}, {n_opps}, {rounds}"
        )
    return _Builder(seed, start).build(seed, n_accounts, n_opps, rounds)


def sales_users() -> tuple[Record, ...]:
    """The org's sales team: the Users that own Accounts."""
    return tuple(
        {"Id": salesforce_id(KEY_PREFIX[USER], n), "Name": name} for n, name in enumerate(SALES_REPS, 1)
    )


class _Builder:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        # Segment and owner come from their own stream: the main stream (every other value) is unchanged.
        self.account_rng = random.Random(f"salesforce-account-attributes:{seed}")
        self.users = sales_users()
        self.start = start.astimezone(UTC)
        self.counters = {ACCOUNT: 0, OPPORTUNITY: 0}
        self.state: dict[str, dict[str, Record]] = {ACCOUNT: {}, OPPORTUNITY: {}}
        self.protected: set[str] = set()

    def build(self, seed: int, n_accounts: int, n_opps: int, n_rounds: int) -> SalesforceDataset:
        self._initial(n_accounts, n_opps)
        initial = {s: tuple(dict(r) for r in self.state[s].values()) for s in SOBJECTS}
        rounds = tuple(self._round(r) for r in range(1, n_rounds + 1))
        accounts, opps = initial[ACCOUNT], initial[OPPORTUNITY]
        defects = (
            SalesforceDefect(NULL_NAME, ACCOUNT, accounts[3]["Id"], "Account.Name is null (required)"),
            SalesforceDefect(
                NEGATIVE_AMOUNT, OPPORTUNITY, opps[5]["Id"], f"Opportunity.Amount = {opps[5]['Amount']}"
            ),
        )
        return SalesforceDataset(seed, self.start, initial, rounds, defects, self.users)

    # -- initial state ---------------------------------------------------------------------------------

    def _initial(self, n_accounts: int, n_opps: int) -> None:
        rng = self.rng
        # The newest initial records share one timestamp: the first round's boundary tie.
        tie_ts = self.start - timedelta(minutes=1) + timedelta(milliseconds=250)
        for i in range(n_accounts):
            created = self.start - timedelta(days=rng.randint(2, 60), seconds=rng.randint(0, 86399))
            account = self._new_account(created)
            account["SystemModstamp"] = format_sf_datetime(self._modstamp(created, i, n_accounts, tie_ts))
            if i == 3:
                account["Name"] = None  # planted defect: NULL_NAME
        live_accounts = list(self.state[ACCOUNT])
        for i in range(n_opps):
            created = self.start - timedelta(days=rng.randint(1, 45), seconds=rng.randint(0, 86399))
            opp = self._new_opportunity(rng.choice(live_accounts), created)
            opp["SystemModstamp"] = format_sf_datetime(self._modstamp(created, i, n_opps, tie_ts))
            if i == 5:
                opp["Amount"] = -round(rng.uniform(100, 5000), 2)  # planted defect: NEGATIVE_AMOUNT
                self.protected.add(opp["Id"])

    def _modstamp(self, created: datetime, index: int, count: int, tie_ts: datetime) -> datetime:
        if index >= count - ROUND_END_TIES:
            return tie_ts
        # Some records were edited after creation; all stay strictly before the tie group.
        edited = created + timedelta(
            hours=self.rng.choice((0, 0, 1, 5, 30)), milliseconds=self.rng.randint(0, 999)
        )
        return min(edited, tie_ts - timedelta(seconds=1))

    def _new_id(self, sobject: str) -> str:
        self.counters[sobject] += 1
        return salesforce_id(KEY_PREFIX[sobject], self.counters[sobject])

    def _new_account(self, created: datetime) -> Record:
        rng = self.rng
        record: Record = {
            "Id": self._new_id(ACCOUNT),
            "Name": f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {self.counters[ACCOUNT]:03d}",
            "Phone": self._phone(),
            "BillingCountry": rng.choice(COUNTRIES),
            "Industry": rng.choice(INDUSTRIES),
            "IsDeleted": False,
            "SystemModstamp": format_sf_datetime(created),
            "CreatedDate": format_sf_datetime(created),
            # the external id of the RDS customer this account is (customer ids start at 1, like counters)
            "Customer_Id__c": self.counters[ACCOUNT],
            "Segment__c": self.account_rng.choices(SEGMENTS, SEGMENT_WEIGHTS)[0],
            "OwnerId": self.account_rng.choice(self.users)["Id"],
        }
        self.state[ACCOUNT][record["Id"]] = record
        return record

    def _new_opportunity(self, account_id: str, created: datetime) -> Record:
        rng = self.rng
        record: Record = {
            "Id": self._new_id(OPPORTUNITY),
            "AccountId": account_id,
            "Name": f"{rng.choice(_PRODUCTS)} {self.counters[OPPORTUNITY]:04d}",
            "StageName": rng.choice(STAGES[:5]),
            "Amount": round(rng.uniform(1_000, 250_000), 2),
            "CloseDate": (created.date() + timedelta(days=rng.randint(14, 120))).isoformat(),
            "CurrencyIsoCode": rng.choice(CURRENCIES),
            "IsDeleted": False,
            "SystemModstamp": format_sf_datetime(created),
            "CreatedDate": format_sf_datetime(created),
        }
        self.state[OPPORTUNITY][record["Id"]] = record
        return record

    def _phone(self) -> str:
        return f"+1-{self.rng.randint(201, 989)}-555-{self.rng.randint(0, 9999):04d}"

    # -- change rounds ---------------------------------------------------------------------------------

    def _round(self, round_no: int) -> tuple[SalesforceChange, ...]:
        """Plans each object's operations, then stamps them (boundary ties, increasing, round-end ties)."""
        plans: dict[str, list[tuple[str, str | None]]] = {ACCOUNT: [], OPPORTUNITY: []}  # (kind, Id)
        self._plan_boundary(plans)
        self._plan_updates(plans)
        plans[ACCOUNT].append((INSERT, None))
        plans[OPPORTUNITY].append((INSERT, None))
        self._plan_deletes(round_no, plans)
        # Round-end ties: three more updates per object on records not yet planned this round.
        for sobject in SOBJECTS:
            plans[sobject].extend((UPDATE, i) for i in self._pick(sobject, ROUND_END_TIES, plans[sobject]))

        changes: list[SalesforceChange] = []
        # One round per day: room for thousands of changes 7 s apart without overlapping the next round.
        round_base = self.start + timedelta(days=round_no - 1, hours=1, milliseconds=round_no * 37)
        for sobject in SOBJECTS:
            boundary = self._newest(sobject)
            plan = plans[sobject]
            end_ts = round_base + timedelta(seconds=len(plan) * 7 + 5, milliseconds=123)
            for index, (kind, record_id) in enumerate(plan):
                if index < BOUNDARY_TIES:
                    ts, tie = boundary, TIE_BOUNDARY
                elif index >= len(plan) - ROUND_END_TIES:
                    ts, tie = end_ts, TIE_ROUND_END
                else:
                    ts, tie = round_base + timedelta(seconds=index * 7, milliseconds=index * 11), None
                record = self._apply(sobject, kind, record_id, ts)
                changes.append(SalesforceChange(round_no, sobject, kind, dict(record), tie))
        return tuple(changes)

    def _plan_boundary(self, plans: dict[str, list[tuple[str, str | None]]]) -> None:
        for sobject in SOBJECTS:
            newest = self._newest_raw(sobject)  # once: per record it made large orgs quadratic
            at_boundary = {i for i, r in self.state[sobject].items() if r["SystemModstamp"] == newest}
            # Same Id at the same timestamp twice would be indistinguishable from a repeat: avoid it.
            ids = self._pick(sobject, BOUNDARY_TIES, list(at_boundary))
            plans[sobject].extend((UPDATE, i) for i in ids)

    def _plan_updates(self, plans: dict[str, list[tuple[str, str | None]]]) -> None:
        for sobject in SOBJECTS:
            count = max(3, len(self.state[sobject]) // 10)
            planned = [i for _, i in plans[sobject] if i]
            plans[sobject].extend((UPDATE, i) for i in self._pick(sobject, count, planned))

    def _plan_deletes(self, round_no: int, plans: dict[str, list[tuple[str, str | None]]]) -> None:
        accounts, opps = plans[ACCOUNT], plans[OPPORTUNITY]
        if round_no == 1:
            planned = [i for _, i in accounts if i]
            (victim,) = self._pick(ACCOUNT, 1, planned, with_children=True)
            accounts.append((DELETE, victim))
            opps.extend((CASCADE_DELETE, i) for i in self._children(victim))
            opps.extend((DELETE, i) for i in self._pick(OPPORTUNITY, 2, [i for _, i in opps if i]))
        elif round_no == 2:
            deleted = self._deleted_by(DELETE)
            account = next(i for k, i in deleted if k == ACCOUNT)
            accounts.append((UNDELETE, account))
            cascaded = {i for k, i in self._deleted_by(CASCADE_DELETE) if k == OPPORTUNITY}
            opps.extend((CASCADE_UNDELETE, i) for i in self._children(account) if i in cascaded)
            opps.append((UNDELETE, next(i for k, i in deleted if k == OPPORTUNITY)))
        elif round_no == 3:
            opps.extend((DELETE, i) for i in self._pick(OPPORTUNITY, 1, [i for _, i in opps if i]))

    def _deleted_by(self, kind: str) -> list[tuple[str, str]]:
        return [
            (s, i)
            for s in SOBJECTS
            for i, r in self.state[s].items()
            if r["IsDeleted"] and r.get("_deleted_by") == kind
        ]

    def _children(self, account_id: str) -> list[str]:
        return sorted(i for i, r in self.state[OPPORTUNITY].items() if r["AccountId"] == account_id)

    def _pick(
        self, sobject: str, count: int, exclude: list[str | None], with_children: bool = False
    ) -> list[str]:
        """``count`` distinct live records (deterministic), not in ``exclude``."""
        skip = set(exclude)
        parents = {r["AccountId"] for r in self.state[OPPORTUNITY].values()} if with_children else set()
        candidates = [
            i
            for i, r in sorted(self.state[sobject].items())
            if not r["IsDeleted"] and i not in skip and (not with_children or i in parents)
        ]
        return self.rng.sample(candidates, count)

    def _newest_raw(self, sobject: str) -> str:
        return max(r["SystemModstamp"] for r in self.state[sobject].values())

    def _newest(self, sobject: str) -> datetime:
        return parse_sf_datetime(self._newest_raw(sobject))

    def _apply(self, sobject: str, kind: str, record_id: str | None, ts: datetime) -> Record:
        rng, stamp = self.rng, format_sf_datetime(ts)
        if kind == INSERT:
            if sobject == ACCOUNT:
                record = self._new_account(ts)
            else:
                live = [i for i, r in sorted(self.state[ACCOUNT].items()) if not r["IsDeleted"]]
                record = self._new_opportunity(rng.choice(live), ts)
            return self._public(record)
        assert record_id is not None
        record = self.state[sobject][record_id]
        if kind == UPDATE:
            if sobject == ACCOUNT:
                field = rng.choice(("Phone", "Industry", "BillingCountry"))
                record[field] = {"Phone": self._phone, "Industry": lambda: rng.choice(INDUSTRIES)}.get(
                    field, lambda: rng.choice(COUNTRIES)
                )()
            else:
                record["StageName"] = rng.choice(STAGES)
                if record_id not in self.protected:  # keep the planted negative Amount in place
                    record["Amount"] = round(rng.uniform(1_000, 250_000), 2)
        elif kind in (DELETE, CASCADE_DELETE):
            record["IsDeleted"] = True
            record["_deleted_by"] = kind
        elif kind in (UNDELETE, CASCADE_UNDELETE):
            record["IsDeleted"] = False
            record.pop("_deleted_by", None)
        record["SystemModstamp"] = stamp
        return self._public(record)

    @staticmethod
    def _public(record: Record) -> Record:
        # Builder bookkeeping (underscore keys) never reaches the dataset.
        return {k: v for k, v in record.items() if not k.startswith("_")}
