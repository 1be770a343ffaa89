"""The `platform sql` and `platform serve` subcommands (wired into platform_assets/cli.py)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

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
    serve = commands.add_parser(
        "serve", help="keep a Spark Connect endpoint (Sail) up over the lake's tables, until Ctrl-C"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=15002, help="port (default 15002, Spark Connect's; 0: any)"
    )
    serve.add_argument("--refresh", type=float, default=30.0, help="seconds between re-binding new tables")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of these; None otherwise."""
    if args.command == "sql":
        return _sql(args)
    if args.command == "serve":
        return _serve(args)
    return None


def _sql(args: argparse.Namespace) -> int:
    from platform_assets.serving.sql import QueryError, render, run_query
    from platform_assets.settings import PlatformSettings

    try:
        result = run_query(args.query, PlatformSettings.from_env(), limit=args.limit)
    except QueryError as exc:
        print(f"sql: {exc}", file=sys.stderr)
        return 1
    print(render(result, args.format))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from platform_assets.lake.location import Lake
    from platform_assets.serving.endpoint import LakeEndpoint
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    stop = threading.Event()
    lake = Lake(settings.lake_root, settings.storage_options)
    with LakeEndpoint(lake, args.host, args.port, args.refresh) as endpoint:
        for signum in (signal.SIGINT, signal.SIGTERM):  # after the server starts: it installs its own
            signal.signal(signum, lambda *_: stop.set())
        print(f"Spark Connect endpoint {endpoint.url} over {lake.root}", flush=True)
        print(f"{len(endpoint.views)} tables, as global_temp.<layer>__<table>, e.g.:", flush=True)
        for name in endpoint.views[:5]:
            print(f"  {name}", flush=True)
        print("Connect with SparkSession.builder.remote(URL).getOrCreate(); Ctrl-C stops it.", flush=True)
        stop.wait()
    return 0
