"""The operations commands of ``platform``: restore, dr replicate / drill (docs/commands.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platform_assets.settings import PlatformSettings

COMMANDS = ("restore", "dr", "lifecycle", "encryption")


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_commands(commands: argparse._SubParsersAction) -> None:
    restore = commands.add_parser(
        "restore", help="point-in-time recovery of a table, or of the whole lake, positions included"
    )
    restore.add_argument("table", nargs="?", help="the table, e.g. silver/orders (or --all)")
    restore.add_argument("--all", action="store_true", help="every table of the lake (needs --to-time)")
    target = restore.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-version", type=int, help="the version to bring back")
    target.add_argument("--to-time", type=_time, help="ISO time (UTC if no offset): the state at that time")
    dr = commands.add_parser("dr", help="disaster recovery: replicate the lake, or run a drill")
    dr.add_argument("action", choices=("replicate", "drill"))
    lifecycle = commands.add_parser(
        "lifecycle",
        help="the S3 lifecycle rules the contracts ask for (print, or --apply to the lake's bucket)",
    )
    lifecycle.add_argument("--apply", action="store_true", help="put them on the lake root's bucket")
    encryption = commands.add_parser(
        "encryption",
        help="the S3 server-side encryption in effect (storage options), or --apply it as the bucket default",
    )
    encryption.add_argument("--apply", action="store_true", help="set the lake bucket's default encryption")


def run(args: argparse.Namespace) -> int:
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    if args.command == "restore":
        return _restore(args, settings)
    if args.command == "lifecycle":
        return _lifecycle(args.apply, settings)
    if args.command == "encryption":
        return _encryption(args.apply, settings)
    return _dr(args.action, settings)


def _restore(args: argparse.Namespace, settings: PlatformSettings) -> int:
    from platform_assets.lake.location import Lake
    from platform_assets.operations.restore import restore_all, restore_lake_table

    root, options = settings.lake_root, settings.storage_options
    if args.all == bool(args.table):
        print("restore: name one table or pass --all", file=sys.stderr)
        return 2
    if args.all:
        if args.to_time is None:
            print("restore --all needs --to-time", file=sys.stderr)
            return 2
        outcomes = restore_all(root, args.to_time, options)
    else:
        lake = Lake(root, options)
        try:
            outcomes = [
                restore_lake_table(lake, args.table, to_version=args.to_version, to_time=args.to_time)
            ]
        except ValueError as exc:  # the audit log, or a version the table does not have
            print(f"restore: {exc}", file=sys.stderr)
            return 2
    for o in outcomes:
        if o.to_version is None:
            print(f"{o.table}: created after {args.to_time.isoformat()}; left as it is")
        elif o.new_version == o.from_version:
            print(f"{o.table}: already at version {o.to_version}")
        else:
            resets = ", ".join(f"{k}={v}" for k, v in o.positions_reset.items()) or "none"
            print(
                f"{o.table}: restored to version {o.to_version} (was {o.from_version}; new version "
                f"{o.new_version}); positions reset: {resets}"
            )
    return 0


def _encryption(apply: bool, settings: PlatformSettings) -> int:
    from platform_assets.operations.encryption import EncryptionError, apply_bucket_encryption, sse_settings

    if not settings.lake_root.startswith("s3://"):
        print(
            f"encryption: the lake {settings.lake_root} is not on S3 (encrypt the disk instead)",
            file=sys.stderr,
        )
        return 2
    try:
        found = sse_settings(settings.storage_options)
        shown = {k: ("(set)" if k == "AWS_SSE_KMS_KEY_ID" else v) for k, v in found.items()}
        print(f"per-request encryption (delta-rs writes): {shown or 'none'}")
        if apply:
            rule = apply_bucket_encryption(settings.lake_root, settings.storage_options)
            algorithm = rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            print(f"bucket default encryption set: {algorithm}")
    except EncryptionError as exc:
        print(f"encryption: {exc}", file=sys.stderr)
        return 2
    return 0


def _dr(action: str, settings: PlatformSettings) -> int:
    from platform_assets.operations.dr import replicate_lake
    from platform_assets.operations.dr_assets import DrResource

    dr = DrResource.from_env()
    if action == "replicate":
        for o in replicate_lake(
            settings.lake_root, dr.replica_root, settings.storage_options, dr.storage_options
        ):
            print(
                f"{o.table}: replica at version {o.replica_version}, {o.files_copied} file(s) copied, lag {o.lag_versions}"
            )
        return 0
    from platform_assets.engine import SparkEngine

    engine = SparkEngine.from_settings(settings)
    lake = settings.lake
    report, _ = dr.drill(lake, engine, settings.alerts_webhook)
    for d in report.details:
        state = "valid" if d.valid else f"INVALID {d.error or ''}"
        print(f"{d.table}: version {d.version}, {d.rows} rows, checksum {d.checksum}: {state}")
    print(
        f"drill: {report.tables_valid}/{report.tables} tables valid, RTO {report.rto_seconds:.1f} s "
        f"(target {report.rto_target_seconds:.0f}), RPO {report.rpo_seconds:.1f} s (target "
        f"{report.rpo_target_seconds:.0f}): {'PASSED' if report.passed else 'FAILED'}"
    )
    return 0 if report.passed else 1


def _lifecycle(apply: bool, settings: PlatformSettings) -> int:
    import json

    from platform_assets.contracts import load_contracts
    from platform_assets.operations.lifecycle import apply_lifecycle, lifecycle_rules

    contracts = load_contracts()
    if not settings.lake_root.startswith("s3://"):
        print(f"lifecycle: the lake root {settings.lake_root} is not on S3", file=sys.stderr)
        return 2
    if apply:
        rules = apply_lifecycle(contracts, settings.lake_root, settings.storage_options)
        print(f"{len(rules)} lifecycle rule(s) on the bucket of {settings.lake_root}")
        return 0
    print(json.dumps({"Rules": lifecycle_rules(contracts, settings.lake_root)}, indent=2))
    return 0
