"""The sandbox Salesforce org: the REST query API (SOQL subset) over HTTPS, as simple-salesforce calls it.

Routes (``/services/data`` routes need ``Authorization: Bearer <session id>``):

- ``GET /services/data/v59.0/query/?q=SOQL``: live records only; ``.../queryAll/?q=SOQL``: deleted
  ones too (``IsDeleted = true``).
- ``GET /services/data/v59.0/query/<locator>-<offset>``: the next batch, as given in ``nextRecordsUrl``
  (for ``queryAll`` too, as Salesforce does). A query's result set is fixed when it runs, like a
  Salesforce query cursor: changes applied while a client pages do not shift its batches.
- ``GET /health``: liveness, no auth.
- ``/_sandbox/rounds`` (GET status, POST applies the next change round), ``/_sandbox/session``
  (GET, POST ``{"action": "expire" | "renew"}``), ``/_sandbox/stats`` (GET, DELETE resets): test
  controls, no auth.

The SOQL subset is what the platform's connector sends, parsed strictly:
``SELECT f1, f2 FROM Account|Opportunity [WHERE <datetime field> <op> <datetime literal>]
[ORDER BY f [ASC|DESC], ...] [LIMIT n]``. A selected field may follow a parent relationship
(``Owner.Name`` on Account, the owning User's name); the record then carries the parent as a nested
object with its own ``attributes`` (or null when the id field is empty), as Salesforce returns it. Errors use Salesforce's shapes and codes (``INVALID_FIELD``
for an unknown field, ``INVALID_TYPE`` for an unknown object, ``MALFORMED_QUERY`` for syntax,
``INVALID_SESSION_ID`` with 401 for a bad or expired session).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.generator.salesforce import (
    FIELDS,
    RELATIONSHIPS,
    USER,
    USER_FIELDS,
    SalesforceDataset,
    parse_sf_datetime,
)
from sandbox.services.runner import ThreadedUvicorn
from sandbox.services.tls import SandboxCA

API_VERSION = "v59.0"
DEFAULT_BATCH_SIZE = 2000
MAX_OPEN_CURSORS = 50  # oldest query cursors are dropped beyond this, as Salesforce expires them
DATETIME_FIELDS = frozenset({"SystemModstamp", "CreatedDate"})
_KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "ORDER", "BY", "ASC", "DESC", "LIMIT"})
_TOKEN = re.compile(
    r"(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<number>\d+)"
    r"|(?P<ident>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?)"
    r"|(?P<op>>=|<=|!=|=|<|>)"
    r"|(?P<comma>,)"
    r"|(?P<space>\s+)"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}

PARENT_FIELDS: dict[str, tuple[str, ...]] = {USER: USER_FIELDS}

Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[JSONResponse]]


class SoqlError(ValueError):
    """A query Salesforce would refuse: carries the Salesforce error code."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


# -- SOQL subset ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: datetime


@dataclass(frozen=True)
class SoqlQuery:
    sobject: str
    fields: tuple[str, ...]
    where: Condition | None
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int | None


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int  # 1-based, for Salesforce-style "ERROR at Row:1:Column:N"


def _tokenize(soql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN.match(soql, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", _located(soql, pos + 1, f"unexpected token: '{soql[pos]}'"))
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup or "", match.group(), pos + 1))
        pos = match.end()
    return tokens


def _located(soql: str, column: int, message: str) -> str:
    return f"\n{soql}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{message}"


class _Parser:
    def __init__(self, soql: str, schemas: dict[str, tuple[str, ...]]) -> None:
        self.soql = soql
        self.schemas = schemas
        self.tokens = _tokenize(soql)
        self.pos = 0

    def parse(self) -> SoqlQuery:
        self._keyword("SELECT")
        raw_fields = [self._ident("field name")]
        while self._peek_kind("comma"):
            self.pos += 1
            raw_fields.append(self._ident("field name"))
        self._keyword("FROM")
        sobject_token = self._ident("object name")
        sobject = self._sobject(sobject_token)
        fields = tuple(self._field(sobject, t, allow_path=True) for t in raw_fields)
        duplicates = [f for f, n in Counter(fields).items() if n > 1]
        if duplicates:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {duplicates[0]}")
        where = self._where(sobject) if self._peek_keyword("WHERE") else None
        order_by = self._order_by(sobject) if self._peek_keyword("ORDER") else ()
        limit = self._limit() if self._peek_keyword("LIMIT") else None
        if self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            raise SoqlError(
                "MALFORMED_QUERY", _located(self.soql, token.column, f"unexpected token: '{token.text}'")
            )
        return SoqlQuery(sobject, fields, where, order_by, limit)

    def _where(self, sobject: str) -> Condition:
        self._keyword("WHERE")
        field = self._field(sobject, self._ident("field name"))
        op = self._next("op", "comparison operator")
        literal = self._next("datetime", "datetime literal")
        if field not in DATETIME_FIELDS:
            # The sandbox compares datetimes only; a real org would accept more, so say what is missing.
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(self.soql, op.column, f"sandbox supports WHERE on {sorted(DATETIME_FIELDS)} only"),
            )
        return Condition(field, op.text, parse_sf_datetime(literal.text.replace("Z", "+00:00")))

    def _order_by(self, sobject: str) -> tuple[tuple[str, bool], ...]:
        self._keyword("ORDER")
        self._keyword("BY")
        items: list[tuple[str, bool]] = []
        while True:
            field = self._field(sobject, self._ident("field name"))
            descending = False
            if self._peek_keyword("ASC") or self._peek_keyword("DESC"):
                descending = self.tokens[self.pos].text.upper() == "DESC"
                self.pos += 1
            items.append((field, descending))
            if not self._peek_kind("comma"):
                return tuple(items)
            self.pos += 1

    def _limit(self) -> int:
        self._keyword("LIMIT")
        return int(self._next("number", "a number").text)

    def _sobject(self, token: _Token) -> str:
        for name in self.schemas:
            if name.lower() == token.text.lower():
                return name
        raise SoqlError(
            "INVALID_TYPE",
            _located(
                self.soql,
                token.column,
                f"sObject type '{token.text}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            ),
        )

    def _field(self, sobject: str, token: _Token, allow_path: bool = False) -> str:
        if "." in token.text:
            return self._path(sobject, token, allow_path)
        for name in self.schemas[sobject]:
            if name.lower() == token.text.lower():
                return name
        raise SoqlError(
            "INVALID_FIELD",
            _located(
                self.soql,
                token.column,
                f"No such column '{token.text}' on entity '{sobject}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
                "or the describe call for the appropriate names.",
            ),
        )

    def _path(self, sobject: str, token: _Token, allow_path: bool) -> str:
        """``Relationship.Field`` of a parent relationship, canonically cased."""
        relationship, _, field = token.text.partition(".")
        known = {r.lower(): r for r in RELATIONSHIPS.get(sobject, {})}
        if relationship.lower() not in known:
            raise SoqlError(
                "INVALID_FIELD",
                _located(
                    self.soql,
                    token.column,
                    f"Didn't understand relationship '{relationship}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                ),
            )
        name = known[relationship.lower()]
        parent, _ = RELATIONSHIPS[sobject][name]
        matches = [f for f in PARENT_FIELDS[parent] if f.lower() == field.lower()]
        if not matches:
            raise SoqlError(
                "INVALID_FIELD",
                _located(self.soql, token.column, f"No such column '{field}' on entity '{parent}'."),
            )
        if not allow_path:  # the sandbox filters and sorts on the object's own fields only
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(self.soql, token.column, "sandbox supports relationship fields in SELECT only"),
            )
        return f"{name}.{matches[0]}"

    def _peek_kind(self, kind: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos].kind == kind

    def _peek_keyword(self, word: str) -> bool:
        return self._peek_kind("ident") and self.tokens[self.pos].text.upper() == word

    def _keyword(self, word: str) -> None:
        if not self._peek_keyword(word):
            self._unexpected(f"expecting '{word}'")
        self.pos += 1

    def _ident(self, what: str) -> _Token:
        token = self._next("ident", what)
        if token.text.upper() in _KEYWORDS:
            self.pos -= 1
            self._unexpected(f"expecting a {what}")
        return token

    def _next(self, kind: str, what: str) -> _Token:
        if not self._peek_kind(kind):
            self._unexpected(f"expecting {what}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _unexpected(self, expectation: str) -> None:
        if self.pos >= len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", f"unexpected end of query: {expectation}")
        token = self.tokens[self.pos]
        raise SoqlError(
            "MALFORMED_QUERY",
            _located(self.soql, token.column, f"unexpected token: '{token.text}' ({expectation})"),
        )


def parse_soql(soql: str, schemas: dict[str, tuple[str, ...]] = FIELDS) -> SoqlQuery:
    """Parses the supported SOQL subset; raises SoqlError with Salesforce's error code otherwise."""
    return _Parser(soql, schemas).parse()


# -- service state --------------------------------------------------------------------------------------


class SalesforceOrgState:
    """The org's records (current round), the session, open query cursors and request statistics."""

    def __init__(self, dataset: SalesforceDataset, session_id: str, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"salesforce sandbox: batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.session_id = session_id
        self.session_valid = True
        self.applied_round = 0
        self._records = dataset.state_after(0)
        self._parents: dict[str, dict[str, Record]] = {USER: {u["Id"]: u for u in dataset.users}}
        self._cursors: OrderedDict[str, list[Record]] = OrderedDict()
        self._locators = itertools.count(1)
        self._lock = threading.Lock()
        self._stats: Counter[str] = Counter()

    def apply_next_round(self) -> dict[str, Any]:
        with self._lock:
            if self.applied_round >= self.dataset.round_count:
                raise LookupError(f"all {self.dataset.round_count} change rounds are already applied")
            self.applied_round += 1
            changes = self.dataset.changes_of(self.applied_round)
            for change in changes:
                self._records[change.sobject][change.record_id] = dict(change.record)
            return {**self.rounds_status(), "changes": len(changes)}

    def rounds_status(self) -> dict[str, Any]:
        return {"applied_round": self.applied_round, "round_count": self.dataset.round_count}

    def run_query(self, query: SoqlQuery, include_deleted: bool) -> tuple[str, list[Record]]:
        """Runs ``query`` against the current records; returns the cursor locator and the full result."""
        with self._lock:
            rows = [r for r in self._records[query.sobject].values() if include_deleted or not r["IsDeleted"]]
            if query.where is not None:
                cond, compare = query.where, _COMPARE[query.where.op]
                rows = [r for r in rows if compare(parse_sf_datetime(r[cond.field]), cond.value)]
            # Stable sorts from the last key to the first give a multi-key ORDER BY; nulls sort first.
            for field, descending in reversed(query.order_by):
                rows.sort(key=lambda r, f=field: _sort_key(r[f], f), reverse=descending)
            if query.limit is not None:
                rows = rows[: query.limit]
            result = [_project(r, query, self._parents) for r in rows]
            locator = f"01g5g{next(self._locators):010d}"
            self._cursors[locator] = result
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
            return locator, result

    def cursor(self, locator: str) -> list[Record] | None:
        with self._lock:
            return self._cursors.get(locator)

    def count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._stats.items()))

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()


def _sort_key(value: Any, field: str) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    return (1, parse_sf_datetime(value) if field in DATETIME_FIELDS else value)


def _attributes(sobject: str, record_id: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/{API_VERSION}/sobjects/{sobject}/{record_id}"}


def _project(record: Record, query: SoqlQuery, parents: dict[str, dict[str, Record]]) -> Record:
    out: Record = {"attributes": _attributes(query.sobject, record["Id"])}
    for field in query.fields:
        relationship, _, parent_field = field.partition(".")
        if not parent_field:
            out[field] = record[field]
            continue
        parent_object, id_field = RELATIONSHIPS[query.sobject][relationship]
        parent = parents[parent_object].get(record[id_field] or "")
        if parent is None:
            out[relationship] = None  # Salesforce sends the relationship as null
            continue
        nested = out.get(relationship) or {"attributes": _attributes(parent_object, parent["Id"])}
        nested[parent_field] = parent[parent_field]
        out[relationship] = nested
    return out


def new_session_id() -> str:
    # Shaped like a Salesforce session id: org id, '!', opaque token.
    return f"00D5g0000000001!{secrets.token_urlsafe(36)}"


# -- the app --------------------------------------------------------------------------------------------


def create_salesforce_app(
    dataset: SalesforceDataset, session_id: str, batch_size: int = DEFAULT_BATCH_SIZE
) -> Starlette:
    state = SalesforceOrgState(dataset, session_id, batch_size)

    def data_route(handler: Callable[[Request], JSONResponse]) -> Handler:
        """Wraps a /services/data handler: API version, then the session, then the handler."""

        async def endpoint(request: Request) -> JSONResponse:
            if request.path_params["version"] != API_VERSION:
                return _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            expected = f"Bearer {state.session_id}"
            if not state.session_valid or request.headers.get("authorization") != expected:
                state.count("401")
                return _sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            try:
                return handler(request)
            except SoqlError as exc:
                state.count("400")
                return _sf_error(400, exc.error_code, str(exc))

        return endpoint

    def query(request: Request) -> JSONResponse:
        return _first_batch(request, include_deleted=False)

    def query_all(request: Request) -> JSONResponse:
        return _first_batch(request, include_deleted=True)

    def _first_batch(request: Request, include_deleted: bool) -> JSONResponse:
        soql = request.query_params.get("q")
        if not soql:
            raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
        parsed = parse_soql(soql)
        state.count("queryAll" if include_deleted else "query")
        locator, rows = state.run_query(parsed, include_deleted)
        return _batch(locator, rows, 0)

    def query_more(request: Request) -> JSONResponse:
        locator, _, raw_offset = request.path_params["cursor"].rpartition("-")
        rows = state.cursor(locator)
        if rows is None or not raw_offset.isdigit() or int(raw_offset) > len(rows):
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        state.count("query_more")
        return _batch(locator, rows, int(raw_offset))

    def _batch(locator: str, rows: list[Record], offset: int) -> JSONResponse:
        end = offset + state.batch_size
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            body["nextRecordsUrl"] = f"/services/data/{API_VERSION}/query/{locator}-{end}"
        return JSONResponse(body)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "salesforce_api", "pid": os.getpid()})

    async def rounds(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                return JSONResponse(state.apply_next_round())
            except LookupError as exc:
                return JSONResponse({"error": "no_more_rounds", "message": str(exc)}, status_code=409)
        return JSONResponse(state.rounds_status())

    async def session(request: Request) -> JSONResponse:
        if request.method == "POST":
            action = (await _json_body(request)).get("action")
            if action == "expire":
                state.session_valid = False
            elif action == "renew":
                state.session_id, state.session_valid = new_session_id(), True
            else:
                return JSONResponse(
                    {"error": "invalid_parameter", "message": "action must be 'expire' or 'renew'"},
                    status_code=400,
                )
        return JSONResponse({"session_id": state.session_id, "valid": state.session_valid})

    async def stats(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            state.reset_stats()
        return JSONResponse(state.stats())

    app = Starlette(
        routes=[
            Route("/services/data/{version}/query/", data_route(query), methods=["GET"]),
            Route("/services/data/{version}/queryAll/", data_route(query_all), methods=["GET"]),
            Route("/services/data/{version}/query/{cursor}", data_route(query_more), methods=["GET"]),
            Route("/services/data/{version}/queryAll/{cursor}", data_route(query_more), methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/_sandbox/rounds", rounds, methods=["GET", "POST"]),
            Route("/_sandbox/session", session, methods=["GET", "POST"]),
            Route("/_sandbox/stats", stats, methods=["GET", "DELETE"]),
        ]
    )
    app.state.salesforce = state
    return app


def _sf_error(status: int, error_code: str, message: str) -> JSONResponse:
    # Salesforce answers errors as a JSON list of {message, errorCode}.
    return JSONResponse([{"message": message, "errorCode": error_code}], status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


# -- HTTPS serving --------------------------------------------------------------------------------------


class SalesforceApiServer:
    """The sandbox org on https://127.0.0.1:<port> in a background thread, with its own CA bundle file."""

    def __init__(
        self,
        dataset: SalesforceDataset,
        session_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        host: str = "127.0.0.1",
        port: int = 0,
        ca: SandboxCA | None = None,
    ) -> None:
        """``ca``: the sandbox CA to issue the server certificate from (None: a CA of its own)."""
        self.dataset = dataset
        self._given_ca = ca
        self.app = create_salesforce_app(dataset, session_id or new_session_id(), batch_size)
        self._host, self._port = host, port
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._ca: SandboxCA | None = None
        self._runner: ThreadedUvicorn | None = None
        self._admin_client: httpx.Client | None = None

    @property
    def state(self) -> SalesforceOrgState:
        return self.app.state.salesforce

    @property
    def instance_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("SalesforceApiServer is not started")
        return self._runner.base_url

    @property
    def session_id(self) -> str:
        return self.state.session_id

    @property
    def ca_path(self) -> str:
        """PEM bundle of the CA that signed the server certificate (give it to clients as ``verify``)."""
        if self._ca is None:
            raise RuntimeError("SalesforceApiServer is not started")
        return str(self._ca.ca_path)

    def start(self) -> SalesforceApiServer:
        self._tempdir = tempfile.TemporaryDirectory(prefix="sandbox-salesforce-")
        self._ca = self._given_ca or SandboxCA.in_folder(Path(self._tempdir.name))
        self._runner = ThreadedUvicorn(
            self.app,
            host=self._host,
            port=self._port,
            ssl_certfile=str(self._ca.server_cert("salesforce").bundle),
            client_verify=self._ca.client_context(),
        )
        try:
            self._runner.start()
        except BaseException:
            self._tempdir.cleanup()
            raise
        self._admin_client = httpx.Client(
            base_url=self.instance_url, timeout=5.0, trust_env=False, verify=self._ca.client_context()
        )
        return self

    def stop(self) -> None:
        if self._admin_client is not None:
            self._admin_client.close()
            self._admin_client = None
        if self._runner is not None:
            self._runner.stop()
            self._runner = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self._ca = None

    def __enter__(self) -> SalesforceApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def apply_next_round(self) -> dict[str, Any]:
        """Applies the dataset's next change round; returns ``applied_round``, ``round_count``, ``changes``."""
        return self._admin("POST", "/_sandbox/rounds")

    def expire_session(self) -> None:
        self._admin("POST", "/_sandbox/session", {"action": "expire"})

    def renew_session(self) -> str:
        return self._admin("POST", "/_sandbox/session", {"action": "renew"})["session_id"]

    def stats(self) -> dict[str, int]:
        return self._admin("GET", "/_sandbox/stats")

    def reset_stats(self) -> dict[str, int]:
        return self._admin("DELETE", "/_sandbox/stats")

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._admin_client is None:
            raise RuntimeError("SalesforceApiServer is not started")
        response = self._admin_client.request(method, path, json=body)
        if response.status_code != 200:
            raise RuntimeError(
                f"salesforce sandbox {method} {path} -> {response.status_code}: {response.text}"
            )
        return response.json()
