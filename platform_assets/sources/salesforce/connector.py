"""Reads changed Salesforce records with SOQL through simple-salesforce, incremental by ``SystemModstamp``.

Each extraction runs ``SELECT <fields> FROM <object> WHERE SystemModstamp >= <watermark> ORDER BY
SystemModstamp, Id`` on ``queryAll`` (so deleted records arrive with ``IsDeleted = true``), follows every
``nextRecordsUrl``, then drops the Ids the watermark already delivered at its timestamp (see
``platform_assets.sources.watermark``). Records come back as Salesforce sent them, minus the per-record
``attributes`` envelope (type and URL are implied by the object). A field may be a parent relationship
path (``Owner.Name``): Salesforce nests the parent (``{"Owner": {"attributes": ..., "Name": ...}}``, or
``"Owner": null``); the record carries it flat under the path as selected (``record["Owner.Name"]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from platform_assets.sources.errors import (
    SourceAuthError,
    SourceError,
    SourceRequestError,
    SourceResponseError,
    SourceServerError,
    SourceUnavailableError,
)
from platform_assets.sources.watermark import ChangeBatch, Watermark

SOURCE = "salesforce"
WATERMARK_FIELD = "SystemModstamp"
# Fields every extraction needs whatever the caller asks for: the key, the watermark, the delete marker.
REQUIRED_FIELDS: tuple[str, ...] = ("Id", WATERMARK_FIELD, "IsDeleted")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # API names; anything else could inject SOQL
_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*$")  # one parent relationship


class SalesforceSessionError(SourceAuthError):
    """Salesforce refused the session id (expired, revoked or wrong org). Retrying cannot help."""

    def __init__(self, sobject: str, url: str, status: int, detail: str) -> None:
        SourceError.__init__(
            self,
            SOURCE,
            url,
            f"{SOURCE}: querying {sobject} answered HTTP {status} ({detail}): the session id is expired "
            f"or invalid; refresh the session id configured for {SOURCE}",
        )
        self.status = status
        self.sobject = sobject


def soql_datetime(ts: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds (SystemModstamp's precision)."""
    utc = ts.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build_changes_soql(sobject: str, fields: Sequence[str], watermark: Watermark | None) -> str:
    where = f" WHERE {WATERMARK_FIELD} >= {soql_datetime(watermark.timestamp)}" if watermark else ""
    return f"SELECT {', '.join(fields)} FROM {sobject}{where} ORDER BY {WATERMARK_FIELD}, Id"


class SalesforceConnector:
    def __init__(
        self,
        instance_url: str,
        session_id: str,
        ca_path: str | None = None,
        api_version: str = "59.0",
        timeout_seconds: float = 30.0,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self._session = requests.Session()
        if ca_path is not None:
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify unless trust_env is off.
            self._session.verify = ca_path
            self._session.trust_env = False
        self._timeout = timeout_seconds
        self._sf = Salesforce(
            instance_url=self.instance_url, session_id=session_id, version=api_version, session=self._session
        )

    @property
    def query_all_url(self) -> str:
        return f"{self.instance_url}/services/data/v{self.api_version}/queryAll/"

    def fetch_changes(self, sobject: str, fields: Sequence[str], watermark: Watermark | None) -> ChangeBatch:
        """Every record of ``sobject`` changed (deletes included) since ``watermark``; all pages are read."""
        selected = _selected_fields(sobject, fields)
        soql = build_changes_soql(sobject, selected, watermark)
        fetched = self._query_all(sobject, soql)
        paths = [f for f in selected if "." in f]
        stamped = (self._parse_record(sobject, index, raw, paths) for index, raw in enumerate(fetched))
        return ChangeBatch.after(SOURCE, sobject, watermark, stamped)

    def _query_all(self, sobject: str, soql: str) -> list[Any]:
        try:
            return list(self._sf.query_all_iter(soql, include_deleted=True, timeout=self._timeout))
        except SalesforceExpiredSession as exc:
            raise SalesforceSessionError(
                sobject, _without_query(exc.url), exc.status, _describe(exc)
            ) from exc
        except SalesforceError as exc:
            url = _without_query(exc.url)
            detail = f"{sobject}: {_describe(exc)}"
            if exc.status >= 500:
                raise SourceServerError(SOURCE, url, exc.status, detail) from exc
            raise SourceRequestError(SOURCE, url, exc.status, detail) from exc
        except requests.RequestException as exc:
            raise SourceUnavailableError(SOURCE, self.query_all_url, 1, f"{sobject}: {exc!r}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            # simple-salesforce indexes 'records'/'done'/'nextRecordsUrl' itself; a bad body ends up here.
            raise SourceResponseError(
                SOURCE, self.query_all_url, f"{sobject}: malformed query result ({exc!r})"
            ) from exc

    def _parse_record(
        self, sobject: str, index: int, raw: Any, paths: Sequence[str] = ()
    ) -> tuple[dict[str, Any], tuple[datetime, str]]:
        where = f"{sobject} record {index}"
        if not isinstance(raw, dict):
            raise SourceResponseError(SOURCE, self.query_all_url, f"{where} is not an object: {raw!r:.200}")
        record = {k: v for k, v in raw.items() if k != "attributes"}
        for path in paths:
            relationship, _, field = path.partition(".")
            parent = record.get(relationship)
            if parent is not None and not isinstance(parent, dict):
                raise SourceResponseError(
                    SOURCE, self.query_all_url, f"{where}: {relationship} is not an object: {parent!r:.200}"
                )
            record[path] = parent.get(field) if parent else None
        for relationship in {p.partition(".")[0] for p in paths}:
            record.pop(relationship, None)
        record_id, modstamp = record.get("Id"), record.get(WATERMARK_FIELD)
        if not isinstance(record_id, str) or not record_id:
            raise SourceResponseError(SOURCE, self.query_all_url, f"{where} has no Id: {record!r:.200}")
        try:
            ts = datetime.fromisoformat(modstamp) if isinstance(modstamp, str) else None
        except ValueError:
            ts = None
        if ts is None or ts.tzinfo is None:
            raise SourceResponseError(
                SOURCE,
                self.query_all_url,
                f"{where} (Id {record_id}) has an invalid {WATERMARK_FIELD}: {modstamp!r}",
            )
        return record, (ts, record_id)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SalesforceConnector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _selected_fields(sobject: str, fields: Sequence[str]) -> list[str]:
    for name in (sobject, *fields):
        if not _NAME.match(name) and not (name != sobject and _PATH.match(name)):
            raise ValueError(f"{SOURCE}: {name!r} is not a valid Salesforce API name (querying {sobject})")
    selected: list[str] = []
    for name in (*REQUIRED_FIELDS, *fields):
        if name.lower() not in {s.lower() for s in selected}:  # SOQL names are case-insensitive
            selected.append(name)
    return selected


def _describe(exc: SalesforceError) -> str:
    """errorCode: message of a Salesforce error body (a list of {message, errorCode}), else the raw body."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        message = " ".join(str(first.get("message", "")).split())  # SOQL errors are multi-line
        return f"{first.get('errorCode', 'UNKNOWN_ERROR')}: {message}"[:500]
    return repr(content)[:500]


def _without_query(url: str) -> str:
    # The query string holds the whole SOQL statement: too long for a message, and the object is named anyway.
    return url.split("?", 1)[0]
