"""`platform`: the platform's command line (see docs/commands.md)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from platform_assets.operations import cli as ops_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="platform", description="platform_assets lakehouse commands")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the sandbox sources through bronze, silver and gold")
    demo.add_argument(
        "--start", type=date.fromisoformat, default=date(2026, 11, 1), help="first business date"
    )
    demo.add_argument("--days", type=int, default=7, help="number of business days to publish and process")
    demo.add_argument("--seed", type=int, default=7, help="sandbox generator seed")
    demo.add_argument(
        "--keep-lake", action="store_true", help="keep the previous demo lake instead of starting afresh"
    )
    demo.add_argument(
        "--topology",
        choices=("embedded", "cluster"),
        default="embedded",
        help="embedded (Sail, a folder lake, SQLite) or cluster: a Spark standalone cluster with Spark "
        "Connect, SeaweedFS S3 and a PostgreSQL instance, started for the run and stopped after it",
    )
    demo.add_argument(
        "--cluster-home", type=Path, default=Path(".cluster_demo"), help="cluster topology's folder"
    )
    replay = commands.add_parser(
        "replay-dlq", help="re-ingest a bronze table's dead letters that fit its contract now (exactly once)"
    )
    replay.add_argument("dataset", help="the bronze dataset, e.g. bronze/order_events")
    bench = commands.add_parser(
        "bench", help="measure rows/s, wall time and peak memory per layer at several scales (JSON)"
    )
    bench.add_argument(
        "--scales",
        default="1,16,128",
        help="comma-separated scale factors of the order stream (40 orders a day x scale)",
    )
    bench.add_argument("--days", type=int, default=3, help="days of orders")
    bench.add_argument("--seed", type=int, default=7, help="sandbox generator seed")
    bench.add_argument(
        "--output", type=Path, default=Path("bench/orders.json"), help="where to write the JSON"
    )
    bench.add_argument(
        "--reference",
        action="store_true",
        help="also run the silver order logic by hand in DuckDB and Polars (dev dependencies) and compare",
    )
    bench.add_argument(
        "--bronze-only",
        action="store_true",
        help="measure only the bronze ingest of the stream (its messages/s and peak memory)",
    )
    bench_cluster = commands.add_parser(
        "bench-cluster",
        help="the order path on the cluster topology (Kafka, Spark workers, S3, PostgreSQL) next to Sail and "
        "local Spark, bronze on the engine with 1 and 2 workers (JSON)",
    )
    bench_cluster.add_argument(
        "--scales", default="4270", help="comma-separated scale factors (4270 x 3 days: about 1M events)"
    )
    bench_cluster.add_argument("--days", type=int, default=3, help="days of orders")
    bench_cluster.add_argument("--seed", type=int, default=7, help="sandbox generator seed")
    bench_cluster.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    bench_cluster.add_argument(
        "--output", type=Path, default=Path("bench/cluster.json"), help="where to write the JSON"
    )
    ops_cli.add_commands(commands)  # restore, dr (platform_assets/operations/cli.py)
    _add_reporting_commands(commands)
    ui = commands.add_parser(
        "ui", help="the Dagster UI and daemon on $DAGSTER_HOME (the project's dagster.yaml)"
    )
    ui.add_argument("--port", type=int, default=3000, help="UI port (default 3000)")
    up = commands.add_parser(
        "up", help="every sandbox source, the traffic generator, the Dagster UI and daemon (Ctrl-C stops)"
    )
    up.add_argument("--home", type=Path, default=Path(".live"), help="live home, reset at start (.live)")
    up.add_argument("--port", type=int, default=3000, help="UI port (default 3000)")
    up.add_argument("--days", type=int, default=30, help="business days the traffic plays (default 30)")
    up.add_argument("--day-seconds", type=float, default=60.0, help="wall seconds per business day (60)")
    up.add_argument("--seed", type=int, default=7, help="sandbox generator and traffic seed (default 7)")
    down = commands.add_parser("down", help="stop what `platform up` started (nothing left running)")
    down.add_argument("--home", type=Path, default=Path(".live"), help="live home (default .live)")
    from platform_assets.serving import commands as serving_commands

    serving_commands.add_parsers(commands)  # sql, serve (platform_assets/serving/commands.py)
    from platform_assets.governance import commands as governance_commands

    governance_commands.add_parsers(commands)  # erase, clone, pii-scan, catalog, impact (governance/)
    args = parser.parse_args(argv)
    governed = governance_commands.dispatch(args)
    if governed is not None:
        return governed
    if args.command == "ui":
        from platform_assets.operations.ui_services import run_ui

        return run_ui(Path(os.environ.get("DAGSTER_HOME") or ".dagster_home"), args.port)
    if args.command in ("up", "down"):
        from platform_assets import live

        if args.command == "down":
            return live.run_down(args.home)
        return live.run_up(args.home, args.port, args.days, args.day_seconds, args.seed)
    if args.command in ops_cli.COMMANDS:
        return ops_cli.run(args)
    if args.command in ("report", "validate", "contracts"):
        return _reporting_command(args)
    served = serving_commands.dispatch(args)
    if served is not None:
        return served
    if args.command == "bench":
        from platform_assets.benchmark import run_benchmark

        scales = [float(s) for s in args.scales.split(",") if s.strip()]
        run_benchmark(scales, args.days, args.seed, args.output, args.reference, args.bronze_only)
        return 0
    if args.command == "bench-cluster":
        from platform_assets.benchmark_cluster import run_cluster_benchmark

        scales = [float(s) for s in args.scales.split(",") if s.strip()]
        workers = [int(w) for w in args.workers.split(",") if w.strip()]
        run_cluster_benchmark(scales, args.days, args.seed, args.output, workers)
        return 0
    if args.command == "replay-dlq":
        return _replay_dlq(args.dataset)
    if args.command == "demo" and args.topology == "cluster":
        from platform_assets.demo_cluster import run_cluster_demo

        if args.keep_lake:
            parser.error("--keep-lake: the cluster topology's lake is new at every run")
        return run_cluster_demo(args.start, args.days, args.seed, args.cluster_home)
    if args.command == "demo":
        from platform_assets.demo import run_demo

        return run_demo(args.start, args.days, args.seed, fresh=not args.keep_lake)
    return 2


def _replay_dlq(dataset: str) -> int:
    from platform_assets.contracts import load_contracts
    from platform_assets.layers.bronze.dlq_replay import record_replay, replay_dead_letters
    from platform_assets.settings import PlatformSettings

    contracts = load_contracts()
    if dataset not in contracts or not dataset.startswith("bronze/"):
        print(f"replay-dlq: {dataset!r} is not a bronze dataset with a contract", file=sys.stderr)
        return 2
    settings = PlatformSettings.from_env()
    outcome = replay_dead_letters(settings.lake, contracts[dataset])
    print(
        f"{dataset}: {outcome.replayed} dead letter(s) replayed, {outcome.already_replayed} replayed before, "
        f"{len(outcome.still_failing)} still failing"
    )
    if outcome.business_dates:
        print(f"  business dates of the replayed rows: {', '.join(outcome.business_dates)}")
    if outcome.replayed and os.environ.get("DAGSTER_HOME"):
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            record_replay(instance, contracts[dataset], outcome)
        print(
            f"  recorded as a materialization of {dataset} {outcome.ingestion_day} in {os.environ['DAGSTER_HOME']}"
        )
    for position, error in sorted(outcome.still_failing.items()):
        print(f"  {position}: {error}")
    return 0


def _add_reporting_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write the DQ report, Data Docs and platform health")
    report.add_argument("--out", type=Path, default=None, help="folder (default: PLATFORM_REPORTS_DIR)")
    report.add_argument("--no-data-docs", action="store_true", help="skip the Data Docs site (GX)")
    validate = commands.add_parser(
        "validate", help="run a contract's rules on its table now; exit 1 when a critical rule fails"
    )
    validate.add_argument("dataset", help="e.g. silver/fx_rates")
    validate.add_argument("--partition", help="one partition, e.g. 2026-11-03")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument(
        "--record", action="store_true", help="append the evaluations to ops/quality_results"
    )
    contracts = commands.add_parser("contracts", help="contract tools")
    contract_commands = contracts.add_subparsers(dest="contracts_command", required=True)
    contract_commands.add_parser(
        "check", help="validate every contract file (syntax, rule arguments, columns); exit 1 on a problem"
    )
    diff = contract_commands.add_parser(
        "diff",
        help="classify contract changes since a git ref; exit 1 on a breaking change without an approval",
    )
    diff.add_argument("base", help="the git ref to compare with, e.g. main")


def _reporting_command(args: argparse.Namespace) -> int:
    from platform_assets.reporting.cli import contracts_check, report, validate

    if args.command == "report":
        return report(args.out, data_docs=not args.no_data_docs)
    if args.command == "validate":
        return validate(args.dataset, args.partition, args.format, args.record)
    if args.contracts_command == "diff":
        from platform_assets.governance.commands import contracts_diff

        return contracts_diff(args.base)
    return contracts_check()


if __name__ == "__main__":
    sys.exit(main())
