"""The `platform sql` and `platform serve` subcommands (wired into platform_assets/cli.py)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from platform_assets.serving.sql import DEFAULT_LIMIT, FORMATS


def add_parsers(commands: argparse._SubParsersAction) -> None:
    sql = commands.add_parser(
        "sql", help="run one SQL query over the lake's tables by name (gold.fact_order_lines)"
    )
    sql.add_argument("query", help='the query, e.g. "SELECT * FROM gold.agg_daily_revenue"')
    sql.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    sql.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"rows at most (default {DEFAULT_LIMIT})"
    )
    _add_caller_arguments(sql)
    serve = commands.add_parser(
        "serve", help="keep a Spark Connect endpoint (Sail) up over the lake's tables, until Ctrl-C"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=15002, help="port (default 15002, Spark Connect's; 0: any)"
    )
    serve.add_argument("--refresh", type=float, default=30.0, help="seconds between re-binding new tables")
    serve.add_argument("--tls-cert", type=Path, help="serve TLS with this certificate (PEM; with --tls-key)")
    serve.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument(
        "--tls-self-signed",
        type=Path,
        metavar="DIR",
        help="serve TLS with a self-signed certificate generated now into DIR (clients must trust DIR/endpoint.crt)",
    )
    _add_caller_arguments(serve)


def _add_caller_arguments(parser: argparse.ArgumentParser) -> None:
    """--role and --attr: who the governed read path serves (governance/policies.yaml)."""
    parser.add_argument("--role", help="policy role to read as (default: the policies' default_role)")
    parser.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a caller attribute the role's row filters use, e.g. region=EMEA (repeatable)",
    )


def caller_from(args: argparse.Namespace):  # -> governance.decision.Caller (imported lazily)
    from platform_assets.governance.decision import Caller
    from platform_assets.governance.read_path import Governance
    from platform_assets.lake.audit_log import current_user

    attributes = {}
    for item in args.attr:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--attr {item!r} is not KEY=VALUE")
        attributes[key.strip()] = value.strip()
    role = args.role or Governance.load().policies.default_role
    return Caller(current_user(), role, attributes)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of these; None otherwise."""
    if args.command == "sql":
        return _sql(args)
    if args.command == "serve":
        return _serve(args)
    return None


def _sql(args: argparse.Namespace) -> int:
    from platform_assets.engine.query import QueryError
    from platform_assets.serving.sql import render, run_query
    from platform_assets.settings import PlatformSettings

    try:
        caller = caller_from(args)
    except ValueError as exc:
        print(f"sql: {exc}", file=sys.stderr)
        return 2
    try:
        result = run_query(args.query, PlatformSettings.from_env(), limit=args.limit, caller=caller)
    except QueryError as exc:
        print(f"sql: {exc}", file=sys.stderr)
        return 1
    print(render(result, args.format))
    return 0


def _tls_files(args: argparse.Namespace):  # TlsFiles | None, or the error text
    from platform_assets.serving.tls import TlsFiles, self_signed

    if args.tls_self_signed is not None:
        if args.tls_cert or args.tls_key:
            return "give --tls-self-signed or --tls-cert/--tls-key, not both"
        return self_signed(args.tls_self_signed, args.host)
    if (args.tls_cert is None) != (args.tls_key is None):
        return "--tls-cert and --tls-key go together"
    return TlsFiles(args.tls_cert, args.tls_key) if args.tls_cert else None


def _serve(args: argparse.Namespace) -> int:
    from platform_assets.serving.endpoint import LakeEndpoint
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    stop = threading.Event()
    lake = settings.lake
    try:
        caller = caller_from(args)
    except ValueError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    tls = _tls_files(args)
    if isinstance(tls, str):
        print(f"serve: {tls}", file=sys.stderr)
        return 2
    with LakeEndpoint(lake, args.host, args.port, args.refresh, caller=caller, tls=tls) as endpoint:
        for signum in (signal.SIGINT, signal.SIGTERM):  # after the server starts: it installs its own
            signal.signal(signum, lambda *_: stop.set())
        print(f"Spark Connect endpoint {endpoint.url} over {lake.root}", flush=True)
        if tls is not None:
            print(f"TLS certificate: {tls.cert} (clients: GRPC_DEFAULT_SSL_ROOTS_FILE_PATH)", flush=True)
        print(
            f"{len(endpoint.views)} tables role {caller.role} may read (masked, filtered), "
            "by <layer>.<table> as in `platform sql`, e.g.:",
            flush=True,
        )
        for name in endpoint.views[:5]:
            print(f"  {name.removeprefix('global_temp.').replace('__', '.', 1)}", flush=True)
        print("Connect with SparkSession.builder.remote(URL).getOrCreate(); Ctrl-C stops it.", flush=True)
        stop.wait()
    return 0
