"""The Salesforce connector against the sandbox org over real HTTPS: pagination, exact incremental sets
with ties at the watermark, deletes and undelete through queryAll, and the errors a run reports."""

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from platform_assets.sources.errors import SourceAuthError, SourceRequestError
from platform_assets.sources.salesforce import SalesforceConnector, SalesforceResource
from platform_assets.sources.watermark import ChangeBatch, Watermark, advance
from sandbox.generator.salesforce import (
    ACCOUNT,
    CASCADE_DELETE,
    CASCADE_UNDELETE,
    DELETE,
    FIELDS,
    OPPORTUNITY,
    TIE_BOUNDARY,
    UNDELETE,
    SalesforceDataset,
    generate_salesforce,
)
from sandbox.services.salesforce_api import SalesforceApiServer, SoqlError, parse_soql

DATASET: SalesforceDataset = generate_salesforce()
BATCH_SIZE = 7  # small, so every extraction spans several nextRecordsUrl pages


@pytest.fixture
def org() -> Iterator[SalesforceApiServer]:
    with SalesforceApiServer(DATASET, batch_size=BATCH_SIZE) as server:
        yield server


@pytest.fixture
def connector(org: SalesforceApiServer) -> Iterator[SalesforceConnector]:
    with SalesforceConnector(org.instance_url, org.session_id, ca_path=org.ca_path) as conn:
        yield conn


def by_id(batch: ChangeBatch) -> dict[str, dict]:
    ids = [r["Id"] for r in batch.records]
    assert len(ids) == len(set(ids)), f"duplicate Ids in one batch: {sorted(ids)}"
    return {r["Id"]: r for r in batch.records}


def fetch(connector: SalesforceConnector, sobject: str, watermark: Watermark | None) -> ChangeBatch:
    # Every watermark goes through its JSON form, as it would through Delta commit metadata.
    restored = Watermark.from_json(watermark.to_json()) if watermark is not None else None
    return connector.fetch_changes(sobject, FIELDS[sobject], restored)


def test_full_extraction_follows_next_records_url(
    org: SalesforceApiServer, connector: SalesforceConnector
) -> None:
    batch = fetch(connector, OPPORTUNITY, None)

    assert by_id(batch) == {r["Id"]: r for r in DATASET.initial[OPPORTUNITY]}
    pages = -(-len(DATASET.initial[OPPORTUNITY]) // BATCH_SIZE)
    assert org.stats() == {"queryAll": 1, "query_more": pages - 1}
    tie_ids = {
        r["Id"] for r in DATASET.initial[OPPORTUNITY] if r["SystemModstamp"] == max_modstamp(OPPORTUNITY)
    }
    assert len(tie_ids) == 3 and batch.watermark is not None
    assert batch.watermark.keys_at_timestamp == tie_ids


def max_modstamp(sobject: str) -> str:
    return max(r["SystemModstamp"] for r in DATASET.initial[sobject])


def test_query_api_shape_over_https(org: SalesforceApiServer) -> None:
    client = httpx.Client(
        base_url=org.instance_url,
        verify=ssl.create_default_context(cafile=org.ca_path),
        trust_env=False,
        headers={"Authorization": f"Bearer {org.session_id}"},
    )
    with client:
        first = client.get("/services/data/v59.0/query/", params={"q": "SELECT Id FROM Account ORDER BY Id"})
        body = first.json()
        assert first.status_code == 200
        assert (body["totalSize"], body["done"], len(body["records"])) == (60, False, BATCH_SIZE)
        assert body["records"][0]["attributes"]["type"] == ACCOUNT
        assert body["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
        assert body["nextRecordsUrl"].endswith(f"-{BATCH_SIZE}")
        second = client.get(body["nextRecordsUrl"]).json()
        assert second["records"][0]["Id"] > body["records"][-1]["Id"]

        unauthorized = client.get(
            "/services/data/v59.0/query/",
            params={"q": "SELECT Id FROM Account"},
            headers={"Authorization": "x"},
        )
        assert unauthorized.status_code == 401
        assert unauthorized.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]


@pytest.mark.parametrize("sobject", [ACCOUNT, OPPORTUNITY])
def test_incremental_extractions_are_exact_across_rounds(
    org: SalesforceApiServer, connector: SalesforceConnector, sobject: str
) -> None:
    batch = fetch(connector, sobject, None)
    delivered = by_id(batch)
    for round_no in range(1, DATASET.round_count + 1):
        previous_tie = batch.watermark.keys_at_timestamp if batch.watermark else frozenset()
        org.apply_next_round()
        batch = fetch(connector, sobject, batch.watermark)

        got = by_id(batch)
        assert got == DATASET.changed_in(sobject, round_no - 1, round_no), f"round {round_no}"
        # Records stamped with the previous watermark's exact timestamp arrive (not lost to '>')...
        boundary = {c.record_id for c in DATASET.changes_of(round_no, sobject) if c.tie == TIE_BOUNDARY}
        assert len(boundary) == 2 and boundary <= got.keys()
        # ...and the previous tie group, re-read by '>=', is dropped unless it changed again.
        assert batch.skipped_at_watermark == len(previous_tie - got.keys()) > 0
        delivered.update(got)

    assert delivered == DATASET.state_after(DATASET.round_count)[sobject]


def test_two_rounds_between_extractions_deliver_the_latest_versions(
    org: SalesforceApiServer, connector: SalesforceConnector
) -> None:
    first = fetch(connector, OPPORTUNITY, None)
    org.apply_next_round()
    org.apply_next_round()

    assert by_id(fetch(connector, OPPORTUNITY, first.watermark)) == DATASET.changed_in(OPPORTUNITY, 0, 2)


def test_deletes_arrive_via_query_all_and_undelete_restores(
    org: SalesforceApiServer, connector: SalesforceConnector
) -> None:
    watermarks = {s: fetch(connector, s, None).watermark for s in (ACCOUNT, OPPORTUNITY)}
    org.apply_next_round()
    round1 = {s: by_id(fetch(connector, s, watermarks[s])) for s in (ACCOUNT, OPPORTUNITY)}

    deleted = {(c.sobject, c.record_id) for c in DATASET.changes_of(1) if c.kind in (DELETE, CASCADE_DELETE)}
    assert len(deleted) >= 4  # an Account, its cascade-deleted Opportunities, two more Opportunities
    got_deleted = {(s, i) for s, recs in round1.items() for i, r in recs.items() if r["IsDeleted"] is True}
    assert got_deleted == deleted
    # The plain query endpoint hides them, as Salesforce's does.
    live_ids = {r["Id"] for r in connector._sf.query_all("SELECT Id FROM Opportunity")["records"]}
    assert not live_ids & {i for s, i in deleted if s == OPPORTUNITY}

    watermarks = {s: fetch(connector, s, None).watermark for s in (ACCOUNT, OPPORTUNITY)}
    org.apply_next_round()
    round2 = {s: by_id(fetch(connector, s, watermarks[s])) for s in (ACCOUNT, OPPORTUNITY)}
    restored = {
        (c.sobject, c.record_id) for c in DATASET.changes_of(2) if c.kind in (UNDELETE, CASCADE_UNDELETE)
    }
    assert restored and restored <= deleted
    for sobject, record_id in restored:
        assert round2[sobject][record_id]["IsDeleted"] is False


def test_expired_session_raises_source_auth_error(
    org: SalesforceApiServer, connector: SalesforceConnector
) -> None:
    org.expire_session()

    with pytest.raises(SourceAuthError) as caught:
        connector.fetch_changes(OPPORTUNITY, ["Amount"], None)
    message = str(caught.value)
    assert "salesforce" in message and "Opportunity" in message and "INVALID_SESSION_ID" in message
    assert caught.value.status == 401

    with SalesforceConnector(org.instance_url, org.renew_session(), ca_path=org.ca_path) as renewed:
        assert len(renewed.fetch_changes(ACCOUNT, ["Name"], None)) == 60


def test_unknown_field_or_object_is_a_clear_error(connector: SalesforceConnector) -> None:
    with pytest.raises(SourceRequestError) as caught:
        connector.fetch_changes(ACCOUNT, ["Name", "Revenue__x"], None)
    assert caught.value.status == 400
    assert "INVALID_FIELD" in str(caught.value) and "No such column 'Revenue__x' on entity 'Account'" in str(
        caught.value
    )

    with pytest.raises(SourceRequestError, match=r"INVALID_TYPE.*sObject type 'Lead' is not supported"):
        connector.fetch_changes("Lead", ["Name"], None)
    with pytest.raises(ValueError, match="not a valid Salesforce API name"):
        connector.fetch_changes(ACCOUNT, ["Name FROM Opportunity --"], None)


def test_ca_bundle_wins_over_the_environment(
    org: SalesforceApiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    # requests would otherwise let REQUESTS_CA_BUNDLE override session.verify and fail the TLS handshake.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    resource = SalesforceResource(
        instance_url=org.instance_url, session_id=org.session_id, ca_path=org.ca_path
    )
    with resource.connector() as conn:
        assert len(conn.fetch_changes(ACCOUNT, ["Name"], None)) == 60


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id, Bogus FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account ORDER BY Bogus", "INVALID_FIELD"),
        ("SELECT Id FROM Contact", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE SystemModstamp >= 2026-11-01", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name >= 2026-11-01T00:00:00Z", "MALFORMED_QUERY"),
        ("SELECT Id, Id FROM Account", "MALFORMED_QUERY"),
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account ORDER BY Id LIMIT", "MALFORMED_QUERY"),
        # relationship paths: only Account's Owner.Name, and never in ORDER BY
        ("SELECT Id, Boss.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id, Owner.Email FROM Account", "INVALID_FIELD"),
        ("SELECT Id, Owner.Name FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Account ORDER BY Owner.Name", "MALFORMED_QUERY"),
    ],
)
def test_soql_parser_is_strict(soql: str, code: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse_soql(soql)
    assert caught.value.error_code == code


def test_owner_name_comes_through_the_user_relationship(
    org: SalesforceApiServer, connector: SalesforceConnector
) -> None:
    """``Owner.Name`` on Account: Salesforce nests the parent User; the connector flattens it."""
    users = {u["Id"]: u["Name"] for u in DATASET.users}
    client = httpx.Client(
        base_url=org.instance_url,
        verify=ssl.create_default_context(cafile=org.ca_path),
        trust_env=False,
        headers={"Authorization": f"Bearer {org.session_id}"},
    )
    with client:
        soql = "SELECT Id, OwnerId, owner.name, Segment__c FROM Account ORDER BY Id LIMIT 1"
        record = client.get("/services/data/v59.0/query/", params={"q": soql}).json()["records"][0]
    first = min(DATASET.initial[ACCOUNT], key=lambda r: r["Id"])
    assert record["Owner"] == {
        "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{first['OwnerId']}"},
        "Name": users[first["OwnerId"]],
    }
    assert (record["OwnerId"], record["Segment__c"]) == (first["OwnerId"], first["Segment__c"])
    batch = connector.fetch_changes(ACCOUNT, ["OwnerId", "Owner.Name", "Segment__c"], None)
    assert len(batch) == 60 and all(r["Owner.Name"] == users[r["OwnerId"]] for r in batch.records)
    assert "Owner" not in batch.records[0]
    assert {r["Segment__c"] for r in batch.records} == {"SMB", "Mid-Market", "Enterprise"}


def test_soql_parser_reads_the_connectors_query() -> None:
    query = parse_soql(
        "select id, systemmodstamp FROM opportunity WHERE SystemModstamp >= 2026-11-01T07:59:00.250Z "
        "ORDER BY SystemModstamp, Id"
    )
    assert (query.sobject, query.fields) == (OPPORTUNITY, ("Id", "SystemModstamp"))
    assert query.where is not None and query.where.value.microsecond == 250_000
    assert query.order_by == (("SystemModstamp", False), ("Id", False))


T0 = datetime(2026, 11, 1, 8, 0, 0, 250_000, tzinfo=UTC)


def test_watermark_tie_rule_and_json_form() -> None:
    mark = Watermark(T0, frozenset({"a", "b"}))
    assert not mark.admits(T0, "a") and mark.admits(T0, "c")  # same instant: only unseen keys
    assert mark.admits(T0 + timedelta(milliseconds=1), "a") and not mark.admits(
        T0 - timedelta(seconds=1), "z"
    )
    assert Watermark.from_json(mark.to_json()) == mark
    assert mark.to_json() == Watermark(T0, frozenset({"b", "a"})).to_json()  # stable text

    # Keys at the old timestamp carry over when new ties arrive; a newer timestamp resets them.
    assert advance(mark, [(T0, "c")]) == Watermark(T0, frozenset({"a", "b", "c"}))
    later = T0 + timedelta(seconds=1)
    assert advance(mark, [(T0, "c"), (later, "d")]) == Watermark(later, frozenset({"d"}))
    assert advance(mark, []) == mark and advance(None, []) is None


@pytest.mark.parametrize(
    "raw", ["", "[]", '{"version": 2}', '{"version": 1, "timestamp": "x", "keys_at_timestamp": []}']
)
def test_watermark_rejects_bad_json(raw: str) -> None:
    with pytest.raises(ValueError, match="invalid watermark JSON"):
        Watermark.from_json(raw)


def test_watermark_needs_an_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Watermark(datetime(2026, 11, 1), frozenset())


def test_a_large_org_is_generated_in_time_linear_in_its_size() -> None:
    # The benchmark's gold inputs need an org of 1M-event scale (scale ~4000: 240K accounts). Finding the
    # boundary-tied records and the accounts with children once per round (not once per record) keeps
    # it linear: scale 100 took about 40 s before, under a second after, on this 2-core machine.
    started = time.monotonic()
    org = generate_salesforce(scale=100)
    seconds = time.monotonic() - started
    assert len(org.initial[ACCOUNT]) == 6_000 and len(org.initial[OPPORTUNITY]) == 12_000
    assert seconds < 15, f"generate_salesforce(scale=100) took {seconds:.1f} s"
